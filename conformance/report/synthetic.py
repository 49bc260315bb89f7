"""Synthetic results files, shaped like real records, for the report's tests and benchmark.

``check``, ``semantics``, ``sample``, ``envelope``, ``framework`` and ``end`` build one record
each with the record constructors of ``conformance.records`` (so with exactly the fields a real
run writes), overridable by keyword;
``write_run`` writes them as a results file. ``amplify`` grows a real run to N records by
copying its records under more frameworks, versions and devices (the benchmark's input).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from conformance.records import (
    RESULTS_FILE,
    Run,
    cell_fields,
    check_record,
    end_record,
    envelope_record,
    framework_record,
    sample_record,
    semantics_record,
)

HISTOGRAM_EDGES = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 256.0, 1024.0, 65536.0]


def _cell(
    framework: str, api: str, mode: str, op: str, device: str, dtype: str, version: str
) -> dict[str, Any]:
    return cell_fields(
        implementation=f"{framework}-{api}-{mode}",
        framework=framework,
        framework_version=version,
        api=api,
        op=op,
        operation="",
        mode=mode,
        device=device,
        dtype=dtype,
    )


def listing(values: list[Any], dtype: str = "float32", shape: list[int] | None = None) -> dict[str, Any]:
    """A value listing as records hold it (``values`` as JSON numbers or 'nan'/'inf'/'-inf')."""
    return {
        "shape": shape if shape is not None else [len(values)],
        "dtype": dtype,
        "values": values,
        "truncated": False,
    }


def envelope(run_id: str = "synthetic", **overrides: Any) -> dict[str, Any]:
    """An envelope like ``conformance.environment.envelope`` writes (no hostname recorded)."""
    record = envelope_record(
        run_id=run_id,
        suite_version="0.1.0",
        started="2026-01-01T00:00:00+00:00",
        python="3.11.7",
        python_implementation="CPython",
        os="Linux-6.1-x86_64",
        hostname="",
        cpu="Intel(R) Xeon(R) Processor",
        cpu_count=2,
        distributions={"numpy": "2.4.6", "ml_dtypes": "0.6.0", "hypothesis": "6.155.2"},
        seed=1234,
        profile="quick",
        selection={"framework": [], "api": [], "device": [], "dtype": [], "mode": [], "op": []},
        argv=["run", "--profile", "quick"],
    )
    record.update(overrides)
    return record


def framework(name: str = "numpy", version: str = "2.4.6", **overrides: Any) -> dict[str, Any]:
    """A ``framework`` record of a framework that ran (status ok)."""
    record = framework_record(
        framework=name,
        version=version,
        devices=["cpu"],
        details={name: version},
        pid=1,
        compile_cache=None,
        import_seconds=None,
    )
    record.update(overrides)
    return record


def check(
    verdict: str = "pass",
    *,
    framework: str = "numpy",
    api: str = "exp-shift",
    mode: str = "eager",
    op: str = "softmax",
    device: str = "cpu",
    dtype: str = "float32",
    prop: str = "precision",
    version: str = "2.4.6",
    metric: float | None = 0.5,
    **overrides: Any,
) -> dict[str, Any]:
    """A ``check`` record; a failing precision check gets a worst case and a repro snippet."""
    failing = verdict in ("fail", "expected-fail", "error")
    worst_case, repro, histogram = None, None, None
    if prop == "precision":
        histogram = {
            "edges": HISTOGRAM_EDGES,
            "counts": [20, 10, 6, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0],
            "nonfinite": 0,
        }
    if failing and prop == "precision":
        x = [1.0, 2.0, 3.0]
        expected = [0.09003057330846786, 0.2447284758090973, 0.6652409434318542]
        output = [0.09003058075904846, 0.2447284758090973, 0.6652409434318542]  # element 0 is 1 ULP up
        worst_case = {
            "case": "worked_example[0]",
            "description": "The worked example.",
            "where": "minimal input (fails on its own)",
            "input": listing(x, dtype),
            "output": listing(output, dtype),
            "expected": listing(expected, dtype),
            "metric": metric,
            "bound": 3.0,
            "dtype": dtype,
            "length": 3,
        }
        repro = f"import numpy as np\nx = np.array({x!r}, dtype=np.{dtype})\n"
    record = check_record(
        _cell(framework, api, mode, op, device, dtype, version),
        property=prop,
        verdict=verdict,
        metric=metric,
        median=0.25,
        tolerance=3.0,
        unit="ULP" if prop in ("precision", "stability", "shift_invariance") else "failures",
        n_cases=40,
        n_failed=2 if failing else 0,
        message=f"2 failing slice(s); worst ULP {metric}" if failing else "",
        worst_case=worst_case,
        repro=repro,
        failing_cases=["hypothesis[rows,uniform,none]"] if failing else [],
        failing_conditions={},
        known_issue=None,
        also_known=[],
        histogram=histogram,
        seed=1234,
        cell_seed=0,
        profile="quick",
        seconds=0.01,
        timing=None,
        inherited_from=None,
    )
    record.update(overrides)
    return record


def semantics(
    case: str = "all_neginf[0]",
    classification: str = "matches-limit",
    *,
    framework: str = "numpy",
    **overrides: Any,
) -> dict[str, Any]:
    """A ``semantics`` record (observed output beside the oracle's limit)."""
    record = semantics_record(
        _cell(framework, "exp-shift", "eager", "softmax", "cpu", "float32", "2.4.6"),
        case=case,
        description="Every entry -inf.",
        input=listing(["-inf", "-inf"]),
        input_dtype="float32",
        observed=listing(["nan", "nan"]),
        observed_dtype="float32",
        error=None,
        limit=listing(["nan", "nan"]),
        classification=classification,
        note="as the limit",
    )
    record.update(overrides)
    return record


def sample(
    op: str = "softmax", *, framework: str = "numpy", output_bump: int = 0, **overrides: Any
) -> dict[str, Any]:
    """A ``sample`` record on the fixed 16-element vector; element 0 moved up ``output_bump`` ULPs."""
    import numpy as np

    x = np.array(
        [1.0, 2.0, 4.0, 5.0, 6.0, 0.5, 3.0, 2.5, 7.5, 1.5, 0.25, 4.5, 3.5, 6.5, 5.5, 8.0], dtype=np.float32
    )
    if op == "sum_normalize":
        y = (x / x.sum(dtype=np.float64)).astype(np.float32)
    else:
        e = np.exp(x.astype(np.float64) - x.max())
        y = (e / e.sum()).astype(np.float32)
    out = y.copy()
    for _ in range(output_bump):
        out[0] = np.nextafter(out[0], np.float32(1))
    api = {"softmax": "exp-shift", "sum_normalize": "x/sum", "log_softmax": "log-shift"}[op]
    record = sample_record(
        _cell(framework, api, "eager", op, "cpu", "float32", "2.4.6"),
        input=listing([float(v) for v in x]),
        output=listing([float(v) for v in out]),
        expected=listing([float(v) for v in y]),
        error=None,
    )
    record.update(overrides)
    return record


def end(**overrides: Any) -> dict[str, Any]:
    """An ``end`` record (the framework process, pid 1 like ``framework``'s, finished)."""
    record = end_record(
        frameworks=["numpy"],
        finished="2026-01-01T00:01:00",
        counts={},
        stale_known_issues=[],
        exit_status=0,
        pid=1,
        planned=None,
        checks=0,
    )
    record.update(overrides)
    return record


def write_run(directory: Path, records: Iterable[dict[str, Any]]) -> Path:
    """Write ``records`` (the envelope first) to ``directory/results.jsonl``; returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / RESULTS_FILE, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, allow_nan=False) + "\n")
    return directory


def amplify(run: Run, n_records: int) -> list[dict[str, Any]]:
    """The records of a real ``run`` (envelope first) copied until there are ``n_records`` of them.

    Each copy renames the frameworks (``numpy`` -> ``numpy_v2`` ...), gives them another
    version and, every other copy, another device, so the matrix, the semantics table and
    the histograms grow the way they would for many frameworks, versions and GPUs.
    """
    body = [*run.frameworks, *run.checks, *run.semantics, *run.samples, *run.ends]
    if not body:
        raise ValueError(f"{run.path}: no records to amplify")
    out: list[dict[str, Any]] = [copy.deepcopy(run.envelope)]
    generation = 0
    while len(out) < n_records:
        generation += 1
        for record in body:
            if len(out) >= n_records:
                break
            clone = copy.deepcopy(record)
            if "framework" in clone:
                clone["framework"] = f"{clone['framework']}_v{generation}"
            if "framework_version" in clone:
                clone["framework_version"] = f"{clone.get('framework_version') or '0'}.{generation}"
            if "implementation" in clone:
                clone["implementation"] = f"{clone['implementation']}-v{generation}"
            if "device" in clone and generation % 2 == 0:
                clone["device"] = "cuda:0"
            out.append(clone)
    return out
