"""The command line: ``python -m conformance run|list|report|compare|merge|bisect`` (``softmax-conformance``).

``run`` writes the envelope, then runs the pytest suite once per framework in
its own process (a framework that crashes or hangs costs its own cells, never
the run), all appending to ``reports/runs/<run-id>/results.jsonl``, and prints
a summary. Exit status (``conformance.errors``): 0 when the run finished and nothing
unexpected happened; 1 when a check failed unexpectedly, a known discrepancy was fixed, a
framework process died, or the run is otherwise incomplete
(``conformance.summary.incomplete_reasons``); 2 on a usage error, a selection that matches
no checks included (one line on stderr saying what is wrong and what is valid: argparse's
errors too, ``OneLineParser``); 128 + N when signal N (SIGINT, SIGTERM, SIGHUP) ended the
run, after its report was written from the records already in the results file.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

from conformance import custom_cli
from conformance.adapters import AdapterLoadError
from conformance.adapters.base import NOT_INSTALLED, UNUSABLE_STATUSES
from conformance.compile_cache import CACHE_VARIABLE_PREFIXES, compile_cache_env
from conformance.errors import EXIT_BROKEN, EXIT_OK, EXIT_UNEXPECTED, EXIT_USAGE
from conformance.errors import ConformanceError as UsageError  # bad input: one line, exit status 2
from conformance.oracle_cache import SHARED_DIR_VARIABLE
from conformance.records import (
    RESULTS_FILE,
    UNEXPECTED,
    RunFileError,
    RunWriter,
    framework_restart_record,
    framework_status_record,
    read_run,
    sanitize,
)
from conformance.summary import SELECTION_OPTIONS, empty_selection_message
from conformance.work_units import SPLITS, plan_units
from reference.dtypes import FLOAT_DTYPE_NAMES


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _validate(args: argparse.Namespace) -> None:
    from conformance.adapters import all_adapters
    from conformance.profiles import PROFILES
    from conformance.selection import DEVICE_PATTERN

    checks = (
        ("framework", list(all_adapters())),
        ("dtype", list(FLOAT_DTYPE_NAMES)),
        ("mode", ["eager", "jit", "xla", "compiled"]),
        ("op", ["softmax", "log_softmax", "sum_normalize"]),
    )
    for name, valid in checks:
        for value in _split(getattr(args, name)):
            if value not in valid:
                raise UsageError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")
    for value in _split(args.device):
        if not DEVICE_PATTERN.match(value):
            raise UsageError(f"unknown device {value!r}; valid: cpu, cuda:N (N = 0, 1, ...)")
    if getattr(args, "jobs", None) is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    if getattr(args, "timeout", None) is not None and not args.timeout > 0:
        raise UsageError(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
    if args.profile not in PROFILES:
        raise UsageError(f"unknown profile {args.profile!r}; valid: {', '.join(PROFILES)}")
    if args.known and not Path(args.known).is_file():
        raise UsageError(f"known-discrepancy registry {args.known!r} not found")
    if args.known:
        from conformance.known import load_registry

        try:
            load_registry(args.known)
        except ValueError as exc:
            raise UsageError(str(exc)) from None


def _validate_custom(args: argparse.Namespace) -> custom_cli.CustomOptions:
    """The ``--impl*`` options, every function loaded and command found (UsageError otherwise)."""
    from conformance.adapters.custom import CustomImplError

    custom = custom_cli.options_from_args(args)
    try:
        custom_cli.validate(custom)
    except CustomImplError as exc:
        raise UsageError(str(exc)) from None
    return custom


def _pytest_command(
    args: argparse.Namespace, framework: str, run_dir: Path, seed: int, dtype: str | None = None
) -> list[str]:
    """The pytest command of one process: ``framework``'s cells, of ``dtype`` only when given (a
    process of a run split by dtype: ``conformance.work_units``), else of the dtypes selected."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "conformance.plugin",
        "--pyargs",
        "conformance.suite",
        "-p",
        "no:cacheprovider",
        "--framework",
        framework,
        "--append-run",
        "--run-dir",
        str(run_dir),
        "--run-id",
        run_dir.name,
        f"--hypothesis-seed={seed}",
        "--profile",
        args.profile,
        "-q",
        "--no-header",
        "-rN",
        "--tb=no",
    ]
    for name in ("api", "device", "dtype", "mode", "op"):
        for value in [dtype] if name == "dtype" and dtype else _split(getattr(args, name)):
            cmd += [f"--{name}", value]
    if dtype and not _split(args.dtype):  # a split, not a selection: stale entries are still judged
        cmd += ["--dtype-split"]
    if args.known:
        cmd += ["--known", args.known]
    if args.junit_xml:
        cmd += [f"--junit-xml={run_dir / f'junit-{framework}.xml'}"]
    if args.k:
        cmd += ["-k", args.k]
    return cmd + list(args.pytest_args or [])


