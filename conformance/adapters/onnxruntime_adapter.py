"""ONNX Runtime as a framework under test: ONNX ``Softmax``, ``LogSoftmax`` and ``Div(X, ReduceSum(X))``.

Each implementation is a one-node (or two-node) ONNX model built with ``onnx.helper``
at an explicit opset and run by ``onnxruntime.InferenceSession`` on the
``CPUExecutionProvider`` with ORT's default session options (graph optimizations
``ORT_ENABLE_ALL``, ORT's own choice of intra-op threads); only the log level is
raised to fatal (ORT raises its errors as exceptions anyway). Building a session is
the cost, so one is built per (API, axis, rank, dtype) and reused for every shape of
that rank (the graph's dimensions are symbolic). ORT has no JIT and no second
execution mode here: the mode is ``eager``.

The opsets matter. ONNX ``Softmax``/``LogSoftmax`` up to opset 12 *coerce the input
to 2-D at* ``axis``: dims ``[0, axis)`` become the rows and dims ``[axis, n)`` are
flattened into one row that is normalized as a whole. That is softmax along
``axis`` only when ``axis`` is the last dimension (or every later dimension has
size 1); on any other axis it normalizes over several dimensions at once. Opset 13
made ``axis`` the single reduction axis (default -1). Both are offered
(``Softmax-opset11`` / ``Softmax-opset13``, likewise ``LogSoftmax``), so the suite
shows the difference: opset 11 on a non-last axis fails precision, as it computes
another operation (its ``operation`` says which). ``ReduceSum`` takes ``axes`` as
an attribute up to opset 12 and as an int64 input from opset 13; both forms are
offered for sum-normalization.

dtypes: float32 and float64 run ORT's own ``Softmax``/``LogSoftmax`` kernels (float32:
MLAS; float64: the Caffe2-derived ``SoftmaxCPU<double>``). float16 has no CPU kernel
for these ops: ORT's cast-insertion pass runs the node in float32 between two
``Cast`` nodes (opset 13 ``Softmax``/``LogSoftmax`` are first expanded into their
ONNX function body: ``ReduceMax``, ``Sub``, ``Exp``, ``ReduceSum``, ...), so float16
is computed in float32 and cast back, and a float16 ``ReduceSum`` does not overflow.
That is what ORT does with a float16 model, and it is what is judged. bfloat16 is
listed but has no kernel: ONNX opset 11 does not allow bfloat16 for these ops (ORT
rejects the model), and opset 13's function body, ``Div`` and ``ReduceSum`` have no
CPU bfloat16 kernels. The session build raises ORT's own message and the suite
records the dtype as ``unsupported``. ORT's NumPy bridge has no bfloat16 type, so a
bfloat16 array travels as its raw bits through an ``OrtValue`` and an IOBinding
(exact both ways), should ORT ever gain the kernels.

ONNX and ONNX Runtime are imported lazily, on the first call. No CUDA execution
provider is used: the only device is ``cpu``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np

from conformance.adapters.base import FrameworkAdapter, Implementation
from conformance.errors import DtypeNotSupported

PROVIDER = "CPUExecutionProvider"
_IMPORTS = "import numpy as np\nimport onnxruntime as ort\nfrom onnx import TensorProto, helper"


@cache
def _ort() -> ModuleType:
    import onnxruntime

    return onnxruntime


@cache
def _onnx() -> ModuleType:
    import onnx
    import onnx.helper

    return onnx


@dataclass(frozen=True)
class _Spec:
    api: str
    op: str
    onnx_op: str  # "Softmax", "LogSoftmax" or "DivReduceSum"
    opset: int
    operation: str = ""

    @property
    def coerces_2d(self) -> bool:
        return self.onnx_op != "DivReduceSum" and self.opset < 13


_COERCED = "{} over dims axis..last flattened: opset<13 2-D coercion"

SPECS: tuple[_Spec, ...] = (
    _Spec("Softmax-opset11", "softmax", "Softmax", 11, _COERCED.format("softmax")),
    _Spec("Softmax-opset13", "softmax", "Softmax", 13),
    _Spec("LogSoftmax-opset11", "log_softmax", "LogSoftmax", 11, _COERCED.format("log-softmax")),
    _Spec("LogSoftmax-opset13", "log_softmax", "LogSoftmax", 13),
    _Spec("Div-ReduceSum-opset11", "sum_normalize", "DivReduceSum", 11),
    _Spec("Div-ReduceSum-opset13", "sum_normalize", "DivReduceSum", 13),
)


def _elem_type(dtype: np.dtype) -> int:
    """The ONNX element type of a NumPy dtype (ml_dtypes' bfloat16 included)."""
    onnx = _onnx()
    if dtype.name == "bfloat16":
        return int(onnx.TensorProto.BFLOAT16)
    return int(onnx.helper.np_dtype_to_tensor_dtype(dtype))


def build_model(spec: _Spec, axis: int, ndim: int, dtype: np.dtype) -> Any:
    """The ONNX model (``onnx.ModelProto``) of ``spec`` for inputs of rank ``ndim`` and ``dtype``."""
    onnx = _onnx()
    helper, tp = onnx.helper, onnx.TensorProto
    initializers = []
    if spec.onnx_op == "DivReduceSum":
        if spec.opset >= 13:  # axes is an input from opset 13
            initializers.append(helper.make_tensor("axes", tp.INT64, [1], [axis]))
            reduce = helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=1)
        else:
            reduce = helper.make_node("ReduceSum", ["x"], ["s"], axes=[axis], keepdims=1)
        nodes = [reduce, helper.make_node("Div", ["x", "s"], ["y"])]
    else:
        nodes = [helper.make_node(spec.onnx_op, ["x"], ["y"], axis=axis)]
    elem = _elem_type(dtype)
    dims = [f"d{i}" for i in range(ndim)]
    graph = helper.make_graph(
        nodes,
        spec.api,
        [helper.make_tensor_value_info("x", elem, dims)],
        [helper.make_tensor_value_info("y", elem, dims)],
        initializer=initializers,
    )
    opsets = [helper.make_opsetid("", spec.opset)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets))


