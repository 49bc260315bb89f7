"""The version trend: the same checks measured under several releases of their framework.

A merged run of the tox matrix (``tox -e report``) holds each check once per environment.
``build_trend(run)`` groups the check records by cell -- (framework, api, mode, op, property,
dtype, device) -- and by the framework's version, ordered as releases, and gives for each cell
and version the worst verdict over the environments that ran that version and the worst ULP
error (properties measured in ULPs). Between consecutive versions that measured a cell:

* a discrepancy *appeared*: the check held (pass, fixed) and then does not (fail,
  expected-fail, error); it *disappeared*: the reverse. ``fail`` and ``expected-fail`` are the
  same state here (the registry's version ranges decide between them, not the numerics);
* *changed*: any other change of state (unsupported or skipped on one side);
* *drift*: the same state, and the worst ULP error moved by more than a factor 2 and 1 ULP.

Semantics records (the behaviour on each special input: all ``-inf``, NaN, empty, ...) are
trend rows too, one per special input (property ``semantics <case>``); a point's verdict is the
record's classification. A classification that moves from the oracle's limit (``matches-limit``,
``undefined-input``) to a difference (``documented-difference``, ``undocumented-difference``,
``error``) *appeared*, the reverse *disappeared*; any other change of what was observed (the
output's values or dtype, the exception type) is a *semantics* change, described with the
outputs before and after.

So the first version where a discrepancy appeared or disappeared reads off a row's
transitions. Frameworks measured at one version only have no trend (listed apart).
``trend_markdown`` renders the changes for a CI summary; the HTML partial
``templates/_trend.html.j2`` renders every row.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from packaging.version import InvalidVersion, Version

from conformance.records import Run
from conformance.report.cells import (
    BAD,
    CLASSIFICATION_SEVERITY,
    DTYPE_ORDER,
    DTYPE_SHORT,
    GOOD,
    OP_ORDER,
    PROPERTY_ORDER,
    SEMANTICS_BAD,
    SEMANTICS_GOOD,
    as_number,
    fmt_ulp,
    markdown_cell,
    order_index,
    worst_verdict,
)

TREND_FIELDS = ("framework", "api", "mode", "op", "property", "dtype", "device")
ULP_UNIT = "ULP"


@dataclass
class TrendPoint:
    """One cell at one framework version: worst verdict and worst ULP error over its environments."""

    version: str
    verdict: str  # a check's worst verdict; a semantics row's classification
    ulp: float | None
    sources: list[str]
    observed: str = ""  # semantics rows: what the implementation did (values or the exception type)


@dataclass
class Transition:
    """What changed for one cell between two consecutive versions that measured it."""

    kind: str  # appeared | disappeared | changed | drift
    previous: str  # the last version before the change
    version: str  # the first version after it
    before: str  # verdict at ``previous``
    after: str  # verdict at ``version``
    detail: str = ""  # semantics changes: the observed outputs before and after

    def describe(self) -> str:
        """A few words: ``appeared in 2.18.1``, ``gone in 0.6.2``, ``pass → unsupported in 1.2``."""
        if self.kind == "semantics":
            return f"semantics changed in {self.version}: {self.detail}"
        said = f" ({self.detail})" if self.detail else ""
        if self.kind == "appeared":
            return f"appeared in {self.version}{said}"
        if self.kind == "disappeared":
            return f"gone in {self.version}{said}"
        if self.kind == "drift":
            return f"ULP error moved in {self.version}"
        return f"{self.before} → {self.after} in {self.version}"


@dataclass
class TrendRow:
    """One cell across the versions of its framework."""

    key: tuple[str, ...]  # TREND_FIELDS
    points: dict[str, TrendPoint]
    transitions: list[Transition] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.transitions)

    @property
    def summary(self) -> str:
        """``appeared in 2.18.1; gone in 2.20.0``, or the steady state across every version."""
        if self.transitions:
            return "; ".join(t.describe() for t in self.transitions)
        states = {_state(p.verdict) for p in self.points.values()}
        if states == {"held"}:
            return "holds in every version"
        if states == {"broken"}:
            return "discrepancy in every version"
        return "not judged" if states == {"not judged"} else "steady"

    def field(self, name: str) -> str:
        return self.key[TREND_FIELDS.index(name)]


@dataclass
class FrameworkTrend:
    """Every cell of one framework measured at two or more versions."""

    framework: str
    versions: list[str]
    sources: dict[str, list[str]]  # version -> environments that ran it
    rows: list[TrendRow]

    @property
    def changed(self) -> list[TrendRow]:
        return [r for r in self.rows if r.changed]

    @property
    def steady_discrepancies(self) -> list[TrendRow]:
        return [r for r in self.rows if not r.changed and r.summary == "discrepancy in every version"]

    @property
    def steady_rest(self) -> list[TrendRow]:
        return [r for r in self.rows if not r.changed and r.summary != "discrepancy in every version"]

    def counts(self) -> dict[str, int]:
        """Transitions by kind, counted once per row and kind."""
        counts: dict[str, int] = defaultdict(int)
        for row in self.rows:
            for kind in {t.kind for t in row.transitions}:
                counts[kind] += 1
        return dict(counts)


@dataclass
class VersionTrend:
    """The trend of every framework measured at several versions; the others, with their version."""

    frameworks: list[FrameworkTrend]
    single: dict[str, str]  # framework -> its one version

    def legacy_rows(self, limit: int = 400) -> list[dict[str, Any]]:
        """Changed rows as ``{"key": TREND_FIELDS values, "versions": {version: {"verdict", "ulp"}}}``."""
        rows = [
            {
                "key": r.key,
                "versions": {v: {"verdict": p.verdict, "ulp": p.ulp} for v, p in r.points.items()},
            }
            for f in self.frameworks
            for r in f.changed
        ]
        return rows[:limit]

    def versions_by_framework(self) -> dict[str, list[str]]:
        return {f.framework: f.versions for f in self.frameworks}


def version_key(version: str) -> tuple:
    """Release order (PEP 440; ``2.13.0+cpu`` after ``2.13.0``); unparsable versions last, by text."""
    try:
        return (0, Version(version), version)
    except InvalidVersion:
        return (1, Version("0"), version)


SEMANTICS_PREFIX = "semantics "  # a semantics row's property: ``semantics nan_entry[0]``


def _state(verdict: str) -> str:
    if verdict in GOOD or verdict in SEMANTICS_GOOD:
        return "held"
    if verdict in BAD or verdict in SEMANTICS_BAD:
        return "broken"
    return "not judged"


def _observed(record: dict[str, Any]) -> str:
    """What a semantics record says the implementation did, in short (compared between versions)."""
    if record.get("error"):
        return f"raises {str(record['error']).split(':')[0].strip()}"
    observed = record.get("observed")
    values = observed.get("values") if isinstance(observed, dict) else observed
    text = ", ".join(str(v) for v in (values or [])[:6]) if isinstance(values, list) else str(values)
    return f"[{text}] {record.get('observed_dtype') or ''}".rstrip()


def _semantics_point(version: str, records: list[dict[str, Any]], run: Run) -> TrendPoint:
    rank = {c: i for i, c in enumerate(CLASSIFICATION_SEVERITY)}
    worst = min(records, key=lambda r: rank.get(str(r.get("classification")), len(rank)))
    return TrendPoint(
        version=version,
        verdict=str(worst.get("classification") or ""),
        ulp=None,
        sources=sorted({run.source_of(r) for r in records}),
        observed="; ".join(sorted({_observed(r) for r in records})),
    )


def _point(version: str, records: list[dict[str, Any]], run: Run) -> TrendPoint:
    ulps = [as_number(r.get("metric")) for r in records if r.get("unit") == ULP_UNIT]
    numbers = [u for u in ulps if u is not None and not math.isnan(u)]
    return TrendPoint(
        version=version,
        verdict=worst_verdict([str(r["verdict"]) for r in records]),
        ulp=max(numbers) if numbers else None,
        sources=sorted({run.source_of(r) for r in records}),
    )


def _drift(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return False
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.isfinite(a) != math.isfinite(b)
    low, high = min(a, b), max(a, b)
    return high - low > 1 and high > 2 * max(low, 0.5)


def transitions(points: list[TrendPoint]) -> list[Transition]:
    """The changes between consecutive points (already in version order); see the module doc."""
    found = []
    for before, after in itertools.pairwise(points):
        s0, s1 = _state(before.verdict), _state(after.verdict)
        if (s0, s1) == ("held", "broken"):
            kind = "appeared"
        elif (s0, s1) == ("broken", "held"):
            kind = "disappeared"
        elif s0 != s1:
            kind = "changed"
        elif before.observed != after.observed or (before.observed and before.verdict != after.verdict):
            kind = "semantics"
        elif _drift(before.ulp, after.ulp):
            kind = "drift"
        else:
            continue
        detail = ""
        if before.observed or after.observed:
            detail = f"{before.verdict} {before.observed} → {after.verdict} {after.observed}"
        found.append(Transition(kind, before.version, after.version, before.verdict, after.verdict, detail))
    return found


def _row_order(row: TrendRow) -> tuple:
    _, api, mode, op, prop, dtype, device = row.key
    return (
        order_index(op, OP_ORDER),
        api,
        mode,
        order_index(prop, PROPERTY_ORDER),
        order_index(dtype, DTYPE_ORDER),
        device,
    )


def build_trend(run: Run) -> VersionTrend:
    """The version trend of ``run`` (plain or merged); frameworks with one version go to ``single``."""
    by_cell: dict[tuple[str, ...], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    versions: dict[str, set[str]] = defaultdict(set)
    sources: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for rec in run.checks:
        framework, version = str(rec.get("framework") or ""), str(rec.get("framework_version") or "")
        versions[framework].add(version)
        sources[framework][version].add(run.source_of(rec))
        key = tuple(str(rec.get(name) or "") for name in TREND_FIELDS)
        by_cell[key][version].append(rec)
    for rec in run.semantics:  # one row per special input: property "semantics <case>"
        framework, version = str(rec.get("framework") or ""), str(rec.get("framework_version") or "")
        versions[framework].add(version)
        sources[framework][version].add(run.source_of(rec))
        fields = {**rec, "property": f"{SEMANTICS_PREFIX}{rec.get('case') or ''}"}
        by_cell[tuple(str(fields.get(name) or "") for name in TREND_FIELDS)][version].append(rec)
    frameworks, single = [], {}
    for framework in sorted(versions):
        ordered = sorted(versions[framework], key=version_key)
        if len(ordered) < 2:
            single[framework] = ordered[0]
            continue
        rows = []
        for key, per_version in by_cell.items():
            if key[0] != framework:
                continue
            point = _semantics_point if key[4].startswith(SEMANTICS_PREFIX) else _point
            points = [point(v, per_version[v], run) for v in ordered if v in per_version]
            rows.append(TrendRow(key, {p.version: p for p in points}, transitions(points)))
        rows.sort(key=_row_order)
        frameworks.append(
            FrameworkTrend(
                framework,
                ordered,
                {v: sorted(sources[framework][v]) for v in ordered},
                rows,
            )
        )
    return VersionTrend(frameworks, single)


# ---- Markdown ------------------------------------------------------------------------------------

MAX_MARKDOWN_ROWS = 80


def _md_cell(text: Any) -> str:
    return markdown_cell(text)


def _md_point(point: TrendPoint | None) -> str:
    if point is None:
        return "—"
    text = point.verdict
    if point.ulp is not None:
        text += f" {fmt_ulp(point.ulp)}"
    return text


@dataclass
class ChangeGroup:
    """Changed rows of one implementation and device with the same change, for a compact summary."""

    api: str
    mode: str
    op: str
    device: str
    change: str
    rows: list[TrendRow]

    def checks(self) -> str:
        """``precision, stability: f32, bf16; bounds: f16``: the properties by the dtypes they share
        (more than four properties sharing dtypes are counted, not named)."""
        by_prop: dict[str, list[str]] = defaultdict(list)
        for row in self.rows:
            by_prop[row.field("property")].append(DTYPE_SHORT.get(row.field("dtype"), row.field("dtype")))
        by_dtypes: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for prop, dtypes in by_prop.items():
            by_dtypes[tuple(dtypes)].append(prop)
        parts = []
        for dtypes, props in by_dtypes.items():
            named = ", ".join(props) if len(props) <= 4 else f"{len(props)} properties"
            parts.append(f"{named}: {', '.join(dtypes)}")
        return "; ".join(parts)

    def point(self, version: str) -> TrendPoint | None:
        """The group's worst verdict and largest ULP error at ``version`` (None if none measured)."""
        points = [r.points[version] for r in self.rows if version in r.points]
        if not points:
            return None
        ulps = [p.ulp for p in points if p.ulp is not None]
        sources = sorted({s for p in points for s in p.sources})
        verdict = worst_verdict([p.verdict for p in points])
        return TrendPoint(version, verdict, max(ulps) if ulps else None, sources)


