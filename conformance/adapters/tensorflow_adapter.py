"""TensorFlow as a framework under test, eager and XLA (``tf.function(jit_compile=True)``).

TensorFlow is imported lazily, on the first call (with ``TF_CPP_MIN_LOG_LEVEL=2``
unless the environment already sets it, and TF's Python logger set to ERROR). TF 2.21
still prints its "oneDNN custom operations are on" line through absl before that
setting is read. ``tf.constant`` accepts ml_dtypes'
bfloat16 arrays and ``.numpy()`` returns them, so conversions are exact both
ways; a non-contiguous input is copied by ``tf.constant`` (TF tensors are always
dense). The Keras APIs are those of ``tf.keras`` (Keras 3 on TF >= 2.16 unless
``TF_USE_LEGACY_KERAS`` is set); the Keras version and backend are recorded in
``device_details``.

XLA mode builds one ``tf.function`` per (implementation, axis) and reuses it;
TF retraces it for each new input shape and dtype. ``keras.layers.Softmax`` is
run in eager mode only. XLA mode also runs two expressions around softmax that a
compiler may rewrite (a softmax of ``x / T``, a softmax renormalized by its own
sum); each XLA implementation carries its eager counterpart for the
compiled-vs-eager consistency property, and ``softmax(x / T)`` is an eager cell too, so that the
eager expression the XLA one is compared with is judged against the contract itself.

Backward passes use ``tf.GradientTape`` with the cotangent as
``output_gradients``, in XLA mode inside the compiled function.

TF's soft device placement runs an op without a kernel for the requested device
on the CPU instead of failing; that is TF's behaviour and is not masked here (but a device TF
does not see at all is refused: ``parse_device``). The calls bind the snippets' own expressions.

TensorFlow 2.15 (Keras 2: ``tf.keras`` is Keras 2.15) fails every XLA compile when
``TF_XLA_FLAGS`` names a persistent compile cache (``--tf_xla_persistent_cache_directory``,
which ``python -m conformance run`` sets: ``conformance.compile_cache``) with
``InternalError: TargetRegistry::lookupTarget failed: No available targets are compatible with
triple "unknown"``. TF reads the flags at its first XLA compile, not at import, so on a release
older than ``CACHE_BROKEN_BEFORE`` the adapter removes that flag from the process's
``TF_XLA_FLAGS`` right after the import and says so in ``device_details``
(``xla_persistent_cache``), which the run writes into the framework record.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import MutableMapping
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np

from conformance.adapters.base import (
    ApiSpec,
    CallFn,
    FrameworkAdapter,
    VjpFn,
    bind,
    composite_specs,
    import_namespace,
    release_tuple,
)
from reference.contracts import L1_NORMALIZE, Contract

_IMPORTS = "import numpy as np\nimport tensorflow as tf"
_TF_DEVICE = 'tf_device = "/CPU:0" if device == "cpu" else "/GPU:" + device.split(":")[1]\n'
_BOTH = ("eager", "xla")


_CACHE_FLAG = "--tf_xla_persistent_cache_directory"
CACHE_BROKEN_BEFORE = (2, 16)  # the first release whose XLA compiles with the persistent cache
_cache_note: list[str] = []  # what was done about the cache in this process, for device_details


def drop_broken_persistent_cache(version: str, environ: MutableMapping[str, str]) -> str | None:
    """Remove ``--tf_xla_persistent_cache_directory`` from ``environ["TF_XLA_FLAGS"]`` on TF < 2.16.

    Returns the note for the record (what was removed and why), or None where nothing was
    changed (a newer release, or no such flag). The other flags are kept in their order.
    """
    flags = environ.get("TF_XLA_FLAGS", "").split()
    kept = [f for f in flags if not f.startswith(_CACHE_FLAG)]
    if release_tuple(version) >= CACHE_BROKEN_BEFORE or len(kept) == len(flags):
        return None
    if kept:
        environ["TF_XLA_FLAGS"] = " ".join(kept)
    else:
        environ.pop("TF_XLA_FLAGS", None)
    return (
        f"off: TensorFlow {version} fails every XLA compile with a persistent cache directory "
        f'(TargetRegistry::lookupTarget: no target for triple "unknown"); {_CACHE_FLAG} removed '
        "from TF_XLA_FLAGS in this process"
    )


@cache
def _tf() -> ModuleType:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    note = drop_broken_persistent_cache(tf.__version__, os.environ)  # before any XLA compile
    if note:
        _cache_note.append(note)

    # XLA mode retraces per input shape by design; TF's "triggered tf.function retracing"
    # warnings (and other Python-side warnings) would only be noise in a conformance run.
    tf.get_logger().setLevel("ERROR")
    return tf


@cache
def _ns() -> dict[str, Any]:
    _tf()
    return import_namespace(_IMPORTS)


def _distribution_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _gpus() -> list[Any]:
    return _tf().config.list_physical_devices("GPU")


def _tf_device(device: str) -> str:
    """TF's device string for a suite device name; ValueError for one TF does not see."""
    index = ADAPTER.device_index(device)
    return "/CPU:0" if index is None else f"/GPU:{index}"


