"""Special values, shapes, dtypes and axes: ``reference.special.LIMITS_TABLE`` and the oracle's contract.

Every row of LIMITS_TABLE has a checker here (``test_every_table_row_is_checked``),
run for the three ops and the four dtypes. Tests that produce float64 outputs run
twice: through the longdouble path and through the mpmath fallback used where
longdouble is only float64 (``float64_path`` fixture).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from helpers import BFLOAT16, DTYPE_IDS, FLOAT_DTYPES, MP_DPS, mp_exact_ops, mp_round, to_floats

import reference.oracle as oracle
from reference.contracts import L1_NORMALIZE, Contract, with_contract
from reference.dtypes import dtype_info
from reference.special import LIMITS_TABLE, REGULAR, SLICE_KINDS, slice_kinds

OPS = oracle.OPS
SOFTMAX_OPS = ("softmax", "log_softmax")
INF, NAN = math.inf, math.nan


@pytest.fixture(params=["longdouble", "mpmath_fallback"], autouse=True)
def float64_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "mpmath_fallback":
        monkeypatch.setattr(oracle, "_LONGDOUBLE_IS_EXTENDED", False)
    elif not oracle._LONGDOUBLE_IS_EXTENDED:
        pytest.skip("this platform's longdouble is float64")
    return request.param


def _arr(values: list, dt: np.dtype) -> np.ndarray:
    return np.array(values, dtype=np.float64).astype(dt)


def _rounded(value: float | mpmath.mpf, dt: np.dtype) -> float:
    with mpmath.workdps(MP_DPS):
        return mp_round(mpmath.mpf(value), dt)


def _assert_values(got: np.ndarray, expected: list[float], dt: np.dtype) -> None:
    assert got.dtype == dt
    np.testing.assert_array_equal(got.astype(np.float64), np.array(expected, dtype=np.float64))


def _assert_same_array(got: np.ndarray, expected: np.ndarray, msg: str = "") -> None:
    """Same dtype and shape, equal values, NaN where NaN (bfloat16 included)."""
    assert got.dtype == expected.dtype and got.shape == expected.shape, msg
    np.testing.assert_array_equal(got.astype(np.float64), expected.astype(np.float64), err_msg=msg)


def _regular(op: str, x: np.ndarray, dt: np.dtype) -> list[float]:
    """The correctly rounded result for a finite slice, from mpmath (independent of the oracle)."""
    with mpmath.workdps(MP_DPS):
        return [mp_round(y, dt) for y in mp_exact_ops(to_floats(x))[op]]


# ---------------------------------------------------------------------------
# one checker per row of LIMITS_TABLE


def check_nan(dt: np.dtype) -> None:
    rows = _arr([[1.0, NAN, 2.0], [NAN, INF, -INF], [NAN, NAN, NAN], [0.5, 1.0, -2.0]], dt)
    for op in OPS:
        got = oracle.evaluate(op, rows)
        assert got.dtype == dt
        assert np.all(np.isnan(got[:3].astype(np.float64))), op
        # the regular row next to them is unaffected
        np.testing.assert_array_equal(got[3], oracle.evaluate(op, rows[3]))


def check_posinf(dt: np.dtype) -> None:
    for k in (1, 2, 3):
        for others in ([], [1.0], [-5.0, 3.0], [-INF], [1.0, -INF, 7.0]):
            x = _arr([INF] * k + others, dt)
            share = _rounded(mpmath.mpf(1) / k, dt)
            n_other = len(others)
            _assert_values(oracle.softmax(x), [share] * k + [0.0] * n_other, dt)
            log_share = _rounded(-mpmath.log(k), dt)
            _assert_values(oracle.log_softmax(x), [log_share] * k + [-INF] * n_other, dt)
            sn = oracle.sum_normalize(x)
            if -INF in others:  # inf - inf
                assert np.all(np.isnan(sn.astype(np.float64)))
            else:
                _assert_values(sn, [share] * k + [0.0] * n_other, dt)


def check_partial_neginf(dt: np.dtype) -> None:
    for x in ([1.0, -INF, 2.0, -INF], [-INF, 0.5], [3.0, -INF, -INF, -INF], [-INF, 2.0, 2.0]):
        x = _arr(x, dt)
        masked = np.isneginf(x.astype(np.float64))
        sm, lsm = oracle.softmax(x), oracle.log_softmax(x)
        assert np.all(sm[masked].astype(np.float64) == 0)
        assert np.all(np.isneginf(lsm[masked].astype(np.float64)))
        _assert_values(sm[~masked], _regular("softmax", x[~masked], dt), dt)
        _assert_values(lsm[~masked], _regular("log_softmax", x[~masked], dt), dt)
        np.testing.assert_array_equal(sm[~masked], oracle.softmax(x[~masked]))
        k = int(masked.sum())
        expected = np.where(masked, _rounded(mpmath.mpf(1) / k, dt), 0.0)
        _assert_values(oracle.sum_normalize(x), list(expected), dt)


def check_all_neginf(dt: np.dtype) -> None:
    for n in (1, 2, 5):
        x = _arr([-INF] * n, dt)
        for op in SOFTMAX_OPS:
            got = oracle.evaluate(op, x)
            assert got.dtype == dt and np.all(np.isnan(got.astype(np.float64))), (op, n)
        _assert_values(oracle.sum_normalize(x), [_rounded(mpmath.mpf(1) / n, dt)] * n, dt)


def check_zero_sum(dt: np.dtype) -> None:
    for x in ([1.0, -1.0], [0.0, 0.0, 0.0], [2.5, -1.0, -1.5], [0.0], [-0.0, 0.0], [3.0, -2.0, -1.0, 0.0]):
        x = _arr(x, dt)
        got = oracle.sum_normalize(x)
        assert got.dtype == dt and np.all(np.isnan(got.astype(np.float64))), x
        for op in SOFTMAX_OPS:  # regular for the softmax ops
            _assert_values(oracle.evaluate(op, x), _regular(op, x, dt), dt)


def check_l1_contract(dt: np.dtype) -> None:
    """x / max(sum|x|, eps) for torch's, Keras's and no eps, the eps rounded to ``dt`` by NumPy's
    cast (as the framework rounds a Python scalar), the quotient from mpmath."""
    tiny = float(dtype_info(dt).tiny)
    rows = (
        [1.0, -3.0, 2.0],
        [0.0, 0.0, 0.0],
        [-0.0, 0.0, -0.0],
        [tiny, -tiny, 0.0],
        [INF, -INF, 1.0],
        [NAN, 1.0, 2.0],
    )
    for eps in (1e-12, 1e-7, None):
        op = with_contract("sum_normalize", Contract(L1_NORMALIZE, eps=eps))
        eps_r = None if eps is None else float(np.array(eps).astype(dt).astype(np.float64))
        for row in rows:
            x = _arr(row, dt)
            got = oracle.evaluate(op, x)
            xs = to_floats(x)
            if any(math.isnan(v) for v in xs):
                expected = [NAN] * 3
            elif any(math.isinf(v) for v in xs):
                k = sum(math.isinf(v) for v in xs)
                expected = [math.copysign(1 / k, v) if math.isinf(v) else 0.0 for v in xs]
            else:
                with mpmath.workdps(MP_DPS):
                    total = mpmath.fsum(abs(mpmath.mpf(v)) for v in xs)
                    denom = total if eps_r is None else max(total, mpmath.mpf(eps_r))
                    if denom == 0:  # zeros, and the eps rounded to 0: the documented eps still says 0
                        expected = [NAN if eps is None else 0.0] * 3
                    else:
                        expected = [mp_round(mpmath.mpf(v) / denom, dt) for v in xs]
            assert got.dtype == dt, (eps, row)
            np.testing.assert_array_equal(
                got.astype(np.float64), np.array(expected), err_msg=f"eps={eps} {row}"
            )


def check_negative(dt: np.dtype) -> None:
    cases = {(3.0, -1.0): [1.5, -0.5], (-1.0, -3.0): [0.25, 0.75], (4.0, -2.0, -1.0): [4.0, -2.0, -1.0]}
    for x, expected in cases.items():
        got = oracle.sum_normalize(_arr(list(x), dt))
        _assert_values(got, expected, dt)
    got = oracle.sum_normalize(_arr([5.0, -4.0], dt)).astype(np.float64)
    assert got[0] > 1 and got[1] < 0  # outside [0, 1]


def check_empty(dt: np.dtype) -> None:
    for shape, axis in (((0,), -1), ((3, 0), -1), ((3, 0), 0), ((0, 3), -1), ((2, 0, 4), 1), ((2, 0, 4), -1)):
        x = np.zeros(shape, dtype=dt)
        for op in OPS:
            got = oracle.evaluate(op, x, axis=axis)
            assert got.shape == shape and got.dtype == dt, (op, shape, axis)


def test_empty_integer_input_gives_float64() -> None:
    for op in OPS:
        got = oracle.evaluate(op, np.zeros((2, 0), dtype=np.int32))
        assert got.shape == (2, 0) and got.dtype == np.float64


def check_zero_d(dt: np.dtype) -> None:
    cases = {
        2.5: (1.0, 0.0, 1.0),
        -7.0: (1.0, 0.0, 1.0),
        0.0: (1.0, 0.0, NAN),
        NAN: (NAN, NAN, NAN),
        -INF: (NAN, NAN, 1.0),
        INF: (1.0, 0.0, 1.0),
    }
    for value, expected in cases.items():
        x = np.array(value).astype(dt)
        for op, e in zip(OPS, expected, strict=True):
            for axis in (-1, 0):
                got = oracle.evaluate(op, x, axis=axis)
                assert got.shape == () and got.dtype == dt, (op, value)
                g = float(got)
                assert (math.isnan(g) and math.isnan(e)) or g == e, (op, value, g, e)


def check_integer(dt: np.dtype) -> None:
    values = [1, 2, 4, 5, 6]
    for int_dt in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64):
        x = np.array(values, dtype=int_dt)
        for op in OPS:
            got = oracle.evaluate(op, x)
            assert got.dtype == np.float64
            np.testing.assert_array_equal(got, oracle.evaluate(op, x.astype(np.float64)))
            with_dtype = oracle.evaluate(op, x, dtype=dt)
            assert with_dtype.dtype == dt
            np.testing.assert_array_equal(with_dtype.astype(np.float64), _regular(op, x, dt))
    b = np.array([True, False, True])
    for op in OPS:
        got = oracle.evaluate(op, b)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, oracle.evaluate(op, b.astype(np.float64)))


def check_all_masked(dt: np.dtype) -> None:
    from reference.contracts import MASKED, with_contract

    x = np.array([[-INF, -INF, -INF], [-INF, 0.0, 1.0]]).astype(dt)
    for op, limit in (("softmax", 0.0), ("log_softmax", -INF)):
        masked = with_contract(op, MASKED)
        for xs, axis in ((x, -1), (np.ascontiguousarray(x.T), 0)):
            got = np.moveaxis(oracle.evaluate(masked, xs, axis=axis), axis, -1).astype(np.float64)
            assert np.all(got[0] == limit), (op, got[0])
            # the partly masked slice is the op's own answer; the plain op leaves the full one NaN
            np.testing.assert_array_equal(got[1], oracle.evaluate(op, x[1:], axis=-1)[0].astype(np.float64))
            assert np.isnan(oracle.evaluate(op, x[:1], axis=-1).astype(np.float64)).all()


CHECKS = {
    "NaN anywhere in a slice": check_nan,
    "+inf entries (k of them), no NaN": check_posinf,
    "some -inf entries, not all": check_partial_neginf,
    "every entry -inf": check_all_neginf,
    LIMITS_TABLE[4][0]: check_all_masked,  # a masked API's contract
    "finite slice with exact sum 0": check_zero_sum,
    LIMITS_TABLE[6][0]: check_l1_contract,  # the L1 normalization contract
    "negative entries, non-zero sum": check_negative,
    "axis of length 0 (empty slice)": check_empty,
    "0-d input": check_zero_d,
    "integer input": check_integer,
}


def test_every_table_row_is_checked() -> None:
    assert [row[0] for row in LIMITS_TABLE] == list(CHECKS)
    assert all(len(row) == 4 and all(isinstance(c, str) and c for c in row) for row in LIMITS_TABLE)


@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("row", [row[0] for row in LIMITS_TABLE])
def test_limits_table_row(row: str, dt: np.dtype) -> None:
    CHECKS[row](dt)


# ---------------------------------------------------------------------------
# shapes, axes, layouts, dtypes


def _moved(op: str, x: np.ndarray, axis: int, **kw: object) -> np.ndarray:
    return np.moveaxis(oracle.evaluate(op, np.moveaxis(x, axis, -1), axis=-1, **kw), -1, axis)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_any_axis_equals_moving_the_axis(op: str, dt: np.dtype) -> None:
    rng = np.random.default_rng(5)
    for shape in ((3, 4, 5), (2, 3, 1, 4)):
        x = rng.normal(0, 3, shape).astype(dt)
        x.flat[7] = -np.inf  # a masked entry and a NaN slice in the mix
        x.flat[11] = np.nan
        for axis in range(-len(shape), len(shape)):
            got = oracle.evaluate(op, x, axis=axis)
            assert got.shape == x.shape and got.dtype == dt
            _assert_same_array(got, _moved(op, x, axis), f"{op} axis={axis}")


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_non_contiguous_equals_contiguous_copy(op: str, dt: np.dtype) -> None:
    rng = np.random.default_rng(6)
    base = rng.normal(0, 2, (6, 8, 10)).astype(dt)
    views = [
        base[:, ::2],
        base[::-1, :, 1::3],
        base.transpose(2, 0, 1),
        np.asfortranarray(base),
        base[..., ::-2],
    ]
    for v in views:
        for axis in (-1, 0, 1):
            got = oracle.evaluate(op, v, axis=axis)
            _assert_same_array(got, oracle.evaluate(op, np.ascontiguousarray(v), axis=axis))


@pytest.mark.parametrize("op", OPS)
def test_dtype_override_rounds_the_exact_value(op: str) -> None:
    """float16 input with dtype=float32 is the correctly rounded float32, not the float16 result widened."""
    x16 = _arr([0.1, 0.7, -1.3, 2.2, 0.0], np.float16)
    for out in (np.dtype(np.float32), BFLOAT16, np.dtype(np.float64)):
        got = oracle.evaluate(op, x16, dtype=out)
        _assert_values(got, _regular(op, x16, out), out)
    widened = oracle.evaluate(op, x16).astype(np.float32)
    assert not np.array_equal(oracle.evaluate(op, x16, dtype=np.float32), widened)
    x64 = np.array([0.123456789, 1.5, -2.25, 3.0e-3])
    for out in (np.dtype(np.float16), BFLOAT16, np.dtype(np.float32)):
        _assert_values(oracle.evaluate(op, x64, dtype=out), _regular(op, x64, out), out)


@pytest.mark.parametrize("op", OPS)
def test_invalid_axis_raises_axis_error(op: str) -> None:
    x = np.ones((2, 3))
    for axis in (2, -3, 10):
        with pytest.raises(np.exceptions.AxisError):
            oracle.evaluate(op, x, axis=axis)
    with pytest.raises(np.exceptions.AxisError):
        oracle.evaluate(op, np.array(1.0), axis=1)
    with pytest.raises(np.exceptions.AxisError):
        oracle.evaluate(op, np.ones(0), axis=1)


@pytest.mark.parametrize("op", OPS)
def test_unsupported_input_raises_type_error(op: str) -> None:
    for bad in (np.array(["a", "b"]), np.array([b"a"]), np.array([1 + 2j]), np.array([1.0], dtype=object)):
        with pytest.raises(TypeError):
            oracle.evaluate(op, bad)


def test_unknown_op_and_output_dtype_raise_value_error() -> None:
    with pytest.raises(ValueError):
        oracle.evaluate("softplus", np.ones(3))
    with pytest.raises(ValueError):
        oracle.exact("softplus", np.ones(3))
    with pytest.raises(ValueError):
        oracle.softmax(np.ones(3), dtype=np.int32)


@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_exact_returns_the_working_precision(dt: np.dtype, float64_path: str) -> None:
    x = _arr([1.0, 2.0, 3.0], dt)
    work = oracle.exact("softmax", x)
    if dtype_info(dt).name != "float64":
        assert work.dtype == np.float64
    elif float64_path == "longdouble":
        assert work.dtype == np.longdouble


# ---------------------------------------------------------------------------
# slice_kinds


def test_slice_kinds_vocabulary() -> None:
    assert REGULAR in SLICE_KINDS and len(set(SLICE_KINDS)) == len(SLICE_KINDS)


@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_slice_kinds_softmax_ops(dt: np.dtype) -> None:
    rows = {
        "nan": [1.0, NAN, INF, -INF],
        "posinf": [INF, -INF, -INF, 0.0],
        "all_neginf": [-INF, -INF, -INF, -INF],
        "neginf": [-INF, 1.0, 2.0, -INF],
        REGULAR: [-1.0, 0.0, 1.0, -1.0],
    }
    x = _arr(list(rows.values()), dt)
    for op in SOFTMAX_OPS:
        assert list(slice_kinds(op, x, -1)) == list(rows)
        assert list(slice_kinds(op, x.T, 0)) == list(rows)
        assert list(slice_kinds(op, x.T, -2)) == list(rows)


@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_slice_kinds_sum_normalize(dt: np.dtype) -> None:
    rows = {
        "nan": [1.0, NAN, INF, 0.0],
        "inf": [INF, 1.0, -1.0, 0.0],
        "zero_sum": [2.0, -1.0, -1.0, 0.0],
        "negative": [2.0, -1.0, 0.5, 0.0],
        REGULAR: [2.0, 1.0, 0.5, 0.0],
    }
    x = _arr(list(rows.values()), dt)
    assert list(slice_kinds("sum_normalize", x, -1)) == list(rows)
    assert list(slice_kinds("sum_normalize", x.T, 0)) == list(rows)
    more = _arr([[0.0, 0.0], [-INF, -INF], [-1.0, -2.0], [INF, -INF]], dt)
    assert list(slice_kinds("sum_normalize", more, -1)) == ["zero_sum", "inf", "negative", "inf"]


def test_slice_kinds_shapes() -> None:
    x = np.zeros((2, 3, 4))
    assert slice_kinds("softmax", x, 1).shape == (2, 4)
    assert slice_kinds("sum_normalize", x, -1).shape == (2, 3)
    assert np.all(slice_kinds("sum_normalize", x, -1) == "zero_sum")
    empty = slice_kinds("softmax", np.zeros((3, 0)), -1)
    assert empty.shape == (3,) and np.all(empty == REGULAR)


def test_slice_kinds_zero_sum_is_exact() -> None:
    """A sum that is zero only in rounded arithmetic is not zero: 1e16 + 1 - 1e16. It is within a
    float64 sum's rounding of zero, though (cancelled_sum: defined, not judged); a sum well clear
    of its rounding is an ordinary negative slice."""
    x = np.array([[1e16, 1.0, -1e16], [0.1, 0.2, -0.3], [0.5, 0.25, -0.75], [0.5, 0.25, -0.5]])
    kinds = ["cancelled_sum", "cancelled_sum", "zero_sum", "negative"]
    assert list(slice_kinds("sum_normalize", x, -1)) == kinds
