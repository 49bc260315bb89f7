"""Emulations of documented compiler mechanisms, which registry conditions name.

An entry about a compiler's rewrite (XLA computing ``softmax(x / T)`` with the product by a rounded
reciprocal) would otherwise have to cover every failure of its cells, since the rewrite changes
every output a little and some a lot. With an emulation, a failing slice is the entry's only when
the implementation's output *is* the rewrite's output: within ``EMULATION_ULPS`` of the emulation
at every element (a NaN where the emulation gives NaN; a 0 where it is below twice the smallest
normal, which flush-to-zero arithmetic returns as 0). Any further error shows.

The emulations round where the compiler rounds (the product, the shift) and do the rest exactly,
rounding once at the end, so they agree with the compiled kernels to a few ULP, not bit for bit:
an output within ``EMULATION_ULPS`` of the emulation, or within the error model's allowance of it
(the rest of the kernel rounds as any softmax does; in half precision that is more than a few
ULP on long rows), is the mechanism's, far below the failures they explain (hundreds of ULP, NaN
rows).
"""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np

from conformance.slice_conditions import normalization_divisor
from reference.dtypes import dtype_info, is_float_dtype
from reference.rounding import round_to_dtype
from reference.ulp import error_work_type, ulp_distance

# How far (ULPs of the output dtype) an output may be from an emulation and still be its mechanism.
EMULATION_ULPS = 8.0


def recursive_sum_gamma(n: int, dtype: object) -> float:
    """``gamma_(n-1) = (n - 1) u / (1 - (n - 1) u)``, ``u`` the unit roundoff of ``dtype``: the relative
    worst case of a recursive sum of ``n`` terms formed in ``dtype``, in any order (Higham, *Accuracy
    and Stability of Numerical Algorithms*, 2nd ed., eq. 4.4); infinite where ``(n - 1) u >= 1``."""
    k_u = (n - 1) * float(dtype_info(dtype).unit_roundoff)
    return k_u / (1 - k_u) if k_u < 1 else np.inf


def xla_temperature_softmax(
    rows: np.ndarray, temperature: float, contracted: bool, in_input_dtype: bool = False
) -> np.ndarray:
    """``softmax(x / T)`` along the last axis of ``rows`` as XLA's CPU compiler builds it: ``x * c``
    with ``c = fl(1 / T)`` in the compute dtype (float32 for float16 and bfloat16 input, as a fused
    kernel computes; ``in_input_dtype``: in the input dtype, as an eager multiply by a constant of
    that dtype rounds), the maximum ``m`` of the rounded products, the shift ``x * c - m`` rounded
    once (the product contracted into it as an FMA; ``contracted=False``: the rounded product minus
    ``m``), then ``exp``, the sum and the division exactly, except that an ``exp`` or a sum beyond the
    compute dtype's range is infinite (so a shift past ~88.7 in float32 gives a NaN row, as XLA
    does), rounded once to the input dtype."""
    rows = np.asarray(rows)
    wide = _xla_temperature_softmax_wide(rows, temperature, contracted, in_input_dtype)
    return round_to_dtype(wide, rows.dtype)


def _compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype XLA's fused softmax computes in: float64 for float64, float32 for the rest."""
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


def _xla_temperature_softmax_wide(
    rows: np.ndarray, temperature: float, contracted: bool, in_input_dtype: bool
) -> np.ndarray:
    """``xla_temperature_softmax`` before its final rounding, in ``error_work_type``."""
    dtype = rows.dtype
    compute = _compute_dtype(dtype)
    stage = dtype if in_input_dtype else compute  # where the reciprocal, the product and the shift round
    wide = error_work_type(rows, compute)
    if compute == np.float64:
        shift = _float64_shift(rows, temperature, contracted).astype(wide)
    else:
        c = _reciprocal(temperature, stage, wide)
        with np.errstate(all="ignore"):
            product = rows.astype(wide) * c  # exact: two float32 significands fit in float64's
            rounded = round_to_dtype(product, stage).astype(wide)
            m = np.max(rounded, axis=-1, keepdims=True)
            shift = (product - m) if contracted else (rounded - m)
            shift = round_to_dtype(shift, stage).astype(wide)
    with np.errstate(all="ignore"):
        largest = wide(dtype_info(compute).max)
        e = np.exp(shift)
        e = np.where(e > largest, wide(np.inf), e)
        total = np.sum(e, axis=-1, keepdims=True)
        total = np.where(total > largest, wide(np.inf), total)
        return e / total


