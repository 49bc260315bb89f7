"""The gradient oracle (against mpmath and the explicit Jacobians), the backward error model,
the gradient properties on planted mistakes, and the compiled-vs-eager property."""

from __future__ import annotations

import subprocess
import sys

import ml_dtypes
import mpmath
import numpy as np
import pytest
from helpers import ROOT

import conformance
from conformance.adapters.base import Implementation
from conformance.gradient_properties import gradient_oracle
from conformance.gradients import gradient_cases
from conformance.property_registry import GRADIENT_PROPERTIES
from reference import exact, round_to_dtype
from reference.gradient import GRADIENT_OPS, vjp_allowed_error, vjp_exact

DTYPES = (np.float16, ml_dtypes.bfloat16, np.float32, np.float64)


def _mp_function(op: str, xs: list) -> list:
    if op == "sum_normalize":
        total = sum(xs)
        return [v / total for v in xs]
    top = max(xs)
    e = [mpmath.exp(v - top) for v in xs]
    total = sum(e)
    return [v / total for v in e] if op == "softmax" else [v - top - mpmath.log(total) for v in xs]


@pytest.mark.parametrize("op", GRADIENT_OPS)
def test_vjp_oracle_matches_mpmath_numerical_derivative(op: str) -> None:
    """d/dx_j sum_i g_i f(x)_i by mpmath's numerical differentiation at 50 digits (independent of
    the analytic formulas), on 20 random vectors per op: within 1e-18 of the term scale (the
    oracle works in long double)."""
    mpmath.mp.dps = 50
    rng = np.random.default_rng(7)
    for _ in range(20):
        n = int(rng.integers(1, 7))
        x = rng.normal(size=n) * float(rng.choice([0.5, 4.0, 30.0]))
        if op == "sum_normalize":
            x = np.abs(x) + 0.1
        g = rng.normal(size=n)
        grad, scale = vjp_exact(op, x, g)
        base = [mpmath.mpf(float(v)) for v in x]
        weights = [mpmath.mpf(float(v)) for v in g]
        for j in range(n):

            def loss(t: mpmath.mpf, j: int = j, base: list = base, weights: list = weights) -> mpmath.mpf:
                ys = _mp_function(op, [*base[:j], t, *base[j + 1 :]])
                return sum(w * y for w, y in zip(weights, ys, strict=True))

            reference = mpmath.diff(loss, base[j])
            oracle = mpmath.mpf(np.format_float_scientific(grad[j], unique=True))  # all long double digits
            assert abs(oracle - reference) <= 1e-18 * float(scale[j]) + 1e-300


def _jacobian(op: str, x: np.ndarray) -> np.ndarray:
    """The issue's Jacobians, built as matrices in float64: diag(s) - s s^T, I - 1 s^T, (I - y 1^T) / S."""
    n = x.size
    if op == "sum_normalize":
        total = x.sum()
        y = x / total
        return (np.eye(n) - np.outer(y, np.ones(n))) / total
    e = np.exp(x - x.max())
    s = e / e.sum()
    if op == "softmax":
        return np.diag(s) - np.outer(s, s)
    return np.eye(n) - np.outer(np.ones(n), s)


@pytest.mark.parametrize("op", GRADIENT_OPS)
def test_vjp_oracle_matches_explicit_jacobian(op: str) -> None:
    rng = np.random.default_rng(11)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        x = rng.normal(size=n) * 3
        if op == "sum_normalize":
            x = rng.uniform(0.1, 5, size=n)
        g = rng.normal(size=n)
        grad, scale = vjp_exact(op, x, g)
        expected = g @ _jacobian(op, x)  # the row vector g^T J
        assert np.all(np.abs(grad.astype(np.float64) - expected) <= 1e-13 * scale.astype(np.float64))


def test_vjp_oracle_along_a_non_last_axis_equals_the_transposed_rows() -> None:
    rng = np.random.default_rng(5)
    x, g = rng.normal(size=(3, 6, 4)), rng.normal(size=(3, 6, 4))
    for op in GRADIENT_OPS:
        xx = np.abs(x) + 0.5 if op == "sum_normalize" else x
        along, _ = vjp_exact(op, xx, g, axis=1)
        rows, _ = vjp_exact(op, np.moveaxis(xx, 1, -1), np.moveaxis(g, 1, -1), axis=-1)
        np.testing.assert_array_equal(along, np.moveaxis(rows, -1, 1))


