"""Conditions a failing slice can meet, which a registry entry may require (its ``condition``).

An entry such as "x / sum(x) overflows when the sum of finite entries exceeds the dtype's max" is
about a kind of slice, not about a named corpus case: the same mechanism shows on the corpus case
``sum_overflow``, on a 65,537-entry float16 row and on a generated batch whose row sums past
65,504. A ``condition`` lets the entry cover exactly those failing slices wherever they occur,
and nothing else in the same cell (``conformance.known.resolve``); the slices of one input that
meet different conditions (a zero row and an overflowing row of ``long_axis``) are covered kind
by kind.

Two kinds of condition:

* input conditions (``SLICE_CONDITIONS``): a predicate of one slice of the input, as the property
  judged it (the normalized axis last), decided from the input alone in float64;
* gradient conditions (``GRADIENT_CONDITIONS``, sum-normalization's backward pass): a predicate of
  one slice of the input and of its cotangent, decided in float64 (long double for float64): an
  intermediate of the quotient rule that a kernel may form lies outside the dtype's normal range;
* emulation conditions (``EMULATION_CONDITIONS``): the output is, within a few ULP, what a documented
  compiler mechanism computes (``conformance.emulations``);
* repair conditions (``OUTPUT_REPAIRS``): a mechanism stated as a repair of the output. A failing
  slice meets one when the property, judged again on the output with that mechanism undone (and
  nothing else changed), passes on that slice: the mechanism explains the whole failure of the slice.
  An entry such as "the eager kernel flushes outputs just above the smallest normal to 0" then
  covers a slice that is off only there, and not the same slice with a second error beside it, nor
  any other failure of its cells (``conformance.evaluation.reduction`` re-judges the failing slices).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from conformance.known import CONDITIONS
from reference.contracts import L1_NORMALIZE, contract_of, rounded_eps
from reference.dtypes import dtype_info, is_float_dtype
from reference.ulp import error_work_type


def sum_overflows(rows: np.ndarray) -> np.ndarray:
    """Per row of ``rows`` (slices, normalized axis last): whether the exact sum of its finite
    magnitudes exceeds the dtype's largest finite value, so that a sum (or an L1 norm) formed in
    that dtype is inf whatever the order of summation. The float64 sum of float16, bfloat16 or
    float32 magnitudes is within a relative 2**-40 of exact for any slice length the suite uses,
    far below the margin that matters; a float64 sum past float64's max is inf, which exceeds it."""
    rows = np.asarray(rows)
    if not is_float_dtype(rows.dtype):
        return np.zeros(rows.shape[0], dtype=bool)
    values = np.abs(rows.astype(np.float64))
    with np.errstate(over="ignore", invalid="ignore"):
        totals = np.sum(np.where(np.isfinite(values), values, 0.0), axis=-1)
    return totals > dtype_info(rows.dtype).max


def has_subnormal_entry(rows: np.ndarray) -> np.ndarray:
    """Per row: whether it holds a subnormal entry (nonzero, below the dtype's smallest normal),
    which a kernel running with denormals-are-zero reads as 0."""
    rows = np.asarray(rows)
    if not is_float_dtype(rows.dtype):
        return np.zeros(rows.shape[0], dtype=bool)
    values = np.abs(rows.astype(np.float64))
    return np.any((values > 0) & (values < dtype_info(rows.dtype).tiny), axis=-1)


def all_zero(rows: np.ndarray) -> np.ndarray:
    """Per row: whether every entry is zero (of either sign): a slice whose sum and norms are 0."""
    rows = np.asarray(rows)
    return np.all(rows == 0, axis=-1)


SLICE_CONDITIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sum-overflow": sum_overflows,
    "subnormal-entry": has_subnormal_entry,
    "all-zero": all_zero,
}


def _out_of_normal_range(values: np.ndarray, tiny: float, largest: float) -> np.ndarray:
    """Per row: whether some non-zero value is below ``tiny`` or above ``largest`` in magnitude
    (an infinite or NaN one included: a division by a zero sum)."""
    magnitude = np.abs(values)
    with np.errstate(invalid="ignore"):
        outside = (magnitude != 0) & ~((magnitude >= tiny) & (magnitude <= largest))
    return np.any(outside, axis=-1)


def normalization_divisor(x: np.ndarray, l1: bool, eps: float | None) -> np.ndarray:
    """The exact divisor S of a sum normalization, per row of ``x`` (the normalized axis last, in
    a type wide enough for the sum, ``reference.ulp.error_work_type``), kept as a column: sum(x),
    or for an L1 normalization (``l1``) max(sum(|x|), ``eps``)."""
    with np.errstate(all="ignore"):
        s = np.sum(np.abs(x) if l1 else x, axis=-1, keepdims=True)
    return np.maximum(s, x.dtype.type(eps)) if l1 and eps is not None else s


def divisor_form(op: object, dtype: object) -> tuple[bool, float | None]:
    """How a sum normalization ``op`` divides in ``dtype``, as ``normalization_divisor`` takes it:
    whether it is an L1 normalization, and its eps rounded to ``dtype`` (None: no eps)."""
    return contract_of(op).kind == L1_NORMALIZE, rounded_eps(op, dtype)


def _quotient_rule_terms(
    x_rows: np.ndarray, g_rows: np.ndarray, l1: bool, eps: float | None
) -> dict[str, np.ndarray]:
    """The intermediates a backward pass of ``x / S`` may form, per element, exact enough to place
    them against the dtype's range: S = sum(x) (an L1 normalization's max(sum(|x|), eps)) and its
    square, the cotangent ``g`` times x."""
    wide = error_work_type(x_rows, x_rows.dtype)
    x, g = x_rows.astype(wide), g_rows.astype(wide)
    s = normalization_divisor(x, l1, eps)
    with np.errstate(all="ignore"):
        square = s * s
        terms = {
            "S^2": np.broadcast_to(square, x.shape),
            "1/S^2": np.broadcast_to(1 / square, x.shape),
            "g x": g * x,
            "x/S^2": x / square,
            "g/S^2": g / square,
            "g x/S^2": g * x / square,
            "x/S": x / s,
            "1/S": np.broadcast_to(1 / s, x.shape),
            "g x/S": g * x / s,
            "g/S": g / s,
        }
    return terms


# JAX differentiates a / s through the denominator as -g * a * s**-2 (the square of the sum formed);
# TensorFlow's and PyTorch's kernels form (x / S) / S and its products with g.
SQUARE_OF_SUM_TERMS = ("S^2", "1/S^2", "g x", "x/S^2", "g/S^2", "g x/S^2")
QUOTIENT_TERMS = ("x/S", "1/S", "x/S^2", "g x/S^2", "g x/S", "g/S")


def gradient_conditions(
    x_rows: np.ndarray, g_rows: np.ndarray, l1: bool = False, eps: float | None = None
) -> list[tuple[str, ...]]:
    """Per slice of a sum-normalization's backward pass (input ``x_rows``, cotangent ``g_rows``,
    normalized axis last), the ``GRADIENT_CONDITIONS`` it meets: ``square-of-sum-out-of-range``
    when S^2, 1/S^2, g x, x/S^2, g/S^2 or g x/S^2 has a non-zero element outside the dtype's
    normal range; ``quotient-out-of-range`` the same for x/S, 1/S, x/S^2, g x/S^2, g x/S, g/S.
    S is sum(x), or for an L1 normalization (``l1``) max(sum(|x|), ``eps``)."""
    x_rows, g_rows = np.asarray(x_rows), np.asarray(g_rows)
    if x_rows.ndim != 2 or x_rows.shape != g_rows.shape or not is_float_dtype(x_rows.dtype):
        return [() for _ in range(len(x_rows))]
    info = dtype_info(x_rows.dtype)
    terms = _quotient_rule_terms(x_rows, g_rows, l1, eps)
    met = {
        name: np.any([_out_of_normal_range(terms[t], info.tiny, info.max) for t in names], axis=0)
        for name, names in GRADIENT_CONDITIONS.items()
    }
    return [tuple(name for name in GRADIENT_CONDITIONS if met[name][r]) for r in range(len(x_rows))]


