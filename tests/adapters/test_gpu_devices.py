"""The GPU code paths, driven without a GPU: a fake implementation whose "cuda:0" path differs.

What is faked, and why that is honest: the suite never talks to a GPU itself; it calls an
implementation with a device name and judges the arrays that come back. A fake whose
``call(x, axis, "cuda:0")`` returns slightly different, or non-deterministic, results therefore
drives the same code a real GPU would: device selection and skipping, the paired calls of a
GPU cell (repeat and CPU), the two GPU properties and their records. The real frameworks are
used where no GPU is needed: torch without a GPU must skip its cuda cells with the reason.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT

from conformance.adapters.base import Implementation
from conformance.environment import nvidia_driver_version
from conformance.evaluation import Cell, CellEvaluation
from conformance.profiles import get_profile
from conformance.properties import oracle_for
from conformance.property_registry import DEVICE_PROPERTIES
from reference.rounding import round_to_dtype


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """The oracle's correctly rounded softmax: a perfect CPU implementation."""
    return oracle_for("softmax", x, axis, x.dtype).rounded


def _fake(gpu_effect) -> Implementation:
    """A softmax whose "cpu" path is exact and whose other devices apply ``gpu_effect(y)``."""

    def call(x: np.ndarray, axis: int, device: str) -> np.ndarray:
        y = _softmax(x, axis)
        return y if device == "cpu" else gpu_effect(y)

    return Implementation("fakegpu", "softmax", "softmax", "eager", call, "y = x", dtypes=("float32",))


def _one_ulp_up(y: np.ndarray) -> np.ndarray:
    return np.nextafter(y, np.asarray(np.inf, y.dtype)).astype(y.dtype)


def _far_off(y: np.ndarray) -> np.ndarray:
    return round_to_dtype(y.astype(np.float64) * (1 + 1e-3), y.dtype)


def _noisy() -> object:
    rng = np.random.default_rng(0)

    def effect(y: np.ndarray) -> np.ndarray:
        flip = rng.random(y.shape) < 0.5  # a different subset one ULP up on every call
        return np.where(flip, _one_ulp_up(y), y).astype(y.dtype)

    return effect


def _evaluate(impl: Implementation, device: str) -> CellEvaluation:
    return CellEvaluation(Cell(impl, device, "float32"), get_profile("quick"), 0).run()


# ---- the properties themselves (pure functions) -------------------------------------------------


@pytest.fixture
def batch():
    x = np.random.default_rng(1).normal(size=(5, 16)).astype(np.float32)
    return x, oracle_for("softmax", x, -1, np.float32)


def test_device_consistency_allows_the_error_model_and_flags_more(batch):
    x, oracle = batch
    judge = DEVICE_PROPERTIES["device_consistency"].judge
    ok = judge(x, _one_ulp_up(oracle.rounded), oracle.rounded, oracle, "softmax", np.float32, -1)
    assert ok.passed.all() and ok.metric.max() == 1.0 and (ok.bound >= 2).all()
    bad = judge(x, _far_off(oracle.rounded), oracle.rounded, oracle, "softmax", np.float32, -1)
    assert not bad.passed.any() and (bad.metric > bad.bound).all()
    nan_row = oracle.rounded.copy()
    nan_row[2, 3] = np.nan
    one_nan = judge(x, nan_row, oracle.rounded, oracle, "softmax", np.float32, -1)
    assert one_nan.passed.tolist() == [True, True, False, True, True] and one_nan.metric[2] == np.inf
    both_nan = judge(x, nan_row, nan_row.copy(), oracle, "softmax", np.float32, -1)
    assert both_nan.passed.all()


def test_repeatability_is_bitwise(batch):
    x, oracle = batch
    judge = DEVICE_PROPERTIES["repeatability"].judge
    y = oracle.rounded
    assert judge(x, y, y.copy(), oracle, "softmax", np.float32, -1).metric.tolist() == [0] * 5
    changed = y.copy()
    changed[4, :3] = _one_ulp_up(changed[4, :3])
    result = judge(x, y, changed, oracle, "softmax", np.float32, -1)
    assert result.metric.tolist() == [0, 0, 0, 0, 3] and result.passed.tolist() == [True] * 4 + [False]
    signed = y.copy()
    signed[0, 0], y2 = 0.0, y.copy()
    y2[0, 0] = -0.0  # equal as numbers, different bits: not bitwise repeatable
    assert judge(x, signed, y2, oracle, "softmax", np.float32, -1).metric[0] == 1
    payload = np.array([np.nan], np.float32).view(np.uint32) | np.uint32(1)
    nan_a, nan_b = y.copy(), y.copy()
    nan_a[1, 1], nan_b[1, 1] = np.nan, payload.view(np.float32)[0]
    assert judge(x, nan_a, nan_b, oracle, "softmax", np.float32, -1).metric[1] == 0  # NaN == NaN


