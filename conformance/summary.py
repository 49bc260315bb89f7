"""The terminal summary at the end of a run: one row per implementation, verdict counts, the unexpected."""

from __future__ import annotations

import io
import shlex
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console
from rich.table import Table

from conformance.adapters.base import NOT_INSTALLED
from conformance.recording import Tally
from conformance.records import RESULTS_FILE, VERDICTS, Run, read_run, used_entries

VERDICT_STYLE = {
    "pass": "green",
    "fail": "bold red",
    "expected-fail": "yellow",
    "fixed": "magenta",
    "unsupported": "dim",
    "skipped": "dim",
    "error": "bold red",
}


# pytest exit statuses of a process that stopped before running every check it collected:
# INTERRUPTED (Ctrl-C, SIGINT), INTERNAL_ERROR, USAGE_ERROR.
STOPPED_EXIT = {2: "interrupted", 3: "stopped by an internal error", 4: "stopped by a usage error"}


SELECTION_OPTIONS = ("framework", "api", "device", "dtype", "mode", "op")


def empty_selection_message(selection: dict[str, list[str]], keyword: str | None = None) -> str:
    """The one-line usage error of a selection that matched no checks, naming the selection.

    ``selection``: option name (``SELECTION_OPTIONS``) to the values given; ``keyword``: ``-k``.
    """
    given = [
        f"--{name} {shlex.quote(','.join(values))}"
        for name in SELECTION_OPTIONS
        if (values := selection.get(name))
    ]
    if keyword:
        given.append(f"-k {shlex.quote(keyword)}")
    what = " ".join(given) if given else "the default selection"
    return (
        f"the selection matches no checks ({what}); "
        "`python -m conformance list` shows the frameworks, APIs, modes, ops and dtypes there are"
    )


def incomplete_reasons(run: Run) -> list[str]:
    """Why ``run`` is incomplete, one line per reason; an empty list for a run that finished.

    A run is incomplete (never green: the report's banner, the summaries and the exit status
    say so) when any of its sources shows one of:

    * a ``framework`` record with status "did not finish" (a process that crashed, was killed,
      timed out, was interrupted, or never started because the run was interrupted);
    * no ``end`` record at all, or a process that wrote ``framework`` records but no ``end``
      record (matched by ``pid`` where ``end`` records carry one, else by count);
    * an ``end`` record whose ``exit_status`` says the process stopped early (pytest's
      interrupted, internal or usage error), or that recorded fewer checks than it ``planned``
      (a cell that never finished, ``-x``/``--maxfail``).

    In a merged run each line starts with the source's label in brackets.
    """
    reasons: list[str] = []
    for source in run.sources:
        label = source["source"]
        prefix = f"[{label}] " if run.merged else ""

        def mine(records: list[dict]) -> list[dict]:
            return [r for r in records if run.source_of(r) == label]  # noqa: B023 - used at once

        frameworks, ends = mine(run.frameworks), mine(run.ends)
        died = {str(r.get("framework")) for r in frameworks if r.get("status") == "did not finish"}
        for rec in frameworks:
            if rec.get("status") == "did not finish":
                message = rec.get("message") or "?"
                reasons.append(f"{prefix}{rec.get('framework')}: did not finish ({message})")
        if not ends:
            if not died:
                reasons.append(
                    f"{prefix}no end record: the run was interrupted, is still running, or its process died"
                )
        else:
            started = {r.get("pid"): str(r.get("framework")) for r in frameworks if r.get("status") == "ok"}
            if any("pid" in e for e in ends):
                # a process killed and restarted (``framework_restart_record``) ended there
                ended = {e.get("pid") for e in ends} | {
                    r.get("pid") for r in frameworks if r.get("status") == "restarted"
                }
                silent = sorted({name for pid, name in started.items() if pid not in ended} - died)
                for name in silent:
                    reasons.append(f"{prefix}{name}: its process wrote no end record (interrupted or killed)")
            elif len(ends) < len(started) and not died:
                reasons.append(f"{prefix}{len(started) - len(ends)} process(es) wrote no end record")
        for end in ends:
            names = ", ".join(str(n) for n in end.get("frameworks") or []) or "a process"
            if end.get("frameworks") and set(end["frameworks"]) <= died:
                continue  # said above, by the record of the process that did not finish
            stopped = STOPPED_EXIT.get(end.get("exit_status"))  # type: ignore[arg-type]
            planned, written = end.get("planned"), end.get("checks")
            if stopped:
                reasons.append(f"{prefix}{names}: {stopped} (pytest exit status {end.get('exit_status')})")
            elif isinstance(planned, int) and isinstance(written, int) and written < planned:
                reasons.append(f"{prefix}{names}: {written} of {planned} planned checks recorded")
    return reasons


def stale_known_issues(run: Run) -> list[str]:
    """Registry entries some process reported as matching nothing (its ``end`` record's
    ``stale_known_issues``) and no record of the run used (no check or semantics record names
    them): with a run split by dtype (``conformance.work_units``) an entry unused by the float16
    process may have matched in the float32 one, and is not stale then."""
    used = {i for r in [*run.checks, *run.semantics] for i in used_entries(r)}
    return sorted({str(s) for end in run.ends for s in end.get("stale_known_issues") or []} - used)