def fresh_shared_answers(run_dir: Path) -> Path:
    """The directory where the run's processes share the oracle's answers
    (``conformance.oracle_cache``), emptied first: one left by a killed run in the same directory
    (``--overwrite``) holds answers of whatever code ran then."""
    directory = run_dir / ORACLE_CACHE_DIR
    shutil.rmtree(directory, ignore_errors=True)
    return directory


def keyword_dtype_warning(expression: str | None) -> str | None:
    """A warning for a ``-k`` expression that names a dtype contained in another dtype's name
    (``float16`` is part of ``bfloat16``): pytest's ``-k`` matches substrings of the test ids, so
    it selects both; ``--dtype`` selects exactly one. None when there is nothing to warn about."""
    tokens = set(re.split(r"[\s()]+", expression or "")) - {"and", "or", "not", ""}
    for dtype in FLOAT_DTYPE_NAMES:
        also = [other for other in FLOAT_DTYPE_NAMES if other != dtype and dtype in other]
        if dtype in tokens and also:
            return (
                f"-k {expression!r} also selects {', '.join(also)} (-k matches substrings of test ids);"
                f" use --dtype {dtype} to select exactly {dtype}"
            )
    return None


def cmd_run(args: argparse.Namespace) -> int:
    from conformance.adapters import all_adapters
    from conformance.environment import envelope

    _validate(args)
    custom = _validate_custom(args)
    warning = keyword_dtype_warning(args.k)
    if warning:
        print(f"softmax-conformance: warning: {warning}", file=sys.stderr, flush=True)
    adapters = all_adapters()
    wanted = _split(args.framework) or ([] if custom.requested else list(adapters))  # --impl alone: only it
    installed = [name for name in wanted if adapters[name].installed()]
    missing = [name for name in wanted if name not in installed]
    if _split(args.framework) and missing:
        raise UsageError(
            f"framework(s) not installed: {', '.join(missing)}; installed: "
            f"{', '.join(n for n in adapters if adapters[n].installed()) or 'none'}"
        )
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    run_id = args.run_id or time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(args.results_dir) / run_id
    results = run_dir / RESULTS_FILE
    if results.exists() and not args.overwrite:
        raise UsageError(f"{results} exists; choose another --run-id or pass --overwrite")
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in (results, run_dir / "report.html", run_dir / "summary.md"):  # never a stale green page
        stale.unlink(missing_ok=True)
    writer = RunWriter(results)
    selection = {n: _split(getattr(args, n)) for n in ("framework", "api", "device", "dtype", "mode", "op")}
    writer.write(sanitize(envelope(run_id, seed, args.profile, selection, sys.argv[1:])))
    for name in missing:
        writer.write(framework_status_record(name, NOT_INSTALLED, f"{name} is not installed"))
    print(f"softmax-conformance: run {run_id}, profile {args.profile}, seed {seed}", flush=True)
    print(
        f"frameworks: {', '.join(installed) or 'none'}"
        + (f"; not installed: {', '.join(missing)}" if missing else ""),
        flush=True,
    )
    if custom.requested:
        print(custom_cli.describe(custom), flush=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    # The oracle's answers, shared by the run's processes (conformance.oracle_cache); removed below.
    shared_answers = fresh_shared_answers(run_dir)
    env[SHARED_DIR_VARIABLE] = str(shared_answers.resolve())
    died: list[str] = []
    interrupted: int | None = None
    with _signals_interrupt():
        try:
            _run_frameworks(args, installed, run_dir, seed, env, writer, died)
        except KeyboardInterrupt as exc:  # SIGINT, or SIGTERM/SIGHUP through _signals_interrupt
            interrupted = getattr(exc, "signum", signal.SIGINT)
            print(
                f"softmax-conformance: interrupted by {signal.Signals(interrupted).name}; "
                "writing the report from the records written so far",
                file=sys.stderr,
                flush=True,
            )
        finally:
            writer.close()
            shutil.rmtree(shared_answers, ignore_errors=True)
        status = _report_and_exit(
            run_dir,
            died,
            report=not args.no_report,
            selection=empty_selection_message(
                {n: _split(getattr(args, n)) for n in SELECTION_OPTIONS}, args.k
            ),
            interrupted=interrupted is not None,
            custom_name=custom.name if custom.requested else None,
        )
    return 128 + interrupted if interrupted is not None else status


class RunInterrupted(KeyboardInterrupt):
    """A termination signal (SIGTERM, SIGHUP) turned into an interrupt; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """While inside, SIGINT, SIGTERM and SIGHUP raise ``RunInterrupted`` (a KeyboardInterrupt),
    so that a run ended by any of them stops its processes and writes its report (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise RunInterrupted(signum)

    # SIGINT too: a process started in the background of a script inherits SIGINT ignored, and
    # `kill -INT` must still stop the run and write its report.
    wanted = [signal.SIGINT, signal.SIGTERM, *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])]
    previous = {signum: signal.signal(signum, interrupt) for signum in wanted}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


