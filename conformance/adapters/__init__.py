"""Adapter discovery: the built-in frameworks plus third-party entry points.

Adding a framework is one module here (built on the kit in ``conformance.adapters.base``) and
one line in ``BUILTIN_ADAPTERS``, ``name: "module:attribute"`` naming a ``FrameworkAdapter``
instance (several may live in one module: the Keras backends do). Another package registers an
adapter the same way, through the entry-point group ``softmax_conformance.adapters``
(``example = "mypkg.conformance_adapter:ADAPTER"``). Resolving a registration imports the
adapter's module, never its framework.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import EntryPoint, entry_points

from conformance.adapters.base import ApiSpec, Availability, FrameworkAdapter, Implementation, SourceAdapter

ENTRY_POINT_GROUP = "softmax_conformance.adapters"

BUILTIN_ADAPTERS: dict[str, str] = {
    "numpy": "conformance.adapters.numpy_adapter:ADAPTER",
    "scipy": "conformance.adapters.scipy_adapter:ADAPTER",
    "torch": "conformance.adapters.torch_adapter:ADAPTER",
    "tensorflow": "conformance.adapters.tensorflow_adapter:ADAPTER",
    "jax": "conformance.adapters.jax_adapter:ADAPTER",
    "keras-jax": "conformance.adapters.keras_adapter:KERAS_JAX",
    "keras-torch": "conformance.adapters.keras_adapter:KERAS_TORCH",
    "keras-tensorflow": "conformance.adapters.keras_adapter:KERAS_TENSORFLOW",
    "onnxruntime": "conformance.adapters.onnxruntime_adapter:ADAPTER",
}


@cache
def all_adapters() -> dict[str, FrameworkAdapter]:
    """Every known adapter by framework name, installed or not (nothing heavy is imported)."""
    adapters: dict[str, FrameworkAdapter] = {}
    for name, ref in BUILTIN_ADAPTERS.items():
        adapter = resolve(ref)
        if adapter.name != name:
            raise AdapterLoadError(f"{ref!r} is registered as {name!r} but names itself {adapter.name!r}")
        adapters[name] = adapter
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        adapter = _load_entry_point(ep)
        adapters.setdefault(adapter.name, adapter)
    return adapters


class AdapterLoadError(Exception):
    """A registration that fails to load or names no ``FrameworkAdapter`` (one line)."""


def resolve(ref: str) -> FrameworkAdapter:
    """The ``FrameworkAdapter`` instance that ``"module:attribute"`` names; AdapterLoadError otherwise."""
    module, sep, attr = ref.partition(":")
    if not sep or not module or not attr:
        raise AdapterLoadError(f"adapter registration {ref!r}: expected module:attribute")
    try:
        adapter = getattr(importlib.import_module(module), attr)
    except Exception as exc:
        raise AdapterLoadError(f"adapter registration {ref!r} failed to load: {_first_line(exc)}") from exc
    return _checked(adapter, f"adapter registration {ref!r}")


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"


def _checked(adapter: object, where: str) -> FrameworkAdapter:
    if not isinstance(adapter, FrameworkAdapter):
        raise AdapterLoadError(
            f"{where} is a {type(adapter).__name__}, not a FrameworkAdapter instance "
            "(it must name one, e.g. mypkg.conformance_adapter:ADAPTER)"
        )
    return adapter


def _load_entry_point(ep: EntryPoint) -> FrameworkAdapter:
    dist = getattr(getattr(ep, "dist", None), "name", None)
    where = f"entry point {ep.name!r} = {ep.value!r} in group {ENTRY_POINT_GROUP!r}" + (
        f" (distribution {dist})" if dist else ""
    )
    try:
        adapter = ep.load()
    except Exception as exc:
        raise AdapterLoadError(f"{where} failed to load: {_first_line(exc)}") from exc
    return _checked(adapter, where)


def get_adapter(name: str) -> FrameworkAdapter:
    """The adapter for ``name``; ValueError naming the valid ones otherwise."""
    adapters = all_adapters()
    if name not in adapters:
        raise ValueError(f"unknown framework {name!r}; valid: {', '.join(adapters)}")
    return adapters[name]


__all__ = [
    "ENTRY_POINT_GROUP",
    "AdapterLoadError",
    "ApiSpec",
    "Availability",
    "FrameworkAdapter",
    "Implementation",
    "SourceAdapter",
    "all_adapters",
    "get_adapter",
    "resolve",
]
