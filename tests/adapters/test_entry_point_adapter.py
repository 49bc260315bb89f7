"""Third-party adapters through the entry-point group ``softmax_conformance.adapters``.

The example package ``tests/example_adapter`` (its own ``pyproject.toml``) is installed for
real, with pip (``--no-deps --no-build-isolation --no-index --target DIR``: the setuptools that
is already installed builds it, no network), from a copy so that the build leaves nothing in
the source tree. The CLI then runs in a subprocess with ``DIR`` on ``PYTHONPATH``, where
``importlib.metadata`` finds the package's ``entry_points.txt`` like any installed one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from conformance.adapters import ENTRY_POINT_GROUP

pytest.importorskip("setuptools")

EXAMPLE = ROOT / "tests" / "example_adapter"
DTYPES = {"float16", "bfloat16", "float32", "float64"}


def _pip_install(src: Path, target: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    out = subprocess.run(
        [*cmd, "--target", str(target), str(src)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout + out.stderr


def _env(site: Path) -> dict[str, str]:
    path = [str(site), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    # COLUMNS: rich would cut the `list` table to 80 columns.
    return dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(path),
        TF_CPP_MIN_LOG_LEVEL="2",
        COLUMNS="200",
        XDG_CACHE_HOME=str(site.parent / "cache"),  # list's cache: beside the test's site, not in ~
    )


def _cli(site: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance", *args],
        cwd=ROOT,
        env=_env(site),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package, installed with pip into a directory of its own."""
    base = tmp_path_factory.mktemp("example_adapter")
    src = base / "src"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    _pip_install(src, base / "site")
    return base / "site"


def test_example_package_declares_the_entry_point(example_site: Path) -> None:
    (dist_info,) = example_site.glob("softmax_conformance_example_adapter-*.dist-info")
    entry_points = (dist_info / "entry_points.txt").read_text()
    assert f"[{ENTRY_POINT_GROUP}]" in entry_points
    assert "example-numpy = example_numpy_adapter:ADAPTER" in entry_points
    assert not (EXAMPLE / "build").exists()  # the build ran on a copy


def test_entry_point_adapter_is_discovered_and_judged(example_site: Path, tmp_path: Path) -> None:
    listed = _cli(example_site, "list", "--framework", "example-numpy", timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "example-numpy" in listed.stdout and "float64-softmax" in listed.stdout

    runs = tmp_path / "runs"
    out = _cli(
        example_site,
        "run",
        "--framework",
        "example-numpy",
        "--profile",
        "quick",
        "--seed",
        "0",
        "--run-id",
        "ep",
        "--results-dir",
        str(runs),
        "--no-progress",
        "--no-report",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "frameworks: example-numpy" in out.stdout
    records = [json.loads(line) for line in (runs / "ep" / "results.jsonl").read_text().splitlines()]
    (framework,) = [r for r in records if r.get("type") == "framework"]
    assert framework["framework"] == "example-numpy" and framework["status"] == "ok"
    assert framework["version"] == "0.1.0"  # the example distribution's own version
    checks = [r for r in records if r.get("type") == "check"]
    assert checks and {r["framework"] for r in checks} == {"example-numpy"}
    assert {r["api"] for r in checks} == {"float64-softmax", "float64-log_softmax"}
    # gradual_underflow applies only where some input has a subnormal output outside the allowance
    # (none in bfloat16's quick inputs): skipped there, never anything but a pass elsewhere
    unjudged = {(r["dtype"], r["property"]) for r in checks if r["verdict"] == "skipped"}
    assert unjudged <= {("bfloat16", "gradual_underflow")}, unjudged
    assert {r["verdict"] for r in checks} <= {"pass", "skipped"}, sorted(
        (r["api"], r["dtype"], r["property"], r["verdict"]) for r in checks if r["verdict"] != "pass"
    )
    judged = {(r["api"], r["dtype"]) for r in checks if r["property"] == "precision"}
    assert judged == {(api, dtype) for api in ("float64-softmax", "float64-log_softmax") for dtype in DTYPES}


BROKEN = {
    "wrong-type": ('ADAPTER = {"name": "not an adapter"}\n', "is a dict, not a FrameworkAdapter instance"),
    "import-error": ('raise ImportError("needs libfoo")\n', "failed to load: ImportError: needs libfoo"),
}


@pytest.mark.parametrize("kind", list(BROKEN))
def test_broken_entry_point_is_one_line_and_exit_2(kind: str, tmp_path: Path) -> None:
    source, message = BROKEN[kind]
    src = tmp_path / "src"
    src.mkdir()
    (src / "broken_adapter.py").write_text(source)
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "broken-adapter"\nversion = "0.0.1"\n'
        f'[project.entry-points."{ENTRY_POINT_GROUP}"]\nbroken = "broken_adapter:ADAPTER"\n'
        '[tool.setuptools]\npy-modules = ["broken_adapter"]\n'
    )
    site = tmp_path / "site"
    _pip_install(src, site)
    runs = tmp_path / "runs"
    for args in (
        ["run", "--framework", "numpy", "--profile", "quick", "--run-id", "x", "--results-dir", str(runs)],
        ["list"],
    ):
        out = _cli(site, *args, timeout=120)
        assert out.returncode == 2, out.stdout + out.stderr
        assert "Traceback" not in out.stderr and out.stdout == ""
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, out.stderr
        assert lines[0].startswith(
            "softmax-conformance: error: entry point 'broken' = 'broken_adapter:ADAPTER' "
            f"in group '{ENTRY_POINT_GROUP}' (distribution broken-adapter)"
        ), lines[0]
        assert message in lines[0]
    assert not runs.exists()  # nothing written
