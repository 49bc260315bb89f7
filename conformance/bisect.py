"""``python -m conformance bisect``: the first release of a framework in which one check goes bad.

Given a release where a check passes (``--good``) and one where it fails (``--bad``; older than
``--good`` to find the release that fixed it instead), the command lists the releases published
between them (``pip index versions``; final releases only), installs each one it needs into an
environment of its own, cached between runs (``uv``:
``~/.cache/softmax-conformance/envs/<framework>-<version>-py<X.Y>``, or
``--envs-dir``), runs that one check there (``python -m conformance run --profile quick``
restricted to the check's API, mode, dtype, device and property) and halves the range until
the first bad (or good) release is found; it prints that release, the one before, and the check's
repro from the (first or last) bad release's record. Without ``--check`` it runs the whole quick
profile on both ends and bisects the first check that fails unexpectedly on ``--bad`` and
passes on ``--good``.

Verdicts: ``pass`` is good; ``fail``, ``expected-fail`` and ``error`` are bad; anything else
(``unsupported``, ``skipped``, no record, an environment that cannot be built) makes a release
*untestable*: it is left out and the search goes on without it (``git bisect skip``), so the
answer may then be a range, which is printed as such.

The installer and the runner are interfaces (``Installer``, ``CheckRunner``): ``UvInstaller``
and ``SubprocessRunner`` are the real ones; the tests pass fakes and need no network.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from packaging.version import InvalidVersion, Version

from conformance.errors import EXIT_OK, ConformanceError
from conformance.listing import user_cache_dir

GOOD, BAD, UNTESTABLE = "good", "bad", "untestable"
BAD_VERDICTS = ("fail", "expected-fail", "error")
DEFAULT_ENVS_DIR = user_cache_dir() / "envs"
PROJECT_ROOT = Path(__file__).resolve().parents[1]  # holds pyproject.toml in a source checkout

# framework -> the distribution whose releases are bisected, and its pip requirement form.
DISTRIBUTIONS: dict[str, tuple[str, str]] = {
    "torch": ("torch", "torch=={}"),
    "tensorflow": ("tensorflow-cpu", "tensorflow-cpu=={}"),
    "jax": ("jax", "jax[cpu]=={}"),
    "keras-jax": ("keras", "keras=={}"),
    "keras-torch": ("keras", "keras=={}"),
    "keras-tensorflow": ("keras", "keras=={}"),
    "onnxruntime": ("onnxruntime", "onnxruntime=={}"),
    "numpy": ("numpy", "numpy=={}"),
    "scipy": ("scipy", "scipy=={}"),
}
# What else an environment needs: the Keras backend, onnx for ORT's graphs, NumPy 1 for releases
# built against it (torch < 2.3, JAX < 0.4.30, TensorFlow < 2.18 pin it themselves).
_BACKEND_EXTRAS = {
    "keras-jax": ["jax[cpu]"],
    "keras-torch": ["torch"],
    "keras-tensorflow": ["tensorflow-cpu"],
}


def extra_requirements(framework: str, version: str) -> list[str]:
    """Requirements installed beside ``framework`` ``version`` (the Keras backend, NumPy 1 for old builds)."""
    extras = list(_BACKEND_EXTRAS.get(framework, []))
    if framework == "onnxruntime":
        extras.append("onnx")
    v = Version(version)
    if (framework == "torch" and v < Version("2.3")) or (framework == "jax" and v < Version("0.4.30")):
        extras.append("numpy<2")
    return extras


@dataclass(frozen=True)
class CheckId:
    """One check of the suite: its property, framework, API, mode, device and dtype.

    Parsed from a test id as pytest and the records write it,
    ``test_precision[torch-F.softmax-eager-cpu-float32]`` (a node id's path before ``::`` is
    ignored). The API may contain dashes; mode, device and dtype never do.
    """

    property: str
    framework: str
    api: str
    mode: str
    device: str
    dtype: str

    @classmethod
    def parse(cls, text: str, framework: str) -> CheckId:
        test_id = text.rsplit("::", 1)[-1].strip()
        match = re.fullmatch(r"test_(\w+)\[(.+)\]", test_id)
        if not match or not match.group(2).startswith(f"{framework}-"):
            raise ConformanceError(
                f"--check {text!r} is not a test id of framework {framework} "
                f"(expected test_PROPERTY[{framework}-API-MODE-DEVICE-DTYPE])"
            )
        parts = match.group(2)[len(framework) + 1 :].rsplit("-", 3)
        if len(parts) != 4 or not all(parts):
            raise ConformanceError(
                f"--check {text!r}: expected {framework}-API-MODE-DEVICE-DTYPE in brackets"
            )
        return cls(match.group(1), framework, *parts)

    @property
    def test_id(self) -> str:
        return f"test_{self.property}[{self.framework}-{self.api}-{self.mode}-{self.device}-{self.dtype}]"

    def matches(self, record: dict) -> bool:
        return (
            record.get("type") == "check"
            and record.get("framework") == self.framework
            and record.get("api") == self.api
            and record.get("mode") == self.mode
            and record.get("device") == self.device
            and record.get("dtype") == self.dtype
            and record.get("property") == self.property
        )

    def run_options(self) -> list[str]:
        """``run`` options that select this check (and few others: ``-k`` is a substring match)."""
        return [
            f"--api={self.api}",
            f"--mode={self.mode}",
            f"--device={self.device}",
            f"--dtype={self.dtype}",
            "-k",
            f"test_{self.property}",
        ]


@dataclass(frozen=True)
class Outcome:
    """What one release gave for the check: ``good``, ``bad`` or ``untestable``, and the record."""

    state: str
    verdict: str
    message: str = ""
    record: dict | None = None


class Installer(Protocol):
    def versions(self, framework: str) -> list[str]:
        """Every release of the framework's distribution on the index."""

    def python(self, framework: str, version: str) -> Path:
        """The interpreter of an environment with the suite and ``framework`` ``version``."""


