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
compiled-vs-eager consistency property.

Backward passes use ``tf.GradientTape`` with the cotangent as
``output_gradients``, in XLA mode inside the compiled function.

TF's soft device placement runs an op without a kernel for the requested device
on the CPU instead of failing; that is TF's behaviour and is not masked here.
"""

from __future__ import annotations

import os
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

_IMPORTS = "import numpy as np\nimport tensorflow as tf"
_XLA_NOTES = "tf.function(jit_compile=True), one per axis, retraced per shape"
_TF_DEVICE = 'tf_device = "/CPU:0" if device == "cpu" else "/GPU:" + device.split(":")[1]\n'


@cache
def _tf() -> ModuleType:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    # XLA mode retraces per input shape by design; TF's "triggered tf.function retracing"
    # warnings (and other Python-side warnings) would only be noise in a conformance run.
    tf.get_logger().setLevel("ERROR")
    return tf


def _gpus() -> list[Any]:
    return _tf().config.list_physical_devices("GPU")


def _tf_device(device: str) -> str:
    """TF's device string for a suite device name; ValueError for one TF does not see.

    TF would silently place work on the CPU for a missing GPU (soft placement), so
    the check is made here.
    """
    if device == "cpu":
        return "/CPU:0"
    kind, _, index = device.partition(":")
    if kind != "cuda" or not index.isdigit() or int(index) >= len(_gpus()):
        valid = ["cpu", *(f"cuda:{i}" for i in range(len(_gpus())))]
        raise ValueError(f"unknown tensorflow device {device!r}; valid: {', '.join(valid)}")
    return f"/GPU:{index}"


# (api, op, fn(tf, t, axis), the same expression as source, operation, modes)
_SPECS: tuple[tuple[str, str, Callable[[Any, Any, int], Any], str, str, tuple[str, ...]], ...] = (
    (
        "nn.softmax",
        "softmax",
        lambda tf, t, axis: tf.nn.softmax(t, axis=axis),
        "tf.nn.softmax(t, axis=axis)",
        "",
        ("eager", "xla"),
    ),
    (
        "nn.log_softmax",
        "log_softmax",
        lambda tf, t, axis: tf.nn.log_softmax(t, axis=axis),
        "tf.nn.log_softmax(t, axis=axis)",
        "",
        ("eager", "xla"),
    ),
    (
        "keras.activations.softmax",
        "softmax",
        lambda tf, t, axis: tf.keras.activations.softmax(t, axis=axis),
        "tf.keras.activations.softmax(t, axis=axis)",
        "",
        ("eager", "xla"),
    ),
    (
        "keras.layers.Softmax",
        "softmax",
        lambda tf, t, axis: tf.keras.layers.Softmax(axis=axis)(t),
        "tf.keras.layers.Softmax(axis=axis)(t)",
        "",
        ("eager",),
    ),
    (
        "x/reduce_sum",
        "sum_normalize",
        lambda tf, t, axis: t / tf.reduce_sum(t, axis=axis, keepdims=True),
        "t / tf.reduce_sum(t, axis=axis, keepdims=True)",
        "",
        ("eager", "xla"),
    ),
    (
        "linalg.normalize-ord1",
        "sum_normalize",
        lambda tf, t, axis: tf.linalg.normalize(t, ord=1, axis=axis)[0],
        "tf.linalg.normalize(t, ord=1, axis=axis)[0]",
        "L1 normalization x / sum(|x|)",
        ("eager", "xla"),
    ),
)


_COMPOSITES: tuple[tuple[str, str, Callable[[Any, Any, int], Any], str, str, tuple[str, ...]], ...] = (
    (
        TEMPERATURE_API,
        "softmax",
        lambda tf, t, axis: tf.nn.softmax(t / TEMPERATURE, axis=axis),
        f"tf.nn.softmax(t / {TEMPERATURE!r}, axis=axis)",
        COMPOSITE_OPERATIONS[TEMPERATURE_API],
        ("xla",),
    ),
    (
        RENORMALIZED_API,
        "softmax",
        lambda tf, t, axis: (lambda s: s / tf.reduce_sum(s, axis=axis, keepdims=True))(
            tf.nn.softmax(t, axis=axis)
        ),
        "(lambda s: s / tf.reduce_sum(s, axis=axis, keepdims=True))(tf.nn.softmax(t, axis=axis))",
        COMPOSITE_OPERATIONS[RENORMALIZED_API],
        ("xla",),
    ),
)


def _make_call(
    fn: Callable[[Any, Any, int], Any], api: str, mode: str
) -> Callable[[np.ndarray, int, str], np.ndarray]:
    compiled: dict[int, Any] = {}  # axis -> tf.function, built once and reused

    def call(x: np.ndarray, axis: int, device: str) -> np.ndarray:
        tf = _tf()
        if mode == "eager":
            f = lambda t: fn(tf, t, axis)  # noqa: E731
        else:
            if axis not in compiled:
                compiled[axis] = tf.function(lambda t: fn(tf, t, axis), jit_compile=True)
            f = compiled[axis]
        with tf.device(_tf_device(device)):
            return f(tf.constant(prescale(api, x))).numpy()

    return call


def _make_vjp(fn: Callable[[Any, Any, int], Any], api: str, mode: str) -> Callable[..., np.ndarray]:
    compiled: dict[int, Any] = {}

    def vjp(x: np.ndarray, g: np.ndarray, axis: int, device: str) -> np.ndarray:
        tf = _tf()

        def grad(t: Any, gt: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(t)
                y = fn(tf, t, axis)
            return tape.gradient(y, t, output_gradients=tf.cast(gt, y.dtype))

        if mode != "eager":
            if axis not in compiled:
                compiled[axis] = tf.function(grad, jit_compile=True)
            grad = compiled[axis]
        with tf.device(_tf_device(device)):
            gx = grad(tf.constant(prescale(api, x)), tf.constant(g))
            return prescale_gradient(api, gx).numpy()

    return vjp


def _prelude(api: str, expr: str, mode: str) -> str:
    return f"{prescale_source(api)}{_TF_DEVICE}def f(t):\n    return {expr}\n"


def _snippet(api: str, expr: str, mode: str) -> str:
    jit = "f = tf.function(f, jit_compile=True)\n" if mode == "xla" else ""
    return f"{_prelude(api, expr, mode)}{jit}with tf.device(tf_device):\n    y = f(tf.constant(x)).numpy()"


def _vjp_snippet(api: str, expr: str, mode: str) -> str:
    jit = "grad = tf.function(grad, jit_compile=True)\n" if mode == "xla" else ""
    scale = prescale_gradient_source(api)
    return (
        f"{_prelude(api, expr, mode)}"
        "def grad(t, gt):\n"
        "    with tf.GradientTape() as tape:\n"
        "        tape.watch(t)\n"
        "        y = f(t)\n"
        "    return tape.gradient(y, t, output_gradients=tf.cast(gt, y.dtype))\n"
        f"{jit}"
        "with tf.device(tf_device):\n"
        f"    gx = (grad(tf.constant(x), tf.constant(g)){scale}).numpy()"
    )


def _op_determinism(tf: ModuleType) -> bool | None:
    """``tf.config.experimental.enable_op_determinism`` in force (None where TF cannot say)."""
    try:  # not exported under tf.config; the internal module has had it since TF 2.8
        from tensorflow.python.framework import config

        return bool(config.is_op_determinism_enabled())
    except Exception:
        return None


def _driver() -> str | None:
    from conformance.environment import nvidia_driver_version

    return nvidia_driver_version()


class TensorflowAdapter(FrameworkAdapter):
    name = "tensorflow"
    module = "tensorflow"
    distribution = "tensorflow"
    compiled_modes = ("xla",)

    def available(self) -> bool:
        try:
            _tf()  # the base class would import TF without TF_CPP_MIN_LOG_LEVEL
        except Exception:  # any import failure means "not usable"
            return False
        return True

    def version(self) -> str | None:
        if not self.available():
            return None
        return str(_tf().__version__)

    def devices(self) -> list[str]:
        return ["cpu", *(f"cuda:{i}" for i in range(len(_gpus())))]

    def device_details(self) -> dict[str, object]:
        tf = _tf()
        build = dict(tf.sysconfig.get_build_info())
        keras = tf.keras
        backend = getattr(getattr(keras, "config", None), "backend", None) or getattr(
            getattr(keras, "backend", None), "backend", None
        )
        return {
            "tensorflow": tf.__version__,
            "keras": getattr(keras, "__version__", "unknown"),
            "keras_backend": backend() if callable(backend) else None,
            "built_with_cuda": tf.test.is_built_with_cuda(),
            "cuda": build.get("cuda_version"),
            "cudnn": build.get("cudnn_version"),
            "gpus": [
                tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in _gpus()
            ],
            "tensor_float_32": tf.config.experimental.tensor_float_32_execution_enabled(),
            "op_determinism": _op_determinism(tf),
            "compute_capability": [
                ".".join(map(str, tf.config.experimental.get_device_details(g).get("compute_capability", ())))
                for g in _gpus()
            ],
            "driver": _driver() if _gpus() else None,
            "onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        }

    def implementations(self) -> Sequence[Implementation]:
        return [
            impl
            for api, op, fn, expr, operation, modes in (*_SPECS, *_COMPOSITES)
            for impl in implementations_in_modes(
                framework=self.name,
                api=api,
                op=op,
                modes=modes,
                make_call=lambda mode, fn=fn, api=api: _make_call(fn, api, mode),
                make_vjp=lambda mode, fn=fn, api=api: _make_vjp(fn, api, mode),
                snippet=lambda mode, api=api, expr=expr: _snippet(api, expr, mode),
                vjp_snippet=lambda mode, api=api, expr=expr: _vjp_snippet(api, expr, mode),
                imports=_IMPORTS,
                operation=operation,
                notes=lambda mode: _XLA_NOTES if mode == "xla" else "",
            )
        ]


ADAPTER = TensorflowAdapter()
