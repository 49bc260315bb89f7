"""Planted faults (tests/faults/catalogue.py): the default profile must catch every one, by the property
it violates; the same computation without the mistake must pass."""

from __future__ import annotations

import numpy as np
import pytest
from faults.catalogue import CORRECT, FAULTS

import conformance
from conformance.adapters.base import OPS
from conformance.property_registry import BY_NAME, GRADIENT_PROPERTIES, SEMANTICS

SEED = 0  # fixed: a planted fault must be caught on the inputs the docs' table shows


def _param(fault):
    marks = (
        [pytest.mark.xfail(strict=True, reason=f"escapes the suite: {fault.escapes}")]
        if fault.escapes
        else []
    )
    return pytest.param(fault, id=f"{fault.op}-{fault.name}-{fault.dtype}", marks=marks)


@pytest.mark.parametrize("fault", [_param(f) for f in FAULTS])
def test_default_profile_catches_the_fault(fault):
    result = fault.check(profile="default", seed=SEED)
    assert fault.caught(result), f"{fault.name} not caught by {fault.expected}:\n{result.summary()}"
    if fault.expected == SEMANTICS:  # no verdict: the special input differs from the limit
        correct = conformance.check(CORRECT[fault.op], fault.op, dtypes=[fault.dtype], seed=SEED)
        assert not fault.caught(correct), f"the correct {fault.op} differs on {fault.special} too"
        return
    judged = result.get(fault.dtype, fault.expected)
    assert judged.message, "a failing check must say what failed"
    assert judged.worst_case is not None and judged.worst_case.get("input") is not None
    assert judged.repro and "\nx = " in judged.repro


@pytest.mark.parametrize(
    ("op", "dtype"), sorted({(f.op, f.dtype) for f in FAULTS}), ids=lambda v: v if isinstance(v, str) else ""
)
def test_the_same_computation_without_the_mistake_passes(op, dtype):
    result = conformance.check(CORRECT[op], op, dtypes=[dtype], profile="default", seed=SEED)
    assert result.ok, result.summary()


def test_catalogue_is_broad_and_documented():
    assert len(FAULTS) >= 15
    assert len({f.name for f in FAULTS}) == len(FAULTS)
    assert {f.op for f in FAULTS} == set(OPS)
    for f in FAULTS:
        assert f.mistake, f"{f.name} needs a docstring naming the mistake"
        assert f.op in BY_NAME[f.expected].ops, f"{f.name}: {f.expected}"
    caught_by = {f.expected for f in FAULTS if not f.escapes}
    assert {"precision", "stability", "sum_to_one", "bounds", "monotonicity", "nan_propagation"} <= caught_by
    assert set(GRADIENT_PROPERTIES) <= caught_by, "every gradient property must catch a planted fault"


def _corpus_outcome(fault, exclude: tuple[str, ...] = (), **profile_changes):
    """The expected property's outcome on the corpus alone (no Hypothesis batches), default profile
    with the corpus cases of the generators ``exclude`` left out and ``profile_changes`` made."""
    import dataclasses

    from conformance.adapters.custom import function_implementation
    from conformance.cases.corpus import corpus_cases
    from conformance.evaluation import Cell, CellEvaluation, cell_seed
    from conformance.profiles import PROFILES

    dropped = tuple(c.name for c in corpus_cases(fault.dtype, fault.op) if c.name.split("[")[0] in exclude)
    profile = dataclasses.replace(
        PROFILES["default"],
        hypothesis_examples=0,
        corpus_exclude=(*PROFILES["default"].corpus_exclude, *dropped),
        **profile_changes,
    )
    impl = function_implementation(fault.function, fault.op, timeout=None, joint_axes=fault.joint_axes)
    cell = Cell(impl, "cpu", fault.dtype)
    return CellEvaluation(cell, profile, cell_seed(SEED, cell)).run().outcome(fault.expected)


@pytest.mark.parametrize("fault", [pytest.param(f, id=f.name) for f in FAULTS if f.needs])
def test_each_input_class_from_the_limits_catches_a_fault_nothing_else_in_the_corpus_does(fault):
    """The input class earns its place: with it the corpus catches the fault, without it not."""
    assert _corpus_outcome(fault).verdict == "fail"
    # without the class the property passes, or has no input to apply to (skipped)
    assert _corpus_outcome(fault, fault.needs).verdict in ("pass", "skipped"), (
        f"{fault.name} is caught without {fault.needs}"
    )