def _reciprocal(temperature: float, stage: np.dtype, wide: type) -> np.floating:
    """``fl(1 / T)`` in ``stage``, as a ``wide`` number (for float64 exactly, by fractions)."""
    if np.dtype(stage) == np.float64:
        return wide(float(Fraction(1) / Fraction(temperature)))
    return round_to_dtype(np.array(1.0 / temperature, dtype=wide), stage).astype(wide)


def _float64_shift(rows: np.ndarray, temperature: float, contracted: bool) -> np.ndarray:
    """The float64 shift ``x * c - m`` (``xla_temperature_softmax``) with each rounding exact: the
    product of two float64 numbers needs 106 bits, so it is formed as a fraction and rounded once
    (a long double product would round it twice and move the shift by an ULP, hundreds of output
    ULP at logits near 1,000). Non-finite entries follow float64 arithmetic."""
    c = float(_reciprocal(temperature, np.dtype(np.float64), np.float64))  # fl(1/T)
    rows = rows.astype(np.float64)
    with np.errstate(all="ignore"):
        out = rows * c  # non-finite entries: their float64 product; finite ones replaced below
    exact = np.empty(rows.shape, dtype=object)
    for index, value in np.ndenumerate(rows):
        if np.isfinite(value):
            exact[index] = Fraction(float(value)) * Fraction(c)
            out[index] = float(exact[index])  # fl(x * c), correctly rounded
    m = np.max(out, axis=-1, keepdims=True)
    for index, value in np.ndenumerate(rows):
        row_max = float(m[index[:-1]][0])
        if not (np.isfinite(value) and np.isfinite(row_max)):
            with np.errstate(all="ignore"):
                out[index] = out[index] - row_max
        else:
            product = exact[index] if contracted else Fraction(float(out[index]))
            out[index] = float(product - Fraction(row_max))
    return out


def matches_emulation(
    y_rows: np.ndarray, emulated: np.ndarray, allowed: np.ndarray | None = None
) -> np.ndarray:
    """Per row: whether every element of ``y_rows`` is the emulation's (``emulated``, same shape):
    within ``EMULATION_ULPS`` of it or, where ``allowed`` gives the error model's allowance (absolute,
    per element; NaN where none), within that allowance of it, as a precision check against the
    contract would allow; NaN where it is NaN; or 0 where it is below twice the smallest normal."""
    y_rows, emulated = np.asarray(y_rows), np.asarray(emulated).astype(np.asarray(y_rows).dtype)
    tiny = dtype_info(y_rows.dtype).tiny
    y64, e64 = y_rows.astype(np.float64), emulated.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        both_nan = np.isnan(y64) & np.isnan(e64)
        close = ulp_distance(y_rows, emulated) <= EMULATION_ULPS
        if allowed is not None:
            close |= np.abs(y64 - e64) <= np.asarray(allowed, dtype=np.float64)
        flushed = (y64 == 0) & (np.abs(e64) < 2 * tiny)
    return np.all(both_nan | close | flushed, axis=-1)


def matches_xla_temperature_rewrite(
    x_rows: np.ndarray, y_rows: np.ndarray, temperature: float, allowed: np.ndarray | None = None
) -> np.ndarray:
    """Per row: whether ``y_rows`` is XLA's ``softmax(x / T)`` of ``x_rows`` in one of its forms
    (``xla_temperature_softmax``): the product contracted into the shift (a jitted fused kernel),
    not contracted, or rounded in the input dtype (an eager multiply of half-precision input)."""
    x_rows, y_rows = np.asarray(x_rows), np.asarray(y_rows)
    if x_rows.shape != y_rows.shape or x_rows.ndim != 2 or y_rows.dtype != x_rows.dtype:
        return np.zeros(len(x_rows), dtype=bool)
    forms = [(True, False), (False, False)]
    if x_rows.dtype not in (np.float32, np.float64):
        forms.append((False, True))
    met = np.zeros(len(x_rows), dtype=bool)
    for contracted, in_input_dtype in forms:
        emulated = xla_temperature_softmax(x_rows, temperature, contracted, in_input_dtype)
        met |= matches_emulation(y_rows, emulated, allowed)
    return met


