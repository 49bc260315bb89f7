"""No verdict may hide a failure (issue 13): incomplete runs, empty selections, bad arguments.

- A run that did not finish (interrupted by SIGINT/SIGTERM, a framework process killed, a
  process without its ``end`` record, a process stopped before its planned checks) is never
  green: the report's banner, the Markdown summary and the terminal say so, the exit status is
  non-zero, and ``run`` writes the report from the records written before the interrupt.
- A selection that matches nothing is a usage error: one line, exit status 2 (never pytest's 5,
  never a report).
- A bad command line is one line on stderr and exit status 2, for every subcommand.
- A cell whose probe raised something other than a decline has ``error`` semantics records.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from helpers import ROOT

from conformance.cli import _report_and_exit, main
from conformance.records import read_run
from conformance.report import synthetic as syn
from conformance.report.markdown import report_markdown
from conformance.report.model import build_model

READER = "slow-run-stdout"
QUICK = ["--profile", "quick", "--dtype", "float64", "--seed", "0", "--no-progress"]


def _env(**extra: str) -> dict[str, str]:
    """The environment of a child ``python -m conformance``: this checkout first on the path."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


def _cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "conformance", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def _records(path: Path) -> list[dict]:
    """Every line of a results file, each of which must be whole JSON (nothing torn or lost)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _assert_not_green(run_dir: Path) -> None:
    """The report and the Markdown summary of ``run_dir`` exist and say the run is incomplete."""
    page = (run_dir / "report.html").read_text()
    summary = (run_dir / "summary.md").read_text()
    banner = page[page.index('<div class="banner') : page.index("</div>", page.index('<div class="banner'))]
    assert 'class="banner ok"' not in banner and "No unexpected results" not in banner
    assert "ncomplete" in banner
    assert not summary.startswith("## ✅") and "No unexpected results" not in summary
    assert "ncomplete" in summary


# ---- a run interrupted or killed once records exist -----------------------------------------

SLOW = textwrap.dedent(
    """
    import os
    import pathlib
    import time


    def softmax(x, axis=-1):
        pathlib.Path(os.environ["SLOW_MARKER"]).touch()  # the test now knows this process is inside
        time.sleep(300)
        raise AssertionError("not reached: the run is interrupted first")
    """
)


def _start_slow_run(tmp_path: Path, sigint_ignored: bool = False) -> tuple[subprocess.Popen, Path, list[str]]:
    """numpy (fast: finishes and records) beside a custom implementation that never returns.

    Returns once numpy's process has ended (the run prints a line) and the custom one is inside
    its call: the run, its directory, and the lines it has printed so far (more are appended).
    """
    (tmp_path / "slow.py").write_text(SLOW)
    marker = tmp_path / "inside-slow-call"
    cmd = [sys.executable, "-m", "conformance", "run", "--framework", "numpy", "--api", "exp-shift"]
    cmd += [*QUICK, "--impl", "slow.py:softmax", "--impl-op", "softmax", "--impl-timeout", "0"]
    cmd += ["--jobs", "2", "--run-id", "r", "--results-dir", str(tmp_path / "runs")]
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env=_env(SLOW_MARKER=str(marker)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as a run started in the background of a shell script (SIGINT ignored) inherits it
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None,
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(iter(proc.stdout.readline, "")), name=READER, daemon=True
    )
    reader.start()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # wait for numpy's end and the slow call, not for a time
        if any(line.startswith("numpy: ok") for line in lines) and marker.exists():
            return proc, tmp_path / "runs" / "r", lines
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    pytest.fail(f"the run never reached the slow call: {''.join(lines)[-3000:]} {proc.stderr.read()[-2000:]}")


def _finish(proc: subprocess.Popen, lines: list[str]) -> tuple[str, str]:
    """Wait for the run to exit; its whole stdout (read by ``_start_slow_run``'s thread) and stderr."""
    err = proc.stderr.read()
    proc.wait(timeout=120)
    for thread in threading.enumerate():
        if thread.name == READER:
            thread.join(timeout=30)  # stdout is at its end once the run has exited
    return "".join(lines), err


@pytest.mark.parametrize(
    ("signum", "sigint_ignored"),
    [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=["SIGINT", "SIGTERM", "SIGINT-inherited-ignored"],
)
def test_an_interrupted_run_keeps_its_records_writes_its_report_and_is_not_green(
    tmp_path, signum, sigint_ignored
):
    proc, run_dir, lines = _start_slow_run(tmp_path, sigint_ignored)
    checks_before = [r for r in _records(run_dir / "results.jsonl") if r["type"] == "check"]
    assert checks_before
    proc.send_signal(signum)
    out, err = _finish(proc, lines)
    assert proc.returncode == 128 + signum, out[-3000:] + err[-3000:]
    records = _records(run_dir / "results.jsonl")
    checks = [r for r in records if r["type"] == "check"]
    assert checks[: len(checks_before)] == checks_before  # nothing written before the interrupt lost
    died = [r for r in records if r["type"] == "framework" and r["status"] == "did not finish"]
    assert [r["framework"] for r in died] == ["custom"]
    assert f"interrupted ({signal.Signals(signum).name})" in died[0]["message"]
    _assert_not_green(run_dir)
    assert "INCOMPLETE RUN" in out and "interrupted" in err
    model = build_model(read_run(run_dir))
    assert model.headline["status"] == "incomplete" and model.headline["unexpected"] == 0


def test_a_killed_framework_process_makes_the_report_incomplete(tmp_path):
    proc, run_dir, lines = _start_slow_run(tmp_path)
    pids = [
        r["pid"]
        for r in _records(run_dir / "results.jsonl")
        if r["type"] == "framework" and r["framework"] == "custom" and r["status"] == "ok"
    ]
    assert len(pids) == 1
    os.kill(pids[0], signal.SIGKILL)  # the custom implementation's own pytest process
    out, err = _finish(proc, lines)
    assert proc.returncode == 1, out[-3000:] + err[-3000:]
    died = [r for r in read_run(run_dir).frameworks if r["status"] == "did not finish"]
    assert [(r["framework"], r["message"]) for r in died] == [("custom", "killed by signal 9")]
    _assert_not_green(run_dir)
    assert "INCOMPLETE RUN" in out


# ---- what the report makes of an incomplete results file -------------------------------------


def _passing(*extra: dict) -> list[dict]:
    return [syn.envelope("inc"), syn.framework("numpy"), syn.check("pass"), *extra]


INCOMPLETE_RUNS = {
    "a framework that did not finish": _passing(
        syn.end(),
        {
            "type": "framework",
            "framework": "jax",
            "status": "did not finish",
            "message": "killed by signal 9",
        },
    ),
    "no end record": _passing(),
    "a process interrupted": _passing({**syn.end(), "exit_status": 2, "frameworks": ["numpy"]}),
    "fewer checks than planned": _passing({**syn.end(), "pid": 1, "planned": 9, "checks": 1}),
    "a process without its end record": _passing(
        syn.framework("jax", "0.10.2", pid=2), {**syn.end(), "pid": 1, "planned": 1, "checks": 1}
    ),
}


@pytest.mark.parametrize("records", list(INCOMPLETE_RUNS.values()), ids=list(INCOMPLETE_RUNS))
def test_an_incomplete_run_is_never_green(tmp_path, records):
    run_dir = syn.write_run(tmp_path / "run", records)
    run = read_run(run_dir)
    model = build_model(run)
    assert model.headline["status"] == "incomplete" and model.headline["incomplete"]
    assert dict(model.environment)["finished"][0].startswith("NO: ")
    markdown = report_markdown(model)
    assert markdown.startswith("## ⚠️") and "**Incomplete run**" in markdown
    assert "No unexpected results" not in markdown
    # run's own ending: the summary says so, the report is written, the exit status is 1
    assert _report_and_exit(run_dir, [], report=True) == 1
    _assert_not_green(run_dir)


def test_an_incomplete_run_with_failures_says_both(tmp_path):
    run_dir = syn.write_run(tmp_path / "run", [*_passing(), syn.check("fail", dtype="float16")])
    model = build_model(read_run(run_dir))
    assert model.headline["status"] == "bad" and model.headline["incomplete"]
    assert "the run is incomplete" in report_markdown(model)


def test_a_complete_run_stays_green(tmp_path):
    """Control: one process of two frameworks (one ``end``), and two processes with their ends."""
    one_process = [
        *_passing(),
        syn.framework("jax", "0.10.2"),
        {**syn.end(), "pid": 1, "planned": 1, "checks": 1},
    ]
    two_processes = [*_passing(), syn.framework("jax", "0.10.2", pid=2), syn.end(), syn.end(pid=2)]
    for name, records in (("one", one_process), ("two", two_processes)):
        model = build_model(read_run(syn.write_run(tmp_path / name, records)))
        assert model.headline["status"] == "ok" and model.headline["incomplete"] == []
        assert dict(model.environment)["finished"] == ["yes"]
        assert "**No unexpected results**" in report_markdown(model)


def test_pytest_stopped_early_records_fewer_checks_than_planned(tmp_path):
    """``-x`` stops at the first failure: the end record says what was planned, the run is incomplete."""
    (tmp_path / "bad.py").write_text(
        "import numpy as np\n\n\ndef softmax(x, axis=-1):\n    return np.ones_like(x)\n"
    )
    cmd = [sys.executable, "-m", "pytest", "-p", "conformance.plugin", "--pyargs", "conformance.suite"]
    cmd += ["-p", "no:cacheprovider", "--profile", "quick", "--dtype", "float64", "--hypothesis-seed=0"]
    cmd += ["--impl", "bad.py:softmax", "--impl-op", "softmax", "--run-dir", str(tmp_path / "r"), "-x", "-q"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-3000:]
    run = read_run(tmp_path / "r")
    (end,) = run.ends
    assert end["checks"] == len(run.checks) < end["planned"]
    assert build_model(run).headline["incomplete"]
    assert "INCOMPLETE RUN" in proc.stdout


# ---- a selection that matches nothing -----------------------------------------------------------


@pytest.mark.parametrize(
    "selection",
    [["--api", "zzz*"], ["-k", "nosuchprop"], ["--mode", "jit"]],
    ids=["api", "keyword", "mode"],
)
def test_a_selection_that_matches_nothing_is_a_usage_error(tmp_path, selection):
    proc = _cli(
        "run",
        "--framework",
        "numpy",
        *selection,
        *QUICK,
        "--run-id",
        "e",
        "--results-dir",
        str(tmp_path),
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "the selection matches no checks" in lines[0]
    assert selection[-1] in lines[0]
    assert not (tmp_path / "e" / "report.html").exists() and not (tmp_path / "e" / "summary.md").exists()


def test_a_stale_report_is_removed_when_a_run_is_overwritten(tmp_path):
    (tmp_path / "e").mkdir()
    for name in ("results.jsonl", "report.html", "summary.md"):
        (tmp_path / "e" / name).write_text("an older run's green page")
    proc = _cli(
        "run", "--framework", "numpy", "--api", "zzz*", *QUICK, "--run-id", "e", "--overwrite",
        "--results-dir", str(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2
    assert not (tmp_path / "e" / "report.html").exists() and not (tmp_path / "e" / "summary.md").exists()


def test_plain_pytest_with_a_selection_that_matches_nothing_is_a_usage_error(tmp_path):
    """Plain pytest: its own usage-error status (4, as for an unknown ``--framework``), never 5 or 0."""
    cmd = [sys.executable, "-m", "pytest", "-p", "conformance.plugin", "--pyargs", "conformance.suite"]
    cmd += ["-p", "no:cacheprovider", "--framework", "numpy", "--profile", "quick", "-q"]
    cmd += ["--run-dir", str(tmp_path / "p")]
    for selection in (["-k", "nosuchprop"], ["--api", "zzz*"]):
        proc = subprocess.run(
            [*cmd, *selection], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout[-2000:]
        assert "the selection matches no checks" in proc.stdout


# ---- argparse errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--seed", "abc"], "argument --seed: invalid int value: 'abc'"),
        (["run", "--no-such-option"], "unrecognized arguments: --no-such-option"),
        (["run", "--framework"], "argument --framework: expected one argument"),
        (["compare", "only-one"], "the following arguments are required: CANDIDATE"),
        (["report"], "the following arguments are required: RUN"),
        (["merge", "a"], "-o"),
        ([], "the following arguments are required: command"),
        (["nosuchcommand"], "invalid choice: 'nosuchcommand'"),
    ],
)
def test_a_bad_command_line_is_one_line_and_exit_2(capsys, argv, message):
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], captured.err
    assert "usage:" not in captured.err and "Traceback" not in captured.err


def test_help_is_unchanged(capsys):
    assert main(["run", "--help"]) == 0
    assert "usage:" in capsys.readouterr().out


# ---- a cell whose probe raised --------------------------------------------------------------------


def test_a_cell_whose_probe_raised_has_error_semantics(tmp_path):
    (tmp_path / "boom.py").write_text("def softmax(x, axis=-1):\n    raise RuntimeError('boom')\n")
    cmd = [sys.executable, "-m", "pytest", "-p", "conformance.plugin", "--pyargs", "conformance.suite"]
    cmd += ["-p", "no:cacheprovider", "--profile", "quick", "--dtype", "float64", "--hypothesis-seed=0", "-q"]
    cmd += ["--impl", "boom.py:softmax", "--impl-op", "softmax", "--run-dir", str(tmp_path / "r"), "-rf"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    run = read_run(tmp_path / "r")
    assert {r["verdict"] for r in run.checks} == {"error"}
    assert run.semantics and {r["classification"] for r in run.semantics} == {"error"}
    assert all("RuntimeError" in r["error"] and "boom" in r["error"] for r in run.semantics)
    assert (
        "test_semantics" in proc.stdout and "special inputs not observed" in proc.stdout
    )  # failed, not passed
    (row,) = build_model(run).semantics
    assert row.cells and {c.classification for c in row.cells.values()} == {"error"}


# ---- a framework process that crashes is restarted once for the checks it did not record -----

CRASHING = textwrap.dedent(
    """
    import os
    import signal

    import numpy as np


    def softmax(x, axis=-1):
        x = np.asarray(x)
        marker = os.environ["CRASH_MARKER"]
        if x.dtype == np.float64 and (os.environ.get("CRASH_ALWAYS") or not os.path.exists(marker)):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGSEGV)  # as a framework's native code would
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        return e / np.sum(e, axis=axis, keepdims=True)
    """
)


def _crashing_run(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, Path]:
    (tmp_path / "crash.py").write_text(CRASHING)
    cmd = [sys.executable, "-m", "conformance", "run", "--framework", "numpy", "--api", "exp-shift"]
    cmd += ["--profile", "quick"]
    cmd += ["--dtype", "float32,float64", "--seed", "0", "--no-progress", "--impl", "crash.py:softmax"]
    cmd += ["--impl-op", "softmax", "--run-id", "r", "--results-dir", str(tmp_path / "runs")]
    marker = str(tmp_path / "crashed-once")
    proc = subprocess.run(
        cmd, cwd=tmp_path, env=_env(CRASH_MARKER=marker, **env), capture_output=True, text=True, timeout=600
    )
    return proc, tmp_path / "runs" / "r"


def test_a_crashed_process_is_restarted_for_the_checks_it_did_not_record(tmp_path):
    proc, run_dir = _crashing_run(tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    run = read_run(run_dir)
    custom = [r for r in run.checks if r["framework"] == "custom"]
    keys = [(r["implementation"], r["device"], r["dtype"], r["property"]) for r in custom]
    assert len(keys) == len(set(keys))  # nothing judged twice
    assert {r["dtype"] for r in custom} == {"float32", "float64"}  # float32 before the crash
    ends = [e for e in run.ends if e.get("frameworks") == ["custom"]]
    assert len(ends) == 1 and 0 < ends[0]["planned"] < len(keys)  # the restart ran only the rest
    restarted = [r for r in run.frameworks if r["status"] == "restarted"]
    assert len(restarted) == 1 and "killed by signal 11" in restarted[0]["message"]
    assert "restarted:" in proc.stdout and "INCOMPLETE" not in proc.stdout


def test_a_process_that_crashes_again_did_not_finish(tmp_path):
    proc, run_dir = _crashing_run(tmp_path, CRASH_ALWAYS="1")
    assert proc.returncode == 1, (proc.stdout + proc.stderr)[-4000:]
    run = read_run(run_dir)
    died = [r for r in run.frameworks if r["status"] == "did not finish"]
    assert [r["message"] for r in died] == ["killed by signal 11"]
    _assert_not_green(run_dir)


def test_a_restarted_process_reports_no_stale_entries():
    """A process restarted with ``--skip-recorded`` judges only the checks its crashed predecessor
    did not record, so the registry entries those checks matched look unused to it: it must not call
    them stale (a default run on JAX 0.10.2 listed six entries as stale after such a restart, though
    their checks were expected failures in the same results file)."""
    from types import SimpleNamespace

    from conformance.session import ConformanceSession

    everything = SimpleNamespace(apis=(), dtypes=(), modes=(), ops=(), devices=())

    def session(**options: object) -> SimpleNamespace:
        values = {"keyword": "", "markexpr": "", "skip_recorded": None, **options}
        return SimpleNamespace(
            selection=everything, config=SimpleNamespace(getoption=lambda k, *d: values[k])
        )

    assert ConformanceSession.partial(session()) is False  # the whole selection: stale is meaningful
    assert ConformanceSession.partial(session(skip_recorded="runs/r/results.jsonl")) is True
