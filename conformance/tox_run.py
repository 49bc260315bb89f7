"""Run the suite for one tox matrix environment and decide whether the environment failed.

``python -m conformance.tox_run ARGS...`` runs ``python -m conformance run ARGS...`` on the frameworks
installed in the environment (``--framework`` added unless ARGS give one: a matrix environment
installs only the frameworks it tests, and "not installed" records of the others would only be
noise in the merged report) and exits:

* 0 when the suite exits 0, or exits 1 because checks found unexpected discrepancies: those
  are the findings the matrix exists to collect (they are in the run and its report);
* 3 when a framework is installed but failed to import or is too old (its ``framework`` record
  says why, and the suite itself exits 3 then), or its pytest process did not finish
  (crashed, was killed, timed out), or a GPU asked for with ``--device cuda:N`` is seen by no
  framework of the run (a GPU job on a machine whose GPU is gone would otherwise pass with
  every GPU cell skipped): the environment is broken, not the framework's numerics;
* the suite's own status otherwise: 2 for a usage error, 128 + N when a signal N ended it.

The run directory is read back from ``--results-dir`` (default ``reports/runs``) and ``--run-id``
among ARGS (``--run-id`` is required: the matrix names every run after its environment).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from conformance.adapters.base import UNUSABLE_STATUSES
from conformance.errors import EXIT_BROKEN
from conformance.records import RESULTS_FILE, RunFileError, read_run

# Framework records that make the environment broken: installed but unusable (import failed,
# version too old; the run itself then exits EXIT_BROKEN), or a process that did not finish.
BROKEN_STATUSES = (*UNUSABLE_STATUSES, "did not finish")


def _parse(args: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--results-dir", default="reports/runs")
    parser.add_argument("--run-id", default=None)
    parser.add_argument("--device", action="append", default=[])
    return parser.parse_known_args(args)[0]


def run_dir_of(args: list[str]) -> Path:
    """The run directory that ``conformance run`` writes for ``args``; ValueError without ``--run-id``."""
    known = _parse(args)
    if not known.run_id:
        raise ValueError("--run-id is required (the matrix names each run after its tox environment)")
    return Path(known.results_dir) / known.run_id


def gpus_asked(args: list[str]) -> list[str]:
    """The non-CPU devices ``--device`` asks for (repeated or comma-separated)."""
    devices = [d.strip() for item in _parse(args).device for d in item.split(",") if d.strip()]
    return [d for d in devices if d != "cpu"]


def broken_frameworks(run_dir: Path, gpus: list[str] | tuple[str, ...] = ()) -> list[str]:
    """What says the env is broken: framework records ``"framework: status (message)"``, and each of
    ``gpus`` that no framework of the run sees."""
    try:
        run = read_run(Path(run_dir) / RESULTS_FILE)
    except (RunFileError, OSError) as exc:
        return [f"results file unreadable: {exc}"]
    broken = [
        f"{rec.get('framework')}: {rec.get('status')} ({rec.get('message') or ''})".replace(" ()", "")
        for rec in run.frameworks
        if rec.get("status") in BROKEN_STATUSES
    ]
    seen = {d for rec in run.frameworks if rec.get("status") == "ok" for d in rec.get("devices") or []}
    broken += [f"{gpu}: asked for, but no framework of the run sees it" for gpu in gpus if gpu not in seen]
    return broken


def with_installed_frameworks(args: list[str]) -> list[str]:
    """``args`` with ``--framework`` naming every installed framework, unless ``args`` name some."""
    if any(a == "--framework" or a.startswith("--framework=") for a in args):
        return list(args)
    from conformance.adapters import all_adapters

    installed = [name for name, adapter in all_adapters().items() if adapter.installed()]
    return ["--framework", ",".join(installed), *args]


def with_own_compile_cache(args: list[str]) -> list[str]:
    """``args`` with a compile cache of the environment's own (``RESULTS_DIR/.compile-cache/RUN_ID``),
    unless ``args`` choose one: environments run in parallel, and two processes of the same
    framework version must not write one cache directory at once."""
    if any(a.startswith(("--compile-cache", "--no-compile-cache")) for a in args):
        return list(args)
    known = _parse(args)
    return [*args, "--compile-cache", str(Path(known.results_dir) / ".compile-cache" / known.run_id)]


def env_status(suite_status: int, broken: list[str]) -> int:
    """The environment's exit status from the suite's status and the broken frameworks (see module doc)."""
    if suite_status < 0:
        return 128 - suite_status
    if suite_status not in (0, 1):
        return suite_status
    return EXIT_BROKEN if broken else 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        run_dir = run_dir_of(args)
    except ValueError as exc:
        print(f"conformance.tox_run: error: {exc}", file=sys.stderr)
        return 2
    status = subprocess.call(
        [sys.executable, "-m", "conformance", "run", *with_own_compile_cache(with_installed_frameworks(args))]
    )
    broken = broken_frameworks(run_dir, gpus_asked(args)) if status in (0, 1, EXIT_BROKEN) else []
    result = env_status(status, broken)
    if status == 1 and result == 0:
        print("conformance.tox_run: unexpected discrepancies found (recorded in the run); the env passes")
    for line in broken:
        print(f"conformance.tox_run: environment broken: {line}", file=sys.stderr)
    return result


if __name__ == "__main__":
    sys.exit(main())
