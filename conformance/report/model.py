"""Aggregation of a run into what the report shows, independent of HTML or Markdown.

``build_model(run)`` returns a ``ReportModel``: environments side by side, a scoreboard
per implementation, the conformance matrix (rows: framework, API, mode, op and, for a
merged run, source; columns: properties; one chip per dtype and device), the error
histograms, the semantics table, the sample records and the drill-down data. Everything
is aggregated: the page never gets one DOM row per record.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from conformance.records import UNEXPECTED, VERDICTS, Run
from conformance.report.cells import (
    CLASSIFICATION_SEVERITY,
    DTYPE_ORDER,
    DTYPE_SHORT,
    OP_ORDER,
    PROPERTY_ORDER,
    SEMANTICS_ORDER,
    VERDICT_SEVERITY,
    as_number,
    fmt_num,
    fmt_ulp,
    op_label,
    order_index,
    worst_verdict,
)
from conformance.report.details import DETAIL_VERDICTS, build_details
from conformance.report.time_panel import FrameworkTime, time_panel
from conformance.report.trend import VersionTrend, build_trend
from conformance.summary import incomplete_reasons

# Grades of the scoreboard, with the sentence that explains each (shown as a legend).
GRADES = {
    "A": "conformant: every judged check passed",
    "B": "known issues only: every failure is a listed known discrepancy",
    "C": "unexpected failures in under 10% of the judged checks",
    "F": "unexpected failures or errors in 10% or more of the judged checks",
    "–": "nothing judged: every check unsupported or skipped",
}


@dataclass
class ScoreRow:
    """One implementation (in one source) on the scoreboard."""

    framework: str
    version: str
    implementation: str
    label: str
    source: str
    counts: dict[str, int]
    judged: int
    grade: str
    pass_pct: float


@dataclass
class Chip:
    """One dtype x device inside a matrix cell: its verdict, a short text and the drill-down key.

    ``count`` is the number of checks it stands for (more than one for a merged passing chip)
    and ``ulp`` its worst error in ULPs (None when the property does not measure ULPs); the
    report's per-framework summary rows add them up.
    """

    verdict: str
    text: str
    title: str
    key: int | None = None
    count: int = 1
    ulp: float | None = None


@dataclass
class MatrixRow:
    """One implementation (in one source): chips per property, and its worst verdict."""

    framework: str
    version: str
    api: str
    mode: str
    op: str
    source: str
    cells: dict[str, list[Chip]]
    worst: str
    search: str


@dataclass
class HistogramGroup:
    """Per-slice max ULP error counts of one framework (and device) and dtype, summed over records."""

    label: str
    framework: str
    dtype: str
    edges: list[float]
    counts: list[int]
    nonfinite: int
    records: int
    worst_pass: float | None
    worst: float | None
    status: str = "passing"  # HISTOGRAM_STATUS of the checks counted: kept apart, never summed together

    @property
    def slices(self) -> int:
        return sum(self.counts) + self.nonfinite


@dataclass
class SemanticsCell:
    """All observations of one implementation on one kind of special input, summarised."""

    classification: str
    observed: str
    limit: str
    note: str
    case: str
    dtypes: str
    differing: int
    total: int


@dataclass
class SemanticsRow:
    framework: str
    version: str
    api: str
    mode: str
    op: str
    source: str
    cells: dict[str, SemanticsCell]


@dataclass
class ReportModel:
    """Everything the report shows; see the module docstring."""

    title: str
    run_id: str
    merged: bool
    sources: list[dict[str, Any]]
    environment: list[tuple[str, list[str]]]
    headline: dict[str, Any]
    scoreboard: list[ScoreRow]
    properties: list[str]
    matrix: list[MatrixRow]
    multi_device: bool
    details: dict[str, Any]
    details_note: str
    histograms: list[HistogramGroup]
    semantics_columns: list[str]
    semantics: list[SemanticsRow]
    samples: dict[str, dict[str, dict[str, Any]]]
    conflicts: list[dict[str, Any]]
    warnings: list[str]
    framework_notes: list[str]
    trend: list[dict[str, Any]] = field(default_factory=list)
    trend_versions: dict[str, list[str]] = field(default_factory=dict)
    trend_view: VersionTrend | None = None  # conformance.report.trend: every cell across versions
    time_view: list[FrameworkTime] | None = None  # conformance.report.time_panel: where the time went
    collapsed: bool = False


def _version(rec: dict[str, Any]) -> str:
    return str(rec.get("framework_version") or "")


def environment_rows(run: Run) -> list[tuple[str, list[str]]]:
    """The environment of every source side by side: (row name, one value per source)."""
    sources = run.sources
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in run.frameworks:
        by_source[run.source_of(rec)].append(rec)
    names = sorted(
        {str(r["framework"]) for r in run.frameworks if r.get("status") == "ok"},
        key=lambda n: n.lower(),
    )
    rows: list[tuple[str, list[str]]] = []

    def add(name: str, values: list[str]) -> None:
        if any(values):
            rows.append((name, values))

    add("run", [str(s.get("run_id") or "") for s in sources])
    if run.merged:
        add("source", [s["source"] for s in sources])
        add("merged from", [str(s.get("merged_from") or "") for s in sources])
    add("suite version", [str(s.get("suite_version") or "") for s in sources])
    add("started", [str(s.get("started") or "") for s in sources])
    add("profile", [str(s.get("profile") or "") for s in sources])
    add("seed", [str(s.get("seed") if s.get("seed") is not None else "") for s in sources])
    add(
        "Python",
        [
            str(s.get("python") or "")
            + (f" ({s['python_implementation']})" if s.get("python_implementation") else "")
            for s in sources
        ],
    )
    add("OS", [str(s.get("os") or "") for s in sources])
    add(
        "CPU",
        [
            str(s.get("cpu") or "") + (f" ({s['cpu_count']} cores)" if s.get("cpu_count") else "")
            for s in sources
        ],
    )
    if any(s.get("hostname") for s in sources):
        add("host", [str(s.get("hostname") or "") for s in sources])
    for name in names:
        versions, devices = [], []
        for s in sources:
            recs = [
                r for r in by_source[s["source"]] if r.get("framework") == name and r.get("status") == "ok"
            ]
            versions.append(", ".join(sorted({_framework_version(r) for r in recs})))
            devices.append("; ".join(sorted({_devices(r) for r in recs})))
        add(name, versions)
        add(f"{name} devices", devices)
    for dist in [d for d in ("numpy", "ml_dtypes", "hypothesis") if d not in names]:
        add(dist, [str((s.get("distributions") or {}).get(dist) or "") for s in sources])
    notes = []
    for s in sources:
        recs = by_source[s["source"]]
        bad = [f"{r['framework']}: {r.get('status')}" for r in recs if r.get("status") not in ("ok",)]
        notes.append("; ".join(bad))
    add("not run", notes)
    reasons = incomplete_reasons(run)
    finished = []
    for s in sources:
        prefix = f"[{s['source']}] " if run.merged else ""
        mine = [r.removeprefix(prefix) for r in reasons if r.startswith(prefix)]
        finished.append("NO: " + "; ".join(mine) if mine else "yes")
    add("finished", finished)
    add(
        "selection",
        [
            "; ".join(f"{k}={','.join(v)}" for k, v in (s.get("selection") or {}).items() if v)
            or "everything"
            for s in sources
        ],
    )
    add("command", [" ".join(["conformance", *map(str, s.get("argv") or [])]) for s in sources])
    return rows


def _framework_version(rec: dict[str, Any]) -> str:
    """A framework record's version; for your own implementations (no version), where they come
    from: ``file.py:function``, ``module:function`` or the command, as given to ``run``."""
    if rec.get("version"):
        return str(rec["version"])
    custom = (rec.get("details") or {}).get("custom")
    if custom:
        return "custom: " + "; ".join(map(str, custom))
    return "?"


def _devices(rec: dict[str, Any]) -> str:
    details = rec.get("details") or {}
    text = ", ".join(map(str, rec.get("devices") or []))
    extra = []
    gpus = details.get("gpus") or []
    if gpus:
        extra.append("GPU: " + ", ".join(map(str, gpus)))
    for key, name in (
        ("cuda", "CUDA"),
        ("cudnn", "cuDNN"),
        ("driver", "driver"),
        ("cuda_driver", "driver"),
        ("rocm", "ROCm"),
    ):
        if details.get(key):
            extra.append(f"{name} {details[key]}")
    return text + (f" ({', '.join(extra)})" if extra else "")


def _grade(counts: Counter, judged: int) -> str:
    bad = counts["fail"] + counts["error"]
    if judged == 0:
        return "–"
    if bad == 0:
        return "A" if counts["expected-fail"] == 0 else "B"
    return "C" if bad / judged < 0.1 else "F"


def scoreboard(run: Run, multi: bool) -> list[ScoreRow]:
    """Verdict counts and a grade per implementation (per source when the run has several)."""
    counts: dict[tuple, Counter] = defaultdict(Counter)
    info: dict[tuple, dict[str, Any]] = {}
    for rec in run.checks:
        key = (run.source_of(rec) if multi else "", rec.get("implementation", ""))
        counts[key][rec["verdict"]] += 1
        info.setdefault(key, rec)
    rows = []
    for key, count in counts.items():
        rec = info[key]
        judged = sum(count.values()) - count["unsupported"] - count["skipped"]
        rows.append(
            ScoreRow(
                framework=str(rec.get("framework", "")),
                version=_version(rec),
                implementation=str(rec.get("implementation", "")),
                label=f"{rec.get('api', '')} · {rec.get('mode', '')} · "
                + op_label(str(rec.get("op", "")), str(rec.get("operation") or "")),
                source=key[0],
                counts={v: count[v] for v in VERDICTS},
                judged=judged,
                grade=_grade(count, judged),
                pass_pct=100.0 * (count["pass"] + count["fixed"]) / judged if judged else 0.0,
            )
        )
    rows.sort(key=lambda r: (r.framework, r.source, r.implementation))
    return rows


def _row_sort(key: tuple) -> tuple:
    framework, api, mode, op, source = key
    return (framework, order_index(op, OP_ORDER), api, mode, source)


# Past this many checks, the passing chips of a matrix cell are merged into one (the page stays light).
COLLAPSE_ABOVE = 20_000


def matrix(
    run: Run, multi: bool, detail_keys: dict[int, int], multi_device: bool
) -> tuple[list[str], list[MatrixRow]]:
    """The conformance matrix: properties (columns) and rows of chips; see ``MatrixRow``.

    One chip per check, except in a run of more than ``COLLAPSE_ABOVE`` checks, where the
    passing checks of a cell become one chip (``✓4 ≤6.5``: four passed, worst 6.5 ULP).
    """
    collapse = len(run.checks) > COLLAPSE_ABOVE
    grouped: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    props: set[str] = set()
    for rec in run.checks:
        key = (
            str(rec.get("framework", "")),
            str(rec.get("api", "")),
            str(rec.get("mode", "")),
            str(rec.get("op", "")),
            run.source_of(rec) if multi else "",
        )
        grouped[key].append(rec)
        props.add(str(rec.get("property", "")))
    properties = sorted(props, key=lambda p: order_index(p, PROPERTY_ORDER))
    rows = []
    for key in sorted(grouped, key=_row_sort):
        recs = grouped[key]
        recs.sort(key=lambda r: (order_index(str(r.get("dtype")), DTYPE_ORDER), str(r.get("device"))))
        cells: dict[str, list[Chip]] = defaultdict(list)
        passing: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for rec in recs:
            if collapse and rec["verdict"] == "pass":
                passing[str(rec.get("property", ""))].append(rec)
                continue
            cells[str(rec.get("property", ""))].append(_chip(rec, detail_keys.get(id(rec)), multi_device))
        for prop, group in passing.items():
            cells[prop].insert(0, _merged_chip(group))
        versions = sorted({_version(r) for r in recs})
        first = recs[0]
        operation = str(first.get("operation") or "")
        rows.append(
            MatrixRow(
                framework=key[0],
                version=", ".join(versions),
                api=key[1],
                mode=key[2],
                op=op_label(key[3], operation),
                source=key[4],
                cells=dict(cells),
                worst=worst_verdict([r["verdict"] for r in recs]),
                search=" ".join((*key, *versions)).lower(),
            )
        )
    return properties, rows


def _chip(rec: dict[str, Any], key: int | None, multi_device: bool) -> Chip:
    dtype = str(rec.get("dtype", ""))
    device = str(rec.get("device", ""))
    text = DTYPE_SHORT.get(dtype, dtype)
    if multi_device:
        text += "·" + device.replace("cuda:", "gpu")
    verdict = rec["verdict"]
    ulp = rec.get("unit") == "ULP" and verdict not in ("unsupported", "skipped")
    ulp_value = as_number(rec.get("metric")) if ulp else None
    if ulp_value is not None:
        text += " " + fmt_ulp(ulp_value)
    if verdict == "pass":  # the chip's text says it all; no title keeps 100,000-record pages small
        return Chip(verdict=verdict, text=text, title="", key=key, ulp=ulp_value)
    title = f"{dtype} {device}: {verdict}"
    metric = as_number(rec.get("metric"))
    if metric is not None and verdict not in ("unsupported", "skipped"):
        title += f", {fmt_num(metric)} {rec.get('unit', '')}"
        if as_number(rec.get("tolerance")) is not None:
            title += f" (bound {fmt_num(rec.get('tolerance'))})"
    if verdict in ("unsupported", "skipped") and rec.get("message"):
        title += f": {str(rec['message'])[:120]}"
    return Chip(verdict=verdict, text=text, title=title, key=key, ulp=ulp_value)


def _merged_chip(recs: list[dict[str, Any]]) -> Chip:
    """One chip for several passing checks of a cell: how many, and the worst ULP error."""
    metrics = [as_number(r.get("metric")) for r in recs if r.get("unit") == "ULP"]
    metrics = [m for m in metrics if m is not None]
    text = f"✓{len(recs)}" + (f" ≤{fmt_ulp(max(metrics))}" if metrics else "")
    names = ", ".join(
        f"{DTYPE_SHORT.get(str(r.get('dtype')), r.get('dtype'))} {r.get('device')}" for r in recs
    )
    return Chip(
        verdict="pass",
        text=text,
        title=f"passed: {names}",
        count=len(recs),
        ulp=max(metrics) if metrics else None,
    )


def _framework_label(rec: dict[str, Any], multi_version: set[str]) -> str:
    """The framework, with its version when the run holds several, and the device when not the CPU."""
    label = str(rec.get("framework", ""))
    if label in multi_version:
        label += " " + _version(rec)
    device = str(rec.get("device", ""))
    return label + (f" @{device}" if device and device != "cpu" else "")


# The verdict of a precision check -> the histogram it is counted in: the slices of passing checks,
# of known discrepancies and of unexpected failures are three distributions, not one.
HISTOGRAM_STATUS = {"pass": "passing", "fixed": "passing", "expected-fail": "expected-fail"}
HISTOGRAM_STATUS_ORDER = ("passing", "expected-fail", "failing")


def histograms(run: Run) -> list[HistogramGroup]:
    """Per-slice max ULP error histograms of precision records, summed per framework(/device), dtype
    and status (``HISTOGRAM_STATUS``: passing, expected-fail, failing checks kept apart)."""
    versions: dict[str, set[str]] = defaultdict(set)
    for rec in run.checks:
        versions[str(rec.get("framework", ""))].add(_version(rec))
    multi_version = {name for name, v in versions.items() if len(v) > 1}
    groups: dict[tuple, HistogramGroup] = {}
    for rec in run.checks:
        hist = rec.get("histogram")
        if rec.get("property") != "precision" or not isinstance(hist, dict) or not hist.get("edges"):
            continue
        label = _framework_label(rec, multi_version)
        dtype = str(rec.get("dtype", ""))
        edges = [float(e) for e in hist["edges"]]
        status = HISTOGRAM_STATUS.get(str(rec.get("verdict")), "failing")
        key = (label, dtype, status, tuple(edges))
        group = groups.get(key)
        if group is None:
            group = groups[key] = HistogramGroup(
                label, str(rec.get("framework", "")), dtype, edges, [0] * len(edges), 0, 0, None, None, status
            )
        counts = list(hist.get("counts") or [])
        for index, count in enumerate(counts[: len(group.counts)]):
            group.counts[index] += int(count)
        group.nonfinite += int(hist.get("nonfinite") or 0)
        group.records += 1
        metric = as_number(rec.get("metric"))
        if metric is not None and metric == metric:
            group.worst = metric if group.worst is None else max(group.worst, metric)
            if rec["verdict"] == "pass":
                group.worst_pass = metric if group.worst_pass is None else max(group.worst_pass, metric)
    return sorted(
        groups.values(),
        key=lambda g: (
            g.label,
            order_index(g.dtype, DTYPE_ORDER),
            order_index(g.status, HISTOGRAM_STATUS_ORDER),
        ),
    )


def values_text(listing: Any, limit: int = 6) -> str:
    """A short text of a value listing: ``[nan nan …]``; memoised (special inputs repeat a lot)."""
    if not isinstance(listing, dict):
        return "—"
    values = listing.get("values") or []
    shape = listing.get("shape")
    key = (tuple(str(v) for v in values[: limit + 1]), str(shape), bool(listing.get("truncated")), limit)
    text = _VALUES_MEMO.get(key)
    if text is None:
        if len(_VALUES_MEMO) > 50_000:
            _VALUES_MEMO.clear()
        text = _VALUES_MEMO[key] = _values_text(values, shape, listing, limit)
    return text


_VALUES_MEMO: dict[tuple, str] = {}


def _values_text(values: list[Any], shape: Any, listing: dict[str, Any], limit: int) -> str:
    if shape == []:
        return fmt_num(values[0]) if values else "()"
    shown = " ".join(fmt_num(v) for v in values[:limit])
    more = len(values) > limit or listing.get("truncated")
    return f"[{shown}{' …' if more else ''}]"


def semantics_table(run: Run, multi: bool) -> tuple[list[str], list[SemanticsRow]]:
    """Framework x API rows against kinds of special input; each cell summarises its observations."""
    grouped: dict[tuple, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    categories: set[str] = set()
    for rec in run.semantics:
        category = str(rec.get("case", "")).split("[")[0]
        categories.add(category)
        key = (
            str(rec.get("framework", "")),
            str(rec.get("api", "")),
            str(rec.get("mode", "")),
            str(rec.get("op", "")),
            run.source_of(rec) if multi else "",
        )
        grouped[key][category].append(rec)
    columns = sorted(categories, key=lambda c: order_index(c, SEMANTICS_ORDER))
    rows = []
    for key in sorted(grouped, key=_row_sort):
        cells = {}
        versions: set[str] = set()
        operation = ""
        for category, recs in grouped[key].items():
            versions.update(_version(r) for r in recs)
            operation = operation or str(recs[0].get("operation") or "")
            rank = {c: i for i, c in enumerate(CLASSIFICATION_SEVERITY)}
            worst = min(recs, key=lambda r: rank.get(str(r.get("classification")), -1))
            same = [r for r in recs if r.get("classification") == worst.get("classification")]
            dtypes = sorted({str(r.get("dtype")) for r in same}, key=lambda d: order_index(d, DTYPE_ORDER))
            all_dtypes = {str(r.get("dtype")) for r in recs}
            observed = (
                f"raises {str(worst['error'])[:120]}"
                if worst.get("error")
                else values_text(worst.get("observed"))
            )
            cells[category] = SemanticsCell(
                classification=str(worst.get("classification", "")),
                observed=observed,
                limit=values_text(worst.get("limit")),
                note=str(worst.get("note") or ""),
                case=f"{worst.get('case', '')}: {worst.get('description', '')}"
                f" input {values_text(worst.get('input'))}",
                dtypes="" if set(dtypes) == all_dtypes else ", ".join(DTYPE_SHORT.get(d, d) for d in dtypes),
                differing=sum(1 for r in recs if r.get("classification") != "matches-limit"),
                total=len(recs),
            )
        rows.append(
            SemanticsRow(
                framework=key[0],
                version=", ".join(sorted(versions)),
                api=key[1],
                mode=key[2],
                op=op_label(key[3], operation),
                source=key[4],
                cells=cells,
            )
        )
    return columns, rows


def _sample_rank(rec: dict[str, Any]) -> tuple:
    preferred = ("float32", "float64", "bfloat16", "float16")
    return (
        rec.get("output") is None,
        bool(rec.get("operation")),
        str(rec.get("device")) != "cpu",
        str(rec.get("mode")) != "eager",
        order_index(str(rec.get("dtype")), preferred),
        str(rec.get("api")),
    )


def samples(run: Run, multi: bool) -> dict[str, dict[str, dict[str, Any]]]:
    """One sample record per framework (per source) and op: float32, CPU, eager preferred."""
    chosen: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for rec in run.samples:
        label = str(rec.get("framework", "")) + (f" [{run.source_of(rec)}]" if multi else "")
        op = str(rec.get("op", ""))
        current = chosen[label].get(op)
        if current is None or _sample_rank(rec) < _sample_rank(current):
            chosen[label][op] = rec
    return {k: chosen[k] for k in sorted(chosen)}


def headline(run: Run, rows: list[ScoreRow]) -> dict[str, Any]:
    """The one-line verdict at the top of the page (and of the Markdown summary).

    ``status``: "ok" (green) only for a complete run with checks and nothing unexpected; "bad"
    (red) for unexpected results or no checks; "incomplete" (amber) for a run with nothing
    unexpected in what it recorded that did not finish (``incomplete``: why, one line each, from
    ``conformance.summary.incomplete_reasons``; a run with unexpected results lists them too).
    """
    counts = Counter(rec["verdict"] for rec in run.checks)
    unexpected = sum(counts[v] for v in UNEXPECTED)
    failing_impls = sum(1 for r in rows if r.counts["fail"] + r.counts["error"] + r.counts["fixed"])
    incomplete = incomplete_reasons(run)
    status = "ok" if unexpected == 0 else "bad"
    if status == "ok" and incomplete:
        status = "incomplete"
    if not run.checks:
        status = "bad"
    return {
        "checks": len(run.checks),
        "counts": {v: counts[v] for v in VERDICTS},
        "unexpected": unexpected,
        "implementations": len(rows),
        "failing_implementations": failing_impls,
        "status": status,
        "incomplete": incomplete,
    }


def _framework_notes(run: Run) -> list[str]:
    notes = []
    for rec in run.frameworks:
        if rec.get("status") != "ok":
            where = f" [{run.source_of(rec)}]" if run.merged else ""
            notes.append(f"{rec.get('framework')}{where}: {rec.get('status')} — {rec.get('message') or ''}")
    return notes


def version_trend(run: Run, limit: int = 400) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Cells measured with several versions of their framework whose state or worst ULP error changed.

    Returns rows ``{"key": (framework, api, mode, op, property, dtype, device), "versions": {version:
    {"verdict", "ulp"}}}``, at most ``limit``, and the versions per framework; the full view
    (every cell, with the first version where a discrepancy appeared or disappeared) is
    ``conformance.report.trend.build_trend``.
    """
    view = build_trend(run)
    return view.legacy_rows(limit), view.versions_by_framework()


