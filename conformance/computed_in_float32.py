"""The ``computed-in-float32`` conditions: a float64 cell's failing slice is a correct float32 result.

Keras layers compute in their dtype policy, float32 by default: a float64 input is cast to float32,
the float32 kernel runs, and the result comes back in float32 (or cast back up). Judged as float64,
every property of such a cell fails, so an entry about it would have to cover every failure of the
cell, and would hide any float32 error of the kernel behind the policy. With these conditions an
entry covers a failing slice only when the float32 computation explains all of it:

* ``computed-in-float32``: every value of the output slice is a float32 number, and the float32
  ``precision`` property (forward) or ``grad_precision`` (backward), judged on the input (and
  cotangent) rounded to float32 against the oracle's answer for that float32 input, passes on it;
  or the cast took an entry of the slice past float32's range (a finite float64 entry became
  +-inf), the float32 slice is undefined, and the output slice is all NaN or the oracle's limit;
* ``computed-in-float32-flush-near-tiny``: the same once the outputs a float32 kernel with
  flush-to-zero arithmetic returns as 0 just above float32's smallest normal are put back
  (``conformance.slice_conditions.undo_flush_near_tiny``, as the ``flush-near-tiny`` repair does
  for a float32 cell); met by every slice that meets the first.

Any error beyond the float32 error model (an output a few hundred float32 ULP off, a NaN in a row
that fits float32) meets neither. The check runs on failing slices of float64 cells only.
"""

from __future__ import annotations

import numpy as np

from conformance.gradient_properties import grad_precision, gradient_oracle
from conformance.properties import oracle_for, precision
from conformance.slice_conditions import undo_flush_near_tiny
from reference.rounding import round_to_dtype

FLOAT32 = np.dtype(np.float32)
COMPUTED_IN_FLOAT32 = "computed-in-float32"
COMPUTED_IN_FLOAT32_FLUSH = "computed-in-float32-flush-near-tiny"


def _float32_values(y_rows: np.ndarray) -> np.ndarray:
    """Per row: whether every value is a float32 number (NaN included)."""
    y64 = y_rows.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        back = y64.astype(np.float32).astype(np.float64)
    return np.all((back == y64) | (np.isnan(back) & np.isnan(y64)), axis=-1)


def _cast_overflowed(x_rows: np.ndarray, x32: np.ndarray) -> np.ndarray:
    """Per row: whether rounding to float32 made a finite entry infinite."""
    return np.any(np.isfinite(x_rows) & ~np.isfinite(x32), axis=-1)


def _nan_or_limit(y32: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Per row: all NaN, or every element the oracle's (rounded) limit for the float32 slice."""
    limit = np.asarray(limit).astype(np.float64)
    y64 = y32.astype(np.float64)
    same = (y64 == limit) | (np.isnan(y64) & np.isnan(limit))
    return np.all(np.isnan(y64), axis=-1) | np.all(same, axis=-1)


def _usable(x_rows: np.ndarray, out_rows: np.ndarray) -> bool:
    return (
        x_rows.dtype == np.float64
        and out_rows.dtype.kind == "f"
        and x_rows.ndim == 2
        and x_rows.shape == out_rows.shape
        and x_rows.shape[1] > 0
    )


def forward_computed_in_float32(op: object, x_rows: np.ndarray, y_rows: np.ndarray) -> list[tuple[str, ...]]:
    """Per row of a float64 cell's failing slices (``x_rows``, the outputs ``y_rows``; normalized
    axis last), the conditions of the module it meets: ``(computed-in-float32,
    computed-in-float32-flush-near-tiny)``, the second alone, or none."""
    x_rows, y_rows = np.asarray(x_rows), np.asarray(y_rows)
    if not _usable(x_rows, y_rows):
        return [() for _ in range(len(x_rows))]
    with np.errstate(over="ignore", invalid="ignore"):
        x32 = x_rows.astype(np.float32)
        y32 = y_rows.astype(np.float32)
    oracle = oracle_for(op, x32, -1, FLOAT32)
    overflowed = _cast_overflowed(x_rows, x32)
    representable = _float32_values(y_rows)

    def met(y: np.ndarray) -> np.ndarray:
        res = precision(x32, y, oracle, op, FLOAT32, -1)
        applicable, passed = np.asarray(res.applicable), np.asarray(res.passed)
        undefined = ~applicable & overflowed & _nan_or_limit(y, oracle.rounded)
        return representable & ((applicable & passed) | undefined)

    plain = met(y32)
    repaired = plain | met(undo_flush_near_tiny(y32, oracle.exact, oracle.rounded, np.finfo(np.float32).tiny))
    return [_names(p, r) for p, r in zip(plain.tolist(), repaired.tolist(), strict=True)]


def gradient_computed_in_float32(
    op: object, x_rows: np.ndarray, g_rows: np.ndarray, gx_rows: np.ndarray, renormalized: bool = False
) -> list[tuple[str, ...]]:
    """The same for a float64 cell's failing backward slices: input ``x_rows``, cotangent
    ``g_rows``, the gradient ``gx_rows``; judged by ``grad_precision`` in float32 on the rounded
    input and cotangent. An undefined float32 slice (the cast overflowed) meets it with an all-NaN
    gradient or the oracle's rounded exact one. (No flush repair: ``grad_precision`` accepts a 0
    wherever a result within the allowance could be subnormal.)"""
    x_rows, g_rows, gx_rows = np.asarray(x_rows), np.asarray(g_rows), np.asarray(gx_rows)
    if not _usable(x_rows, gx_rows) or g_rows.shape != x_rows.shape:
        return [() for _ in range(len(x_rows))]
    with np.errstate(over="ignore", invalid="ignore"):
        x32, g32 = x_rows.astype(np.float32), g_rows.astype(np.float32)
        gx32 = gx_rows.astype(np.float32)
    oracle = gradient_oracle(op, x32, g32, -1, FLOAT32, renormalized=renormalized)
    res = grad_precision(x32, g32, gx32, oracle, op, FLOAT32, -1)
    applicable, passed = np.asarray(res.applicable), np.asarray(res.passed)
    limit = round_to_dtype(np.asarray(oracle.exact).astype(np.float64), FLOAT32)
    undefined = ~applicable & _cast_overflowed(x_rows, x32) & _nan_or_limit(gx32, limit)
    met = _float32_values(gx_rows) & ((applicable & passed) | undefined)
    return [_names(m, m) for m in met.tolist()]


def _names(plain: bool, repaired: bool) -> tuple[str, ...]:
    return ((COMPUTED_IN_FLOAT32,) if plain else ()) + ((COMPUTED_IN_FLOAT32_FLUSH,) if repaired else ())
