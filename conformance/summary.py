"""The terminal summary at the end of a run: one row per implementation, verdict counts, the unexpected."""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from conformance.records import RESULTS_FILE, VERDICTS, read_run

VERDICT_STYLE = {
    "pass": "green",
    "fail": "bold red",
    "expected-fail": "yellow",
    "fixed": "magenta",
    "unsupported": "dim",
    "skipped": "dim",
    "error": "bold red",
}


def summary_table(run_dir: Path) -> Table:
    """A Rich table of verdict counts per implementation and device, read back from the results file."""
    run = read_run(Path(run_dir) / RESULTS_FILE)
    counts: dict[str, Counter] = defaultdict(Counter)
    for rec in run.checks:
        counts[f"{rec['implementation']} ({rec['device']})"][rec["verdict"]] += 1
    table = Table(title=f"softmax-conformance: {run.envelope['run_id']} ({run.envelope['profile']} profile)")
    table.add_column("implementation")
    for verdict in VERDICTS:
        table.add_column(verdict, justify="right", style=VERDICT_STYLE[verdict])
    for name in sorted(counts):
        table.add_row(name, *[str(counts[name][v] or "") for v in VERDICTS])
    return table


def print_summary(terminalreporter, session) -> None:
    """Write the table, the unexpected results and the run's location to pytest's terminal."""
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=terminalreporter.isatty(), width=140)
    console.print(summary_table(session.run_dir))
    for name, reason in session._missing.items():
        if "-" not in name:
            console.print(f"[dim]{name}: {reason}[/dim]")
    if session.unexpected:
        console.print(f"[bold red]{len(session.unexpected)} unexpected result(s):[/bold red]")
        for line in session.unexpected[:40]:
            console.print(f"  {line}", markup=False)
        if len(session.unexpected) > 40:
            console.print(f"  ... and {len(session.unexpected) - 40} more (see the results file)")
    console.print(f"results: {session.run_dir / RESULTS_FILE}  (seed {session.seed})", markup=False)
    terminalreporter.write(buffer.getvalue())
