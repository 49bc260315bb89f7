"""Report build time and size on a synthetic 100,000-record run derived from a real one.

    python benchmarks/report_benchmark.py [RUN] [--records N] [--browser]

RUN (default ``reports/runs/sample1``; make it with ``python -m conformance run --framework
numpy,scipy,jax --profile quick --seed 1 --run-id sample1``) is amplified to N records
(``conformance.report.synthetic.amplify``: its records copied under more framework names,
versions and devices, so the matrix, semantics table, histograms and drill-downs grow as
they would for a big merged run). Prints the time of each stage of the build (reading the
results file included), the size of the page and of its parts, and with ``--browser`` what
headless Chromium (1400x1000 window) takes to open it: wall time from navigation to the load
event, the page's own DOMContentLoaded and load times, its DOM elements once loaded and the
renderer's layout/style time. Figures are recorded in ``benchmarks/README.md``; tests never
assert on time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conformance.environment import cpu_model
from conformance.records import read_run
from conformance.report.synthetic import amplify


def browser_open(page: Path) -> dict | None:
    """Headless Chromium opening ``page``: seconds to the load event and what the page reports.

    Returns ``{"load_s", "dcl_ms", "load_ms", "elements", "layout_s", "style_s"}`` (None without
    Chromium): wall seconds from navigation to the load event as this process sees it, the
    page's DOMContentLoaded and load event ends (``performance.timing``, ms after navigation
    start), its DOM elements at the load event (``getElementsByTagName('*')``), and the
    renderer's layout and style-recalculation time (``Performance.getMetrics``).
    """
    from conformance.report.chromium import Chromium, find_chromium

    binary = find_chromium()
    if binary is None:
        return None
    with tempfile.TemporaryDirectory() as profile:
        chrome = Chromium(binary, Path(profile))
        try:
            target = chrome.send("Target.createTarget", {"url": "about:blank"})
            session = chrome.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})[
                "sessionId"
            ]
            chrome.send("Page.enable", session=session)
            chrome.send("Performance.enable", session=session)
            chrome.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
                session=session,
            )
            start = time.perf_counter()
            chrome.send("Page.navigate", {"url": page.as_uri()}, session=session)
            chrome.wait_for("Page.loadEventFired", timeout=120)
            load = time.perf_counter() - start
            probe = chrome.send(
                "Runtime.evaluate",
                {
                    "expression": "JSON.stringify([performance.timing.domContentLoadedEventEnd"
                    " - performance.timing.navigationStart, performance.timing.loadEventEnd"
                    " - performance.timing.navigationStart, document.getElementsByTagName('*').length])",
                    "returnByValue": True,
                },
                session=session,
            )
            dcl, load_ms, elements = json.loads(probe["result"]["value"])
            metrics = {
                m["name"]: m["value"]
                for m in chrome.send("Performance.getMetrics", session=session)["metrics"]
            }
            return {
                "load_s": load,
                "dcl_ms": dcl,
                "load_ms": load_ms,
                "elements": elements,
                "layout_s": metrics.get("LayoutDuration", float("nan")),
                "style_s": metrics.get("RecalcStyleDuration", float("nan")),
            }
        finally:
            chrome.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", default="reports/runs/sample1")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--browser", action="store_true", help="also time the page load in headless Chromium")
    args = parser.parse_args()

    real = read_run(args.run)
    records = amplify(real, args.records)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "big"
        run_dir.mkdir()
        results = run_dir / "results.jsonl"
        with open(results, "w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record) + "\n")
        kinds: dict[str, int] = {}
        for record in records:
            kinds[record["type"]] = kinds.get(record["type"], 0) + 1

        from conformance.report.html import render_report
        from conformance.report.model import build_model
        from conformance.report.plots import histogram_svg, samples_svg

        times: dict[str, tuple[float, float]] = {}  # stage -> (wall, CPU) seconds
        clock = (time.perf_counter(), time.process_time())
        start = clock

        def lap(stage: str) -> None:
            nonlocal clock
            now = (time.perf_counter(), time.process_time())
            times[stage] = (now[0] - clock[0], now[1] - clock[1])
            clock = now

        run = read_run(results)
        lap("read results file")
        model = build_model(run)
        lap("aggregate (model + drill-downs)")
        hist, samples = histogram_svg(model.histograms), samples_svg(model.samples)
        lap("plots (matplotlib -> SVG)")
        page = render_report(model, hist_svg=hist, samples_svg=samples)
        out = Path(tmp) / "report.html"
        out.write_text(page, encoding="utf-8")
        lap("render + write HTML")
        total = (clock[0] - start[0], clock[1] - start[1])
        blocks = {
            m.group(1): len(m.group(2))
            for m in re.finditer(r'<script type="application/json" id="([^"]+)">(.*?)</script>', page, re.S)
        }
        markup = re.sub(r"<script\b.*?</script>", "", page, flags=re.S)
        load_before = _load_average()
        opened = browser_open(out) if args.browser else None

        print(
            f"machine: {cpu_model()} x{os.cpu_count()}, Python {platform.python_version()},"
            f" load average {load_before:.1f} before the browser step, {_load_average():.1f} after"
            " (wall times grow with it; CPU times much less)"
        )
        print(f"input: {args.run} ({len(real.checks)} checks) amplified to {len(records):,} records: {kinds}")
        print(f"results file: {results.stat().st_size / 1e6:.1f} MB")
        print(f"  {'stage':34s} {'wall':>7s} {'CPU':>7s}")
        for stage, (wall, cpu) in times.items():
            print(f"  {stage:34s} {wall:6.2f}s {cpu:6.2f}s")
        print(f"  {'total build':34s} {total[0]:6.2f}s {total[1]:6.2f}s")
        size = len(page.encode("utf-8"))
        print(f"report.html: {size / 1e6:.2f} MB ({size:,} bytes)")
        print(
            "  JSON blocks: "
            + ", ".join(f"{name} {n / 1e6:.2f} MB" for name, n in blocks.items())
            + f" (drill-downs: {len(model.details['d'])} entries)"
        )
        print(f"  SVG: {(len(hist) + len(samples)) / 1e3:.0f} kB")
        groups = len({(r.framework, r.source) for r in model.matrix})
        chips = sum(len(c) for r in model.matrix for c in r.cells.values())
        summary_chips = markup.count('class="c ')
        print(
            f"  matrix: {len(model.matrix)} rows in {groups} framework groups, {chips} chips"
            f" (built on demand); summary chips in the page: {summary_chips}"
        )
        print(f"  elements in the markup (JSON blocks aside): {len(re.findall(r'<[a-zA-Z]', markup)):,}")
        if model.details_note:
            print(f"  note: {model.details_note}")
        if args.browser:
            if opened is None:
                print("no chromium")
            else:
                print(
                    f"headless Chromium: navigation to load event {opened['load_s']:.2f} s"
                    f" (page: DOMContentLoaded {opened['dcl_ms'] / 1e3:.2f} s,"
                    f" load {opened['load_ms'] / 1e3:.2f} s);"
                    f" {opened['elements']:,} DOM elements;"
                    f" layout {opened['layout_s']:.2f} s, style {opened['style_s']:.2f} s"
                )
    return 0


def _load_average() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


if __name__ == "__main__":
    sys.exit(main())
