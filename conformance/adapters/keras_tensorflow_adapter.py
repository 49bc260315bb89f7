"""Keras 3 on the tensorflow backend (framework ``keras-tensorflow``); see ``keras_adapter``."""

from conformance.adapters.keras_adapter import KerasAdapter

ADAPTER = KerasAdapter("tensorflow")