def test_masked_entries_have_zero_exact_gradient() -> None:
    x = np.array([[1.0, -np.inf, 2.0, -np.inf]])
    g = np.array([[0.5, 0.0, -1.0, 0.0]])
    for op in ("softmax", "log_softmax"):
        grad, _ = vjp_exact(op, x, g)
        assert grad[0, 1] == 0 and grad[0, 3] == 0
        unmasked, _ = vjp_exact(op, x[:, [0, 2]], g[:, [0, 2]])
        np.testing.assert_allclose(grad[0, [0, 2]].astype(np.float64), unmasked[0].astype(np.float64))


def test_cotangent_shape_mismatch_and_unknown_op_are_errors() -> None:
    with pytest.raises(ValueError, match="cotangent shape"):
        vjp_exact("softmax", np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="unknown op"):
        vjp_exact("relu", np.ones(3), np.ones(3))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", GRADIENT_OPS)
def test_correctly_rounded_gradient_passes_and_far_off_one_fails(op: str, dtype: object) -> None:
    """Every gradient case: the exact VJP rounded to the dtype passes every gradient property; the
    same with one element moved by 50 times its allowance fails precision."""
    dt = np.dtype(dtype)
    # A joint-axes case is judged on its joint view (``GradientCase.joint``), as the evaluation does.
    for case in (c.joint() for c in gradient_cases(op, dt.name, (5, 64), seed=1)):
        oracle = gradient_oracle(op, case.x, case.g, case.axis, dt)
        with np.errstate(over="ignore"):  # 1 / sum of a tiny float16 slice overflows: not judged
            rounded = round_to_dtype(oracle.exact, dt).astype(dt)
        for name, prop in GRADIENT_PROPERTIES.items():
            if op not in prop.ops:
                continue
            res = prop.judge(case.x, case.g, rounded, oracle, op, dt, case.axis)
            assert np.all(res.passed), (name, case.name, res.metric[~res.passed], res.bound[~res.passed])
        finite = np.isfinite(oracle.allowed) & ~oracle.masked & (np.abs(oracle.exact) < 1e30)
        index = np.unravel_index(np.flatnonzero(finite.reshape(-1))[0], finite.shape)
        wrong = rounded.astype(np.float64)
        wrong[index] += 50 * oracle.allowed[index] + 4 * float(np.abs(oracle.exact[index]))
        wrong = wrong.astype(dt)
        res = GRADIENT_PROPERTIES["grad_precision"].judge(case.x, case.g, wrong, oracle, op, dt, case.axis)
        assert not np.all(res.passed), case.name


def test_allowance_covers_final_rounding_and_stays_far_below_the_terms() -> None:
    """At least half an ULP of the exact gradient (a correctly rounded result must pass), and below
    a few percent of the term scale for float32 rows (so that a dropped term cannot pass)."""
    rng = np.random.default_rng(2)
    for op in GRADIENT_OPS:
        x = rng.uniform(0.5, 4.0, size=(8, 50)).astype(np.float32)
        g = rng.normal(size=x.shape).astype(np.float32)
        grad, scale = vjp_exact(op, x, g)
        allowed = vjp_allowed_error(op, x, g, -1, np.float32)
        assert np.all(allowed >= 0.5 * np.spacing(np.abs(grad.astype(np.float32))))
        assert np.all(allowed <= 0.01 * scale.astype(np.float64))