GRADIENT_CONDITIONS: dict[str, tuple[str, ...]] = {
    "square-of-sum-out-of-range": SQUARE_OF_SUM_TERMS,
    "quotient-out-of-range": QUOTIENT_TERMS,
}

# A flush to zero of a result below twice the smallest normal: a kernel that forms
# ``exp(x - max) * (1 / sum)`` or ``exp(x - max - log(sum))`` with flush-to-zero arithmetic loses
# the outputs whose intermediate falls below the smallest normal, which reaches up to 2 tiny
# (below tiny, ``conformance.properties.flush_accepted`` already accepts a 0).
NEAR_TINY_FACTOR = 2.0


def undo_flush_near_tiny(y: np.ndarray, exact: np.ndarray, rounded: np.ndarray, tiny: float) -> np.ndarray:
    """``y`` with each 0 whose exact value lies in (0, 2 tiny) in magnitude replaced by the correctly
    rounded value (``rounded``, in ``y``'s dtype): the output of the same kernel without that flush.
    Every other element, and every element of a non-float ``y``, is left as it is."""
    y = np.asarray(y)
    if not is_float_dtype(y.dtype) or y.shape != np.shape(exact):
        return y
    with np.errstate(invalid="ignore"):
        magnitude = np.abs(np.asarray(exact).astype(np.float64))
        flushed = (y.astype(np.float64) == 0) & (magnitude > 0) & (magnitude < NEAR_TINY_FACTOR * tiny)
    if not np.any(flushed):
        return y
    return np.where(flushed, np.asarray(rounded).astype(y.dtype), y)


# name -> repair(y, exact, rounded, tiny of the judged dtype): the output with the mechanism undone
OUTPUT_REPAIRS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray]] = {
    "flush-near-tiny": undo_flush_near_tiny,
}
# Conditions met when the output is a documented mechanism's (``conformance.emulations``; a float64
# cell computed in float32, ``conformance.computed_in_float32``), decided by the evaluation that
# holds the outputs (``conformance.evaluation.conditions``, ``conformance.gradients``).
EMULATION_CONDITIONS: tuple[str, ...] = (
    "xla-temperature-rewrite",
    "linear-sum-denominator",
    "computed-in-float32",
    "computed-in-float32-flush-near-tiny",
    "float32-norm-denominator",
)
assert (*SLICE_CONDITIONS, *GRADIENT_CONDITIONS, *OUTPUT_REPAIRS, *EMULATION_CONDITIONS) == CONDITIONS


def with_condition(found: list[tuple[str, ...]] | None, name: str, met: np.ndarray) -> list[tuple[str, ...]]:
    """The conditions of each failing slice, ``found`` (None: none yet), with ``name`` added to those
    of the slices where ``met`` (per slice) holds."""
    flags = np.asarray(met, dtype=bool).tolist()
    found = [() for _ in flags] if found is None else found
    return [(*f, name) if m else f for f, m in zip(found, flags, strict=True)]


def row_conditions(rows: np.ndarray) -> list[tuple[str, ...]]:
    """Per row of ``rows`` (failing slices of one input), the input conditions it meets, in
    ``SLICE_CONDITIONS`` order."""
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[0] == 0:
        return []
    met = np.stack([meets(rows) for meets in SLICE_CONDITIONS.values()], axis=1)
    names = tuple(SLICE_CONDITIONS)
    return [tuple(n for n, m in zip(names, row, strict=True) if m) for row in met.tolist()]
