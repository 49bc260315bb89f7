"""Worked examples: softmax, log-softmax and sum-normalization of x = [1, 2, 4, 5, 6].

    softmax(x)       = exp(x_i) / sum_j exp(x_j)
                     = [0.00440888, 0.01198457, 0.08855466, 0.24071653, 0.65433536]  (8 decimals)
    log_softmax(x)   = x_i - log(sum_j exp(x_j))
                     = [-5.42413527, -4.42413527, -2.42413527, -1.42413527, -0.42413527]
    sum_normalize(x) = x / 18 = [1/18, 2/18, 4/18, 5/18, 6/18]

The expected values are derived here from mpmath (softmax, log-softmax) and exact
fractions (sum-normalization); the float16, bfloat16 and float32 results must be
the correctly rounded values (ULP distance 0), the float64 ones within 1 ULP.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from helpers import DTYPE_IDS, FLOAT_DTYPES

import reference.oracle as oracle
from reference.dtypes import dtype_info
from reference.ulp import ulp_distance

X = [1, 2, 4, 5, 6]
SOFTMAX_8_DECIMALS = [0.00440888, 0.01198457, 0.08855466, 0.24071653, 0.65433536]
LOG_SOFTMAX_8_DECIMALS = [-5.42413527, -4.42413527, -2.42413527, -1.42413527, -0.42413527]


def _softmax_mp() -> list[mpmath.mpf]:
    with mpmath.workdps(60):
        e = [mpmath.exp(v) for v in X]
        s = mpmath.fsum(e)
        return [t / s for t in e]


def _log_softmax_mp() -> list[mpmath.mpf]:
    with mpmath.workdps(60):
        lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in X))
        return [v - lse for v in X]


def _round_fraction(f: Fraction, dt: np.dtype) -> float:
    """Correct rounding of a rational in the normal range: Fraction's round() is half-to-even."""
    info = dtype_info(dt)
    e = math.floor(math.log2(abs(f)))
    if Fraction(2) ** e > abs(f):  # log2 of a float may round up across a power of two
        e -= 1
    elif Fraction(2) ** (e + 1) <= abs(f):
        e += 1
    assert info.min_exponent <= e <= info.max_exponent
    q = Fraction(2) ** (e - info.precision + 1)
    return float(round(f / q) * q)


def _round_mp(y: mpmath.mpf, dt: np.dtype) -> float:
    """Correct rounding of a 60-digit value: as a fraction (these are nowhere near a midpoint)."""
    with mpmath.workdps(60):
        man, exp = abs(mpmath.mpf(y)).man_exp
    magnitude = _round_fraction(Fraction(int(man)) * Fraction(2) ** int(exp), dt)
    return -magnitude if y < 0 else magnitude


def test_the_8_decimal_values_are_right() -> None:
    """The hand-computed values agree with mpmath to 8 decimals, and the oracle with both."""
    exact = _softmax_mp()
    got = oracle.softmax(np.array(X, dtype=np.float64))
    for y, given, g in zip(exact, SOFTMAX_8_DECIMALS, got, strict=True):
        assert abs(y - given) <= 5e-9
        assert abs(g - given) <= 5e-9 + 1e-15
    assert abs(float(mpmath.fsum(exact)) - 1) < 1e-15
    for y, given, g in zip(
        _log_softmax_mp(), LOG_SOFTMAX_8_DECIMALS, oracle.log_softmax(np.array(X, float)), strict=True
    ):
        assert abs(y - given) <= 5e-9
        assert abs(g - given) <= 5e-9 + 1e-14
    # the ratios of consecutive entries are exp of the differences: the definition, not a fit
    assert np.allclose(got[1:] / got[:-1], np.exp(np.diff(X)), rtol=1e-15)


def _expected(op: str, dt: np.dtype) -> list[float]:
    if op == "softmax":
        return [_round_mp(y, dt) for y in _softmax_mp()]
    if op == "log_softmax":
        return [_round_mp(y, dt) for y in _log_softmax_mp()]
    return [_round_fraction(Fraction(v, 18), dt) for v in X]


@pytest.mark.parametrize("op", oracle.OPS)
@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_correctly_rounded(dt: np.dtype, op: str) -> None:
    x = np.array(X, dtype=np.float64).astype(dt)
    got = oracle.evaluate(op, x)
    assert got.dtype == dt
    expected = np.array(_expected(op, dt)).astype(dt)
    distance = ulp_distance(got, expected)
    if dtype_info(dt).name == "float64":
        assert np.all(distance <= 1), (got, expected)
    else:
        np.testing.assert_array_equal(distance, np.zeros(len(X)), err_msg=f"{got} vs {expected}")


def test_sum_normalize_is_x_over_18() -> None:
    got = oracle.sum_normalize(np.array(X, dtype=np.float64))
    np.testing.assert_array_equal(got, [1 / 18, 2 / 18, 4 / 18, 5 / 18, 6 / 18])  # each a single rounding
    assert [Fraction(v, 18) for v in X] == [
        Fraction(1, 18),
        Fraction(1, 9),
        Fraction(2, 9),
        Fraction(5, 18),
        Fraction(1, 3),
    ]


@pytest.mark.parametrize("op", oracle.OPS)
def test_integer_input_and_batches(op: str) -> None:
    as_float = oracle.evaluate(op, np.array(X, dtype=np.float64))
    as_int = oracle.evaluate(op, np.array(X, dtype=np.int64))
    assert as_int.dtype == np.float64
    np.testing.assert_array_equal(as_int, as_float)
    # a batch of permutations along either axis gives the permuted results
    rng = np.random.default_rng(18)
    perms = np.array([rng.permutation(len(X)) for _ in range(6)])
    batch = np.array(X, dtype=np.float64)[perms]
    np.testing.assert_array_equal(oracle.evaluate(op, batch, axis=1), as_float[perms])
    np.testing.assert_array_equal(oracle.evaluate(op, batch.T, axis=0), as_float[perms].T)