ORACLE_CACHE_DIR = ".oracle-cache"  # in the run directory while the run lasts
MAX_RESTARTS = 1  # a framework process that crashed is started again once
CRASH_SIGNALS = {int(getattr(signal, n)) for n in ("SIGSEGV", "SIGBUS", "SIGABRT", "SIGFPE", "SIGILL")}


def _run_frameworks(
    args: argparse.Namespace,
    names: list[str],
    run_dir: Path,
    seed: int,
    env: dict,
    writer: RunWriter,
    died: list[str],
) -> None:
    """Run each framework's pytest process (``--jobs`` at a time).

    Every process that did not finish (crashed, killed, timed out, interrupted, or never started
    because the run was interrupted) gets a ``framework`` record "did not finish" and a line in
    ``died``, also when an interrupt propagates from here (``KeyboardInterrupt``).
    """
    from conformance.runner import PROGRESS_DIR, run_processes

    jobs = args.jobs or os.cpu_count() or 1
    dtypes = _split(args.dtype) or list(FLOAT_DTYPE_NAMES)
    units = {u.name: u for u in plan_units(names, dtypes, jobs, args.split)}
    commands = {}
    for name, unit in units.items():
        command = _pytest_command(args, unit.framework, run_dir, seed, unit.dtype)
        commands[name] = [*command, "--progress-file", str(run_dir / PROGRESS_DIR / unit.file_stem)]
    custom = custom_cli.options_from_args(args)
    if custom.requested:  # the user's own implementations: one more process, beside the frameworks
        base = _pytest_command(args, custom.name, run_dir, seed)
        progress = ["--progress-file", str(run_dir / PROGRESS_DIR / custom.name)]
        commands[custom.name] = [*custom_cli.pytest_command(base, custom), *progress]

    def finished(p) -> None:
        if p.status in ("ok", "no checks selected"):
            return
        died.append(f"{p.name}: {p.status} (log: {p.log})")
        what = p.status if p.unit.dtype is None else f"{p.status} (its {p.unit.dtype} cells)"
        writer.write(framework_status_record(p.unit.framework, "did not finish", what))

    extra_env = {}
    if not args.no_compile_cache:
        base = Path(args.compile_cache or Path(args.results_dir) / ".compile-cache")
        extra_env = {
            name: compile_cache_env(base, units[name].framework if name in units else name, env)
            for name in commands
        }

    def restart(p) -> tuple[list[str], dict[str, str]] | None:
        """A process killed by a signal (a segfault, as JAX 0.10's compile-cache writer was seen to
        raise) is started once more for the checks it did not record, without the persistent
        compile cache; the restart is a ``framework`` record and a line in the summary."""
        if p.restarts >= MAX_RESTARTS or -p.returncode not in CRASH_SIGNALS:
            return None  # a kill from outside (SIGKILL, SIGTERM) is not a crash to retry
        reason = f"{p.name}: killed by signal {-p.returncode} after {p.done} checks (pid {p.proc.pid})"
        writer.write(
            framework_restart_record(
                p.name, p.proc.pid, f"{reason}; restarted without the compile cache for the checks left"
            )
        )
        env_again = {k: v for k, v in p.env.items() if not k.startswith(CACHE_VARIABLE_PREFIXES)}
        env_again["JAX_ENABLE_COMPILATION_CACHE"] = "false"
        flags = env_again.get("TF_XLA_FLAGS", "").split()
        env_again["TF_XLA_FLAGS"] = " ".join(f for f in flags if "persistent_cache" not in f)
        command = [c for c in p.command if c != "--append-run"]
        return [*command, "--append-run", "--skip-recorded", str(run_dir / RESULTS_FILE)], env_again

    from conformance.profiles import get_profile
    from conformance.runner import critical_path_line

    timeout = args.timeout if args.timeout is not None else get_profile(args.profile).timeout_seconds
    procs = run_processes(
        commands,
        run_dir,
        env,
        jobs,
        timeout,
        finished,
        show_progress=not args.no_progress,
        extra_env=extra_env,
        on_crash=restart,
        units=units,
    )
    print(critical_path_line(procs), flush=True)


