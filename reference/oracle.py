"""The NumPy oracle: softmax, log-softmax and sum-normalization, rounded once.

Contract
--------
``softmax(x, axis=-1, dtype=None)`` and its siblings accept a NumPy array of
float16, bfloat16 (``ml_dtypes``), float32, float64 or an integer type, of any
rank (0-d included), and any axis, negative axes included; ``axis`` may also be a
tuple of axes or None (every axis), normalized over jointly (``reference.axes``). ``dtype`` names the
output dtype; by default it is the input's floating dtype, float64 for integers.

Numerical method and achieved accuracy
--------------------------------------
The input is converted exactly to a working precision: float64 when the output
is float16, bfloat16 or float32, and the 80-bit x87 ``longdouble`` (64-bit
significand) when the output is float64 (mpmath at 40 digits where the platform's
longdouble is no wider than float64). The slice is shifted by its maximum, so
``exp`` never overflows, and the sum of the exponentials is split as
``S = 1 + T`` where ``T`` sums the terms other than the maximum: ``log(S)`` is
then ``log1p(T)``, accurate even when ``S`` is within an ULP of 1. The result is
rounded once, to nearest-even, by ``reference.rounding.round_to_dtype``.

The working-precision result has a relative error of at most about
``(|x_i - max| + sum_j s_j |x_j - max| + log2(n) + 4) * u_w`` (Blanchard, Higham &
Higham 2021, with pairwise summation). For float16/bfloat16/float32 outputs that
is below ``1e-9`` ULP of the output whenever the element is not far into the
underflow range, so after the single rounding the oracle is within
``0.5 ULP + 1e-6 ULP`` of the exact value (the allowance covers the rare exact
value that lies within the working error of a rounding midpoint: double
rounding). For float64 outputs the working error is below ``0.45`` ULP of
float64, so the oracle is within 1 ULP. ``tests/reference/test_oracle_mpmath.py`` checks
both claims against mpmath at 60 digits.

Special values follow the mathematical limit; the table is
``reference.special.LIMITS_TABLE`` (also in the README).

An op may carry its API's contract (``reference.contracts``): an L1 normalization
``x / max(sum|x|, eps)`` (the sum of ``|x|`` as exact as ``x / sum(x)``'s, ``eps`` rounded to the
input dtype as the framework rounds it, a slice of zeros giving zeros where there is an eps), a
temperature (the softmax of the dtype-rounded ``x / T``), an output dtype (the result rounded to
it: ``dtype`` then names it).
"""

from __future__ import annotations

import math

import numpy as np

from reference.axes import Axis, is_single_axis, joint_last, restore
from reference.contracts import (
    L1_NORMALIZE,
    all_masked,
    contract_of,
    effective_input,
    masked_limit,
    rounded_eps,
)
from reference.dtypes import dtype_info, output_dtype_for
from reference.rounding import overflow_safe_scale, round_to_dtype

OPS: tuple[str, ...] = ("softmax", "log_softmax", "sum_normalize")

_LONGDOUBLE_IS_EXTENDED = np.finfo(np.longdouble).nmant >= 63


def _working_dtype(out_dtype: np.dtype) -> type:
    return np.longdouble if dtype_info(out_dtype).name == "float64" else np.float64


def _to_working(x: np.ndarray, work: type) -> np.ndarray:
    """Exact conversion of the input to the working float type.

    Integers are converted exactly where they fit (|x| < 2**53 for float64,
    2**64 for longdouble); larger ones are handled by ``_shift_integers`` first.
    """
    if x.dtype.kind == "f" or x.dtype.name == "bfloat16":
        return x.astype(np.float64).astype(work)  # every input float is exact in float64
    return x.astype(work)


def _shift_integers(op: str, x: np.ndarray, axis: int) -> np.ndarray:
    """For integer input to softmax/log-softmax: ``x - max(x)`` in exact integer arithmetic.

    Both ops are shift-invariant, and the differences that matter (those whose exp
    does not underflow) are small, so converting them to float afterwards is exact.
    """
    if op == "sum_normalize" or x.size == 0 or x.ndim == 0:
        return x
    big = x.astype(object)
    return (big - np.max(big, axis=axis, keepdims=True)).astype(np.float64)


