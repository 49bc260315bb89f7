"""The version trend (conformance/report/trend.py): one check across releases of its framework."""

from __future__ import annotations

from pathlib import Path

from conformance.records import Run
from conformance.report.html import render_report
from conformance.report.markdown import report_markdown
from conformance.report.model import build_model
from conformance.report.trend import build_trend, trend_markdown, version_key


def check(version: str, verdict: str, *, source: str = "", metric=None, **fields) -> dict:
    rec = {
        "type": "check",
        "framework": "jax",
        "framework_version": version,
        "implementation": f"jax-{fields.get('api', 'nn.softmax')}-eager",
        "api": "nn.softmax",
        "mode": "eager",
        "op": "softmax",
        "property": "precision",
        "dtype": "float32",
        "device": "cpu",
        "verdict": verdict,
        "metric": metric,
        "unit": "ULP",
        "message": "",
        "source": source or f"env-{version}",
    }
    rec.update(fields)
    return rec


def run_of(checks: list[dict]) -> Run:
    labels = sorted({c["source"] for c in checks})
    sources = [{"source": s, "run_id": s, "suite_version": "0.1.0", "host": "box"} for s in labels]
    envelope = {"type": "envelope", "run_id": "m", "merged": True, "sources": sources}
    return Run(Path("m/results.jsonl"), envelope, checks=checks)


def test_versions_are_ordered_as_releases_not_as_text():
    versions = ["0.10.2", "0.4.30", "0.9.2", "0.4.38", "2.13.0+cpu", "2.13.0"]
    expected = ["0.4.30", "0.4.38", "0.9.2", "0.10.2", "2.13.0", "2.13.0+cpu"]
    assert sorted(versions, key=version_key) == expected


def test_appeared_disappeared_changed_and_drift_are_read_off_consecutive_versions():
    checks = [
        # precision: holds, breaks in 0.6.2, expected-fail later (the same state), gone in 0.10.2
        check("0.4.30", "pass", metric=1.0),
        check("0.6.2", "fail", metric=300.0),
        check("0.9.2", "expected-fail", metric=280.0),
        check("0.10.2", "pass", metric=2.0),
        # bounds: unsupported first, then passes; drift on stability without a verdict change
        *(check(v, x, property="bounds", unit="elements outside") for v, x in
          (("0.4.30", "unsupported"), ("0.6.2", "pass"), ("0.9.2", "pass"), ("0.10.2", "pass"))),
        *(check(v, "pass", property="stability", metric=m) for v, m in
          (("0.4.30", 1.0), ("0.6.2", 1.0), ("0.9.2", 30.0), ("0.10.2", 30.0))),
        # sum_to_one: broken in every version
        *(check(v, "fail", property="sum_to_one", unit="abs error", metric=1.0) for v in
          ("0.4.30", "0.6.2", "0.9.2", "0.10.2")),
    ]  # fmt: skip
    trend = build_trend(run_of(checks))
    (jax,) = trend.frameworks
    assert jax.versions == ["0.4.30", "0.6.2", "0.9.2", "0.10.2"] and trend.single == {}
    rows = {r.field("property"): r for r in jax.rows}
    precision = rows["precision"]
    assert [(t.kind, t.previous, t.version) for t in precision.transitions] == [
        ("appeared", "0.4.30", "0.6.2"),
        ("disappeared", "0.9.2", "0.10.2"),
    ]
    assert precision.summary == "appeared in 0.6.2; gone in 0.10.2"
    assert [p.ulp for p in precision.points.values()] == [1.0, 300.0, 280.0, 2.0]
    assert rows["bounds"].summary == "unsupported → pass in 0.6.2"
    assert rows["bounds"].points["0.6.2"].ulp is None  # not a ULP property
    assert rows["stability"].summary == "ULP error moved in 0.9.2"
    assert rows["sum_to_one"].summary == "discrepancy in every version" and not rows["sum_to_one"].changed
    assert jax.counts() == {"appeared": 1, "disappeared": 1, "changed": 1, "drift": 1}
    assert [r.field("property") for r in jax.steady_discrepancies] == ["sum_to_one"]


