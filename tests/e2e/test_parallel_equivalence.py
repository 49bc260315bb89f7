"""A parallel run of the suite records what a serial run records.

The tox matrix runs environments two at a time and the suite's own pytest may run under
pytest-xdist (``-n 2 --dist loadgroup``: one framework's cells on one worker, records sent to the
controller, which alone writes the results file). Both must give the records a serial run gives:
same checks with the same verdicts and metrics, same semantics observations, same samples.
NumPy and SciPy (always installed with the test extra), two dtypes: ten cells, seconds per run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from conformance.records import read_run

pytest.importorskip("xdist")

VOLATILE = ("seconds", "timing", "pid", "finished", "started", "source", "import_seconds")


def _suite(tmp_path: Path, name: str, *extra: str) -> tuple[str, object]:
    cmd = [sys.executable, "-m", "pytest", "-p", "conformance.plugin", "--pyargs", "conformance.suite"]
    cmd += ["-p", "no:cacheprovider", "-p", "no:randomly", "--framework", "numpy,scipy"]
    cmd += ["--dtype", "float32,bfloat16", "--profile", "quick", "--hypothesis-seed=0"]
    cmd += ["--run-dir", str(tmp_path / name), "--run-id", name, *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout, read_run(tmp_path / name)


def _stable(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in VOLATILE}


def _keyed(records: list[dict], *fields: str) -> dict[tuple, dict]:
    keyed: dict[tuple, dict] = {}
    for rec in records:
        key = tuple(str(rec.get(f)) for f in fields)
        assert key not in keyed, f"duplicate record {key}"
        keyed[key] = _stable(rec)
    return keyed


CELL = ("implementation", "device", "dtype")


def test_xdist_loadgroup_run_records_what_a_serial_run_records(tmp_path):
    _, serial = _suite(tmp_path, "serial", "-q")
    output, parallel = _suite(tmp_path, "parallel", "-n", "2", "--dist", "loadgroup", "-v")

    assert len(serial.checks) > 50 and len(serial.semantics) > 50  # the comparison is not vacuous
    assert _keyed(parallel.checks, *CELL, "property") == _keyed(serial.checks, *CELL, "property")
    assert _keyed(parallel.semantics, *CELL, "case") == _keyed(serial.semantics, *CELL, "case")
    assert _keyed(parallel.samples, *CELL) == _keyed(serial.samples, *CELL)
    assert _keyed(parallel.frameworks, "framework") == _keyed(serial.frameworks, "framework")
    assert [e["counts"] for e in parallel.ends] == [e["counts"] for e in serial.ends]
    assert parallel.envelope["seed"] == serial.envelope["seed"] == 0

    # --dist loadgroup: both workers worked, and each framework's checks stayed on one worker
    workers: dict[str, set[str]] = {}
    for worker, framework in re.findall(r"\[(gw\d+)\][^\n]*?::test_\w+\[(numpy|scipy)-", output):
        workers.setdefault(framework, set()).add(worker)
    assert set(workers) == {"numpy", "scipy"}, output[-2000:]
    assert all(len(w) == 1 for w in workers.values()), workers
    assert workers["numpy"] != workers["scipy"]
