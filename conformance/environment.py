"""The environment envelope: what a run was made on, so that two runs can be compared."""

from __future__ import annotations

import datetime as _dt
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from conformance.records import envelope_record
from conformance.version import __version__

# Distributions whose versions matter to the numerics, looked up without importing them.
DISTRIBUTIONS = (
    "numpy",
    "scipy",
    "ml_dtypes",
    "torch",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "jax",
    "jaxlib",
    "onnxruntime",
    "onnx",
    "hypothesis",
)


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else platform.processor()."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def distribution_versions() -> dict[str, str | None]:
    """Installed versions of the distributions that matter (None when absent)."""
    versions: dict[str, str | None] = {}
    for name in DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def envelope(
    run_id: str, seed: int, profile: str, selection: dict[str, Any], argv: list[str]
) -> dict[str, Any]:
    """The first record of a results file.

    Framework versions, devices and device details (GPU model, CUDA, precision
    flags) are not here: the process that runs a framework writes them in its
    ``framework`` record, having imported it.
    """
    return envelope_record(
        run_id=run_id,
        suite_version=__version__,
        started=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        python=sys.version.split()[0],
        python_implementation=platform.python_implementation(),
        os=platform.platform(),
        hostname=platform.node(),
        cpu=cpu_model(),
        cpu_count=__import__("os").cpu_count(),
        distributions=distribution_versions(),
        seed=seed,
        profile=profile,
        selection=selection,
        argv=argv,
    )


def nvidia_driver_version(proc_file: Path = Path("/proc/driver/nvidia/version")) -> str | None:
    """The NVIDIA kernel driver's version, or None where there is none.

    Read from ``proc_file`` (Linux: ``NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15 ...``),
    else asked of ``nvidia-smi`` (5 s at most). Never raises.
    """
    import re
    import shutil
    import subprocess

    try:
        text = proc_file.read_text(errors="replace") if proc_file.exists() else ""
    except OSError:
        text = ""
    found = re.search(r"Kernel Module(?: for \S+)?\s+(\d+(?:\.\d+)+)", text)
    if found:
        return found.group(1)
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    versions = [line.strip() for line in out.splitlines() if line.strip()]
    return versions[0] if versions else None
