"""The report in a real browser: headless Chromium driven over the DevTools protocol (a pipe, stdlib only).

Opens a report, checks that the scoreboard, the matrix, the plots and a drill-down (opened
by clicking a failing chip from JavaScript) render, that the console stays free of errors
and that the page makes no network request; then a report whose tables start closed (as a
big run's do): only the per-framework summary rows at load, a group's rows built when it is
opened, the matrix filter, "open all". Saves screenshots to ``reports/artifacts/``
(``report-browser-top.png``, ``report-browser-drilldown.png``, ``report-browser-groups.png``)
and to pytest's tmp dir. Skipped, with the reason, only when no Chromium binary is found.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from helpers import ROOT

from conformance.cli import main
from conformance.report.chromium import Chromium, find_chromium, open_page

ARTIFACTS = ROOT / "reports" / "artifacts"
BINARY = find_chromium()

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(BINARY is None, reason="no chromium binary on PATH (apt-get install chromium)"),
]


@pytest.fixture
def browser(tmp_path):
    chrome = Chromium(BINARY, tmp_path / "profile")
    try:
        yield chrome
    finally:
        chrome.close()


PROBE = """(async () => {
  document.getElementById('failures').scrollIntoView();
  await new Promise(done => setTimeout(done, 300));  // the failure list renders when in view
  window.scrollTo(0, 0);
  const box = el => el.getBoundingClientRect();
  const svgs = [...document.querySelectorAll('svg.plot')];
  const chip = document.querySelector('#matrix-table a.c.f');
  const before = document.getElementById('drill').open;
  chip.click();
  const dialog = document.getElementById('drill');
  return JSON.stringify({
    scoreGroups: document.querySelectorAll('table.score tr.gh').length,
    scoreboard: document.querySelectorAll('table.score tr.gd').length,
    grades: [...document.querySelectorAll('table.score tr.gd .grade')].map(g => g.textContent),
    matrixGroups: document.querySelectorAll('#matrix-table tr.gh').length,
    matrixRows: document.querySelectorAll('#matrix-table tr.gd').length,
    chips: document.querySelectorAll('#matrix-table tr.gd .c').length,
    summaryChips: [...document.querySelectorAll('#matrix-table tr.gh .c')].map(c => c.textContent),
    matrixWidth: box(document.getElementById('matrix-table')).width,
    failures: document.querySelectorAll('#fails-table tbody tr[data-k]').length,
    knownGroups: document.querySelectorAll('#fails-table tr.kh').length,
    svgs: svgs.map(s => [box(s).width, box(s).height, s.querySelectorAll('text').length]),
    openBefore: before,
    open: dialog.open,
    title: document.getElementById('drill-title').textContent,
    valueRows: dialog.querySelectorAll('table.vals tbody tr').length,
    badCells: dialog.querySelectorAll('table.vals td.bad').length,
    repro: (dialog.querySelector('pre.repro') || {}).textContent || '',
    dialogText: dialog.textContent,
    semanticsCells: document.querySelectorAll('table.sem td.sc').length,
    histRows: document.querySelectorAll('#hist-table tr.gd').length,
  });
})()"""


def problems(browser: Chromium) -> list[dict]:
    """Exceptions, console errors and error log entries the page produced so far."""
    return [
        e
        for e in browser.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") in ("error", "assert"))
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")
    ]


def evaluate(browser: Chromium, session: str, expression: str):
    result = browser.send(
        "Runtime.evaluate",
        {"expression": expression, "returnByValue": True, "awaitPromise": True},
        session=session,
    )
    assert "exceptionDetails" not in result, result
    return json.loads(result["result"]["value"])


def screenshot(browser: Chromium, session: str, tmp_path: Path, name: str) -> None:
    png = base64.b64decode(browser.send("Page.captureScreenshot", {"format": "png"}, session=session)["data"])
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_bytes(png)
    (ARTIFACTS / name).write_bytes(png)


def test_report_renders_in_chromium(tmp_path, browser):
    from test_report import small_run

    out = tmp_path / "report.html"
    assert main(["report", str(small_run(tmp_path / "run")), "-o", str(out)]) == 0
    session = open_page(browser, out.as_uri())
    screenshot(browser, session, tmp_path, "report-browser-top.png")
    probe = evaluate(browser, session, PROBE)
    time.sleep(0.2)
    screenshot(browser, session, tmp_path, "report-browser-drilldown.png")

    # a small run opens every group at load: summary rows and the rows the script built under them
    assert (
        probe["scoreGroups"] == 2 and probe["scoreboard"] == 3 and sorted(probe["grades"]) == ["A", "F", "F"]
    )
    assert (
        probe["matrixGroups"] == 2 and probe["matrixRows"] == 3 and probe["chips"] == 8
    )  # one chip per check
    assert "✗1 ≤40" in probe["summaryChips"] and "✓1 ≤1.5" in probe["summaryChips"]
    assert probe["histRows"] == 5
    assert probe["matrixWidth"] > 600
    # fail, error, fixed, rendered from the JSON blob; the expected failure under its registry id, closed
    assert probe["failures"] == 3 and probe["knownGroups"] == 1
    assert len(probe["svgs"]) == 2
    for width, height, texts in probe["svgs"]:
        assert width > 300 and height > 100 and texts > 5
    assert probe["semanticsCells"] == 3
    assert probe["openBefore"] is False and probe["open"] is True
    assert "precision" in probe["title"] and "float32" in probe["title"]
    assert probe["valueRows"] == 3 and probe["badCells"] == 2  # output and ULP of the one wrong element
    assert probe["repro"].startswith("import numpy as np")
    assert "Minimal failing input" in probe["dialogText"] and "Hypothesis seed" in probe["dialogText"]

    assert problems(browser) == []
    requests = [
        e["params"]["request"]["url"]
        for e in browser.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert requests and all(url.startswith(("file:", "data:", "about:")) for url in requests), requests


GROUPS = """(async () => {
  const wait = ms => new Promise(done => setTimeout(done, ms));
  const q = s => document.querySelectorAll(s);
  const out = {};
  out.atLoad = {gh: q('#matrix-table tr.gh').length, gd: q('#matrix-table tr.gd').length,
                open: q('tbody.grp.open').length, links: q('#matrix-table a.c').length,
                summary: [...q('#matrix-table tr.gh')].map(r => r.textContent.replace(/\\s+/g, ' ').trim()),
                count: document.getElementById('mcount').textContent};
  const numpy = q('#matrix-table tbody.grp')[1];
  numpy.querySelector('tr.gh').click();  // open numpy's group: its two rows are built from the data
  out.opened = {gd: q('#matrix-table tr.gd').length, chips: q('#matrix-table tr.gd .c').length,
                expanded: numpy.querySelector('button.tog').getAttribute('aria-expanded'),
                rows: [...numpy.querySelectorAll('tr.gd td.row')].map(td => td.textContent)};
  numpy.querySelector('tr.gd a.c.f').click();
  const drill = document.getElementById('drill');
  out.drill = {open: drill.open, title: document.getElementById('drill-title').textContent};
  document.getElementById('drill-close').click();
  document.getElementById('matrix').scrollIntoView();
  await wait(100);
  out.drillClosed = !document.getElementById('drill').open;
  const filter = document.getElementById('mfilter');
  filter.value = 'x/sum';
  filter.dispatchEvent(new Event('input'));
  await wait(400);
  const hidden = () => [...q('#matrix-table tbody.grp')].map(b => b.hidden);
  out.filtered = {gd: q('#matrix-table tr.gd').length, hidden: hidden(),
                  count: document.getElementById('mcount').textContent};
  filter.value = '';
  filter.dispatchEvent(new Event('input'));
  await wait(400);
  out.cleared = {gd: q('#matrix-table tr.gd').length, hidden: hidden()};
  document.getElementById('monly').click();
  out.only = q('#matrix-table tr.gd').length;
  document.getElementById('monly').click();
  document.querySelector('button.openall[data-t="sem-table"]').click();
  out.semantics = {gd: q('#sem-table tr.gd').length, cells: q('#sem-table td.sc').length};
  numpy.querySelector('tr.gh').click();  // and close it again
  out.closed = q('#matrix-table tr.gd').length;
  numpy.querySelector('tr.gh').click();
  document.getElementById('matrix').scrollIntoView();
  return JSON.stringify(out);
})()"""


def test_big_report_builds_rows_on_demand(tmp_path, browser, monkeypatch):
    """Tables over ``OPEN_ROWS`` rows start closed: summary rows only, a group's rows built on opening."""
    from test_report import small_run

    from conformance.report import html

    monkeypatch.setattr(html, "OPEN_ROWS", 1)
    out = tmp_path / "report.html"
    assert main(["report", str(small_run(tmp_path / "run")), "-o", str(out)]) == 0
    session = open_page(browser, out.as_uri())
    probe = evaluate(browser, session, GROUPS)
    time.sleep(0.2)
    screenshot(browser, session, tmp_path, "report-browser-groups.png")

    at_load = probe["atLoad"]
    assert at_load["gh"] == 2 and at_load["gd"] == 0 and at_load["open"] == 0 and at_load["links"] == 0
    assert (
        at_load["summary"][1].startswith("numpy 2.4.6")
        and "2 rows, 2 with unexpected results" in at_load["summary"][1]
    )
    assert "✗1 ≤40" in at_load["summary"][1] and at_load["count"] == "3 rows in 2 groups"
    assert (
        probe["opened"]["gd"] == 2 and probe["opened"]["chips"] == 7 and probe["opened"]["expanded"] == "true"
    )
    assert probe["opened"]["rows"] == ["exp-shift · eagersoftmax", "x/sum · eagersum_normalize"]
    assert probe["drill"]["open"] and "float32" in probe["drill"]["title"] and probe["drillClosed"]
    # the filter searches every group's data, closed groups included, and shows only the matches
    assert probe["filtered"] == {"gd": 1, "hidden": [True, False], "count": "1 of 3 rows"}
    assert probe["cleared"] == {"gd": 2, "hidden": [False, False]}  # back to what was open before
    assert probe["only"] == 2  # both numpy rows have unexpected results; jax's has none
    assert probe["semantics"] == {"gd": 2, "cells": 3} and probe["closed"] == 0
    assert problems(browser) == []


