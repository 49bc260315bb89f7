"""The four floating dtypes the suite knows, and their constants.

NumPy's ``finfo`` does not know bfloat16; ``ml_dtypes.finfo`` does. Everything
else in ``reference/`` asks this module for a dtype's precision and range, so the
four formats are described in one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import ml_dtypes
import numpy as np

FLOAT_DTYPE_NAMES: tuple[str, ...] = ("float16", "bfloat16", "float32", "float64")

_DTYPES: dict[str, np.dtype] = {
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
}


@dataclass(frozen=True)
class DtypeInfo:
    """Constants of one binary floating-point format.

    ``precision`` counts the significand bits including the implicit one, so
    the unit roundoff is ``u = 2**-precision`` and the spacing of numbers in
    ``[1, 2)`` is ``2*u``.
    """

    name: str
    dtype: np.dtype
    precision: int
    min_exponent: int  # exponent of the smallest normal: tiny = 2**min_exponent
    max_exponent: int  # largest finite value is below 2**(max_exponent + 1)
    max: float
    tiny: float
    smallest_subnormal: float

    @property
    def unit_roundoff(self) -> float:
        """u = 2**-precision: the relative error bound of one correct rounding."""
        return 2.0**-self.precision

    @property
    def exp_overflow(self) -> float:
        """The x above which exp(x) overflows in this format: log(max)."""
        return math.log(self.max)

    @property
    def exp_underflow(self) -> float:
        """The x below which exp(x) rounds to zero: log of half the smallest subnormal."""
        return math.log(self.smallest_subnormal) - math.log(2.0)


def is_float_dtype(dtype: object) -> bool:
    """True for the four floating dtypes the suite measures in ULPs."""
    try:
        return np.dtype(dtype) in _DTYPES.values()
    except TypeError:
        return False


def dtype_from_name(name: str) -> np.dtype:
    """The NumPy dtype for ``name`` (one of FLOAT_DTYPE_NAMES); ValueError otherwise."""
    try:
        return _DTYPES[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; valid: {', '.join(FLOAT_DTYPE_NAMES)}") from None


def dtype_name(dtype: object) -> str:
    """The suite's name for a NumPy dtype (``'bfloat16'`` for ml_dtypes.bfloat16)."""
    dt = np.dtype(dtype)
    for name, known in _DTYPES.items():
        if dt == known:
            return name
    return dt.name


@cache
def dtype_info(dtype: object) -> DtypeInfo:
    """Precision and range of one of the four floating dtypes."""
    dt = np.dtype(dtype)
    name = dtype_name(dt)
    if name not in _DTYPES:
        raise ValueError(f"not a floating dtype the suite knows: {dt}")
    fi = ml_dtypes.finfo(dt) if name == "bfloat16" else np.finfo(dt)
    return DtypeInfo(
        name=name,
        dtype=dt,
        precision=int(fi.nmant) + 1,
        min_exponent=int(fi.minexp),
        max_exponent=int(fi.maxexp) - 1,
        max=float(fi.max),
        tiny=float(fi.smallest_normal),
        smallest_subnormal=float(fi.smallest_subnormal),
    )


def output_dtype_for(input_dtype: object) -> np.dtype:
    """The oracle's default output dtype: the input's floating dtype, float64 for integers and bools."""
    dt = np.dtype(input_dtype)
    if is_float_dtype(dt):
        return dt
    if dt.kind in "iub":
        return np.dtype(np.float64)
    raise TypeError(f"unsupported input dtype {dt}; expected a float or integer array")
