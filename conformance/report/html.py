"""Rendering of the HTML pages (report, comparison) with Jinja2, autoescaped.

Every string from a results file reaches the page through autoescaping, through
matplotlib's SVG writer (which escapes text), or through ``script_json`` (JSON with
``<``, ``>`` and ``&`` written as ``\\u003c`` ... so that no data can close the
``<script>`` element or open a comment); the page's JavaScript writes data with
``textContent`` only. The page is self-contained: inline CSS, JS and SVG, no requests.

The page aggregates and builds details on demand, so that a 100,000-record run opens in
about a second: the scoreboard, the matrix, the error-distribution table and the
semantics table are grouped per framework (and source); the page holds one summary row
per group (``Group.summary``, rendered here) and each table's rows as one JSON block
(``<script type="application/json" id="matrix-data">`` ...), which the script turns into
rows when a group is opened. Tables of up to ``OPEN_ROWS`` rows open every group at load.
Drill-downs are one more JSON block (``id="details"``), rendered on click. Off-screen
tables and figures carry ``content-visibility: auto`` (no layout until scrolled near).
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from conformance.records import UNEXPECTED, VERDICTS
from conformance.report.cells import (
    CELL_FIELDS,
    CLASSIFICATION_SEVERITY,
    PROPERTY_GROUP,
    PROPERTY_LABEL,
    PROPERTY_UNIT,
    SEMANTICS_LABEL,
    ULP_PROPERTIES,
    VERDICT_SEVERITY,
    VERDICT_SYMBOL,
    fmt_num,
    fmt_ulp,
    order_index,
    worst_verdict,
)
from conformance.report.model import GRADES, Chip, HistogramGroup, ReportModel, SemanticsCell
from conformance.version import __version__

TEMPLATES = Path(__file__).with_name("templates")
# Chip class per verdict (kept to one letter: the matrix has one chip per check).
VERDICT_CLASS = {
    "pass": "p",
    "fail": "f",
    "expected-fail": "x",
    "fixed": "k",
    "unsupported": "u",
    "skipped": "s",
    "error": "e",
}

# A table with at most this many rows (or of one group) opens every group when the page loads;
# a bigger one shows only its groups' summary rows (one per framework) until a group is opened
# (or the matrix filtered): a 73-implementation run opens as a page of a few screens.
OPEN_ROWS = 12
CLASSIFICATION_MARK = {
    "matches-limit": "✓",
    "undefined-input": "?",
    "documented-difference": "≈",
    "undocumented-difference": "≠",
}
GRADE_ORDER = ("F", "C", "B", "A", "–")


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The Jinja2 environment: package templates, autoescape on, undefined names are errors."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        fmt_num=fmt_num,
        fmt_ulp=fmt_ulp,
        verdicts=VERDICTS,
        vc=VERDICT_CLASS,
        symbol=VERDICT_SYMBOL,
        grades=GRADES,
        property_label=PROPERTY_LABEL,
        property_group=PROPERTY_GROUP,
        property_unit=PROPERTY_UNIT,
        semantics_label=SEMANTICS_LABEL,
        suite_version=__version__,
        ulp_properties=ULP_PROPERTIES,
    )
    return env


@dataclass
class Group:
    """One framework (in one source) of a grouped table: its summary row, and its rows as JSON data.

    The summary row is rendered by Jinja2 into the page; the rows (``rows``, compact lists)
    go into the table's JSON block and are built by the page's script when the group is
    opened, so a 100,000-record page holds a few hundred summary rows, not every row.
    """

    framework: str
    versions: list[str]
    source: str
    rows: list[Any]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return ", ".join(self.versions)


@dataclass
class Table:
    """A grouped table: the groups (summary rows) and whether they start open."""

    groups: list[Group]
    rows: int
    open: bool

    def height(self, group_px: int, row_px: int) -> int:
        """An estimate of the table's height in pixels (the placeholder size while off-screen)."""
        return 30 + group_px * len(self.groups) + (row_px * self.rows if self.open else 0)

    def data(self, **extra: Any) -> Markup:
        """The JSON block of the table: ``{"g": [rows of group 0, rows of group 1, ...], ...extra}``."""
        return script_json({"g": [g.rows for g in self.groups], **extra})