def wide_run(directory: Path) -> Path:
    """Five frameworks x three implementations (15 rows, over ``OPEN_ROWS``), every column group
    of the matrix present (forward, special values, consistency, backward), known discrepancies
    under two registry ids and one unexpected failure."""
    from conformance.report import synthetic as syn
    from conformance.report.cells import PROPERTY_ORDER

    records = [syn.envelope("wide")]
    for fw in ("numpy", "scipy", "torch", "jax", "tensorflow"):
        records.append(syn.framework(fw, "1.0"))
        for api in ("softmax-a", "softmax-b", "softmax-c"):
            for prop in PROPERTY_ORDER:
                for dtype in ("float16", "bfloat16", "float32", "float64"):
                    records.append(
                        syn.check("pass", framework=fw, api=api, prop=prop, dtype=dtype, version="1.0")
                    )
    for i, known in enumerate(("reg-a", "reg-a", "reg-b")):
        rec = syn.check(
            "expected-fail",
            framework="torch",
            api="softmax-a",
            prop="grad_precision",
            version="1.0",
            dtype=("float16", "bfloat16", "float32")[i],
            metric=90.0,
        )
        rec["known_issue"] = {"id": known, "reason": f"reason of {known}", "link": "", "strict": True}
        records.append(rec)
    records.append(
        syn.check(
            "fail",
            framework="jax",
            api="softmax-b",
            prop="precision",
            version="1.0",
            dtype="float64",
            metric=50.0,
        )
    )
    records.append(syn.end())
    return syn.write_run(directory, records)


