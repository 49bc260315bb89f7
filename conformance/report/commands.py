"""The ``report``, ``compare`` and ``merge`` subcommands, and the report written at the end of a run.

Contract shared by the three commands: every input is read and checked before anything is
written; a bad input is one line on stderr and exit status 2 (``RunFileError`` names the
file and line; ``UsageError`` for the rest), and then nothing is written. Output files are
written under a temporary name and renamed, so a failure never leaves half a file.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from conformance.errors import ConformanceError
from conformance.records import RESULTS_FILE, Run
from conformance.report.load import load_runs
from conformance.report.merge import MergeError

DEFAULT_REPORT = "reports/report.html"
DEFAULT_COMPARE = "reports/compare.html"


def _usage(message: str) -> Exception:
    return ConformanceError(message)


def _check_output(path: Path) -> None:
    if path.is_dir():
        raise _usage(f"{path} is a directory; give a file name such as {path / 'report.html'}")


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_report(run: Run, html_path: Path, markdown_path: Path | None = None) -> tuple[Path, Path | None]:
    """Build the report of ``run`` (plain or merged) into ``html_path`` and the Markdown summary."""
    from conformance.report.html import render_report
    from conformance.report.markdown import report_markdown
    from conformance.report.model import build_model
    from conformance.report.plots import histogram_svg, samples_svg

    model = build_model(run)
    page = render_report(
        model, hist_svg=histogram_svg(model.histograms), samples_svg=samples_svg(model.samples)
    )
    markdown = report_markdown(model, html_name=html_path.name) if markdown_path else None
    _write_text(html_path, page)
    if markdown_path and markdown is not None:
        _write_text(markdown_path, markdown)
    return html_path, markdown_path


def end_of_run_report(run_dir: Path) -> tuple[Path, Path | None]:
    """The report of a finished ``run``: ``report.html`` and ``summary.md`` in its directory."""
    from conformance.records import read_run

    run = read_run(Path(run_dir) / RESULTS_FILE)
    return write_report(run, Path(run_dir) / "report.html", Path(run_dir) / "summary.md")


def report_lines(html_path: Path, markdown_path: Path | None) -> str:
    """What ``report`` and ``run`` print once the report is written: its path, the same as a
    ``file://`` URL (a terminal makes it a link to click) and the summary's path."""
    lines = [f"report: {html_path}", f"  open: {Path(html_path).resolve().as_uri()}"]
    if markdown_path is not None:
        lines.append(f"summary: {markdown_path}")
    return "\n".join(lines)


def cmd_report(args: argparse.Namespace) -> int:
    """``report RUN... [-o FILE] [--markdown FILE]``: exit 0 once written (findings do not change it)."""
    out = Path(args.output)
    _check_output(out)
    markdown = Path(args.markdown) if args.markdown else out.with_suffix(".md")
    _check_output(markdown)
    run = load_runs(args.runs)
    html_path, md_path = write_report(run, out, markdown)
    print(report_lines(html_path, md_path))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """``compare BASELINE CANDIDATE``: exit 1 when the candidate has regressions (of a check or of the
    behaviour on a special input), else 0."""
    from conformance.report.compare import compare_markdown, compare_runs
    from conformance.report.html import render_compare

    out = Path(args.output)
    _check_output(out)
    markdown = Path(args.markdown) if args.markdown else out.with_suffix(".md")
    _check_output(markdown)
    if args.ulp_threshold < 0:
        raise _usage(f"--ulp-threshold must be >= 0, got {args.ulp_threshold}")
    baseline, candidate = load_runs([args.baseline]), load_runs([args.candidate])
    comparison = compare_runs(baseline, candidate, ulp_threshold=args.ulp_threshold)
    page, text = render_compare(comparison), compare_markdown(comparison, html_name=out.name)
    _write_text(out, page)
    _write_text(markdown, text)
    for line in comparison.summary_lines():
        print(line)
    print(f"comparison: {out}")
    print(f"summary: {markdown}")
    return comparison.exit_status


