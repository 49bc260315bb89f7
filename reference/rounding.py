"""Correct rounding (round-to-nearest, ties-to-even) from float64/longdouble to a dtype.

Casting is not always a single rounding: ``ml_dtypes`` converts float64 to
bfloat16 through float32, which rounds twice (``1 + 2**-8 + 2**-30`` becomes 1.0
instead of ``1 + 2**-7``). The oracle must round exactly once, so this module
rounds with exact float arithmetic: scaling by a power of two with ``ldexp`` is
exact, and ``rint`` of a number below ``2**53`` (``2**64`` for longdouble) rounds
to an integer with ties-to-even, which is exactly the target format's rounding.
"""

from __future__ import annotations

import numpy as np

from reference.dtypes import DtypeInfo, dtype_info


def _round_generic(x: np.ndarray, info: DtypeInfo) -> np.ndarray:
    """Round each finite element of ``x`` to ``info``'s format; NaN, inf and zeros pass through."""
    out = np.array(x, copy=True)
    finite = np.isfinite(out) & (out != 0)
    v = out[finite]
    _, e = np.frexp(v)  # v = m * 2**e with 0.5 <= |m| < 1, so the leading bit has exponent e - 1
    quantum = np.maximum(e - 1, info.min_exponent) - (info.precision - 1)
    rounded = np.ldexp(np.rint(np.ldexp(v, -quantum)), quantum)
    rounded[np.abs(rounded) > info.max] = np.copysign(np.inf, rounded[np.abs(rounded) > info.max])
    out[finite] = rounded
    return out


def round_to_dtype(x: np.ndarray, dtype: object) -> np.ndarray:
    """Round ``x`` (float64 or longdouble values) once, to nearest-even, into ``dtype``.

    Returns an array of ``dtype``. Overflow gives infinities, underflow gives
    subnormals or signed zeros, exactly as IEEE 754 rounding to that format does.
    """
    info = dtype_info(dtype)
    x = np.asarray(x)
    if x.dtype == info.dtype:
        return x.copy()
    source_precision = np.finfo(x.dtype).nmant + 1 if x.dtype.kind == "f" else None
    if source_precision is None or source_precision <= info.precision:
        # Widening (or from integers) is exact, provided every value fits: integers beyond
        # 2**53 are handled by NumPy's own int->float rounding, which is a single rounding.
        return x.astype(info.dtype)
    if info.name in ("float32", "float64") and x.dtype in (np.float64, np.longdouble):
        # Hardware conversions between binary formats round once, to nearest-even.
        return x.astype(info.dtype)
    if info.name == "float16" and x.dtype == np.float64:
        return x.astype(info.dtype)  # NumPy's double->half conversion rounds once
    if x.dtype.itemsize < 8:
        x = x.astype(np.float64)  # exact; the generic rounding must not overflow a narrow source
    rounded = _round_generic(x, info)
    # Every value is now exactly representable in the target, so these casts are exact.
    return rounded.astype(np.float64).astype(info.dtype)


# Rows whose magnitude exceeds this are scaled down before an exact (fsum) summation: the sum of
# up to 2**60 such entries cannot overflow float64 after scaling by ``SUM_SCALE``.
SUM_SCALE_THRESHOLD = 2.0**960
SUM_SCALE = 2.0**-64


def overflow_safe_scale(rows: np.ndarray) -> np.ndarray:
    """Per-row power-of-two factors (``SUM_SCALE`` or 1) that keep the float64 sum of each row finite.

    ``rows`` is 2-D float64. Scaling by a power of two is exact unless an entry
    drops below float64's normal range, which only happens to entries far below the
    row's maximum; a quotient ``x / sum(x)`` is unchanged by the common factor.
    """
    big = np.max(np.abs(rows), axis=1, initial=0.0) > SUM_SCALE_THRESHOLD
    return np.where(big, SUM_SCALE, 1.0)
