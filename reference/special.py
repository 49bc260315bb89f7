"""Special values: which slices are special, and what the oracle says about them.

Properties judge precision, bounds and monotonicity only on *regular* slices;
special slices are observed and classified against the limit below (the
semantics table), except NaN propagation, which is a property of its own.
"""

from __future__ import annotations

import numpy as np

from reference.contracts import L1_NORMALIZE, contract_of, rounded_eps
from reference.rounding import overflow_safe_scale

# Slice kinds, in order of precedence (a slice takes the first that applies).
REGULAR = "regular"
SLICE_KINDS: tuple[str, ...] = (
    "nan",  # a NaN anywhere in the slice
    "posinf",  # +inf present (softmax, log-softmax)
    "all_neginf",  # every entry -inf (softmax, log-softmax)
    "neginf",  # some, not all, entries -inf (softmax, log-softmax)
    "inf",  # an infinity present (sum-normalization)
    "zero_sum",  # finite, exact sum zero (sum-normalization; an L1 normalization without eps: all zeros)
    # finite, non-zero exact sum within the accumulator's rounding of 0, |sum x| <= u_acc G(n) sum|x|
    # (reference.error_model): no floating-point sum has a correct digit, so x / sum is defined but not
    # determined by the arithmetic, and is not judged (sum-normalization; e.g. [12, 2.8e-45, -12])
    "cancelled_sum",
    "below_eps",  # finite, sum|x| below the rounded eps or all zeros (an L1 normalization with eps)
    "negative",  # finite with a negative entry, non-zero sum (sum-normalization)
    REGULAR,  # finite (and, for sum-normalization, non-negative with a positive sum)
)

LIMITS_TABLE: tuple[tuple[str, str, str, str], ...] = (
    # (input, softmax, log_softmax, sum_normalize)
    (
        "NaN anywhere in a slice",
        "NaN for the whole slice",
        "NaN for the whole slice",
        "NaN for the whole slice",
    ),
    (
        "+inf entries (k of them), no NaN",
        "1/k at each +inf, 0 elsewhere (the limit as those entries grow together)",
        "-log(k) at each +inf, -inf elsewhere",
        "1/k at each +inf, 0 elsewhere; NaN if -inf is present too (inf - inf)",
    ),
    (
        "some -inf entries, not all",
        "0 at each -inf; the rest is the softmax of the finite entries (masking)",
        "-inf at each -inf; the rest is the log-softmax of the finite entries",
        "-inf entries share the mass: 1/k at each, 0 elsewhere",
    ),
    (
        "every entry -inf",
        "undefined: NaN (the limit depends on how the entries tend to -inf: "
        "[t, t] gives 1/2 each, [t, 2t] gives [1, 0])",
        "undefined: NaN",
        "-inf entries share the mass: 1/n each",
    ),
    (
        "masked API (JAX where=, Keras mask=), every entry masked",
        "0 for each entry: the documented output of a masked-out element (contract masked)",
        "-inf for each entry (contract masked)",
        "-",
    ),
    ("finite slice with exact sum 0", "(regular)", "(regular)", "undefined: NaN (0/0 or a pole)"),
    (
        "L1 normalization contract (F.normalize p=1, ops.normalize order=1, linalg.normalize ord=1)",
        "-",
        "-",
        "x / max(sum|x|, eps), eps rounded to the input dtype: mixed signs divide by sum|x|, "
        "sum|x| < eps divides by eps, zeros give zeros (NaN only where no eps is documented)",
    ),
    (
        "negative entries, non-zero sum",
        "(regular)",
        "(regular)",
        "x / sum(x), exact; not bounded by [0, 1], bounds and monotonicity not applied",
    ),
    ("axis of length 0 (empty slice)", "empty output of the same shape", "empty output", "empty output"),
    (
        "0-d input",
        "1 (a one-element slice); NaN for NaN, -inf",
        "0; NaN for NaN, -inf",
        "1 for finite non-zero x",
    ),
    ("integer input", "computed exactly, output float64", "output float64", "output float64"),
)


