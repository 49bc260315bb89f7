"""Keras 3 on the jax backend (framework ``keras-jax``); see ``keras_adapter``."""

from conformance.adapters.keras_adapter import KerasAdapter

ADAPTER = KerasAdapter("jax")
