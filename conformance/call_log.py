"""The log of a cell's calls: every input it was called on and what came back, for its aliases.

The contract: a cell evaluated with a ``call_log`` (a list) appends one ``LoggedCall`` per call of
its implementation (``kind`` "call": the API itself, on ``device``; "eager": the eager counterpart
of a compiled mode; "vjp": the backward pass with cotangent ``g``), in call order: the probe, the
corpus, the Hypothesis search, the shrinker, the paired calls, the sample, the backward pass. The
inputs and outputs are references to the arrays the evaluation holds anyway, not copies. An alias
API replays the log (``conformance.evaluation.aliasing``) and must match every output bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference.axes import Axis


@dataclass(frozen=True)
class LoggedCall:
    kind: str  # "call" | "eager" | "vjp"
    x: np.ndarray
    axis: Axis  # an int, or a tuple of axes / None for a joint-axes case
    device: str
    g: np.ndarray | None  # the cotangent of a "vjp" call
    y: object  # what came back (an array, or whatever a broken implementation returned); None if it raised
    error: str | None  # the exception in one line (``conformance.outcome.short_error``), or None
