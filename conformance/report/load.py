"""Reading the runs a report or comparison is made of.

``load_runs`` reads every path first (so a bad one fails before anything is written) and
returns one ``Run``: the run itself for one path, else the runs merged in memory
(``merge.combine``, not strict: different suite versions become a warning shown on the page).
Errors are ``RunFileError`` (one line naming the file and line) or ``MergeError``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from conformance.records import Run, RunFileError, read_run
from conformance.report.cells import cell_key
from conformance.report.merge import combine


def load_runs(paths: list[str | Path], *, run_id: str | None = None) -> Run:
    """One run from one or several run directories / results files (merged in memory)."""
    if not paths:
        raise RunFileError("no run given")
    runs = [read_run(path) for path in paths]
    if len(runs) == 1:
        return runs[0]
    name = run_id or " + ".join(str(r.envelope.get("run_id")) for r in runs)
    return combine(runs, run_id=name, strict=False)


def index_checks(checks: list[dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """Check records by cell key (``cells.cell_key``); a merged run may hold several per key."""
    index: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for rec in checks:
        index[cell_key(rec)].append(rec)
    return dict(index)
