"""Inputs: the curated corpus and the Hypothesis strategies.

A ``Case`` is one input array and the axis to normalize along. Cases whose
array is 2-D with ``axis=-1`` are *row cases*: the runner stacks row cases of
equal length into one framework call (compute once, judge many), which is safe
because every slice is independent. Every other case is called on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Case:
    """One input: ``x`` (already in the dtype under test, or an integer dtype) and ``axis``."""

    name: str
    x: np.ndarray = field(compare=False, repr=False)
    axis: int = -1
    description: str = ""
    special: bool = False  # a semantics case: observed and classified, not judged for precision

    @property
    def is_row_case(self) -> bool:
        return self.x.ndim == 2 and self.axis in (-1, 1) and self.x.shape[1] > 0

    @property
    def length(self) -> int:
        """Length of the normalized axis (1 for 0-d input)."""
        return 1 if self.x.ndim == 0 else int(self.x.shape[self.axis])


__all__ = ["Case"]
