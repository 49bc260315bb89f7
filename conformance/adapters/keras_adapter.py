"""Keras 3 as a framework under test, once per backend: ``keras-jax``, ``keras-torch``, ``keras-tensorflow``.

Keras 3 fixes its backend per process: it reads ``KERAS_BACKEND`` when ``keras`` is
first imported, and cannot switch afterwards. So each backend is its own framework
(``KERAS_JAX``, ``KERAS_TORCH`` and ``KERAS_TENSORFLOW`` here, registered as
``conformance.adapters.keras_adapter:KERAS_JAX`` and so on), and each needs a
process of its own: ``python -m conformance run`` gives every framework one.
``available()`` sets ``KERAS_BACKEND`` just for the first import of ``keras`` (the
variable is restored afterwards, so child processes do not inherit it); where
``keras`` is already imported with another backend (``import tensorflow`` imports
``keras`` too, with the backend ``KERAS_BACKEND`` names, TensorFlow by default) it
is False and ``unavailable_reason`` says why (a ``framework`` record with status
``import failed``, like any import error). For the JAX backend 64-bit mode is
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

Joint axes (a tuple of axes, None), as each API documents them (``ApiSpec.axes``):
``keras.layers.Softmax`` (and its masked variants) documents "Integer, or list of Integers" and
gets the tuple-axes cases (a tuple of several axes is computed as ``exp(x - logsumexp(x, axis))``);
``keras.ops.sum`` documents an axis or axes, None included, so ``x/ops.sum`` gets every joint
form. ``ops.softmax``, ``ops.log_softmax`` and ``activations.softmax`` document "Integer" and get
none, though their code has a tuple path: in Keras 3.15 it transposes without canonicalizing
negative entries, so ``keras.ops.softmax(x, axis=(-1, -2))`` raises on every backend (a
"permutation" error) where ``axis=(1, 2)`` works. ``ops.normalize(order=1)`` gets none: with two
axes ``norm(ord=1)`` is the matrix 1-norm (the largest column sum), not an L1 normalization.

``layers.Softmax-mask`` calls the layer with ``mask = x != -inf`` and the masked
entries of ``x`` set to the dtype's largest finite value (in NumPy, before the conversion:
an adversarial value under the mask; ``layers.Softmax-mask-neginf`` leaves the -inf), so that on a slice with
some ``-inf`` entries it computes what the oracle's softmax computes there. The layer
puts -1e9 at the masked positions (-3e4 where it computes in float16), takes the
softmax, and sets the masked outputs to 0 (since Keras 3.10, keras-team/keras#21149: the masked
variants declare that as their contract, ``reference.contracts.MASKED``, so an all-masked slice is
judged against zeros;
before, a fully masked slice came back uniform: on those releases the masked variants fail
``precision`` there, an entry for the version sweep to confirm and register); so a
slice with every entry ``-inf`` (all masked) comes back all zeros, and unmasked logits below -1e9
lose to the masked positions. NaN is not ``-inf``, so a NaN entry is not masked (but a
masked entry's output is 0 even where a NaN elsewhere makes the rest of its slice NaN).

Keras 2 (``keras`` < 3, installed with TensorFlow <= 2.15 as ``tf.keras``) has none of the
Keras 3 APIs called here (``keras.ops``, ``keras.device``, ``keras.config``) and only the
TensorFlow backend: the adapter loads, and every call declines with ``ApiNotAvailable``
(``unsupported``, with that reason), so a TensorFlow 2.15 environment reports its Keras cells
rather than nothing; its ``tf.keras`` APIs are judged by the ``tensorflow`` adapter.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from types import ModuleType
from typing import Any

import ml_dtypes
import numpy as np

from conformance.adapters.base import (
    JOINT_AXES,
    ApiSpec,
    CallFn,
    FrameworkAdapter,
    VjpFn,
    bind,
    release_tuple,
)
from conformance.cases import AXIS_INT, AXIS_TUPLE
from conformance.errors import ApiNotAvailable
from reference.contracts import L1_NORMALIZE, MASKED, Contract

BACKENDS: tuple[str, ...] = ("jax", "torch", "tensorflow")

# The snippet's device line, written like KerasAdapter.keras_device.
_DEVICE = 'kdev = "cpu:0" if device == "cpu" else "gpu:" + device.split(":")[1]\n'
_SIZE_ONE_WARNING = "You are using a softmax over axis"  # keras.ops.softmax on a size-1 axis

_MASK_NOTES = (
    "called as keras.layers.Softmax(axis=axis)(t, mask=m) with m = x != -inf and the masked entries "
    "of x set to the dtype's largest finite value first (-mask-neginf: left -inf), so that on a slice "
    "with some -inf entries it computes the oracle's "
    "softmax; the layer puts -1e9 at masked positions (-3e4 under a float16 policy) and sets their "
    "outputs to 0: an all -inf slice gives all zeros (the contract), and unmasked logits below -1e9 "
    "lose to the masked positions; NaN entries are not masked"
)
# ``keras.layers.Softmax(axis=...)``: "Integer, or list of Integers" (a tuple of axes; None is not
# documented, so it is not given axis=None).
_LAYER_AXES = (AXIS_INT, AXIS_TUPLE)
_POLICY_NOTES = "the layer computes in its dtype policy (float32 by default) and returns float32"
# The snippets' conversions (t, and for the mask variant m, from x): the calls do the same.
_TO_KERAS = "    t = keras.ops.convert_to_tensor(x)\n"
_TO_KERAS_MASKED = (
    "    m = x != -np.inf\n"
    "    t = keras.ops.convert_to_tensor(np.where(m, x, ml_dtypes.finfo(x.dtype).max).astype(x.dtype))\n"
    "    m = keras.ops.convert_to_tensor(m)\n"
)
_TO_KERAS_MASKED_NEGINF = (
    "    m = keras.ops.convert_to_tensor(x != -np.inf)\n    t = keras.ops.convert_to_tensor(x)\n"
)
# The backward pass through the backend's own autodiff, the cotangent converted to the output's
# dtype (exact: the layers' float32 output is never narrower than the input). ``t`` is the tensor
# differentiated (for the mask variants: x as the conversion above makes it), ``f(t)`` the call.
_GY = "gy = keras.ops.cast(keras.ops.convert_to_tensor(g), y.dtype)\n"
_VJP_SOURCE = {
    "jax": f"import jax\ny, pullback = jax.vjp(f, t)\n{_GY}gx = pullback(gy)[0]\n",
    "torch": (
        "import torch\nt = t.detach().clone().requires_grad_(True)\ny = f(t)\n"
        f"{_GY}(gx,) = torch.autograd.grad(y, t, grad_outputs=gy)\n"
    ),
    "tensorflow": (
        "import tensorflow as tf\nwith tf.GradientTape() as tape:\n    tape.watch(t)\n    y = f(t)\n"
        f"{_GY}gx = tape.gradient(y, t, output_gradients=gy)\n"
    ),
}

_loaded: dict[str, ModuleType] = {}  # backend -> keras, once loaded in this process


class KerasBackendError(RuntimeError):
    """Keras cannot run with the requested backend in this process."""


def _keras(backend: str) -> ModuleType:
    """``keras`` with ``backend``, imported on the first call; KerasBackendError where that cannot be."""
    if backend in _loaded:
        return _loaded[backend]
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

    if is_keras2(keras):
        _loaded[backend] = keras  # usable only to say so: every call declines (keras2_reason)
        return keras
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


def is_keras2(keras: ModuleType) -> bool:
    """True for Keras 2 (``tf.keras`` of TensorFlow <= 2.15), which has no Keras 3 API."""
    return release_tuple(str(getattr(keras, "__version__", "3"))) < (3,)


def keras2_reason(keras: ModuleType, backend: str) -> str:
    """Why a Keras 2 cell is ``unsupported`` (one line)."""
    return (
        f"keras {keras.__version__} is Keras 2: keras.ops, keras.device and keras.config are Keras 3 "
        f"APIs (3.0 or newer needed for keras-{backend}); its tf.keras APIs are judged by the "
        "tensorflow adapter"
    )


def _masked(spec: ApiSpec) -> bool:
    return spec.api.endswith(("-mask", "-mask-neginf"))


def _neginf_under_mask(spec: ApiSpec) -> bool:
    """A masked variant that leaves the -inf entries under the mask (no fill)."""
    return spec.api.endswith("-mask-neginf")


def _conversion(spec: ApiSpec) -> str:
    """The snippet's lines making ``t`` (and ``m``) from ``x`` for ``spec``."""
    if _neginf_under_mask(spec):
        return _TO_KERAS_MASKED_NEGINF
    return _TO_KERAS_MASKED if _masked(spec) else _TO_KERAS