def _group(items: list[Any], key: Any) -> list[tuple[tuple, list[Any]]]:
    """``items`` grouped by ``key(item)``, groups in order of first appearance."""
    groups: dict[tuple, list[Any]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return list(groups.items())


def _versions(values: Any) -> list[str]:
    found: list[str] = []
    for value in values:
        for version in str(value).split(", "):
            if version and version not in found:
                found.append(version)
    return found


def _table(groups: list[Group]) -> Table:
    rows = sum(len(g.rows) for g in groups)
    return Table(groups=groups, rows=rows, open=rows <= OPEN_ROWS or len(groups) == 1)


@dataclass
class ColumnView:
    """One group of the matrix's property columns (forward pass, special values, consistency,
    backward pass): the page shows one group at a time where every column would not fit."""

    index: int
    label: str
    columns: list[int]
    unexpected: int


def column_views(model: ReportModel) -> list[ColumnView]:
    """The matrix's property columns grouped by ``PROPERTY_GROUP``, groups in column order, each
    with its count of unexpected checks (fail, error, fixed), so a hidden group still says so."""
    views: dict[str, ColumnView] = {}
    for i, prop in enumerate(model.properties):
        label = PROPERTY_GROUP.get(prop, "other")
        view = views.setdefault(label, ColumnView(len(views), label, [], 0))
        view.columns.append(i)
        view.unexpected += sum(
            c.count for r in model.matrix for c in r.cells.get(prop, []) if c.verdict in UNEXPECTED
        )
    return list(views.values())


def scoreboard_table(model: ReportModel) -> Table:
    """The scoreboard grouped by framework (and source): summed counts, the worst grade, rows as JSON.

    A row: ``[grade, version, label, source, pass %, [count per verdict in VERDICTS order]]``
    (``version`` empty where the group has one version: the summary row names it).
    """
    groups = []
    for (framework, source), rows in _group(model.scoreboard, lambda r: (r.framework, r.source)):
        versions = _versions(r.version for r in rows)
        counts = {v: sum(r.counts[v] for r in rows) for v in VERDICTS}
        judged = sum(r.judged for r in rows)
        grades = [r.grade for r in rows]
        tally = ", ".join(f"{grades.count(g)} {g}" for g in GRADE_ORDER if g in grades)
        data = [
            [
                r.grade,
                r.version if len(versions) > 1 else "",
                r.label,
                r.source,
                round(r.pass_pct, 1),
                [r.counts[v] for v in VERDICTS],
            ]
            for r in rows
        ]
        total = sum(counts.values())
        summary = {
            "grade": min(grades, key=GRADE_ORDER.index),
            "tally": tally,
            "n": len(rows),
            "counts": counts,
            "total": total,
            "pass_pct": 100.0 * (counts["pass"] + counts["fixed"]) / judged if judged else 0.0,
        }
        groups.append(Group(framework, versions, source, data, summary))
    return _table(groups)


def _chip_json(chip: Chip) -> list[Any]:
    item: list[Any] = [VERDICT_CLASS.get(chip.verdict, "u"), VERDICT_SYMBOL.get(chip.verdict, "") + chip.text]
    if chip.title or chip.key is not None:
        item.append(chip.title)
    if chip.key is not None:
        item.append(chip.key)
    return item


def _aggregate_chips(chips: list[Chip]) -> tuple[list[tuple[str, str]], str]:
    """The summary of one property over a group's rows: (class, text) per verdict present, and a title."""
    counts: dict[str, int] = {}
    worst: dict[str, float] = {}
    for chip in chips:
        counts[chip.verdict] = counts.get(chip.verdict, 0) + chip.count
        if chip.ulp is not None:
            before = worst.get(chip.verdict)
            if before is None or not chip.ulp <= before:  # NaN wins: it is the worst
                worst[chip.verdict] = chip.ulp
    items, parts = [], []
    for verdict in sorted(counts, key=lambda v: order_index(v, VERDICT_SEVERITY)):
        n = counts[verdict]
        text = (VERDICT_SYMBOL.get(verdict) or "✓") + str(n)
        part = f"{n} {verdict}"
        if verdict in worst:
            text += " ≤" + fmt_ulp(worst[verdict])
            part += f" (worst {fmt_num(worst[verdict])} ULP)"
        items.append((VERDICT_CLASS.get(verdict, "u"), text))
        parts.append(part)
    return items, "; ".join(parts)


def matrix_table(model: ReportModel) -> Table:
    """The conformance matrix grouped by framework (and source), with one summary per property.

    A row: ``[worst verdict, version, source, api, mode, op, search text, unexpected (0/1),
    [chips per property in model.properties order]]``; a chip: ``[class, text, title?, key?]``
    (``key``: the drill-down index).
    """
    groups = []
    for (framework, source), rows in _group(model.matrix, lambda r: (r.framework, r.source)):
        versions = _versions(r.version for r in rows)
        data = [
            [
                r.worst,
                r.version if len(versions) > 1 else "",
                r.source,
                r.api,
                r.mode,
                r.op,
                r.search,
                1 if r.worst in UNEXPECTED else 0,
                [[_chip_json(c) for c in r.cells.get(p, [])] for p in model.properties],
            ]
            for r in rows
        ]
        cells = [_aggregate_chips([c for r in rows for c in r.cells.get(p, [])]) for p in model.properties]
        summary = {
            "n": len(rows),
            "worst": worst_verdict([r.worst for r in rows]),
            "unexpected": sum(1 for r in rows if r.worst in UNEXPECTED),
            "cells": cells,
        }
        groups.append(Group(framework, versions, source, data, summary))
    return _table(groups)


def _semantics_json(cell: SemanticsCell | None) -> list[Any] | None:
    if cell is None:
        return None
    count = f"{cell.differing}/{cell.total} differ" if cell.differing and cell.differing < cell.total else ""
    title = (
        "" if cell.classification == "matches-limit" else f"{cell.classification}: {cell.case}; {cell.note}"
    )
    return [cell.classification, cell.observed, cell.limit, cell.dtypes, count, title]


def semantics_table_view(model: ReportModel) -> Table:
    """The semantics table grouped by framework (and source): per column, how the rows classify.

    A row: ``[version, api, mode, op, source, [cell per column]]``; a cell: null or
    ``[classification, observed, limit, dtypes, "k/n differ", title]``.
    """
    rank = {c: i for i, c in enumerate(CLASSIFICATION_SEVERITY)}
    groups = []
    for (framework, source), rows in _group(model.semantics, lambda r: (r.framework, r.source)):
        versions = _versions(r.version for r in rows)
        data = [
            [
                r.version if len(versions) > 1 else "",
                r.api,
                r.mode,
                r.op,
                r.source,
                [_semantics_json(r.cells.get(c)) for c in model.semantics_columns],
            ]
            for r in rows
        ]
        cells = []
        for column in model.semantics_columns:
            found = [r.cells[column].classification for r in rows if column in r.cells]
            if not found:
                cells.append(None)
                continue
            kinds = sorted(set(found), key=lambda c: rank.get(c, len(rank)))
            text = " ".join(f"{CLASSIFICATION_MARK.get(k, '?')}{found.count(k)}" for k in kinds)
            title = "; ".join(f"{found.count(k)} {k}" for k in kinds)
            cells.append((kinds[0], text, title))
        groups.append(Group(framework, versions, source, data, {"n": len(rows), "cells": cells}))
    return _table(groups)


def histogram_table(model: ReportModel) -> Table:
    """The error-distribution table grouped by framework label, with the group's totals.

    A row: ``[dtype, checks, slices, share >= 1 ULP, share >= 8 ULP, non-finite, worst passing,
    worst]``, already formatted.
    """
    groups = []
    for (label,), members in _group(model.histograms, lambda g: (g.label,)):
        data = [
            [
                g.dtype + ("" if g.status == "passing" else f" ({g.status} checks)"),
                g.records,
                g.slices,
                _share(g, 1.0),
                _share(g, 8.0),
                g.nonfinite,
                fmt_num(g.worst_pass) if g.worst_pass is not None else "—",
                fmt_num(g.worst) if g.worst is not None else "—",
            ]
            for g in members
        ]
        worst_pass = [g.worst_pass for g in members if g.worst_pass is not None]
        worst = [g.worst for g in members if g.worst is not None]
        summary = {
            "n": len(members),
            "records": sum(g.records for g in members),
            "slices": sum(g.slices for g in members),
            "share1": _group_share(members, 1.0),
            "share8": _group_share(members, 8.0),
            "nonfinite": sum(g.nonfinite for g in members),
            "worst_pass": fmt_num(max(worst_pass)) if worst_pass else "—",
            "worst": fmt_num(max(worst)) if worst else "—",
        }
        groups.append(Group(label, [], "", data, summary))
    return _table(groups)


def _group_share(groups: list[HistogramGroup], threshold: float) -> str:
    """``_share`` over several histogram groups (those whose bins have an edge at ``threshold``)."""
    above = slices = 0
    for g in groups:
        if threshold in g.edges and g.slices:
            above += sum(g.counts[g.edges.index(threshold) :])
            slices += g.slices
    if not slices:
        return "—"
    return f"{100.0 * above / slices:.2g}%" if above else "0"


def _share(group: HistogramGroup, threshold: float) -> str:
    """The share of a histogram group's slices whose max error is at least ``threshold`` ULPs."""
    if threshold not in group.edges or not group.slices:
        return "—"
    start = group.edges.index(threshold)
    above = sum(group.counts[start:])
    return f"{100.0 * above / group.slices:.2g}%" if above else "0"


def script_json(value: Any) -> Markup:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` left raw."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    for raw, escaped in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return Markup(text)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def render_report(model: ReportModel, *, hist_svg: str = "", samples_svg: str = "") -> str:
    """The report page for ``model``; the SVGs come from ``plots`` (trusted, already escaped)."""
    template = environment().get_template("report.html.j2")
    views = column_views(model)
    return template.render(
        m=model,
        views=views,
        column_view={i: v.index for v in views for i in v.columns},
        column_view_list=[v.index for i in range(len(model.properties)) for v in views if i in v.columns],
        score=scoreboard_table(model),
        matrix=matrix_table(model),
        semantics=semantics_table_view(model),
        hists=histogram_table(model),
        wide_columns=[i for i, p in enumerate(model.properties) if p in ULP_PROPERTIES],
        details_json=script_json(model.details),
        hist_svg=Markup(hist_svg),
        samples_svg=Markup(samples_svg),
        generated=_now(),
    )


def render_compare(model: Any) -> str:
    """The comparison page for a ``compare.Comparison``."""
    from conformance.report.compare import MAX_ROWS, coverage, grouped

    template = environment().get_template("compare.html.j2")
    return template.render(
        c=model,
        generated=_now(),
        grouped=grouped,
        coverage=coverage,
        max_rows=MAX_ROWS,
        cell_fields=CELL_FIELDS,
    )
