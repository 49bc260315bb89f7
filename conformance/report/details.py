"""Drill-down data for failing cells, embedded in the page as one JSON blob and rendered on click.

One entry per check whose verdict is in ``DETAIL_VERDICTS``: the message, the metric against
its bound, the Hypothesis seed, the minimal failing input with the oracle ("expected") and
the output side by side and the error of each element in ULPs (steps between the output and
the correctly rounded oracle, in the output dtype), the known-discrepancy entry and the
repro snippet. Entries are ordered by priority (unexpected verdicts first, then by how far
the metric exceeds its bound) and kept within a size budget so a 100,000-record run still
makes a page of a few MB: past ``FULL_BUDGET`` characters an entry loses its repro and keeps
8 elements of its worst case; past ``SHORT_BUDGET`` it keeps only its summary. Every entry
names the results file and a ``jq`` filter that prints the full record.
"""

from __future__ import annotations

import json
from itertools import zip_longest
from typing import Any

import numpy as np

from conformance.records import Run
from conformance.report.cells import as_number, op_label
from conformance.report.replay import custom_arguments, replay_command

DETAIL_VERDICTS = ("fail", "error", "fixed", "expected-fail")
FULL_BUDGET = 2_000_000
SHORT_BUDGET = 2_800_000
SHORT_ROWS = 8
# A repro longer than this is left in the results file (the page says where).
REPRO_LIMIT = 60_000


def _priority(rec: dict[str, Any]) -> tuple:
    metric = as_number(rec.get("metric"))
    tolerance = as_number(rec.get("tolerance"))
    if metric is None or metric != metric:
        ratio = float("inf")
    elif tolerance and tolerance > 0:
        ratio = metric / tolerance
    else:
        ratio = metric
    return (DETAIL_VERDICTS.index(rec["verdict"]), -ratio)


def _floats(listing: Any) -> list[Any]:
    return list(listing.get("values") or []) if isinstance(listing, dict) else []


def element_ulps(output: Any, expected: Any) -> list[float | None]:
    """Per-element ULP distance between an output listing and the oracle's (same dtype), else []."""
    if not isinstance(output, dict) or not isinstance(expected, dict):
        return []
    if output.get("dtype") != expected.get("dtype"):
        return []
    from reference.dtypes import dtype_from_name
    from reference.ulp import ulp_distance

    try:
        dtype = dtype_from_name(str(expected["dtype"]))
        n = min(len(_floats(output)), len(_floats(expected)))
        a = np.array([float(v) for v in _floats(output)[:n]], dtype=np.float64).astype(dtype)
        b = np.array([float(v) for v in _floats(expected)[:n]], dtype=np.float64).astype(dtype)
        distance = ulp_distance(a, b)
    except (KeyError, TypeError, ValueError):
        return []
    return [None if not np.isfinite(d) else float(d) for d in distance]


def _worst_case(worst: Any, rows_limit: int | None) -> dict[str, Any] | None:
    if not isinstance(worst, dict):
        return None
    inputs, expected, output = (
        _floats(worst.get("input")),
        _floats(worst.get("expected")),
        _floats(worst.get("output")),
    )
    ulps = element_ulps(worst.get("output"), worst.get("expected"))
    rows = [
        [i, x, e, y, ulps[i] if i < len(ulps) else None]
        for i, (x, e, y) in enumerate(zip_longest(inputs, expected, output))
    ]
    truncated = any(bool((worst.get(k) or {}).get("truncated")) for k in ("input", "expected", "output"))
    cotangent = _floats(worst.get("cotangent")) if worst.get("cotangent") is not None else None
    if cotangent is not None:  # a backward pass: the cotangent beside each input element
        rows = [[*row, cotangent[row[0]] if row[0] < len(cotangent) else None] for row in rows]
    if rows_limit is not None and len(rows) > rows_limit:
        rows, truncated = rows[:rows_limit], True
    return {
        "backward": cotangent is not None,
        "case": worst.get("case"),
        "description": worst.get("description"),
        "where": worst.get("where"),
        "length": worst.get("length"),
        "dtype": worst.get("dtype"),
        "metric": worst.get("metric"),
        "bound": worst.get("bound"),
        "shape": (worst.get("input") or {}).get("shape"),
        "out_dtype": (worst.get("output") or {}).get("dtype"),
        "no_output": worst.get("output") is None,
        "rows": rows,
        "truncated": truncated,
    }


def title(entry: dict[str, Any]) -> str:
    """The one-line name of a drill-down entry: framework version, API, mode, op, device, dtype, property."""
    framework = f"{entry.get('fw') or ''} {entry.get('ver') or ''}".strip()
    parts = (
        framework,
        entry.get("api"),
        entry.get("mode"),
        entry.get("op"),
        entry.get("dev"),
        entry.get("dt"),
    )
    return " · ".join(str(p or "") for p in (*parts, entry.get("p")))


