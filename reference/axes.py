"""Joint axes: normalizing over a tuple of axes, or over every axis (``axis=None``).

Contract
--------
An *axis argument* is an int (possibly negative), a tuple of distinct ints (possibly negative,
in any order, contiguous or not) or None (every axis). ``normalize_axes`` turns it into the
sorted tuple of non-negative axes it names, and raises ``numpy.exceptions.AxisError`` (a
ValueError) for an axis out of range and ``ValueError`` for a repeated or empty tuple.

``joint_last(a, axis)`` moves the named axes to the end, in ascending order, and flattens them
into one axis: the result has the other axes first (in their order) and one last axis of
``prod(shape[axes])`` entries. ``restore(flat, shape, axis)`` is its exact inverse.

Numerical assumption
--------------------
Softmax, log-softmax and sum-normalization over joint axes are the same functions of the
multiset of entries in each joint slice: the exact result does not depend on the order in which
the slice's entries are listed. So the exact answer over joint axes is the exact answer of the
flattened slice, put back in place; the transform only moves values (no arithmetic), so it is
exact in every dtype. (An implementation's *rounding* may depend on the order it sums in; the
error model bounds any order.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# An axis argument: one axis, several (joint) axes, or every axis.
Axis = int | tuple[int, ...] | None


def is_single_axis(axis: object) -> bool:
    """True for one int axis (a Python or NumPy integer, not a bool)."""
    return isinstance(axis, (int, np.integer)) and not isinstance(axis, bool)


def normalize_axes(axis: Axis | Sequence[int], ndim: int) -> tuple[int, ...]:
    """The sorted, non-negative axes ``axis`` names in an array of ``ndim`` dimensions.

    A 0-d array has one implicit axis: ``-1``, ``0`` and None name it, and the result is ``()``.
    """
    if axis is None:
        return tuple(range(ndim))
    axes = (int(axis),) if is_single_axis(axis) else tuple(int(a) for a in axis)  # type: ignore[union-attr]
    if not axes:
        raise ValueError("an empty tuple of axes names no axis to normalize over")
    if ndim == 0:
        if any(a not in (-1, 0) for a in axes) or len(axes) > 1:
            raise np.exceptions.AxisError(f"axis {axis!r} is out of bounds for a 0-d array")
        return ()
    for a in axes:
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(a, ndim)
    canonical = [a % ndim for a in axes]
    if len(set(canonical)) != len(canonical):
        raise ValueError(f"axis {axis!r} names an axis twice")
    return tuple(sorted(canonical))


def joint_length(shape: tuple[int, ...], axis: Axis) -> int:
    """The number of entries in one joint slice (1 for a 0-d array)."""
    return math.prod(shape[a] for a in normalize_axes(axis, len(shape)))


def _order(ndim: int, axes: tuple[int, ...]) -> list[int]:
    return [i for i in range(ndim) if i not in axes] + list(axes)


def joint_last(a: np.ndarray, axis: Axis) -> np.ndarray:
    """``a`` with the axes ``axis`` names moved to the end and flattened into one last axis (a copy
    where NumPy needs one). A 0-d array becomes a 1-element 1-D array."""
    a = np.asarray(a)
    if a.ndim == 0:
        return a.reshape(1)
    axes = normalize_axes(axis, a.ndim)
    moved = np.transpose(a, _order(a.ndim, axes))
    outer = moved.shape[: a.ndim - len(axes)]
    return moved.reshape((*outer, math.prod(a.shape[i] for i in axes)))


def restore(flat: np.ndarray, shape: tuple[int, ...], axis: Axis) -> np.ndarray:
    """The inverse of ``joint_last``: ``flat`` (as it returned for an array of ``shape``) put back."""
    flat = np.asarray(flat)
    if len(shape) == 0:
        return flat.reshape(())
    axes = normalize_axes(axis, len(shape))
    order = _order(len(shape), axes)
    moved = flat.reshape(tuple(shape[i] for i in order))
    return np.transpose(moved, np.argsort(order))


__all__ = ["Axis", "is_single_axis", "joint_last", "joint_length", "normalize_axes", "restore"]