def cmd_merge(args: argparse.Namespace) -> int:
    """``merge RUN... -o RUN``: one merged results file; conflicts are listed, exit 0."""
    from conformance.records import read_run
    from conformance.report.merge import combine, write_merged

    out = Path(args.output)
    target = out if out.suffix == ".jsonl" else out / RESULTS_FILE
    if target.exists() and not args.overwrite:
        raise _usage(f"{target} exists; choose another output or pass --overwrite")
    runs = [read_run(path) for path in args.runs]
    if any(Path(run.path).resolve() == target.resolve() for run in runs):
        raise _usage(f"{target} is also an input; write the merged run elsewhere")
    labels = [label for item in args.label or [] for label in item.split(",")] or None
    run_id = target.parent.name if target.name == RESULTS_FILE else target.stem
    try:
        merged = combine(
            runs, labels=labels, run_id=run_id, strict=True, argv=["merge", *map(str, args.runs)]
        )
    except MergeError as exc:
        raise _usage(str(exc)) from None
    path = write_merged(merged, out, overwrite=args.overwrite)
    conflicts = merged.envelope["conflicts"]
    print(f"merged {len(merged.sources)} environment(s) ({', '.join(s['source'] for s in merged.sources)}):")
    print(f"  {len(merged.checks)} checks, {len(merged.semantics)} semantics, {len(merged.samples)} samples")
    if conflicts:
        print(f"  {len(conflicts)} conflict(s): same cell and framework version, different verdicts:")
        for c in conflicts[:20]:
            verdicts = ", ".join(f"{k}: {v}" for k, v in c["verdicts"].items())
            print(
                f"    {c['framework']} {c['framework_version']} {c['api']} {c['mode']} {c['op']} "
                f"{c['device']} {c['dtype']} {c['property']}: {verdicts}"
            )
        if len(conflicts) > 20:
            print(f"    ... and {len(conflicts) - 20} more (listed in the merged envelope)")
    print(f"merged run: {path}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``report``, ``compare`` and ``merge`` on the CLI's subparsers."""
    report = sub.add_parser("report", help="write the HTML discrepancy report (and a Markdown summary)")
    report.add_argument(
        "runs", nargs="+", metavar="RUN", help="run directories or results files (several: side by side)"
    )
    report.add_argument(
        "-o", "--output", default=DEFAULT_REPORT, help=f"HTML file (default: {DEFAULT_REPORT})"
    )
    report.add_argument("--markdown", default=None, help="Markdown summary (default: the HTML path with .md)")
    report.set_defaults(func=cmd_report)
    compare = sub.add_parser(
        "compare", help="compare a candidate run with a baseline (exit 1 on regressions, semantics included)"
    )
    compare.add_argument(
        "baseline", metavar="BASELINE", help="run directory or results file (plain or merged)"
    )
    compare.add_argument(
        "candidate", metavar="CANDIDATE", help="run directory or results file (plain or merged)"
    )
    compare.add_argument(
        "-o", "--output", default=DEFAULT_COMPARE, help=f"HTML file (default: {DEFAULT_COMPARE})"
    )
    compare.add_argument(
        "--markdown", default=None, help="Markdown summary (default: the HTML path with .md)"
    )
    compare.add_argument(
        "--ulp-threshold",
        type=float,
        default=1.0,
        help="report a worst ULP error that moved by more than this many ULPs (default 1)",
    )
    compare.set_defaults(func=cmd_compare)
    merge = sub.add_parser("merge", help="merge runs from several machines/environments into one run")
    merge.add_argument("runs", nargs="+", metavar="RUN", help="run directories or results files")
    merge.add_argument("-o", "--output", required=True, help="the merged run's directory (or a .jsonl file)")
    merge.add_argument(
        "--label",
        action="append",
        help="a label per plain run, in order (default: its run id); comma-separate",
    )
    merge.add_argument("--overwrite", action="store_true", help="replace an existing merged run")
    merge.set_defaults(func=cmd_merge)
