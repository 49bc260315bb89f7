"""The property registry (``conformance.property_registry``) is the one source of the property set.

(a) ``python -m conformance run`` (the pytest session) and ``conformance.check()`` judge the same
properties for a cell: both sets are read from what the runs produced (records, results), not
from the registry; (b) the report's columns, labels and ULP columns are the registry's; (c) every
registered property can fail: a planted fault (``tests/faults/catalogue.py``) gets verdict
``fail`` from it (semantics, which has no verdict: an undocumented difference on the fault's
special input), so a new property without a fault fails here; (d) the entries are complete and
consistent; the README's property table is the registry's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import defaultdict

import pytest
from faults.catalogue import CORRECT, FAULTS, correct_softmax
from helpers import ROOT

import conformance
from conformance.adapters import all_adapters
from conformance.property_registry import (
    BY_NAME,
    CHECKED,
    COMPARE_WITH,
    KINDS,
    README_BEGIN,
    README_END,
    REGISTRY,
    REPORT_GROUPS,
    SEMANTICS,
    cell_properties,
    readme_table,
)
from conformance.records import read_run
from conformance.report import synthetic as syn
from conformance.report.cells import PROPERTY_LABEL, PROPERTY_ORDER, ULP_PROPERTIES
from conformance.report.html import render_report
from conformance.report.model import build_model
from conformance.suite import test_conformance

SEED = 0


# ---- (a) run and check() judge the same properties ----------------------------------------------


@pytest.fixture(scope="module")
def run_records(tmp_path_factory) -> list[dict]:
    """One quick ``run``: a custom softmax with a backward pass and NumPy's log-softmax, float32."""
    results = tmp_path_factory.mktemp("runs")
    command = [sys.executable, "-m", "conformance", "run", "--results-dir", str(results), "--run-id", "r"]
    command += ["--framework", "numpy", "--op", "log_softmax", "--dtype", "float32", "--profile", "quick"]
    command += ["--seed", str(SEED), "--impl", "softmax=faults.catalogue:correct_softmax"]
    command += ["--no-progress", "--no-report"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return [json.loads(line) for line in (results / "r" / "results.jsonl").read_text().splitlines()]


def _run_properties(records: list[dict]) -> dict[tuple[str, str], set[str]]:
    """{(framework, api): properties} of the run's records: checks by name, "semantics" if observed."""
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for rec in records:
        if rec.get("type") == "check":
            found[(rec["framework"], rec["api"])].add(rec["property"])
        elif rec.get("type") == "semantics":
            found[(rec["framework"], rec["api"])].add(SEMANTICS)
    return dict(found)


def _check_properties(result: conformance.api.CheckResult) -> set[str]:
    return {r.property for r in result.results} | ({SEMANTICS} if result.semantics else set())


def test_run_and_check_judge_the_same_properties(run_records):
    in_run = _run_properties(run_records)
    custom = conformance.check(correct_softmax, "softmax", dtypes=["float32"], profile="quick", seed=SEED)
    numpy_impls = [i for i in all_adapters()["numpy"].implementations() if i.op == "log_softmax"]
    assert numpy_impls and len(in_run) == 1 + len(numpy_impls), sorted(in_run)
    assert in_run[("custom", "correct_softmax")] == _check_properties(custom)
    assert {"grad_precision", "repeatability", SEMANTICS} <= _check_properties(custom)
    for impl in numpy_impls:
        checked = conformance.check(impl, "log_softmax", dtypes=["float32"], profile="quick", seed=SEED)
        assert in_run[(impl.framework, impl.api)] == _check_properties(checked), impl.api
    # ... and that set is the one the registry declares for such a cell, in display order.
    assert [r.property for r in custom.results] == cell_properties(custom_impl(), "cpu")


def custom_impl():
    from conformance.adapters.custom import function_implementation

    return function_implementation(correct_softmax, "softmax")


def test_generated_test_functions_are_the_registry_names():
    names = sorted(n for n in vars(test_conformance) if n.startswith("test_"))
    assert names == sorted(spec.test_name for spec in REGISTRY)
    assert {"test_precision", "test_sum_to_one", "test_semantics", "test_grad_masked"} <= set(names)
    for spec in REGISTRY:
        function = getattr(test_conformance, spec.test_name)
        assert function.__name__ == spec.test_name and function.__doc__


def test_the_known_discrepancy_registry_names_registered_properties():
    from conformance.known import DEFAULT_REGISTRY, load_registry

    for entry in load_registry(DEFAULT_REGISTRY):
        for name in entry.property:  # a property, a glob over them, or semantics:<special input>
            assert name.split(":")[0] in BY_NAME or any(ch in name for ch in "*?["), f"{entry.id}: {name}"


# ---- (b) the report's columns are the registry's -------------------------------------------------


def test_report_columns_labels_and_ulp_columns_are_the_registry(tmp_path):
    assert PROPERTY_ORDER == tuple(CHECKED)
    assert PROPERTY_LABEL == {name: spec.label for name, spec in CHECKED.items()}
    records = [syn.envelope("cols"), syn.framework("numpy")]
    for name in reversed(list(CHECKED)):  # out of order: the report must sort them
        records.append(syn.check("pass", prop=name, metric=1.0, unit=CHECKED[name].unit))
    records.append(syn.end())
    model = build_model(read_run(syn.write_run(tmp_path / "cols", records)))
    assert model.properties == list(CHECKED)
    page = render_report(model)
    thead = re.search(r'id="matrix-table".*?<thead>(.*?)</thead>', page, re.S).group(1)
    groups_row, labels_row = re.findall(r"<tr[^>]*>(.*?)</tr>", thead, re.S)
    heads = re.findall(r"<th[^>]*>(.*?)</th>", labels_row)[1:]
    assert heads == [spec.label.replace("&", "&amp;") for spec in CHECKED.values()]
    # The group header spans each registry group's columns, in the registry's order.
    spans = re.findall(r'<th colspan="(\d+)"[^>]*>(.*?)</th>', groups_row)
    expanded = [name for count, name in spans for _ in range(int(count))]
    assert expanded == [
        re.search(r'title="([^;]*);', th).group(1) for th in re.findall(r"<th[^>]*>", labels_row)[1:]
    ]
    # Every column whose records measure ULPs is a wide (ULP) column, and only those.
    assert set(ULP_PROPERTIES) == {n for n, s in CHECKED.items() if s.unit.startswith("ULP")}
    matrix = json.loads(re.search(r'id="matrix-data">(.*?)</script>', page, re.S).group(1))
    assert [model.properties[i] for i in matrix["wide"]] == list(ULP_PROPERTIES)
    for name, spec in CHECKED.items():
        assert f'title="{spec.group}; metric: {spec.unit}"' in thead.replace("&amp;", "&"), name


def test_real_run_records_carry_the_registry_units(run_records):
    for rec in run_records:
        if rec.get("type") == "check":
            assert rec["unit"] == BY_NAME[rec["property"]].unit, rec["property"]


# ---- (c) every registered property can fail -------------------------------------------------------


def _fault_for(name: str):
    caught = [f for f in FAULTS if f.expected == name and not f.escapes]
    assert caught, f"no planted fault in tests/faults/catalogue.py is caught by {name!r}: add one"
    return caught[0]


@pytest.mark.parametrize("name", [spec.name for spec in REGISTRY])
def test_every_registered_property_can_fail(name):
    fault = _fault_for(name)
    result = fault.check(profile="default", seed=SEED)
    if BY_NAME[name].checked:
        assert result.get(fault.dtype, name).verdict == "fail", result.summary()
    else:  # semantics: no verdict; the fault's special input is an undocumented difference
        assert fault.caught(result), result.semantics
        correct = conformance.check(CORRECT[fault.op], fault.op, dtypes=[fault.dtype], seed=SEED)
        assert not fault.caught(correct), f"the correct {fault.op} differs on {fault.special} as well"


def test_a_property_without_a_fault_is_reported():
    with pytest.raises(AssertionError, match="no planted fault"):
        _fault_for("a_new_property")


# ---- (d) the registry itself ----------------------------------------------------------------------


def test_registry_entries_are_complete_and_consistent():
    assert len(BY_NAME) == len(REGISTRY)
    orders = [spec.order for spec in REGISTRY]
    assert len(set(orders)) == len(orders) and orders == sorted(orders)
    assert set(REPORT_GROUPS) == set(KINDS)
    for spec in REGISTRY:
        assert callable(spec.judge) and spec.judge.__doc__, spec.name
        assert spec.kind in KINDS and spec.group == REPORT_GROUPS[spec.kind]
        assert spec.ops and set(spec.ops) <= {"softmax", "log_softmax", "sum_normalize"}, spec.name
        assert spec.unit and spec.label and spec.holds and spec.applies_to, spec.name
        assert (spec.compare_with in COMPARE_WITH) == (spec.kind == "device"), spec.name
        assert re.fullmatch(r"[a-z][a-z0-9_]*", spec.name), spec.name
    assert [s.name for s in REGISTRY if not s.checked] == [SEMANTICS]
    assert {s.name for s in REGISTRY if s.histogram} == {"precision", "grad_precision"}


def test_readme_property_table_is_the_registry():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert README_BEGIN in text and README_END in text
    section = text.split(README_BEGIN)[1].split(README_END)[0]
    assert section.strip() == readme_table(), "regenerate it: python -m conformance.property_registry"
    assert re.findall(r"^\| `([a-z_0-9]+)` \|", section, re.M) == [spec.name for spec in REGISTRY]
