"""Keras 3 as a framework under test, once per backend: ``keras-jax``, ``keras-torch``, ``keras-tensorflow``.

Keras 3 fixes its backend per process: it reads ``KERAS_BACKEND`` when ``keras`` is
first imported, and cannot switch afterwards. So each backend is its own framework
(the modules ``keras_jax_adapter``, ``keras_torch_adapter`` and
``keras_tensorflow_adapter`` each hold one ``KerasAdapter``), and each needs a
process of its own: ``python -m conformance run`` gives every framework one.
``available()`` sets ``KERAS_BACKEND`` just for the first import of ``keras`` (the
variable is restored afterwards, so child processes do not inherit it); where
``keras`` is already imported with another backend (``import tensorflow`` imports
``keras`` too, with the backend ``KERAS_BACKEND`` names, TensorFlow by default) it
is False and ``unavailable_reason`` says why. For the JAX backend 64-bit mode is
switched on before ``keras`` is imported, as in the ``jax`` adapter: without it
JAX, and so Keras, silently computes float64 input in float32.

Conversions are Keras's own: ``keras.ops.convert_to_tensor(x)`` and
``keras.ops.convert_to_numpy(y)``, inside ``keras.device(...)``. They are exact for
every dtype here: the torch backend converts a bfloat16 array through float32
(exact both ways: every bfloat16 value is a float32), the JAX and TensorFlow backends
take ml_dtypes' bfloat16 directly, and bfloat16 comes back as ``ml_dtypes.bfloat16``.
Whatever dtype a backend returns is returned unchanged.

What differs from the plain backend APIs, all Keras's doing: ``keras.layers.Softmax``
computes in the layer's dtype policy (float32 by default), so float16, bfloat16 and
float64 input comes back float32. The torch backend computes float16 softmax and
log-softmax on the CPU in float32 and casts back. ``keras.ops.normalize(order=1)`` divides
by ``max(sum(|x|), epsilon)`` (``keras.config.epsilon()``, 1e-7): an L1 normalization;
on the JAX and torch backends it takes the norm of float64 input in float32 (Keras's
``result_type`` maps float64 to float32 on every backend but TensorFlow) and divides
the float64 input by it. In ``x/ops.sum`` the ``/`` is the backend tensor's own operator.
These are judged as Keras computes them, not corrected here.

``layers.Softmax-mask`` calls the layer with ``mask = x != -inf`` and the masked
entries of ``x`` set to 0 (in NumPy, before the conversion), so that on a slice with
some ``-inf`` entries it computes what the oracle's softmax computes there. The layer
puts -1e9 at the masked positions (-3e4 where it computes in float16), takes the
softmax, and sets the masked outputs to 0 (since Keras 3.10, keras-team/keras#21149;
before, a fully masked slice came back uniform); so a slice with every entry ``-inf``
(all masked) comes back all zeros (the oracle: NaN), and unmasked logits below -1e9
lose to the masked positions. NaN is not ``-inf``, so a NaN entry is not masked (but a
masked entry's output is 0 even where a NaN elsewhere makes the rest of its slice NaN).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from conformance.adapters.base import FrameworkAdapter, Implementation

BACKENDS: tuple[str, ...] = ("jax", "torch", "tensorflow")

# The snippet's device line, written like _keras_device below.
_DEVICE = 'kdev = "cpu:0" if device == "cpu" else "gpu:" + device.split(":")[1]\n'
_SIZE_ONE_WARNING = "You are using a softmax over axis"  # keras.ops.softmax on a size-1 axis

_MASK_NOTES = (
    "called as keras.layers.Softmax(axis=axis)(t, mask=m) with m = x != -inf and the masked entries "
    "of x set to 0 first, so that on a slice with some -inf entries it computes the oracle's "
    "softmax; the layer puts -1e9 at masked positions (-3e4 under a float16 policy) and sets their "
    "outputs to 0: an all -inf slice gives all zeros (oracle: NaN), and unmasked logits below -1e9 "
    "lose to the masked positions; NaN entries are not masked"
)
_MASK_OPERATION = "masked softmax (mask = x != -inf; masked outputs 0, so an all -inf slice gives 0)"
_POLICY_NOTES = "the layer computes in its dtype policy (float32 by default) and returns float32"

_loaded: dict[str, ModuleType] = {}  # backend -> keras, once loaded in this process


class KerasBackendError(RuntimeError):
    """Keras cannot run with the requested backend in this process."""


def _imports(backend: str) -> str:
    lines = ["import os", f'os.environ["KERAS_BACKEND"] = "{backend}"']
    if backend == "jax":
        lines += ["import jax", 'jax.config.update("jax_enable_x64", True)']
    return "\n".join([*lines, "import keras", "import numpy as np"])


def _keras(backend: str) -> ModuleType:
    """``keras`` with ``backend``, imported on the first call; KerasBackendError where that cannot be."""
    if backend in _loaded:
        return _loaded[backend]
    if backend not in BACKENDS:
        raise ValueError(f"unknown Keras backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if "keras" not in sys.modules:
        if backend == "jax":
            import jax

            jax.config.update("jax_enable_x64", True)  # before Keras creates any array
        elif backend == "tensorflow":
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        previous = os.environ.get("KERAS_BACKEND")
        os.environ["KERAS_BACKEND"] = backend
        try:
            import keras
        finally:  # the variable matters only at this import; children must not inherit it
            if previous is None:
                os.environ.pop("KERAS_BACKEND", None)
            else:
                os.environ["KERAS_BACKEND"] = previous
    import keras

    found = keras.config.backend()
    if found != backend:
        raise KerasBackendError(
            f"keras is already imported in this process with backend {found!r} (Keras fixes its "
            f"backend at its first import, and importing tensorflow imports keras): keras-{backend} "
            f"needs a process of its own (python -m conformance run starts one per framework)"
        )
    if backend == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)  # also where keras was imported before us
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
    _loaded[backend] = keras
    return keras


def _backend_module(backend: str) -> ModuleType:
    _keras(backend)
    return importlib.import_module(backend)


def _gpu_count(backend: str) -> int:
    mod = _backend_module(backend)
    if backend == "jax":
        try:
            return len(mod.devices("gpu"))
        except RuntimeError:  # no GPU backend in this jaxlib / on this machine
            return 0
    if backend == "torch":
        return mod.cuda.device_count() if mod.cuda.is_available() else 0
    return len(mod.config.list_physical_devices("GPU"))


def _keras_device(backend: str, device: str) -> str:
    """Keras's device name (``cpu:0``, ``gpu:N``) for a suite device; ValueError for one not seen.

    TensorFlow would place work for a missing GPU on the CPU silently (soft placement),
    so the check is made here, for every backend alike.
    """
    if device == "cpu":
        return "cpu:0"
    kind, _, index = device.partition(":")
    count = _gpu_count(backend)
    if kind != "cuda" or not index.isdigit() or int(index) >= count:
        valid = ["cpu", *(f"cuda:{i}" for i in range(count))]
        raise ValueError(f"unknown keras-{backend} device {device!r}; valid: {', '.join(valid)}")
    return f"gpu:{index}"


def _masked_input(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mask (``x != -inf``) and ``x`` with its masked entries set to 0 (same dtype)."""
    m = x != -np.inf
    return m, np.where(m, x, np.zeros((), x.dtype))


