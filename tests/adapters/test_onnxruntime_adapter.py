"""The ONNX Runtime adapter: opset semantics, session caching, exact dtypes, unsupported bfloat16, repros.

Skipped when onnxruntime or onnx is not installed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from helpers import ROOT

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import reference
from conformance.adapters import get_adapter
from conformance.adapters import onnxruntime_adapter as ort_adapter
from conformance.adapters.base import Implementation
from conformance.evaluation import Cell, CellEvaluation
from conformance.profiles import get_profile
from conformance.repro import array_literal, repro_snippet

IMPLS: dict[str, Implementation] = {impl.api: impl for impl in get_adapter("onnxruntime").implementations()}


def _x(shape: tuple[int, ...], dtype: object = np.float32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _ulps(y: np.ndarray, exact: np.ndarray) -> float:
    return float(np.max(reference.ulp_distance(y, exact.astype(y.dtype))))


def test_registered_and_described() -> None:
    adapter = get_adapter("onnxruntime")
    assert adapter.available() and adapter.version()
    assert adapter.devices() == ["cpu"]
    details = adapter.device_details()
    assert details["provider_used"] == "CPUExecutionProvider"
    assert "CPUExecutionProvider" in details["available_providers"]
    assert details["opsets"]["Softmax-opset11"] == 11 and details["opsets"]["Softmax-opset13"] == 13
    assert {impl.op for impl in IMPLS.values()} == {"softmax", "log_softmax", "sum_normalize"}
    # Only the opset-11 softmax family computes another operation on non-last axes.
    assert {api for api, impl in IMPLS.items() if impl.operation} == {"Softmax-opset11", "LogSoftmax-opset11"}


@pytest.mark.parametrize(("family", "op"), [("Softmax", "softmax"), ("LogSoftmax", "log_softmax")])
def test_opset11_coerces_to_2d_and_opset13_is_per_axis(family: str, op: str) -> None:
    x = _x((3, 4, 5))
    old = IMPLS[f"{family}-opset11"].call(x, 0, "cpu")
    new = IMPLS[f"{family}-opset13"].call(x, 0, "cpu")
    oracle = getattr(reference, op)
    # Opset 13: along axis 0 only, within a few ULP of the correctly rounded result.
    assert _ulps(new, oracle(x, 0)) <= 4
    # Opset 11: the whole (3, 4, 5) block normalized as one row (dims [0, 0) are the rows).
    assert _ulps(old, oracle(x.reshape(1, -1), -1).reshape(x.shape)) <= 4
    assert np.max(np.abs(old.astype(np.float64) - new)) > 0.1
    if op == "softmax":
        np.testing.assert_allclose(new.sum(axis=0, dtype=np.float64), 1.0, rtol=1e-6)
        np.testing.assert_allclose(old.sum(dtype=np.float64), 1.0, rtol=1e-6)
    # At axis 1 opset 11 flattens dims 1 and 2; on the last axis both opsets agree bit for bit.
    mid = IMPLS[f"{family}-opset11"].call(x, 1, "cpu")
    assert _ulps(mid, oracle(x.reshape(3, -1), -1).reshape(x.shape)) <= 4
    last = [IMPLS[f"{family}-opset{v}"].call(x, -1, "cpu") for v in (11, 13)]
    assert last[0].tobytes() == last[1].tobytes()
    assert _ulps(last[1], oracle(x, -1)) <= 4


@pytest.mark.parametrize("opset", [11, 13])
def test_sum_normalization_is_per_axis_in_both_opsets(opset: int) -> None:
    x = np.abs(_x((3, 4, 5), np.float64)) + 0.25
    for axis in (0, 1, -1):
        y = IMPLS[f"Div-ReduceSum-opset{opset}"].call(x, axis, "cpu")
        assert _ulps(y, reference.sum_normalize(x, axis)) <= 4


def test_one_session_per_api_axis_rank_dtype() -> None:
    ort_adapter._SESSIONS.clear()
    impl = IMPLS["Softmax-opset13"]
    impl.call(_x((2, 3)), -1, "cpu")
    first = dict(ort_adapter._SESSIONS)
    key = ("Softmax-opset13", -1, 2, "float32")
    assert list(first) == [key]
    impl.call(_x((7, 11)), -1, "cpu")  # another shape of the same rank: the same session
    impl.call(_x((7, 11)).T, -1, "cpu")  # a strided view too
    assert ort_adapter._SESSIONS == first
    assert ort_adapter._SESSIONS[key] is first[key]
    impl.call(_x((2, 3)), 0, "cpu")
    impl.call(_x((2, 3, 4)), -1, "cpu")
    impl.call(_x((2, 3), np.float64), -1, "cpu")
    IMPLS["Softmax-opset11"].call(_x((2, 3)), -1, "cpu")
    assert set(ort_adapter._SESSIONS) == {
        ("Softmax-opset13", -1, 2, "float32"),
        ("Softmax-opset13", 0, 2, "float32"),
        ("Softmax-opset13", -1, 3, "float32"),
        ("Softmax-opset13", -1, 2, "float64"),
        ("Softmax-opset11", -1, 2, "float32"),
    }
    with pytest.raises(Exception, match=r"bfloat16|ReduceMax"):
        impl.call(_x((2, 3), ml_dtypes.bfloat16), -1, "cpu")
    assert ("Softmax-opset13", -1, 2, "bfloat16") not in ort_adapter._SESSIONS  # failures are not cached


@pytest.mark.parametrize("api", list(IMPLS))
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_output_dtype_and_shape_are_the_inputs(api: str, dtype: type) -> None:
    x = np.abs(_x((4, 6), dtype)) + dtype(0.5)
    y = IMPLS[api].call(x, -1, "cpu")
    assert isinstance(y, np.ndarray) and y.dtype == np.dtype(dtype) and y.shape == x.shape


def _identity_session(dtype: np.dtype, ndim: int) -> Any:
    import onnxruntime as ort
    from onnx import helper

    elem = ort_adapter._elem_type(dtype)
    dims = [f"d{i}" for i in range(ndim)]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", elem, dims)],
        [helper.make_tensor_value_info("y", elem, dims)],
    )
    opsets = [helper.make_opsetid("", 13)]
    model = helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets))
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64])
def test_round_trip_through_ort_is_bit_exact(dtype: type) -> None:
    """Every 16-bit pattern (NaN payloads included) and random wider ones come back unchanged."""
    dt = np.dtype(dtype)
    if dt.itemsize == 2:
        x = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(dt).reshape(256, 256)
    else:
        uint = np.uint32 if dt.itemsize == 4 else np.uint64
        bits = np.random.default_rng(1).integers(0, np.iinfo(uint).max, size=(64, 64), dtype=uint)
        x = bits.view(dt)
    y = ort_adapter.run_session(_identity_session(dt, 2), x[:, ::3])  # a strided view on the way in
    assert y.dtype == dt and y.shape == x[:, ::3].shape
    assert y.tobytes() == np.ascontiguousarray(x[:, ::3]).tobytes()


@pytest.mark.parametrize("api", list(IMPLS))
def test_bfloat16_is_recorded_unsupported_with_orts_message(api: str) -> None:
    impl = IMPLS[api]
    assert "bfloat16" in impl.dtypes  # listed, so the suite tries it and records what ORT says
    ev = CellEvaluation(Cell(impl, "cpu", "bfloat16"), get_profile("quick"), 0).run()
    assert ev.unsupported is not None and "ONNXRuntimeError" in ev.unsupported, ev.unsupported
    assert "bfloat16" in ev.unsupported or "Could not find an implementation" in ev.unsupported
    assert not ev.observations


def test_unknown_device_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown onnxruntime device 'cuda:0'; valid: cpu"):
        IMPLS["Softmax-opset13"].call(_x((2, 3)), -1, "cuda:0")


CASES = [
    ("Softmax-opset11", (3, 4, 5), 0, np.float32),
    ("Softmax-opset13", (3, 4, 5), 0, np.float16),
    ("LogSoftmax-opset11", (2, 9), -1, np.float64),
    ("LogSoftmax-opset13", (4, 3, 5), 1, np.float32),
    ("Div-ReduceSum-opset11", (3, 7), 0, np.float16),
    ("Div-ReduceSum-opset13", (5, 4, 3), -2, np.float64),
]


def test_snippets_run_standalone_and_reproduce_the_output_bitwise(tmp_path: Path) -> None:
    """Each snippet, in a fresh interpreter with only NumPy, onnx and onnxruntime, gives the same bits."""
    expected: dict[str, np.ndarray] = {}
    script = ["import sys"]
    for i, (api, shape, axis, dtype) in enumerate(CASES):
        impl = IMPLS[api]
        x = np.abs(_x(shape, np.float64, seed=i)).astype(dtype) + dtype(0.125)
        if i % 2:
            x = x.T.copy().T  # a non-contiguous (Fortran-order) input
        expected[f"y{i}"] = impl.call(x, axis, "cpu")
        script += [
            impl.imports,
            f"x = {array_literal(x)}",
            "x = x.T.copy().T" if i % 2 else "",
            f"axis = {axis}",
            "device = 'cpu'",
            impl.snippet,
            f"np.save(sys.argv[1] + '/y{i}.npy', y)",
        ]
    path = tmp_path / "repro.py"
    path.write_text("\n".join(script) + "\n")
    subprocess.run([sys.executable, str(path), str(tmp_path)], check=True, timeout=120, cwd=tmp_path)
    for name, want in expected.items():
        got = np.load(tmp_path / f"{name}.npy")
        assert got.dtype == want.dtype and got.shape == want.shape, name
        assert got.tobytes() == want.tobytes(), name


def test_repro_script_runs_and_prints_the_call(tmp_path: Path) -> None:
    impl = IMPLS["Softmax-opset11"]
    x = _x((2, 3, 2))
    y = impl.call(x, 0, "cpu")
    path = tmp_path / "repro.py"
    path.write_text(repro_snippet(impl, x, 0, "cpu", reference.softmax(x, 0)))
    out = subprocess.run(
        [sys.executable, str(path)], check=True, timeout=120, capture_output=True, text=True, cwd=tmp_path
    ).stdout
    got = out.split("got:", 1)[1].split("expected:", 1)[0]
    with np.printoptions(precision=17):
        assert " ".join(got.split()) == " ".join(str(y.astype(np.float64)).split())


def test_importing_the_adapter_imports_neither_onnx_nor_onnxruntime() -> None:
    code = textwrap.dedent(
        """
        import sys
        from conformance.adapters import get_adapter
        impls = get_adapter("onnxruntime").implementations()
        assert len(impls) == 6
        print(sorted(m for m in ("onnx", "onnxruntime") if m in sys.modules))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