class KerasAdapter(FrameworkAdapter):
    """Keras 3 on one backend; ``name`` is ``keras-<backend>``."""

    module = distribution = "keras"
    specs = (
        ApiSpec("ops.softmax", "softmax", "keras.ops.softmax(t, axis=axis)"),
        ApiSpec("ops.log_softmax", "log_softmax", "keras.ops.log_softmax(t, axis=axis)"),
        ApiSpec(
            "activations.softmax",
            "softmax",
            "keras.activations.softmax(t, axis=axis)",
            alias_of="ops.softmax",
        ),
        ApiSpec(
            "layers.Softmax",
            "softmax",
            "keras.layers.Softmax(axis=axis)(t)",
            notes=_POLICY_NOTES,
            axes=_LAYER_AXES,
        ),
        ApiSpec(
            "layers.Softmax-mask",
            "softmax",
            "keras.layers.Softmax(axis=axis)(t, mask=m)",
            operation="masked softmax (mask = x != -inf; masked outputs 0, so an all -inf slice gives 0)",
            notes=f"{_MASK_NOTES}; {_POLICY_NOTES}",
            contract=MASKED,
            axes=_LAYER_AXES,
        ),
        ApiSpec(
            "layers.Softmax-mask-neginf",
            "softmax",
            "keras.layers.Softmax(axis=axis)(t, mask=m)",
            operation="masked softmax (mask = x != -inf, the -inf left under it; masked outputs 0)",
            notes=f"{_MASK_NOTES}; {_POLICY_NOTES}",
            contract=MASKED,
            axes=_LAYER_AXES,
        ),
        ApiSpec(
            "x/ops.sum", "sum_normalize", "t / keras.ops.sum(t, axis=axis, keepdims=True)", axes=JOINT_AXES
        ),
        ApiSpec(
            "ops.normalize-order1",
            "sum_normalize",
            "keras.ops.normalize(t, axis=axis, order=1)",
            operation="L1 normalization x / max(sum(|x|), epsilon=1e-7)",
            notes="keras.ops.normalize: x / maximum(norm(x, ord=1), keras.config.epsilon())",
            contract=Contract(L1_NORMALIZE, eps=1e-7),
        ),
    )

    def __init__(self, backend: str) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown Keras backend {backend!r}; valid: {', '.join(BACKENDS)}")
        self.backend = backend
        self.name = f"keras-{backend}"
        self.requires = (backend,)
        self.mode_notes = {"eager": f"Keras backend {backend}"}
        lines = ["import os", f'os.environ["KERAS_BACKEND"] = "{backend}"']
        if backend == "jax":
            lines += ["import jax", 'jax.config.update("jax_enable_x64", True)']
        self.imports = "\n".join([*lines, "import keras", "import ml_dtypes", "import numpy as np"])

    def load(self) -> ModuleType:
        return _keras(self.backend)

    def _backend_module(self) -> ModuleType:
        _keras(self.backend)
        return importlib.import_module(self.backend)

    def gpu_count(self) -> int:
        mod = self._backend_module()
        if self.backend == "jax":
            try:
                return len(mod.devices("gpu"))
            except RuntimeError:  # no GPU backend in this jaxlib / on this machine
                return 0
        if self.backend == "torch":
            return mod.cuda.device_count() if mod.cuda.is_available() else 0
        return len(mod.config.list_physical_devices("GPU"))

    def keras_device(self, device: str) -> str:
        """Keras's device name (``cpu:0``, ``gpu:N``) for a suite device; ValueError for one not seen."""
        index = self.device_index(device)
        return "cpu:0" if index is None else f"gpu:{index}"

    def device_details(self) -> dict[str, object]:
        keras, mod = _keras(self.backend), self._backend_module()
        if is_keras2(keras):
            return {
                "keras": keras.__version__,
                "keras_backend": None,
                "unsupported": keras2_reason(keras, self.backend),
            }
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

    def _inputs(self, spec: ApiSpec, x: np.ndarray) -> tuple[Any, Any]:
        """``t`` and the mask ``m`` (None unless masked) as the snippets' conversions make them."""
        keras = _keras(self.backend)
        if not _masked(spec):
            return keras.ops.convert_to_tensor(x), None
        m = x != -np.inf
        if not _neginf_under_mask(spec):
            x = np.where(m, x, ml_dtypes.finfo(x.dtype).max).astype(x.dtype)
        return keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(m)

    def _run(self, spec: ApiSpec, x: np.ndarray, axis: int, device: str, then: Any) -> np.ndarray:
        keras = _keras(self.backend)
        if is_keras2(keras):
            raise ApiNotAvailable(keras2_reason(keras, self.backend))
        with keras.device(self.keras_device(device)), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_SIZE_ONE_WARNING)
            t, m = self._inputs(spec, x)
            f = bind(spec.source, {"keras": keras, "np": np}, "t, axis, m=None")
            return keras.ops.convert_to_numpy(then(keras, lambda a: f(a, axis, m), t))

    def make_call(self, spec: ApiSpec, mode: str) -> CallFn:
        return lambda x, axis, device: self._run(spec, x, axis, device, lambda keras, f, t: f(t))

    def make_vjp(self, spec: ApiSpec, mode: str) -> VjpFn:
        def vjp(x: np.ndarray, g: np.ndarray, axis: int, device: str) -> np.ndarray:
            def backward(keras: ModuleType, f: Any, t: Any) -> Any:
                namespace: dict[str, Any] = {"keras": keras, "f": f, "t": t, "g": g}
                exec(_VJP_SOURCE[self.backend], namespace)  # the snippet's own lines
                return namespace["gx"]

            return self._run(spec, x, axis, device, backward)

        return vjp

    def snippet(self, spec: ApiSpec, mode: str) -> str:
        convert = _conversion(spec)
        return (
            f"{_DEVICE}with keras.device(kdev):\n{convert}    y = keras.ops.convert_to_numpy({spec.source})"
        )

    def vjp_snippet(self, spec: ApiSpec, mode: str) -> str:
        convert = _conversion(spec)
        body = "".join(f"    {line}\n" for line in _VJP_SOURCE[self.backend].splitlines())
        return (
            f"{_DEVICE}with keras.device(kdev):\n{convert}    f = lambda t: {spec.source}\n{body}"
            "    gx = keras.ops.convert_to_numpy(gx)"
        )


KERAS_JAX = KerasAdapter("jax")
KERAS_TORCH = KerasAdapter("torch")
KERAS_TENSORFLOW = KerasAdapter("tensorflow")