class CheckRunner(Protocol):
    def run(self, python: Path, framework: str, check: CheckId | None) -> list[dict]:
        """The check records of a quick run (one check, or every check of ``framework``)."""


def _run_quiet(cmd: Sequence[str], what: str) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise ConformanceError(f"{what} failed: {lines[-1] if lines else f'exit {result.returncode}'}")
    return result.stdout


@dataclass
class UvInstaller:
    """Environments built with ``uv`` (from its cache: seconds, once downloaded), kept in ``envs_dir``.

    Each gets the framework release (and ``extra_requirements``) and this checkout of the suite
    (editable, so the adapters that run are the ones here). PyPI's torch is a CUDA build (it runs on
    the CPU); set ``UV_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu`` (or
    ``UV_INDEX_URL``) where that index is reachable for CPU-only builds.
    """

    envs_dir: Path = DEFAULT_ENVS_DIR
    python_version: str = f"{sys.version_info.major}.{sys.version_info.minor}"
    log: Callable[[str], None] = print

    def _uv(self) -> str:
        found = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
        if not Path(found).exists():
            raise ConformanceError("bisect needs uv: pip install uv")
        return found

    def versions(self, framework: str) -> list[str]:
        dist = DISTRIBUTIONS[framework][0]
        out = _run_quiet(
            [sys.executable, "-m", "pip", "index", "versions", dist], f"pip index versions {dist}"
        )
        match = re.search(r"Available versions:\s*(.+)", out)
        return [v.strip() for v in match.group(1).split(",")] if match else []

    def python(self, framework: str, version: str) -> Path:
        dist, requirement = DISTRIBUTIONS[framework]
        env = self.envs_dir / f"{framework}-{version}-py{self.python_version}"
        python = env / "bin" / "python"
        if (env / ".complete").exists():
            return python
        uv = self._uv()
        self.log(f"  building {env} ({dist} {version})")
        shutil.rmtree(env, ignore_errors=True)
        _run_quiet([uv, "venv", "-q", "-p", self.python_version, str(env)], f"uv venv {env}")
        source = (
            ["-e", str(PROJECT_ROOT)]
            if (PROJECT_ROOT / "pyproject.toml").exists()
            else ["softmax-conformance"]
        )
        reqs = [requirement.format(version), *extra_requirements(framework, version), "scipy"]
        _run_quiet(
            [uv, "pip", "install", "-q", "--python", str(python), *source, *reqs],
            f"installing {' '.join(reqs)}",
        )
        (env / ".complete").write_text(f"{dist}=={version}\n")
        return python


