"""A run cut into processes per framework or per (framework, dtype): which frameworks are split,
that a split process's records count as its progress, and that a registry entry is stale only
when no process of the run used it.

The runner tests use short ``python -c`` processes standing in for framework processes; the last
test runs SciPy for real, split by dtype (four short processes).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conformance import runner
from conformance.cli import main
from conformance.known import DEFAULT_REGISTRY
from conformance.records import RESULTS_FILE, Run, read_run
from conformance.summary import stale_known_issues
from conformance.work_units import WorkUnit, plan_units

DTYPES = ["float16", "bfloat16", "float32", "float64"]
EXPECTED = {"big": 100.0, "mid": 25.0, "small": 10.0}


def test_framework_split_is_one_process_per_framework() -> None:
    units = plan_units(["small", "big"], DTYPES, jobs=8, split="framework", expected=EXPECTED)
    assert [u.name for u in units] == ["big", "small"]  # longest expected first
    assert all(u.dtype is None for u in units)


def test_dtype_split_is_one_process_per_framework_and_dtype() -> None:
    units = plan_units(["small", "big"], DTYPES, jobs=1, split="dtype", expected=EXPECTED)
    assert [u.name for u in units[:4]] == [f"big[{d}]" for d in DTYPES]
    assert {u.framework for u in units[4:]} == {"small"} and len(units) == 8
    assert units[0].expected_seconds == pytest.approx(25.0)
    assert units[0].file_stem == "big.float16"


def test_auto_splits_only_what_is_longer_than_its_share_of_the_cores() -> None:
    # total 135 s; 2 jobs: a share of 135 / 4 = 33.75 s: only "big" is split
    units = plan_units(["big", "mid", "small"], DTYPES, jobs=2, split="auto", expected=EXPECTED)
    assert sorted(u.name for u in units if u.dtype) == sorted(f"big[{d}]" for d in DTYPES)
    # 8 jobs: a share of 8.4 s: all three are split
    units = plan_units(["big", "mid", "small"], DTYPES, jobs=8, split="auto", expected=EXPECTED)
    assert len(units) == 12
    # one job: nothing runs beside a process, so nothing is split
    assert all(u.dtype is None for u in plan_units(["big"], DTYPES, 1, "auto", EXPECTED))
    # one dtype selected: nothing to split
    assert plan_units(["big"], ["float32"], 8, "dtype", EXPECTED) == [WorkUnit("big", None, 100.0)]
    # a framework the table does not know (the user's own): never split by auto, started last
    units = plan_units(["custom", "small"], DTYPES, 8, "auto", EXPECTED)
    assert units[-1] == WorkUnit("custom", None, 0.0)


def test_an_unknown_split_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown split 'cells'; valid: auto, framework, dtype"):
        plan_units(["big"], DTYPES, 2, "cells", EXPECTED)


def test_a_unit_owns_the_records_of_its_framework_and_dtype() -> None:
    half, whole = WorkUnit("jax", "float16"), WorkUnit("jax")
    record = {"type": "check", "framework": "jax", "dtype": "float16"}
    assert half.owns(record) and whole.owns(record)
    assert not half.owns({**record, "dtype": "bfloat16"})
    assert not whole.owns({**record, "framework": "keras-jax"})


def _writer(results: Path, framework: str, dtype: str, checks: int) -> list[str]:
    """A process that appends ``checks`` check records of (framework, dtype) to ``results``."""
    line = json.dumps({"type": "check", "framework": framework, "dtype": dtype, "verdict": "pass"})
    code = f"f = open({str(results)!r}, 'a'); [f.write({line!r} + '\\n') for _ in range({checks})]"
    return [sys.executable, "-c", code]


def test_each_split_process_counts_the_checks_of_its_own_dtype(tmp_path: Path, capsys) -> None:
    results = tmp_path / RESULTS_FILE
    results.write_text("")
    units = {u.name: u for u in (WorkUnit("jax", "float16", 2.0), WorkUnit("jax", "float32", 1.0))}
    commands = {
        "jax[float16]": _writer(results, "jax", "float16", 2),
        "jax[float32]": _writer(results, "jax", "float32", 3),
    }
    procs = runner.run_processes(commands, tmp_path, {}, 1, 60.0, lambda p: None, False, units=units)
    assert {p.name: p.done for p in procs} == {"jax[float16]": 2, "jax[float32]": 3}
    assert [p.name for p in procs] == ["jax[float16]", "jax[float32]"]  # longest expected first
    assert (tmp_path / "logs" / "jax.float16.log").exists()
    out = capsys.readouterr().out
    assert "jax[float16]: ok in" in out and "jax[float32]: ok in" in out
    assert "slowest process: jax[" in runner.critical_path_line(procs)


def test_an_entry_is_stale_only_when_no_process_of_the_run_used_it() -> None:
    used = {"type": "check", "known_issue": {"id": "used-in-float32"}}
    run = Run(
        Path("results.jsonl"),
        {},
        checks=[used],
        semantics=[{"type": "semantics", "known_issue": {"id": "seen-in-semantics"}}],
        ends=[
            {"type": "end", "stale_known_issues": ["used-in-float32", "never-used", "seen-in-semantics"]},
            {"type": "end", "stale_known_issues": ["never-used"]},
        ],
    )
    assert stale_known_issues(run) == ["never-used"]


def test_a_split_run_still_reports_an_entry_that_matched_nothing(tmp_path: Path, capsys) -> None:
    """SciPy split by dtype (four processes, each given ``--dtype``): an entry for a float32
    failure that cannot happen (a backward pass SciPy does not have) is reported stale, although
    each process ran one dtype only (a ``--dtype`` the user gives turns the stale report off);
    the bundled float16 entries, used by the float16 process, are not."""
    pytest.importorskip("scipy")
    registry = tmp_path / "known.toml"
    bogus = (
        '\n[[discrepancy]]\nid = "scipy-float32-bogus"\nframework = "scipy"\nversions = ">=0"\n'
        'api = "special.softmax"\ndtype = "float32"\nproperty = "grad_precision"\n'
        'reason = "planted: SciPy has no backward pass"\nclassification = "framework-bug"\n'
    )
    registry.write_text(Path(DEFAULT_REGISTRY).read_text() + bogus)
    argv = ["run", "--framework", "scipy", "--profile", "quick", "--seed", "0", "--split", "dtype"]
    argv += ["--results-dir", str(tmp_path), "--run-id", "r", "--known", str(registry), "--no-report"]
    status = main([*argv, "--no-progress", "--jobs", "2"])
    out = capsys.readouterr().out
    run = read_run(tmp_path / "r")
    assert {r.get("dtype") for r in run.checks} == set(DTYPES)
    assert len([r for r in run.frameworks if r.get("status") == "ok"]) == 4  # one process per dtype
    used = {r["known_issue"]["id"] for r in run.checks if r.get("known_issue")}
    assert "scipy-float16-softmax-sum-past-max" in used
    assert stale_known_issues(run) == ["scipy-float32-bogus"]
    assert "stale known discrepancies (matched nothing): scipy-float32-bogus" in out
    assert status == 0, out
    assert not (tmp_path / "r" / ".oracle-cache").exists()  # the shared answers went with the run
    for dtype in DTYPES:  # each log summarizes its own process, none calls another one killed
        log = (tmp_path / "r" / "logs" / f"scipy.{dtype}.log").read_text()
        assert f"this process's checks (scipy {dtype})" in log and "INCOMPLETE" not in log


def test_a_run_starts_with_no_shared_answer_left_by_a_killed_run(tmp_path: Path) -> None:
    from conformance.cli import ORACLE_CACHE_DIR, fresh_shared_answers

    left = tmp_path / ORACLE_CACHE_DIR
    left.mkdir()
    (left / ("0" * 40 + ".pickle")).write_bytes(b"an answer of other code")
    assert fresh_shared_answers(tmp_path) == left
    assert not left.exists()


class _Terminal:
    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> None:
        self.text += text


def _process_session(run_dir: Path, planned: int, written: int):
    """A ``run`` process's session (``--append-run``) that wrote ``written`` NumPy checks of float32."""
    from types import SimpleNamespace

    from conformance.recording import Tally

    tally = Tally()
    for _ in range(written):
        tally.add(
            {
                "type": "check",
                "implementation": "numpy-x/sum-eager",
                "device": "cpu",
                "dtype": "float32",
                "property": "bounds",
                "verdict": "pass",
            }
        )
    options = {"append_run": True}
    return SimpleNamespace(
        config=SimpleNamespace(getoption=lambda name, default=None: options.get(name, default)),
        cells=lambda: [SimpleNamespace(impl=SimpleNamespace(framework="numpy"))],
        selection=SimpleNamespace(dtypes=["float32"]),
        tally=tally,
        planned=planned,
        run_dir=run_dir,
        empty_selection=None,
        _unusable={},
        unexpected=[],
        seed=0,
    )


