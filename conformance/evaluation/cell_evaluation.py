"""``CellEvaluation``: call the implementation on every input once, judge many times.

The contract: ``CellEvaluation(cell, profile, seed).run()`` probes the cell (a decline makes it
``unsupported``, any other exception a ``probe_error``), calls it on the corpus and the
Hypothesis search (``InputsMixin``, through ``CallingMixin``) and runs the backward pass
(``conformance.gradients``); then ``outcome(property)`` (``ReductionMixin``) judges any
property from the kept observations, and ``semantics()``/``sample()`` (``SemanticsMixin``) give
the special-input rows. The fields below are the whole state the mixins share.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from conformance.adapters.base import decline_reason
from conformance.evaluation.calling import CallingMixin, probe_input
from conformance.evaluation.cell import Cell, Observation
from conformance.evaluation.inputs import InputsMixin
from conformance.evaluation.reduction import ReductionMixin
from conformance.evaluation.semantics import SemanticsMixin
from conformance.gradients import GradientEvaluation, gradient_seed
from conformance.profiles import Profile
from reference.dtypes import dtype_from_name


@dataclass
class CellEvaluation(CallingMixin, InputsMixin, ReductionMixin, SemanticsMixin):
    cell: Cell
    profile: Profile
    seed: int
    unsupported: str | None = None  # the framework declined (``decline_reason``)
    probe_error: str | None = None  # the probe input raised something that is not a decline
    observations: list[Observation] = field(default_factory=list)
    call_seconds: float = 0.0
    calls: int = 0
    hypothesis_error: str | None = None
    # A cell on a non-CPU device repeats every observed call and makes it on the CPU too, a
    # compiled mode makes it in eager mode too (``DEVICE_PROPERTIES``); ``_pair`` holds the
    # (repeat, cpu, eager) outputs of the last such call.
    paired: bool = False
    _pair: tuple[np.ndarray | None, ...] = (None, None, None)
    # Paired calls that raised or gave no array of the input's shape, per "repeat" | "cpu" |
    # "eager": (count, first message). The property comparing with them is then an error.
    pair_errors: dict[str, tuple[int, str]] = field(default_factory=dict)
    # paired calls that raised on a special input (kind: (case, error)): reported, not judged
    special_pair_errors: dict[str, tuple[str, str]] = field(default_factory=dict)
    _last_exception: BaseException | None = None
    # CPU cells: the corpus' stacked calls are made twice (repeatability), nothing else.
    _repeat_on_cpu: bool = False
    # Compiled modes: the first call per (shape, dtype, axis) is made twice; compile time is
    # the first call's time less the second's (``timing``).
    compile_seconds: float = 0.0
    compiles: int = 0
    _compiled_keys: set = field(default_factory=set)
    gradients: GradientEvaluation | None = None
    # Every call made, in order (``conformance.call_log``), when the session keeps it
    # for the cell's aliases; None (the default): not kept.
    call_log: list | None = None
    # An alias cell judged in full: the replay of its canonical's calls and where it differed
    # (``conformance.evaluation.aliasing.Replay.as_record``), shown in ``timing``.
    alias_check: dict | None = None

    def run(self) -> CellEvaluation:
        self.paired = self.cell.device != "cpu"
        probe = probe_input(self.cell.dtype)
        self._last_exception = None
        _, error = self._call_rows(probe) if self.profile.compact_shapes else self._call(probe, -1)
        if error is not None:
            exc = self._last_exception
            reason = decline_reason(exc, self.cell.dtype) if exc is not None else None
            if reason is not None:
                self.unsupported = reason
            else:
                self.probe_error = f"the probe input [[0, 1, 2]] raised {error}"
            return self
        self._run_corpus()
        self._run_hypothesis()
        if self.cell.impl.vjp is not None:
            impl, dtype = self.cell.impl, self.cell.dtype
            seed = gradient_seed(impl.op, dtype)
            lengths = self.profile.gradient_lengths
            self.gradients = GradientEvaluation(
                impl,
                self.cell.device,
                dtype,
                lengths,
                seed,
                call_log=self.call_log,
                long_non_last=self.profile.gradient_long_non_last,
            ).run()
        return self

    @property
    def _dtype(self) -> np.dtype:
        return dtype_from_name(self.cell.dtype)