def matches_xla_temperature_rewrite_backward(
    x_rows: np.ndarray,
    g_rows: np.ndarray,
    gx_rows: np.ndarray,
    temperature: float,
    allowed: np.ndarray,
    unit: np.ndarray,
) -> np.ndarray:
    """Per row: whether the gradient ``gx_rows`` (input ``x_rows``, cotangent ``g_rows``) is the
    backward pass of XLA's ``softmax(x / T)`` rewrite: ``c * s * (g - sum(g * s))`` with ``c = fl(1/T)``
    and ``s`` the rewrite's softmax (``xla_temperature_softmax`` before its last rounding, in one of
    its forms; NaN rows where its shift overflows ``exp``). Every element within the gradient
    oracle's allowance (``allowed``, absolute) plus ``EMULATION_ULPS`` units of the term scale
    (``unit``) of it, NaN where it is NaN, or 0 where a result within the allowance could be
    subnormal (flush to zero)."""
    x_rows, g_rows, gx_rows = np.asarray(x_rows), np.asarray(g_rows), np.asarray(gx_rows)
    met = np.zeros(len(x_rows), dtype=bool)
    same_shape = x_rows.shape == g_rows.shape == gx_rows.shape and x_rows.ndim == 2
    if not same_shape or not is_float_dtype(x_rows.dtype) or not is_float_dtype(gx_rows.dtype):
        return met
    tiny = dtype_info(x_rows.dtype).tiny
    with np.errstate(invalid="ignore"):
        slack = np.nan_to_num(np.asarray(allowed, dtype=np.float64), nan=0.0)
        slack = slack + EMULATION_ULPS * np.nan_to_num(np.asarray(unit, dtype=np.float64), nan=0.0)
    got = gx_rows.astype(np.float64)
    forms = [(True, False), (False, False)]
    if x_rows.dtype not in (np.float32, np.float64):
        forms.append((False, True))
    for contracted, in_input_dtype in forms:
        s = _xla_temperature_softmax_wide(x_rows, temperature, contracted, in_input_dtype)
        stage = x_rows.dtype if in_input_dtype else _compute_dtype(x_rows.dtype)
        c = _reciprocal(temperature, stage, s.dtype.type)
        with np.errstate(all="ignore"):
            g = g_rows.astype(s.dtype)
            expected = (c * s * (g - np.sum(g * s, axis=-1, keepdims=True))).astype(np.float64)
            diff = np.abs(got - expected)
            close = (got == expected) | (np.isnan(got) & np.isnan(expected)) | (diff <= slack)
            flushed = (got == 0) & (np.abs(expected) - slack < tiny)
        met |= np.all(close | flushed, axis=-1)
    return met


def one_denominator_within_linear_sum_bound(
    x_rows: np.ndarray, y_rows: np.ndarray, l1: bool, eps: float | None = None
) -> np.ndarray:
    """Per row: whether ``y_rows`` is ``x / D`` for one denominator ``D`` per row (every element
    within 2 ULP of ``fl(x_i / D)``, a 0 for a 0) whose distance from the exact sum S (``sum(x)``;
    for an L1 normalization ``max(sum(|x|), eps)``) is within the worst case of a recursive
    summation in the input dtype, ``gamma_(n-1) * sum(|x|)`` with ``gamma_k = k u / (1 - k u)``
    (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., eq. 4.4): the failure is
    the sum's rounding error, whatever the order the kernel adds in, and nothing else. ``D`` is the
    median of ``x_i / y_i`` (0 when no quotient is finite and non-zero: a cancelling row whose sum
    came out 0, every ``x_i / 0`` infinite); a row whose sum overflows is not."""
    return _one_denominator(np.asarray(x_rows), np.asarray(y_rows), l1, eps, None)


