"""The report's two figures, rendered by matplotlib (Agg) to inline SVG strings.

Few figures, small files: text stays text (``svg.fonttype='none'``), nothing is
rasterised, ids are salted per figure so that two SVGs can share one page, and the XML
prolog is dropped so the result can be inlined in HTML. Labels pass through matplotlib's
SVG writer, which escapes them; ``$`` is escaped so that mathtext never interprets data.
"""

from __future__ import annotations

import io
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from conformance.report.cells import DTYPE_ORDER, order_index

DTYPE_COLOUR = {"float16": "#e66101", "bfloat16": "#5e3c99", "float32": "#0571b0", "float64": "#1a9641"}
OP_COLOUR = {"softmax": "#0571b0", "sum_normalize": "#e66101", "log_softmax": "#5e3c99"}
MAX_PANELS = 6
MAX_SAMPLE_ROWS = 5


def _text(value: Any) -> str:
    """A label safe from mathtext (``$`` escaped) and of bounded length."""
    text = str(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return text.replace("$", r"\$")


def _svg(fig: Figure, salt: str) -> str:
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    start = text.find("<svg")
    return text[start:].replace("<svg ", '<svg class="plot" role="img" ', 1)


def _edge_label(edge: float) -> str:
    fractions = {0.25: "¼", 0.5: "½"}
    if edge in fractions:
        return fractions[edge]
    if edge >= 1024:
        return f"{edge / 1024:g}k"
    return f"{edge:g}"


# Line style per status of the checks a histogram counts (``model.HISTOGRAM_STATUS``).
STATUS_STYLE = {"passing": "-", "expected-fail": "--", "failing": ":"}
STATUS_LABEL = {
    "passing": "passing checks",
    "expected-fail": "expected failures (known)",
    "failing": "unexpected failures",
}


def histogram_svg(groups: list[Any]) -> str:
    """The error-distribution figure (``histogram_figure``) as inline SVG; '' when nothing to plot."""
    fig = histogram_figure(groups)
    return _svg(fig, "hist") if fig is not None else ""


def histogram_figure(groups: list[Any]) -> Figure | None:
    """Per-slice max ULP error distributions: one panel per framework label, one colour per dtype
    and one line style per status (passing checks, expected failures, unexpected failures: never
    summed together).

    ``groups`` are ``model.HistogramGroup`` (label, dtype, status, edges, counts, nonfinite). The
    y axis is the share of judged slices (log scale) so dtypes with different slice counts
    compare; empty bins are left out. One legend for the whole figure, above the panels and
    outside every plotting area. At most ``MAX_PANELS`` panels (the page's table lists every
    group). None when there is nothing to plot.
    """
    groups = [g for g in groups if g.slices]
    if not groups:
        return None
    labels: list[str] = []
    for g in groups:
        if g.label not in labels:
            labels.append(g.label)
    labels = labels[:MAX_PANELS]
    ncols = min(3, len(labels))
    nrows = math.ceil(len(labels) / ncols)
    legend_in = 0.55  # inches above the panels kept for the legend
    fig = Figure(figsize=(4.2 * ncols, 2.5 * nrows + legend_in))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    dtypes: list[str] = []
    statuses: list[str] = []
    for index, label in enumerate(labels):
        ax = axes[index // ncols][index % ncols]
        members = [g for g in groups if g.label == label]  # already in dtype, then status order
        edges = members[0].edges
        for g in members:
            values = [*g.counts, g.nonfinite]
            total = max(g.slices, 1)
            shares = [v / total if v else float("nan") for v in values]
            status = getattr(g, "status", "passing")
            ax.plot(
                range(len(values)),
                shares,
                "o" + STATUS_STYLE.get(status, "-"),
                markersize=3,
                linewidth=1.2,
                color=DTYPE_COLOUR.get(g.dtype, "#777777"),
            )
            dtypes += [g.dtype] if g.dtype not in dtypes else []
            statuses += [status] if status not in statuses else []
        if 1.0 in edges:
            ax.axvline(edges.index(1.0) - 0.5, color="#999999", linestyle="--", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_ylim(top=1.5)
        ticks = [*(_edge_label(e) for e in edges), "nan"]
        ax.set_xticks(range(len(ticks)))
        ax.set_xticklabels(ticks, fontsize=7)
        ax.set_title(_text(label), fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        if index % ncols == 0:
            ax.set_ylabel("share of slices", fontsize=8)
        if index // ncols == nrows - 1:
            ax.set_xlabel("max ULP error of a slice (bin from)", fontsize=8)
    for index in range(len(labels), nrows * ncols):
        axes[index // ncols][index % ncols].set_visible(False)
    dtypes.sort(key=lambda d: order_index(d, DTYPE_ORDER))
    handles = [
        Line2D([], [], color=DTYPE_COLOUR.get(d, "#777777"), marker="o", markersize=3, label=_text(d))
        for d in dtypes
    ]
    handles += [
        Line2D([], [], color="#333333", linestyle=STATUS_STYLE.get(s, "-"), label=STATUS_LABEL.get(s, s))
        for s in statuses
    ]
    fig.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=len(handles),
        fontsize=7.5,
        frameon=False,
    )
    height = fig.get_figheight()
    # Fixed margins: tight_layout would draw the figure twice (half the build time of the plots).
    fig.subplots_adjust(left=0.07, right=0.99, top=1 - (0.35 + legend_in) / height, bottom=0.55 / height)
    fig.subplots_adjust(hspace=0.45, wspace=0.22)
    return fig


def _values(listing: Any) -> list[float]:
    if not isinstance(listing, dict):
        return []
    out = []
    for v in listing.get("values") or []:
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            out.append(float("nan"))
    return out


def samples_svg(samples: dict[str, dict[str, dict[str, Any]]]) -> str:
    """Per framework: softmax against sum-normalization on the sample vector, and sorted in vs out.

    ``samples`` maps a framework label to ``{op: sample record}``. Left panel: the outputs of
    softmax and sum-normalization per element (elements in increasing input order), the
    oracle as black ticks. Right panel: the sorted input against the sorted output.
    At most ``MAX_SAMPLE_ROWS`` frameworks. Returns '' when no sample has an output.
    """
    rows = [(label, ops) for label, ops in samples.items() if any(r.get("output") for r in ops.values())]
    rows = rows[:MAX_SAMPLE_ROWS]
    if not rows:
        return ""
    fig = Figure(figsize=(10, 2.3 * len(rows)))
    axes = fig.subplots(len(rows), 2, squeeze=False, gridspec_kw={"width_ratios": [1.6, 1]})
    for index, (label, ops) in enumerate(rows):
        left, right = axes[index]
        shown = [op for op in ("softmax", "sum_normalize") if op in ops and ops[op].get("output")]
        width = 0.8 / max(len(shown), 1)
        for k, op in enumerate(shown):
            rec = ops[op]
            x, y, e = _values(rec.get("input")), _values(rec.get("output")), _values(rec.get("expected"))
            order = sorted(range(len(x)), key=lambda i: x[i])
            positions = [i - 0.4 + width * (k + 0.5) for i in range(len(order))]
            name = f"{op}: {rec.get('api', '')} ({rec.get('dtype', '')})"
            left.bar(positions, [y[i] for i in order], width=width, color=OP_COLOUR[op], label=_text(name))
            if len(e) == len(x):
                left.plot(positions, [e[i] for i in order], "_", color="black", markersize=5)
        if shown:
            x = _values(ops[shown[0]].get("input"))
            left.set_xticks(range(len(x)))
            left.set_xticklabels([f"{v:g}" for v in sorted(x)], fontsize=6)
        left.set_title(_text(f"{label}: output per element (input value below; oracle as ticks)"), fontsize=8)
        left.legend(fontsize=7, frameon=False, loc="upper left")
        left.tick_params(axis="y", labelsize=7)
        for op, rec in ops.items():
            x, y = _values(rec.get("input")), _values(rec.get("output"))
            if not y or op == "log_softmax":
                continue
            colour = OP_COLOUR.get(op, "#777777")
            right.plot(sorted(x), sorted(y), "o-", markersize=2.5, linewidth=1, color=colour, label=_text(op))
        right.set_title(_text(f"{label}: sorted input vs sorted output"), fontsize=8)
        right.set_xlabel("input (sorted)", fontsize=7)
        right.tick_params(labelsize=7)
        right.legend(fontsize=7, frameon=False, loc="upper left")
    fig.subplots_adjust(
        left=0.06, right=0.99, top=1 - 0.3 / fig.get_figheight(), bottom=0.45 / fig.get_figheight()
    )
    fig.subplots_adjust(hspace=0.55, wspace=0.12)
    return _svg(fig, "samples")
