"""The built-in framework adapters: lazy imports, the contract, exact conversions, repro snippets.

Frameworks that are not installed are skipped. Each framework is imported once
per process (through its adapter, which sets it up: TF's log level, JAX's 64-bit
mode), so the file stays fast.
"""

from __future__ import annotations

import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest
from helpers import ROOT

import reference
from conformance.adapters import BUILTIN_ADAPTERS, FrameworkAdapter, Implementation, get_adapter
from conformance.adapters.base import MODES, OPS, OPT_IN_MODES
from reference.dtypes import FLOAT_DTYPE_NAMES

HEAVY_MODULES = ("scipy", "torch", "tensorflow", "jax", "keras")

# Building the implementation list imports no framework, so it is safe at collection time.
# Opt-in modes (torch.compile: tens of seconds per compilation) have their own tests below.
IMPLS: list[Implementation] = [
    impl
    for name in BUILTIN_ADAPTERS
    for impl in get_adapter(name).implementations()
    if impl.mode not in OPT_IN_MODES
]


def _available(framework: str) -> FrameworkAdapter:
    if framework.startswith("keras-"):
        pytest.skip("Keras fixes its backend per process: tested in tests/adapters/test_keras_adapter.py")
    adapter = get_adapter(framework)
    if not adapter.available():
        pytest.skip(f"{framework} is not installed")
    return adapter


def _positive(shape: tuple[int, ...], dtype: object, seed: int = 0) -> np.ndarray:
    """Positive values, so that L1 normalization and x / sum(x) agree."""
    return np.random.default_rng(seed).uniform(0.25, 4.0, size=shape).astype(dtype)


def _run_snippet(impl: Implementation, x: np.ndarray, axis: int) -> np.ndarray:
    namespace: dict[str, object] = {}
    exec(impl.imports, namespace)
    namespace.update(x=x, axis=axis, device="cpu")
    exec(impl.snippet, namespace)
    return namespace["y"]  # type: ignore[return-value]