# (api, op, fn(keras, t, axis), the same expression as source, operation, notes)
_Fn = Callable[[Any, Any, int], Any]
_SPECS: tuple[tuple[str, str, _Fn, str, str, str], ...] = (
    (
        "ops.softmax",
        "softmax",
        lambda keras, t, axis: keras.ops.softmax(t, axis=axis),
        "keras.ops.softmax(t, axis=axis)",
        "",
        "",
    ),
    (
        "ops.log_softmax",
        "log_softmax",
        lambda keras, t, axis: keras.ops.log_softmax(t, axis=axis),
        "keras.ops.log_softmax(t, axis=axis)",
        "",
        "",
    ),
    (
        "activations.softmax",
        "softmax",
        lambda keras, t, axis: keras.activations.softmax(t, axis=axis),
        "keras.activations.softmax(t, axis=axis)",
        "",
        "",
    ),
    (
        "layers.Softmax",
        "softmax",
        lambda keras, t, axis: keras.layers.Softmax(axis=axis)(t),
        "keras.layers.Softmax(axis=axis)(t)",
        "",
        _POLICY_NOTES,
    ),
    (
        "layers.Softmax-mask",
        "softmax",
        lambda keras, t, axis: keras.layers.Softmax(axis=axis)(t[0], mask=t[1]),
        "keras.layers.Softmax(axis=axis)(t, mask=m)",
        _MASK_OPERATION,
        f"{_MASK_NOTES}; {_POLICY_NOTES}",
    ),
    (
        "x/ops.sum",
        "sum_normalize",
        lambda keras, t, axis: t / keras.ops.sum(t, axis=axis, keepdims=True),
        "t / keras.ops.sum(t, axis=axis, keepdims=True)",
        "",
        "",
    ),
    (
        "ops.normalize-order1",
        "sum_normalize",
        lambda keras, t, axis: keras.ops.normalize(t, axis=axis, order=1),
        "keras.ops.normalize(t, axis=axis, order=1)",
        "L1 normalization x / max(sum(|x|), epsilon=1e-7)",
        "keras.ops.normalize: x / maximum(norm(x, ord=1), keras.config.epsilon())",
    ),
)