def _version_sort(version: str) -> tuple:
    parts = []
    for piece in version.replace("+", ".").replace("-", ".").split("."):
        parts.append((0, int(piece), "") if piece.isdigit() else (1, 0, piece))
    return tuple(parts)


def build_model(run: Run, *, title: str | None = None) -> ReportModel:
    """Aggregate ``run`` (plain or merged) into a ``ReportModel``."""
    multi = len(run.sources) > 1
    multi_device = len({str(r.get("device")) for r in run.checks}) > 1
    details, detail_keys, details_note = build_details(run, multi)
    rows = scoreboard(run, multi)
    properties, matrix_rows = matrix(run, multi, detail_keys, multi_device)
    semantics_columns, semantics_rows = semantics_table(run, multi)
    trend_view = build_trend(run)
    trend, trend_versions = trend_view.legacy_rows(), trend_view.versions_by_framework()
    run_id = str(run.envelope.get("run_id", ""))
    return ReportModel(
        title=title or f"softmax-conformance report: {run_id}",
        run_id=run_id,
        merged=run.merged,
        sources=run.sources,
        environment=environment_rows(run),
        headline=headline(run, rows),
        scoreboard=rows,
        properties=properties,
        matrix=matrix_rows,
        multi_device=multi_device,
        details=details,
        details_note=details_note,
        histograms=histograms(run),
        semantics_columns=semantics_columns,
        semantics=semantics_rows,
        samples=samples(run, multi),
        conflicts=list(run.envelope.get("conflicts") or []),
        warnings=list(run.envelope.get("warnings") or []),
        framework_notes=_framework_notes(run),
        trend=trend,
        trend_versions=trend_versions,
        trend_view=trend_view,
        time_view=time_panel(run),
        collapsed=len(run.checks) > COLLAPSE_ABOVE,
    )


__all__ = [
    "DETAIL_VERDICTS",
    "GRADES",
    "VERDICT_SEVERITY",
    "ReportModel",
    "build_model",
]
