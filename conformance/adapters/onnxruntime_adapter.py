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

The model is built by the repro snippet's own lines (``ApiSpec.source`` builds the nodes,
``_MODEL`` the graph), so a repro runs exactly the model that was judged. ONNX and ONNX
Runtime are imported lazily, on the first call. No CUDA execution
provider is used: the only device is ``cpu``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np

from conformance.adapters.base import ApiSpec, CallFn, FrameworkAdapter, import_namespace, run_source
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


@cache
def _ns() -> dict[str, Any]:
    _ort(), _onnx()
    return import_namespace(_IMPORTS)


@dataclass(frozen=True)
class OnnxSpec(ApiSpec):
    """An ONNX graph at ``opset``; ``source`` builds its ``nodes`` and initializers ``inits``."""

    opset: int = 13

    @property
    def coerces_2d(self) -> bool:
        return self.op != "sum_normalize" and self.opset < 13


_NODES = {
    "Div11": 'nodes = [helper.make_node("ReduceSum", ["x"], ["s"], axes=[axis], keepdims=1),\n',
    "Div13": 'nodes = [helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=1),\n',  # axes: an input
}
_DIV = '         helper.make_node("Div", ["x", "s"], ["y"])]\ninits = [{}]\n'


def _spec(api: str, op: str, opset: int) -> OnnxSpec:
    onnx_op = api.partition("-")[0]
    if onnx_op == "Div":
        axes = 'helper.make_tensor("axes", TensorProto.INT64, [1], [axis])' if opset >= 13 else ""
        source, what = (
            _NODES[f"Div{opset}"] + _DIV.format(axes),
            "Div(x, ReduceSum(x, axes=[axis], keepdims=1))",
        )
    else:
        source = f'nodes, inits = [helper.make_node("{onnx_op}", ["x"], ["y"], axis=axis)], []\n'
        what = f"{onnx_op}(axis=axis)"
    notes = f"ONNX {what}, opset {opset}, ORT CPUExecutionProvider; a session per axis/rank/dtype"
    operation = ""
    if op != "sum_normalize" and opset < 13:
        notes += "; opset<13 coerces the input to 2-D at axis, so a non-last axis is not softmax along it"
        operation = f"{op.replace('_', '-')} over dims axis..last flattened: opset<13 2-D coercion"
    return OnnxSpec(api, op, source, operation=operation, notes=notes, opset=opset)


SPECS: tuple[OnnxSpec, ...] = tuple(
    _spec(f"{name}-opset{opset}", op, opset)
    for name, op in (
        ("Softmax", "softmax"),
        ("LogSoftmax", "log_softmax"),
        ("Div-ReduceSum", "sum_normalize"),
    )
    for opset in (11, 13)
)

# The graph of the snippet's nodes for x's rank and dtype (the snippet's lines, run by build_model).
_MODEL = """\
elem = TensorProto.BFLOAT16 if x.dtype.name == "bfloat16" else helper.np_dtype_to_tensor_dtype(x.dtype)
dims = [f"d{{i}}" for i in range(x.ndim)]
graph = helper.make_graph(
    nodes, "{api}", [helper.make_tensor_value_info("x", elem, dims)],
    [helper.make_tensor_value_info("y", elem, dims)], initializer=inits)
opsets = [helper.make_opsetid("", {opset})]
model = helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets))
"""
_RUN = """\
assert device == "cpu", "only onnxruntime's CPUExecutionProvider is used"
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
    y = sess.run(None, {"x": xc})[0]"""


def _elem_type(dtype: np.dtype) -> int:
    """The ONNX element type of a NumPy dtype (ml_dtypes' bfloat16 included)."""
    if dtype.name == "bfloat16":
        return int(_onnx().TensorProto.BFLOAT16)
    return int(_onnx().helper.np_dtype_to_tensor_dtype(dtype))


def build_model(spec: OnnxSpec, axis: int, ndim: int, dtype: np.dtype) -> Any:
    """The ONNX model (``onnx.ModelProto``) of ``spec`` for inputs of rank ``ndim`` and ``dtype``."""
    model = spec.source + _MODEL.format(api=spec.api, opset=spec.opset)
    return run_source(model, _ns(), x=np.zeros((1,) * ndim, dtype), axis=axis)["model"]


# One InferenceSession per (api, axis, ndim, dtype name): building one is the cost.
_SESSIONS: dict[tuple[str, int, int, str], Any] = {}
_LOCK = threading.Lock()


def session(spec: OnnxSpec, axis: int, ndim: int, dtype: np.dtype) -> Any:
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


class OnnxruntimeAdapter(FrameworkAdapter):
    name = module = distribution = "onnxruntime"
    requires = ("onnx",)  # the models are built with the onnx package
    imports = _IMPORTS
    specs = SPECS

    def load(self) -> ModuleType:
        _onnx()
        return _ort()

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

    def make_call(self, spec: ApiSpec, mode: str) -> CallFn:
        assert isinstance(spec, OnnxSpec)

        def call(x: np.ndarray, axis: int, device: str) -> np.ndarray:
            self.device_index(device)
            x = np.asarray(x)
            return run_session(session(spec, axis, x.ndim, x.dtype), x)

        return call

    def snippet(self, spec: ApiSpec, mode: str) -> str:
        assert isinstance(spec, OnnxSpec)
        return spec.source + _MODEL.format(api=spec.api, opset=spec.opset) + _RUN


ADAPTER = OnnxruntimeAdapter()