def verdict_table(title: str, rows: Mapping[str, Mapping[str, int]]) -> Table:
    """A Rich table of verdict counts, one row per "implementation (device)" in ``rows``."""
    table = Table(title=title)
    table.add_column("implementation")
    for verdict in VERDICTS:
        table.add_column(verdict, justify="right", style=VERDICT_STYLE[verdict])
    for name in sorted(rows):
        table.add_row(name, *[str(rows[name].get(v) or "") for v in VERDICTS])
    return table


def summary_table(run_dir: Path) -> Table:
    """A Rich table of verdict counts per implementation and device, read back from the results file."""
    run = read_run(Path(run_dir) / RESULTS_FILE)
    tally = Tally()
    for rec in run.checks:
        tally.add(rec)
    title = f"softmax-conformance: {run.envelope['run_id']} ({run.envelope['profile']} profile)"
    return verdict_table(title, tally.rows)


def _stopped(exitstatus: int) -> str:
    """The reason a pytest exit status in ``STOPPED_EXIT`` gives, in one line."""
    return f"{STOPPED_EXIT[int(exitstatus)]} (pytest exit status {int(exitstatus)})"


def process_reasons(session, exitstatus: int) -> list[str]:
    """Why this process (one of ``run``'s) stopped early: pytest's interrupted, internal or usage
    error, or fewer checks recorded than it planned; [] when it ran everything it collected.

    A process of ``run`` judges only itself: the others may still be running, and ``run`` says
    whether the whole run is complete when every process has ended."""
    if int(exitstatus) in STOPPED_EXIT:
        return [_stopped(exitstatus)]
    planned, written = session.planned, session.tally.written
    if isinstance(planned, int) and written < planned:
        return [f"{written} of {planned} planned checks recorded"]
    return []


def print_summary(terminalreporter, session, exitstatus: int = 0) -> None:
    """Write the table, the unexpected results and the run's location to pytest's terminal.

    A selection that matched nothing is one line saying so (the session's exit status is then 2);
    an interrupted or otherwise incomplete run says so in red, with why (``incomplete_reasons``
    of what the results file holds, or pytest's own interrupted exit status). A process of ``run``
    (``--append-run``, its log) counts and judges only its own checks (``process_reasons``): the
    results file it shares also holds processes still running, which are not incomplete.
    """
    if session.empty_selection:
        terminalreporter.write_line(f"softmax-conformance: error: {session.empty_selection}", red=True)
        return
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=terminalreporter.isatty(), width=140)
    if session.config.getoption("append_run"):  # one process of `run`: its own checks only
        frameworks = ", ".join(sorted({c.impl.framework for c in session.cells()})) or "no framework"
        dtypes = " ".join(session.selection.dtypes)
        title = f"softmax-conformance: this process's checks ({frameworks}{f' {dtypes}' if dtypes else ''})"
        console.print(verdict_table(title, session.tally.rows))
        reasons = process_reasons(session, exitstatus)
    else:
        console.print(summary_table(session.run_dir))
        reasons = incomplete_reasons(read_run(Path(session.run_dir) / RESULTS_FILE))
        if int(exitstatus) in STOPPED_EXIT and not reasons:
            reasons = [_stopped(exitstatus)]
    for name, (status, reason) in session._unusable.items():  # by framework: keras-jax included
        line = f"{name}: {status}" if status == NOT_INSTALLED else f"{name}: {status}: {reason}"
        console.print(line, markup=False, style="dim" if status == NOT_INSTALLED else "red")
    if session.unexpected:
        console.print(f"[bold red]{len(session.unexpected)} unexpected result(s):[/bold red]")
        for line in session.unexpected[:40]:
            console.print(f"  {line}", markup=False)
        if len(session.unexpected) > 40:
            console.print(f"  ... and {len(session.unexpected) - 40} more (see the results file)")
    if reasons:
        console.print("[bold red]INCOMPLETE RUN: what did not run was not tested[/bold red]")
        for line in reasons:
            console.print(f"  {line}", markup=False, style="red")
    console.print(f"results: {session.run_dir / RESULTS_FILE}  (seed {session.seed})", markup=False)
    terminalreporter.write(buffer.getvalue())


FAILING_LINES = 20  # failing checks ``run --impl`` lists before it only counts the rest


def failing_check_lines(run: Run, frameworks: set[str], limit: int = FAILING_LINES) -> list[str]:
    """The failing checks (``fail``, ``error``) of ``frameworks``, one line each with the message, as
    ``conformance.check(...).summary()`` lists them: API, dtype, property, verdict, the metric
    against its bound. At most ``limit`` lines, then one line counting the rest; [] when none failed."""
    failing = [
        r for r in run.checks if r.get("framework") in frameworks and r["verdict"] in ("fail", "error")
    ]
    lines = []
    for rec in failing[:limit]:
        figures = ""
        if isinstance(rec.get("metric"), (int, float)):
            figures = f" {rec['metric']:.4g} {rec.get('unit') or ''}".rstrip()
            if isinstance(rec.get("tolerance"), (int, float)):
                figures += f" (bound {rec['tolerance']:.4g})"
        head = f"{rec.get('api')} {rec.get('dtype'):<8} {rec.get('property'):<23} {rec['verdict']}{figures}"
        lines.append(head + (f": {rec['message']}" if rec.get("message") else ""))
    if len(failing) > limit:
        more = len(failing) - limit
        lines.append(f"... and {more} more failing checks (all in the report and the results file)")
    return lines