def test_a_process_log_summarizes_its_own_checks_not_the_processes_still_running(tmp_path: Path) -> None:
    """The results file a process of ``run`` shares holds another process still running (its
    ``framework`` record, no ``end`` yet) and that process's checks: the finished process's log
    counts only its own checks and calls nothing incomplete (it used to print "INCOMPLETE RUN ...
    its process wrote no end record (interrupted or killed)" for every process still running)."""
    from conformance.summary import print_summary

    results = tmp_path / RESULTS_FILE
    lines = [
        {"type": "envelope", "run_id": "r", "profile": "quick", "seed": 0},
        {"type": "framework", "framework": "jax", "status": "ok", "pid": 1},
        {
            "type": "check",
            "implementation": "jax-nn.softmax-jit",
            "device": "cpu",
            "dtype": "float32",
            "property": "bounds",
            "verdict": "pass",
            "framework": "jax",
        },
    ]
    results.write_text("".join(json.dumps(r) + "\n" for r in lines))
    terminal = _Terminal()
    print_summary(terminal, _process_session(tmp_path, planned=2, written=2))
    assert "this process's checks (numpy float32)" in terminal.text
    assert "numpy-x/sum-eager (cpu)" in terminal.text and "jax-nn.softmax-jit" not in terminal.text
    assert "INCOMPLETE" not in terminal.text
    # a process that recorded fewer checks than it planned says so, in its own words
    terminal = _Terminal()
    print_summary(terminal, _process_session(tmp_path, planned=3, written=2))
    assert "INCOMPLETE RUN" in terminal.text and "2 of 3 planned checks recorded" in terminal.text
    terminal = _Terminal()
    print_summary(terminal, _process_session(tmp_path, planned=2, written=2), exitstatus=2)
    assert "interrupted (pytest exit status 2)" in terminal.text