def _make_call(backend: str, fn: _Fn, masked: bool) -> Callable[[np.ndarray, int, str], np.ndarray]:
    def call(x: np.ndarray, axis: int, device: str) -> np.ndarray:
        keras = _keras(backend)
        with keras.device(_keras_device(backend, device)), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_SIZE_ONE_WARNING)
            if masked:
                m, xm = _masked_input(x)
                t = (keras.ops.convert_to_tensor(xm), keras.ops.convert_to_tensor(m))
            else:
                t = keras.ops.convert_to_tensor(x)
            return keras.ops.convert_to_numpy(fn(keras, t, axis))

    return call


# The backward pass through the backend's own autodiff, the cotangent converted to the output's
# dtype (exact: the layers' float32 output is never narrower than the input). ``t`` is the tensor
# differentiated (for the mask variant: x with its masked entries set to 0), ``f(t)`` the call.
_VJP_SOURCE = {
    "jax": (
        "import jax\n"
        "y, pullback = jax.vjp(f, t)\n"
        "gy = keras.ops.cast(keras.ops.convert_to_tensor(g), y.dtype)\n"
        "gx = pullback(gy)[0]\n"
    ),
    "torch": (
        "import torch\n"
        "t = t.detach().clone().requires_grad_(True)\n"
        "y = f(t)\n"
        "gy = keras.ops.cast(keras.ops.convert_to_tensor(g), y.dtype)\n"
        "(gx,) = torch.autograd.grad(y, t, grad_outputs=gy)\n"
    ),
    "tensorflow": (
        "import tensorflow as tf\n"
        "with tf.GradientTape() as tape:\n"
        "    tape.watch(t)\n"
        "    y = f(t)\n"
        "gy = keras.ops.cast(keras.ops.convert_to_tensor(g), y.dtype)\n"
        "gx = tape.gradient(y, t, output_gradients=gy)\n"
    ),
}


def _make_vjp(backend: str, fn: _Fn, masked: bool) -> Callable[..., np.ndarray]:
    source = _VJP_SOURCE[backend]

    def vjp(x: np.ndarray, g: np.ndarray, axis: int, device: str) -> np.ndarray:
        keras = _keras(backend)
        with keras.device(_keras_device(backend, device)), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_SIZE_ONE_WARNING)
            if masked:
                m, xm = _masked_input(x)
                mask = keras.ops.convert_to_tensor(m)
                t = keras.ops.convert_to_tensor(xm)

                def f(a: Any) -> Any:
                    return fn(keras, (a, mask), axis)
            else:
                t = keras.ops.convert_to_tensor(x)

                def f(a: Any) -> Any:
                    return fn(keras, a, axis)

            namespace: dict[str, Any] = {"keras": keras, "f": f, "t": t, "g": g}
            exec(source, namespace)  # the snippet's own lines, so that a repro computes the same
            return keras.ops.convert_to_numpy(namespace["gx"])

    return vjp