def slice_kinds(op: str, x: np.ndarray, axis: int) -> np.ndarray:
    """The kind of every slice along ``axis`` (an array of strings, shape of x without axis)."""
    xl = np.moveaxis(np.asarray(x), axis, -1).astype(np.float64)
    kinds = np.full(xl.shape[:-1], REGULAR, dtype=object)
    if xl.shape[-1] == 0:
        return kinds
    has_nan = np.any(np.isnan(xl), axis=-1)
    if op == "sum_normalize" and contract_of(op).kind == L1_NORMALIZE:
        dtype = np.asarray(x).dtype
        eps = rounded_eps(op, dtype if dtype.kind == "f" or dtype.name == "bfloat16" else np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            has_inf = np.any(np.isinf(xl), axis=-1)
            finite = ~has_nan & ~has_inf
            safe = np.where(np.isfinite(xl), xl, 0.0)
            zeros = finite & np.all(safe == 0, axis=-1)
            small = finite & ~zeros & (_exact_abs_sum(safe) < (eps or 0.0))
        kinds[finite & np.any(safe < 0, axis=-1)] = "negative"
        kinds[small | (zeros & (eps is not None))] = "below_eps"
        kinds[zeros & (eps is None)] = "zero_sum"
        kinds[has_inf & ~has_nan] = "inf"
    elif op == "sum_normalize":
        with np.errstate(invalid="ignore", over="ignore"):
            has_inf = np.any(np.isinf(xl), axis=-1)
            finite = ~has_nan & ~has_inf
            safe = np.where(np.isfinite(xl), xl, 0.0)
            negative = np.any(safe < 0, axis=-1)
            scaled, sums = _scaled_exact_sums(safe)
            zero_sum = finite & (sums == 0.0)
        kinds[finite & negative] = "negative"
        candidates = finite & negative & ~zero_sum
        cancelled = np.zeros_like(candidates)
        cancelled[candidates] = _sum_cancels(scaled[candidates], sums[candidates], np.asarray(x).dtype)
        kinds[cancelled] = "cancelled_sum"
        kinds[zero_sum] = "zero_sum"
        kinds[has_inf & ~has_nan] = "inf"
    else:
        posinf = np.any(xl == np.inf, axis=-1)
        neginf_count = np.sum(xl == -np.inf, axis=-1)
        kinds[(neginf_count > 0) & ~posinf] = "neginf"
        kinds[(neginf_count == xl.shape[-1]) & ~posinf] = "all_neginf"
        kinds[posinf] = "posinf"
    kinds[has_nan] = "nan"
    return kinds


def _exact_abs_sum(safe: np.ndarray) -> np.ndarray:
    """sum|x| per slice, correctly rounded to float64 (inf where it overflows; a comparison with a
    tiny eps only needs it where it is small)."""
    import math

    rows = np.abs(safe.reshape(-1, safe.shape[-1]))
    sums = [math.fsum(r) if max(r, default=0.0) < 1e300 else math.inf for r in rows.tolist()]
    return np.array(sums, dtype=np.float64).reshape(safe.shape[:-1])


def _sum_cancels(scaled: np.ndarray, sums: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Per slice (``scaled``: finite slices as ``_scaled_exact_sums`` scaled them, the axis last;
    ``sums``: their exact sums): whether the exact sum lies within the error bound of a
    floating-point sum of the slice, |sum x| <= u_acc G(n) sum|x| (``reference.error_model``: u_acc
    is the accumulator the model assumes for ``dtype``, float64's for integer input). Such a sum
    may come out 0 or with the wrong sign in any order of summation, so x / sum can be anything,
    +-inf included."""
    import math

    from reference.error_model import accumulator_unit_roundoff, summation_growth

    floating = dtype.kind == "f" or dtype.name == "bfloat16"
    unit = accumulator_unit_roundoff(dtype if floating else np.float64)
    limit = unit * float(summation_growth(scaled.shape[-1]))
    magnitudes = [math.fsum(abs(v) for v in r) for r in scaled.reshape(-1, scaled.shape[-1]).tolist()]
    return np.abs(sums) <= limit * np.array(magnitudes, dtype=np.float64).reshape(sums.shape)


def _scaled_exact_sums(safe: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each slice scaled by a power of two that keeps its sum finite (``overflow_safe_scale``), and
    its exact sum (``math.fsum``, correctly rounded to float64): zero exactly where the slice's is."""
    import math

    rows = safe.reshape(-1, safe.shape[-1])
    rows = rows * overflow_safe_scale(rows)[:, None]
    sums = np.array([math.fsum(r) for r in rows.tolist()], dtype=np.float64)
    return rows.reshape(safe.shape), sums.reshape(safe.shape[:-1])
