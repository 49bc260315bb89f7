"""A framework that is installed but fails to import: a ``framework`` record with the reason, and a
non-zero exit (``EXIT_BROKEN``) from ``run`` and from the tox wrapper.

The failure is real, not patched in: a directory put first on ``PYTHONPATH`` holds modules named
like the frameworks (``onnxruntime``, ``keras``) that raise ``ImportError`` when imported, as a
broken install does (a missing shared library). The suite runs in a subprocess, as a user runs it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from conformance.errors import EXIT_BROKEN

MESSAGE = "libbroken.so.1: cannot open shared object file: No such file or directory"
# Frameworks shadowed by a module that raises on import, and the modules they need besides it.
SHADOWED = {"onnxruntime": ("onnx",), "keras-jax": ("jax",)}
SELECTION = ["--api", "exp-shift", "--dtype", "float32", "--profile", "quick", "--seed", "0"]


def _shim(tmp_path: Path) -> Path:
    shim = tmp_path / "shim"
    shim.mkdir()
    for module in ("onnxruntime", "keras"):
        (shim / f"{module}.py").write_text(f"raise ImportError({MESSAGE!r})\n")
    return shim


def _env(shim: Path) -> dict[str, str]:
    path = [str(shim), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path), TF_CPP_MIN_LOG_LEVEL="2", COLUMNS="200")


def _frameworks() -> list[str]:
    missing = [m for deps in SHADOWED.values() for m in deps if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    return ["numpy", *SHADOWED]


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]


def test_a_framework_that_fails_to_import_is_recorded_with_its_reason_and_the_run_exits_broken(tmp_path):
    frameworks = _frameworks()
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "conformance", "run", "--framework", ",".join(frameworks), *SELECTION]
    cmd += ["--run-id", "broken", "--results-dir", str(runs), "--no-progress", "--no-report"]
    out = subprocess.run(
        cmd, cwd=ROOT, env=_env(_shim(tmp_path)), capture_output=True, text=True, timeout=600
    )
    assert out.returncode == EXIT_BROKEN, out.stdout + out.stderr
    records = _records(runs / "broken")
    status = {r["framework"]: r for r in records if r["type"] == "framework"}
    for name in SHADOWED:  # keras-jax included: its name has a dash, like every cell id
        assert status[name]["status"] == "import failed", status
        assert status[name]["message"] == f"ImportError: {MESSAGE}", status[name]
        assert f"{name}: import failed: ImportError: {MESSAGE}" in out.stdout
    assert status["numpy"]["status"] == "ok"
    checks = [r for r in records if r["type"] == "check"]
    assert checks and {r["framework"] for r in checks} == {"numpy"}  # the others still ran


def test_tox_run_fails_the_environment_of_a_framework_that_fails_to_import(tmp_path):
    frameworks = _frameworks()
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "conformance.tox_run", "--framework", ",".join(frameworks), *SELECTION]
    cmd += ["--run-id", "py311-broken", "--results-dir", str(runs), "--no-progress", "--no-report"]
    out = subprocess.run(
        cmd, cwd=ROOT, env=_env(_shim(tmp_path)), capture_output=True, text=True, timeout=600
    )
    assert out.returncode == EXIT_BROKEN, out.stdout + out.stderr
    for name in SHADOWED:
        line = f"conformance.tox_run: environment broken: {name}: import failed (ImportError: {MESSAGE})"
        assert line in out.stderr, out.stderr


def test_plain_pytest_summary_names_every_unusable_framework_keras_backends_included(tmp_path):
    """The terminal summary of a plain pytest run lists each framework that did not import, with why
    (it once filtered names with a dash, which dropped every Keras backend)."""
    frameworks = _frameworks()
    cmd = [sys.executable, "-m", "pytest", "-p", "conformance.plugin", "--pyargs", "conformance.suite"]
    cmd += ["-p", "no:cacheprovider", "--framework", ",".join(frameworks), "--profile", "quick"]
    cmd += ["--api", "exp-shift", "--dtype", "float32", "--hypothesis-seed=0", "-q"]
    cmd += ["--run-dir", str(tmp_path / "r")]
    out = subprocess.run(
        cmd, cwd=tmp_path, env=_env(_shim(tmp_path)), capture_output=True, text=True, timeout=600
    )
    for name in SHADOWED:
        assert f"{name}: import failed: ImportError: {MESSAGE}" in out.stdout, out.stdout[-3000:]
    assert out.returncode == 1, out.stdout[-3000:]  # pytest's "failed": its 3 is an internal error


def test_a_framework_split_by_dtype_that_fails_to_import_is_said_once(tmp_path):
    """Each of its four processes records the failure; the summary says it once."""
    if importlib.util.find_spec("onnx") is None:
        pytest.skip("not installed: onnx")
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "conformance", "run", "--framework", "onnxruntime", "--split", "dtype"]
    cmd += ["--profile", "quick", "--seed", "0", "--run-id", "broken", "--results-dir", str(runs)]
    cmd += ["--no-progress", "--no-report"]
    out = subprocess.run(
        cmd, cwd=ROOT, env=_env(_shim(tmp_path)), capture_output=True, text=True, timeout=600
    )
    assert out.returncode == EXIT_BROKEN, out.stdout + out.stderr
    failed = [r for r in _records(runs / "broken") if r["type"] == "framework"]
    assert len(failed) == 4 and {r["status"] for r in failed} == {"import failed"}
    assert out.stdout.count(f"onnxruntime: import failed: ImportError: {MESSAGE}") == 1, out.stdout
