"""Time the suite's own work, without any framework: the oracle and the judging of one cell's inputs.

    python benchmarks/judging_timing.py [--profile quick] [--dtype float32 ...] [--op softmax ...]
                                        [--repeat 3]

For each (op, dtype): the forward corpus of the profile (what ``CellEvaluation`` calls, less the
generated batches) and the backward pass's inputs (``conformance.gradients.gradient_cases``), each
"answered" by the oracle's own result rounded to the dtype (a correct implementation, so every
property runs to its end instead of stopping at a first failure). Timed separately: the forward
oracle (``properties.compute_oracle``), the forward properties (``PROPERTIES``, slice kind), the
gradient oracle (``gradient_properties.compute_gradient_oracle``) and the gradient properties.
Prints the best of ``--repeat`` runs per stage, in seconds, and the totals. Nothing is cached
between stages or repeats (the oracle cache is bypassed). Figures go in ``benchmarks/README.md``;
tests never assert on time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conformance.cases.corpus import profile_corpus
from conformance.gradient_properties import compute_gradient_oracle
from conformance.gradients import gradient_cases, gradient_seed
from conformance.profiles import PROFILES
from conformance.properties import compute_oracle, expected_output_dtype
from conformance.property_registry import GRADIENT_PROPERTIES, PROPERTIES
from reference import dtype_from_name
from reference.axes import is_single_axis

OPS = ("softmax", "log_softmax", "sum_normalize")
DTYPES = ("float16", "bfloat16", "float32", "float64")


def _forward(op: str, dtype: str, profile) -> tuple[float, float]:
    cases = [c for c in profile_corpus(dtype, op, profile) if is_single_axis(c.axis)]
    out = dtype_from_name(dtype)
    start = time.perf_counter()
    answers = [compute_oracle(op, c.x, c.axis, expected_output_dtype(op, c.x.dtype)) for c in cases]
    oracle_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for case, oracle in zip(cases, answers, strict=True):
        y = oracle.rounded
        for spec in PROPERTIES.values():
            if op in spec.ops and spec.kind == "forward":
                with np.errstate(all="ignore"):
                    spec.judge(case.x, y, oracle, op, out, case.axis)
    return oracle_seconds, time.perf_counter() - start


def _backward(op: str, dtype: str, profile) -> tuple[float, float]:
    cases = [
        c
        for c in gradient_cases(
            op, dtype, profile.gradient_lengths, gradient_seed(op, dtype), profile.gradient_long_non_last
        )
        if is_single_axis(c.axis)
    ]
    dt = dtype_from_name(dtype)
    start = time.perf_counter()
    answers = [compute_gradient_oracle(op, c.x, c.g, c.axis, dt) for c in cases]
    oracle_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for case, oracle in zip(cases, answers, strict=True):
        with np.errstate(over="ignore"):
            gx = np.asarray(oracle.exact, dtype=np.float64).astype(dt)
        for spec in GRADIENT_PROPERTIES.values():
            if op in spec.ops:
                with np.errstate(all="ignore"):
                    spec.judge(case.x, case.g, gx, oracle, op, dt, case.axis)
    return oracle_seconds, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    parser.add_argument("--dtype", action="append", choices=DTYPES)
    parser.add_argument("--op", action="append", choices=OPS)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    profile = PROFILES[args.profile]
    stages = ("forward oracle", "forward judging", "gradient oracle", "gradient judging")
    totals = dict.fromkeys(stages, 0.0)
    print(f"{'op':14} {'dtype':9} " + " ".join(f"{s:>17}" for s in stages))
    for op in args.op or OPS:
        for dtype in args.dtype or DTYPES:
            best = [float("inf")] * 4
            for _ in range(args.repeat):
                times = (*_forward(op, dtype, profile), *_backward(op, dtype, profile))
                best = [min(b, t) for b, t in zip(best, times, strict=True)]
            for stage, seconds in zip(stages, best, strict=True):
                totals[stage] += seconds
            print(f"{op:14} {dtype:9} " + " ".join(f"{t:17.3f}" for t in best))
    print(f"{'total':24} " + " ".join(f"{totals[s]:17.3f}" for s in stages))
    print(f"all stages: {sum(totals.values()):.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
