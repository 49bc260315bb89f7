"""The GitHub Actions workflow: valid against the workflow schema, and wired to the tox matrix.

``check-jsonschema --builtin-schema vendor.github-workflows`` validates offline (the schema is
vendored in the package); the structural tests read the YAML (ruamel.yaml, which
check-jsonschema brings) and check the contract of ``.github/workflows/conformance.yml``: the job
matrix comes from ``python -m conformance.matrix``, CPU jobs run on hosted runners and GPU jobs on
``[self-hosted, gpu]``, every job uploads its run, and a last job merges them with ``tox -e report``
and posts the Markdown summary.
"""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "conformance.yml"

needs_checker = pytest.mark.skipif(
    importlib.util.find_spec("check_jsonschema") is None, reason="check-jsonschema is not installed"
)


def validate(path: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def workflow() -> dict:
    yaml = pytest.importorskip("ruamel.yaml")
    return yaml.YAML(typ="safe").load(WORKFLOW.read_text())


def steps_text(job: dict) -> str:
    return "\n".join(str(step.get("run", "")) + str(step.get("uses", "")) for step in job["steps"])


@needs_checker
def test_workflow_is_valid_against_the_github_schema():
    proc = validate(WORKFLOW)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_checker
def test_the_schema_check_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest", 1))
    assert validate(broken).returncode != 0


def test_job_matrix_is_generated_from_tox(workflow):
    jobs = workflow["jobs"]
    generate = steps_text(jobs["matrix"])
    assert 'python -m conformance.matrix --label "$LABEL" --kind cpu' in generate
    assert "python -m conformance.matrix --label gpu --kind gpu" in generate
    assert jobs["cpu"]["strategy"]["matrix"] == "${{ fromJSON(needs.matrix.outputs.cpu) }}"
    assert jobs["gpu"]["strategy"]["matrix"] == "${{ fromJSON(needs.matrix.outputs.gpu) }}"
    for name in ("cpu", "gpu"):
        assert jobs[name]["needs"] == "matrix" and jobs[name]["strategy"]["fail-fast"] is False
        assert 'tox -e "$TOX_ENV"' in steps_text(jobs[name])
        assert jobs[name]["env"]["TOX_ENV"] == "${{ matrix.env }}"
        setup = next(s for s in jobs[name]["steps"] if "setup-python" in s.get("uses", ""))
        assert setup["with"]["python-version"] == "${{ matrix.python }}"


def test_cpu_jobs_on_hosted_runners_gpu_jobs_on_the_self_hosted_gpu_label(workflow):
    jobs = workflow["jobs"]
    assert jobs["cpu"]["runs-on"] == "ubuntu-latest"
    assert jobs["gpu"]["runs-on"] == ["self-hosted", "gpu"]
    assert "inputs.gpu" in jobs["gpu"]["if"]  # opt-in: a repository without a GPU runner never waits
    # CPU jobs get the CPU-only torch wheel; GPU jobs the CUDA builds
    assert "whl/cpu" in jobs["cpu"]["env"]["PIP_EXTRA_INDEX_URL"]
    assert "PIP_EXTRA_INDEX_URL" not in jobs["gpu"].get("env", {})


def test_every_suite_job_uploads_its_run_and_the_report_job_merges_them(workflow):
    jobs = workflow["jobs"]
    for name in ("cpu", "gpu"):
        upload = next(s for s in jobs[name]["steps"] if "upload-artifact" in s.get("uses", ""))
        assert upload["with"]["name"] == "run-${{ matrix.env }}"
        assert upload["with"]["path"] == "reports/runs/${{ matrix.env }}/"
        assert upload["if"] == "${{ !cancelled() }}"  # a run with findings is uploaded too
    report = jobs["report"]
    assert report["needs"] == ["cpu", "gpu"] and "!cancelled()" in report["if"]
    download = next(s for s in report["steps"] if "download-artifact" in s.get("uses", ""))
    assert download["with"] == {"pattern": "run-*", "path": "reports/runs"}
    text = steps_text(report)
    assert "tox -e report" in text
    assert 'reports/matrix/summary.md >> "$GITHUB_STEP_SUMMARY"' in text


def test_tox_envs_named_in_the_workflow_exist(workflow):
    if importlib.util.find_spec("tox") is None:
        pytest.skip("tox is not installed")
    proc = subprocess.run(
        [sys.executable, "-m", "tox", "l", "--no-desc"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    envs = set(proc.stdout.split())
    named = set()
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            for line in str(step.get("run", "")).splitlines():
                if line.startswith("tox -e ") and "$" not in line:
                    named.add(shlex.split(line)[2])
    assert named == {"tests", "report"} and named <= envs
