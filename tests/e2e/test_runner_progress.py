"""The runner in a log: a progress line at least every ``PROGRESS_LINE_SECONDS``, the longest
framework started first, the critical path named; the per-framework timeout comes from the profile.

The processes here are short ``python -c`` sleeps standing in for framework processes, so no
framework is imported.
"""

from __future__ import annotations

import sys

import pytest

from conformance import runner
from conformance.profiles import PROFILES, get_profile


def _sleep(seconds: float) -> list[str]:
    return [sys.executable, "-c", f"import time; time.sleep({seconds})"]


def _run(tmp_path, commands: dict[str, list[str]], jobs: int, timeout: float = 60.0):
    ended: list[str] = []
    procs = runner.run_processes(
        commands, tmp_path, {}, jobs, timeout, lambda p: ended.append(p.name), show_progress=False
    )
    return procs, ended


def test_a_log_gets_a_progress_line_while_processes_run(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(runner, "PROGRESS_LINE_SECONDS", 0.5)
    _run(tmp_path, {"numpy": _sleep(1.6)}, jobs=1)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("progress at")]
    assert len(lines) >= 2, lines
    assert "numpy 0/? checks" in lines[0]  # framework, checks done/planned (not collected yet), seconds


def test_the_longest_framework_starts_first_and_the_critical_path_is_its_slot(tmp_path, capsys) -> None:
    commands = {"scipy": _sleep(0.1), "numpy": _sleep(0.1), "jax": _sleep(6.0)}  # margin for a loaded box
    procs, _ = _run(tmp_path, commands, jobs=2)
    out = capsys.readouterr().out
    started = [line.split(":")[0] for line in out.splitlines() if line.endswith(".log)")]
    assert started[0] == "jax"  # listed last, expected to be the longest: started first
    chain = runner.critical_path(procs)
    assert [p.name for p in chain] == ["jax"]
    line = runner.critical_path_line(procs)
    assert line.startswith("critical path: jax ") and "slowest process: jax" in line


def test_the_critical_path_is_the_chain_of_the_slot_that_ended_last(tmp_path) -> None:
    commands = {"jax": _sleep(0.3), "numpy": _sleep(0.1), "scipy": _sleep(0.8)}
    procs, _ = _run(tmp_path, commands, jobs=1)
    assert [p.name for p in runner.critical_path(procs)] == ["jax", "numpy", "scipy"]


def test_each_profile_has_its_own_timeout_growing_with_the_work() -> None:
    quick, default, thorough = (get_profile(n).timeout_seconds for n in ("quick", "default", "thorough"))
    assert quick < default < thorough
    assert set(PROFILES) == {"quick", "default", "thorough"}


@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_timeout_that_is_not_positive_is_a_usage_error(value: str) -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "conformance", "run", "--framework", "numpy", "--timeout", value],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "--timeout must be a positive number of seconds" in done.stderr