@dataclass
class SubprocessRunner:
    """Runs ``python -m conformance run --profile quick --seed SEED`` in the release's environment."""

    seed: int = 0
    timeout: float = 1800

    def run(self, python: Path, framework: str, check: CheckId | None) -> list[dict]:
        with tempfile.TemporaryDirectory(prefix="conformance-bisect-") as tmp:
            cmd = [
                str(python), "-m", "conformance", "run", f"--framework={framework}", "--profile=quick",
                f"--seed={self.seed}", f"--results-dir={tmp}", "--run-id=bisect", "--no-report",
                "--no-progress", f"--timeout={self.timeout}", *(check.run_options() if check else []),
            ]  # fmt: skip
            env = {**os.environ, "PYTHONPATH": ""}
            subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
            results = Path(tmp) / "bisect" / "results.jsonl"
            if not results.exists():
                return []
            lines = results.read_text().splitlines()
            return [r for r in map(json.loads, filter(None, lines)) if r.get("type") == "check"]


def classify(records: Sequence[dict], check: CheckId) -> Outcome:
    """The check's outcome in one release's records."""
    found = [r for r in records if check.matches(r)]
    if not found:
        return Outcome(UNTESTABLE, "no record", "the check did not run (no record)")
    record = found[0]
    verdict = str(record.get("verdict"))
    state = GOOD if verdict == "pass" else BAD if verdict in BAD_VERDICTS else UNTESTABLE
    return Outcome(state, verdict, str(record.get("message", "")), record)


def releases_between(versions: Sequence[str], good: str, bad: str) -> list[str]:
    """Final releases strictly between ``good`` and ``bad``, oldest first (pre-releases left out, local
    builds such as ``2.13.0+cpu`` counted as their release)."""
    lo, hi = Version(good), Version(bad)
    found = set()
    for text in versions:
        try:
            v = Version(text)
        except InvalidVersion:
            continue
        if not v.is_prerelease and not v.is_devrelease and lo < v < hi:
            found.add(Version(v.public))  # 2.13.0+cpu (a local wheel) is release 2.13.0
    return [str(v) for v in sorted(found)]


@dataclass
class BisectResult:
    """The search's answer: ``before`` (the last release in the older end's state) and ``first`` (the
    first in the newer end's state: ``new_state`` BAD for a regression, GOOD for a fix), adjacent
    among the testable releases; every release tried with its outcome; the releases skipped as
    untestable between them (non-empty: the change is in one of ``skipped`` or ``first``)."""

    check: CheckId
    before: str
    first: str
    new_state: str = BAD
    tried: dict[str, Outcome] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def bad_release(self) -> str:
        """The release whose record holds the failure: the first bad one, or for a fix the last bad one."""
        return self.first if self.new_state == BAD else self.before

    @property
    def repro(self) -> str:
        record = self.tried[self.bad_release].record or {}
        return str(record.get("repro") or "")


def _validate(framework: str, good: str, bad: str) -> None:
    if framework not in DISTRIBUTIONS:
        raise ConformanceError(f"bisect: unknown framework {framework!r}; valid: {', '.join(DISTRIBUTIONS)}")
    for name, value in (("--good", good), ("--bad", bad)):
        try:
            Version(value)
        except InvalidVersion:
            raise ConformanceError(f"bisect: {name} {value!r} is not a version") from None
    if Version(good) == Version(bad):
        raise ConformanceError(f"bisect: --good and --bad are the same release ({good})")


def find_check(installer: Installer, runner: CheckRunner, framework: str, good: str, bad: str) -> CheckId:
    """The first check (by test id) that is bad on ``bad`` and passes on ``good`` (whole quick runs)."""
    on_bad = runner.run(installer.python(framework, bad), framework, None)
    on_good = runner.run(installer.python(framework, good), framework, None)

    def key(r: dict) -> tuple:
        return (r["api"], r["mode"], r["device"], r["dtype"], r["property"])

    passing = {key(r) for r in on_good if r["verdict"] == "pass"}
    regressed = sorted(
        CheckId(r["property"], framework, r["api"], r["mode"], r["device"], r["dtype"]).test_id
        for r in on_bad
        if r["verdict"] in ("fail", "error") and key(r) in passing
    )
    if not regressed:
        raise ConformanceError(f"bisect: no check fails on {framework} {bad} and passes on {good}")
    return CheckId.parse(regressed[0], framework)


