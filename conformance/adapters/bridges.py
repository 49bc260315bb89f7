"""Exact conversions between NumPy and a framework's own arrays, for user functions written in it.

A user's function may take and return NumPy arrays (the ``numpy`` bridge) or a
framework's native arrays: ``torch`` tensors, ``tensorflow`` tensors or ``jax``
arrays (``--impl-framework``). A bridge converts the suite's NumPy input into the
framework's array and the function's result back, with the same helpers as that
framework's adapter, so the conversions are exact (bfloat16 included: torch
crosses it as its bit pattern, TensorFlow and JAX accept ml_dtypes' bfloat16).
The framework is imported on the first conversion, never at import time.

A result that is not the framework's array type is handed to ``as_output``
unchanged in meaning: NumPy arrays pass through, objects NumPy converts by the
array protocol (``__array__``) are converted, and anything else (a list, a
float, None) is returned as is, so that the suite reports "returned list, not
an array" instead of guessing a dtype for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

NATIVE_FRAMEWORKS: tuple[str, ...] = ("numpy", "torch", "tensorflow", "jax")


def as_output(out: Any) -> Any:
    """The function's result as a NumPy array when it is one by the array protocol; else unchanged.

    Lists, tuples and Python scalars are not converted: a nested list carries no
    dtype (float16 and bfloat16 results would silently become float64).
    """
    if isinstance(out, np.ndarray):
        return out
    if isinstance(out, np.generic):
        return np.asarray(out)
    if out is None or isinstance(out, (list, tuple, dict, str, bytes, int, float, complex)):
        return out
    if hasattr(out, "__array__") or hasattr(out, "__array_interface__"):
        return np.asarray(out)
    return out


@dataclass(frozen=True)
class Bridge:
    """How a function written in ``framework`` is called: convert in, call, convert out.

    ``snippet_in`` (source) turns ``x`` and ``device`` into ``t``; ``snippet_out``
    turns the function's result ``out`` into the NumPy array ``y``; ``imports``
    is what both need; ``snippet_context`` (source, may be empty) is the ``with``
    statement the call runs in. They are written line for line like ``to_native``,
    ``context`` and ``to_numpy`` so that a repro computes exactly what the suite did.
    """

    framework: str
    to_native: Callable[[np.ndarray, str], Any]
    to_numpy: Callable[[Any], Any]
    context: Callable[[str], contextlib.AbstractContextManager]
    imports: str
    snippet_in: str
    snippet_out: str
    snippet_context: str = ""


def _no_context(device: str) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


def _numpy_to_native(x: np.ndarray, device: str) -> np.ndarray:
    if device != "cpu":
        raise ValueError(f"unknown numpy device {device!r}; valid: cpu (use --impl-framework for GPUs)")
    return x


def _numpy_bridge() -> Bridge:
    return Bridge(
        "numpy",
        _numpy_to_native,
        as_output,
        _no_context,
        "import numpy as np",
        "t = x",
        "y = np.asarray(out)",
    )


def _torch_bridge() -> Bridge:
    from conformance.adapters import torch_adapter as ta

    def to_numpy(out: Any) -> Any:
        if isinstance(out, ta._torch().Tensor):
            return ta._to_numpy(out)
        return as_output(out)

    return Bridge("torch", ta._to_torch, to_numpy, _no_context, ta._IMPORTS, ta._TO_TORCH, ta._TO_NUMPY)


def _tensorflow_bridge() -> Bridge:
    from conformance.adapters import tensorflow_adapter as tfa

    def to_native(x: np.ndarray, device: str) -> Any:
        return tfa._tf().constant(x)

    def to_numpy(out: Any) -> Any:
        if tfa._tf().is_tensor(out) or isinstance(out, tfa._tf().Variable):
            return out.numpy()
        return as_output(out)

    def context(device: str) -> contextlib.AbstractContextManager:
        return tfa._tf().device(tfa._tf_device(device))

    return Bridge(
        "tensorflow",
        to_native,
        to_numpy,
        context,
        tfa._IMPORTS,
        tfa._TF_DEVICE + "t = tf.constant(x)",
        "y = out.numpy()",
        "with tf.device(tf_device):",
    )


def _jax_bridge() -> Bridge:
    from conformance.adapters import jax_adapter as ja

    def to_native(x: np.ndarray, device: str) -> Any:
        return ja._jax().device_put(x, ja._jax_device(device))

    def to_numpy(out: Any) -> Any:
        if isinstance(out, ja._jax().Array):
            return np.asarray(out)
        return as_output(out)

    return Bridge(
        "jax",
        to_native,
        to_numpy,
        _no_context,
        ja._IMPORTS,
        ja._DEVICE + "t = jax.device_put(x, dev)",
        "y = np.asarray(out)",
    )


_BRIDGES: dict[str, Callable[[], Bridge]] = {
    "numpy": _numpy_bridge,
    "torch": _torch_bridge,
    "tensorflow": _tensorflow_bridge,
    "jax": _jax_bridge,
}


def get_bridge(framework: str) -> Bridge:
    """The bridge for ``framework`` (one of ``NATIVE_FRAMEWORKS``); ValueError naming the valid ones."""
    if framework not in _BRIDGES:
        raise ValueError(f"unknown --impl-framework {framework!r}; valid: {', '.join(NATIVE_FRAMEWORKS)}")
    return _BRIDGES[framework]()
