"""Baseline against candidate: what changed between two runs, cell by cell.

Cells are matched on ``cells.cell_key`` = (framework, api, mode, op, device, dtype,
property), never on implementation id or framework version, which differ between the runs
being compared. Cells present in one run only are listed (coverage), not ignored.

What is reported, for the cells both runs have:

* regressions: the check held in the baseline (pass, fixed) and does not in the candidate
  (fail, expected-fail, error) -- the exit status is 1 when there is any;
* fixes: the reverse;
* other verdict changes (e.g. pass -> unsupported, fail -> expected-fail);
* ULP drift: the worst ULP error (properties measured in ULPs) moved by more than the
  threshold, or became non-finite, whatever the verdicts;
* output bits changed, honestly limited to what the results hold: (1) the output on the
  fixed 16-element sample vector of each (framework, api, mode, op, device, dtype), compared
  bit for bit (sign of zero included; NaN payloads are not recorded and compare equal), and
  (2) the output on the recorded worst case of a check, where both runs recorded a worst case
  on the same input (its first 64 elements: listings are truncated there). The thousands of
  other inputs a run judges are not recorded, so a bit change on them shows only through the
  metrics (drift) or the verdicts;
* semantics changes: the behaviour recorded on each special input (``semantics`` records,
  matched on the cell without the property, plus the case) changed: its classification, the
  observed output (bit for bit, as listed: first 64 elements), its dtype, raising instead of
  returning (or another exception type), the input itself, or the record is in one run only
  while both runs hold the cell. A classification that went from matching the limit (or an
  undefined input) to a difference from it (documented or not) or to an error (the call
  raised) is a semantic regression, and
  makes the exit status 1 like a regression; the reverse is a fix; the rest are changes.
  Semantics records of cells in one run only are coverage: counted in a note, not compared.

A merged run may hold several records of one cell (one per source): such a cell is taken
by its worst verdict and its largest error, and the page says how many there were.
"""

from __future__ import annotations

import math
import struct
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance.records import Run
from conformance.report.cells import (
    BAD,
    CELL_FIELDS,
    CLASSIFICATION_SEVERITY,
    DTYPE_ORDER,
    GOOD,
    OP_ORDER,
    PROPERTY_ORDER,
    SEMANTICS_BAD,
    SEMANTICS_GOOD,
    SEMANTICS_ORDER,
    as_number,
    fmt_num,
    order_index,
    sample_key,
    worst_verdict,
)
from conformance.report.load import index_checks
from conformance.report.model import environment_rows
from conformance.report.model import values_text as _values

MAX_ROWS = 1000
# Semantics classifications that hold and that do not: ``cells.SEMANTICS_GOOD`` / ``SEMANTICS_BAD``
# (a move from the first to the second is a semantic regression).


@dataclass
class Side:
    """One run's view of one cell: worst verdict, worst metric, versions, how many records."""

    verdict: str
    metric: float | None
    unit: str
    version: str
    records: int
    message: str


@dataclass
class Change:
    """One cell that changed; ``key`` follows ``CELL_FIELDS`` (property '' for a sample).

    For a semantics change the last field of ``key`` is the special input's case, the sides'
    ``verdict`` is the classification (a side is None where the run has no record), and ``kind``
    is "regression", "fix" or "change".
    """

    key: tuple[str, ...]
    base: Side | None
    cand: Side | None
    delta: float | None = None
    note: str = ""
    kind: str = ""

    @property
    def group(self) -> str:
        framework, api, mode, op = self.key[:4]
        return f"{framework} · {api} · {mode} · {op}"


