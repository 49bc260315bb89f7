"""Correct rounding (``reference.rounding.round_to_dtype``): nearest, ties to even, once.

The 16-bit formats are checked exhaustively: for every pair of neighbouring finite
values a < b, the midpoint rounds to the one with the even last bit, and the
numbers just above and just below it round to b and a, from each wider source
type (float32, float64, longdouble). float32 and float64 targets are compared
with NumPy's casts (single roundings) and checked at random midpoints.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from helpers import BFLOAT16, DTYPE_IDS, FLOAT_DTYPES, all_finite_sorted, from_ordinal, random_finite

from reference.dtypes import dtype_info
from reference.rounding import round_to_dtype
from reference.ulp import ordinal

SEED = 777
LD = np.longdouble
EXTENDED_LD = np.finfo(LD).nmant >= 63  # False where longdouble is just float64
needs_extended_ld = pytest.mark.skipif(not EXTENDED_LD, reason="longdouble is float64 here")
HALF_TYPES = (np.dtype(np.float16), BFLOAT16)
HALF_IDS = ("float16", "bfloat16")
SOURCES = (np.float32, np.float64, LD)
SOURCE_IDS = ("from_float32", "from_float64", "from_longdouble")


def _assert_same(got: np.ndarray, expected: np.ndarray) -> None:
    """Equal values, NaN where NaN, and the same sign (zeros included)."""
    g = got.astype(np.float64)
    e = np.asarray(expected).astype(np.float64)
    np.testing.assert_array_equal(g, e)
    np.testing.assert_array_equal(np.signbit(g), np.signbit(e))


def _neighbour_pairs(dt: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, expected tie result) for every pair of neighbouring finite values a < b."""
    values = all_finite_sorted(dt)
    a, b = values[:-1], values[1:]
    even_a = (a.view(np.uint16) & 1) == 0
    even_b = (b.view(np.uint16) & 1) == 0
    assert np.all(even_a != even_b)  # exactly one of two neighbours has an even last bit
    return a, b, np.where(even_a, a, b)


@pytest.mark.parametrize("src", SOURCES, ids=SOURCE_IDS)
@pytest.mark.parametrize("dt", HALF_TYPES, ids=HALF_IDS)
def test_exhaustive_ties_to_even(dt: np.dtype, src: type) -> None:
    a, b, tie = _neighbour_pairs(dt)
    m = a.astype(src) + (b.astype(src) - a.astype(src)) / src(2)  # exact: one bit more than a, b
    assert np.all((m > a.astype(src)) & (m < b.astype(src)))
    rounded = round_to_dtype(m, dt)
    assert rounded.dtype == dt
    expected = tie.astype(np.float64)
    # a midpoint next to zero rounds to a zero of the midpoint's sign
    expected = np.where(expected == 0, np.copysign(0.0, m.astype(np.float64)), expected)
    _assert_same(rounded, expected)


@pytest.mark.parametrize("src", SOURCES, ids=SOURCE_IDS)
@pytest.mark.parametrize("dt", HALF_TYPES, ids=HALF_IDS)
def test_exhaustive_just_off_the_midpoint(dt: np.dtype, src: type) -> None:
    a, b, _ = _neighbour_pairs(dt)
    m = a.astype(src) + (b.astype(src) - a.astype(src)) / src(2)
    above = np.nextafter(m, src(np.inf))
    below = np.nextafter(m, src(-np.inf))
    up = round_to_dtype(above, dt).astype(np.float64)
    down = round_to_dtype(below, dt).astype(np.float64)
    np.testing.assert_array_equal(up, b.astype(np.float64))
    np.testing.assert_array_equal(down, a.astype(np.float64))
    if src is not np.float32:  # a relative nudge far below the 16-bit precision
        nudge = np.abs(m) * src(2.0**-40)
        np.testing.assert_array_equal(round_to_dtype(m + nudge, dt).astype(np.float64), b.astype(np.float64))
        np.testing.assert_array_equal(round_to_dtype(m - nudge, dt).astype(np.float64), a.astype(np.float64))


@pytest.mark.parametrize("src", SOURCES, ids=SOURCE_IDS)
@pytest.mark.parametrize("dt", HALF_TYPES, ids=HALF_IDS)
def test_representable_values_are_unchanged(dt: np.dtype, src: type) -> None:
    values = all_finite_sorted(dt)
    values = np.concatenate([values, np.array([-0.0]).astype(dt)])
    _assert_same(round_to_dtype(values.astype(src), dt), values)