# ---- a GPU cell's evaluation: paired calls, outcomes, descriptions ------------------------------


def test_gpu_cell_close_to_cpu_and_deterministic_passes_both():
    evaluation = _evaluate(_fake(_one_ulp_up), "cuda:0")
    assert evaluation.paired
    consistency = evaluation.outcome("device_consistency")
    assert consistency.verdict == "pass" and consistency.metric == 1.0 and consistency.n_cases > 100
    repeat = evaluation.outcome("repeatability")
    assert repeat.verdict == "pass" and repeat.metric == 0.0 and repeat.n_cases >= consistency.n_cases


def test_gpu_cell_far_from_cpu_fails_consistency_with_a_repro():
    evaluation = _evaluate(_fake(_far_off), "cuda:0")
    out = evaluation.outcome("device_consistency")
    assert out.verdict == "fail" and out.n_failed > 0 and out.metric > out.bound
    assert "CPU" in out.message and out.worst is not None and "'expected' is the CPU" in out.worst["where"]
    assert "device = 'cuda:0'" in out.repro and "device = 'cpu'" in out.repro
    assert evaluation.outcome("repeatability").verdict == "pass"  # deterministic, only off
    assert evaluation.outcome("precision").verdict == "fail"  # and off the oracle too


def test_gpu_cell_with_nondeterministic_output_fails_repeatability():
    evaluation = _evaluate(_fake(_noisy()), "cuda:0")
    out = evaluation.outcome("repeatability")
    assert out.verdict == "fail" and out.metric >= 1 and "second, identical call" in out.message
    assert evaluation.outcome("device_consistency").verdict == "pass"  # 1 ULP apart: within the model


def test_cpu_cell_repeats_only_the_corpus_batches_and_skips_cpu_consistency():
    calls: list[str] = []
    impl = _fake(_far_off)
    counting = Implementation(
        "fakegpu", "softmax", "softmax", "eager", lambda x, a, d: calls.append(d) or impl.call(x, a, d), "y"
    )
    evaluation = _evaluate(counting, "cpu")
    assert not evaluation.paired and set(calls) == {"cpu"}
    assert all(o.y_cpu is None for o in evaluation.observations)
    repeated = [o for o in evaluation.observations if o.y_repeat is not None]
    assert repeated and all(o.case.is_row_case for o in repeated)  # the stacked corpus calls only
    assert not any(o.role == "hypothesis" and o.y_repeat is not None for o in evaluation.observations)
    assert len(calls) > evaluation.calls  # the repeats are extra calls
    out = evaluation.outcome("device_consistency")
    assert out.verdict == "skipped" and "non-CPU" in out.message
    assert evaluation.outcome("repeatability").verdict == "pass"


# ---- the plugin: device selection, skipping with a reason, records -------------------------------

FAKE_ADAPTER = """
import numpy as np
from conformance.adapters import all_adapters
from conformance.adapters.base import FrameworkAdapter, Implementation
from conformance.properties import oracle_for


def call(x, axis, device):
    y = oracle_for("softmax", x, axis, x.dtype).rounded
    if device == "cpu":
        return y
    # the "GPU": off by one unit in the last place of 1 (towards 0), well within the error model
    return np.where(y > 0.5, np.nextafter(y, np.asarray(0, y.dtype)), y).astype(y.dtype)


class FakeGpu(FrameworkAdapter):
    name = module = "fakegpu"

    def available(self):
        return True

    def installed(self):
        return True

    def version(self):
        return "1.0"

    def devices(self):
        return ["cpu", "cuda:0"]

    def device_details(self):
        return {"gpus": ["Fake GPU"], "matmul_allow_tf32": True, "driver": "999.1"}

    def implementations(self):
        return [Implementation("fakegpu", "softmax", "softmax", "eager", call, "y = x", dtypes=("float32",))]


ADAPTERS = {"fakegpu": FakeGpu(), "numpy": all_adapters()["numpy"]}
"""

RUNNER = """
import sys
sys.path.insert(0, {here!r})
import pytest
import conformance.plugin as plugin
from fake_adapter import ADAPTERS
plugin.all_adapters = lambda: ADAPTERS
sys.exit(pytest.main(sys.argv[1:]))
"""