@dataclass
class Comparison:
    """The result of ``compare_runs``; lists are sorted by implementation, property, dtype, device."""

    baseline: str
    candidate: str
    environment: list[tuple[str, str, str]]
    threshold: float
    common: int
    regressions: list[Change] = field(default_factory=list)
    fixes: list[Change] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    drift: list[Change] = field(default_factory=list)
    bits: list[Change] = field(default_factory=list)
    bits_compared: dict[str, int] = field(default_factory=dict)
    only_baseline: list[tuple[str, ...]] = field(default_factory=list)
    only_candidate: list[tuple[str, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    semantics: list[Change] = field(default_factory=list)
    semantics_compared: int = 0

    @property
    def semantic_regressions(self) -> list[Change]:
        return [c for c in self.semantics if c.kind == "regression"]

    @property
    def semantic_fixes(self) -> list[Change]:
        return [c for c in self.semantics if c.kind == "fix"]

    @property
    def failed(self) -> bool:
        """True when the candidate regressed: a check, or the behaviour on a special input."""
        return bool(self.regressions or self.semantic_regressions)

    @property
    def exit_status(self) -> int:
        """1 when there are regressions (checks or semantics), else 0."""
        return 1 if self.failed else 0

    def summary_lines(self) -> list[str]:
        """The comparison in a few lines for the terminal."""
        regressions, fixes = len(self.semantic_regressions), len(self.semantic_fixes)
        return [
            f"compare {self.baseline} -> {self.candidate}: {self.common} cells in common",
            f"  regressions: {len(self.regressions)}",
            f"  fixes: {len(self.fixes)}",
            f"  other verdict changes: {len(self.changes)}",
            f"  worst-ULP drift > {self.threshold:g} ULP: {len(self.drift)}",
            f"  output bits changed: {len(self.bits)} (of {self.bits_compared.get('samples', 0)} sample"
            f" outputs and {self.bits_compared.get('worst_cases', 0)} worst-case outputs compared)",
            f"  semantics changes on special inputs: {len(self.semantics)}"
            f" ({regressions} regression{'' if regressions == 1 else 's'},"
            f" {fixes} fix{'' if fixes == 1 else 'es'}; of {self.semantics_compared} records in both runs)",
            f"  only in baseline: {len(self.only_baseline)} cells;"
            f" only in candidate: {len(self.only_candidate)}",
        ]


def _side(records: list[dict[str, Any]]) -> Side:
    metrics = [as_number(r.get("metric")) for r in records]
    numbers = [m for m in metrics if m is not None]
    nonfinite = [m for m in numbers if not math.isfinite(m)]
    metric = nonfinite[0] if nonfinite else (max(numbers) if numbers else None)
    verdict = worst_verdict([r["verdict"] for r in records])
    message = next((str(r.get("message") or "") for r in records if r["verdict"] == verdict), "")
    return Side(
        verdict=verdict,
        metric=metric,
        unit=str(records[0].get("unit") or ""),
        version=", ".join(sorted({str(r.get("framework_version") or "") for r in records})),
        records=len(records),
        message=message,
    )


def _sort_key(key: tuple[str, ...]) -> tuple:
    framework, api, mode, op, device, dtype, prop = key
    return (
        framework,
        order_index(op, OP_ORDER),
        api,
        mode,
        order_index(prop, PROPERTY_ORDER),
        order_index(dtype, DTYPE_ORDER),
        device,
    )


def _bits(value: Any) -> Any:
    """A value's identity for "bits changed": float64 bytes (exact for every dtype), 'nan' as is."""
    number = as_number(value)
    if number is None or math.isnan(number):
        return value if number is None else "nan"
    return struct.pack(">d", number)


def _listing_diff(a: Any, b: Any) -> tuple[int, float | None] | None:
    """(elements whose bits differ, max ULP distance) between two listings, or None if not comparable."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return (1, None) if (a is None) != (b is None) else None
    if a.get("dtype") != b.get("dtype") or a.get("shape") != b.get("shape"):
        return (max(len(a.get("values") or []), 1), None)
    va, vb = list(a.get("values") or []), list(b.get("values") or [])
    differing = sum(1 for x, y in zip(va, vb, strict=False) if _bits(x) != _bits(y)) + abs(len(va) - len(vb))
    if not differing:
        return (0, 0.0)
    try:
        from reference.dtypes import dtype_from_name
        from reference.ulp import ulp_distance

        dtype = dtype_from_name(str(a["dtype"]))
        n = min(len(va), len(vb))
        xa = np.array([float(v) for v in va[:n]]).astype(dtype)
        xb = np.array([float(v) for v in vb[:n]]).astype(dtype)
        distance = ulp_distance(xa, xb)
        finite = distance[np.isfinite(distance)]
        return (differing, float(finite.max()) if finite.size else None)
    except (KeyError, TypeError, ValueError):
        return (differing, None)


def _same_input(a: dict[str, Any], b: dict[str, Any]) -> bool:
    ia, ib = a.get("input") or {}, b.get("input") or {}
    if ia.get("shape") != ib.get("shape") or ia.get("dtype") != ib.get("dtype"):
        return False
    return [_bits(v) for v in ia.get("values") or []] == [_bits(v) for v in ib.get("values") or []]


def _label(run: Run) -> str:
    return str(run.envelope.get("run_id") or run.path)


def _environment(baseline: Run, candidate: Run) -> list[tuple[str, str, str]]:
    base = {name: " | ".join(v for v in values if v) for name, values in environment_rows(baseline)}
    cand = {name: " | ".join(v for v in values if v) for name, values in environment_rows(candidate)}
    names = list(base) + [n for n in cand if n not in base]
    return [(n, base.get(n, ""), cand.get(n, "")) for n in names if n not in ("command", "merged from")]


def compare_runs(baseline: Run, candidate: Run, *, ulp_threshold: float = 1.0) -> Comparison:
    """Compare two runs (plain or merged); see the module docstring for what is reported."""
    base_index, cand_index = index_checks(baseline.checks), index_checks(candidate.checks)
    common = sorted(set(base_index) & set(cand_index), key=_sort_key)
    result = Comparison(
        baseline=_label(baseline),
        candidate=_label(candidate),
        environment=_environment(baseline, candidate),
        threshold=ulp_threshold,
        common=len(common),
        only_baseline=sorted(set(base_index) - set(cand_index), key=_sort_key),
        only_candidate=sorted(set(cand_index) - set(base_index), key=_sort_key),
    )
    duplicates = 0
    worst_cases = 0
    for key in common:
        brecs, crecs = base_index[key], cand_index[key]
        duplicates += (len(brecs) > 1) + (len(crecs) > 1)
        base, cand = _side(brecs), _side(crecs)
        if base.verdict != cand.verdict:
            change = Change(key, base, cand)
            if base.verdict in GOOD and cand.verdict in BAD:
                result.regressions.append(change)
            elif base.verdict in BAD and cand.verdict in GOOD:
                result.fixes.append(change)
            else:
                result.changes.append(change)
        if base.unit == "ULP" and cand.unit == "ULP" and base.metric is not None and cand.metric is not None:
            if math.isfinite(base.metric) and math.isfinite(cand.metric):
                delta = cand.metric - base.metric
                if abs(delta) > ulp_threshold:
                    result.drift.append(Change(key, base, cand, delta=delta))
            elif not (math.isnan(base.metric) and math.isnan(cand.metric)) and base.metric != cand.metric:
                result.drift.append(Change(key, base, cand, note="non-finite error"))
        if len(brecs) == 1 and len(crecs) == 1:
            bw, cw = brecs[0].get("worst_case"), crecs[0].get("worst_case")
            if isinstance(bw, dict) and isinstance(cw, dict) and bw.get("output") and cw.get("output"):
                if _same_input(bw, cw):
                    worst_cases += 1
                    diff = _listing_diff(bw.get("output"), cw.get("output"))
                    if diff and diff[0]:
                        note = f"worst case {bw.get('case', '')}: {diff[0]} element(s) differ" + (
                            f", up to {fmt_num(diff[1])} ULP apart" if diff[1] is not None else ""
                        )
                        result.bits.append(Change(key, base, cand, delta=diff[1], note=note))
    samples = _compare_samples(baseline, candidate, result)
    _compare_semantics(baseline, candidate, result)
    result.bits.sort(key=lambda c: _sort_key(c.key))
    result.bits_compared = {"samples": samples, "worst_cases": worst_cases}
    if duplicates:
        result.notes.append(
            f"{duplicates} cell(s) have several records in one run (a merged run): each is compared by its"
            " worst verdict and its largest error."
        )
    return result


def _compare_samples(baseline: Run, candidate: Run, result: Comparison) -> int:
    base: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    cand: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for rec in baseline.samples:
        base[sample_key(rec)].append(rec)
    for rec in candidate.samples:
        cand[sample_key(rec)].append(rec)
    compared = 0
    for key in set(base) & set(cand):
        if len(base[key]) != 1 or len(cand[key]) != 1:
            continue
        b, c = base[key][0], cand[key][0]
        compared += 1
        diff = _listing_diff(b.get("output"), c.get("output"))
        if diff and diff[0]:
            note = f"sample vector: {diff[0]} of 16 element(s) differ" + (
                f", up to {fmt_num(diff[1])} ULP apart" if diff[1] is not None else ""
            )
            versions = (str(b.get("framework_version") or ""), str(c.get("framework_version") or ""))
            sides = [Side("", None, "", v, 1, "") for v in versions]
            result.bits.append(Change((*key, ""), sides[0], sides[1], delta=diff[1], note=note))
    return compared


def _semantics_key(record: dict[str, Any]) -> tuple[str, ...]:
    return (*sample_key(record), str(record.get("case") or ""))


def _semantics_sort_key(key: tuple[str, ...]) -> tuple:
    framework, api, mode, op, device, dtype, case = key
    return (
        framework,
        order_index(op, OP_ORDER),
        api,
        mode,
        order_index(case.split("[")[0], SEMANTICS_ORDER),
        case,
        order_index(dtype, DTYPE_ORDER),
        device,
    )


def _listing_bits(listing: Any) -> Any:
    if not isinstance(listing, dict):
        return None
    values = tuple(_bits(v) for v in listing.get("values") or [])
    return (str(listing.get("dtype")), str(listing.get("shape")), values, bool(listing.get("truncated")))


def _error_type(record: dict[str, Any]) -> str | None:
    """The exception type a special input raised ('ValueError'), None when it returned (the message
    may hold addresses or versions, so only the type is compared)."""
    error = record.get("error")
    return None if not error else str(error).split(":")[0].strip()


def _behaviour(record: dict[str, Any]) -> tuple:
    """What a semantics record says the implementation did, as a comparable value."""
    return (
        str(record.get("classification") or ""),
        _error_type(record),
        str(record.get("observed_dtype") or ""),
        _listing_bits(record.get("observed")),
        _listing_bits(record.get("input")),
    )


def _observed_text(record: dict[str, Any]) -> str:
    if record.get("error"):
        return f"raises {str(record['error'])[:120]}"
    dtype = record.get("observed_dtype")
    return f"{_values(record.get('observed'))}" + (f" {dtype}" if dtype else "")


def _semantics_side(records: list[dict[str, Any]]) -> Side:
    rank = {c: i for i, c in enumerate(CLASSIFICATION_SEVERITY)}
    worst = min(records, key=lambda r: rank.get(str(r.get("classification")), len(rank)))
    return Side(
        verdict=str(worst.get("classification") or ""),
        metric=None,
        unit="",
        version=", ".join(sorted({str(r.get("framework_version") or "") for r in records})),
        records=len(records),
        message=_observed_text(worst),
    )


def _semantics_note(brecs: list[dict[str, Any]], crecs: list[dict[str, Any]]) -> str:
    """What changed on one special input, in words."""
    if len(brecs) != 1 or len(crecs) != 1:
        return f"observations differ ({len(brecs)} record(s) → {len(crecs)})"
    b, c = brecs[0], crecs[0]
    parts = []
    if _listing_bits(b.get("input")) != _listing_bits(c.get("input")):
        parts.append(f"the input differs: {_values(b.get('input'))} → {_values(c.get('input'))}")
    before, after = _observed_text(b), _observed_text(c)
    if before != after or _listing_bits(b.get("observed")) != _listing_bits(c.get("observed")):
        parts.append(f"observed {before} → {after}")
        diff = _listing_diff(b.get("observed"), c.get("observed"))
        if diff and diff[0] and isinstance(b.get("observed"), dict) and isinstance(c.get("observed"), dict):
            parts[-1] += f" ({diff[0]} element(s) differ" + (
                f", up to {fmt_num(diff[1])} ULP apart)" if diff[1] is not None else ")"
            )
    if b.get("classification") != c.get("classification"):
        parts.append(f"{b.get('classification')} → {c.get('classification')}")
    return "; ".join(parts) or "observations differ"


def _compare_semantics(baseline: Run, candidate: Run, result: Comparison) -> None:
    """Semantics records matched on the cell and the case (see the module docstring)."""
    base: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    cand: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for rec in baseline.semantics:
        base[_semantics_key(rec)].append(rec)
    for rec in candidate.semantics:
        cand[_semantics_key(rec)].append(rec)
    # The cells each run holds: a record in one run only is a change where the other run ran the cell.
    cells = [
        {sample_key(r) for r in (*run.checks, *run.semantics, *run.samples)} for run in (baseline, candidate)
    ]
    both_cells = cells[0] & cells[1]
    uncovered = 0
    for key in sorted(set(base) | set(cand), key=_semantics_sort_key):
        brecs, crecs = base.get(key, []), cand.get(key, [])
        if brecs and crecs:
            result.semantics_compared += 1
            if sorted(map(repr, map(_behaviour, brecs))) == sorted(map(repr, map(_behaviour, crecs))):
                continue
            bside, cside = _semantics_side(brecs), _semantics_side(crecs)
            kind = "change"
            if bside.verdict in SEMANTICS_GOOD and cside.verdict in SEMANTICS_BAD:
                kind = "regression"
            elif bside.verdict in SEMANTICS_BAD and cside.verdict in SEMANTICS_GOOD:
                kind = "fix"
            result.semantics.append(Change(key, bside, cside, note=_semantics_note(brecs, crecs), kind=kind))
        elif key[:6] not in both_cells:
            uncovered += len(brecs) + len(crecs)
        else:
            where, side = (
                ("baseline", _semantics_side(brecs)) if brecs else ("candidate", _semantics_side(crecs))
            )
            note = f"only in the {where}: {side.verdict}, observed {side.message}"
            result.semantics.append(
                Change(key, side if brecs else None, side if crecs else None, note=note, kind="change")
            )
    if uncovered:
        result.notes.append(
            f"{uncovered} semantics record(s) of cells in one run only (coverage) are not compared."
        )


def grouped(changes: list[Change], limit: int = MAX_ROWS) -> list[tuple[str, list[Change]]]:
    """Changes grouped by implementation (framework · api · mode · op), in order, at most ``limit``."""
    groups: dict[str, list[Change]] = {}
    for change in changes[:limit]:
        groups.setdefault(change.group, []).append(change)
    return list(groups.items())


def coverage(keys: list[tuple[str, ...]]) -> list[tuple[str, int, str]]:
    """Cells present in one run only, per implementation: (implementation, cells, what they cover)."""
    per: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for key in keys:
        per[" · ".join(key[:4])].append(key)
    rows = []
    for name, cells in per.items():
        fields = dict(zip(CELL_FIELDS, zip(*cells, strict=True), strict=True))
        dtypes = sorted(set(fields["dtype"]), key=lambda d: order_index(d, DTYPE_ORDER))
        what = (
            f"devices {', '.join(sorted(set(fields['device'])))}; dtypes {', '.join(dtypes)}; "
            f"{len(set(fields['property']))} properties"
        )
        rows.append((name, len(cells), what))
    return rows


def compare_markdown(comparison: Comparison, html_name: str | None = None) -> str:
    """The comparison as Markdown (CI job summary)."""
    from conformance.report.markdown import MAX_ROWS as MD_ROWS
    from conformance.report.markdown import cell

    c = comparison
    icon = "❌" if c.failed else "✅"
    lines = [f"## {icon} softmax-conformance: {cell(c.baseline)} → {cell(c.candidate)}", ""]
    lines += [f"- {cell(line.strip())}" for line in c.summary_lines()[1:]]
    if html_name:
        lines += ["", f"Full comparison: `{cell(html_name)}` (self-contained HTML)."]
    for note in c.notes:
        lines += ["", f"> {cell(note, 400)}"]
    for title, changes in (
        ("Regressions", c.regressions),
        ("Fixes", c.fixes),
        ("Other verdict changes", c.changes),
        (f"Worst-ULP drift > {c.threshold:g} ULP", c.drift),
        ("Output bits changed", c.bits),
    ):
        if not changes:
            continue
        lines += ["", f"### {title} ({len(changes)})", ""]
        lines.append("| implementation | property | dtype | device | baseline | candidate | note |")
        lines.append("|---|---|---|---|---|---|---|")
        for change in changes[:MD_ROWS]:
            lines.append(
                "| "
                + " | ".join(
                    cell(v)
                    for v in (
                        change.group,
                        change.key[6],
                        change.key[5],
                        change.key[4],
                        _side_text(change.base),
                        _side_text(change.cand),
                        change.note or (f"{change.delta:+.3g} ULP" if change.delta is not None else ""),
                    )
                )
                + " |"
            )
        if len(changes) > MD_ROWS:
            lines.append(f"\n…and {len(changes) - MD_ROWS} more (see the HTML comparison).")
    if c.semantics:
        lines += ["", f"### Semantics changes on special inputs ({len(c.semantics)})", ""]
        lines.append(
            "| implementation | special input | dtype | device | change | baseline | candidate | note |"
        )
        lines.append("|---|---|---|---|---|---|---|---|")
        for change in c.semantics[:MD_ROWS]:
            values = (
                change.group,
                change.key[6],
                change.key[5],
                change.key[4],
                change.kind,
                _side_text(change.base),
                _side_text(change.cand),
                change.note,
            )
            lines.append("| " + " | ".join(cell(v) for v in values) + " |")
        if len(c.semantics) > MD_ROWS:
            lines.append(f"\n…and {len(c.semantics) - MD_ROWS} more (see the HTML comparison).")
    for title, keys in (
        ("Only in the baseline", c.only_baseline),
        ("Only in the candidate", c.only_candidate),
    ):
        if keys:
            lines += [
                "",
                f"### {title} ({len(keys)} cells)",
                "",
                "| implementation | cells | coverage |",
                "|---|---|---|",
            ]
            lines += [f"| {cell(n)} | {k} | {cell(w)} |" for n, k, w in coverage(keys)[:MD_ROWS]]
    return "\n".join(lines) + "\n"


def _side_text(side: Side | None) -> str:
    if side is None:
        return ""
    parts = [side.verdict, f"{fmt_num(side.metric)} {side.unit}".strip() if side.metric is not None else ""]
    text = " ".join(p for p in parts if p)
    return f"{text} ({side.version})" if side.version else text
