"""The HTML report and Markdown summary: content, aggregation, escaping, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conformance.cli import _report_and_exit, build_parser, main
from conformance.records import read_run
from conformance.report import synthetic as syn
from conformance.report.cells import fmt_ulp
from conformance.report.details import element_ulps
from conformance.report.html import script_json
from conformance.report.model import Chip, build_model

HOSTILE = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')


def small_run(directory: Path, **envelope) -> Path:
    """numpy (2 implementations) with every verdict, semantics, samples; jax passing."""
    records = [
        syn.envelope("small", **envelope),
        syn.framework("numpy"),
        syn.framework("jax", "0.10.2"),
        syn.check("pass", dtype="float16", metric=0.75),
        syn.check("fail", dtype="float32", metric=40.0),
        syn.check("expected-fail", dtype="bfloat16", metric=9.0),
        syn.check("fixed", dtype="float64", prop="stability", metric=1.0),
        syn.check("unsupported", dtype="float64", metric=None),
        syn.check("pass", prop="bounds", metric=0.0),
        syn.check("error", api="x/sum", op="sum_normalize", prop="shape_dtype", metric=None),
        syn.check("pass", framework="jax", api="nn.softmax", version="0.10.2", metric=1.5),
        syn.semantics("all_neginf[0]", "undefined-input"),
        syn.semantics("posinf_entry[0]", "undocumented-difference"),
        syn.semantics("nan_entry[0]", "matches-limit", framework="jax", api="nn.softmax"),
        syn.sample("softmax"),
        syn.sample("sum_normalize"),
        syn.sample("softmax", framework="jax", api="nn.softmax"),
        syn.end(),
        syn.end(),
    ]
    return syn.write_run(directory, records)


def blob(page: str, name: str = "details") -> dict:
    """The JSON block ``name`` of a page: ``details`` (drill-downs), ``score-data``, ``matrix-data``..."""
    match = re.search(rf'<script type="application/json" id="{name}">(.*?)</script>', page, re.S)
    assert match, f"the JSON block {name} is missing"
    return json.loads(match.group(1))


def matrix_chips(page: str) -> list[list]:
    """Every chip of the matrix rows in the page's data: ``[class, text, title?, key?]``."""
    return [
        chip for group in blob(page, "matrix-data")["g"] for row in group for cell in row[8] for chip in cell
    ]