LAYOUT = """(async () => {
  const wait = ms => new Promise(done => setTimeout(done, ms));
  const q = s => document.querySelectorAll(s);
  const table = document.getElementById('matrix-table'), box = document.getElementById('matrix-scroll');
  const fits = () => { box.scrollIntoView(); return table.scrollWidth <= box.clientWidth + 1; };
  const shown = cells => [...cells].filter(c => c.offsetParent !== null);
  const visibleHeads = () => shown(table.tHead.rows[1].cells).map(c => c.textContent);
  const out = {scoreGroups: q('#score-table tr.gh').length, scoreRows: q('#score-table tr.gd').length,
               matrixRows: q('#matrix-table tr.gd').length, view: table.getAttribute('data-view'),
               fitsAtLoad: fits(), headsAtLoad: visibleHeads(),
               views: [...q('button.colview')].map(b => b.textContent.replace(/\\s+/g, ' ').trim())};
  q('#score-table tr.gh')[2].click();  // torch
  out.scoreOpened = q('#score-table tr.gd').length;
  const back = [...q('button.colview')].find(b => b.textContent.startsWith('backward pass'));
  back.click();
  q('#matrix-table tr.gh')[2].click();
  out.back = {fits: fits(), heads: visibleHeads(),
              rowCells: shown(q('#matrix-table tr.gd')[0].cells).length};
  q('button.colview[data-view="all"]')[0].click();
  out.all = {fits: fits(), heads: visibleHeads().length};
  document.getElementById('failures').scrollIntoView();
  await wait(400);
  const flat = r => r.textContent.replace(/\\s+/g, ' ').trim();
  const rows = [...q('#fails-table tr')].map(r => r.className + '|' + flat(r));
  out.fails = rows;
  q('#fails-table tr.kh')[0].click();
  out.knownOpened = [...q('#fails-table tbody.known tr')]
    .map(r => r.className || r.querySelector('.pill').textContent);
  out.height = document.documentElement.scrollHeight;
  return JSON.stringify(out);
})()"""


