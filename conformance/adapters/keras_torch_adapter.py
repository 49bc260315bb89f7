"""Keras 3 on the torch backend (framework ``keras-torch``); see ``keras_adapter``."""

from conformance.adapters.keras_adapter import KerasAdapter

ADAPTER = KerasAdapter("torch")
