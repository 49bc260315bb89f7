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
replaced by the dtype's largest finite value (an adversarial value: a masked entry that leaks into
the max, the sum or an output shows at once), so that they compute the function the oracle's -inf
entries define; a masked entry is then not an input, and must get exactly zero gradient. The
``-where-neginf`` variants leave the -inf under the mask.
JAX 0.4.23-0.4.26 accept ``where=`` only together with ``initial=`` (a ``ValueError``: "reduction
operation max does not have an identity, so to use a where mask one has to specify 'initial'");
``initial=`` was removed again in 0.4.27. On those releases the masked variants are declined
(``ApiNotAvailable``, so ``unsupported`` with that reason): the form the suite calls is absent there.
An all -inf slice is an all-False mask, which JAX's docstrings define ("the output for any
masked-out element is zero" / "minus infinity"): the masked variants declare that contract
(``reference.contracts.MASKED``), so such a slice is judged by precision against all 0 / all -inf
(a NaN or a uniform row there is a failure) and its observed value is still recorded in the
semantics table.

Every implementation has a backward pass (``jax.vjp``; under ``jax.jit`` in jit
mode). jit mode also runs two expressions around softmax that a compiler may
rewrite (a softmax of ``x / T``, a softmax renormalized by its own sum), and each
jit implementation carries its eager counterpart for the compiled-vs-eager
consistency property. ``softmax(x / T)`` is an eager cell too: eager JAX divides by a Python
scalar as a product by its rounded reciprocal (registry entry
``jax-eager-division-by-scalar-is-reciprocal-product``), which only a cell of its own judges
against the contract. The calls bind the snippets' own expressions (``ApiSpec.source``).

Every API here documents ``axis`` as an int, a tuple of ints or None (all axes), ``jnp.sum``
likewise, so all of them are given the corpus' joint-axes cases (``JOINT_AXES``); under
``jax.jit`` the axis is static, so each (shape, axis) compiles once.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np

from conformance.adapters.base import (
    JOINT_AXES,
    ApiSpec,
    CallFn,
    FrameworkAdapter,
    VjpFn,
    bind,
    composite_specs,
    import_namespace,
)
from conformance.errors import ApiNotAvailable
from reference.contracts import MASKED

_IMPORTS = (
    'import jax\njax.config.update("jax_enable_x64", True)\nimport jax.numpy as jnp\nimport numpy as np'
)
_DEVICE = (
    'dev = jax.devices("cpu")[0] if device == "cpu" else jax.devices("gpu")[int(device.split(":")[1])]\n'
)
_BOTH = ("eager", "jit")
# JAX 0.4.23-0.4.26's refusal of ``where=`` without ``initial=`` (jax/_src/numpy/reductions.py).
_WHERE_NEEDS_INITIAL = "one has to specify 'initial'"


def declining_absent_where(fn: Any) -> Any:
    """``fn``, with JAX 0.4.23-0.4.26's where=-needs-initial= ValueError raised as ``ApiNotAvailable``.

    Only that message is converted: any other exception (another ``ValueError`` included)
    propagates unchanged and is recorded as an ``error``.
    """

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ValueError as exc:
            if _WHERE_NEEDS_INITIAL not in str(exc):
                raise
            version = getattr(sys.modules.get("jax"), "__version__", "?")
            raise ApiNotAvailable(
                f"jax {version} accepts where= only with initial= (removed again in 0.4.27): "
                f"{str(exc).splitlines()[0][:200]}"
            ) from exc

    return call


# Under the mask: the dtype's largest finite value (any leak of a masked entry into the max, the
# sum or an output is then as large as it can be), or the -inf itself.
_WHERE = "jax.nn.{}(jnp.where(t != -jnp.inf, t, jnp.finfo(t.dtype).max), axis=axis, where=t != -jnp.inf)"
_WHERE_NEGINF = "jax.nn.{}(t, axis=axis, where=t != -jnp.inf)"


# JAX's own monitoring events (``jax.monitoring``): an XLA backend compilation (or its load from the
# persistent compile cache: JAX times both as one event) and a trace to a jaxpr, each with its
# duration. Counted for the whole process.
_EVENTS = {
    "/jax/core/compile/backend_compile_duration": "backend_compiles",
    "/jax/core/compile/jaxpr_trace_duration": "traces",
}
_COUNTS: dict[str, float] = {
    "backend_compiles": 0,
    "backend_compile_seconds": 0.0,
    "traces": 0,
    "trace_seconds": 0.0,
}


def _count_event(event: str, duration: float, **_: Any) -> None:
    name = _EVENTS.get(event)
    if name is not None:
        _COUNTS[name] += 1
        _COUNTS[name.removesuffix("s") + "_seconds"] += duration


@cache
def _jax() -> ModuleType:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy
    import jax.scipy.special  # makes jax.scipy.special an attribute

    try:  # counting is a nicety: a release without the hook costs only the counts
        jax.monitoring.register_event_duration_secs_listener(_count_event)
    except Exception:
        pass
    return jax


@cache
def _ns() -> dict[str, Any]:
    _jax()
    return import_namespace(_IMPORTS)


def _gpus() -> list[Any]:
    try:
        return list(_jax().devices("gpu"))
    except RuntimeError:  # no GPU backend in this jaxlib / on this machine
        return []


def _jax_device(device: str) -> Any:
    index = ADAPTER.device_index(device)
    return _jax().devices("cpu")[0] if index is None else _gpus()[index]


def _jitted(fn: Any, mode: str, compiled: list[Any]) -> Any:
    """``fn`` under ``jax.jit`` (static ``axis``, built once) in jit mode, as it is otherwise."""
    if mode != "jit":
        return fn
    if not compiled:
        compiled.append(_jax().jit(fn, static_argnames=("axis",)))
    return compiled[0]


def _prelude(spec: ApiSpec) -> str:
    return f"{_DEVICE}def f(t, axis):\n    return {spec.source}\n"


def _gpu_details() -> dict[str, object]:
    """CUDA/cuDNN versions (jaxlib's CUDA plugin, where loaded), compute capability, driver, XLA_FLAGS."""
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
    name = module = distribution = "jax"
    compiled_modes = ("jit",)
    imports = _IMPORTS
    mode_notes = {"eager": "jax_enable_x64 is on", "jit": "jax_enable_x64 is on; jax.jit with static axis"}  # noqa: RUF012
    specs = (
        ApiSpec("nn.softmax", "softmax", "jax.nn.softmax(t, axis=axis)", _BOTH, axes=JOINT_AXES),
        ApiSpec("nn.log_softmax", "log_softmax", "jax.nn.log_softmax(t, axis=axis)", _BOTH, axes=JOINT_AXES),
        ApiSpec(
            "scipy.special.softmax",
            "softmax",
            "jax.scipy.special.softmax(t, axis=axis)",
            _BOTH,
            axes=JOINT_AXES,
            alias_of="nn.softmax",
        ),
        ApiSpec(
            "scipy.special.log_softmax",
            "log_softmax",
            "jax.scipy.special.log_softmax(t, axis=axis)",
            _BOTH,
            axes=JOINT_AXES,
            alias_of="nn.log_softmax",
        ),
        ApiSpec("x/sum", "sum_normalize", "t / jnp.sum(t, axis=axis, keepdims=True)", _BOTH, axes=JOINT_AXES),
        ApiSpec(
            "nn.softmax-where", "softmax", _WHERE.format("softmax"), _BOTH, axes=JOINT_AXES, contract=MASKED
        ),
        ApiSpec(
            "nn.log_softmax-where",
            "log_softmax",
            _WHERE.format("log_softmax"),
            _BOTH,
            axes=JOINT_AXES,
            contract=MASKED,
        ),
        ApiSpec(
            "nn.softmax-where-neginf",
            "softmax",
            _WHERE_NEGINF.format("softmax"),
            _BOTH,
            axes=JOINT_AXES,
            contract=MASKED,
        ),
        ApiSpec(
            "nn.log_softmax-where-neginf",
            "log_softmax",
            _WHERE_NEGINF.format("log_softmax"),
            _BOTH,
            axes=JOINT_AXES,
            contract=MASKED,
        ),
        *composite_specs(
            "jax.nn.softmax({}, axis=axis)",
            "jnp.sum({}, axis=axis, keepdims=True)",
            ("jit",),
            JOINT_AXES,
            temperature_modes=_BOTH,
        ),
    )

    def load(self) -> ModuleType:
        return _jax()

    def imports_for(self, spec: ApiSpec) -> str:
        return _IMPORTS + "\nimport jax.scipy.special" if spec.api.startswith("scipy.") else _IMPORTS

    def gpu_count(self) -> int:
        return len(_gpus())

    def compile_counts(self) -> dict[str, float] | None:
        """XLA backend compilations and jaxpr traces so far, with their seconds (``jax.monitoring``)."""
        return dict(_COUNTS) if _jax.cache_info().currsize else None

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

    def make_call(self, spec: ApiSpec, mode: str) -> CallFn:
        compiled: list[Any] = []  # the jax.jit wrapper, built on the first call and reused

        def call(x: np.ndarray, axis: int, device: str) -> np.ndarray:
            f = _jitted(bind(spec.source, _ns()), mode, compiled)
            return np.asarray(f(_jax().device_put(x, _jax_device(device)), axis=axis))

        return declining_absent_where(call)

    def make_vjp(self, spec: ApiSpec, mode: str) -> VjpFn:
        compiled: list[Any] = []

        def vjp(x: np.ndarray, g: np.ndarray, axis: int, device: str) -> np.ndarray:
            jax, f = _jax(), bind(spec.source, _ns())

            def grad(a: Any, ga: Any, axis: int) -> Any:
                y, pullback = jax.vjp(lambda b: f(b, axis), a)
                return pullback(ga.astype(y.dtype))[0]

            dev = _jax_device(device)
            gx = _jitted(grad, mode, compiled)(jax.device_put(x, dev), jax.device_put(g, dev), axis=axis)
            return np.asarray(gx)

        return declining_absent_where(vjp)

    def snippet(self, spec: ApiSpec, mode: str) -> str:
        jit = 'f = jax.jit(f, static_argnames=("axis",))\n' if mode == "jit" else ""
        return f"{_prelude(spec)}{jit}y = np.asarray(f(jax.device_put(x, dev), axis=axis))"

    def vjp_snippet(self, spec: ApiSpec, mode: str) -> str:
        jit = 'grad = jax.jit(grad, static_argnames=("axis",))\n' if mode == "jit" else ""
        return (
            f"{_prelude(spec)}def grad(a, ga, axis):\n    y, pullback = jax.vjp(lambda b: f(b, axis), a)\n"
            f"    return pullback(ga.astype(y.dtype))[0]\n{jit}"
            f"gx = np.asarray(grad(jax.device_put(x, dev), jax.device_put(g, dev), axis=axis))"
        )


ADAPTER = JaxAdapter()
