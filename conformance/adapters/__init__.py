"""Adapter discovery: the built-in frameworks plus third-party entry points.

Adding a framework is one module here and one line in ``BUILTIN_ADAPTERS``.
Another package registers an adapter through the entry-point group
``softmax_conformance.adapters``; the entry point must name a
``FrameworkAdapter`` instance (``mypkg.conformance_adapter:ADAPTER``).
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import EntryPoint, entry_points

from conformance.adapters.base import FrameworkAdapter, Implementation

ENTRY_POINT_GROUP = "softmax_conformance.adapters"

BUILTIN_ADAPTERS: dict[str, str] = {
    "numpy": "conformance.adapters.numpy_adapter",
    "scipy": "conformance.adapters.scipy_adapter",
    "torch": "conformance.adapters.torch_adapter",
    "tensorflow": "conformance.adapters.tensorflow_adapter",
    "jax": "conformance.adapters.jax_adapter",
    "keras-jax": "conformance.adapters.keras_jax_adapter",
    "keras-torch": "conformance.adapters.keras_torch_adapter",
    "keras-tensorflow": "conformance.adapters.keras_tensorflow_adapter",
    "onnxruntime": "conformance.adapters.onnxruntime_adapter",
}


@cache
def all_adapters() -> dict[str, FrameworkAdapter]:
    """Every known adapter by framework name, installed or not (nothing heavy is imported)."""
    adapters: dict[str, FrameworkAdapter] = {}
    for name, module in BUILTIN_ADAPTERS.items():
        adapters[name] = importlib.import_module(module).ADAPTER
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        adapter = _load_entry_point(ep)
        adapters.setdefault(adapter.name, adapter)
    return adapters


class AdapterLoadError(Exception):
    """A third-party entry point that fails to load or names no ``FrameworkAdapter`` (one line)."""


def _load_entry_point(ep: EntryPoint) -> FrameworkAdapter:
    dist = getattr(getattr(ep, "dist", None), "name", None)
    where = f"entry point {ep.name!r} = {ep.value!r} in group {ENTRY_POINT_GROUP!r}" + (
        f" (distribution {dist})" if dist else ""
    )
    try:
        adapter = ep.load()
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise AdapterLoadError(f"{where} failed to load: {type(exc).__name__}: {first}") from exc
    if not isinstance(adapter, FrameworkAdapter):
        raise AdapterLoadError(
            f"{where} is a {type(adapter).__name__}, not a FrameworkAdapter instance "
            "(it must name one, e.g. mypkg.conformance_adapter:ADAPTER)"
        )
    return adapter


def get_adapter(name: str) -> FrameworkAdapter:
    """The adapter for ``name``; ValueError naming the valid ones otherwise."""
    adapters = all_adapters()
    if name not in adapters:
        raise ValueError(f"unknown framework {name!r}; valid: {', '.join(adapters)}")
    return adapters[name]


__all__ = [
    "ENTRY_POINT_GROUP",
    "AdapterLoadError",
    "FrameworkAdapter",
    "Implementation",
    "all_adapters",
    "get_adapter",
]
