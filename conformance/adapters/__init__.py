"""Adapter discovery: the built-in frameworks plus third-party entry points.

Adding a framework is one module here and one line in ``BUILTIN_ADAPTERS``.
Another package registers an adapter through the entry-point group
``softmax_conformance.adapters``; the entry point must name a
``FrameworkAdapter`` instance (``mypkg.conformance_adapter:ADAPTER``).
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points

from conformance.adapters.base import FrameworkAdapter, Implementation

ENTRY_POINT_GROUP = "softmax_conformance.adapters"

BUILTIN_ADAPTERS: dict[str, str] = {
    "numpy": "conformance.adapters.numpy_adapter",
    "scipy": "conformance.adapters.scipy_adapter",
    "torch": "conformance.adapters.torch_adapter",
    "tensorflow": "conformance.adapters.tensorflow_adapter",
    "jax": "conformance.adapters.jax_adapter",
}


@cache
def all_adapters() -> dict[str, FrameworkAdapter]:
    """Every known adapter by framework name, installed or not (nothing heavy is imported)."""
    adapters: dict[str, FrameworkAdapter] = {}
    for name, module in BUILTIN_ADAPTERS.items():
        adapters[name] = importlib.import_module(module).ADAPTER
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        adapter = ep.load()
        if not isinstance(adapter, FrameworkAdapter):
            raise TypeError(f"entry point {ep.name!r} ({ep.value}) is not a FrameworkAdapter")
        adapters.setdefault(adapter.name, adapter)
    return adapters


def get_adapter(name: str) -> FrameworkAdapter:
    """The adapter for ``name``; ValueError naming the valid ones otherwise."""
    adapters = all_adapters()
    if name not in adapters:
        raise ValueError(f"unknown framework {name!r}; valid: {', '.join(adapters)}")
    return adapters[name]


__all__ = ["ENTRY_POINT_GROUP", "FrameworkAdapter", "Implementation", "all_adapters", "get_adapter"]
