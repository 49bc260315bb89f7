"""Distances in units in the last place (ULPs), for float16, bfloat16, float32 and float64.

NumPy's ``testing.assert_array_max_ulp`` and ``nulp_diff`` reject bfloat16, and
they do not say what a NaN or an infinity is worth. Here:

* ``ulp_distance(a, b)`` counts the representable numbers of the common dtype
  between ``a`` and ``b`` (``+0`` and ``-0`` are one number), so two adjacent
  floats are 1 apart and a float and its neighbour across zero are counted
  through zero. Both NaN: 0. Exactly one NaN: ``inf``. The largest finite and
  ``inf`` are 1 apart, as their bit patterns are.
* ``spacing(x, dtype)`` is the gap between consecutive numbers of ``dtype``
  around the real value ``x`` (the ULP of ``x`` in that format, subnormal range
  included), and ``ulp_error(actual, exact, dtype)`` is ``|actual - exact|`` in
  those units, for an exact value that need not be representable.
"""

from __future__ import annotations

import numpy as np

from reference.dtypes import dtype_info

_INT_VIEW = {2: np.int16, 4: np.int32, 8: np.int64}


def ordinal(a: np.ndarray) -> np.ndarray:
    """Map floats to int64 so that consecutive floats map to consecutive integers.

    Monotone: ``a < b`` implies ``ordinal(a) < ordinal(b)``; both zeros map to 0.
    NaN maps to an arbitrary value; callers mask it.
    """
    a = np.asarray(a)
    dtype_info(a.dtype)  # raises for a dtype the suite does not know
    bits = a.view(_INT_VIEW[a.dtype.itemsize]).astype(np.int64)
    nbits = 8 * a.dtype.itemsize
    magnitude = bits & ((1 << (nbits - 1)) - 1)
    return np.where(bits < 0, -magnitude, magnitude)


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Number of representable steps between ``a`` and ``b`` (same float dtype), as float64.

    Broadcasts like NumPy. See the module docstring for NaN and infinity.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.dtype != b.dtype:
        raise TypeError(f"ulp_distance needs one dtype, got {a.dtype} and {b.dtype}")
    oa, ob = np.broadcast_arrays(ordinal(a), ordinal(b))
    same_side = (oa >= 0) == (ob >= 0)
    # Within one sign the difference fits in int64; across zero add magnitudes in float64.
    within = np.abs(np.where(same_side, oa - ob, 0)).astype(np.float64)
    across = np.abs(oa).astype(np.float64) + np.abs(ob).astype(np.float64)
    distance = np.where(same_side, within, across)
    nan_a, nan_b = np.broadcast_arrays(np.isnan(a.astype(np.float64)), np.isnan(b.astype(np.float64)))
    distance = np.where(nan_a | nan_b, np.inf, distance)
    return np.where(nan_a & nan_b, 0.0, distance)


def spacing(x: np.ndarray, dtype: object) -> np.ndarray:
    """The ULP of ``dtype`` at each real value ``x`` (float64 or longdouble).

    For ``|x|`` in ``[2**e, 2**(e+1))`` this is ``2**(e - precision + 1)``, and the
    smallest subnormal at and below the normal range; infinities and NaN give NaN.
    Returned in ``x``'s float type (at least float64).

    Computed from the float64 exponent bits (``_binade``); a long double value is rounded to
    float64 first and, where that rounding carried it up to the next power of two, moved back
    down a binade. Long double values beyond float64's range take the ``frexp`` route.
    """
    info = dtype_info(dtype)
    x = np.asarray(x)
    if x.dtype != np.longdouble:
        work = x.astype(np.float64, copy=False)
        with np.errstate(invalid="ignore"):
            return _spacing_from_binade(_binade(work), work, info)
    with np.errstate(over="ignore"):
        near = x.astype(np.float64)
    if np.any(np.isinf(near) & np.isfinite(x)):  # beyond float64: rare, exact the slow way
        return _spacing_frexp(x, info)
    binade = _binade(near)
    # Rounding can carry |x| up to the next power of two only; those few are compared in long double.
    powers = np.abs(near) == binade
    if np.any(powers):
        below = np.zeros_like(powers)
        below[powers] = np.abs(x[powers]) < binade[powers].astype(np.longdouble)
        binade = np.where(below, binade / 2, binade)
    with np.errstate(invalid="ignore"):
        return _spacing_from_binade(binade, x, info).astype(np.longdouble)


def _binade(a: np.ndarray) -> np.ndarray:
    """``2**floor(log2 |a|)`` for normal float64 ``a``: ``a``'s exponent bits, mantissa cleared
    (0 for zeros and float64 subnormals, inf for infinities and NaN)."""
    bits = np.asarray(np.abs(a)).view(np.uint64) & np.uint64(0x7FF0_0000_0000_0000)
    return bits.view(np.float64)


def _spacing_from_binade(binade: np.ndarray, x: np.ndarray, info) -> np.ndarray:
    # 2**(1 - precision) times a power of two is exact in float64 down to 2**-1074, and every
    # supported dtype's smallest subnormal is at least that.
    result = np.maximum(binade * 2.0 ** (1 - info.precision), info.smallest_subnormal)
    return np.where(np.isfinite(x), result, np.nan)


def _spacing_frexp(x: np.ndarray, info) -> np.ndarray:
    """``spacing`` through ``frexp``/``ldexp`` in ``x``'s own float type (long double beyond float64)."""
    _, e = np.frexp(np.abs(x))
    exponent = np.maximum(e - 1, info.min_exponent)
    result = np.ldexp(np.ones_like(x), exponent - (info.precision - 1))
    result = np.where(x == 0, x.dtype.type(info.smallest_subnormal), result)
    return np.where(np.isfinite(x), result, np.nan)


def error_work_type(exact: np.ndarray, dtype: object) -> type:
    """The float type in which errors of results in ``dtype`` against ``exact`` are measured:
    longdouble for float64 results or a longdouble exact value, else float64 (exact for the
    differences that matter there, and much faster)."""
    if np.asarray(exact).dtype == np.longdouble or dtype_info(dtype).name == "float64":
        return np.longdouble
    return np.float64


def ulp_error(actual: np.ndarray, exact: np.ndarray, dtype: object) -> np.ndarray:
    """``|actual - exact|`` in ULPs of ``dtype`` at ``exact`` (a real value, not necessarily representable).

    Computed in longdouble when ``dtype`` is float64 or ``exact`` is longdouble, so for
    float64 ``dtype`` the answer is accurate to a few hundredths of an ULP where longdouble
    is the 80-bit format; otherwise in float64, which holds every value of the narrower
    dtypes exactly, so the count is accurate to a relative 2**-53.
    """
    work = error_work_type(exact, dtype)
    a = np.asarray(actual).astype(work)
    x = np.asarray(exact).astype(work)
    with np.errstate(invalid="ignore"):
        err = np.abs(a - x) / spacing(x, dtype)
        same_special = (a == x) | (np.isnan(a) & np.isnan(x))
        return np.where(same_special, 0.0, np.where(np.isfinite(err), err, np.inf)).astype(np.float64)
