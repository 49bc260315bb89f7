"""The report's "where the time went" panel: per framework, the seconds of import, compilation,
forward calls, backward calls and judging, from what the run's records measured.

The contract: ``time_panel(run)`` reads only records. A cell's ``timing`` (``conformance.records``)
splits the time spent in the implementation (``run_seconds``, ``compile_seconds``,
``backward_seconds``); its check records' ``seconds`` add up to the whole time of the cell
(calling and judging), so judging is what is left: the oracle, the properties, the Hypothesis
search's own work, the shrinker. ``import`` comes from the framework records
(``import_seconds``), summed over the framework's processes (a run split by dtype imports once
per process, ``conformance.work_units``).
Alias cells that inherited their canonical's verdicts count their replay as run and backward time.
Runs made before these fields existed show ``None`` (drawn as a dash).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.records import Run


@dataclass
class FrameworkTime:
    """One framework's row of the panel (seconds; ``None`` where the records do not say)."""

    framework: str
    import_seconds: float | None = None
    compile_seconds: float = 0.0
    run_seconds: float = 0.0
    backward_seconds: float = 0.0
    judging_seconds: float = 0.0
    cells: int = 0
    inherited_cells: int = 0
    compiles: int = 0  # the suite's first calls of a compiled shape
    backend_compiles: int | None = None  # as the framework reports them (JAX), where it does
    traces: int | None = None  # traces the framework reports (JAX: to a jaxpr; TF: tf.function signatures)

    @property
    def total_seconds(self) -> float:
        return (
            (self.import_seconds or 0.0)
            + self.compile_seconds
            + self.run_seconds
            + self.backward_seconds
            + self.judging_seconds
        )


def _cell_key(rec: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(rec.get(k)) for k in ("source", "implementation", "device", "dtype"))


def time_panel(run: Run) -> list[FrameworkTime]:
    """Per framework (slowest first), where its process spent its time."""
    cells: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for rec in run.checks:
        cells.setdefault(_cell_key(rec), []).append(rec)
    rows: dict[str, FrameworkTime] = {}
    for records in cells.values():
        row = rows.setdefault(
            str(records[0].get("framework")), FrameworkTime(str(records[0].get("framework")))
        )
        timed = [r["timing"] for r in records if isinstance(r.get("timing"), dict)]
        timing = timed[-1] if timed else {}  # the last: calls made while judging included
        spent = sum(float(r.get("seconds") or 0.0) for r in records)
        inside = 0.0
        for field in ("compile_seconds", "run_seconds", "backward_seconds"):
            value = float(timing.get(field) or 0.0)
            setattr(row, field, getattr(row, field) + value)
            inside += value
        row.judging_seconds += max(spent - inside, 0.0)
        row.cells += 1
        row.inherited_cells += any(r.get("inherited_from") for r in records)
        row.compiles += int(timing.get("compiles") or 0)
        counted = timing.get("framework_compiles")
        if isinstance(counted, dict) and "backend_compiles" in counted:
            row.backend_compiles = (row.backend_compiles or 0) + int(counted["backend_compiles"])
        if isinstance(counted, dict) and "traces" in counted:
            row.traces = (row.traces or 0) + int(counted["traces"])
    for rec in run.frameworks:
        seconds = rec.get("import_seconds")
        name = str(rec.get("framework"))
        if name in rows and isinstance(seconds, (int, float)):
            row = rows[name]
            row.import_seconds = (row.import_seconds or 0.0) + float(seconds)  # every process imports
    return sorted(rows.values(), key=lambda r: -r.total_seconds)