def test_documented_double_rounding_trap_bfloat16() -> None:
    """1 + 2**-8 + 2**-30 is above the midpoint 1 + 2**-8: it rounds up to 1 + 2**-7.

    (Converting through float32 first, as ml_dtypes' own float64 cast does, loses the
    2**-30 and then rounds the tie to 1.0.)
    """
    x = np.array([1 + 2.0**-8 + 2.0**-30, -(1 + 2.0**-8 + 2.0**-30)])
    _assert_same(round_to_dtype(x, BFLOAT16), [1 + 2.0**-7, -(1 + 2.0**-7)])
    if EXTENDED_LD:
        y = np.array([LD(1) + LD(2.0) ** -8 + LD(2.0) ** -60])
        _assert_same(round_to_dtype(y, BFLOAT16), [1 + 2.0**-7])


def test_double_rounding_trap_float16() -> None:
    x = np.array([1 + 2.0**-11 + 2.0**-40])  # the 2**-40 vanishes in float32
    _assert_same(round_to_dtype(x, np.float16), [1 + 2.0**-10])
    if EXTENDED_LD:
        y = np.array([LD(1) + LD(2.0) ** -11 + LD(2.0) ** -60])  # and in float64
        _assert_same(round_to_dtype(y, np.float16), [1 + 2.0**-10])


@needs_extended_ld
def test_double_rounding_trap_float32_from_longdouble() -> None:
    y = np.array([LD(1) + LD(2.0) ** -24 + LD(2.0) ** -60])  # the 2**-60 vanishes in float64
    _assert_same(round_to_dtype(y, np.float32), [1 + 2.0**-23])


@pytest.mark.parametrize("src", (np.float64, LD), ids=("from_float64", "from_longdouble"))
@pytest.mark.parametrize("dt", FLOAT_DTYPES[:3], ids=DTYPE_IDS[:3])
def test_overflow(dt: np.dtype, src: type) -> None:
    info = dtype_info(dt)
    big = src(info.max)
    half_ulp = src(2.0) ** (info.max_exponent - info.precision)  # half the spacing at max
    at_midpoint = big + half_ulp  # the largest finite has an odd last bit: the tie goes to inf
    x = np.array([at_midpoint, np.nextafter(at_midpoint, src(0)), big, big * 4, src(1e300)], dtype=src)
    x = np.concatenate([x, -x])
    expected = np.array([np.inf, info.max, info.max, np.inf, np.inf])
    with np.errstate(over="ignore"):
        got = round_to_dtype(x, dt)
    _assert_same(got, np.concatenate([expected, -expected]))


NARROWING = [
    pytest.param(dt, src, id=f"{name}-{src_id}")
    for dt, name in zip(FLOAT_DTYPES, DTYPE_IDS, strict=True)
    for src, src_id in zip(SOURCES, SOURCE_IDS, strict=True)
    if np.finfo(src).nmant + 1 > dtype_info(dt).precision
]


@pytest.mark.parametrize(("dt", "src"), NARROWING)
def test_underflow_and_signed_zeros(dt: np.dtype, src: type) -> None:
    info = dtype_info(dt)
    s = src(info.smallest_subnormal)
    x = np.array([s / 2, np.nextafter(s / 2, src(1)), s / 4, s * 1.5, s * 2.5, 0.0], dtype=src)
    x = np.concatenate([x, -x])
    expected = np.array(
        [0.0, info.smallest_subnormal, 0.0, 2 * info.smallest_subnormal, 2 * info.smallest_subnormal, 0.0]
    )
    _assert_same(round_to_dtype(x, dt), np.concatenate([expected, -expected]))


@pytest.mark.parametrize("src", SOURCES, ids=SOURCE_IDS)
@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_nan_and_infinities_pass_through(dt: np.dtype, src: type) -> None:
    x = np.array([np.nan, np.inf, -np.inf, -np.nan], dtype=src)
    got = round_to_dtype(x, dt).astype(np.float64)
    assert np.isnan(got[0]) and np.isnan(got[3])
    np.testing.assert_array_equal(got[1:3], [np.inf, -np.inf])


@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_shape_dtype_and_zero_d(dt: np.dtype) -> None:
    x = np.linspace(-3, 3, 24, dtype=LD).reshape(2, 3, 4)
    got = round_to_dtype(x, dt)
    assert got.dtype == dt and got.shape == x.shape
    zero_d = round_to_dtype(np.array(LD(1) / 3), dt)
    assert zero_d.dtype == dt and zero_d.shape == ()
    assert zero_d == round_to_dtype(np.array([LD(1) / 3]), dt)[0]
    same = np.ones(3, dtype=dt)
    out = round_to_dtype(same, dt)
    assert out is not same and np.array_equal(out, same)


