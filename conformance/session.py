"""The pytest session's state and what one test does: evaluate its cell, record, report.

The contract: one ``ConformanceSession`` per pytest process (``conformance.plugin`` makes it in
``pytest_configure``). ``cells()`` is the plan (``conformance.planning``), made once;
``evaluation(cell)`` evaluates a cell once and keeps only the current one; ``check`` records
one property of one cell (the registry's entry applied) and turns its verdict into the pytest
outcome; ``observe_semantics`` records a cell's special-input behaviour and sample. Records
travel in the test item's ``user_properties`` (``RECORD_KEY``); only the controller's ``write``
puts them in the results file and tallies them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance.adapters.base import FrameworkAdapter
from conformance.adapters.custom import CustomImplementation, declared_outcome
from conformance.evaluation import Cell, CellEvaluation, PropertyOutcome, cell_seed
from conformance.evaluation.aliasing import InheritedEvaluation, JudgedCell, replay
from conformance.known import KnownDiscrepancy, find_entry, resolve, stale_entries, uncovered_note
from conformance.planning import plan_cells
from conformance.profiles import get_profile
from conformance.property_registry import cell_properties
from conformance.recording import (
    Tally,
    property_record,
    sample_of,
    semantics_row_record,
    unobserved_semantics,
)
from conformance.records import RunWriter
from conformance.selection import Selection

RECORD_KEY = "conformance_record"


@dataclass
class ConformanceSession:
    config: pytest.Config
    selection: Selection
    profile_name: str
    seed: int
    run_dir: Path
    registry: list
    adapters: Mapping[str, FrameworkAdapter] = field(default_factory=dict)
    writer: RunWriter | None = None
    tally: Tally = field(default_factory=Tally)
    versions: dict[str, str | None] = field(default_factory=dict)
    _cells: list[Cell] | None = None
    custom: list[CustomImplementation] = field(default_factory=list)
    _missing: dict[str, str] = field(default_factory=dict)
    _unusable: dict[str, tuple[str, str]] = field(default_factory=dict)  # framework -> (status, reason)
    _current: tuple[str, CellEvaluation | JudgedCell | InheritedEvaluation] | None = None
    # Canonical cells of planned alias cells, kept (with their call logs and outcomes) while cells
    # of the same framework, device and dtype run (``conformance.evaluation.aliasing``).
    _judged: dict[str, JudgedCell] = field(default_factory=dict)
    _canonical_ids: set[str] | None = None
    # The current cell's compilations as its framework reports them (``compile_counts``).
    _compile_counts: tuple[str, dict[str, float]] | None = None
    # Registry entries a check of this process could have matched (``KnownDiscrepancy.tested_by``):
    # only these can be stale.
    tested_entries: set[str] = field(default_factory=set)
    planned: int | None = None  # check records this process will write (after collection; None under xdist)
    empty_selection: str | None = None  # the usage error of a selection that matched no checks

    @property
    def unexpected(self) -> list[str]:
        """The unexpected results written so far, one line each (the terminal summary lists them)."""
        return self.tally.unexpected

    # ---- cells -------------------------------------------------------------------------------

    def cells(self) -> list[Cell]:
        if self._cells is None:
            plan = plan_cells(self.selection, self.adapters, self.custom)
            self.versions.update(plan.versions)
            self._missing.update(plan.missing)
            self._unusable.update(plan.unusable)
            self._cells = plan.cells
        return self._cells

    def evaluation(self, cell: Cell) -> CellEvaluation | JudgedCell | InheritedEvaluation:
        """The cell's evaluation, made once (only the current cell's is kept, and the canonical
        cells its aliases will replay).

        An alias cell (``Implementation.alias_of``) whose canonical cell was evaluated first in this
        process replays the canonical's logged calls: if every output matches bit for bit it
        inherits the canonical's outcomes (``InheritedEvaluation``); otherwise it is evaluated in
        full and its ``timing`` says where the outputs differed.
        """
        if self._current is None or self._current[0] != cell.id:
            self._current = None
            adapter = self.adapters.get(cell.impl.framework)
            before = adapter.compile_counts() if adapter is not None else None
            self._current = (cell.id, self._evaluate(cell))
            after = adapter.compile_counts() if adapter is not None else None
            self._compile_counts = (cell.id, compile_difference(before, after)) if after else None
        return self._current[1]

    def _evaluate(self, cell: Cell) -> CellEvaluation | JudgedCell | InheritedEvaluation:
        if self._canonical_ids is None:
            self._canonical_ids = {c.canonical_id for c in self.cells()} - {None}
        group = (cell.impl.framework, cell.device, cell.dtype)
        self._judged = {
            k: j
            for k, j in self._judged.items()
            if (j.cell.impl.framework, j.cell.device, j.cell.dtype) == group
        }
        judged = self._judged.get(cell.canonical_id or "")
        alias_check = None
        if judged is not None:
            props = cell_properties(cell.impl, cell.device)
            if props != cell_properties(judged.cell.impl, cell.device):
                alias_check = {
                    "canonical": judged.cell.id,
                    "identical": False,
                    "difference": "the alias and its canonical have different property sets",
                }
            else:
                judged.complete(props)
                result = replay(cell.impl, judged.call_log, judged.cell.id)
                if result.identical:
                    return InheritedEvaluation(cell, judged, result)
                alias_check = result.as_record()
        profile = get_profile(self.profile_name)
        keep = cell.id in self._canonical_ids
        evaluation = CellEvaluation(
            cell, profile, cell_seed(self.seed, cell), call_log=[] if keep else None, alias_check=alias_check
        ).run()
        if keep:
            self._judged[cell.id] = JudgedCell(evaluation)
            return self._judged[cell.id]
        return evaluation

    def _scope(self, cell: Cell, prop: str) -> dict[str, str | None]:
        """The keywords that put a registry entry in scope of ``prop`` on ``cell``."""
        return {
            "framework": cell.impl.framework,
            "version": self.versions.get(cell.impl.framework),
            "api": cell.impl.api,
            "mode": cell.impl.mode,
            "dtype": cell.dtype,
            "device": cell.device,
            "op": cell.impl.op,
            "prop": prop,
        }

    def _entry(self, cell: Cell, prop: str) -> KnownDiscrepancy | None:
        """The registry's entry for ``semantics:<case>`` on ``cell``, if any."""
        return find_entry(self.registry, **self._scope(cell, prop))

    def _note_tested(self, cell: Cell, judged: tuple[str, ...], failing: tuple[str, ...] = ()) -> None:
        """Mark as tested the entries about ``cell`` that name an input it judged (any property: an
        entry whose property the cell never checks matches nothing, and is stale)."""
        where = {k: v for k, v in self._scope(cell, "").items() if k not in ("version", "prop")}
        self.tested_entries.update(
            e.id for e in self.registry if e.covers_cell(**where) and e.tested_by(judged, failing)
        )

    # ---- one test ----------------------------------------------------------------------------

    def check(self, request: pytest.FixtureRequest, cell: Cell, prop: str) -> None:
        start = time.perf_counter()
        missing = self._missing.get(cell.id)
        if missing:
            outcome = PropertyOutcome(prop, "skipped", message=missing)
        else:
            try:
                outcome = declared_outcome(cell.impl, self.evaluation(cell).outcome(prop))
            except Exception as exc:  # a suite bug must cost this check only, and say so
                self._current = None
                outcome = PropertyOutcome(
                    prop, "error", message=f"suite error: {type(exc).__name__}: {exc}"[:500]
                )
        resolution = resolve(
            self.registry,
            outcome.verdict,
            failing_cases=outcome.failing_cases,
            judged_cases=outcome.judged_cases,
            failing_conditions=outcome.failing_conditions,
            **self._scope(cell, prop),
        )
        self._note_tested(cell, outcome.judged_cases, outcome.failing_cases)
        verdict, entry = resolution.verdict, resolution.entry
        if resolution.uncovered and len(resolution.uncovered) < len(outcome.failing_cases):
            outcome.message = f"{outcome.message}; {uncovered_note(resolution.uncovered)}".strip("; ")
        current = self._current[1] if self._current and self._current[0] == cell.id else None
        inherited = current.inherited_from if isinstance(current, InheritedEvaluation) else None
        timing = current.timing() if current is not None else None
        if timing is not None and self._compile_counts and self._compile_counts[0] == cell.id:
            timing["framework_compiles"] = self._compile_counts[1]
        record = property_record(
            cell,
            prop,
            outcome,
            verdict,
            entry,
            versions=self.versions,
            seed=self.seed,
            profile=self.profile_name,
            seconds=time.perf_counter() - start,
            timing=timing,
            inherited_from=f"test_{prop}[{inherited}]" if inherited else None,
            also_known=resolution.also,
        )
        request.node.user_properties.append((RECORD_KEY, record))
        raise_for(verdict, outcome, entry)

    def observe_semantics(self, request: pytest.FixtureRequest, cell: Cell) -> None:
        """Record the cell's behaviour on special inputs (``semantics`` records) and its sample.

        A cell that declined (``unsupported``) or runs on a device its framework does not see is
        skipped. A cell whose probe input raised something other than a decline was never
        observed: it gets one ``semantics`` record per special case of its op, classified
        ``error`` with the exception (so the report's semantics table shows it, not a gap),
        and the test fails.
        """
        if cell.id in self._missing:
            pytest.skip(self._missing[cell.id])
        evaluation = self.evaluation(cell)
        if evaluation.unsupported:
            pytest.skip(f"unsupported: {evaluation.unsupported}")
        records = request.node.user_properties
        if evaluation.probe_error:
            for row in unobserved_semantics(cell, evaluation.probe_error):
                records.append((RECORD_KEY, semantics_row_record(cell, row, self.versions)))
            pytest.fail(f"error: special inputs not observed: {evaluation.probe_error}", pytrace=False)
        sample = evaluation.sample()
        if sample is not None:
            records.append((RECORD_KEY, sample_of(cell, sample, self.versions)))
        for row in evaluation.semantics():
            self._note_tested(cell, (row["case"],))
            entry = self._entry(cell, f"semantics:{row['case'].split('[')[0]}")
            if entry is not None and row["classification"] == "undocumented-difference":
                row["classification"] = "documented-difference"
                row["known_issue"] = entry.as_record()
            records.append((RECORD_KEY, semantics_row_record(cell, row, self.versions)))

    # ---- the controller ----------------------------------------------------------------------

    def write(self, record: dict[str, Any]) -> None:
        if self.writer is None:
            return
        self.writer.write(record)
        self.tally.add(record)

    def stale_entries(self, stopped: bool) -> list[str]:
        """Registry entries that matched nothing in a complete run of everything (else none)."""
        if self.partial() or stopped:
            return []  # an incomplete run did not test every entry's cells
        return stale_entries(self.registry, self.tally.used_entries, self.versions, self.tested_entries)

    def import_failures(self) -> dict[str, str]:
        """Frameworks installed but not importable (their own ``framework`` records say why)."""
        return {n: r for n, r in self._missing.items() if n in self.adapters and r != "not installed"}

    def partial(self) -> bool:
        """A selection narrower than everything makes "matched nothing" meaningless (no stale report).
        So does ``--skip-recorded``: a process restarted after a crash judges only the checks its
        predecessor did not record, so entries those matched look unused to it. A dtype given by a
        split (``--dtype-split``) is not a narrower selection."""
        sel = self.selection
        # A run split by dtype (``--dtype-split``) judges each entry against the cells of its dtype:
        # ``stale_entries`` leaves out what no cell here was in scope of, and ``run`` keeps only what
        # no process used (``conformance.summary.stale_known_issues``).
        dtypes = sel.dtypes and not self.config.getoption("dtype_split", None)
        return bool(sel.apis or dtypes or sel.modes or sel.ops or sel.devices) or bool(
            self.config.getoption("keyword")
            or self.config.getoption("markexpr")
            or self.config.getoption("skip_recorded", None)
        )


def compile_difference(before: dict[str, float] | None, after: dict[str, float]) -> dict[str, float]:
    """What ``compile_counts`` grew by over one cell (counts as integers, seconds rounded)."""
    before = before or {}
    return {
        k: round(v - before.get(k, 0), 4) if isinstance(v, float) else int(v - before.get(k, 0))
        for k, v in after.items()
    }


def raise_for(verdict: str, outcome: PropertyOutcome, entry: KnownDiscrepancy | None) -> None:
    """The pytest outcome of a check's ``verdict``: pass, xfail, skip or fail with the message."""
    if verdict == "pass":
        return
    if verdict == "expected-fail":
        pytest.xfail(f"known discrepancy {entry.id}: {entry.reason}")
    if verdict == "fixed":
        pytest.fail(
            f"known discrepancy {entry.id} no longer reproduces: it is fixed; update the registry",
            pytrace=False,
        )
    if verdict in ("unsupported", "skipped"):
        pytest.skip(f"{verdict}: {outcome.message}")
    pytest.fail(f"{verdict}: {outcome.message}", pytrace=False)