# Every tf.function built here, so that their traces (one concrete function per input signature,
# each compiled by XLA on its first call) can be counted (``TensorflowAdapter.compile_counts``).
_FUNCTIONS: list[Any] = []


def _function(fn: Any, axis: int, mode: str, compiled: dict[int, Any]) -> Any:
    """``fn`` (a function of the tensors) as it is, or one ``tf.function(jit_compile=True)`` per axis."""
    if mode == "eager":
        return fn
    if axis not in compiled:
        compiled[axis] = _tf().function(fn, jit_compile=True)
        _FUNCTIONS.append(compiled[axis])
    return compiled[axis]


def _prelude(spec: ApiSpec) -> str:
    return f"{_TF_DEVICE}def f(t):\n    return {spec.source}\n"


def _op_determinism() -> bool | None:
    """``tf.config.experimental.enable_op_determinism`` in force (None where TF cannot say)."""
    try:  # not exported under tf.config; the internal module has had it since TF 2.8
        from tensorflow.python.framework import config

        return bool(config.is_op_determinism_enabled())
    except Exception:
        return None


class TensorflowAdapter(FrameworkAdapter):
    name = module = distribution = "tensorflow"
    compiled_modes = ("xla",)
    imports = _IMPORTS
    mode_notes = {"xla": "tf.function(jit_compile=True), one per axis, retraced per shape"}  # noqa: RUF012
    specs = (
        ApiSpec("nn.softmax", "softmax", "tf.nn.softmax(t, axis=axis)", _BOTH),
        ApiSpec("nn.log_softmax", "log_softmax", "tf.nn.log_softmax(t, axis=axis)", _BOTH),
        ApiSpec(
            "keras.activations.softmax",
            "softmax",
            "tf.keras.activations.softmax(t, axis=axis)",
            _BOTH,
            alias_of="nn.softmax",
        ),
        ApiSpec("keras.layers.Softmax", "softmax", "tf.keras.layers.Softmax(axis=axis)(t)"),
        ApiSpec("x/reduce_sum", "sum_normalize", "t / tf.reduce_sum(t, axis=axis, keepdims=True)", _BOTH),
        ApiSpec(
            "linalg.normalize-ord1",
            "sum_normalize",
            "tf.linalg.normalize(t, ord=1, axis=axis)[0]",
            _BOTH,
            "L1 normalization x / sum(|x|) (no eps: a slice of zeros is 0/0, NaN, as documented)",
            contract=Contract(L1_NORMALIZE, eps=None),
        ),
        *composite_specs(
            "tf.nn.softmax({}, axis=axis)",
            "tf.reduce_sum({}, axis=axis, keepdims=True)",
            ("xla",),
            temperature_modes=("eager", "xla"),
        ),
    )

    def load(self) -> ModuleType:
        return _tf()  # not a bare import: TF_CPP_MIN_LOG_LEVEL first

    def gpu_count(self) -> int:
        return len(_gpus())

    def compile_counts(self) -> dict[str, float] | None:
        """Traces of the ``xla`` mode's tf.functions so far (``experimental_get_tracing_count``: one
        concrete function per input signature, each compiled by XLA on its first call)."""
        if not _FUNCTIONS:
            return None
        return {"traces": sum(int(f.experimental_get_tracing_count()) for f in _FUNCTIONS)}

    def device_details(self) -> dict[str, object]:
        from conformance.environment import nvidia_driver_version

        tf = _tf()
        build = dict(tf.sysconfig.get_build_info())
        keras = tf.keras
        backend = getattr(getattr(keras, "config", None), "backend", None) or getattr(
            getattr(keras, "backend", None), "backend", None
        )
        gpus = [tf.config.experimental.get_device_details(g) for g in _gpus()]
        return {
            "tensorflow": tf.__version__,
            "keras": getattr(keras, "__version__", None) or _distribution_version("keras"),
            "keras_backend": backend() if callable(backend) else None,
            "built_with_cuda": tf.test.is_built_with_cuda(),
            "cuda": build.get("cuda_version"),
            "cudnn": build.get("cudnn_version"),
            "gpus": [d.get("device_name", g.name) for d, g in zip(gpus, _gpus(), strict=True)],
            "tensor_float_32": tf.config.experimental.tensor_float_32_execution_enabled(),
            "op_determinism": _op_determinism(),
            "compute_capability": [".".join(map(str, d.get("compute_capability", ()))) for d in gpus],
            "driver": nvidia_driver_version() if gpus else None,
            "onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "xla_persistent_cache": _cache_note[0] if _cache_note else "as configured (TF_XLA_FLAGS)",
        }

    def make_call(self, spec: ApiSpec, mode: str) -> CallFn:
        compiled: dict[int, Any] = {}  # axis -> tf.function, built once and reused

        def call(x: np.ndarray, axis: int, device: str) -> np.ndarray:
            tf, f = _tf(), bind(spec.source, _ns())
            fn = _function(lambda t: f(t, axis), axis, mode, compiled)
            with tf.device(_tf_device(device)):
                return fn(tf.constant(x)).numpy()

        return call

    def make_vjp(self, spec: ApiSpec, mode: str) -> VjpFn:
        compiled: dict[int, Any] = {}

        def vjp(x: np.ndarray, g: np.ndarray, axis: int, device: str) -> np.ndarray:
            tf, f = _tf(), bind(spec.source, _ns())

            def grad(t: Any, gt: Any) -> Any:
                with tf.GradientTape() as tape:
                    tape.watch(t)
                    y = f(t, axis)
                return tape.gradient(y, t, output_gradients=tf.cast(gt, y.dtype))

            with tf.device(_tf_device(device)):
                gx = _function(grad, axis, mode, compiled)(tf.constant(x), tf.constant(g))
                return gx.numpy()

        return vjp

    def snippet(self, spec: ApiSpec, mode: str) -> str:
        jit = "f = tf.function(f, jit_compile=True)\n" if mode == "xla" else ""
        return f"{_prelude(spec)}{jit}with tf.device(tf_device):\n    y = f(tf.constant(x)).numpy()"

    def vjp_snippet(self, spec: ApiSpec, mode: str) -> str:
        jit = "grad = tf.function(grad, jit_compile=True)\n" if mode == "xla" else ""
        return (
            f"{_prelude(spec)}def grad(t, gt):\n    with tf.GradientTape() as tape:\n        tape.watch(t)\n"
            "        y = f(t)\n    return tape.gradient(y, t, output_gradients=tf.cast(gt, y.dtype))\n"
            f"{jit}with tf.device(tf_device):\n"
            f"    gx = (grad(tf.constant(x), tf.constant(g))).numpy()"
        )


ADAPTER = TensorflowAdapter()
