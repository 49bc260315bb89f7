"""ULP helpers (``reference.ulp``) for float16, bfloat16, float32 and float64.

Ground truth: ``np.nextafter`` and ``np.spacing`` for the NumPy dtypes, the 65,536
enumerated bit patterns for bfloat16 (and float16), and ``numpy.testing``'s
``nulp_diff`` on random data.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import (
    BFLOAT16,
    DTYPE_IDS,
    FLOAT_DTYPES,
    NUMPY_ULP_DTYPES,
    all_finite_sorted,
    from_ordinal,
    is_finite,
    random_finite,
)
from numpy.testing._private.utils import nulp_diff

from reference.dtypes import dtype_info
from reference.ulp import ordinal, spacing, ulp_distance, ulp_error

SEED = 4242
NUMPY_IDS = ("float16", "float32", "float64")


def _values(dt: np.dtype, size: int = 20_000) -> np.ndarray:
    """Random finite values: uniform bit patterns plus values of moderate magnitude."""
    rng = np.random.default_rng(SEED)
    bits = random_finite(rng, dt, size // 2)
    with np.errstate(over="ignore"):
        moderate = rng.normal(0, 10.0 ** rng.uniform(-3, 3, size // 2)).astype(dt)
    moderate = moderate[is_finite(moderate)]
    return np.concatenate([bits, moderate])


# ---------------------------------------------------------------------------
# ulp_distance


@pytest.mark.parametrize("dt", NUMPY_ULP_DTYPES, ids=NUMPY_IDS)
def test_adjacent_floats_are_one_apart(dt: np.dtype) -> None:
    x = _values(dt)
    info = dtype_info(dt)
    x = x[np.abs(x.astype(np.float64)) < info.max]
    for direction in (np.inf, -np.inf):
        y = np.nextafter(x, np.array(direction, dtype=dt))
        both_zero = (x == 0) & (y == 0)  # nextafter(-0, +inf) is the smallest subnormal, not +0
        assert np.all(ulp_distance(x, y)[~both_zero] == 1.0)


def test_bfloat16_every_pair_of_neighbours_is_one_apart() -> None:
    values = all_finite_sorted(BFLOAT16)  # -0 dropped: neighbours across zero are -s, +0, +s
    assert values.size == 65536 - 2 * 128 - 1  # all patterns minus inf/NaN exponents, minus -0
    d = ulp_distance(values[:-1], values[1:])
    np.testing.assert_array_equal(d, np.ones_like(d))
    # with both zeros present, the pair (-0, +0) is the only one at distance 0
    everything = np.arange(65536, dtype=np.uint16).view(BFLOAT16)
    everything = everything[is_finite(everything)]
    order = np.argsort(everything.astype(np.float64), kind="stable")
    srt = everything[order]
    d = ulp_distance(srt[:-1], srt[1:])
    zero_pair = (srt[:-1] == 0) & (srt[1:] == 0)
    assert zero_pair.sum() == 1
    assert np.all(d[zero_pair] == 0) and np.all(d[~zero_pair] == 1)


def test_float16_every_pair_of_neighbours_is_one_apart() -> None:
    values = all_finite_sorted(np.float16)
    d = ulp_distance(values[:-1], values[1:])
    np.testing.assert_array_equal(d, np.ones_like(d))


@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_signed_zeros_are_the_same_number(dt: np.dtype) -> None:
    z = np.array([0.0, -0.0]).astype(dt)
    assert ulp_distance(z[0], z[1]) == 0
    assert ulp_distance(z[1], z[0]) == 0


@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_largest_finite_and_infinity_are_one_apart(dt: np.dtype) -> None:
    info = dtype_info(dt)
    a = np.array([info.max, -info.max]).astype(dt)
    b = np.array([np.inf, -np.inf]).astype(dt)
    np.testing.assert_array_equal(ulp_distance(a, b), [1.0, 1.0])
    np.testing.assert_array_equal(ulp_distance(b, a), [1.0, 1.0])
    assert ulp_distance(b[0], b[0]) == 0


@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_nan(dt: np.dtype) -> None:
    nan = np.array(np.nan).astype(dt)
    others = np.array([0.0, -0.0, 1.0, -2.5, np.inf, -np.inf]).astype(dt)
    assert ulp_distance(nan, nan) == 0
    assert np.all(ulp_distance(nan, others) == np.inf)
    assert np.all(ulp_distance(others, nan) == np.inf)
    # a NaN with another payload or sign is still "both NaN"
    bits = np.array(nan).view({2: np.uint16, 4: np.uint32, 8: np.uint64}[nan.dtype.itemsize])
    other_nan = (bits | (bits.dtype.type(1) << bits.dtype.type(8 * nan.dtype.itemsize - 1))).view(nan.dtype)
    assert np.isnan(other_nan.astype(np.float64))
    assert ulp_distance(nan, other_nan) == 0


@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_smallest_subnormals_across_zero_are_two_apart(dt: np.dtype) -> None:
    s = dtype_info(dt).smallest_subnormal
    pair = np.array([s, -s]).astype(dt)
    assert ulp_distance(pair[0], pair[1]) == 2
    assert ulp_distance(pair[0], np.zeros((), dt)) == 1
    assert ulp_distance(pair[1], np.array(-0.0).astype(dt)) == 1


@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_symmetric_and_zero_on_the_diagonal(dt: np.dtype) -> None:
    x = _values(dt, 4000)
    y = np.random.default_rng(SEED + 1).permutation(x)
    np.testing.assert_array_equal(ulp_distance(x, y), ulp_distance(y, x))
    np.testing.assert_array_equal(ulp_distance(x, x), np.zeros(x.shape))


@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_distances_add_along_a_monotone_sequence(dt: np.dtype) -> None:
    rng = np.random.default_rng(SEED + 2)
    # finite ordinals, small enough that the sums stay exact in float64
    limit = min(int(ordinal(np.array(dtype_info(dt).max).astype(dt))), 2**51)
    o = np.sort(rng.integers(-limit, limit, 3000))
    x = from_ordinal(o, dt)
    assert np.all(np.diff(x.astype(np.float64)) >= 0)
    steps = ulp_distance(x[:-1], x[1:])
    np.testing.assert_array_equal(steps, np.diff(o).astype(np.float64))
    np.testing.assert_array_equal(np.cumsum(steps), ulp_distance(x[0], x[1:]))
    # a < b < c: d(a, c) = d(a, b) + d(b, c), across zero included
    a, b, c = x[:1000], x[1000:2000], x[2000:]
    np.testing.assert_array_equal(ulp_distance(a, c), ulp_distance(a, b) + ulp_distance(b, c))


@pytest.mark.parametrize("dt", NUMPY_ULP_DTYPES, ids=NUMPY_IDS)
def test_agrees_with_numpy_nulp_diff(dt: np.dtype) -> None:
    x = _values(dt, 20_000)
    rng = np.random.default_rng(SEED + 3)
    y_far = rng.permutation(x)
    y_near = from_ordinal(ordinal(x) + rng.integers(-1000, 1001, x.size), dt)
    y_near = np.where(is_finite(y_near), y_near, x)
    for y in (y_far, y_near):
        ours = ulp_distance(x, y)
        # nulp_diff returns the integer difference converted to x's own float dtype
        theirs = nulp_diff(x, y).reshape(ours.shape)
        assert theirs.dtype == dt
        # and NumPy's integer difference wraps around beyond the signed range of the bit width
        representable = ours < 2.0 ** (8 * np.dtype(dt).itemsize - 1)
        assert representable.mean() > 0.4
        np.testing.assert_allclose(
            ours[representable].astype(dt).astype(np.float64),
            theirs[representable].astype(np.float64),
            rtol=2.0**-52,
            atol=0,
        )
        small = ours < 2**10  # exact in every dtype
        assert small.sum() > 100 or y is y_far
        np.testing.assert_array_equal(ours[small], theirs[small].astype(np.float64))


def test_mixed_dtypes_are_rejected() -> None:
    with pytest.raises(TypeError):
        ulp_distance(np.float32(1), np.float64(1))


# ---------------------------------------------------------------------------
# spacing


@pytest.mark.parametrize("dt", NUMPY_ULP_DTYPES, ids=NUMPY_IDS)
def test_spacing_agrees_with_numpy(dt: np.dtype) -> None:
    info = dtype_info(dt)
    x = np.abs(_values(dt))
    if np.dtype(dt).itemsize == 2:
        x = np.concatenate([x, all_finite_sorted(dt)])
    x = np.concatenate([x, np.array([0.0, info.tiny, info.smallest_subnormal, 1.0]).astype(dt)])
    x = x[(x >= 0) & (x < info.max)]  # np.spacing(max) is inf: the next number is beyond the format
    got = spacing(x.astype(np.float64), dt)
    np.testing.assert_array_equal(got, np.spacing(x).astype(np.float64))
    # the real value between two floats has the spacing of the lower one's binade
    np.testing.assert_array_equal(spacing(x.astype(np.float64) * (1 + 2.0**-60), dt)[x > 0], got[x > 0])


def test_spacing_bfloat16_matches_enumerated_gaps() -> None:
    values = all_finite_sorted(BFLOAT16).astype(np.float64)
    positive = values[values >= 0]
    gaps = np.diff(positive)
    np.testing.assert_array_equal(spacing(positive[:-1], BFLOAT16), gaps)
    # at the largest finite value the gap is the one below it
    assert spacing(positive[-1:], BFLOAT16)[0] == gaps[-1]
    # symmetric in sign
    np.testing.assert_array_equal(spacing(-positive, BFLOAT16), spacing(positive, BFLOAT16))


def test_spacing_float16_matches_enumerated_gaps() -> None:
    values = all_finite_sorted(np.float16).astype(np.float64)
    positive = values[values >= 0]
    np.testing.assert_array_equal(spacing(positive[:-1], np.float16), np.diff(positive))


@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_spacing_of_non_finite_is_nan(dt: np.dtype) -> None:
    assert np.all(np.isnan(spacing(np.array([np.nan, np.inf, -np.inf]), dt)))


def test_spacing_accepts_longdouble_real_values() -> None:
    x = np.array([1.0], dtype=np.longdouble) + np.longdouble(2.0) ** -60  # not a float64
    got = spacing(x, np.float64)
    assert got.dtype == np.longdouble and got[0] == 2.0**-52


@pytest.mark.skipif(np.finfo(np.longdouble).nmant <= 52, reason="long double is float64 here")
def test_spacing_of_longdouble_just_below_a_power_of_two() -> None:
    # 2**k (1 - 2**-60) rounds to 2**k in float64, yet lies in the binade below it
    k = np.arange(-1000, 1000, 7)
    x = np.ldexp(np.longdouble(1) - np.longdouble(2) ** -60, k)
    assert np.all(x.astype(np.float64) == np.ldexp(1.0, k))
    np.testing.assert_array_equal(spacing(x, np.float64), np.ldexp(np.longdouble(1), k - 1 - 52))
    np.testing.assert_array_equal(spacing(-x, np.float32), np.maximum(np.ldexp(1.0, k - 1 - 23), 2.0**-149))
    exact_powers = np.ldexp(np.longdouble(1), k)  # at the power itself: its own binade
    np.testing.assert_array_equal(spacing(exact_powers, np.float64), np.ldexp(np.longdouble(1), k - 52))


@pytest.mark.skipif(np.finfo(np.longdouble).maxexp <= 1024, reason="long double is float64 here")
def test_spacing_of_longdouble_beyond_float64_range() -> None:
    x = np.array([2.0, 1.0], dtype=np.longdouble) * np.longdouble(2) ** 1030  # past float64's max
    np.testing.assert_array_equal(spacing(x, np.float64), np.ldexp(np.longdouble(1), [1031 - 52, 1030 - 52]))


def test_spacing_keeps_shape_and_layout() -> None:
    x = np.asfortranarray(np.arange(1.0, 13.0).reshape(3, 4))
    for a in (x, x.astype(np.longdouble), x[:, ::2]):
        got = spacing(a, np.float32)
        assert got.shape == a.shape
        np.testing.assert_array_equal(got, np.spacing(np.asarray(a, np.float32)).astype(np.float64))
    assert spacing(np.float64(3.0), np.float16).shape == ()
    assert spacing(np.longdouble(3.0), np.float16) == 2.0**-9


# ---------------------------------------------------------------------------
# ulp_error


@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_ulp_error_zero_for_exact_values(dt: np.dtype) -> None:
    x = _values(dt, 4000)
    np.testing.assert_array_equal(ulp_error(x, x.astype(np.float64), dt), np.zeros(x.shape))


@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_ulp_error_half_at_midpoints(dt: np.dtype) -> None:
    info = dtype_info(dt)
    if info.name == "float64" and np.finfo(np.longdouble).nmant < 63:
        pytest.skip("float64 midpoints need an extended longdouble")
    x = np.abs(_values(dt, 4000))
    x = x[x.astype(np.float64) < info.max]
    nxt = from_ordinal(ordinal(x) + 1, dt)
    mid = (x.astype(np.longdouble) + nxt.astype(np.longdouble)) / 2  # exact in longdouble
    np.testing.assert_array_equal(ulp_error(x, mid, dt), np.full(x.shape, 0.5))
    np.testing.assert_array_equal(ulp_error(nxt, mid, dt), np.full(x.shape, 0.5))
    np.testing.assert_array_equal(ulp_error(-x, -mid, dt), np.full(x.shape, 0.5))
    # one whole step
    np.testing.assert_array_equal(ulp_error(nxt, x.astype(np.float64), dt)[x > 0], 1.0)


@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_ulp_error_special_values(dt: np.dtype) -> None:
    a = np.array([np.inf, -np.inf, np.nan, np.nan, 1.0, np.inf]).astype(dt)
    exact = np.array([np.inf, -np.inf, np.nan, 1.0, np.nan, -np.inf])
    np.testing.assert_array_equal(ulp_error(a, exact, dt), [0.0, 0.0, 0.0, np.inf, np.inf, np.inf])