def _run_fake_suite(tmp_path: Path, *args: str) -> tuple[int, list[dict]]:
    (tmp_path / "fake_adapter.py").write_text(FAKE_ADAPTER)
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER.format(here=str(tmp_path)))
    run_dir = tmp_path / "run"
    cmd = [sys.executable, str(runner), "-p", "conformance.plugin", "--pyargs", "conformance.suite"]
    cmd += ["-p", "no:cacheprovider", "-q", "--profile", "quick", "--hypothesis-seed=0"]
    cmd += ["--run-dir", str(run_dir), "--run-id", "fake", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    records = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    return proc.returncode, records


def test_plugin_selects_devices_skips_unseen_ones_with_the_reason_and_records_gpu_checks(tmp_path):
    code, records = _run_fake_suite(
        tmp_path, "--framework", "fakegpu,numpy", "--api", "softmax,exp-shift", "--dtype", "float32",
        "--device", "cpu,cuda:0,cuda:1",
    )  # fmt: skip
    assert code == 0, records[-1]
    checks = {(r["framework"], r["device"], r["property"]): r for r in records if r["type"] == "check"}
    # the GPU properties: judged on the GPU cell, not created for CPU cells
    assert checks["fakegpu", "cuda:0", "device_consistency"]["verdict"] == "pass"
    assert checks["fakegpu", "cuda:0", "device_consistency"]["metric"] == 1.0
    assert checks["fakegpu", "cuda:0", "device_consistency"]["unit"] == "ULP"
    assert checks["fakegpu", "cuda:0", "repeatability"]["verdict"] == "pass"
    assert not any(dev == "cpu" and prop == "device_consistency" for _, dev, prop in checks)
    # a device the framework does not see: every check recorded as skipped, with the reason
    unseen = [r for (fw, dev, _), r in checks.items() if fw == "fakegpu" and dev == "cuda:1"]
    assert {r["property"] for r in unseen} >= {"precision", "device_consistency", "repeatability"}
    assert {(r["verdict"], r["message"]) for r in unseen} == {
        ("skipped", "cuda:1 not visible to fakegpu (it sees cuda:0)")
    }
    numpy_gpu = [r for (fw, dev, _), r in checks.items() if fw == "numpy" and dev != "cpu"]
    assert numpy_gpu and {r["message"] for r in numpy_gpu} == {"no CUDA device visible to numpy"}
    assert {r["verdict"] for r in numpy_gpu} == {"skipped"}
    # the device details, as the framework reports them
    fake = next(r for r in records if r["type"] == "framework" and r["framework"] == "fakegpu")
    assert fake["devices"] == ["cpu", "cuda:0"] and fake["details"]["matmul_allow_tf32"] is True


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_torch_without_a_gpu_records_cuda_cells_as_skipped_and_the_report_shows_them(tmp_path):
    from conformance.records import read_run
    from conformance.report.model import build_model

    cmd = [sys.executable, "-m", "conformance", "run", "--framework", "torch", "--api", "F.softmax"]
    cmd += ["--dtype", "float32", "--device", "cuda:0", "--profile", "quick", "--seed", "0"]
    cmd += ["--results-dir", str(tmp_path), "--run-id", "nogpu", "--no-report", "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = read_run(tmp_path / "nogpu")
    torch_record = next(r for r in run.frameworks if r["framework"] == "torch")
    if torch_record["devices"] != ["cpu"]:
        pytest.skip("this machine has a GPU visible to torch")
    assert {"float32_matmul_precision", "matmul_allow_tf32", "cudnn_allow_tf32", "driver"} <= set(
        torch_record["details"]
    )
    assert run.checks and {(r["verdict"], r["message"]) for r in run.checks} == {
        ("skipped", "no CUDA device visible to torch")
    }
    assert {"device_consistency", "repeatability", "precision"} <= {r["property"] for r in run.checks}
    model = build_model(run)
    chips = [chip for row in model.matrix for chips in row.cells.values() for chip in chips]
    reason = "no CUDA device visible to torch"
    assert chips and all(c.verdict == "skipped" and reason in c.title for c in chips)


def test_nvidia_driver_version_from_proc_file(tmp_path, monkeypatch):
    proc = tmp_path / "version"
    proc.write_text(
        textwrap.dedent(
            """\
            NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024
            GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)
            """
        )
    )
    assert nvidia_driver_version(proc) == "550.54.15"
    open_kernel = tmp_path / "open"
    open_kernel.write_text("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  560.35.03  Release\n")
    assert nvidia_driver_version(open_kernel) == "560.35.03"
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi either
    assert nvidia_driver_version(tmp_path / "absent") is None
