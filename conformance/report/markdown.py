"""Markdown summaries, sized for a CI job summary (``$GITHUB_STEP_SUMMARY``).

Data reaches Markdown through ``cell`` (pipes, backticks, angle brackets and newlines
neutralised), so a hostile API name cannot break a table or inject HTML. Long lists
are cut with a count of what was left out; the HTML report has everything.
"""

from __future__ import annotations

from typing import Any

from conformance.records import VERDICTS
from conformance.report.cells import fmt_num
from conformance.report.cells import markdown_cell as cell
from conformance.report.details import title
from conformance.report.model import GRADES, ReportModel
from conformance.report.trend import trend_markdown

MAX_ROWS = 60


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def report_markdown(model: ReportModel, html_name: str | None = None) -> str:
    """The run's summary: headline, environments, scoreboard, unexpected results, notes."""
    h = model.headline
    icon = {"ok": "✅", "incomplete": "⚠️"}.get(h["status"], "❌")
    incomplete = h.get("incomplete") or []
    lines = [f"## {icon} {cell(model.title)}", ""]
    if not h["checks"]:
        lines.append("**No checks ran.**")
    elif h["unexpected"]:
        lines.append(
            f"**{h['unexpected']} unexpected result(s)** in {h['failing_implementations']} of "
            f"{h['implementations']} implementations ({h['checks']} checks)"
            + (", and **the run is incomplete**." if incomplete else ".")
        )
    elif incomplete:
        lines.append(
            f"**Incomplete run**: nothing unexpected in the {h['checks']} checks recorded, but the run"
            " did not finish; what did not run was not tested."
        )
    else:
        lines.append(f"**No unexpected results** ({h['checks']} checks).")
    if incomplete:
        lines += ["", "Incomplete:", ""] + [f"- {cell(reason, 400)}" for reason in incomplete[:MAX_ROWS]]
    counts = ", ".join(f"{h['counts'][v]} {v}" for v in VERDICTS if h["counts"][v])
    if counts:
        lines += ["", counts + "."]
    if html_name:
        lines += ["", f"Full report: `{cell(html_name)}` (self-contained HTML)."]
    for text in [*model.warnings, *model.framework_notes]:
        lines += ["", f"> ⚠ {cell(text, 400)}"]
    if model.conflicts:
        lines += ["", f"> ⚠ {len(model.conflicts)} conflict(s) between environments (see the HTML report)."]
    lines += ["", "### Environment", ""]
    header = [""] + [cell(s["source"]) for s in model.sources] if len(model.sources) > 1 else ["", "value"]
    skip = ("command", "selection", "merged from")
    lines += _table(header, [[name, *values] for name, values in model.environment if name not in skip])
    lines += ["", "### Scoreboard", ""]
    multi = len(model.sources) > 1
    header = ["grade", "framework", "implementation", *(["environment"] if multi else [])]
    header += [
        "passed",
        "unexpected failures",
        "expected failures",
        "fixed",
        "unsupported",
        "skipped",
        "errors",
    ]
    board = [
        [
            r.grade,
            f"{r.framework} {r.version}",
            r.label,
            *([r.source] if multi else []),
            r.counts["pass"],
            r.counts["fail"],
            r.counts["expected-fail"],
            r.counts["fixed"],
            r.counts["unsupported"],
            r.counts["skipped"],
            r.counts["error"],
        ]
        for r in model.scoreboard
    ]
    lines += _table(header, board[:MAX_ROWS])
    if len(board) > MAX_ROWS:
        lines.append(f"\n…and {len(board) - MAX_ROWS} more implementations.")
    lines += ["", "Grades: " + "; ".join(f"**{g}** {text}" for g, text in GRADES.items()) + "."]
    unexpected = [d for d in model.details["d"] if d["v"] in ("fail", "error", "fixed")]
    if unexpected:
        lines += ["", f"### Unexpected results ({len(unexpected)})", ""]
        rows = [
            [d["v"], title(d), f"{fmt_num(d['m'])} {d.get('u') or ''}", fmt_num(d["tol"]), d["msg"]]
            for d in unexpected
        ]
        lines += _table(["verdict", "cell", "metric", "bound", "message"], rows[:MAX_ROWS])
        if len(rows) > MAX_ROWS:
            lines.append(f"\n…and {len(rows) - MAX_ROWS} more (see the HTML report).")
    if model.trend_view is not None and model.trend_view.frameworks:
        lines += ["", trend_markdown(model.trend_view).rstrip()]
    return "\n".join(lines) + "\n"