def test_mask_nan_leak_and_nonzero_masked_gradient_are_caught() -> None:
    x = np.array([[1.0, -np.inf, 2.0, 0.5]], dtype=np.float32)
    g = np.array([[1.0, 0.0, -1.0, 0.25]], dtype=np.float32)
    oracle = gradient_oracle("softmax", x, g, -1, np.float32)
    good = round_to_dtype(oracle.exact, np.float32).astype(np.float32)
    judge = GRADIENT_PROPERTIES["grad_masked"].judge
    assert judge(x, g, good, oracle, "softmax", np.float32, -1).passed.all()
    leaked = good.copy()
    leaked[0, 1] = np.nan
    res = judge(x, g, leaked, oracle, "softmax", np.float32, -1)
    assert not res.passed.all() and res.metric[0] == 1
    nonzero = good.copy()
    nonzero[0, 1] = 1e-30
    assert not judge(x, g, nonzero, oracle, "softmax", np.float32, -1).passed.all()


def _softmax64(x: np.ndarray, axis: int) -> np.ndarray:
    w = x.astype(np.float64)
    e = np.exp(w - w.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def test_custom_function_vjp_attribute_is_judged() -> None:
    """``function.vjp`` (the custom-implementation contract) is called and judged; a correct one
    passes every gradient property, one that drops the normalization term fails."""

    def softmax(x: np.ndarray, axis: int) -> np.ndarray:
        return _softmax64(x, axis).astype(x.dtype)

    def vjp(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
        s, g64 = _softmax64(x, axis), g.astype(np.float64)
        return (s * (g64 - (g64 * s).sum(axis, keepdims=True))).astype(x.dtype)

    softmax.vjp = vjp  # type: ignore[attr-defined]
    result = conformance.check(softmax, "softmax", dtypes=["float32", "bfloat16"], profile="quick")
    assert result.ok, result.summary()
    assert {r.property for r in result.results} >= set(GRADIENT_PROPERTIES)
    softmax.vjp = lambda x, g, axis: (_softmax64(x, axis) * g).astype(x.dtype)  # type: ignore[attr-defined]
    result = conformance.check(softmax, "softmax", dtypes=["float32"], profile="quick")
    failed = result.failed_properties("float32")
    assert "grad_precision" in failed and "grad_sum_to_zero" in failed
    record = result.get("float32", "grad_precision")
    assert "cotangent" in record.worst_case and "\ng = " in record.repro


def _compiled(call, eager) -> Implementation:
    return Implementation(
        "custom",
        "softmax64",
        "softmax",
        "jit",
        call=call,
        snippet="y = x",
        eager_call=eager,
        eager_snippet="y = x",
    )


def test_compiled_consistency_catches_a_compiled_mode_that_differs_from_eager() -> None:
    def eager(x: np.ndarray, axis: int, device: str) -> np.ndarray:
        return _softmax64(x, axis).astype(x.dtype)

    def agrees(x: np.ndarray, axis: int, device: str) -> np.ndarray:
        return eager(x, axis, device)

    def differs(x: np.ndarray, axis: int, device: str) -> np.ndarray:  # eager's result, 3% off
        return (eager(x, axis, device).astype(np.float64) * 1.03).astype(x.dtype)

    good = conformance.check(_compiled(agrees, eager), "softmax", dtypes=["float32"], profile="quick")
    assert good.get("float32", "compiled_consistency").verdict == "pass"
    bad = conformance.check(_compiled(differs, eager), "softmax", dtypes=["float32"], profile="quick")
    judged = bad.get("float32", "compiled_consistency")
    assert judged.verdict == "fail" and "eager mode" in judged.message


def test_compiled_mode_records_compile_time_apart_from_run_time() -> None:
    """A compiled mode's first call per shape is made twice: the excess is compile time."""
    import time

    from conformance.evaluation import Cell, CellEvaluation
    from conformance.profiles import get_profile

    seen: set = set()

    def slow_first(x: np.ndarray, axis: int, device: str) -> np.ndarray:
        if (x.shape, x.dtype, axis) not in seen:  # "compiles" once per shape, dtype and axis
            seen.add((x.shape, x.dtype, axis))
            time.sleep(0.05)
        return _softmax64(x, axis).astype(x.dtype)

    impl = _compiled(slow_first, lambda x, axis, device: _softmax64(x, axis).astype(x.dtype))
    evaluation = CellEvaluation(Cell(impl, "cpu", "float32"), get_profile("quick"), 0).run()
    timing = evaluation.timing()
    assert 0 < timing["compiles"] <= len(seen)  # a call that raises (a 0-d input) compiles nothing
    assert timing["compile_seconds"] >= 0.04 * timing["compiles"]
    assert timing["run_seconds"] < timing["compile_seconds"]


def test_compiled_torch_mode_is_collected_only_when_named(tmp_path) -> None:
    pytest.importorskip("torch")
    base = [sys.executable, "-m", "pytest", "-p", "conformance.plugin", "--pyargs", "conformance.suite"]
    base += ["--framework", "torch", "--collect-only", "-q", "-p", "no:cacheprovider"]
    base += ["--run-dir", str(tmp_path / "run")]  # never a run folder in the repository
    plain = subprocess.run(base, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert plain.returncode == 0, plain.stdout[-2000:] + plain.stderr[-2000:]
    assert "-compiled-" not in plain.stdout and "torch-F.softmax-eager-cpu-float32" in plain.stdout
    named = subprocess.run(
        [*base, "--mode", "compiled"], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert "test_compiled_consistency[torch-F.softmax-compiled-cpu-float32]" in named.stdout
    assert "test_grad_precision[torch-softmax-x-over-T-compiled-cpu-float32]" in named.stdout


def test_underflow_allowance_is_not_lost_in_float64() -> None:
    """Half of float64's smallest subnormal is not a float64 (it rounds to 0): the model's underflow
    term must still grow with n for a float64 row whose gradient is subnormal (x ~ 2e303, S ~ 7e307)."""
    n = 30000
    x = np.full(n, 2.2e303)
    g = np.ones(n)
    allowed = vjp_allowed_error("sum_normalize", x, g, -1, np.float64)
    assert np.all(allowed >= (n - 1) * np.finfo(np.float64).smallest_subnormal / 2)


def _renormalized_backward(x: np.ndarray, k: int, flush_to_zero: bool) -> tuple[np.ndarray, np.ndarray]:
    """The backward pass of ``s / sum(s)`` with a one-hot cotangent at ``k``, evaluated op by op in
    ``x``'s dtype the way an autodiff graph does (products in the dtype, sums in float32), from a
    correctly rounded ``s``; ``flush_to_zero`` flushes results below the smallest normal, as XLA and
    TensorFlow do on CPU. Returns the cotangent and the gradient."""
    dt = x.dtype
    tiny = np.finfo(dt).tiny

    def flush(a: np.ndarray) -> np.ndarray:
        return (np.where(np.abs(a) < tiny, 0, a) if flush_to_zero else a).astype(dt)

    g = np.zeros_like(x)
    g[k] = 1
    s = exact("softmax", x, -1, dt)  # correctly rounded
    total = flush(np.sum(s, dtype=np.float32))
    d_total = flush(-np.sum(flush(g * s), dtype=np.float32) / (np.float32(total) * np.float32(total)))
    h = flush(flush(g / total) + d_total)
    dot = flush(np.sum(flush(h * s), dtype=np.float32))
    return g, flush(s * flush(h - dot))


def _row_with_one_tiny_entry(dtype: object, target: float, n: int = 1000) -> tuple[np.ndarray, int]:
    rng = np.random.default_rng(11)
    x = rng.uniform(-8.0, -3.0, size=n)
    x[0] = 0.0  # a dominant entry: its gradient is normal, about -s_0 s_k
    k = 7
    x[k] = -np.inf
    x[k] = np.log(target) + np.log(np.sum(np.exp(x[np.isfinite(x)])))
    return round_to_dtype(x, dtype).astype(dtype), k


def test_renormalized_composite_backward_allows_its_inner_subnormal_products() -> None:
    """softmax(x) / sum(softmax(x)) with a one-hot cotangent at an entry whose softmax is just above
    float16's smallest normal: the composite's inner cotangent is about -s_k everywhere, so its
    products h_i s_i are float16 subnormals. IEEE float16 arithmetic (gradual underflow) must pass
    the renormalized model; the plain softmax model, which does not have that reduction, rejects it."""
    x, k = _row_with_one_tiny_entry(np.float16, 6.5e-5)
    g, gx = _renormalized_backward(x, k, flush_to_zero=False)
    judge = GRADIENT_PROPERTIES["grad_precision"].judge
    composite = gradient_oracle("softmax", x[None], g[None], -1, np.float16, renormalized=True)
    assert np.all(judge(x[None], g[None], gx[None], composite, "softmax", np.float16, -1).passed)
    plain = gradient_oracle("softmax", x[None], g[None], -1, np.float16)
    assert not np.all(judge(x[None], g[None], gx[None], plain, "softmax", np.float16, -1).passed)


def test_flush_to_zero_of_the_inner_products_is_still_caught() -> None:
    """The same composite in float32 at an entry whose softmax is 6.8e-38: flushing the subnormal
    products (CPU XLA, TensorFlow) loses about 20% of a normal result, far beyond what gradual
    underflow costs; with gradual underflow the result passes."""
    x, k = _row_with_one_tiny_entry(np.float32, 6.8e-38)
    judge = GRADIENT_PROPERTIES["grad_precision"].judge
    for flush_to_zero in (False, True):
        g, gx = _renormalized_backward(x, k, flush_to_zero)
        oracle = gradient_oracle("softmax", x[None], g[None], -1, np.float32, renormalized=True)
        passed = np.all(judge(x[None], g[None], gx[None], oracle, "softmax", np.float32, -1).passed)
        assert bool(passed) is not flush_to_zero


def test_grad_precision_accepts_the_infinity_an_exact_gradient_beyond_the_dtype_rounds_to():
    """log-softmax's VJP with a ones cotangent on 65,537 entries: g - s * 65,537 is about -65,536 at a
    peaked entry, beyond float16's max, so the correctly rounded gradient there is -inf."""
    from conformance.gradient_properties import grad_precision, gradient_oracle

    n = 65_537
    x = np.zeros((1, n), np.float16)
    x[0, 0] = 30.0  # s_0 = 1 - 1e-9: its gradient 1 - 65,537 s_0 rounds to -inf in float16
    g = np.ones_like(x)
    oracle = gradient_oracle("log_softmax", x, g, -1, np.float16)
    exact = (1.0 - n * 1.0 / (1.0 + (n - 1) * np.exp(-30.0))).item()
    assert exact < -65_520  # beyond float16's max plus half its spacing
    gx = oracle.exact.astype(np.float16)
    assert np.isneginf(gx[0, 0])
    assert grad_precision(x, g, gx, oracle, "log_softmax", np.float16, -1).passed.all()
    gx[0, 0] = np.inf  # the wrong infinity still fails
    assert not grad_precision(x, g, gx, oracle, "log_softmax", np.float16, -1).passed.all()


@pytest.mark.parametrize("op", GRADIENT_OPS)
def test_the_repeated_term_row_leaves_the_other_gradient_inputs_as_they_were(op, monkeypatch) -> None:
    """The row of one repeated term (the longest length beyond 2,048) draws its cotangents from a
    generator of its own: without it, every other gradient input and cotangent is the same."""
    import conformance.gradients as gradients

    lengths = (7, 128, 65537)
    with_row = gradient_cases(op, "float32", lengths, seed=3)
    monkeypatch.setattr(gradients, "REPEATED_TERM_MIN_LENGTH", 10**9)
    without = gradient_cases(op, "float32", lengths, seed=3)
    added = [c for c in with_row if c.name.startswith("grad_repeated_term")]
    labels = ("random", "one-hot", "ones")
    assert [c.name for c in added] == [f"grad_repeated_term[65537]/{g}" for g in labels]
    row = added[0].x[0]
    assert row.shape == (65537,) and np.count_nonzero(row == np.float32(0.9)) == 65536 and row.max() == 1
    kept = [c for c in with_row if c not in added]
    assert [c.name for c in kept] == [c.name for c in without]
    for a, b in zip(kept, without, strict=True):
        assert np.array_equal(a.x, b.x, equal_nan=True) and np.array_equal(a.g, b.g, equal_nan=True)
    assert not [c for c in gradient_cases(op, "float32", (3, 16, 100, 1000), seed=3) if "repeated" in c.name]