def bisect(
    installer: Installer,
    runner: CheckRunner,
    framework: str,
    good: str,
    bad: str,
    check: CheckId,
    log: Callable[[str], None] = print,
) -> BisectResult:
    """Find the release in which ``check`` changed from the older end's state to the newer end's.

    ``good`` older than ``bad``: the first bad release (a regression); ``good`` newer than ``bad``:
    the first good one (a fix). Both ends are verified first (a usage error where they do not hold).
    """
    _validate(framework, good, bad)
    tried: dict[str, Outcome] = {}

    def test(version: str) -> Outcome:
        try:
            python = installer.python(framework, version)
        except ConformanceError as exc:
            outcome = Outcome(UNTESTABLE, "no environment", str(exc))
        else:
            outcome = classify(runner.run(python, framework, check), check)
        tried[version] = outcome
        log(f"  {framework} {version}: {outcome.state} ({outcome.verdict}) {outcome.message[:120]}".rstrip())
        return outcome

    for version, wanted in ((good, GOOD), (bad, BAD)):
        outcome = test(version)
        if outcome.state != wanted:
            raise ConformanceError(
                f"bisect: {check.test_id} is {outcome.state} ({outcome.verdict}) on {framework} {version}, "
                f"which --{'good' if wanted == GOOD else 'bad'} says is {wanted}"
            )
    regression = Version(good) < Version(bad)
    old, new = (good, bad) if regression else (bad, good)
    old_state, new_state = (GOOD, BAD) if regression else (BAD, GOOD)
    candidates = releases_between(installer.versions(framework), old, new)
    log(f"bisect {framework}: {len(candidates)} release(s) between {old} and {new}: {check.test_id}")
    ordered = [old, *candidates, new]
    lo, hi = 0, len(ordered) - 1  # ordered[lo] in old_state, ordered[hi] in new_state
    untestable: set[int] = set()
    while True:
        inner = [i for i in range(lo + 1, hi) if i not in untestable]
        if not inner:
            break
        mid = inner[len(inner) // 2]
        state = test(ordered[mid]).state
        if state == old_state:
            lo = mid
        elif state == new_state:
            hi = mid
        else:
            untestable.add(mid)
    skipped = [ordered[i] for i in range(lo + 1, hi)]
    return BisectResult(check, ordered[lo], ordered[hi], new_state, tried, skipped)


def report(result: BisectResult, framework: str) -> str:
    """The answer as printed: the first bad (or, for a fix, good) release, a range where releases
    were untestable, the check's message and the repro of the release that fails."""
    what, other = ("bad", "good") if result.new_state == BAD else ("good (fixed)", "bad")
    if result.skipped:
        lines = [
            f"first {what} release: one of {', '.join(result.skipped)}, {result.first} "
            f"({framework}; untestable: {', '.join(result.skipped)}; last {other} {result.before})"
        ]
    else:
        lines = [f"first {what} release: {framework} {result.first} (last {other} {result.before})"]
    for version in (result.before, result.first):
        outcome = result.tried[version]
        lines.append(f"{framework} {version}: {result.check.test_id}: {outcome.verdict}: {outcome.message}")
    if result.repro:
        lines += [f"repro ({framework} {result.bad_release}):", result.repro.rstrip()]
    return "\n".join(lines)


def cmd_bisect(args: argparse.Namespace) -> int:
    """``bisect``: exit 0 with the first bad release printed; usage errors raise ``ConformanceError``."""
    _validate(args.framework, args.good, args.bad)
    installer = UvInstaller(Path(args.envs_dir).expanduser())
    runner = SubprocessRunner(seed=args.seed, timeout=args.timeout)
    if args.check:
        check = CheckId.parse(args.check, args.framework)
    else:
        print(
            f"no --check: quick runs on {args.framework} {args.bad} and {args.good} to find one", flush=True
        )
        check = find_check(installer, runner, args.framework, args.good, args.bad)
    result = bisect(installer, runner, args.framework, args.good, args.bad, check, log=_log)
    print(report(result, args.framework))
    return EXIT_OK


def _log(line: str) -> None:
    print(line, flush=True)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bisect`` on the command line's subparsers."""
    parser = sub.add_parser("bisect", help="find the first release of a framework in which a check goes bad")
    parser.add_argument("--framework", required=True, help=f"one of {', '.join(DISTRIBUTIONS)}")
    parser.add_argument("--good", required=True, help="a release where the check passes")
    parser.add_argument("--bad", required=True, help="a later release where it fails")
    parser.add_argument(
        "--check",
        default=None,
        help="test id, e.g. 'test_precision[torch-F.softmax-eager-cpu-float32]' "
        "(default: the first check that fails on --bad and passes on --good)",
    )
    parser.add_argument(
        "--envs-dir", default=str(DEFAULT_ENVS_DIR), help=f"cached environments (default: {DEFAULT_ENVS_DIR})"
    )
    parser.add_argument("--seed", type=int, default=0, help="Hypothesis seed of every run (default 0)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run (default 1800)")
    parser.set_defaults(func=cmd_bisect)