def test_report_layout_at_1400px(tmp_path, browser):
    """At a 1400 px window: the scoreboard opens as one row per framework (rows on click); the
    matrix fits without horizontal scrolling in the view chosen at load and in each column group
    (gradient columns one click away, their unexpected count on the button); the failure list puts
    the unexpected result first and groups the expected failures per known-discrepancy id."""
    out = tmp_path / "report.html"
    assert main(["report", str(wide_run(tmp_path / "run")), "-o", str(out)]) == 0
    session = open_page(browser, out.as_uri(), width=1400)
    probe = evaluate(browser, session, LAYOUT)
    screenshot(browser, session, tmp_path, "report-browser-layout.png")

    assert probe["scoreGroups"] == 5 and probe["scoreRows"] == 0 and probe["matrixRows"] == 0
    assert probe["scoreOpened"] == 3
    assert probe["view"] == "0" and probe["fitsAtLoad"], probe
    assert probe["headsAtLoad"][:3] == ["implementation", "shape & dtype", "precision"]
    assert "∇ precision" not in probe["headsAtLoad"]
    assert probe["views"][0].startswith("forward pass") and "✗1" in probe["views"][0]
    assert any(v.startswith("backward pass") and "✗" not in v for v in probe["views"])  # expected-fail only
    assert probe["back"]["fits"] and probe["back"]["heads"] == [
        "implementation",
        "∇ precision",
        "∇ finite",
        "∇ sums to 0",
        "∇ masked = 0",
    ]
    assert probe["back"]["rowCells"] == 5
    assert probe["all"]["heads"] == 18 and not probe["all"]["fits"]  # every column: wider than the window
    fails = probe["fails"]
    assert fails[1].startswith("ksec bad|Unexpected: 1 cell") and "jax" in fails[2] and "fail" in fails[2]
    known = [r for r in fails if r.startswith("kh")]
    assert len(known) == 2 and "reg-a — reason of reg-a" in known[0] and "≈ 2" in known[0]
    assert "reg-b" in known[1]
    assert not any("expected-fail" in r.split("|")[0] for r in fails)  # cells stay closed until clicked
    assert probe["knownOpened"][:4] == ["ksec", "kh open", "expected-fail", "expected-fail"]
    assert probe["height"] < 4000, probe["height"]
    assert problems(browser) == []
