"""``compare`` and the semantics records: a changed behaviour on special inputs is a change.

The runs are results files written the way the report's tests write them
(``conformance.report.synthetic``): the checks are identical in both runs, so whatever
``compare`` reports here comes from the ``semantics`` records alone.
"""

from __future__ import annotations

from conformance.cli import main
from conformance.records import read_run
from conformance.report import synthetic as syn
from conformance.report.compare import compare_runs


def _checks(version):
    return [
        syn.check("pass", dtype="float32", version=version, metric=0.5),
        syn.check("pass", prop="bounds", version=version, metric=0.0),
        syn.check("pass", api="only-base" if version == "1.0" else "only-cand", version=version),
    ]


def _sem(case, classification, observed, *, version, api="exp-shift", error=None):
    return syn.semantics(
        case,
        classification,
        api=api,
        implementation=f"numpy-{api}-eager",
        framework_version=version,
        observed=None if observed is None else syn.listing(observed),
        observed_dtype=None if observed is None else "float32",
        error=error,
    )


def baseline_records():
    v = "1.0"
    return [
        syn.envelope("base"),
        syn.framework("numpy", v),
        *_checks(v),
        _sem("posinf_entry[0]", "matches-limit", [0.0, 1.0], version=v),  # -> differs: regression
        _sem("all_neginf[0]", "undefined-input", ["nan", "nan"], version=v),  # -> 0.5, 0.5: observed change
        _sem("nan_entry[0]", "matches-limit", ["nan", "nan"], version=v),  # unchanged
        _sem("neginf_entry[0]", "undocumented-difference", ["nan", 1.0], version=v),  # -> limit: fix
        _sem("integer_input[0]", "undocumented-difference", None, version=v, error="TypeError: int"),
        _sem("empty[0]", "matches-limit", [], version=v),  # disappears in the candidate
        _sem("all_neginf[0]", "matches-limit", ["nan", "nan"], version=v, api="only-base"),  # coverage
        syn.end(),
    ]


def candidate_records(*, regression=True):
    v = "2.0"
    posinf = (
        _sem("posinf_entry[0]", "undocumented-difference", ["nan", "nan"], version=v)
        if regression
        else _sem("posinf_entry[0]", "matches-limit", [0.0, 1.0], version=v)
    )
    return [
        syn.envelope("cand"),
        syn.framework("numpy", v),
        *_checks(v),
        posinf,
        _sem("all_neginf[0]", "undefined-input", [0.5, 0.5], version=v),
        _sem("nan_entry[0]", "matches-limit", ["nan", "nan"], version=v),
        _sem("neginf_entry[0]", "matches-limit", [0.0, 1.0], version=v),
        # still raising, another exception type: a changed behaviour, same classification
        _sem("integer_input[0]", "undocumented-difference", None, version=v, error="ValueError: int"),
        _sem("zero_d[0]", "matches-limit", [1.0], version=v),  # appears in the candidate
        syn.end(),
    ]


def _runs(tmp_path, **kwargs):
    base = syn.write_run(tmp_path / "b", baseline_records())
    cand = syn.write_run(tmp_path / "c", candidate_records(**kwargs))
    return base, cand


