"""``audit-registry``: failing checks of kept runs resolved again against a registry."""

from pathlib import Path

import pytest

from conformance.cli import main
from conformance.known import load_registry
from conformance.records import read_run
from conformance.registry_audit import audit, format_audit, input_family
from conformance.report import synthetic

WHOLE = """
[[discrepancy]]
id = "whole"
framework = "numpy"
versions = ">=1,<99"
api = "exp-shift"
dtype = "bfloat16"
property = "precision"
reason = "about every input of the cell"
classification = "framework-bug"
"""

NARROW = WHOLE.replace('id = "whole"', 'id = "narrow"').replace(
    'property = "precision"', 'property = "precision"\ncase = "long_axis*"'
)

OVERFLOW = WHOLE.replace('id = "whole"', 'id = "overflow"').replace(
    'property = "precision"', 'property = "precision"\ncondition = "sum-overflow"'
)


def _run(tmp_path: Path, *checks: dict) -> Path:
    return synthetic.write_run(tmp_path / "run", [synthetic.envelope("r1"), *checks, synthetic.end()])


def _failing(cases: list[str], conditions: dict | None = None, verdict: str = "expected-fail") -> dict:
    return synthetic.check(
        verdict, dtype="bfloat16", failing_cases=cases, failing_conditions=conditions or {}
    )


def _registry(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "known.toml"
    path.write_text(text)
    return path


def test_an_entry_about_whole_cells_lists_the_inputs_it_documents(tmp_path):
    failing = _failing(["long_axis[0]", "hypothesis[rows,normal,nan]"])
    run = read_run(_run(tmp_path, failing, synthetic.check()))
    registry = load_registry(_registry(tmp_path, WHOLE))
    result = audit([run], registry)
    assert result.failing_checks == 1  # the passing check is not resolved again
    assert result.uncovered == []
    assert dict(result.documented["whole"]) == {"long_axis[0]": 1, "hypothesis[rows,...]": 1}
    text = format_audit(result, registry, 1)
    assert "left uncovered by this registry: 0 check(s)" in text
    assert "whole (strict, 1 checks): long_axis[0] (1), hypothesis[rows,...] (1)" in text


def test_a_narrowed_registry_reports_what_it_leaves_uncovered_and_exits_1(tmp_path, capsys):
    run_dir = _run(tmp_path, _failing(["long_axis[0]", "one_d[2]"]))
    result = audit([read_run(run_dir)], load_registry(_registry(tmp_path, NARROW)))
    assert [u.inputs for u in result.uncovered] == [("one_d[2]",)]
    assert dict(result.documented["narrow"]) == {"long_axis[0]": 1}
    status = main(["audit-registry", str(run_dir), "--known", str(tmp_path / "known.toml")])
    out = capsys.readouterr().out
    assert status == 1
    assert "r1: numpy-exp-shift-eager bfloat16 precision: one_d[2]" in out
    # the bundled registry has no entry for this made-up failure either; the whole-cell one covers it
    _registry(tmp_path, WHOLE)
    assert main(["audit-registry", str(run_dir), "--known", str(tmp_path / "known.toml")]) == 0


def test_a_slice_kind_goes_to_the_entry_of_its_condition(tmp_path):
    """The most specific entry documents a slice (resolve's rule): the condition entry takes the
    overflowing rows, the whole-cell entry the others, whatever the registry order."""
    check = _failing(["sum_overflow[0]", "long_axis[0]"], {"sum_overflow[0]": [["sum-overflow"]]})
    run = read_run(_run(tmp_path, check))
    result = audit([run], load_registry(_registry(tmp_path, WHOLE + OVERFLOW)))
    assert dict(result.documented["overflow"]) == {"sum_overflow[0]": 1}
    assert dict(result.documented["whole"]) == {"long_axis[0]": 1}


def test_a_failing_check_without_known_inputs_needs_a_whole_cell_entry(tmp_path):
    run = read_run(_run(tmp_path, _failing([], verdict="fail")))
    uncovered = audit([run], load_registry(_registry(tmp_path, NARROW))).uncovered
    assert uncovered[0].inputs == ("(inputs not known)",)
    assert audit([run], load_registry(_registry(tmp_path, WHOLE))).uncovered == []


def test_generated_batches_are_grouped_by_layout():
    assert input_family("hypothesis[block3d,uniform,none]") == "hypothesis[block3d,...]"
    assert input_family("grad_rows[65537]/ones") == "grad_rows[65537]/ones"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["audit-registry", "nowhere"], "no such run"),
        (["audit-registry", "RUN", "--known", "missing.toml"], "no such registry file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    run_dir = str(_run(tmp_path, _failing(["long_axis[0]"])))
    status = main([run_dir if a == "RUN" else a for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and message in err[0]
