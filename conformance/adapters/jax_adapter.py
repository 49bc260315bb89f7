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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np

from conformance.adapters.base import FrameworkAdapter, Implementation

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
)


def _make_call(fn: Callable[[Any, Any, int], Any], mode: str) -> Callable[[np.ndarray, int, str], np.ndarray]:
    compiled: list[Any] = []  # the jax.jit wrapper, built on the first call and reused

    def call(x: np.ndarray, axis: int, device: str) -> np.ndarray:
        jax = _jax()

        def f(a: Any, axis: int) -> Any:
            return fn(jax, a, axis)

        if mode == "jit":
            if not compiled:
                compiled.append(jax.jit(f, static_argnames=("axis",)))
            f = compiled[0]
        return np.asarray(f(jax.device_put(x, _jax_device(device)), axis=axis))

    return call


def _snippet(expr: str, mode: str) -> str:
    jit = 'f = jax.jit(f, static_argnames=("axis",))\n' if mode == "jit" else ""
    call = "y = np.asarray(f(jax.device_put(x, dev), axis=axis))"
    return f"{_DEVICE}def f(a, axis):\n    return {expr}\n{jit}{call}"


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
        return [
            Implementation(
                framework=self.name,
                api=api,
                op=op,
                mode=mode,
                call=_make_call(fn, mode),
                snippet=_snippet(expr, mode),
                imports=_IMPORTS_SCIPY if api.startswith("scipy.") else _IMPORTS,
                notes="jax_enable_x64 is on" + ("; jax.jit with static axis" if mode == "jit" else ""),
            )
            for api, op, fn, expr in _SPECS
            for mode in ("eager", "jit")
        ]


ADAPTER = JaxAdapter()