def float32_norm_denominator(x_rows: np.ndarray, y_rows: np.ndarray, eps: float | None) -> np.ndarray:
    """Per row of a float64 L1 normalization: whether ``y_rows`` is ``x / D`` (each element within 2
    ULP of ``fl(x_i / D)``, in float64) for one float32 number ``D = max(N, eps)``, ``N`` the L1 norm
    of ``float32(x)`` formed in float32 (within ``gamma_(n-1)`` of float32 of the exact norm of the
    rounded input) and ``eps`` the float32 eps: Keras's ``ops.normalize`` computes the norm of a
    float64 input in float32 and divides the float64 input by it. A row whose float32 norm
    overflows divides by inf: every output 0."""
    x_rows, y_rows = np.asarray(x_rows), np.asarray(y_rows)
    if x_rows.dtype != np.float64:
        return np.zeros(len(x_rows), dtype=bool)
    return _one_denominator(x_rows, y_rows, True, eps, np.dtype(np.float32))


def _one_denominator(
    x_rows: np.ndarray, y_rows: np.ndarray, l1: bool, eps: float | None, sum_dtype: np.dtype | None
) -> np.ndarray:
    """The two functions above: the sum formed in ``sum_dtype`` (None: the input dtype) of the input
    rounded to it; with a ``sum_dtype``, ``D`` must be one of its numbers, and a sum beyond its
    range is inf."""
    met = np.zeros(len(x_rows), dtype=bool)
    floats = is_float_dtype(x_rows.dtype) and is_float_dtype(y_rows.dtype)
    if x_rows.shape != y_rows.shape or x_rows.ndim != 2 or not floats:
        return met
    wide = error_work_type(x_rows, x_rows.dtype)
    info = dtype_info(sum_dtype if sum_dtype is not None else x_rows.dtype)
    gamma = recursive_sum_gamma(x_rows.shape[1], info.dtype)
    wide_rows = x_rows.astype(wide)
    with np.errstate(over="ignore"):
        summed = wide_rows if sum_dtype is None else round_to_dtype(wide_rows, sum_dtype).astype(wide)
    divisors = normalization_divisor(summed, l1, eps)[:, 0]
    magnitudes = normalization_divisor(summed, True, None)[:, 0]
    for r, (x, y, exact, magnitude) in enumerate(zip(wide_rows, y_rows, divisors, magnitudes, strict=True)):
        with np.errstate(all="ignore"):
            yw = y.astype(wide)
            if sum_dtype is not None and np.all(np.isfinite(x)) and magnitude > info.max:
                met[r] = bool(np.all(yw == 0))  # the norm overflowed: x / inf
                continue
            usable = np.isfinite(x) & np.isfinite(yw) & (x != 0) & (yw != 0)
            if not np.isfinite(exact) or not np.isfinite(magnitude):
                continue
            # no finite non-zero quotient: the sum came out 0 (a cancelling row), every x_i / 0
            denominator = np.median(x[usable] / yw[usable]) if np.any(usable) else wide(0)
            if sum_dtype is not None:  # a number of the dtype the sum was formed in
                denominator = round_to_dtype(np.asarray(denominator), sum_dtype).astype(wide)
            if not (np.isfinite(denominator) and abs(denominator - exact) <= gamma * magnitude):
                continue
            quotients = round_to_dtype(x / denominator, y_rows.dtype)
            both_nan = np.isnan(yw) & np.isnan(quotients.astype(wide))
        met[r] = bool(np.all(both_nan | (ulp_distance(y, quotients) <= 2)))
    return met