def test_semantics_changes_are_reported_by_kind(tmp_path):
    base, cand = _runs(tmp_path)
    result = compare_runs(read_run(base), read_run(cand))
    # the checks are identical: nothing but the semantics changed
    assert not (result.regressions or result.fixes or result.changes or result.drift)
    got = {(c.key[6], c.kind, c.base and c.base.verdict, c.cand and c.cand.verdict) for c in result.semantics}
    assert got == {
        ("posinf_entry[0]", "regression", "matches-limit", "undocumented-difference"),
        ("neginf_entry[0]", "fix", "undocumented-difference", "matches-limit"),
        ("all_neginf[0]", "change", "undefined-input", "undefined-input"),
        ("integer_input[0]", "change", "undocumented-difference", "undocumented-difference"),
        ("empty[0]", "change", "matches-limit", None),
        ("zero_d[0]", "change", None, "matches-limit"),
    }
    by_case = {c.key[6]: c for c in result.semantics}
    assert all(
        c.key[:6] == ("numpy", "exp-shift", "eager", "softmax", "cpu", "float32") for c in result.semantics
    )
    assert "observed" in by_case["all_neginf[0]"].note and "0.5" in by_case["all_neginf[0]"].note
    assert (
        "TypeError" in by_case["integer_input[0]"].note and "ValueError" in by_case["integer_input[0]"].note
    )
    assert "only in the baseline" in by_case["empty[0]"].note
    assert "only in the candidate" in by_case["zero_d[0]"].note
    # nan_entry did not change; the only-base implementation is coverage, not a change
    assert "nan_entry[0]" not in by_case
    assert result.semantics_compared == 5
    assert [c.key[6] for c in result.semantic_regressions] == ["posinf_entry[0]"]
    assert any("1 semantics record" in n and "one run only" in n for n in result.notes)


def test_identical_semantics_are_no_change(tmp_path):
    base = syn.write_run(tmp_path / "b", baseline_records())
    result = compare_runs(read_run(base), read_run(base))
    assert result.semantics == [] and result.semantics_compared == 7


def test_cli_semantic_regression_sets_the_exit_status_and_is_in_every_output(tmp_path, capsys):
    base, cand = _runs(tmp_path)
    out = tmp_path / "cmp" / "compare.html"
    assert main(["compare", str(base), str(cand), "-o", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "regressions: 0" in printed
    assert (
        "semantics changes on special inputs: 6 (1 regression, 1 fix; of 5 records in both runs)" in printed
    )
    markdown = (tmp_path / "cmp" / "compare.md").read_text()
    assert "### Semantics changes on special inputs (6)" in markdown
    assert "posinf_entry[0]" in markdown and "undocumented-difference" in markdown
    assert markdown.startswith("## ❌")
    page = out.read_text()
    assert 'id="semantics"' in page and "posinf_entry[0]" in page and "zero_d[0]" in page
    assert "1 semantic regression" in page


def test_cli_semantic_change_without_regression_is_listed_and_exits_0(tmp_path, capsys):
    base, cand = _runs(tmp_path, regression=False)
    out = tmp_path / "cmp" / "compare.html"
    assert main(["compare", str(base), str(cand), "-o", str(out)]) == 0
    assert (
        "semantics changes on special inputs: 5 (0 regressions, 1 fix; of 5 records in both runs)"
        in capsys.readouterr().out
    )
    markdown = (tmp_path / "cmp" / "compare.md").read_text()
    assert "### Semantics changes on special inputs (5)" in markdown and "all_neginf[0]" in markdown
    assert "posinf_entry[0]" not in markdown


def test_a_special_input_that_starts_raising_is_a_semantic_regression(tmp_path):
    """matches-limit -> error (the call raised, or the probe did) is a regression, and the reverse a fix."""
    v1, v2 = "1.0", "2.0"
    base = [syn.envelope("base"), syn.framework("numpy", v1), *_checks(v1)]
    cand = [syn.envelope("cand"), syn.framework("numpy", v2), *_checks(v2)]
    base += [
        _sem("posinf_entry[0]", "matches-limit", [0.0, 1.0], version=v1),
        _sem("nan_entry[0]", "error", None, version=v1, error="RuntimeError: boom"),
    ]
    cand += [
        _sem("posinf_entry[0]", "error", None, version=v2, error="RuntimeError: boom"),
        _sem("nan_entry[0]", "matches-limit", ["nan", "nan"], version=v2),
    ]
    b = syn.write_run(tmp_path / "b", [*base, syn.end()])
    c = syn.write_run(tmp_path / "c", [*cand, syn.end()])
    result = compare_runs(read_run(b), read_run(c))
    kinds = {change.key[-1]: change.kind for change in result.semantics}
    assert kinds == {"posinf_entry[0]": "regression", "nan_entry[0]": "fix"}
    assert result.exit_status == 1