def test_the_repeated_term_rows_are_what_catches_a_lane_sequential_sum():
    """Of the long rows, only the repeated-term one (``repeated_term_row``) fails the lane-sequential
    fault: equal entries sum exactly, uniform and Gaussian rows stay within the model. A correct
    softmax (pairwise sum) passes on it."""
    from conformance.cases.corpus import corpus_cases, repeated_term_row
    from conformance.properties import oracle_for
    from conformance.property_registry import PROPERTIES

    fault = next(f for f in FAULTS if f.name == "lane_sequential_float32_sum")
    for case in corpus_cases("float32", "softmax"):
        if case.name.split("[")[0] not in ("long_axis", "beyond_float16_max"):
            continue
        oracle = oracle_for("softmax", case.x, case.axis, np.float32)
        repeated = [np.array_equal(row, repeated_term_row(row.size).astype(np.float32)) for row in case.x]
        assert sum(repeated) == 1
        for function, fails in ((fault.function, repeated), (CORRECT["softmax"], [False] * len(repeated))):
            y = function(case.x, case.axis)
            result = PROPERTIES["precision"].judge(case.x, y, oracle, "softmax", np.float32, case.axis)
            assert list(~result.passed) == fails, (case.name, function.__name__, result.metric)


def test_every_input_class_from_the_limits_has_a_fault():
    from conformance.cases.corpus import CORPUS

    limit_classes = {"one_d", "beyond_float16_max", "power_of_two_lengths", "wide_non_last_axes"}
    limit_classes |= {"large_outer_extent", "long_non_last_axis", "subnormal_ratios", "tuple_axes"}
    assert limit_classes <= set(CORPUS)
    assert limit_classes <= {name for f in FAULTS for name in f.needs}


@pytest.mark.parametrize(
    "fault", [pytest.param(f, id=f"{f.name}-correct") for f in FAULTS if f.contract is not None]
)
def test_the_same_contract_computation_without_the_mistake_passes(fault):
    """A fault that claims a contract (a temperature composite) is caught for its mistake: the faithful
    computation of the same contract passes the same check."""
    from faults.catalogue import CORRECT_FOR_CONTRACT

    correct = CORRECT_FOR_CONTRACT[fault.contract]
    result = conformance.check(correct, fault.op, dtypes=[fault.dtype], seed=SEED, contract=fault.contract)
    assert result.ok, result.summary()


def test_a_leaking_masked_max_shows_only_with_a_large_value_under_the_mask():
    """masked_max_over_all_entries earns the masked inputs' fill: with -inf under the mask (the old
    inputs) it computes the right thing; with the dtype's max there (what the suite passes) NaN."""
    from faults.catalogue import correct_masked_softmax, masked_max_over_all_entries

    from conformance.adapters.custom import masked_input

    x = np.array([[-np.inf, 0.5, 2.0, -np.inf], [1.0, -np.inf, -3.0, 4.0]], np.float32)
    m = x != -np.inf
    np.testing.assert_array_equal(masked_max_over_all_entries(x, -1, m), correct_masked_softmax(x, -1, m))
    m, filled = masked_input(x)
    assert np.all(filled[~m] == np.finfo(np.float32).max)
    with np.errstate(all="ignore"):
        assert np.isnan(masked_max_over_all_entries(filled, -1, m)).all()
    assert np.isfinite(correct_masked_softmax(filled, -1, m)).all()


@pytest.mark.parametrize("long_non_last", [True, False])
def test_the_backward_long_non_last_array_is_what_catches_a_strided_backward_sum(long_non_last):
    """The backward pass's (65,537, 3) array along axis 0 earns its place: with it (default profile)
    the strided running-sum backward fails grad_precision, without it every gradient input passes."""
    fault = next(f for f in FAULTS if f.name == "backward_strided_sum_one_term_at_a_time")
    outcome = _corpus_outcome(fault, gradient_long_non_last=long_non_last)
    assert outcome.verdict == ("fail" if long_non_last else "pass"), outcome.message
    if long_non_last:  # named for the registry's case filters
        assert outcome.failing_cases
        assert all(c.startswith("grad_long_non_last_axis/") for c in outcome.failing_cases)
