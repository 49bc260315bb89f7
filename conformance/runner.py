"""Running the per-framework pytest processes, several at a time, with a progress display.

Each framework runs in its own process (a crash or hang costs that framework's
cells only). Up to ``jobs`` processes run at once; they all append to the same
results file (``RunWriter`` writes each record with one ``O_APPEND`` write, so
lines never interleave). A process's terminal output goes to
``<run dir>/logs/<framework>.log``; progress is read from what it has written:
the plugin writes the number of planned checks to ``<run dir>/progress/<framework>``
once collection is done, and every finished check is a ``check`` record in the
results file.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from conformance.records import RESULTS_FILE, UNEXPECTED
from conformance.work_units import EXPECTED_SECONDS, WorkUnit

PROGRESS_DIR = "progress"
LOG_DIR = "logs"
POLL_SECONDS = 0.25
STOP_GRACE_SECONDS = 5.0  # an interrupted run gives each process this long to end by itself
PROGRESS_LINE_SECONDS = 30.0  # without a terminal (a CI log), a progress line at least this often


@dataclass
class FrameworkProcess:
    """One work unit's pytest process (a framework, or a framework's cells of one dtype:
    ``conformance.work_units``) and what is known of its progress."""

    name: str
    command: list[str]
    log: Path
    unit: WorkUnit = field(default_factory=lambda: WorkUnit(""))
    proc: subprocess.Popen | None = None
    started: float = 0.0
    finished: float | None = None
    status: str = "waiting"
    returncode: int | None = None
    done: int = 0
    unexpected: int = 0
    planned: int | None = None
    reported: bool = False
    restarts: int = 0
    resumed_at: int = 0  # checks recorded before the last restart (its progress file counts the rest)
    slot: int | None = None  # which of the ``jobs`` slots it last ran in (one process at a time per slot)
    env: dict[str, str] = field(default_factory=dict)
    _log_handle: object = field(default=None, repr=False)

    @property
    def seconds(self) -> float:
        if not self.started:
            return 0.0
        return (self.finished or time.perf_counter()) - self.started


class ResultsTail:
    """Reads the records appended to a results file since the last call (whole lines only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def new_records(self) -> list[dict]:
        if not self.path.exists():
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        records = []
        for line in data[:end].splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # the run's reader reports malformed lines; progress only counts
        return records


def _status(code: int) -> str:
    if code < 0:
        return f"killed by signal {-code}"
    return {0: "ok", 1: "ok", 5: "no checks selected"}.get(code, f"exited with status {code}")


def run_processes(
    commands: dict[str, list[str]],
    run_dir: Path,
    env: dict[str, str],
    jobs: int,
    timeout: float,
    on_finish: Callable[[FrameworkProcess], None],
    show_progress: bool = True,
    extra_env: dict[str, dict[str, str]] | None = None,
    on_crash: Callable[[FrameworkProcess], tuple[list[str], dict[str, str]] | None] | None = None,
    units: dict[str, WorkUnit] | None = None,
) -> list[FrameworkProcess]:
    """Run every command (at most ``jobs`` at once, longest expected first); ``on_finish`` is
    called as each one ends.

    ``units``: per command name, the work unit it runs (``conformance.work_units``): which
    records are its progress, how long it is expected to take, its log's name. A name without
    one is a whole framework of that name.

    ``extra_env``: per command name, variables added to ``env`` for that process only.

    A process running longer than ``timeout`` seconds is killed and its status says so.

    ``on_crash``: called for a process killed by a signal it did not get from here (a segfault in
    the framework); it returns the command and environment to start it again with (the same
    log, appended to), or None to let it end "killed by signal N". ``restarts`` counts them.

    An exception here (``KeyboardInterrupt`` on SIGINT, or on SIGTERM where the caller turns it
    into one carrying ``signum``) stops every process (``_stop``), calls ``on_finish`` for each
    one not yet reported (its status says it was interrupted, or never started), then propagates.
    """
    from rich.console import Console
    from rich.live import Live

    (run_dir / LOG_DIR).mkdir(parents=True, exist_ok=True)
    (run_dir / PROGRESS_DIR).mkdir(parents=True, exist_ok=True)
    units = {n: (units or {}).get(n) or WorkUnit(n, None, EXPECTED_SECONDS.get(n, 0.0)) for n in commands}
    names = sorted(commands, key=lambda n: -units[n].expected_seconds)  # longest first (stable)
    procs = [
        FrameworkProcess(
            n,
            commands[n],
            run_dir / LOG_DIR / f"{units[n].file_stem}.log",
            unit=units[n],
            env={**env, **(extra_env or {}).get(n, {})},
        )
        for n in names
    ]

    def owner(record: dict) -> FrameworkProcess | None:
        return next((p for p in procs if p.unit.owns(record)), None)

    tail = ResultsTail(run_dir / RESULTS_FILE)
    tail.new_records()  # skip what was there before (the envelope)
    console = Console(stderr=False)
    show_progress = show_progress and console.is_terminal  # a log gets one line per event instead
    live = Live(_table(procs), console=console, refresh_per_second=4, transient=False)
    if show_progress:
        live.start()
    run_started = last_line = time.perf_counter()
    try:
        while any(p.status in ("waiting", "running") for p in procs):
            for p in procs:
                if p.status == "waiting" and sum(q.status == "running" for q in procs) < jobs:
                    busy = {q.slot for q in procs if q.status == "running"}
                    p.slot = min(set(range(jobs)) - busy)
                    p._log_handle = open(p.log, "a" if p.restarts else "w", encoding="utf-8")
                    p.proc = subprocess.Popen(
                        p.command,
                        env=p.env,
                        stdin=subprocess.DEVNULL,
                        stdout=p._log_handle,
                        stderr=subprocess.STDOUT,
                    )
                    p.started, p.status = p.started or time.perf_counter(), "running"
                    if not show_progress:
                        print(f"{p.name}: started (log: {p.log})", flush=True)
            for record in tail.new_records():
                p = owner(record)
                if p is not None and record.get("type") == "check":
                    p.done += 1
                    p.unexpected += record.get("verdict") in UNEXPECTED
            for p in procs:
                if p.status != "running":
                    continue
                planned = run_dir / PROGRESS_DIR / p.unit.file_stem
                if p.planned is None and planned.exists():
                    text = planned.read_text().strip()
                    p.planned = int(text) + p.resumed_at if text.isdigit() else None
                code = p.proc.poll()
                if code is None and p.seconds > timeout:
                    p.proc.kill()
                    p.proc.wait()
                    code, p.status = -9, f"timed out after {timeout:g} s"
                if code is not None:
                    p._log_handle.close()
                    p.returncode = code
                    again = on_crash(p) if on_crash and code < 0 and p.status == "running" else None
                    if again is not None:
                        p.command, p.env = again
                        (run_dir / PROGRESS_DIR / p.unit.file_stem).unlink(missing_ok=True)
                        p.restarts += 1
                        p.status, p.proc, p.planned, p.resumed_at = "waiting", None, None, p.done
                        if not show_progress:
                            print(f"{p.name}: {_status(code)}; restarted for the checks left", flush=True)
                        continue
                    p.finished, p.returncode = time.perf_counter(), code
                    if p.status == "running":
                        p.status = _status(code)
            for record in tail.new_records():  # records written just before a process ended
                p = owner(record)
                if p is not None and record.get("type") == "check":
                    p.done += 1
                    p.unexpected += record.get("verdict") in UNEXPECTED
            for p in procs:
                if p.finished is not None and not p.reported:
                    p.reported = True
                    if not show_progress:
                        print(f"{p.name}: {p.status} in {p.seconds:.1f} s, {p.done} checks", flush=True)
                    on_finish(p)
            if show_progress:
                live.update(_table(procs))
            elif time.perf_counter() - last_line >= PROGRESS_LINE_SECONDS:
                last_line = time.perf_counter()
                print(progress_line(procs, last_line - run_started), flush=True)
            time.sleep(POLL_SECONDS)
    except BaseException as exc:
        _stop(procs, interrupted_by(exc))
        for p in procs:
            if p.finished is not None and not p.reported:
                p.reported = True
                on_finish(p)
        raise
    finally:
        if show_progress:
            live.update(_table(procs))
            live.stop()
    return procs


def progress_line(procs: list[FrameworkProcess], elapsed: float) -> str:
    """One line for a log: the run's elapsed seconds, then each started process's checks done of
    those planned (``?`` before it has collected) and its own seconds, then how many are waiting."""
    parts = []
    for p in procs:
        if p.status == "running":
            planned = p.planned if p.planned is not None else "?"
            parts.append(f"{p.name} {p.done}/{planned} checks, {p.seconds:.0f} s")
    waiting = sum(p.status == "waiting" for p in procs)
    done = sum(p.finished is not None for p in procs)
    tail = f"; {done} finished, {waiting} waiting" if (done or waiting) else ""
    return f"progress at {elapsed:.0f} s: {'; '.join(parts) or 'nothing running'}{tail}"


def critical_path(procs: list[FrameworkProcess]) -> list[FrameworkProcess]:
    """The processes of the slot that finished last, in the order they ran: the chain whose sum is
    the run's wall time (less the gaps); more ``--jobs`` cannot make the run shorter than its last
    element, the slowest framework on its own."""
    ran = [p for p in procs if p.slot is not None and p.started]
    if not ran:
        return []
    last = max(ran, key=lambda p: p.finished or 0.0)
    return sorted((p for p in ran if p.slot == last.slot), key=lambda p: p.started)


def critical_path_line(procs: list[FrameworkProcess]) -> str:
    """``critical path: numpy 14 s -> jax 334 s = 348 s; slowest process: jax 334 s`` (a process is a
    framework, or a framework's cells of one dtype: ``jax[float16]``)."""
    chain = critical_path(procs)
    if not chain:
        return "critical path: no framework process ran"
    slowest = max(chain + procs, key=lambda p: p.seconds)
    steps = " -> ".join(f"{p.name} {p.seconds:.0f} s" for p in chain)
    total = sum(p.seconds for p in chain)
    return f"critical path: {steps} = {total:.0f} s; slowest process: {slowest.name} {slowest.seconds:.0f} s"


def interrupted_by(exc: BaseException) -> str:
    """How ``exc`` ended a run, for the records: "SIGINT", "SIGTERM", ... or the exception's type."""
    if isinstance(exc, KeyboardInterrupt):
        return signal.Signals(getattr(exc, "signum", signal.SIGINT)).name
    return type(exc).__name__


def _stop(procs: list[FrameworkProcess], reason: str) -> None:
    """End every process of an interrupted run; each unfinished one is given a status saying so.

    A running process is sent SIGINT (pytest then writes its ``end`` record, saying it was
    interrupted) and killed if it has not exited within ``STOP_GRACE_SECONDS``; a waiting one
    never starts. Every record already written stays in the results file (each is one append).
    """
    running = [p for p in procs if p.proc is not None and p.finished is None]
    signalled = {p.name for p in running if p.proc.poll() is None}
    for p in running:
        if p.name in signalled:
            p.proc.send_signal(signal.SIGINT)
    deadline = time.perf_counter() + STOP_GRACE_SECONDS
    try:
        while any(p.proc.poll() is None for p in running) and time.perf_counter() < deadline:
            time.sleep(0.05)
    finally:  # a second interrupt while waiting: kill at once
        for p in running:
            if p.proc.poll() is None:
                p.proc.kill()
            p.proc.wait()
            p.finished, p.returncode = time.perf_counter(), p.proc.returncode
            if p.name in signalled and p.returncode not in (0, 1):
                p.status = f"interrupted ({reason}) after {p.seconds:.1f} s"
            else:  # it had run every check (pytest's 0 or 1) before the interrupt reached it
                p.status = _status(p.returncode)
            if p._log_handle is not None:
                p._log_handle.close()
        for p in procs:
            if p.status == "waiting":
                p.finished, p.status = time.perf_counter(), f"not started: the run was interrupted ({reason})"


def _table(procs: list[FrameworkProcess]):
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    table = Table(box=None, show_header=True, header_style="bold")
    for col in ("framework", "progress", "checks", "unexpected", "time", "status"):
        table.add_column(col)
    for p in procs:
        total = p.planned or None
        bar = ProgressBar(total=total or 1, completed=p.done if total else 0, width=30)
        if total is None and p.status == "running":
            bar = ProgressBar(total=None, width=30)
        checks = f"{p.done}/{p.planned}" if p.planned is not None else str(p.done)
        colour = "red" if p.unexpected else "green"
        status = p.status
        if p.status not in ("waiting", "running", "ok"):
            status = f"[bold red]{p.status}[/bold red]"
        table.add_row(
            p.name,
            bar,
            checks,
            f"[{colour}]{p.unexpected}[/{colour}]",
            f"{p.seconds:.0f} s" if p.started else "",
            status,
        )
    return table
