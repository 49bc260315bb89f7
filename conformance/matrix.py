"""The tox environment list as a GitHub Actions job matrix.

``python -m conformance.matrix [--label LABEL] [--kind cpu|gpu|all] [--tox-ini PATH]`` prints one
line of JSON, ``{"include": [{"env": "py311-tf216", "python": "3.11", "gpu": false}, ...]}``, for
``strategy.matrix: ${{ fromJSON(...) }}`` (``.github/workflows/conformance.yml``).

Contract:

* the environments are tox's own: ``tox config`` (tox 4) is asked for those of ``LABEL``
  (``default``: tox's default ``env_list``), so the matrix never disagrees with ``tox.ini``;
* only *suite* environments are listed: those with a Python factor (``py311``, ``py3.12``...).
  ``tests``, ``report`` and ``candidate`` have none and get jobs of their own;
* ``python`` is the version the factor names (for ``actions/setup-python``); ``gpu`` is true for
  environments with the ``gpu`` factor, which need a self-hosted runner with an NVIDIA GPU;
  ``--kind`` keeps the CPU or the GPU ones;
* an empty selection is an error (exit 2), so a renamed label cannot silently run nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

PY_FACTOR = re.compile(r"^py(\d)\.?(\d+)$")
SECTION = re.compile(r"^\[testenv:(?P<name>[^\]]+)\]\s*$")
BASE_PYTHON = re.compile(r"^base_python\s*=\s*(?P<value>.*)$")


class MatrixError(RuntimeError):
    """tox could not be asked, or the selection is empty: one line saying which."""


@dataclass(frozen=True)
class MatrixEntry:
    """One job of the matrix: the tox environment, its Python version, whether it needs a GPU."""

    env: str
    python: str
    gpu: bool


def python_version(env: str) -> str | None:
    """``3.11`` for an env with a ``py311`` or ``py3.11`` factor; None for an env without one."""
    for factor in env.split("-"):
        found = PY_FACTOR.match(factor)
        if found:
            return f"{found.group(1)}.{found.group(2)}"
    return None


def parse_tox_config(text: str) -> dict[str, str]:
    """``{env name: base_python}`` from the output of ``tox config -k base_python``, in its order."""
    envs: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        section = SECTION.match(line.strip())
        if section:
            current = section.group("name")
            envs[current] = ""
            continue
        value = BASE_PYTHON.match(line.strip())
        if value and current is not None:
            envs[current] = value.group("value").strip()
    return envs


def tox_config(label: str, tox_ini: Path) -> str:
    """The text of ``tox config -k base_python`` for ``label`` (``default``: the env_list)."""
    cmd = [sys.executable, "-m", "tox", "config", "-c", str(tox_ini), "-k", "base_python"]
    if label != "default":
        cmd[4:4] = ["-m", label]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise MatrixError(f"could not run tox: {exc}") from None
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise MatrixError(f"tox config failed (exit {proc.returncode}): {last[0]}")
    return proc.stdout


def build_matrix(envs: dict[str, str], kind: str = "all") -> list[MatrixEntry]:
    """The suite environments of ``envs`` (name -> base_python) as matrix entries, filtered by ``kind``."""
    if kind not in ("cpu", "gpu", "all"):
        raise ValueError(f"unknown kind {kind!r}; valid: cpu, gpu, all")
    entries = []
    for env in envs:
        version = python_version(env)
        if version is None:
            continue
        entry = MatrixEntry(env, version, "gpu" in env.split("-"))
        if kind == "all" or entry.gpu == (kind == "gpu"):
            entries.append(entry)
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.matrix", description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="default", help="tox label, or 'default' for the env_list")
    parser.add_argument("--kind", default="all", choices=("cpu", "gpu", "all"), help="which envs to keep")
    parser.add_argument("--tox-ini", default="tox.ini", type=Path, help="the tox configuration (tox.ini)")
    args = parser.parse_args(argv)
    try:
        entries = build_matrix(parse_tox_config(tox_config(args.label, args.tox_ini)), args.kind)
        if not entries:
            raise MatrixError(f"no {args.kind} suite environments under label {args.label!r}")
    except MatrixError as exc:
        print(f"conformance.matrix: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"include": [asdict(e) for e in entries]}, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