def test_importing_adapters_imports_no_framework() -> None:
    refs = ", ".join(repr(m) for m in BUILTIN_ADAPTERS.values())
    code = (
        "import sys\n"
        "from conformance.adapters import all_adapters, resolve\n"
        f"for ref in ({refs},):\n"
        "    assert resolve(ref) is not None\n"
        "adapters = all_adapters()\n"
        "[impl for a in adapters.values() for impl in a.implementations()]\n"
        f"print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def _narrower_than_output(op: str) -> set[str]:
    """Dtypes an API with a mixed-precision output contract (``dtype=torch.float32``) is not run on:
    those wider than its output (float64 for a float32 output)."""
    from reference.contracts import contract_of

    out = contract_of(op).output_dtype
    return (
        set()
        if out is None
        else {
            d
            for d in FLOAT_DTYPE_NAMES
            if np.dtype(reference.dtype_from_name(d)).itemsize > np.dtype(out).itemsize
        }
    )


def test_ids_are_unique_and_readable() -> None:
    ids = [impl.id for impl in IMPLS]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for impl in IMPLS:
        assert not any(c.isspace() or c in "[]()" for c in impl.id), impl.id
        assert impl.op in OPS and impl.mode in MODES, impl.id
        # every dtype, but where the API's contract names an output dtype it upcasts to
        assert set(impl.dtypes) == set(FLOAT_DTYPE_NAMES) - _narrower_than_output(impl.op), impl.id
        assert "y" in impl.snippet and impl.imports.strip(), impl.id


def test_every_builtin_framework_is_covered() -> None:
    assert {impl.framework for impl in IMPLS} == set(BUILTIN_ADAPTERS)
    for name in BUILTIN_ADAPTERS:
        adapter = get_adapter(name)
        assert adapter.name == name
        ops = {impl.op for impl in adapter.implementations()}
        assert {"softmax", "log_softmax"} <= ops or name == "scipy", (name, ops)


@pytest.mark.parametrize("impl", IMPLS, ids=lambda impl: impl.id)
def test_close_to_oracle_on_simple_float32(impl: Implementation) -> None:
    _available(impl.framework)
    x = _positive((3, 5, 4), np.float32)
    y = impl.call(x, 1, "cpu")  # a middle axis: the snippet test covers the last one
    assert isinstance(y, np.ndarray)
    assert y.shape == x.shape and y.dtype == np.float32, (y.shape, y.dtype)
    assert np.all(np.isfinite(y))
    # The API's own contract (a temperature, an output dtype): ``reference.exact`` reads it from the op.
    # ONNX opset < 13 normalizes dims 1 and 2 together, as its ``operation`` says: compare it on that.
    if "2-D coercion" in impl.operation:
        exact = reference.exact(impl.op, x.reshape(3, -1), -1).reshape(x.shape)
    else:
        exact = reference.exact(impl.op, x, 1)
    np.testing.assert_allclose(y, exact.astype(np.float64), rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("impl", IMPLS, ids=lambda impl: impl.id)
def test_snippet_matches_call_bit_for_bit(impl: Implementation) -> None:
    _available(impl.framework)
    cases = [
        (_positive((3, 7), np.float32), -1),
        (_positive((4, 3, 5), ml_dtypes.bfloat16, seed=1).transpose(2, 0, 1), 1),  # a non-contiguous view
    ]
    if impl.framework == "onnxruntime":  # ORT has no CPU bfloat16 kernels: float16 for the strided view
        cases[1] = (_positive((4, 3, 5), np.float16, seed=1).transpose(2, 0, 1), 1)
    for x, axis in cases:
        y = impl.call(x, axis, "cpu")
        y_snippet = np.asarray(_run_snippet(impl, x, axis))
        assert y_snippet.dtype == y.dtype and y_snippet.shape == y.shape
        assert np.ascontiguousarray(y_snippet).tobytes() == np.ascontiguousarray(y).tobytes()


def _run_vjp_snippet(impl: Implementation, x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    namespace: dict[str, object] = {}
    exec(impl.imports, namespace)
    namespace.update(x=x, g=g, axis=axis, device="cpu")
    exec(impl.vjp_snippet, namespace)
    return namespace["gx"]  # type: ignore[return-value]


@pytest.mark.parametrize("impl", [i for i in IMPLS if i.vjp is not None], ids=lambda impl: impl.id)
def test_vjp_snippet_matches_vjp_bit_for_bit(impl: Implementation) -> None:
    """The backward pass's repro snippet computes exactly what the suite judged, and it is close to the
    analytic VJP on a simple input (a wrong-sign or transposed gradient would not be)."""
    from conformance.gradient_properties import compute_gradient_oracle

    _available(impl.framework)
    rng = np.random.default_rng(3)
    for x, axis in [
        (_positive((3, 7), np.float32), -1),
        (_positive((4, 3, 5), ml_dtypes.bfloat16, seed=1).transpose(2, 0, 1), 1),
    ]:
        g = rng.normal(size=x.shape).astype(x.dtype)
        gx = impl.vjp(x, g, axis, "cpu")
        gx_snippet = np.asarray(_run_vjp_snippet(impl, x, g, axis))
        assert gx_snippet.dtype == gx.dtype and gx_snippet.shape == gx.shape == x.shape
        assert np.ascontiguousarray(gx_snippet).tobytes() == np.ascontiguousarray(gx).tobytes()
        if x.dtype == np.float32:
            oracle = compute_gradient_oracle(impl.op, x, g, axis, x.dtype)  # the contract's gradient
            exact, scale = oracle.exact, oracle.scale
            assert np.all(np.abs(gx - exact.astype(np.float64)) <= 1e-4 * scale.astype(np.float64) + 1e-30)


def test_torch_compile_mode_is_opt_in_and_reproducible() -> None:
    """torch.compile (one implementation: a compilation takes tens of seconds): the output, its
    eager counterpart, the snippets, and the backward pass agree with the eager mode."""
    _available("torch")
    impl = next(i for i in get_adapter("torch").implementations() if i.id == "torch-F.softmax-compiled")
    assert impl.mode in OPT_IN_MODES and impl.eager_call is not None and impl.eager_snippet
    x = _positive((4, 9), np.float32)
    y = impl.call(x, -1, "cpu")
    np.testing.assert_allclose(y, impl.eager_call(x, -1, "cpu"), rtol=1e-6)
    assert np.asarray(_run_snippet(impl, x, -1)).tobytes() == y.tobytes()
    g = np.ones_like(x)
    np.testing.assert_allclose(impl.vjp(x, g, -1, "cpu"), 0, atol=1e-6)  # d/dx sum(softmax(x)) = 0
    details = get_adapter("torch").device_details()["torch_compile"]
    assert details["recompile_limit"] >= 64, "a low limit would fall back to eager mode silently"


def _all_bfloat16() -> np.ndarray:
    return np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(ml_dtypes.bfloat16)


def test_torch_bfloat16_round_trip_is_exact() -> None:
    _available("torch")
    import torch

    from conformance.adapters import torch_adapter

    x = _all_bfloat16()
    t = torch_adapter._to_torch(x, "cpu")
    assert t.dtype == torch.bfloat16
    back = torch_adapter._to_numpy(t)
    assert back.dtype == np.dtype(ml_dtypes.bfloat16)
    assert back.tobytes() == x.tobytes()  # every bit pattern, NaN payloads included
    finite = np.isfinite(x.astype(np.float32))
    np.testing.assert_array_equal(t.float().numpy()[finite], x.astype(np.float32)[finite])
    # A transposed view keeps its strides on the way in.
    v = x[:60].reshape(6, 10).T
    tv = torch_adapter._to_torch(v, "cpu")
    assert not tv.is_contiguous() and torch_adapter._to_numpy(tv).tobytes() == v.tobytes()


def test_torch_read_only_and_negative_strides_are_accepted() -> None:
    _available("torch")
    impl = next(i for i in IMPLS if i.id == "torch-F.softmax-eager")
    x = _positive((3, 7), np.float32)
    want = impl.call(x, -1, "cpu")
    ro = x.copy()
    ro.flags.writeable = False
    np.testing.assert_array_equal(impl.call(ro, -1, "cpu"), want)
    flipped = impl.call(x[:, ::-1], -1, "cpu")  # from_numpy rejects negative strides: passed as a copy
    np.testing.assert_array_equal(flipped, impl.call(x[:, ::-1].copy(), -1, "cpu"))


@pytest.mark.parametrize("framework", ["tensorflow", "jax"])
def test_bfloat16_round_trip_is_exact(framework: str) -> None:
    _available(framework)
    x = _all_bfloat16()
    if framework == "tensorflow":
        import tensorflow as tf

        back = tf.constant(x).numpy()
    else:
        import jax

        back = np.asarray(jax.device_put(x, jax.devices("cpu")[0]))
    assert back.dtype == np.dtype(ml_dtypes.bfloat16)
    assert back.tobytes() == x.tobytes()


def test_jax_keeps_float64() -> None:
    adapter = _available("jax")
    assert adapter.device_details()["jax_enable_x64"] is True
    impl = next(i for i in IMPLS if i.id == "jax-nn.softmax-jit")
    x = _positive((2, 9), np.float64)
    y = impl.call(x, -1, "cpu")
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, reference.softmax(x), rtol=1e-14)


@pytest.mark.parametrize("framework", list(BUILTIN_ADAPTERS))
def test_devices_and_details(framework: str) -> None:
    adapter = _available(framework)
    devices = adapter.devices()
    assert devices[0] == "cpu" and all(d.startswith("cuda:") for d in devices[1:])
    assert isinstance(adapter.device_details(), dict)
    assert adapter.version()


@pytest.mark.parametrize("framework", ["numpy", "scipy", "tensorflow", "jax"])
def test_unknown_device_is_an_error(framework: str) -> None:
    # TF would otherwise place the work on the CPU silently (soft placement).
    _available(framework)
    impl = next(i for i in IMPLS if i.framework == framework)
    with pytest.raises(ValueError, match="device"):
        impl.call(_positive((2, 3), np.float32), -1, "cuda:99")
