"""``python -m conformance bisect``: the search, its verdict mapping and its errors, without network.

The installer and the runner are fakes (``conformance.bisect.Installer`` / ``CheckRunner``): each
release's outcome is a table here, and the tests count which releases were installed. The real
installer (uv) and runner were run by hand on a regression: README.md, "Finding the first bad
release".
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conformance import bisect as bs
from conformance.errors import ConformanceError

CHECK = "test_grad_precision[torch-F.softmax-eager-cpu-float32]"
RELEASES = ["2.0.0", "2.0.1", "2.1.0", "2.1.2", "2.2.0rc1", "2.2.2", "2.3.1", "2.4.0", "2.5.1", "2.6.0"]


class FakeInstaller:
    def __init__(self, broken: tuple[str, ...] = ()) -> None:
        self.installed: list[str] = []
        self.broken = broken

    def versions(self, framework: str) -> list[str]:
        return list(reversed(RELEASES))  # pip index lists newest first

    def python(self, framework: str, version: str) -> Path:
        if version in self.broken:
            raise ConformanceError(f"installing torch=={version} failed: no matching distribution")
        self.installed.append(version)
        return Path(f"/envs/{version}/bin/python")


class FakeRunner:
    """The check's verdict per release: ``pass`` before ``first_bad``, ``fail`` from it on."""

    def __init__(self, first_bad: str, overrides: dict[str, str] | None = None) -> None:
        self.first_bad = first_bad
        self.overrides = overrides or {}

    def run(self, python: Path, framework: str, check: bs.CheckId | None) -> list[dict]:
        version = python.parts[2]
        verdict = self.overrides.get(version) or (
            "fail" if bs.Version(version) >= bs.Version(self.first_bad) else "pass"
        )
        assert check is not None
        return [
            {
                "type": "check",
                "framework": framework,
                "api": check.api,
                "mode": check.mode,
                "device": check.device,
                "dtype": check.dtype,
                "property": check.property,
                "verdict": verdict,
                "message": f"{verdict} on {version}",
                "repro": f"import torch  # {version}\n",
            },
            {"type": "check", "framework": framework, "api": "other", "verdict": "fail"},
        ]


def _bisect(first_bad: str, installer: FakeInstaller | None = None, **kw: object) -> tuple:
    installer = installer or FakeInstaller()
    check = bs.CheckId.parse(CHECK, "torch")
    result = bs.bisect(
        installer, FakeRunner(first_bad, **kw), "torch", "2.0.0", "2.6.0", check, log=lambda s: None
    )
    return result, installer


@pytest.mark.parametrize("first_bad", ["2.0.1", "2.1.0", "2.2.2", "2.4.0", "2.5.1", "2.6.0"])
def test_finds_the_first_bad_release_in_few_installs(first_bad: str) -> None:
    result, installer = _bisect(first_bad)
    assert result.first == first_bad and not result.skipped
    finals = [v for v in RELEASES if "rc" not in v]
    assert result.before == finals[finals.index(first_bad) - 1]
    assert "2.2.0rc1" not in installer.installed  # pre-releases are not bisected
    assert len(installer.installed) <= 2 + 3  # both ends, then log2(7 releases between) rounded up
    assert result.repro == f"import torch  # {first_bad}\n"
    text = bs.report(result, "torch")
    assert text.startswith(f"first bad release: torch {first_bad} (last good {result.before})")


def test_untestable_releases_are_skipped_and_reported_as_a_range() -> None:
    result, _ = _bisect("2.3.1", overrides={"2.2.2": "unsupported"})
    assert (result.before, result.first) == ("2.1.2", "2.3.1") and result.skipped == ["2.2.2"]
    assert bs.report(result, "torch").startswith("first bad release: one of 2.2.2, 2.3.1")


def test_a_release_that_will_not_install_is_untestable() -> None:
    result, _ = _bisect("2.4.0", installer=FakeInstaller(broken=("2.3.1",)))
    assert result.first == "2.4.0" and result.skipped == ["2.3.1"]


def test_error_and_expected_fail_count_as_bad() -> None:
    result, _ = _bisect("2.5.1", overrides={"2.4.0": "error"})
    assert result.first == "2.4.0"
    assert bs.classify([], bs.CheckId.parse(CHECK, "torch")).state == bs.UNTESTABLE


def test_a_fix_is_found_when_good_is_the_newer_end() -> None:
    check = bs.CheckId.parse(CHECK, "torch")
    fixed = FakeRunner("9", overrides={v: "fail" for v in RELEASES[:6]})  # bad up to 2.2.2, good after
    result = bs.bisect(FakeInstaller(), fixed, "torch", "2.6.0", "2.0.0", check, log=lambda s: None)
    assert (result.before, result.first, result.new_state) == ("2.2.2", "2.3.1", bs.GOOD)
    assert result.repro == "import torch  # 2.2.2\n"  # the failing side's repro
    assert bs.report(result, "torch").startswith("first good (fixed) release: torch 2.3.1 (last bad 2.2.2)")


@pytest.mark.parametrize(("first_bad", "end"), [("2.0.0", "2.0.0"), ("2.7.0", "2.6.0")])
def test_ends_that_do_not_hold_are_a_usage_error(first_bad: str, end: str) -> None:
    with pytest.raises(ConformanceError, match=f"on torch {end}"):
        _bisect(first_bad)


def test_check_ids_parse() -> None:
    check = bs.CheckId.parse(
        "suite/test_conformance.py::test_precision[keras-jax-ops.normalize-order1-eager-cpu-float16]",
        "keras-jax",
    )
    assert (check.property, check.api, check.mode, check.device, check.dtype) == (
        "precision",
        "ops.normalize-order1",
        "eager",
        "cpu",
        "float16",
    )
    assert check.test_id == "test_precision[keras-jax-ops.normalize-order1-eager-cpu-float16]"
    for bad in ("precision[torch-F.softmax-eager-cpu-float32]", "test_precision[torch-eager-cpu]"):
        with pytest.raises(ConformanceError):
            bs.CheckId.parse(bad, "torch")


def test_releases_between_and_extra_requirements() -> None:
    assert bs.releases_between(
        ["2.1.0", "2.1.0+cpu", "2.0.1", "2.2.0rc1", "x", "2.1.0.dev1", "2.3.0"], "2.0.1", "2.3.0"
    ) == ["2.1.0"]
    assert bs.extra_requirements("torch", "2.0.1") == ["numpy<2"]
    assert bs.extra_requirements("torch", "2.8.0") == []
    assert bs.extra_requirements("keras-jax", "3.4.1") == ["jax[cpu]"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--framework", "nope", "--good", "1", "--bad", "2"], "unknown framework 'nope'"),
        (["--framework", "torch", "--good", "2.8.0", "--bad", "2.8"], "the same release"),
        (["--framework", "torch", "--good", "x.y", "--bad", "2.7.1"], "is not a version"),
        (
            [
                "--framework",
                "torch",
                "--good",
                "2.7.1",
                "--bad",
                "2.8.0",
                "--check",
                "test_x[jax-a-eager-cpu-float32]",
            ],
            "is not a test id",
        ),
        (["--framework", "torch", "--good", "2.7.1"], "--bad"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "conformance", "bisect", *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr
