"""Time the conformance suite per framework and profile on this machine's CPU.

Usage::

    python benchmarks/suite_timing.py [--profiles quick default] [--frameworks numpy torch ...]
                                      [--seed 0] [--all-together] [--cache off|cold|warm]

For each (profile, framework) it runs ``python -m conformance run --framework F
--profile P --seed S --jobs 1`` as a subprocess (so the framework's import is
counted, as a user would see it) and prints a Markdown table: wall time of the
process, the sum of the per-check times recorded in the results (time spent
calling and judging), the compile and backward-pass seconds within them (summed over
cells, from each record's ``timing``), the number of checks and of cells. ``--all-together``
also times one run over every framework with the default ``--jobs`` (parallel
processes), which is the figure a user of the README's command sees.

Figures depend on the machine and on what else runs on it: run it on an idle
machine and record the machine in benchmarks/README.md with the table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(args: list[str], results_dir: Path, run_id: str, cache: Path | None) -> tuple[float, dict]:
    cache_args = ["--compile-cache", str(cache)] if cache is not None else ["--no-compile-cache"]
    command = [
        sys.executable,
        "-m",
        "conformance",
        "run",
        *args,
        "--run-id",
        run_id,
        "--results-dir",
        str(results_dir),
        "--no-progress",
        "--no-report",
        *cache_args,
    ]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} exited with {proc.returncode}:\n{proc.stderr[-2000:]}")
    checks = [
        json.loads(line)
        for line in (results_dir / run_id / "results.jsonl").read_text().splitlines()
        if '"type": "check"' in line
    ]
    timing = {(c["implementation"], c["device"], c["dtype"]): c.get("timing") or {} for c in checks}
    return wall, {
        "checks": len(checks),
        "cells": len(timing),
        "check_seconds": sum(c.get("seconds", 0.0) for c in checks),
        "compile_seconds": sum(t.get("compile_seconds") or 0.0 for t in timing.values()),
        "backward_seconds": sum(t.get("backward_seconds") or 0.0 for t in timing.values()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", nargs="+", default=["quick", "default"])
    parser.add_argument("--frameworks", nargs="+", default=["numpy", "scipy", "torch", "tensorflow", "jax"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--all-together", action="store_true")
    parser.add_argument(
        "--cache",
        choices=("off", "cold", "warm"),
        default="cold",
        help="compile cache: off (--no-compile-cache); cold (an empty one per timed run, as on a fresh"
        " clone; the default); warm (filled by an untimed run of the same command first)",
    )
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp)

        def timed(run_args: list[str], run_id: str) -> tuple[float, dict]:
            cache = None if args.cache == "off" else results / f"cache-{run_id}"
            if args.cache == "warm":
                _run(run_args, results, f"{run_id}-warming", cache)
            return _run(run_args, results, run_id, cache)

        for profile in args.profiles:
            for framework in args.frameworks:
                run_args = ["--framework", framework, "--profile", profile, "--seed", str(args.seed)]
                wall, info = timed([*run_args, "--jobs", "1"], f"{profile}-{framework}")
                rows.append((profile, framework, wall, info))
                print(f"{profile} {framework}: {wall:.1f} s", file=sys.stderr, flush=True)
            if args.all_together:
                selection = [a for f in args.frameworks for a in ("--framework", f)]
                run_args = [*selection, "--profile", profile, "--seed", str(args.seed)]
                wall, info = timed(run_args, f"{profile}-all")
                rows.append((profile, "all, parallel (--jobs default)", wall, info))
                print(f"{profile} all: {wall:.1f} s", file=sys.stderr, flush=True)
    print(f"compile cache: {args.cache}")
    print(
        "| profile | framework | wall time (s) | time in checks (s) | compile (s) | backward (s)"
        " | checks | cells |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for profile, framework, wall, info in rows:
        print(
            f"| {profile} | {framework} | {wall:.1f} | {info['check_seconds']:.1f}"
            f" | {info['compile_seconds']:.1f} | {info['backward_seconds']:.1f} | {info['checks']}"
            f" | {info['cells']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