def _report_and_exit(
    run_dir: Path,
    died: list[str],
    report: bool = True,
    selection: str | None = None,
    interrupted: bool = False,
    custom_name: str | None = None,
) -> int:
    """Print the terminal summary, write the report (unless ``report`` is false) and return the exit status.

    ``EXIT_OK`` only for a complete run with nothing unexpected; ``EXIT_UNEXPECTED`` for an
    unexpected result, a process that did not finish (``died``), or an incomplete run
    (``conformance.summary.incomplete_reasons``: said in red here and in the report's banner).
    A run that recorded no check although every process finished and every framework imported
    matched nothing: ``UsageError(selection)`` (exit status 2), without a summary or a report.
    With ``custom_name`` (``run --impl``), the failing checks of those implementations are listed
    with their messages (``conformance.summary.failing_check_lines``: the first 20, then a count).
    """
    from rich.console import Console

    from conformance.summary import (
        failing_check_lines,
        incomplete_reasons,
        stale_known_issues,
        summary_table,
    )

    run = read_run(run_dir)
    imported = all(r.get("status") in ("ok", "not installed", "restarted") for r in run.frameworks)
    if not run.checks and not died and not interrupted and imported and selection is not None:
        raise UsageError(selection)
    console = Console(width=max(Console().width, 120))
    console.print(summary_table(run_dir))
    unexpected = [r for r in run.checks if r["verdict"] in UNEXPECTED]
    if custom_name is not None:
        failing = failing_check_lines(run, {custom_name})
        if failing:
            console.print(f"[bold red]failing checks of {custom_name}:[/bold red]", highlight=False)
            for line in failing:
                console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    stale = stale_known_issues(run)
    incomplete = incomplete_reasons(run)
    for line in died:
        console.print(f"[bold red]did not finish:[/bold red] {line}", markup=True, highlight=False)
    for rec in run.frameworks:
        if rec.get("status") == "restarted":
            console.print(f"[yellow]restarted:[/yellow] {rec.get('message')}", markup=True, highlight=False)
    if stale:
        console.print(f"[magenta]stale known discrepancies (matched nothing): {', '.join(stale)}[/magenta]")
    if incomplete:
        console.print(
            "[bold red]INCOMPLETE RUN[/bold red]"
            + (" (interrupted)" if interrupted else "")
            + ": what did not run was not tested"
        )
        for line in incomplete:
            console.print(f"  {line}", markup=False, style="red")
    console.print(
        f"{len(run.checks)} checks, {len(unexpected)} unexpected"
        + (", INCOMPLETE" if incomplete else "")
        + f"; results: {run_dir / RESULTS_FILE}"
    )
    # A framework installed but unusable (import failed, version too old): its record says why.
    unusable = [r for r in run.frameworks if r.get("status") in UNUSABLE_STATUSES]
    # once per framework, although a framework split by dtype wrote one record per process
    lines = {f"{r.get('framework')}: {r.get('status')}: {r.get('message') or ''}": None for r in unusable}
    for line in lines:
        console.print(line, style="bold red", markup=False)
    if report:
        _write_run_report(run_dir)
    if unusable:
        return EXIT_BROKEN
    if not run.checks and not died:
        console.print("[bold red]no checks ran[/bold red]")
        return EXIT_UNEXPECTED
    return EXIT_UNEXPECTED if unexpected or died or incomplete else EXIT_OK


def _write_run_report(run_dir: Path) -> None:
    """Write report.html and summary.md into the run directory; a failure never changes the exit status."""
    from conformance.report.commands import end_of_run_report, report_lines

    try:
        html_path, markdown_path = end_of_run_report(run_dir)
    except Exception as exc:  # the results are safe; say why the report is missing
        print(f"softmax-conformance: no report written: {type(exc).__name__}: {exc}", file=sys.stderr)
        return
    print(report_lines(html_path, markdown_path), flush=True)


