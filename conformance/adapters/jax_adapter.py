"""JAX as a framework under test, eager (op by op) and ``jax.jit``.

JAX is imported lazily, on the first call, and 64-bit mode is switched on at that
moment (``jax_enable_x64``): without it JAX silently computes float64 input in
float32. This is process-wide, and the repro snippets' imports do the same.
``jax.device_put`` accepts ml_dtypes' bfloat16 arrays and ``np.asarray`` returns
them, so conversions are exact both ways; a non-contiguous input is copied by
``device_put`` (JAX arrays are always dense).

``jax.nn.softmax`` and ``jax.nn.log_softmax`` are themselves jitted by JAX, so
"eager" means "called from Python without an enclosing jit". The
``jax.scipy.special`` variants are declared whatever the JAX version: where JAX
lacks them the call raises AttributeError and the runner records that
(they exist in JAX 0.10).

The masked variants (``nn.softmax-where``, ``nn.log_softmax-where``) pass the
-inf entries of the input as a mask: ``where=(x != -inf)`` (a NaN stays unmasked), with those entries
replaced by 0, so that they compute the function the oracle's -inf entries
define; a masked entry is then not an input, and must get exactly zero gradient.
An all -inf slice is an all-False mask, which JAX maps to 0 (softmax) or -inf
(log-softmax), not NaN: a documented difference in the semantics table.

Every implementation has a backward pass (``jax.vjp``; under ``jax.jit`` in jit
mode). jit mode also runs two expressions around softmax that a compiler may
rewrite (a softmax of ``x / T``, a softmax renormalized by its own sum), and each
jit implementation carries its eager counterpart for the compiled-vs-eager
consistency property.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np

from conformance.adapters.base import (
    COMPOSITE_OPERATIONS,
    RENORMALIZED_API,
    TEMPERATURE,
    TEMPERATURE_API,
    FrameworkAdapter,
    Implementation,
    implementations_in_modes,
    prescale,
    prescale_gradient,
    prescale_gradient_source,
    prescale_source,
)

_IMPORTS = "\n".join(
    (
        "import jax",
        'jax.config.update("jax_enable_x64", True)',
        "import jax.numpy as jnp",
        "import numpy as np",
    )
)
_IMPORTS_SCIPY = _IMPORTS + "\nimport jax.scipy.special"
_DEVICE = (
    'dev = jax.devices("cpu")[0] if device == "cpu" else jax.devices("gpu")[int(device.split(":")[1])]\n'
)


@cache
def _jax() -> ModuleType:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy
    import jax.scipy.special  # makes jax.scipy.special an attribute

    return jax


def _gpus() -> list[Any]:
    try:
        return list(_jax().devices("gpu"))
    except RuntimeError:  # no GPU backend in this jaxlib / on this machine
        return []


def _jax_device(device: str) -> Any:
    if device == "cpu":
        return _jax().devices("cpu")[0]
    kind, _, index = device.partition(":")
    gpus = _gpus()
    if kind != "cuda" or not index.isdigit() or int(index) >= len(gpus):
        valid = ["cpu", *(f"cuda:{i}" for i in range(len(gpus)))]
        raise ValueError(f"unknown jax device {device!r}; valid: {', '.join(valid)}")
    return gpus[int(index)]


# (api, op, fn(jax, a, axis), the same expression as source)
_SPECS: tuple[tuple[str, str, Callable[[Any, Any, int], Any], str], ...] = (
    (
        "nn.softmax",
        "softmax",
        lambda jax, a, axis: jax.nn.softmax(a, axis=axis),
        "jax.nn.softmax(a, axis=axis)",
    ),
    (
        "nn.log_softmax",
        "log_softmax",
        lambda jax, a, axis: jax.nn.log_softmax(a, axis=axis),
        "jax.nn.log_softmax(a, axis=axis)",
    ),
    (
        "scipy.special.softmax",
        "softmax",
        lambda jax, a, axis: jax.scipy.special.softmax(a, axis=axis),
        "jax.scipy.special.softmax(a, axis=axis)",
    ),
    (
        "scipy.special.log_softmax",
        "log_softmax",
        lambda jax, a, axis: jax.scipy.special.log_softmax(a, axis=axis),
        "jax.scipy.special.log_softmax(a, axis=axis)",
    ),
    (
        "x/sum",
        "sum_normalize",
        lambda jax, a, axis: a / jax.numpy.sum(a, axis=axis, keepdims=True),
        "a / jnp.sum(a, axis=axis, keepdims=True)",
    ),
    (
        "nn.softmax-where",
        "softmax",
        lambda jax, a, axis: jax.nn.softmax(
            jax.numpy.where(a != -jax.numpy.inf, a, 0), axis=axis, where=a != -jax.numpy.inf
        ),
        "jax.nn.softmax(jnp.where(a != -jnp.inf, a, 0), axis=axis, where=a != -jnp.inf)",
    ),
    (
        "nn.log_softmax-where",
        "log_softmax",
        lambda jax, a, axis: jax.nn.log_softmax(
            jax.numpy.where(a != -jax.numpy.inf, a, 0), axis=axis, where=a != -jax.numpy.inf
        ),
        "jax.nn.log_softmax(jnp.where(a != -jnp.inf, a, 0), axis=axis, where=a != -jnp.inf)",
    ),
)
_NOTES = {"eager": "jax_enable_x64 is on", "jit": "jax_enable_x64 is on; jax.jit with static axis"}

# (api, op, fn, source, operation): jit mode only, with an eager counterpart for consistency.
_COMPOSITES: tuple[tuple[str, str, Callable[[Any, Any, int], Any], str, str], ...] = (
    (
        TEMPERATURE_API,
        "softmax",
        lambda jax, a, axis: jax.nn.softmax(a / TEMPERATURE, axis=axis),
        f"jax.nn.softmax(a / {TEMPERATURE!r}, axis=axis)",
        COMPOSITE_OPERATIONS[TEMPERATURE_API],
    ),
    (
        RENORMALIZED_API,
        "softmax",
        lambda jax, a, axis: (lambda s: s / jax.numpy.sum(s, axis=axis, keepdims=True))(
            jax.nn.softmax(a, axis=axis)
        ),
        "(lambda s: s / jnp.sum(s, axis=axis, keepdims=True))(jax.nn.softmax(a, axis=axis))",
        COMPOSITE_OPERATIONS[RENORMALIZED_API],
    ),
)


def _make_call(
    fn: Callable[[Any, Any, int], Any], api: str, mode: str
) -> Callable[[np.ndarray, int, str], np.ndarray]:
    compiled: list[Any] = []  # the jax.jit wrapper, built on the first call and reused

    def call(x: np.ndarray, axis: int, device: str) -> np.ndarray:
        jax = _jax()

        def f(a: Any, axis: int) -> Any:
            return fn(jax, a, axis)

        if mode == "jit":
            if not compiled:
                compiled.append(jax.jit(f, static_argnames=("axis",)))
            f = compiled[0]
        return np.asarray(f(jax.device_put(prescale(api, x), _jax_device(device)), axis=axis))

    return call


def _make_vjp(fn: Callable[[Any, Any, int], Any], api: str, mode: str) -> Callable[..., np.ndarray]:
    compiled: list[Any] = []

    def vjp(x: np.ndarray, g: np.ndarray, axis: int, device: str) -> np.ndarray:
        jax = _jax()

        def grad(a: Any, ga: Any, axis: int) -> Any:
            y, pullback = jax.vjp(lambda b: fn(jax, b, axis), a)
            return pullback(ga.astype(y.dtype))[0]

        if mode == "jit":
            if not compiled:
                compiled.append(jax.jit(grad, static_argnames=("axis",)))
            grad = compiled[0]
        dev = _jax_device(device)
        gx = grad(jax.device_put(prescale(api, x), dev), jax.device_put(g, dev), axis=axis)
        return np.asarray(prescale_gradient(api, gx))

    return vjp


def _prelude(api: str, expr: str) -> str:
    return f"{prescale_source(api)}{_DEVICE}def f(a, axis):\n    return {expr}\n"


def _snippet(api: str, expr: str, mode: str) -> str:
    jit = 'f = jax.jit(f, static_argnames=("axis",))\n' if mode == "jit" else ""
    call = "y = np.asarray(f(jax.device_put(x, dev), axis=axis))"
    return f"{_prelude(api, expr)}{jit}{call}"


def _vjp_snippet(api: str, expr: str, mode: str) -> str:
    jit = 'grad = jax.jit(grad, static_argnames=("axis",))\n' if mode == "jit" else ""
    scale = prescale_gradient_source(api)
    return (
        f"{_prelude(api, expr)}"
        "def grad(a, ga, axis):\n"
        "    y, pullback = jax.vjp(lambda b: f(b, axis), a)\n"
        "    return pullback(ga.astype(y.dtype))[0]\n"
        f"{jit}"
        f"gx = np.asarray(grad(jax.device_put(x, dev), jax.device_put(g, dev), axis=axis){scale})"
    )


def _gpu_details() -> dict[str, object]:
    """CUDA/cuDNN versions (jaxlib's CUDA plugin, where loaded), compute capability, driver, XLA_FLAGS."""
    import os

    from conformance.environment import nvidia_driver_version

    gpus = _gpus()
    details: dict[str, object] = {
        "compute_capability": [str(getattr(d, "compute_capability", "")) for d in gpus],
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "cuda": None,
        "cudnn": None,
        "driver": nvidia_driver_version() if gpus else None,
    }
    if gpus:
        try:  # a private module: its absence or change costs only these two facts
            from jax._src.lib import cuda_versions

            details["cuda"] = cuda_versions.cuda_runtime_get_version() if cuda_versions else None
            details["cudnn"] = cuda_versions.cudnn_get_version() if cuda_versions else None
        except Exception:
            pass
    return details


class JaxAdapter(FrameworkAdapter):
    name = "jax"
    module = "jax"
    distribution = "jax"
    compiled_modes = ("jit",)

    def available(self) -> bool:
        try:
            _jax()
        except Exception:  # any import failure means "not usable"
            return False
        return True

    def version(self) -> str | None:
        if not self.available():
            return None
        return str(_jax().__version__)

    def devices(self) -> list[str]:
        return ["cpu", *(f"cuda:{i}" for i in range(len(_gpus())))]

    def device_details(self) -> dict[str, object]:
        jax = _jax()
        import jaxlib

        return {
            "jax": jax.__version__,
            "jaxlib": getattr(jaxlib, "__version__", "unknown"),
            "jax_enable_x64": bool(jax.config.jax_enable_x64),
            "default_backend": jax.default_backend(),
            "gpus": [d.device_kind for d in _gpus()],
            "default_matmul_precision": jax.config.jax_default_matmul_precision,
            **_gpu_details(),
        }

    def implementations(self) -> Sequence[Implementation]:
        specs = [(api, op, fn, expr, "", ("eager", "jit")) for api, op, fn, expr in _SPECS]
        specs += [(api, op, fn, expr, operation, ("jit",)) for api, op, fn, expr, operation in _COMPOSITES]
        return [
            impl
            for api, op, fn, expr, operation, modes in specs
            for impl in implementations_in_modes(
                framework=self.name,
                api=api,
                op=op,
                modes=modes,
                make_call=lambda mode, fn=fn, api=api: _make_call(fn, api, mode),
                make_vjp=lambda mode, fn=fn, api=api: _make_vjp(fn, api, mode),
                snippet=lambda mode, api=api, expr=expr: _snippet(api, expr, mode),
                vjp_snippet=lambda mode, api=api, expr=expr: _vjp_snippet(api, expr, mode),
                imports=_IMPORTS_SCIPY if api.startswith("scipy.") else _IMPORTS,
                operation=operation,
                notes=_NOTES.__getitem__,
            )
        ]


ADAPTER = JaxAdapter()