def change_groups(trend: FrameworkTrend) -> list[ChangeGroup]:
    """The changed rows of ``trend`` grouped by (API, mode, op, device, change), in row order."""
    groups: dict[tuple[str, ...], ChangeGroup] = {}
    for row in trend.changed:
        key = (*(row.field(n) for n in ("api", "mode", "op", "device")), row.summary)
        if key not in groups:
            groups[key] = ChangeGroup(*key, rows=[])
        groups[key].rows.append(row)
    return list(groups.values())


def trend_markdown(trend: VersionTrend, limit: int = MAX_MARKDOWN_ROWS) -> str:
    """The trend's changes as Markdown: per framework its versions, then the changed checks grouped by
    implementation, device and change (worst verdict and largest ULP error of the group per version)."""
    if not trend.frameworks:
        return ""
    lines = ["### Version trend", ""]
    for f in trend.frameworks:
        counts = f.counts()
        kinds = ("appeared", "disappeared", "changed", "semantics", "drift")
        said = ", ".join(f"{counts[k]} {k}" for k in kinds if k in counts)
        lines.append(
            f"**{_md_cell(f.framework)}** at {len(f.versions)} versions ({_md_cell(', '.join(f.versions))}): "
            f"{len(f.rows)} checks; {said or 'no changes'}; "
            f"{len(f.steady_discrepancies)} discrepancies in every version."
        )
        lines.append("")
        groups = change_groups(f)
        if not groups:
            continue
        header = ["API", "mode", "op", "device", "checks", *f.versions, "change"]
        lines.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
        lines.append("|" + "---|" * len(header))
        for group in groups[:limit]:
            values = [group.api, group.mode, group.op, group.device, group.checks()]
            values += [_md_point(group.point(v)) for v in f.versions]
            lines.append("| " + " | ".join(_md_cell(v) for v in [*values, group.change]) + " |")
        if len(groups) > limit:
            lines.append(f"\n…and {len(groups) - limit} more groups of changed checks (see the HTML report).")
        lines.append("")
    if trend.single:
        one = ", ".join(f"{name} {version}" for name, version in trend.single.items())
        lines.append(f"Measured at one version only (no trend): {_md_cell(one)}.")
    return "\n".join(lines).rstrip() + "\n"
