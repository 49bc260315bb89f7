"""Hypothesis strategies that generate whole batches: one framework call per example.

A batch is drawn as a handful of parameters (layout, length, number of rows,
distribution, scale, offset, special values, a seed) and the array is made from
them with NumPy. Drawing parameters instead of every element keeps generation
fast for long axes, and Hypothesis still shrinks: towards one row, a short axis,
unit scale, no offset and no special values. Lengths come from a fixed menu so
that compiled modes compile a bounded number of shapes.

Layouts: rows along the last axis (most batches), a 3-D block normalized along
axis 0, 1 or -1, and a transposed (non-contiguous) view.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from conformance.cases import Case
from reference.dtypes import dtype_from_name, dtype_info
from reference.rounding import round_to_dtype

BATCH_LENGTHS: tuple[int, ...] = (1, 2, 3, 5, 8, 16, 64, 256)
BATCH_ROWS: tuple[int, ...] = (1, 4, 16)
LAYOUTS: tuple[str, ...] = ("rows", "rows", "rows", "block3d", "transposed")
DISTRIBUTIONS: tuple[str, ...] = ("normal", "uniform", "ties", "near_ties", "integers", "exponential")
SPECIALS: tuple[str, ...] = ("none", "nan", "posinf", "neginf", "all_neginf", "zero", "subnormal")


def _scales(dtype: str) -> list[float]:
    info = dtype_info(dtype_from_name(dtype))
    thr = info.exp_overflow
    return [1.0, 1e-3, 0.1, 3.0, 10.0, thr / 2, thr, 2 * thr, min(1e4, info.max / 64)]


def _values(
    rng: np.random.Generator, shape: tuple[int, ...], dist: str, dtype: str, nonnegative: bool
) -> np.ndarray:
    info = dtype_info(dtype_from_name(dtype))
    if dist == "normal":
        v = rng.standard_normal(shape)
    elif dist == "uniform":
        v = rng.uniform(-1, 1, shape)
    elif dist == "ties":
        v = np.broadcast_to(rng.standard_normal((*shape[:-1], 1)), shape).copy()
    elif dist == "near_ties":
        v = 1.0 + rng.integers(0, 4, shape) * 2 * info.unit_roundoff
    elif dist == "integers":
        v = rng.integers(-8, 9, shape).astype(np.float64)
    else:
        v = rng.exponential(size=shape)
    return np.abs(v) if nonnegative else v


@st.composite
def batches(
    draw: st.DrawFn,
    dtype: str,
    op: str,
    allow_special: bool = True,
    layouts: tuple[str, ...] = LAYOUTS,
) -> Case:
    """One batch for ``op`` in ``dtype``, as a ``Case`` named ``hypothesis``; layouts from ``layouts``."""
    layout = draw(st.sampled_from(layouts))
    n = draw(st.sampled_from(BATCH_LENGTHS))
    rows = draw(st.sampled_from(BATCH_ROWS))
    dist = draw(st.sampled_from(DISTRIBUTIONS))
    scale = draw(st.sampled_from(_scales(dtype)))
    offset = draw(st.sampled_from([0.0, 0.0, 1.0, -50.0, 100.0]))
    special = draw(st.sampled_from(SPECIALS)) if allow_special else "none"
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    nonnegative = op == "sum_normalize" and draw(st.booleans())
    values = _values(rng, (rows, n), dist, dtype, nonnegative) * scale
    if not nonnegative:
        values = values + offset
    info = dtype_info(dtype_from_name(dtype))
    values = np.clip(values, -info.max, info.max)
    if special != "none":
        row = int(rng.integers(rows))
        col = int(rng.integers(n))
        if special == "nan":
            values[row, col] = np.nan
        elif special == "posinf":
            values[row, col] = np.inf
        elif special == "neginf":
            values[row, col] = -np.inf
        elif special == "all_neginf":
            values[row, :] = -np.inf
        elif special == "zero":
            values[row, :] = 0.0
        else:
            values[row, col] = info.smallest_subnormal * (1 + col)
    x = round_to_dtype(values, dtype_from_name(dtype))
    if layout == "block3d" and rows % 2 == 0:
        axis = draw(st.sampled_from([0, 1, -1]))
        block = x.reshape(2, rows // 2, n)
        # Move the drawn axis so that each original row still lies along it.
        x3 = np.moveaxis(block, -1, axis)
        return Case(f"hypothesis[{layout},{dist},{special}]", x3, axis, "generated batch")
    if layout == "transposed":
        return Case(f"hypothesis[{layout},{dist},{special}]", x.T, 0, "generated batch (strided view)")
    return Case(f"hypothesis[rows,{dist},{special}]", x, -1, "generated batch")
