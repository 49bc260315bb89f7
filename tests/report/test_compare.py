"""Comparing a candidate run with a baseline: categories, matching, coverage, exit status."""

from __future__ import annotations

from conformance.cli import main
from conformance.records import read_run
from conformance.report import synthetic as syn
from conformance.report.compare import compare_runs


def baseline_records():
    return [
        syn.envelope("base"),
        syn.framework("numpy", "2.4.6"),
        syn.check("pass", dtype="float16", metric=1.0),  # -> fail: regression
        syn.check("fail", dtype="float32", metric=50.0),  # -> pass: fix
        syn.check("pass", dtype="bfloat16", metric=1.0),  # -> unsupported: other change
        syn.check("pass", dtype="float64", metric=0.5),  # -> 3.0 ULP: drift
        syn.check("pass", prop="bounds", metric=0.0),  # unchanged
        syn.check("pass", api="only-base", metric=0.5),  # coverage: baseline only
        syn.sample("softmax"),
        syn.sample("sum_normalize"),
        syn.end(),
    ]


def candidate_records(version="2.5.0"):
    same_worst = syn.check("fail", dtype="float32", metric=50.0)["worst_case"]  # element 1 moved up 1 ULP:
    bumped = dict(
        same_worst, output=syn.listing([0.09003058075904846, 0.24472849071025848, 0.6652409434318542])
    )
    return [
        syn.envelope("cand"),
        syn.framework("numpy", version),
        syn.check("fail", dtype="float16", version=version, metric=9.0, worst_case=bumped),
        syn.check("pass", dtype="float32", version=version, metric=0.5),
        syn.check("unsupported", dtype="bfloat16", version=version, metric=None),
        syn.check("pass", dtype="float64", version=version, metric=3.0),
        syn.check("pass", prop="bounds", version=version, metric=0.0),
        syn.check("pass", api="only-cand", version=version, metric=0.5),
        syn.sample("softmax", output_bump=1, framework_version=version),
        syn.sample("sum_normalize", framework_version=version),
        syn.end(),
    ]


def test_categories_match_on_cells_not_versions(tmp_path):
    base = read_run(syn.write_run(tmp_path / "b", baseline_records()))
    cand = read_run(syn.write_run(tmp_path / "c", candidate_records()))
    result = compare_runs(base, cand, ulp_threshold=1.0)
    assert result.common == 5
    assert [(c.key[5], c.base.verdict, c.cand.verdict) for c in result.regressions] == [
        ("float16", "pass", "fail")
    ]
    assert result.regressions[0].cand.version == "2.5.0" and result.regressions[0].base.version == "2.4.6"
    assert [(c.key[5], c.base.verdict, c.cand.verdict) for c in result.fixes] == [("float32", "fail", "pass")]
    assert [(c.key[5], c.cand.verdict) for c in result.changes] == [("bfloat16", "unsupported")]
    assert sorted((c.key[5], c.delta) for c in result.drift) == [
        ("float16", 8.0),
        ("float32", -49.5),
        ("float64", 2.5),
    ]
    assert [k[1] for k in result.only_baseline] == ["only-base"]
    assert [k[1] for k in result.only_candidate] == ["only-cand"]
    # output bits: the softmax sample moved by one ULP on element 0; sum-normalization did not
    assert result.bits_compared["samples"] == 2
    sample_changes = [c for c in result.bits if c.key[6] == ""]
    assert [(c.key[3], c.note) for c in sample_changes] == [
        ("softmax", "sample vector: 1 of 16 element(s) differ, up to 1 ULP apart")
    ]


def test_worst_case_outputs_are_compared_on_the_same_input(tmp_path):
    base = baseline_records()  # float32 fails on worked_example[0]
    cand = candidate_records()
    cand[3] = syn.check(
        "fail", dtype="float32", version="2.5.0", metric=50.0, worst_case=cand[2]["worst_case"]
    )
    result = compare_runs(
        read_run(syn.write_run(tmp_path / "b", base)), read_run(syn.write_run(tmp_path / "c", cand))
    )
    assert result.bits_compared["worst_cases"] == 1
    worst = [c for c in result.bits if c.key[6] == "precision"]
    assert len(worst) == 1 and worst[0].note.startswith("worst case worked_example[0]: 1 element(s) differ")


def test_threshold_option_filters_drift(tmp_path):
    base = read_run(syn.write_run(tmp_path / "b", baseline_records()))
    cand = read_run(syn.write_run(tmp_path / "c", candidate_records()))
    assert len(compare_runs(base, cand, ulp_threshold=10.0).drift) == 1  # only the -49.5
    assert len(compare_runs(base, cand, ulp_threshold=0.0).drift) == 3


def test_cli_exit_status_outputs_and_escaping(tmp_path, capsys):
    base = syn.write_run(tmp_path / "b", baseline_records())
    cand = syn.write_run(tmp_path / "c", candidate_records(version="<script>alert(1)</script>"))
    out = tmp_path / "cmp" / "compare.html"
    assert main(["compare", str(base), str(cand), "-o", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "regressions: 1" in printed and "only in baseline: 1 cells" in printed
    page = out.read_text()
    for anchor in ("regressions", "fixes", "changes", "drift", "bits", "coverage", "environment"):
        assert f'id="{anchor}"' in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "numpy · exp-shift · eager · softmax" in page
    markdown = (tmp_path / "cmp" / "compare.md").read_text()
    assert "### Regressions (1)" in markdown and "<script>" not in markdown
    # no regression the other way round: exit 0
    assert main(["compare", str(base), str(base), "-o", str(tmp_path / "same.html")]) == 0
    assert "regressions: 0" in capsys.readouterr().out


def test_compare_bad_input(tmp_path, capsys):
    base = syn.write_run(tmp_path / "b", baseline_records())
    assert main(["compare", str(base), str(tmp_path / "missing"), "-o", str(tmp_path / "x.html")]) == 2
    assert "missing: no such run" in capsys.readouterr().err
    assert (
        main(["compare", str(base), str(base), "--ulp-threshold", "-1", "-o", str(tmp_path / "x.html")]) == 2
    )
    assert "--ulp-threshold must be >= 0" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()
