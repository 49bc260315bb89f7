"""Any language through an external command: the .npy protocol, a C program, failures as verdicts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from helpers import ROOT

import conformance
from conformance.adapters.custom import CustomImplError
from conformance.adapters.external import command_implementation

C_SOURCE = ROOT / "tests" / "faults" / "softmax_npy.c"
BF16 = np.dtype(ml_dtypes.bfloat16)
C_DTYPES = ["float32", "float64", "bfloat16"]  # what softmax_npy.c reads

# A Python stand-in for a program in another language, to drive the protocol's corners.
TOOL = """\
import os, sys, time
import numpy as np

mode, inp, axis, out = sys.argv[1:]
x = np.load(inp)
kind = os.environ["SOFTMAX_CONFORMANCE_DTYPE"]
if (kind == "bfloat16") != (x.dtype == np.uint16):
    sys.exit(f"dtype note {kind} does not match {x.dtype}")
if mode == "identity":
    np.save(out, x)
elif mode == "echo-args":
    np.save(out, np.array([float(axis), float(x.ndim)]))
elif mode == "fail":
    print("some diagnostics", file=sys.stderr)
    print("kernel launch failed: out of registers", file=sys.stderr)
    sys.exit(3)
elif mode == "no-output":
    pass
elif mode == "garbage":
    open(out, "w").write("not a npy file")
elif mode == "sleep":
    open(os.environ["SLEEPER_PID_FILE"], "w").write(str(os.getpid()))
    time.sleep(60)
"""


@pytest.fixture(scope="module")
def c_programs(tmp_path_factory) -> dict[str, Path]:
    """softmax_npy.c compiled twice: correct, and with -DNO_MAX_SHIFT (a planted fault)."""
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        pytest.skip("no C compiler (cc, gcc or clang) on PATH: the C external-command test needs one")
    out = tmp_path_factory.mktemp("c")
    programs = {}
    for name, flags in (("correct", []), ("no_max_shift", ["-DNO_MAX_SHIFT"])):
        exe = out / f"softmax_npy_{name}"
        subprocess.run([compiler, "-O2", *flags, "-o", str(exe), str(C_SOURCE), "-lm"], check=True)
        programs[name] = exe
    return programs


@pytest.fixture
def tool(tmp_path) -> list[str]:
    path = tmp_path / "tool.py"
    path.write_text(TOOL)
    return [sys.executable, str(path)]


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "sum_normalize"])
def test_c_implementation_conforms(c_programs, op):
    result = conformance.check(command=[str(c_programs["correct"])], op=op, dtypes=C_DTYPES, profile="quick")
    assert result.ok, result.summary()
    assert result.get("bfloat16", "precision").n_cases > 20  # judged, not skipped


def test_c_implementation_with_a_planted_fault_is_caught(c_programs):
    result = conformance.check(command=[str(c_programs["no_max_shift"])], op="softmax", dtypes=["float32"])
    assert "stability" in result.failed_properties(), result.summary()
    out = subprocess.run(
        [sys.executable, "-c", result.get("float32", "stability").repro], capture_output=True, text=True
    )
    assert out.returncode == 0 and "nan" in out.stdout, out.stderr


def test_bfloat16_and_every_dtype_cross_exactly(tool):
    impl = command_implementation([*tool, "identity"], "softmax")
    every_bf16 = np.arange(2**16, dtype=np.uint16).view(BF16).reshape(256, 256)
    assert np.array_equal(impl.call(every_bf16, -1, "cpu").view(np.uint16), every_bf16.view(np.uint16))
    rng = np.random.default_rng(0)
    for dtype in (np.float16, np.float32, np.float64):
        x = rng.standard_normal((3, 4, 5)).astype(dtype).transpose(2, 0, 1)  # a strided view
        y = impl.call(x, 1, "cpu")
        assert y.dtype == x.dtype and np.array_equal(y, x)
    zero_d = impl.call(np.array(2.5, dtype=np.float32), -1, "cpu")
    assert zero_d.shape == () and zero_d == 2.5


def test_axis_is_passed_non_negative(tool):
    impl = command_implementation([*tool, "echo-args"], "softmax")
    assert impl.call(np.zeros((2, 3, 4)), -1, "cpu").tolist() == [2.0, 3.0]
    assert impl.call(np.array(1.0), -1, "cpu").tolist() == [0.0, 1.0]  # 0-d goes as shape (1,)


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("fail", "command exited with status 3: kernel launch failed: out of registers"),
        ("no-output", "wrote no output file"),
        ("garbage", "cannot read the output file"),
    ],
)
def test_command_failures_are_one_line_errors(tool, mode, message):
    impl = command_implementation([*tool, mode], "softmax")
    with pytest.raises(RuntimeError) as info:
        impl.call(np.zeros((1, 3), np.float32), -1, "cpu")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_hanging_command_is_killed_at_the_time_limit(tool, tmp_path, monkeypatch):
    monkeypatch.setenv("SLEEPER_PID_FILE", str(tmp_path / "sleeper.pid"))  # the command inherits it
    impl = command_implementation([*tool, "sleep"], "softmax", timeout=1.0)
    start = time.perf_counter()
    with pytest.raises(TimeoutError, match="did not finish within 1 s"):
        impl.call(np.zeros((1, 3), np.float32), -1, "cpu")
    assert time.perf_counter() - start < 20
    pid = int((tmp_path / "sleeper.pid").read_text())
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_failing_command_gets_verdicts_not_a_crash(tool):
    result = conformance.check(command=[*tool, "fail"], op="softmax", dtypes=["float32"], profile="quick")
    assert {r.verdict for r in result.results} == {"error"}
    assert "out of registers" in result.get("float32", "precision").message


def test_missing_program_is_one_line():
    with pytest.raises(CustomImplError, match="'no-such-program-xyz': command not found"):
        command_implementation("no-such-program-xyz --flag", "softmax")


def test_cli_runs_a_command(c_programs, tmp_path):
    command = f"{c_programs['correct']}"
    run = [sys.executable, "-m", "conformance", "run", "--results-dir", str(tmp_path)]
    options = ["--op", "log_softmax", "--dtype", "float64", "--profile", "quick", "--run-id", "c"]
    proc = subprocess.run(
        [*run, "--impl-command", command, *options, "--no-progress", "--no-report"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    records = [json.loads(line) for line in (tmp_path / "c" / "results.jsonl").read_text().splitlines()]
    checks = [r for r in records if r["type"] == "check"]
    assert checks and {(r["framework"], r["api"], r["op"]) for r in checks} == {
        ("custom", command, "log_softmax")
    }
    missing = subprocess.run(
        [*run, "--impl-command", "no-such-program-xyz", "--impl-op", "softmax"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert missing.returncode == 2 and "command not found" in missing.stderr