def _prepare(x: np.ndarray, axis: int) -> tuple[np.ndarray, int]:
    x = np.asarray(x)
    if x.dtype.kind not in "fiub" and x.dtype.name != "bfloat16":
        raise TypeError(f"unsupported input dtype {x.dtype}; expected a float or integer array")
    if x.ndim == 0:
        if axis not in (-1, 0):
            raise np.exceptions.AxisError(axis, 0, "a 0-d input has a single implicit axis")
        return x, 0
    if not -x.ndim <= axis < x.ndim:
        raise np.exceptions.AxisError(axis, x.ndim)
    return x, axis % x.ndim


def _softmax_parts(xl: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For slices along the last axis with a finite maximum: the shifted values d,
    exp(d), and T = sum of exp(d) over every entry but the first maximum."""
    m = np.max(xl, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore"):
        d = xl - m
    e = np.exp(d)
    first_max = np.argmax(d, axis=-1)[..., None]
    e_rest = e.copy()
    np.put_along_axis(e_rest, first_max, 0, axis=-1)
    return d, e, np.sum(e_rest, axis=-1, keepdims=True)


def _exact_sum_normalize(xl: np.ndarray, work: type) -> tuple[np.ndarray, np.ndarray]:
    """x / sum(x) with a sum that is exact to ~2**-100 relative (two fsum passes).

    A slice whose sum would overflow float64 is scaled by 2**-64 first (exact, and the
    quotient does not change); entries that this pushes below float64's range give
    quotients far below any output dtype's range.
    """
    n = xl.shape[-1]
    rows = xl.reshape(-1, n).astype(np.float64)
    scale = overflow_safe_scale(rows)
    scaled = rows * scale[:, None]
    hi = np.array([math.fsum(r) for r in scaled.tolist()])
    lo = np.array([math.fsum([*r, -h]) for r, h in zip(scaled.tolist(), hi.tolist(), strict=True)])
    total = (hi.astype(work) + lo.astype(work)).reshape((*xl.shape[:-1], 1))
    scaled_x = scaled.astype(work) if work is np.float64 else xl.reshape(-1, n) * scale[:, None].astype(work)
    with np.errstate(invalid="ignore", divide="ignore"):
        return scaled_x.reshape(xl.shape) / total, total


def _exact_l1(xl: np.ndarray, work: type, eps: float | None) -> np.ndarray:
    """x / max(sum|x|, eps) with the sum of ``|x|`` exact to ~2**-100 relative (two fsum passes, no
    cancellation); a slice of zeros gives zeros where there is an eps (NaN without one: 0/0).
    A slice whose sum would overflow float64 is scaled by a power of two, as in ``x / sum(x)``."""
    n = xl.shape[-1]
    rows = xl.reshape(-1, n).astype(np.float64)
    scale = overflow_safe_scale(np.abs(rows))
    scaled = np.abs(rows) * scale[:, None]
    hi = np.array([math.fsum(r) for r in scaled.tolist()])
    lo = np.array([math.fsum([*r, -h]) for r, h in zip(scaled.tolist(), hi.tolist(), strict=True)])
    total = hi.astype(work) + lo.astype(work)
    floor = np.asarray(eps or 0.0, dtype=np.float64) * scale  # eps scaled alike: exact (a power of two)
    denom = np.maximum(total, floor.astype(work))[:, None]
    num = (
        (rows * scale[:, None]).astype(work)
        if work is np.float64
        else xl.reshape(-1, n) * scale[:, None].astype(work)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        result = np.where(denom == 0, np.nan if eps is None else 0.0, num / np.where(denom == 0, 1, denom))
    return result.astype(work).reshape(xl.shape)


def exact(op: str, x: np.ndarray, axis: Axis = -1, dtype: object = None) -> np.ndarray:
    """The unrounded result in working precision (float64, or longdouble for float64 outputs).

    Special values are already replaced by their limits (see ``reference.special``). ``axis`` may
    be a tuple of axes or None (every axis): the result is then that of each joint slice,
    flattened, put back in place (exact: ``reference.axes``).
    """
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; valid: {', '.join(OPS)}")
    if not is_single_axis(axis):
        x = np.asarray(x)
        return restore(exact(op, joint_last(x, axis), -1, dtype), x.shape, axis)
    x, axis = _prepare(x, axis)
    x = effective_input(op, x)
    eps = rounded_eps(op, x.dtype if x.dtype.kind == "f" or x.dtype.name == "bfloat16" else np.float64)
    out_dtype = np.dtype(dtype) if dtype is not None else output_dtype_for(x.dtype)
    work = _working_dtype(out_dtype)
    if work is np.longdouble and not _LONGDOUBLE_IS_EXTENDED:
        return _masked_slices(op, x, axis, _exact_mpmath(op, x, axis, eps))
    scalar = x.ndim == 0
    if x.dtype.kind in "iu" and contract_of(op).kind == L1_NORMALIZE:
        x = x.astype(np.float64)  # |x| < 2**53 for the integers anyone normalizes: exact
    if x.dtype.kind in "iu":
        if op == "sum_normalize" and x.size and x.ndim:
            return _exact_integer_sum_normalize(x, axis, work)
        x = _shift_integers(op, x, axis)
    xw = _to_working(x.reshape(1) if scalar else x, work)
    xl = np.moveaxis(xw, axis if not scalar else 0, -1)
    if xl.shape[-1] == 0 or xl.size == 0:
        result = np.empty(xl.shape, dtype=work)
    else:
        result = _exact_last_axis(op, xl, work, eps)
    result = np.moveaxis(result, -1, axis if not scalar else 0)
    return result.reshape(()) if scalar else _masked_slices(op, x, axis, result)


def _masked_slices(op: str, x: np.ndarray, axis: int, result: np.ndarray) -> np.ndarray:
    """``result`` with the slices a masked API defines (every entry masked) set to its documented
    output (``reference.contracts``: 0 for softmax, -inf for log-softmax)."""
    if not contract_of(op).masked or np.ndim(result) == 0:
        return result
    return np.where(all_masked(op, x, axis), result.dtype.type(masked_limit(op)), result)


def _exact_integer_sum_normalize(x: np.ndarray, axis: int, work: type) -> np.ndarray:
    """x / sum(x) for integer input with the sum in exact (Python) integer arithmetic."""
    big = np.moveaxis(x.astype(object), axis, -1)
    total = np.sum(big, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        num = big.astype(np.longdouble)
        den = total.astype(np.longdouble)
        result = np.where(den == 0, np.nan, num / np.where(den == 0, 1, den))
    return np.moveaxis(result.astype(work), -1, axis)


def _exact_last_axis(op: str, xl: np.ndarray, work: type, eps: float | None = None) -> np.ndarray:
    nan_slice = np.any(np.isnan(xl), axis=-1, keepdims=True)
    posinf = xl == np.inf
    neginf = xl == -np.inf
    n_posinf = np.sum(posinf, axis=-1, keepdims=True)
    n_neginf = np.sum(neginf, axis=-1, keepdims=True)
    n = xl.shape[-1]
    # Replace entries of special slices so that the regular path runs warning-free;
    # the limits below overwrite those slices.
    special = nan_slice | (n_posinf > 0) | (n_neginf == n)
    safe = np.where(special, 0, xl)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if op == "sum_normalize":
            special = nan_slice | (n_posinf > 0) | (n_neginf > 0)
            safe = np.where(special, 0, xl)
            l1 = contract_of(op).kind == L1_NORMALIZE
            if l1:
                result = _exact_l1(safe, work, eps)
            else:
                result, total = _exact_sum_normalize(safe, work)
                result = np.where(total == 0, np.nan, result)
            # Infinite entries of one sign share the mass; mixed signs are inf - inf.
            k = np.where(n_posinf > 0, n_posinf, n_neginf)
            inf_share = np.where(posinf | neginf, 1 / np.maximum(k, 1), 0).astype(work)
            mixed = (n_posinf > 0) & (n_neginf > 0)
            if l1:  # sum|x| is +inf: each infinite entry's share keeps its sign, signs may mix
                k = n_posinf + n_neginf
                inf_share = np.where(posinf, 1, np.where(neginf, -1, 0)) / np.maximum(k, 1)
                inf_share, mixed = inf_share.astype(work), np.zeros_like(mixed)
            result = np.where((n_posinf > 0) | (n_neginf > 0), inf_share, result)
            result = np.where(mixed, np.nan, result)
        else:
            d, e, rest = _softmax_parts(safe)
            if op == "softmax":
                result = e / (1 + rest)
                share = np.where(posinf, 1 / np.maximum(n_posinf, 1), 0).astype(work)
            else:
                result = d - np.log1p(rest)
                share = np.where(posinf, -np.log(np.maximum(n_posinf, 1).astype(work)), -np.inf).astype(work)
            result = np.where(n_posinf > 0, share, result)
            result = np.where(n_neginf == n, np.nan, result)
        return np.where(nan_slice, np.nan, result).astype(work)


def _exact_mpmath(op: str, x: np.ndarray, axis: int, eps: float | None = None) -> np.ndarray:
    """Fallback for float64 outputs where longdouble is only float64: mpmath at 40 digits.

    Slices with NaN or +inf keep the float64 path's limits (they need no precision);
    -inf entries are masked out. Sum-normalization uses an exact rational sum, so its
    result is correctly rounded.
    """
    from fractions import Fraction

    import mpmath

    scalar = x.ndim == 0
    xf = np.moveaxis((x.reshape(1) if scalar else x).astype(np.float64), axis, -1)
    if xf.size == 0:
        return np.moveaxis(np.empty(xf.shape), -1, axis)
    out = _exact_last_axis(op, xf, np.float64, eps)
    l1 = contract_of(op).kind == L1_NORMALIZE
    rows = xf.reshape(-1, xf.shape[-1])
    flat = out.reshape(-1, xf.shape[-1])
    with mpmath.workdps(40):
        for r, row in enumerate(rows):
            if np.any(np.isnan(row)) or np.any(row == np.inf) or np.all(row == -np.inf):
                continue
            if op == "sum_normalize":
                if not np.all(np.isfinite(row)):
                    continue
                if l1:
                    total = max(sum(Fraction(abs(float(v))) for v in row), Fraction(eps or 0.0))
                    flat[r] = [
                        float(Fraction(float(v)) / total) if total else (np.nan if eps is None else 0.0)
                        for v in row
                    ]
                    continue
                total = sum(Fraction(float(v)) for v in row)
                flat[r] = [float(Fraction(float(v)) / total) if total else np.nan for v in row]
                continue
            finite = np.isfinite(row)
            vals = [mpmath.mpf(float(v)) for v in row[finite]]
            m = max(vals)
            shifted = [v - m for v in vals]
            first_max = shifted.index(0)
            rest = mpmath.fsum(mpmath.exp(d) for i, d in enumerate(shifted) if i != first_max)
            total = 1 + rest
            if op == "softmax":
                values = [float(mpmath.exp(d) / total) for d in shifted]
                flat[r] = 0.0
            else:
                log_total = mpmath.log1p(rest)  # log(1 + rest) would round rest away
                values = [float(d - log_total) for d in shifted]
                flat[r] = -np.inf
            flat[r][finite] = values
    result = np.moveaxis(flat.reshape(xf.shape), -1, axis)
    return result.reshape(()) if scalar else result


def _evaluate(op: str, x: np.ndarray, axis: Axis, dtype: object) -> np.ndarray:
    x = np.asarray(x)
    out_dtype = np.dtype(dtype) if dtype is not None else output_dtype_for(x.dtype)
    dtype_info(out_dtype)  # rejects a dtype the oracle cannot round to
    return round_to_dtype(exact(op, x, axis, out_dtype), out_dtype)


def softmax(x: np.ndarray, axis: Axis = -1, dtype: object = None) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis``, correctly rounded to ``dtype`` (see the module docstring)."""
    return _evaluate("softmax", x, axis, dtype)


def log_softmax(x: np.ndarray, axis: Axis = -1, dtype: object = None) -> np.ndarray:
    """x - log(sum(exp(x))) along ``axis``, correctly rounded to ``dtype``."""
    return _evaluate("log_softmax", x, axis, dtype)


def sum_normalize(x: np.ndarray, axis: Axis = -1, dtype: object = None) -> np.ndarray:
    """x / sum(x) along ``axis`` with an exactly computed sum, correctly rounded to ``dtype``.

    Negative entries are allowed (the result is then not bounded by [0, 1]); a
    slice whose exact sum is zero is undefined and gives NaN.
    """
    return _evaluate("sum_normalize", x, axis, dtype)


def evaluate(op: str, x: np.ndarray, axis: Axis = -1, dtype: object = None) -> np.ndarray:
    """Dispatch to ``softmax``, ``log_softmax`` or ``sum_normalize`` by name."""
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; valid: {', '.join(OPS)}")
    return _evaluate(op, x, axis, dtype)
