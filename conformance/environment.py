"""The environment envelope: what a run was made on, so that two runs can be compared."""

from __future__ import annotations

import datetime as _dt
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from conformance import __version__
from conformance.records import SCHEMA_VERSION

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
    """The first record of a results file; framework devices are added by the process that runs them."""
    return {
        "type": "envelope",
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "suite_version": __version__,
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "os": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": __import__("os").cpu_count(),
        "distributions": distribution_versions(),
        "frameworks": {},
        "devices": {},
        "device_details": {},
        "seed": seed,
        "profile": profile,
        "selection": selection,
        "argv": argv,
    }
