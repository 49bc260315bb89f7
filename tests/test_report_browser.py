"""The report in a real browser: headless Chromium driven over the DevTools protocol (a pipe, stdlib only).

Opens a report, checks that the scoreboard, the matrix, the plots and a drill-down (opened
by clicking a failing chip from JavaScript) render, that the console stays free of errors
and that the page makes no network request; saves screenshots to ``reports/artifacts/``
(``report-browser-top.png``, ``report-browser-drilldown.png``) and to pytest's tmp dir.
Skipped, with the reason, only when no Chromium binary is found.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.report.chromium import Chromium, find_chromium, open_page

ARTIFACTS = Path(__file__).resolve().parent.parent / "reports" / "artifacts"
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
    scoreboard: document.querySelectorAll('table.score tbody tr').length,
    grades: [...document.querySelectorAll('table.score .grade')].map(g => g.textContent),
    matrixRows: document.querySelectorAll('#matrix-table tbody tr').length,
    chips: document.querySelectorAll('#matrix-table .c').length,
    matrixWidth: box(document.getElementById('matrix-table')).width,
    failures: document.querySelectorAll('#fails-table tbody tr').length,
    svgs: svgs.map(s => [box(s).width, box(s).height, s.querySelectorAll('text').length]),
    openBefore: before,
    open: dialog.open,
    title: document.getElementById('drill-title').textContent,
    valueRows: dialog.querySelectorAll('table.vals tbody tr').length,
    badCells: dialog.querySelectorAll('table.vals td.bad').length,
    repro: (dialog.querySelector('pre.repro') || {}).textContent || '',
    dialogText: dialog.textContent,
    semanticsCells: document.querySelectorAll('table.sem td.sc').length,
  });
})()"""


def test_report_renders_in_chromium(tmp_path, browser):
    from test_report import small_run

    out = tmp_path / "report.html"
    assert main(["report", str(small_run(tmp_path / "run")), "-o", str(out)]) == 0
    session = open_page(browser, out.as_uri())
    top = base64.b64decode(browser.send("Page.captureScreenshot", {"format": "png"}, session=session)["data"])
    result = browser.send(
        "Runtime.evaluate",
        {"expression": PROBE, "returnByValue": True, "awaitPromise": True},
        session=session,
    )
    assert "exceptionDetails" not in result, result
    probe = json.loads(result["result"]["value"])
    time.sleep(0.2)
    drill = base64.b64decode(
        browser.send("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, png in (("report-browser-top.png", top), ("report-browser-drilldown.png", drill)):
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
        (tmp_path / name).write_bytes(png)
        (ARTIFACTS / name).write_bytes(png)

    assert probe["scoreboard"] == 3 and sorted(probe["grades"]) == ["A", "F", "F"]
    assert probe["matrixRows"] == 3 and probe["chips"] == 8  # one chip per check
    assert probe["matrixWidth"] > 600
    assert probe["failures"] == 4  # fail, error, fixed, expected-fail, rendered from the JSON blob
    assert len(probe["svgs"]) == 2
    for width, height, texts in probe["svgs"]:
        assert width > 300 and height > 100 and texts > 5
    assert probe["semanticsCells"] == 3
    assert probe["openBefore"] is False and probe["open"] is True
    assert "precision" in probe["title"] and "float32" in probe["title"]
    assert probe["valueRows"] == 3 and probe["badCells"] == 2  # output and ULP of the one wrong element
    assert probe["repro"].startswith("import numpy as np")
    assert "Minimal failing input" in probe["dialogText"] and "Hypothesis seed" in probe["dialogText"]

    problems = [
        e
        for e in browser.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") in ("error", "assert"))
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")
    ]
    assert problems == []
    requests = [
        e["params"]["request"]["url"]
        for e in browser.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert requests and all(url.startswith(("file:", "data:", "about:")) for url in requests), requests