def _message(rec: dict[str, Any]) -> str:
    """The check's message; an alias's inherited verdict says whose it is."""
    message = rec.get("message") or ""
    inherited = rec.get("inherited_from")
    if inherited:
        return f"inherited from {inherited} (outputs identical bit for bit on every call): {message}".rstrip(
            ": "
        )
    return message


def _entry(rec: dict[str, Any], level: str, source: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "v": rec["verdict"],
        "fw": rec.get("framework"),
        "ver": rec.get("framework_version"),
        "api": rec.get("api"),
        "mode": rec.get("mode"),
        "op": op_label(str(rec.get("op", "")), str(rec.get("operation") or "")),
        "dev": rec.get("device"),
        "dt": rec.get("dtype"),
        "p": rec.get("property"),
        "impl": rec.get("implementation"),
        "msg": _message(rec),
        "m": rec.get("metric"),
        "tol": rec.get("tolerance"),
        "u": rec.get("unit"),
    }
    if source is not None:
        entry["src"] = source
    if level == "min":
        entry["lvl"] = level
        return entry
    known = rec.get("known_issue")
    entry.update(
        {
            "med": rec.get("median"),
            "nc": rec.get("n_cases"),
            "nf": rec.get("n_failed"),
            "seed": rec.get("seed"),
            "prof": rec.get("profile"),
            "known": known,
            "also": list(rec.get("also_known") or []),
            "fc": _failing_inputs(rec.get("failing_cases"), rec.get("failing_conditions")),
            "wc": _worst_case(rec.get("worst_case"), None if level == "full" else SHORT_ROWS),
            "lvl": level,
        }
    )
    repro = rec.get("repro")
    if level == "full" and isinstance(repro, str) and len(repro) <= REPRO_LIMIT:
        entry["repro"] = repro
    elif isinstance(repro, str):
        entry["repro_kb"] = round(len(repro) / 1024, 1)
    return entry


FAILING_INPUTS_SHOWN = 12


def _failing_inputs(cases: object, conditions: object = None) -> str | None:
    """The inputs holding a failing slice, as one line (the first ``FAILING_INPUTS_SHOWN``), each
    followed by the conditions its failing slices met in brackets (``conformance.slice_conditions``;
    one group per kind of slice, "none" for a kind meeting none), which the registry's
    ``condition`` entries are matched against."""
    if not isinstance(cases, list) or not cases:
        return None
    kinds = conditions if isinstance(conditions, dict) else {}

    def shown(case: object) -> str:
        met = kinds.get(case)
        if not met:
            return str(case)
        groups = " | ".join("+".join(kind) or "none" for kind in met)
        return f"{case} [{groups}]"

    more = f" and {len(cases) - FAILING_INPUTS_SHOWN} more" if len(cases) > FAILING_INPUTS_SHOWN else ""
    return ", ".join(shown(c) for c in cases[:FAILING_INPUTS_SHOWN]) + more


def build_details(run: Run, multi: bool) -> tuple[dict[str, Any], dict[int, int], str]:
    """The blob ``{"files": {source: results file}, "d": [entries]}``, ``id(record) -> index``, a note.

    Entries are in priority order; each names its ``src`` (source label) when the run has
    several, and the page derives the jq filter for the full record from the entry's fields.
    """
    files = {s["source"]: str(s.get("merged_from") or run.path) for s in run.sources}
    if not run.merged:
        files = {s["source"]: str(run.path) for s in run.sources}
    custom = {s["source"]: custom_arguments(s) for s in run.sources}
    candidates = sorted((r for r in run.checks if r["verdict"] in DETAIL_VERDICTS), key=_priority)
    entries: list[dict[str, Any]] = []
    keys: dict[int, int] = {}
    used = 0
    cut = {"short": 0, "min": 0, "big": 0}
    for rec in candidates:
        source = run.source_of(rec)
        level = "full" if used < FULL_BUDGET else "short" if used < SHORT_BUDGET else "min"
        entry = _entry(rec, level, source if multi else None)
        size = len(json.dumps(entry)) if level != "min" else 250
        if level == "full" and used + size > FULL_BUDGET and used > 0:
            level = "short"
            entry = _entry(rec, level, source if multi else None)
            size = len(json.dumps(entry))
        if level != "full":
            cut[level] += 1
        elif "repro_kb" in entry:
            cut["big"] += 1
        impl_args = custom.get(source, {}).get(str(rec.get("framework")))
        if impl_args is not None:  # your own implementation: its replay carries the --impl* options
            entry["rp"] = replay_command(rec, impl_args)
        used += size
        keys[id(rec)] = len(entries)
        entries.append(entry)
    notes = []
    if cut["short"] or cut["min"]:
        notes.append(
            f"To keep the page small, {cut['short']} drill-down(s) show 8 elements and no repro, and "
            f"{cut['min']} show only their summary (the least severe ones); the full records are in "
            "the results file (each drill-down gives a jq filter that prints its record)."
        )
    if cut["big"]:
        notes.append(
            f"{cut['big']} repro snippet(s) over {REPRO_LIMIT // 1000} kB are left in the results file."
        )
    return {"files": files, "d": entries}, keys, " ".join(notes)