def test_environments_of_one_version_are_combined_by_worst_verdict_and_unmeasured_versions_skipped():
    checks = [
        check("2.16.2", "pass", source="py311-tf216", framework="tensorflow", metric=1.0),
        check("2.18.1", "pass", source="py311-tf218", framework="tensorflow", metric=2.0),
        check("2.18.1", "fail", source="py311-tf218-np1", framework="tensorflow", metric=9e6),
        check("2.21.0", "fail", source="py311-tf221", framework="tensorflow", metric=9e6),
        check("2.21.0", "pass", source="py311-tf221", framework="tensorflow", dtype="float64", metric=1.0),
        check("1.26.4", "pass", source="py311-tf216", framework="numpy"),
    ]
    trend = build_trend(run_of(checks))
    (tf,) = trend.frameworks
    assert trend.single == {"numpy": "1.26.4"}
    assert tf.sources["2.18.1"] == ["py311-tf218", "py311-tf218-np1"]
    rows = {r.field("dtype"): r for r in tf.rows}
    point = rows["float32"].points["2.18.1"]
    assert (point.verdict, point.ulp, point.sources) == ("fail", 9e6, ["py311-tf218", "py311-tf218-np1"])
    assert rows["float32"].summary == "appeared in 2.18.1"
    assert list(rows["float64"].points) == ["2.21.0"] and not rows["float64"].changed  # measured once


def test_markdown_groups_changes_and_escapes_names():
    points = (("0.4.30", "pass", 1.0), ("0.6.2", "fail", 7e3))
    checks = [
        check(v, x, api="a|b<c>", property=p, metric=m)
        for p in ("precision", "stability")
        for v, x, m in points
    ]
    text = trend_markdown(build_trend(run_of(checks)))
    assert text.startswith("### Version trend")
    assert "**jax** at 2 versions (0.4.30, 0.6.2): 2 checks; 2 appeared" in text
    row = next(line for line in text.splitlines() if "appeared in 0.6.2" in line)
    assert "a\\|b&lt;c&gt;" in row and "precision, stability: f32" in row and "| fail 7" in row
    assert trend_markdown(build_trend(run_of([check("0.4.30", "pass")]))) == ""


def test_report_shows_the_trend_in_html_and_markdown():
    checks = [check("0.4.30", "pass", metric=1.0), check("0.6.2", "fail", metric=7e3)]
    checks += [check(v, "pass", api="<script>x</script>") for v in ("0.4.30", "0.6.2")]
    model = build_model(run_of(checks))
    page = render_report(model)
    assert 'id="trend"' in page and 'href="#trend"' in page and "appeared in 0.6.2" in page
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert page.index(">0.4.30</th>") < page.index(">0.6.2</th>")
    assert "### Version trend" in report_markdown(model)
    single = build_model(run_of([check("0.4.30", "pass")]))
    assert 'id="trend"' not in render_report(single) and "Version trend" not in report_markdown(single)


def semantics(version: str, classification: str, values: list, *, error: str | None = None) -> dict:
    return {
        "type": "semantics",
        "framework": "torch",
        "framework_version": version,
        "implementation": "torch-F.softmax-eager",
        "api": "F.softmax",
        "mode": "eager",
        "op": "softmax",
        "device": "cpu",
        "dtype": "float32",
        "case": "all_neginf[0]",
        "observed": {"shape": [len(values)], "dtype": "float32", "values": values, "truncated": False},
        "observed_dtype": "float32",
        "error": error,
        "classification": classification,
        "source": f"env-{version}",
    }


def test_semantics_changes_are_trend_rows_with_the_release_they_appeared_and_went_in():
    records = [
        semantics("2.0.1", "matches-limit", ["nan", "nan"]),
        semantics("2.7.1", "documented-difference", [0.0, 0.0]),  # appeared
        semantics("2.8.0", "documented-difference", [0.5, 0.5]),  # same class, other output
        semantics("2.9.0", "error", [], error="RuntimeError: boom"),  # same state, raises now
        semantics("2.13.0", "matches-limit", ["nan", "nan"]),  # gone
    ]
    run = run_of([check("2.0.1", "pass", framework="torch", source="env-2.0.1")])
    run.semantics = records
    (torch,) = build_trend(run).frameworks
    assert torch.versions == ["2.0.1", "2.7.1", "2.8.0", "2.9.0", "2.13.0"]
    (row,) = [r for r in torch.rows if r.field("property") == "semantics all_neginf[0]"]
    assert [(t.kind, t.version) for t in row.transitions] == [
        ("appeared", "2.7.1"),
        ("semantics", "2.8.0"),
        ("semantics", "2.9.0"),
        ("disappeared", "2.13.0"),
    ]
    assert row.summary.startswith(
        "appeared in 2.7.1 (matches-limit [nan, nan] float32 → documented-difference [0.0, 0.0] float32)"
    )
    assert (
        "semantics changed in 2.9.0: documented-difference [0.5, 0.5] float32 → error raises RuntimeError"
        in (row.summary)
    )
    assert torch.counts() == {"appeared": 1, "semantics": 1, "disappeared": 1}
    page = render_report(build_model(run))
    assert "semantics changed in 2.8.0" in page and "1 semantics" in page
