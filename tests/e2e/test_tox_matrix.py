"""tox.ini (the version matrix), the GitHub job matrix made from it, and the env exit-status policy.

Nothing here creates a tox environment: tox.ini is read through ``tox l`` and ``tox config``
(about a second each), and the run wrapper's policy is exercised on results files written here.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from conformance import matrix, tox_run
from conformance.records import RunWriter

BASELINE = "py311-torch213-tf221-jax010"

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tox") is None, reason="tox is not installed")


def tox(*args: str, env: dict | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "tox", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def envs_of(label: str) -> list[str]:
    return tox("l", "--no-desc", *(["-m", label] if label != "default" else ["-d"])).split()


def config(envs: list[str], *keys: str, env: dict | None = None) -> dict[str, dict[str, str]]:
    """``{env: {key: value}}`` from ``tox config`` (multi-line values joined with newlines)."""
    text = tox("config", "-e", ",".join(envs), "-k", *keys, env=env)
    result: dict[str, dict[str, str]] = {}
    current, key = None, None
    for line in text.splitlines():
        if line.startswith("[testenv:"):
            current = line[len("[testenv:") : -1]
            result[current] = {}
        elif m := re.match(r"^(\w+) =(.*)$", line):
            key = m.group(1)
            result[current][key] = m.group(2).strip()
        elif line.startswith("  ") and current and key:
            result[current][key] = (result[current][key] + "\n" + line.strip()).strip()
    return result


@pytest.fixture(scope="module")
def suite_envs() -> dict[str, dict[str, str]]:
    names = sorted({*envs_of("default"), *envs_of("versions"), *envs_of("gpu")} - {"tests"})
    return config(names, "deps", "commands", "set_env", "base_python", "commands_pre")


def pins(deps: str) -> dict[str, str]:
    """``{distribution: version}`` of the ``name==version`` lines of a deps value."""
    found = {}
    for line in deps.splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)$", line.strip())
        if m:
            found[m.group(1)] = m.group(3)
    return found


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


# ---- the lists ---------------------------------------------------------------------------------


def test_default_list_is_ci_sized_and_cpu_only():
    default = envs_of("default")
    assert tox("-l").split() == default  # tox -l: the default list, the same
    assert default[0] == BASELINE and "tests" in default
    suite = [e for e in default if e != "tests"]
    assert 2 <= len(suite) <= 4  # newest, oldest supported, newest Python
    assert not any("gpu" in e.split("-") for e in default)
    assert {matrix.python_version(e) for e in suite} == {"3.11", "3.12", "3.13"}


def test_labels_cover_every_release_factor_and_gpu_is_apart():
    versions, gpu = envs_of("versions"), envs_of("gpu")
    factors = {f for e in versions for f in e.split("-")}
    assert {f"tf21{i}" for i in range(6, 10)} | {"tf220", "tf221"} <= factors
    assert {"jax0430", "jax04", "jax05", "jax06", "jax07", "jax08", "jax09", "jax010", "np1"} <= factors
    assert {"torch20", "torch27", "torch28", "torch213", "tf215", "jax0426"} <= factors
    assert {"keras34", "keras310", "keras315"} <= factors
    for framework, prefix in (("torch", "torch"), ("tf", "tf"), ("jax", "jax"), ("keras", "keras")):
        own = envs_of(f"versions-{framework}")  # a label per framework: its part of the sweep
        assert own and set(own) <= set(versions), framework
        assert all(any(f.startswith(prefix) for f in e.split("-")) for e in own), framework
    assert gpu and all("gpu" in e.split("-") for e in gpu) and not set(gpu) & set(versions)
    listed = tox("l", "--no-desc").split()  # no phantom envs made of bare factors ("np1", "jax04")
    assert all(matrix.python_version(e) or e in ("tests", "report", "candidate") for e in listed)


# ---- what each environment installs and runs ---------------------------------------------------------


def test_factor_pins_stay_in_the_supported_ranges(suite_envs):
    for env, cfg in suite_envs.items():
        factors = env.split("-")
        pinned = pins(cfg["deps"])
        tf = pinned.get("tensorflow-cpu") or pinned.get("tensorflow")
        if any(f.startswith("tf") for f in factors):
            assert tf and (2, 15) <= version_tuple(tf)[:2] <= (2, 21), env
            assert ("tensorflow" in pinned) == ("gpu" in factors), env  # CUDA build only on GPU envs
        else:
            assert tf is None, env
        if any(f.startswith("jax") for f in factors):
            assert (0, 4, 20) <= version_tuple(pinned["jax"]) < (0, 11), env
            extra = "cuda12" if "gpu" in factors else "cpu"
            assert f"jax[{extra}]==" in cfg["deps"], env
        torch = [f for f in factors if f.startswith("torch")]
        if torch:
            assert (2, 0) <= version_tuple(pinned["torch"])[:2] <= (2, 13), env
            assert matrix.python_version(env) == "3.11", env
            # PyTorch 2.0 was built against NumPy 1; PyPI's other torch builds come from the CPU index
            # only where TORCH_INDEX_URL names it (uv's extra index), else PyPI's CUDA build.
            assert (version_tuple(pinned["torch"])[:2] < (2, 3)) <= ("np1" in factors), env
            if torch != ["torch213"]:
                assert "UV_EXTRA_INDEX_URL=" in cfg["set_env"], env
        else:
            assert "torch" not in pinned, env
        if any(f.startswith("keras") for f in factors):
            assert (3, 0) <= version_tuple(pinned["keras"])[:2] and "jax" in pinned, env  # judged on JAX
        assert ("numpy>=1.26,<2" in cfg["deps"]) == ("np1" in factors), env


def test_each_factor_names_its_release_once():
    """The factor -> release table of tox.ini: one release per factor, distinct, newest last."""
    text = (ROOT / "tox.ini").read_text()
    tf = dict(re.findall(r"^\s*(tf\d+)-!gpu: tensorflow-cpu==(\S+)$", text, re.M))
    jax = dict(re.findall(r"^\s*(jax\d+)(?:-!gpu)?: jax\[cpu\]==(\S+)$", text, re.M))
    assert list(tf) == [f"tf2{n}" for n in range(15, 22)]
    assert [tf[f"tf2{n}"][:4] for n in range(15, 22)] == [f"2.{n}" for n in range(15, 22)]
    assert jax["jax0426"] == "0.4.26" and jax["jax0430"] == "0.4.30" and jax["jax010"].startswith("0.10.")
    ordered = [version_tuple(v) for v in jax.values()]
    assert ordered == sorted(ordered) and len(set(ordered)) == len(ordered)


def test_readme_documents_every_factor():
    text = (ROOT / "tox.ini").read_text()
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Validating a new framework release (tox matrix)", 1)[1].split("\n## ", 1)[0]
    pinned = r"^\s*(\w+?)(?:-!gpu)?: (?:tensorflow-cpu|jax\[cpu\]|torch)==(\S+)$"
    for factor, version in re.findall(pinned, text, re.M):
        assert f"`{factor}`" in section and version in section, factor
    assert "`np1`" in section


def test_every_suite_env_runs_the_quick_profile_into_its_own_run_directory(suite_envs):
    runs = (ROOT / "reports" / "runs").as_posix()
    for env, cfg in suite_envs.items():
        cmd = cfg["commands"]
        assert cmd.startswith("python -m conformance.tox_run --profile quick --seed 0"), env
        assert f"--run-id {env} " in cmd and f"--results-dir {runs} " in cmd, env
        devices = "cpu,cuda:0" if "gpu" in env.split("-") else "cpu"
        assert f"--device {devices}" in cmd, env
        assert cfg["commands_pre"] == "python -m pip check", env


def test_candidate_env_installs_the_requirement_and_compares_with_the_baseline():
    import os

    env = dict(os.environ, CANDIDATE="jax==0.10.1")
    env.pop("BASELINE", None)
    cfg = config(["candidate"], "deps", "commands", "commands_pre", env=env)["candidate"]
    assert cfg["deps"] == "jax==0.10.1"
    run, compare = cfg["commands"].splitlines()
    assert "--run-id candidate " in run and run.startswith("python -m conformance.tox_run")
    runs = (ROOT / "reports" / "runs").as_posix()
    assert compare.startswith(f"python -m conformance compare {runs}/{BASELINE} {runs}/candidate")
    assert "CANDIDATE" in cfg["commands_pre"] and f"{runs}/{BASELINE}" in cfg["commands_pre"]
    assert BASELINE in envs_of("default")
    other = config(["candidate"], "commands", env=dict(env, BASELINE="py311-tf218"))["candidate"]
    assert f"compare {runs}/py311-tf218 " in other["commands"]


def test_candidate_env_refuses_to_start_without_a_candidate_or_a_baseline(tmp_path):
    import os

    cfg = config(["candidate"], "commands_pre")["candidate"]
    check_candidate, check_baseline = (line for line in cfg["commands_pre"].splitlines() if "bash" in line)
    import shlex

    for line, env, message in (
        (check_candidate, {"CANDIDATE": ""}, "set CANDIDATE"),
        (check_baseline.rsplit(" ", 1)[0] + f" {tmp_path / 'missing'}", {}, "no baseline run"),
    ):
        proc = subprocess.run(shlex.split(line), capture_output=True, text=True, env={**os.environ, **env})
        assert proc.returncode == 2 and message in proc.stderr


# ---- the GitHub job matrix -----------------------------------------------------------------------


def test_matrix_parses_tox_config_output_and_keeps_suite_envs():
    text = "[testenv:py311-tf216]\nbase_python = py311\n\n[testenv:tests]\nbase_python = python3.11\n"
    text += "[testenv:py3.12-jax06]\nbase_python = py3.12\n[testenv:py311-gpu-jax010]\nbase_python = py311\n"
    envs = matrix.parse_tox_config(text)
    assert list(envs) == ["py311-tf216", "tests", "py3.12-jax06", "py311-gpu-jax010"]
    entries = matrix.build_matrix(envs)
    assert [(e.env, e.python, e.gpu) for e in entries] == [
        ("py311-tf216", "3.11", False),
        ("py3.12-jax06", "3.12", False),
        ("py311-gpu-jax010", "3.11", True),
    ]
    assert [e.env for e in matrix.build_matrix(envs, "gpu")] == ["py311-gpu-jax010"]
    assert [e.env for e in matrix.build_matrix(envs, "cpu")] == ["py311-tf216", "py3.12-jax06"]
    with pytest.raises(ValueError, match="unknown kind"):
        matrix.build_matrix(envs, "tpu")


def test_matrix_command_on_the_real_tox_ini(capsys):
    assert matrix.main(["--label", "versions", "--kind", "cpu", "--tox-ini", str(ROOT / "tox.ini")]) == 0
    versions = json.loads(capsys.readouterr().out)["include"]
    assert [e["env"] for e in versions] == envs_of("versions")
    assert all(e["python"] in ("3.11", "3.12", "3.13") and e["gpu"] is False for e in versions)
    assert matrix.main(["--label", "gpu", "--kind", "gpu", "--tox-ini", str(ROOT / "tox.ini")]) == 0
    gpu = json.loads(capsys.readouterr().out)["include"]
    assert [e["env"] for e in gpu] == envs_of("gpu") and all(e["gpu"] for e in gpu)
    assert matrix.main(["--label", "gpu", "--kind", "cpu", "--tox-ini", str(ROOT / "tox.ini")]) == 2
    assert "no cpu suite environments under label 'gpu'" in capsys.readouterr().err
    assert matrix.main(["--label", "nosuchlabel", "--tox-ini", str(ROOT / "tox.ini")]) == 2


# ---- the env's exit status (conformance/tox_run.py) ----------------------------------------------


def _run_dir(tmp_path: Path, *frameworks: dict) -> Path:
    run_dir = tmp_path / "runs" / f"py311-x{len(list(tmp_path.glob('runs/*')))}"
    writer = RunWriter(run_dir / "results.jsonl")
    writer.write({"type": "envelope", "schema_version": 1, "run_id": "py311-x"})
    for rec in frameworks:
        writer.write({"type": "framework", **rec})
    writer.close()
    return run_dir


OK_TORCH = {"framework": "torch", "status": "ok", "devices": ["cpu"]}
OK_TORCH_GPU = {"framework": "torch", "status": "ok", "devices": ["cpu", "cuda:0"]}
NOT_INSTALLED = {"framework": "jax", "status": "not installed", "message": "jax is not installed"}


def test_exit_status_policy():
    assert tox_run.env_status(0, []) == 0
    assert tox_run.env_status(1, []) == 0  # unexpected discrepancies: the finding, not a failure
    assert tox_run.env_status(1, ["tensorflow: import failed"]) == tox_run.EXIT_BROKEN
    assert tox_run.env_status(0, ["torch: did not finish (killed by signal 9)"]) == tox_run.EXIT_BROKEN
    assert tox_run.env_status(2, []) == 2  # usage error
    assert tox_run.env_status(-9, []) == 137  # killed
    assert tox_run.env_status(4, []) == 4


def test_broken_frameworks_reads_the_run(tmp_path):
    fine = _run_dir(tmp_path, OK_TORCH, NOT_INSTALLED)
    assert tox_run.broken_frameworks(fine) == []  # a framework the env does not install is fine
    died = _run_dir(
        tmp_path, OK_TORCH, {"framework": "tensorflow", "status": "did not finish", "message": "timed out"}
    )
    assert tox_run.broken_frameworks(died) == ["tensorflow: did not finish (timed out)"]
    failed = _run_dir(tmp_path, {"framework": "tensorflow", "status": "import failed"})
    assert tox_run.broken_frameworks(failed) == ["tensorflow: import failed"]
    assert tox_run.broken_frameworks(tmp_path / "nothing")[0].startswith("results file unreadable")


def test_a_gpu_env_whose_gpu_nobody_sees_is_broken(tmp_path):
    args = ["--run-id", "x", "--device", "cpu,cuda:0"]
    assert tox_run.gpus_asked(args) == ["cuda:0"] and tox_run.gpus_asked(["--run-id", "x"]) == []
    assert tox_run.broken_frameworks(_run_dir(tmp_path, OK_TORCH_GPU), ["cuda:0"]) == []
    assert tox_run.broken_frameworks(_run_dir(tmp_path, OK_TORCH), ["cuda:0"]) == [
        "cuda:0: asked for, but no framework of the run sees it"
    ]


@pytest.mark.parametrize(
    ("suite_status", "frameworks", "expected"),
    [(0, [OK_TORCH], 0), (1, [OK_TORCH], 0), (1, [{"framework": "jax", "status": "import failed"}], 3)],
)
def test_main_maps_the_suite_status(tmp_path, monkeypatch, capsys, suite_status, frameworks, expected):
    run_dir = _run_dir(tmp_path, *frameworks)
    calls = []

    def fake_call(cmd):
        calls.append(cmd)
        return suite_status

    monkeypatch.setattr(tox_run.subprocess, "call", fake_call)
    args = ["--framework", "torch", "--profile", "quick", "--run-id", run_dir.name]
    args += ["--results-dir", str(run_dir.parent)]
    assert tox_run.main(args) == expected
    cache = ["--compile-cache", str(run_dir.parent / ".compile-cache" / run_dir.name)]
    assert calls == [[sys.executable, "-m", "conformance", "run", *args, *cache]]


def test_the_run_covers_the_installed_frameworks_unless_told_otherwise():
    args = tox_run.with_installed_frameworks(["--profile", "quick"])
    assert args[0] == "--framework" and args[2:] == ["--profile", "quick"]
    assert "numpy" in args[1].split(",")  # always installed: the oracle needs it
    assert tox_run.with_installed_frameworks(["--framework=jax"]) == ["--framework=jax"]


def test_main_passes_a_real_usage_error_through(tmp_path):
    args = ["--profile", "nope", "--run-id", "bad", "--results-dir", str(tmp_path)]
    assert tox_run.main(args) == 2
    assert tox_run.main(["--profile", "quick"]) == 2  # no --run-id: refused before running anything


def test_each_environment_gets_its_own_compile_cache():
    args = ["--profile", "quick", "--run-id", "py311-x", "--results-dir", "out/runs"]
    assert tox_run.with_own_compile_cache(args)[-2:] == [
        "--compile-cache",
        str(Path("out/runs") / ".compile-cache" / "py311-x"),
    ]
    chosen = [*args, "--no-compile-cache"]
    assert tox_run.with_own_compile_cache(chosen) == chosen
    chosen = [*args, "--compile-cache=/c"]
    assert tox_run.with_own_compile_cache(chosen) == chosen


def test_environments_are_built_by_uv_and_pip_check_still_runs():
    text = (ROOT / "tox.ini").read_text()
    requires = text.split("requires =", 1)[1].split("env_list", 1)[0]
    assert "tox-uv" in requires  # tox-uv: uv builds every environment (from its cache: seconds)
    assert re.search(r"^uv_seed = true$", text, re.M)  # pip in the env, for commands_pre's pip check
    cfg = config([BASELINE], "set_env")[BASELINE]
    assert "UV_FIND_LINKS=" in cfg["set_env"]  # pip's find-links (the local CPU torch wheel) for uv too