def _random_float64(rng: np.random.Generator, dt: np.dtype, size: int) -> np.ndarray:
    """float64 values over the target's whole range and a little beyond (over/underflow)."""
    info = dtype_info(dt)
    lo, hi = info.min_exponent - info.precision - 2, info.max_exponent + 2
    x = np.ldexp(rng.uniform(0.5, 1.0, size) * rng.choice([-1.0, 1.0], size), rng.integers(lo, hi, size))
    return np.concatenate([x, rng.normal(0, 1, size)])


@pytest.mark.parametrize("dt", (np.dtype(np.float16), np.dtype(np.float32)), ids=("float16", "float32"))
def test_agrees_with_numpy_casts_from_float64(dt: np.dtype) -> None:
    x = _random_float64(np.random.default_rng(SEED), dt, 50_000)
    with np.errstate(over="ignore"):
        _assert_same(round_to_dtype(x, dt), x.astype(dt))


@pytest.mark.parametrize("dt", (np.dtype(np.float16), BFLOAT16), ids=("float16", "bfloat16"))
def test_random_float64_against_float32_stepping_stone(dt: np.dtype) -> None:
    """Where a value is exact in float32, float64 -> float32 -> 16-bit is a single rounding."""
    rng = np.random.default_rng(SEED + 1)
    x = _random_float64(rng, dt, 50_000).astype(np.float32).astype(np.float64)
    with np.errstate(over="ignore"):
        expected = x.astype(np.float32).astype(dt)
    _assert_same(round_to_dtype(x, dt), expected)
    _assert_same(round_to_dtype(x.astype(LD), dt), expected)


def test_float32_midpoints_from_float64() -> None:
    rng = np.random.default_rng(SEED + 2)
    a = random_finite(rng, np.float32, 20_000)
    a = np.abs(a[np.abs(a) < np.finfo(np.float32).max])
    b = from_ordinal(ordinal(a) + 1, np.float32)
    m = (a.astype(np.float64) + b.astype(np.float64)) / 2
    tie = np.where((a.view(np.uint32) & 1) == 0, a, b)
    _assert_same(round_to_dtype(m, np.float32), tie)
    _assert_same(round_to_dtype(np.nextafter(m, np.inf), np.float32), b)
    _assert_same(round_to_dtype(np.nextafter(m, -np.inf), np.float32), a)


def test_float64_from_longdouble() -> None:
    rng = np.random.default_rng(SEED + 3)
    a = random_finite(rng, np.float64, 20_000)
    a = np.abs(a[np.abs(a) < np.finfo(np.float64).max])
    x = a.astype(LD) * (1 + LD(2.0) ** -53 * rng.uniform(-2, 2, a.size).astype(LD))
    _assert_same(round_to_dtype(x, np.float64), x.astype(np.float64))
    if EXTENDED_LD:  # float64 midpoints exist as longdouble values
        b = from_ordinal(ordinal(a) + 1, np.float64)
        m = (a.astype(LD) + b.astype(LD)) / 2
        tie = np.where((a.view(np.uint64) & 1) == 0, a, b)
        _assert_same(round_to_dtype(m, np.float64), tie)
        _assert_same(round_to_dtype(np.nextafter(m, LD(np.inf)), np.float64), b)
        _assert_same(round_to_dtype(np.nextafter(m, LD(-np.inf)), np.float64), a)


def test_bfloat16_to_float16() -> None:
    """Narrower exponent range: rounds in float16's subnormal range, overflows above its max."""
    bf = all_finite_sorted(BFLOAT16)
    with np.errstate(over="ignore"):
        expected = bf.astype(np.float32).astype(np.float16)  # NumPy's float -> half: one rounding
    _assert_same(round_to_dtype(bf, np.float16), expected)


def test_float16_to_bfloat16() -> None:
    """Every float16 value rounded to bfloat16; float16 -> float32 is exact, float32 -> bfloat16 one rounding.

    The values from 65408 up round to 65536, a bfloat16 number above float16's max.
    """
    h = all_finite_sorted(np.float16)
    _assert_same(round_to_dtype(h, BFLOAT16), h.astype(np.float32).astype(BFLOAT16))


def test_ml_dtypes_is_the_bfloat16_type() -> None:
    assert round_to_dtype(np.array([1.5]), ml_dtypes.bfloat16).dtype == BFLOAT16