# One InferenceSession per (api, axis, ndim, dtype name): building one is the cost.
_SESSIONS: dict[tuple[str, int, int, str], Any] = {}
_LOCK = threading.Lock()


def session(spec: _Spec, axis: int, ndim: int, dtype: np.dtype) -> Any:
    """The cached session for this model; ORT's exception (not cached) when it cannot build one.

    ORT's NOT_IMPLEMENTED ("Could not find an implementation for ReduceMax(13) node") on a
    model whose every tensor has ``dtype`` is ORT declining that dtype: it is raised as
    ``DtypeNotSupported`` with ORT's message, so the cell is ``unsupported``, not an error.
    """
    key = (spec.api, axis, ndim, dtype.name)
    with _LOCK:
        if key not in _SESSIONS:
            ort = _ort()
            options = ort.SessionOptions()
            options.log_severity_level = 4  # fatal only: ORT raises its errors anyway; numerics unaffected
            model = build_model(spec, axis, ndim, dtype).SerializeToString()
            try:
                _SESSIONS[key] = ort.InferenceSession(model, options, providers=[PROVIDER])
            except Exception as exc:
                if type(exc).__name__ != "NotImplemented":
                    raise
                first = str(exc).splitlines()[0]
                raise DtypeNotSupported(f"no ORT CPU kernel for a {dtype.name} graph: {first}") from exc
        return _SESSIONS[key]


def run_session(sess: Any, x: np.ndarray) -> np.ndarray:
    """Run ``sess`` on ``x``; bfloat16 travels as raw bits (ORT's NumPy bridge has no bfloat16)."""
    x = np.ascontiguousarray(x)
    if x.dtype.name != "bfloat16":
        return np.asarray(sess.run(None, {"x": x})[0])
    ort = _ort()
    bf16 = _onnx().TensorProto.BFLOAT16
    out = np.empty(x.shape, dtype=np.uint16)
    binding = sess.io_binding()
    binding.bind_ortvalue_input("x", ort.OrtValue.ortvalue_from_numpy_with_onnx_type(x.view(np.uint16), bf16))
    binding.bind_ortvalue_output("y", ort.OrtValue.ortvalue_from_numpy_with_onnx_type(out, bf16))
    sess.run_with_iobinding(binding)
    return out.view(x.dtype)


def _make_call(spec: _Spec) -> Callable[[np.ndarray, int, str], np.ndarray]:
    def call(x: np.ndarray, axis: int, device: str) -> np.ndarray:
        if device != "cpu":
            raise ValueError(f"unknown onnxruntime device {device!r}; valid: cpu")
        x = np.asarray(x)
        return run_session(session(spec, axis, x.ndim, x.dtype), x)

    return call


