"""Inputs: the curated corpus and the Hypothesis strategies.

A ``Case`` is one input array and the axis to normalize along. Cases whose
array is 2-D with ``axis=-1`` are *row cases*: the runner stacks row cases of
equal length into one framework call (compute once, judge many), which is safe
because every slice is independent. Every other case is called on its own.

``axis`` is an int, or, for the APIs that accept them (``ApiSpec.axes``), a tuple of ints or None
(every axis): the case is then normalized over the joint axes. Its *axis form* (``axis_form``:
``AXIS_INT``, ``AXIS_TUPLE``, ``AXIS_NONE``) decides which implementations are given it; the
evaluation judges such a case on its joint view (``joint``: the joint axes moved last and
flattened, exact because the three ops depend only on the entries of a slice, not their order).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reference.axes import Axis, is_single_axis, joint_last, joint_length

AXIS_INT = "int"  # one axis
AXIS_TUPLE = "tuple"  # a tuple of axes, normalized over jointly
AXIS_NONE = "none"  # axis=None: every axis
AXIS_FORMS: tuple[str, ...] = (AXIS_INT, AXIS_TUPLE, AXIS_NONE)


def axis_form(axis: Axis) -> str:
    """``AXIS_INT``, ``AXIS_TUPLE`` or ``AXIS_NONE``: which form of axis argument ``axis`` is."""
    if axis is None:
        return AXIS_NONE
    return AXIS_INT if is_single_axis(axis) else AXIS_TUPLE


@dataclass(frozen=True)
class Case:
    """One input: ``x`` (already in the dtype under test, or an integer dtype) and ``axis`` (an int, a
    tuple of ints or None: see the module docstring)."""

    name: str
    x: np.ndarray = field(compare=False, repr=False)
    axis: Axis = -1
    description: str = ""
    special: bool = False  # a semantics case: observed and classified, not judged for precision

    @property
    def is_row_case(self) -> bool:
        return self.x.ndim == 2 and self.axis in (-1, 1) and self.x.shape[1] > 0

    @property
    def length(self) -> int:
        """Length of the normalized axis (1 for 0-d input; the joint slice's size for joint axes)."""
        if self.x.ndim == 0:
            return 1
        return (
            int(self.x.shape[self.axis])
            if is_single_axis(self.axis)
            else joint_length(self.x.shape, self.axis)
        )

    @property
    def axis_form(self) -> str:
        """``AXIS_INT``, ``AXIS_TUPLE`` or ``AXIS_NONE``."""
        return axis_form(self.axis)

    def joint(self) -> Case:
        """This case with its joint axes moved last and flattened (``axis=-1``); itself for one axis."""
        if is_single_axis(self.axis):
            return self
        flat = np.ascontiguousarray(joint_last(self.x, self.axis))
        return Case(self.name, flat, -1, self.description, self.special)


__all__ = ["AXIS_FORMS", "AXIS_INT", "AXIS_NONE", "AXIS_TUPLE", "Case", "axis_form"]