def cmd_list(args: argparse.Namespace) -> int:
    """Every framework (or those of ``--framework``), each probed in its own process
    (``conformance.listing``): a table on a terminal, aligned plain text with nothing cut otherwise."""
    from conformance.adapters import all_adapters
    from conformance.listing import COLUMNS, cached_probe_all, format_plain, rows

    adapters = all_adapters()
    names = _split(args.framework) or list(adapters)
    unknown = [n for n in names if n not in adapters]
    if unknown:
        raise UsageError(f"unknown framework {unknown[0]!r}; valid: {', '.join(adapters)}")
    found, cached = cached_probe_all(names, {n: adapters[n].installed() for n in names}, args.refresh)
    if cached:
        print(
            f"({cached} of {len(names)} frameworks from the cache; --refresh probes again)", file=sys.stderr
        )
    table = rows(found)
    if not sys.stdout.isatty():
        print(format_plain(table), flush=True)
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    shown = Table(title="frameworks and implementations")
    for col in COLUMNS:
        shown.add_column(col, overflow="fold")
    previous = None
    for row in table:
        first = row[0] != previous
        previous = row[0]
        shown.add_row(*(row if first else ["", "", "", *row[3:]]))
    Console().print(shown)
    return EXIT_OK


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr (no usage block) and exit status 2.

    Subcommand parsers are of the same class (``add_subparsers`` uses the parent's), so every
    subcommand's bad option, bad value or missing argument reads ``PROG: error: MESSAGE (see
    PROG --help)``; ``--help`` itself is unchanged.
    """

    def error(self, message: str) -> NoReturn:
        first = message.splitlines()[0] if message else "bad arguments"
        print(f"{self.prog}: error: {first} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser (errors: ``OneLineParser``)."""
    parser = OneLineParser(prog="softmax-conformance", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the conformance suite and write a results file")
    for name, help_text in (
        ("framework", "framework(s) to test (default: every installed one)"),
        ("api", "API glob(s), e.g. 'F.*softmax'"),
        ("device", "device(s): cpu, cuda:N"),
        ("dtype", "dtype(s): float16, bfloat16, float32, float64"),
        ("mode", "mode(s): eager, jit, xla"),
        ("op", "op(s): softmax, log_softmax, sum_normalize"),
    ):
        run.add_argument(f"--{name}", action="append", help=help_text + "; repeat or comma-separate")
    run.add_argument("--profile", default="default", help="quick, default or thorough (default: default)")
    run.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: random, printed)")
    run.add_argument("--run-id", default=None, help="name of the run directory (default: a timestamp)")
    run.add_argument(
        "--results-dir", default="reports/runs", help="where runs are written (default: reports/runs)"
    )
    run.add_argument("--overwrite", action="store_true", help="replace an existing run with the same id")
    run.add_argument(
        "--known", default=None, help="registry of known discrepancies (default: the bundled one)"
    )
    run.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds per process (default: the profile's; quick 1800, default 3600, thorough 14400)",
    )
    run.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="processes at once (a framework, or a framework's dtype: --split; default: the CPU count)",
    )
    run.add_argument(
        "--compile-cache",
        default=None,
        help="where JAX and TensorFlow's XLA keep compiled programs between runs"
        " (default: RESULTS_DIR/.compile-cache)",
    )
    run.add_argument(
        "--no-compile-cache", action="store_true", help="compile everything afresh, keep nothing"
    )
    run.add_argument(
        "--split",
        choices=SPLITS,
        default="auto",
        help="one process per framework, per framework and dtype, or auto: the long frameworks"
        " by dtype when there are cores for them (default: auto)",
    )
    run.add_argument("--no-progress", action="store_true", help="no live progress display")
    run.add_argument("--junit-xml", action="store_true", help="also write pytest's JUnit XML per framework")
    run.add_argument("--no-report", action="store_true", help="do not write report.html and summary.md")
    run.add_argument("-k", default=None, help="pytest -k expression over test ids")
    custom_cli.add_arguments(run)
    run.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    run.set_defaults(func=cmd_run)
    lst = sub.add_parser("list", help="show installed frameworks, versions, devices and implementations")
    lst.add_argument("--framework", action="append", help="framework(s) to list; repeat or comma-separate")
    lst.add_argument("--refresh", action="store_true", help="probe every framework again, ignoring the cache")
    lst.set_defaults(func=cmd_list)
    from conformance.report.commands import add_parsers

    add_parsers(sub)
    from conformance import bisect, registry_audit

    bisect.add_parser(sub)
    registry_audit.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed one usage line
        return EXIT_USAGE if exc.code else EXIT_OK
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"softmax-conformance: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RunFileError as exc:
        print(f"softmax-conformance: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AdapterLoadError as exc:  # a third-party entry point that is broken or of the wrong type
        print(f"softmax-conformance: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        print("softmax-conformance: interrupted; records written so far are kept", file=sys.stderr)
        return 128 + getattr(exc, "signum", signal.SIGINT)


if __name__ == "__main__":
    sys.exit(main())
