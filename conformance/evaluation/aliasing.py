"""Alias APIs: replay the canonical API's calls, and inherit its verdicts when every bit matches.

The contract: an implementation with ``alias_of`` (``torch.softmax`` of ``F.softmax``) is expected to
compute the same function, so judging it again repeats the canonical's work. When the canonical cell
(same framework, mode, device and dtype) was evaluated first in the same process, with its calls
logged (``conformance.call_log``), ``replay`` calls the alias on every one of those inputs, in the
same order: the probe, the corpus, the Hypothesis batches, the shrinker's inputs, the paired
(repeat, CPU, eager) calls, the sample and every backward (VJP) call. Only if every output matches
the canonical's bit for bit (same dtype, shape and bytes; or both calls raised with the same
one-line message) does the alias inherit the canonical's outcomes (``InheritedEvaluation``), its
semantics rows and sample; the records say so (``inherited_from``). A single differing bit, a
different exception or a missing backward pass, and the alias is judged in full like any cell.

Numerical assumption: a deterministic function's verdicts depend only on its outputs on the judged
inputs; two APIs with identical outputs on all of them get identical verdicts from every property
(the oracle and the error model depend on the input and the op, both shared).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from conformance.adapters.base import Implementation
from conformance.call_log import LoggedCall
from conformance.evaluation.cell import Cell
from conformance.outcome import PropertyOutcome, short_error
from conformance.repro import rebase_repro

_UNSET = object()


def same_bits(a: object, b: object) -> bool:
    """True when ``a`` and ``b`` are arrays of one dtype and shape with the same bytes (NaN payloads
    and the sign of zero included)."""
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
        return False
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@dataclass
class Replay:
    """What replaying a canonical cell's calls on an alias gave: ``difference`` (the first call that
    did not match, in words) is None when every call matched."""

    canonical: str  # the canonical cell's id
    calls: int = 0
    forward_seconds: float = 0.0
    backward_seconds: float = 0.0
    difference: str | None = None

    @property
    def identical(self) -> bool:
        return self.difference is None

    def as_record(self) -> dict:
        """The ``alias_check`` entry of the alias cell's ``timing``."""
        return {
            "canonical": self.canonical,
            "identical": self.identical,
            "calls": self.calls,
            "seconds": round(self.forward_seconds + self.backward_seconds, 4),
            "difference": self.difference,
        }


def replay(alias: Implementation, log: Sequence[LoggedCall], canonical: str) -> Replay:
    """Call ``alias`` on every logged call of the canonical cell ``canonical``; stop at the first
    output that differs in any bit (or an exception that differs)."""
    result = Replay(canonical)
    for i, entry in enumerate(log):
        fn = {"vjp": alias.vjp, "eager": alias.eager_call, "call": alias.call}[entry.kind]
        where = f"call {i + 1} of {len(log)} ({entry.kind}, input shape {tuple(entry.x.shape)})"
        if fn is None:
            result.difference = f"{where}: the alias has no {entry.kind} function"
            return result
        start = time.perf_counter()
        y, error = None, None
        try:
            with np.errstate(all="ignore"):
                if entry.kind == "vjp":
                    y = fn(entry.x, entry.g, entry.axis, entry.device)
                else:
                    y = fn(entry.x, entry.axis, entry.device)
        except Exception as exc:
            error = short_error(exc)
        seconds = time.perf_counter() - start
        if entry.kind == "vjp":
            result.backward_seconds += seconds
        else:
            result.forward_seconds += seconds
        result.calls += 1
        if entry.error is not None or error is not None:
            if entry.error != error:
                result.difference = f"{where}: canonical raised {entry.error!r}, alias {error!r}"
                return result
        elif not same_bits(entry.y, y):
            result.difference = f"{where}: {_difference(entry.y, y)}"
            return result
    return result


def _difference(a: object, b: object) -> str:
    """How two outputs differ, in words."""
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
        return f"outputs of type {type(a).__name__} and {type(b).__name__}"
    if a.dtype != b.dtype or a.shape != b.shape:
        return f"outputs {a.dtype}{a.shape} and {b.dtype}{b.shape}"
    bits_a = np.frombuffer(a.tobytes(), dtype=np.uint8)
    bits_b = np.frombuffer(b.tobytes(), dtype=np.uint8)
    elements = int(np.count_nonzero((bits_a != bits_b).reshape(-1, a.itemsize).any(axis=1)))
    return f"{elements} of {a.size} output element(s) differ in their bits"


@dataclass
class JudgedCell:
    """A canonical cell's evaluation with its outcomes, sample and semantics rows kept (computed once),
    so that its aliases can inherit them; ``complete`` computes what is still missing."""

    evaluation: object  # a CellEvaluation with a call log
    outcomes: dict[str, PropertyOutcome] = field(default_factory=dict)
    _sample: object = _UNSET
    _semantics: list[dict] | None = None

    @property
    def cell(self) -> Cell:
        return self.evaluation.cell

    @property
    def unsupported(self) -> str | None:
        return self.evaluation.unsupported

    @property
    def probe_error(self) -> str | None:
        return self.evaluation.probe_error

    def outcome(self, prop: str) -> PropertyOutcome:
        if prop not in self.outcomes:
            self.outcomes[prop] = self.evaluation.outcome(prop)
        return copy.deepcopy(self.outcomes[prop])

    def sample(self) -> dict | None:
        if self._sample is _UNSET:
            self._sample = self.evaluation.sample()
        return copy.deepcopy(self._sample)

    def semantics(self) -> list[dict]:
        if self._semantics is None:
            self._semantics = self.evaluation.semantics()
        return copy.deepcopy(self._semantics)

    def timing(self) -> dict:
        return self.evaluation.timing()

    def complete(self, props: Sequence[str]) -> None:
        """Judge every property in ``props`` and take the sample and semantics rows (whose calls are
        then in the log), before an alias replays the log."""
        for prop in props:
            self.outcome(prop)
        self.sample()
        self.semantics()

    @property
    def call_log(self) -> list[LoggedCall]:
        return self.evaluation.call_log


@dataclass
class InheritedEvaluation:
    """An alias cell whose outputs matched its canonical's on every call: the canonical's outcomes,
    sample and semantics rows, with repro snippets rewritten to run the alias."""

    cell: Cell
    canonical: JudgedCell
    replay: Replay

    @property
    def unsupported(self) -> str | None:
        return self.canonical.unsupported

    @property
    def probe_error(self) -> str | None:
        return self.canonical.probe_error

    @property
    def inherited_from(self) -> str:
        return self.canonical.cell.id

    def outcome(self, prop: str) -> PropertyOutcome:
        out = self.canonical.outcome(prop)
        out.repro = rebase_repro(out.repro, self.canonical.cell.impl, self.cell.impl)
        return out

    def sample(self) -> dict | None:
        return self.canonical.sample()

    def semantics(self) -> list[dict]:
        return self.canonical.semantics()

    def timing(self) -> dict:
        """The replay's calls and seconds (compile time, where the alias compiles, is in them)."""
        return {
            "calls": self.replay.calls,
            "run_seconds": round(self.replay.forward_seconds, 4),
            "compile_seconds": None,
            "compiles": None,
            "backward_seconds": round(self.replay.backward_seconds, 4),
            "alias_check": self.replay.as_record(),
        }