def softmax_one_denominator_within_linear_sum_bound(
    x_rows: np.ndarray, y_rows: np.ndarray, log: bool, allowed: np.ndarray
) -> np.ndarray:
    """Per row: whether a softmax (``log``: log-softmax) output ``y_rows`` of ``x_rows`` is right but
    for its sum: ``e_i / D`` (``d_i - log D``), with ``d_i = x_i - max(x)`` and ``e_i = exp(d_i)``
    exact, for one ``D`` per row within a recursive summation's worst case of the exact sum
    ``S = sum(e_i)`` in the input dtype, ``|D - S| <= gamma_(n-1) S`` (the terms are positive;
    ``one_denominator_within_linear_sum_bound``); every element within the oracle's allowance
    (``allowed``, absolute, per element; scaled by ``S / D`` for softmax, whose outputs scale with
    ``1 / D``), a -inf entry (a mask) 0 (-inf), or 0 where that value is below twice the smallest
    normal (flush to zero). ``D`` is the median of ``e_i / y_i`` (``exp`` of the median of
    ``d_i - y_i``). A kernel that accumulates ``sum(exp)`` in the input dtype (NumPy on
    ``ml_dtypes.bfloat16``) fails by its sum alone: the condition; any other error of the slice
    (a wrong element, a wrong shift) is not. Rows with NaN or +inf entries are not met."""
    x_rows, y_rows = np.asarray(x_rows), np.asarray(y_rows)
    met = np.zeros(len(x_rows), dtype=bool)
    floats = is_float_dtype(x_rows.dtype) and is_float_dtype(y_rows.dtype)
    if x_rows.shape != y_rows.shape or x_rows.ndim != 2 or x_rows.shape[1] == 0 or not floats:
        return met
    wide = error_work_type(x_rows, x_rows.dtype)
    info = dtype_info(x_rows.dtype)
    gamma = recursive_sum_gamma(x_rows.shape[1], x_rows.dtype)
    x, y = x_rows.astype(wide), y_rows.astype(wide)
    tolerance = np.nan_to_num(np.asarray(allowed, dtype=np.float64), nan=0.0).astype(wide)
    with np.errstate(all="ignore"):
        regular = np.all(~np.isnan(x) & (x != np.inf), axis=-1) & np.any(np.isfinite(x), axis=-1)
        m = np.max(np.where(np.isfinite(x), x, -np.inf), axis=-1, keepdims=True)
        d = x - m
        e = np.exp(d)
        exact_sum = np.sum(e, axis=-1, keepdims=True)
        if log:
            spread = np.where(np.isfinite(d) & np.isfinite(y), d - y, np.nan)
            level = _row_nanmedian(spread)
            denominator = np.exp(level)
            expected = d - level
        else:
            usable = np.isfinite(y) & (y > 0) & (e > 0)
            denominator = _row_nanmedian(np.where(usable, e / y, np.nan))
            expected = e / denominator
            tolerance = tolerance * (exact_sum / denominator)
        within = np.isfinite(denominator) & (np.abs(denominator - exact_sum) <= gamma * exact_sum)
        close = (y == expected) | (np.abs(y - expected) <= tolerance)
        flushed = (y == 0) & (np.abs(expected) < 2 * info.tiny + tolerance)
    met = regular & within[:, 0] & np.all(close | flushed, axis=-1)
    return met