def test_report_has_every_section_and_is_self_contained(tmp_path, capsys):
    run_dir = small_run(tmp_path / "run")
    out = tmp_path / "out" / "report.html"
    assert main(["report", str(run_dir), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"report: {out}" in printed
    assert f"  open: file://{out.resolve()}" in printed.splitlines()  # a link a terminal can open
    page = out.read_text()
    for anchor in ("environment", "scoreboard", "matrix", "failures", "errors", "semantics", "samples"):
        assert f'id="{anchor}"' in page
    # environment of the run
    for text in ("3.11.7 (CPython)", "Intel(R) Xeon(R) Processor (2 cores)", "0.10.2", "1234", "quick"):
        assert text in page
    # two inline SVG figures (histograms, sample vector), text kept as text
    assert page.count('<svg class="plot"') == 2
    assert "<image" not in page  # nothing rasterised
    # self-contained: no external resources
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<link" not in page and "@import" not in page
    # the Markdown summary next to it
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| grade |" in markdown and "### Unexpected results (3)" in markdown


def test_matrix_has_one_chip_per_check_and_scoreboard_counts(tmp_path):
    run = read_run(small_run(tmp_path / "run"))
    model = build_model(run)
    chips = [chip for row in model.matrix for cells in row.cells.values() for chip in cells]
    assert len(chips) == len(run.checks) == 8
    assert [(r.framework, r.api, r.mode) for r in model.matrix] == [
        ("jax", "nn.softmax", "eager"),
        ("numpy", "exp-shift", "eager"),
        ("numpy", "x/sum", "eager"),
    ]
    numpy_row = next(r for r in model.scoreboard if r.implementation == "numpy-exp-shift-eager")
    assert numpy_row.counts == {
        "pass": 2,
        "fail": 1,
        "expected-fail": 1,
        "fixed": 1,
        "unsupported": 1,
        "skipped": 0,
        "error": 0,
    }
    assert numpy_row.judged == 5 and numpy_row.grade == "F"  # 1 unexpected failure in 5 judged checks
    jax_row = next(r for r in model.scoreboard if r.framework == "jax")
    assert jax_row.grade == "A" and jax_row.pass_pct == 100.0
    precision = next(r for r in model.matrix if r.api == "exp-shift").cells["precision"]
    assert [c.text for c in precision] == ["f16 0.75", "bf16 9.0", "f32 40", "f64"]
    assert [c.verdict for c in precision] == ["pass", "expected-fail", "fail", "unsupported"]
    assert model.headline["unexpected"] == 3 and model.headline["status"] == "bad"


def test_drill_down_blob_holds_failing_cells_with_element_errors(tmp_path):
    out = tmp_path / "report.html"
    assert main(["report", str(small_run(tmp_path / "run")), "-o", str(out)]) == 0
    data = blob(out.read_text())
    details = data["d"]
    assert [d["v"] for d in details] == ["fail", "error", "fixed", "expected-fail"]  # unexpected first
    fail = details[0]
    assert fail["seed"] == 1234 and fail["repro"].startswith("import numpy")
    rows = fail["wc"]["rows"]
    assert [r[4] for r in rows] == [1.0, 0.0, 0.0]  # element 0 of the output is one float32 ULP off
    assert rows[0][2] == 0.09003057330846786 and rows[0][3] == 0.09003058075904846
    assert data["files"] == {"small": str(tmp_path / "run" / "results.jsonl")}  # for the jq hint
    assert fail["impl"] == "numpy-exp-shift-eager" and fail["p"] == "precision" and "src" not in fail
    # every drill-down is reachable from a chip in the matrix (the chips are built from its data)
    page = out.read_text()
    keys = [chip[3] for chip in matrix_chips(page) if len(chip) > 3]
    assert sorted(keys) == list(range(len(details)))


def test_histograms_sum_per_framework_and_dtype(tmp_path):
    run = read_run(small_run(tmp_path / "run"))
    groups = {(g.label, g.dtype): g for g in build_model(run).histograms}
    assert set(groups) == {
        ("numpy", "float16"),
        ("numpy", "bfloat16"),
        ("numpy", "float32"),
        ("numpy", "float64"),
        ("jax", "float32"),
    }
    f32 = groups[("numpy", "float32")]
    assert f32.slices == 40 and f32.counts[0] == 20 and f32.worst == 40.0 and f32.worst_pass is None
    assert groups[("numpy", "float16")].worst_pass == 0.75


def test_semantics_table_and_samples(tmp_path):
    model = build_model(read_run(small_run(tmp_path / "run")))
    assert model.semantics_columns == ["all_neginf", "posinf_entry", "nan_entry"]
    numpy_row = next(r for r in model.semantics if r.framework == "numpy")
    assert numpy_row.cells["posinf_entry"].classification == "undocumented-difference"
    assert numpy_row.cells["all_neginf"].observed == "[nan nan]"
    assert set(model.samples) == {"jax", "numpy"} and set(model.samples["numpy"]) == {
        "softmax",
        "sum_normalize",
    }


def test_hostile_strings_stay_inert_text(tmp_path):
    evil_api, evil_version = HOSTILE
    records = [
        syn.envelope("evil", cpu=HOSTILE[0], argv=list(HOSTILE)),
        syn.framework("numpy", evil_version, details={"gpus": [HOSTILE[0]]}),
        syn.check(
            "fail", api=evil_api, version=evil_version, message=HOSTILE[1], repro=HOSTILE[0] + "\n</script>"
        ),
        syn.check("pass", api=evil_api, version=evil_version, dtype="float16"),
        syn.semantics(case="nan_entry[0]", api=evil_api, note=HOSTILE[0], error=HOSTILE[1]),
        syn.sample("softmax", api=evil_api),
        syn.end(),
    ]
    out = tmp_path / "report.html"
    assert main(["report", str(syn.write_run(tmp_path / "run", records)), "-o", str(out)]) == 0
    page = out.read_text()
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    # exactly the page's own script elements (one script, five JSON blocks), none closable by data
    names = re.findall(r'<script type="application/json" id="([^"]+)">', page)
    assert names == ["details", "score-data", "matrix-data", "sem-data", "hist-data"]
    assert page.count("<script") == 6 and page.count("</script>") == 6
    for raw in re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', page, re.S):
        assert "<" not in raw and ">" not in raw and "&" not in raw
    details = blob(page)["d"]
    assert details[0]["repro"] == HOSTILE[0] + "\n</script>" and details[0]["msg"] == HOSTILE[1]
    assert details[0]["api"] == evil_api
    # the rows built by the page's script carry the hostile strings as data (written with textContent)
    [[score_row]] = blob(page, "score-data")["g"]
    assert score_row[2].startswith(evil_api)
    [[matrix_row]] = blob(page, "matrix-data")["g"]
    assert matrix_row[3] == evil_api and "<script>" in matrix_row[6]
    [[sem_row]] = blob(page, "sem-data")["g"]
    assert sem_row[1] == evil_api and sem_row[5][0][1] == "raises " + HOSTILE[1]
    # the script writes data with textContent only: no HTML sinks (innerHTML, document.write, ...)
    script = page[page.index("<script>") :]
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
    markdown = (tmp_path / "report.md").read_text()
    assert "<script>" not in markdown and "<img" not in markdown


def test_tables_are_grouped_per_framework_with_rows_as_data(tmp_path, monkeypatch):
    from conformance.report import html

    model = build_model(read_run(small_run(tmp_path / "run")))
    score, matrix = html.scoreboard_table(model), html.matrix_table(model)
    assert [g.framework for g in score.groups] == [g.framework for g in matrix.groups] == ["jax", "numpy"]
    numpy_score = score.groups[1].summary
    assert numpy_score["grade"] == "F" and numpy_score["tally"] == "2 F" and numpy_score["n"] == 2
    assert numpy_score["counts"]["pass"] == 2 and numpy_score["counts"]["error"] == 1
    # the summary row of numpy's matrix: per property, checks per verdict (worst first), worst ULP error
    numpy_matrix = matrix.groups[1].summary
    precision = numpy_matrix["cells"][model.properties.index("precision")]
    assert precision[0] == [("f", "✗1 ≤40"), ("x", "≈1 ≤9.0"), ("p", "✓1 ≤0.75"), ("u", "–1")]
    assert "1 fail (worst 40 ULP)" in precision[1]
    assert numpy_matrix["n"] == 2 and numpy_matrix["unexpected"] == 2 and numpy_matrix["worst"] == "error"
    assert len(matrix.groups[1].rows) == 2 and matrix.open and matrix.rows == 3
    # merged passing chips count as the checks they stand for
    chips = [Chip("pass", "✓4 ≤6.5", "", count=4, ulp=6.5), Chip("pass", "f32 1.0", "", ulp=1.0)]
    assert html._aggregate_chips(chips)[0] == [("p", "✓5 ≤6.5")]

    out = tmp_path / "small.html"
    assert main(["report", str(tmp_path / "run"), "-o", str(out)]) == 0
    page = out.read_text()
    # a small run: every group open at load (its rows built by the script), no "open all" button
    assert (
        page.count('<tbody class="grp open"') == 2 * 3 and page.count('<tbody class="grp w-error open"') == 1
    )
    assert 'class="gd' not in page and 'class="openall"' not in page
    assert len(blob(page, "score-data")["g"][1]) == 2 and len(blob(page, "hist-data")["g"][1]) == 4
    # a big run: only the summary rows in the page, groups closed until opened
    monkeypatch.setattr(html, "OPEN_ROWS", 1)
    assert main(["report", str(tmp_path / "run"), "-o", str(out)]) == 0
    page = out.read_text()
    assert " open" not in "".join(re.findall(r'<tbody class="[^"]*"', page))
    assert page.count('class="openall"') == 4 and "3 rows in 2 groups" in page


def test_script_json_escapes_markup():
    text = str(script_json({"a": "</script><!-- & \u2028"}))
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": "</script><!-- & \u2028"}


def test_element_ulps_and_ulp_format():
    one_up = {"dtype": "bfloat16", "values": [1.0078125, 2.0]}
    exact = {"dtype": "bfloat16", "values": [1.0, 2.0]}
    assert element_ulps(one_up, exact) == [1.0, 0.0]
    assert element_ulps({"dtype": "float16", "values": [1.0]}, exact) == []  # dtypes differ
    assert [fmt_ulp(v) for v in (0.5, 3.21, 40.0, 1934.4, 1.66e7, 8.8e15, "nan")] == [
        "0.5",
        "3.2",
        "40",
        "1.9k",
        "17M",
        "8.8e15",
        "nan",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"type": "envelope", "schema_version": 1}\n{not json\n', r"results.jsonl:2: not valid JSON"),
        (
            '{"type": "envelope", "schema_version": 7}\n',
            r"schema version 7, this suite reads version 1 \(a merged",
        ),
        ("", r"empty results file"),
    ],
)
def test_bad_results_file_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, content, message):
    run_dir = tmp_path / "bad"
    run_dir.mkdir()
    (run_dir / "results.jsonl").write_text(content)
    out = tmp_path / "out" / "report.html"
    assert main(["report", str(run_dir), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.search(message, err) and str(run_dir) in err
    assert not (tmp_path / "out").exists()


def test_missing_run_and_directory_output(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope"), "-o", str(tmp_path / "r.html")]) == 2
    assert "no such run" in capsys.readouterr().err
    assert main(["report", str(small_run(tmp_path / "run")), "-o", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_end_of_run_report_and_no_report_flag(tmp_path, capsys):
    run_dir = small_run(tmp_path / "run")
    assert _report_and_exit(run_dir, [], report=False) == 1
    assert not (run_dir / "report.html").exists()
    assert _report_and_exit(run_dir, [], report=True) == 1  # the exit status is the run's
    printed = capsys.readouterr().out
    assert f"report: {run_dir / 'report.html'}" in printed and (run_dir / "summary.md").is_file()
    assert f"  open: {(run_dir / 'report.html').resolve().as_uri()}" in printed.splitlines()
    assert build_parser().parse_args(["run", "--no-report"]).no_report is True
    assert build_parser().parse_args(["run"]).no_report is False


def test_report_of_a_run_made_before_histograms_and_samples(tmp_path):
    records = [syn.envelope("old"), syn.framework(), syn.check("pass", histogram=None), syn.end()]
    out = tmp_path / "report.html"
    assert main(["report", str(syn.write_run(tmp_path / "run", records)), "-o", str(out)]) == 0
    page = out.read_text()
    assert "No precision record carries a histogram" in page and "No sample records" in page


def test_big_runs_merge_the_passing_chips_of_a_cell(tmp_path, monkeypatch):
    from conformance.report import model as model_module

    monkeypatch.setattr(model_module, "COLLAPSE_ABOVE", 4)
    model = build_model(read_run(small_run(tmp_path / "run")))
    assert model.collapsed
    precision = next(r for r in model.matrix if r.api == "exp-shift").cells["precision"]
    # the one passing float16 check became "✓1 ≤0.75"; the other verdicts keep their own chips
    assert [(c.verdict, c.text) for c in precision] == [
        ("pass", "✓1 ≤0.75"),
        ("expected-fail", "bf16 9.0"),
        ("fail", "f32 40"),
        ("unsupported", "f64"),
    ]
    assert precision[2].key is not None  # still a link to its drill-down


def test_gradient_drill_down_shows_the_cotangent():
    """A backward pass's worst case carries its cotangent: the drill-down gets it as a column."""
    from conformance.report.details import _worst_case

    listing = lambda values: {"shape": [len(values)], "dtype": "float32", "values": values}  # noqa: E731
    worst = {
        "input": listing([1.0, 2.0, 3.0]),
        "cotangent": listing([0.0, 1.0, 0.0]),
        "output": listing([0.1, 0.2, 0.3]),
        "expected": listing([0.1, 0.25, 0.3]),
    }
    shown = _worst_case(worst, None)
    assert shown["backward"] is True
    assert [row[5] for row in shown["rows"]] == [0.0, 1.0, 0.0]
    forward = _worst_case({k: v for k, v in worst.items() if k != "cotangent"}, None)
    assert forward["backward"] is False and all(len(row) == 5 for row in forward["rows"])


def test_environment_names_a_custom_implementations_source(tmp_path):
    """A custom implementation has no version: the environment shows where it comes from, not '?'."""
    records = [
        syn.envelope("custom"),
        syn.framework("custom", None, details={"custom": ["kernels.py:my_softmax", "run-it --fast"]}),
        syn.check("pass", framework="custom", api="my_softmax", version=None, metric=0.5),
        syn.end(),
    ]
    rows = dict(build_model(read_run(syn.write_run(tmp_path / "run", records))).environment)
    assert rows["custom"] == ["custom: kernels.py:my_softmax; run-it --fast"]


def _precision(verdict: str, dtype: str, counts: list[int]) -> dict:
    record = syn.check(verdict, dtype=dtype, metric=3.0)
    record["histogram"] = {"edges": syn.HISTOGRAM_EDGES, "counts": counts, "nonfinite": 0}
    return record


def test_error_distributions_keep_passing_and_expected_failures_apart(tmp_path):
    """Slices of passing checks and of known discrepancies are two distributions (and two table
    rows), never summed into one; the figure's one legend lies outside every panel."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from conformance.report.plots import histogram_figure

    edges = len(syn.HISTOGRAM_EDGES)
    records = [
        syn.envelope("h"),
        syn.framework("numpy"),
        _precision("pass", "float32", [5] + [0] * (edges - 1)),
        _precision("expected-fail", "float32", [0] * (edges - 1) + [7]),
        _precision("pass", "float16", [2] + [0] * (edges - 1)),
        syn.end(),
    ]
    model = build_model(read_run(syn.write_run(tmp_path / "run", records)))
    found = {(g.dtype, g.status): (g.slices, g.records) for g in model.histograms}
    assert found == {
        ("float16", "passing"): (2, 1),
        ("float32", "passing"): (5, 1),
        ("float32", "expected-fail"): (7, 1),
    }
    fig = histogram_figure(model.histograms)
    renderer = FigureCanvasAgg(fig).get_renderer()
    (legend,) = fig.legends
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts == ["float16", "float32", "passing checks", "expected failures (known)"]
    box = legend.get_window_extent(renderer)
    for ax in fig.axes:
        assert ax.get_legend() is None
        if ax.get_visible():
            assert not box.overlaps(ax.get_window_extent(renderer)), "the legend covers a panel"


def test_failing_inputs_name_the_conditions_their_slices_met():
    """The drill-down's failing inputs say which conditions each input's failing slices met (what a
    registry ``condition`` entry is matched against); an input meeting none is shown bare, and an
    input with two kinds of failing slice shows both, "none" for a kind meeting no condition."""
    from conformance.report.details import _failing_inputs

    cases = ["long_axis[0]", "subnormal_outputs[0]", "textbook[0]"]
    conditions = {
        "long_axis[0]": [[], ["sum-overflow"]],
        "subnormal_outputs[0]": [["flush-near-tiny"]],
    }
    assert _failing_inputs(cases, conditions) == (
        "long_axis[0] [none | sum-overflow], subnormal_outputs[0] [flush-near-tiny], textbook[0]"
    )
    assert _failing_inputs(cases) == ", ".join(cases)  # records written before conditions