def _vjp_snippet(backend: str, expr: str, masked: bool) -> str:
    if masked:
        prelude = (
            "    m = keras.ops.convert_to_tensor(x != -np.inf)\n"
            "    t = keras.ops.convert_to_tensor(np.where(x != -np.inf, x, np.zeros((), x.dtype)))\n"
            f"    f = lambda t: {expr}\n"
        )
    else:
        prelude = f"    t = keras.ops.convert_to_tensor(x)\n    f = lambda t: {expr}\n"
    body = "".join(f"    {line}\n" for line in _VJP_SOURCE[backend].splitlines())
    return f"{_DEVICE}with keras.device(kdev):\n{prelude}{body}    gx = keras.ops.convert_to_numpy(gx)"


def _snippet(expr: str, masked: bool) -> str:
    if masked:
        body = (
            "    m = x != -np.inf\n"
            "    t = keras.ops.convert_to_tensor(np.where(m, x, np.zeros((), x.dtype)))\n"
            "    m = keras.ops.convert_to_tensor(m)\n"
        )
    else:
        body = "    t = keras.ops.convert_to_tensor(x)\n"
    return f"{_DEVICE}with keras.device(kdev):\n{body}    y = keras.ops.convert_to_numpy({expr})"


class KerasAdapter(FrameworkAdapter):
    """Keras 3 on one backend; ``name`` is ``keras-<backend>``."""

    module = "keras"
    distribution = "keras"

    def __init__(self, backend: str) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown Keras backend {backend!r}; valid: {', '.join(BACKENDS)}")
        self.backend = backend
        self.name = f"keras-{backend}"
        self.unavailable_reason: str | None = None

    def installed(self) -> bool:
        """Keras and the backend's framework are both installed (nothing is imported)."""
        try:
            return all(importlib.util.find_spec(m) is not None for m in ("keras", self.backend))
        except (ImportError, ValueError):
            return False

    def available(self) -> bool:
        try:
            _keras(self.backend)
        except KerasBackendError as exc:
            self.unavailable_reason = str(exc)
            return False
        except Exception as exc:  # any import failure means "not usable"
            self.unavailable_reason = f"import failed: {type(exc).__name__}: {exc}"[:500]
            return False
        self.unavailable_reason = None
        return True

    def version(self) -> str | None:
        if not self.available():
            return None
        return str(_keras(self.backend).__version__)

    def devices(self) -> list[str]:
        return ["cpu", *(f"cuda:{i}" for i in range(_gpu_count(self.backend)))]

    def device_details(self) -> dict[str, object]:
        keras = _keras(self.backend)
        mod = _backend_module(self.backend)
        details: dict[str, object] = {
            "keras": keras.__version__,
            "keras_backend": keras.config.backend(),
            self.backend: getattr(mod, "__version__", "unknown"),
            "floatx": keras.config.floatx(),
            "epsilon": keras.config.epsilon(),
            "dtype_policy": keras.config.dtype_policy().name,
        }
        if self.backend == "jax":
            details["jax_enable_x64"] = bool(mod.config.jax_enable_x64)
        # The backend framework's own facts (GPU models, CUDA, precision flags), from its adapter.
        try:
            adapter = importlib.import_module(f"conformance.adapters.{self.backend}_adapter").ADAPTER
            details["backend_details"] = adapter.device_details()
        except Exception as exc:
            details["backend_details"] = f"unavailable: {type(exc).__name__}: {exc}"[:300]
        return details

    def implementations(self) -> Sequence[Implementation]:
        impls = []
        for api, op, fn, expr, operation, notes in _SPECS:
            masked = api.endswith("-mask")
            impls.append(
                Implementation(
                    framework=self.name,
                    api=api,
                    op=op,
                    mode="eager",
                    call=_make_call(self.backend, fn, masked),
                    snippet=_snippet(expr, masked),
                    vjp=_make_vjp(self.backend, fn, masked),
                    vjp_snippet=_vjp_snippet(self.backend, expr, masked),
                    imports=_imports(self.backend),
                    operation=operation,
                    notes="; ".join(n for n in (f"Keras backend {self.backend}", notes) if n),
                )
            )
        return impls