# The repro snippet: the same model and the same run, with only onnx, onnxruntime and NumPy.
_SNIPPET_NODES = {
    "Softmax": 'nodes, inits = [helper.make_node("{op}", ["x"], ["y"], axis=axis)], []\n',
    "DivReduceSum11": (
        'nodes = [helper.make_node("ReduceSum", ["x"], ["s"], axes=[axis], keepdims=1),\n'
        '         helper.make_node("Div", ["x", "s"], ["y"])]\n'
        "inits = []\n"
    ),
    "DivReduceSum13": (
        'nodes = [helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=1),\n'
        '         helper.make_node("Div", ["x", "s"], ["y"])]\n'
        'inits = [helper.make_tensor("axes", TensorProto.INT64, [1], [axis])]\n'
    ),
}

_SNIPPET_RUN = """\
assert device == "cpu", "only onnxruntime's CPUExecutionProvider is used"
elem = TensorProto.BFLOAT16 if x.dtype.name == "bfloat16" else helper.np_dtype_to_tensor_dtype(x.dtype)
dims = [f"d{{i}}" for i in range(x.ndim)]
graph = helper.make_graph(
    nodes, "{api}", [helper.make_tensor_value_info("x", elem, dims)],
    [helper.make_tensor_value_info("y", elem, dims)], initializer=inits)
opsets = [helper.make_opsetid("", {opset})]
model = helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets))
sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
xc = np.ascontiguousarray(x)
if x.dtype.name == "bfloat16":  # ORT's NumPy bridge has no bfloat16: pass the raw bits
    out = np.empty(x.shape, dtype=np.uint16)
    b = sess.io_binding()
    b.bind_ortvalue_input("x", ort.OrtValue.ortvalue_from_numpy_with_onnx_type(xc.view(np.uint16), elem))
    b.bind_ortvalue_output("y", ort.OrtValue.ortvalue_from_numpy_with_onnx_type(out, elem))
    sess.run_with_iobinding(b)
    y = out.view(x.dtype)
else:
    y = sess.run(None, {{"x": xc}})[0]"""


def _snippet(spec: _Spec) -> str:
    if spec.onnx_op == "DivReduceSum":
        nodes = _SNIPPET_NODES["DivReduceSum13" if spec.opset >= 13 else "DivReduceSum11"]
    else:
        nodes = _SNIPPET_NODES["Softmax"].format(op=spec.onnx_op)
    return nodes + _SNIPPET_RUN.format(api=spec.api, opset=spec.opset)


def _notes(spec: _Spec) -> str:
    what = (
        "Div(x, ReduceSum(x, axes=[axis], keepdims=1))"
        if spec.onnx_op == "DivReduceSum"
        else f"{spec.onnx_op}(axis=axis)"
    )
    notes = f"ONNX {what}, opset {spec.opset}, ORT CPUExecutionProvider; a session per axis/rank/dtype"
    if spec.coerces_2d:
        notes += "; opset<13 coerces the input to 2-D at axis, so a non-last axis is not softmax along it"
    return notes


class OnnxruntimeAdapter(FrameworkAdapter):
    name = "onnxruntime"
    module = "onnxruntime"
    distribution = "onnxruntime"

    def installed(self) -> bool:
        import importlib.util

        try:  # the models are built with the onnx package: both are needed
            return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))
        except (ImportError, ValueError):
            return False

    def available(self) -> bool:
        try:
            _ort()
            _onnx()
        except Exception:  # any import failure means "not usable"
            return False
        return True

    def version(self) -> str | None:
        if not self.available():
            return None
        return str(_ort().__version__)

    def device_details(self) -> dict[str, object]:
        ort, onnx = _ort(), _onnx()
        options = ort.SessionOptions()
        build_info = getattr(ort, "get_build_info", None)
        return {
            "onnxruntime": ort.__version__,
            "onnx": onnx.__version__,
            "available_providers": list(ort.get_available_providers()),
            "provider_used": PROVIDER,
            "opsets": {spec.api: spec.opset for spec in SPECS},
            "graph_optimization_level": str(options.graph_optimization_level),
            "intra_op_threads": options.intra_op_num_threads or "default (ORT's choice)",
            "build_info": build_info() if callable(build_info) else None,
        }

    def implementations(self) -> Sequence[Implementation]:
        return [
            Implementation(
                framework=self.name,
                api=spec.api,
                op=spec.op,
                mode="eager",
                call=_make_call(spec),
                snippet=_snippet(spec),
                imports=_IMPORTS,
                notes=_notes(spec),
                operation=spec.operation,
            )
            for spec in SPECS
        ]


ADAPTER = OnnxruntimeAdapter()
