"""The error model (``reference.error_model``): allowances and tolerances.

Checked: tolerances are at least ``ABSOLUTE_ULPS`` and not NaN on finite slices,
NaN on slices with a NaN or an infinity; the model part grows with the slice
length, with the spread max - min (softmax ops) and with the condition number
kappa of a cancelling sum (sum-normalization); the oracle itself is always within
the tolerances, and the slice sums of its outputs within ``sum_tolerance``. No
constant of the model is tested, only what follows from the documented formulas.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import DTYPE_IDS, FLOAT_DTYPES, claimed_bound

import reference.oracle as oracle
from reference.dtypes import dtype_info
from reference.error_model import ABSOLUTE_ULPS, allowed_error, sum_tolerance, tolerance_ulps
from reference.ulp import spacing, ulp_error

OPS = oracle.OPS
SEED = 99


def _slices(dt: np.dtype, rng: np.random.Generator, rows: int = 300, n: int | None = None) -> np.ndarray:
    """A batch of finite slices of one length: random scales, ties, spreads near the underflow range."""
    info = dtype_info(dt)
    n = n if n is not None else int(rng.integers(1, 40))
    scale = 10.0 ** rng.uniform(-3, 2, (rows, 1))
    x = rng.normal(0, 1, (rows, n)) * scale
    x[::7] = np.round(x[::7])  # ties
    if n > 1:  # spreads into the underflow range
        x[1::7, 1:] = -rng.uniform(0, -info.exp_underflow + 5, (len(x[1::7]), n - 1))
    x[2::7] = np.abs(x[2::7])  # non-negative rows for sum-normalization
    with np.errstate(over="ignore"):
        out = x.astype(dt)
    return out[np.all(np.isfinite(out.astype(np.float64)), axis=-1)]


def _model(op: str, x: np.ndarray, dt: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ex = oracle.exact(op, x, -1, dt)
    return ex, allowed_error(op, x, ex, -1, dt), tolerance_ulps(op, x, ex, -1, dt)


def _model_part(op: str, x: np.ndarray, dt: np.dtype) -> np.ndarray:
    """The allowance without the ABSOLUTE_ULPS term: relative for softmax and
    sum-normalization, absolute for log-softmax (as the module docstring states them)."""
    ex, allowed, _ = _model(op, x, dt)
    el = ex.astype(np.float64)
    part = allowed - ABSOLUTE_ULPS * spacing(el, dt).astype(np.float64)
    return part if op == "log_softmax" else part / np.abs(el)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_finite_slices_get_at_least_one_ulp(dt: np.dtype, op: str) -> None:
    rng = np.random.default_rng(SEED)
    for _ in range(4):
        x = _slices(dt, rng)
        ex, allowed, tol = _model(op, x, dt)
        el = ex.astype(np.float64)
        defined = ~np.isnan(el)  # sum-normalization of a zero sum
        assert allowed.shape == x.shape and tol.shape == x.shape
        assert not np.any(np.isnan(tol[defined])) and not np.any(np.isnan(allowed[defined]))
        assert np.all(tol[defined] >= ABSOLUTE_ULPS)
        assert np.all(np.isfinite(allowed[defined]))
        assert np.all(allowed[defined] >= ABSOLUTE_ULPS * spacing(el[defined], dt))
        # finite in ULPs except where the exact result is 0 and the allowance absolute (documented)
        assert np.all(np.isfinite(tol[defined & (el != 0)]))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_non_finite_slices_get_nan(dt: np.dtype, op: str) -> None:
    x = np.array(
        [[1.0, np.nan, 2.0], [np.inf, 1.0, 0.0], [-np.inf, 1.0, 2.0], [-np.inf] * 3, [1.0, 2.0, 3.0]]
    ).astype(dt)
    _ex, allowed, tol = _model(op, x, dt)
    undefined = [0, 1, 2, 3] if op == "sum_normalize" else [0, 1, 3]  # a -inf entry is a mask
    assert np.all(np.isnan(tol[undefined])) and np.all(np.isnan(allowed[undefined]))
    assert np.all(tol[4] >= ABSOLUTE_ULPS)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_masked_entries_leave_the_model_of_the_rest_and_must_be_exact(dt: np.dtype, op: str) -> None:
    """-inf entries are a mask: the finite entries get (nearly) the allowance of the slice without them;
    a masked entry must come out exactly 0 (softmax, one subnormal ULP) or -inf (log-softmax, none)."""
    masked = np.array([[-np.inf, 1.0, 2.0, -np.inf, 0.5]]).astype(dt)
    rest = np.array([[1.0, 2.0, 0.5]]).astype(dt)
    _, allowed_masked, _ = _model(op, masked, dt)
    _, allowed_rest, _ = _model(op, rest, dt)
    # the same but for G(n): the implementation still sums n terms, the masked zeros included
    finite = allowed_masked[0, [1, 2, 4]]
    assert np.all(finite >= allowed_rest[0]) and np.all(finite <= allowed_rest[0] * 1.1)
    at_mask = allowed_masked[0, [0, 3]]
    if op == "log_softmax":
        assert np.all(at_mask == 0)
    else:
        assert np.all(at_mask == dtype_info(dt).smallest_subnormal)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_axis_and_shape(dt: np.dtype, op: str) -> None:
    rng = np.random.default_rng(SEED + 1)
    x = rng.normal(0, 2, (3, 5, 4)).astype(dt)
    for axis in (0, 1, -1):
        ex = oracle.exact(op, x, axis, dt)
        tol = tolerance_ulps(op, x, ex, axis, dt)
        moved = tolerance_ulps(op, np.moveaxis(x, axis, -1), np.moveaxis(ex, axis, -1), -1, dt)
        np.testing.assert_array_equal(tol, np.moveaxis(moved, -1, axis))
    empty = np.zeros((2, 0), dtype=dt)
    assert tolerance_ulps(op, empty, oracle.exact(op, empty, -1, dt), -1, dt).shape == (2, 0)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_grows_with_slice_length(dt: np.dtype, op: str) -> None:
    lengths = [1, 2, 3, 8, 100, 1000, 30_000]
    base = 1.0 if op == "sum_normalize" else 0.0  # equal entries: everything but n is fixed
    parts = [_model_part(op, np.full((1, n), base, dtype=dt), dt)[0, 0] for n in lengths]
    assert np.all(np.diff(parts) > 0), parts


@pytest.mark.parametrize("op", ("softmax", "log_softmax"))
@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_grows_with_spread(dt: np.dtype, op: str) -> None:
    """The smallest element of [0, -t] and of a linspace over [-t, 0], as t grows."""
    spreads = [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 10.0]
    for n in (2, 7):
        rows = np.array([np.linspace(0.0, -t, n) for t in spreads]).astype(dt)
        if not np.all(np.diff(rows[:, -1].astype(np.float64)) < 0):
            continue
        parts = _model_part(op, rows, dt)
        assert np.all(np.diff(parts[:, -1]) > 0), parts[:, -1]
        assert np.all(np.diff(np.max(parts, axis=-1)) > 0)


@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_sum_normalize_grows_with_kappa(dt: np.dtype) -> None:
    """[1, -(1 - 2**-k)]: kappa = (2 - 2**-k) / 2**-k grows with k; a non-negative slice has kappa 1."""
    p = dtype_info(dt).precision
    ks = [k for k in (1, 2, 4, 6, 8, 10, 20, 40) if k < p]
    rows = np.array([[1.0, -(1.0 - 2.0**-k)] for k in ks]).astype(dt)
    parts = _model_part("sum_normalize", rows, dt)
    assert np.all(np.diff(parts[:, 0]) > 0), parts[:, 0]
    positive = _model_part("sum_normalize", np.array([[1.0, 1.0 - 2.0 ** -ks[-1]]]).astype(dt), dt)
    assert np.all(positive[0] < parts[1, 0])


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_oracle_within_its_own_tolerance(dt: np.dtype, op: str) -> None:
    rng = np.random.default_rng(SEED + 2)
    for _ in range(4):
        x = _slices(dt, rng)
        ex, allowed, tol = _model(op, x, dt)
        y = oracle.evaluate(op, x)
        err = ulp_error(y, ex, dt)
        defined = ~np.isnan(ex.astype(np.float64))
        assert np.all(err[defined] <= claimed_bound(dt))
        assert np.all(err[defined] <= tol[defined])
        abs_err = np.abs(y.astype(np.longdouble) - ex.astype(np.longdouble)).astype(np.float64)
        assert np.all(abs_err[defined] <= allowed[defined])


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_oracle_slice_sums_within_sum_tolerance(dt: np.dtype, op: str) -> None:
    rng = np.random.default_rng(SEED + 3)
    for n in (1, 3, 17, 300):
        x = _slices(dt, rng, rows=100, n=n)
        if op == "sum_normalize":
            x = np.abs(x)  # sum-normalization sums to 1 as a probability vector only then
            x = x[np.sum(x.astype(np.float64), axis=-1) > 0]
        ex, allowed, _ = _model(op, x, dt)
        bound = sum_tolerance(allowed, ex, -1, op)
        assert bound.shape == x.shape[:-1]
        assert np.all(np.isfinite(bound)) and np.all(bound > 0)
        y = oracle.evaluate(op, x).astype(np.float64)
        total = np.sum(np.exp(y) if op == "log_softmax" else y, axis=-1)
        assert np.all(np.abs(total - 1) <= bound), np.max(np.abs(total - 1) - bound)


@pytest.mark.parametrize("op", OPS)
def test_sum_tolerance_nan_for_non_finite_slices(op: str) -> None:
    x = np.array([[1.0, np.nan], [np.inf, 0.0], [1.0, 2.0]])
    ex = oracle.exact(op, x)
    bound = sum_tolerance(allowed_error(op, x, ex, -1, np.float64), ex, -1, op)
    assert np.all(np.isnan(bound[:2])) and math.isfinite(bound[2])


@pytest.mark.parametrize(
    ("op", "values"),
    [
        ("softmax", [1e308, -1e308]),
        ("sum_normalize", [1e308, 1e308]),
        ("sum_normalize", [1e308, 1e308, -1e308]),
    ],
)
def test_finite_slices_with_huge_float64_entries(op: str, values: list[float]) -> None:
    """allowed_error: 'for finite slices (NaN elsewhere)'. max - min or sum(|x|) overflowing float64
    is no reason for NaN: the exact results here are [1, 0], [0.5, 0.5] and [1, 1, -1]."""
    x = np.array(values)
    _ex, allowed, tol = _model(op, x, np.dtype(np.float64))
    assert not np.any(np.isnan(allowed)), allowed
    assert np.all(tol >= ABSOLUTE_ULPS)


def _softmax_with_rounded_shift(x: np.ndarray) -> np.ndarray:
    """A correct softmax that forms ``x - max`` in the input dtype (as XLA does for bfloat16),
    then exp, sum and divide in float32, rounded once to the input dtype."""
    d = (x.astype(np.float64) - np.max(x.astype(np.float64), axis=-1, keepdims=True)).astype(x.dtype)
    e = np.exp(d.astype(np.float32))
    return (e / np.sum(e, axis=-1, keepdims=True)).astype(x.dtype)


def test_exponential_form_admits_the_rounding_of_large_shifts_in_bfloat16() -> None:
    """d = -64.25 rounds to -64 in bfloat16: exp is then 28% off, beyond the first-order 25%.

    The model's exponential form (expm1 of u |d|) must admit that correct implementation
    for every spread up to 88; the first-order form would not.
    """
    import ml_dtypes

    bf16 = np.dtype(ml_dtypes.bfloat16)
    x = np.array([[42.5, -21.75, 0.0, 10.0]], dtype=bf16)
    y = _softmax_with_rounded_shift(x)
    ex, allowed, _ = _model("softmax", x, bf16)
    err = np.abs(y.astype(np.float64) - ex.astype(np.float64))
    assert abs(y.astype(np.float64)[0, 1] / ex[0, 1] - 1) > 0.27  # the effect is there
    assert np.all(err <= allowed)
    u = dtype_info(bf16).unit_roundoff
    first_order = np.abs(ex.astype(np.float64))[0, 1] * u * (64.25 + 6)
    assert err[0, 1] > first_order  # and the linear bound alone would have rejected it
    rng = np.random.default_rng(SEED + 7)
    for _ in range(20):
        x = rng.uniform(-44, 44, (8, 64)).astype(bf16)
        ex, allowed, _ = _model("softmax", x, bf16)
        y = _softmax_with_rounded_shift(x).astype(np.float64)
        tiny = dtype_info(bf16).tiny
        flushed = (y == 0) & (np.abs(ex.astype(np.float64)) - allowed < tiny)
        assert np.all((np.abs(y - ex.astype(np.float64)) <= allowed) | flushed)