def _row_nanmedian(values: np.ndarray) -> np.ndarray:
    """The median of each row's non-NaN values, as a column (NaN for a row with none)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN row: NaN, as documented
        return np.nanmedian(values, axis=-1, keepdims=True)


def float32_norm_backward(
    x_rows: np.ndarray, g_rows: np.ndarray, gx_rows: np.ndarray, eps: float | None
) -> np.ndarray:
    """Per row of a float64 L1 normalization's backward pass: whether the gradient ``gx_rows`` (input
    ``x_rows``, cotangent ``g_rows``) is the backward pass of ``x / D`` with ``D`` a float32 norm
    (``float32_norm_denominator``): by the casts' VJPs, ``g_i / D + sign(float32(x_i)) * c`` with
    ``c = fl32(-sum(g x) / D^2)`` one float32 number per row. ``D`` and ``c`` are fitted per row (least
    squares on the two columns ``g`` and ``sign``, then rounded to float32); ``D`` must lie within a
    recursive float32 sum's error of the exact norm of ``float32(x)``, or be the float32 eps where that
    norm is below it (``c`` is then 0: the maximum passes nothing to the norm); ``c`` within twice
    float32's rounding of ``-sum(g x) / D^2``; every element within ``EMULATION_ULPS`` float64 ULP of
    the emulated gradient's terms. Where ``g`` is a multiple ``k`` of the signs (a ones cotangent on a
    row of one sign) the two terms cannot be told apart: the gradient must then be ``C * sign`` with
    ``C`` within the range of ``k (D - S) / D^2`` over that interval of ``D`` (``S`` the float64
    norm). A row whose float32 norm overflows has a zero gradient."""
    x_rows, g_rows, gx_rows = (np.asarray(a) for a in (x_rows, g_rows, gx_rows))
    met = np.zeros(len(x_rows), dtype=bool)
    same = x_rows.shape == g_rows.shape == gx_rows.shape
    if x_rows.dtype != np.float64 or not same or x_rows.ndim != 2 or eps is None:
        return met
    wide = np.longdouble
    info32 = dtype_info(np.float32)
    n = x_rows.shape[1]
    gamma = recursive_sum_gamma(n, np.float32)
    eps32 = wide(np.float32(eps))
    ulps = EMULATION_ULPS * 2.0**-52
    with np.errstate(all="ignore"):
        signs = np.sign(x_rows.astype(np.float32)).astype(wide)
    for r in range(len(x_rows)):
        x, g, gx, s = x_rows[r].astype(wide), g_rows[r].astype(wide), gx_rows[r].astype(wide), signs[r]
        with np.errstate(all="ignore"):
            if not (np.all(np.isfinite(x)) and np.all(np.isfinite(g)) and np.all(np.isfinite(gx))):
                continue
            norm32 = np.sum(np.abs(x_rows[r].astype(np.float32).astype(wide)))  # exact
            if norm32 > info32.max:
                met[r] = bool(np.all(gx == 0))
                continue
            low, high = max(norm32 * (1 - gamma), eps32), max(norm32 * (1 + gamma), eps32)
            if not np.any(s):  # float32(x) is all 0: D = eps, nothing flows back to the norm
                slack = ulps * np.abs(g / eps32) + dtype_info(np.float64).smallest_subnormal
                met[r] = bool(np.all(np.abs(gx - g / eps32) <= slack))
                continue
            columns = np.stack([g, s], axis=1).astype(np.float64)
            if np.linalg.matrix_rank(columns) < 2:
                met[r] = _collinear_norm_backward(x, g, gx, s, low, high, ulps)
                continue
            a, c = np.linalg.lstsq(columns, gx.astype(np.float64), rcond=None)[0]
            if not (np.isfinite(a) and a != 0 and np.isfinite(c)):
                continue
            d, c = wide(np.float32(1 / a)), wide(np.float32(c))
            if not low <= d <= high:
                continue
            c_exact = -np.sum(g * x) / (d * d) if norm32 >= eps32 else wide(0)
            c_slack = 2 * float(info32.unit_roundoff) * abs(c_exact) + 2 * n * 2.0**-53 * np.sum(
                np.abs(g * x)
            ) / (d * d)
            if abs(c - c_exact) > c_slack:
                continue
            slack = ulps * (np.abs(g / d) + np.abs(c * s)) + dtype_info(np.float64).smallest_subnormal
            met[r] = bool(np.all(np.abs(gx - (g / d + s * c)) <= slack))
    return met


def _collinear_norm_backward(x, g, gx, s, low, high, ulps) -> bool:
    """``float32_norm_backward`` for a row whose cotangent is ``k`` times the signs: the gradient is
    ``C * sign`` with ``C`` within the range of ``k (D - S) / D^2`` for ``D`` in ``[low, high]``."""
    k = np.median(g[s != 0] / s[s != 0])
    if not np.all(g == k * s):
        return False
    constant = np.median(gx[s != 0] / s[s != 0])
    total = np.sum(np.abs(x))
    # k (D - S) / D^2 is monotone on either side of its extremum at D = 2 S: the ends and that point
    candidates = [low, high, min(max(2 * total, low), high)]
    values = [k * (d - total) / (d * d) for d in candidates]
    slack = ulps * abs(k) / low + 2.0**-52 * abs(k) * total / (low * low)
    within = min(values) - slack <= constant <= max(values) + slack
    return bool(within and np.all(np.abs(gx - constant * s) <= slack + ulps * abs(constant)))
