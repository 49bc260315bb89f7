"""Rendering of the HTML pages (report, comparison) with Jinja2, autoescaped.

Every string from a results file reaches the page through autoescaping, through
matplotlib's SVG writer (which escapes text), or through ``script_json`` (JSON with
``<``, ``>`` and ``&`` written as ``\\u003c`` ... so that no data can close the
``<script>`` element or open a comment); the page's JavaScript writes data with
``textContent`` only. The page is self-contained: inline CSS, JS and SVG, no requests.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from conformance import __version__
from conformance.records import VERDICTS
from conformance.report.cells import (
    CELL_FIELDS,
    PROPERTY_LABEL,
    SEMANTICS_LABEL,
    VERDICT_SYMBOL,
    fmt_num,
    fmt_ulp,
)
from conformance.report.model import GRADES, Chip, HistogramGroup, ReportModel, SemanticsCell

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
        semantics_label=SEMANTICS_LABEL,
        share=_share,
        chips_html=chips_html,
        semantics_cell=semantics_cell,
        suite_version=__version__,
        ulp_properties=("precision", "stability", "shift_invariance"),
    )
    return env


def chips_html(chips: list[Chip]) -> Markup:
    """The chips of one matrix cell as HTML (built here, not in the template: a page can hold 100,000).

    Failing chips are links to their drill-down (``#d<index>``); every text is escaped.
    """
    parts = []
    for chip in chips:
        cls = VERDICT_CLASS.get(chip.verdict, "u")
        text = escape(VERDICT_SYMBOL.get(chip.verdict, "") + chip.text)
        title = f' title="{escape(chip.title)}"' if chip.title else ""
        if chip.key is not None:
            parts.append(f'<a class="c {cls}" href="#d{chip.key}"{title}>{text}</a>')
        else:
            parts.append(f'<i class="c {cls}"{title}>{text}</i>')
    return Markup("".join(parts))


CLASSIFICATION_MARK = {
    "matches-limit": "✓",
    "undefined-input": "?",
    "documented-difference": "≈",
    "undocumented-difference": "≠",
}


def semantics_cell(cell: SemanticsCell | None) -> Markup:
    """One cell of the semantics table as HTML: the observed output, and the limit where they differ."""
    if cell is None:
        return Markup('<td class="ver">—</td>')
    cls = escape(cell.classification)
    mark = CLASSIFICATION_MARK.get(cell.classification, "")
    dtypes = f' <span class="ver">{escape(cell.dtypes)}</span>' if cell.dtypes else ""
    count = (
        f' <span class="ver">{cell.differing}/{cell.total} differ</span>'
        if cell.differing and cell.differing < cell.total
        else ""
    )
    if cell.classification == "matches-limit":
        return Markup(f'<td class="sc cl-{cls}"><b>{mark}</b> {escape(cell.observed)}{dtypes}</td>')
    title = escape(f"{cell.classification}: {cell.case}; {cell.note}")
    return Markup(
        f'<td class="sc cl-{cls}" title="{title}"><b>{mark}</b> got {escape(cell.observed)}{dtypes}{count}'
        f'<br><span class="lim">limit {escape(cell.limit)}</span></td>'
    )


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
    return template.render(
        m=model,
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
