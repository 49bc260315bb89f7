"""Slice conditions (``conformance.slice_conditions``) and how the registry uses them: an entry
with ``condition = "sum-overflow"`` documents exactly the failing slices whose sum overflows the
dtype, wherever they occur, and no other failure of the same cell."""

from __future__ import annotations

from types import SimpleNamespace

import ml_dtypes
import numpy as np
import pytest
from helpers import resolve_failure as _resolve_failure

from conformance.known import CONDITIONS, RegistryError, load_registry, resolve
from conformance.outcome import summarize
from conformance.properties import SliceResults
from conformance.slice_conditions import (
    EMULATION_CONDITIONS,
    GRADIENT_CONDITIONS,
    OUTPUT_REPAIRS,
    SLICE_CONDITIONS,
    all_zero,
    gradient_conditions,
    has_subnormal_entry,
    row_conditions,
    sum_overflows,
    undo_flush_near_tiny,
)


def test_every_condition_the_registry_accepts_is_implemented():
    assert (*SLICE_CONDITIONS, *GRADIENT_CONDITIONS, *OUTPUT_REPAIRS, *EMULATION_CONDITIONS) == CONDITIONS


@pytest.mark.parametrize(
    ("row", "dtype", "overflows"),
    [
        ([60000.0, 6000.0], np.float16, True),  # 66,000 > 65,504
        ([30000.0, 30000.0], np.float16, False),  # 60,000 fits
        ([-40000.0, 40000.0], np.float16, True),  # magnitudes: an L1 norm overflows, x.sum() may not
        ([np.inf, 1.0], np.float16, False),  # an infinite entry is not a sum of finite ones
        ([3e38, 3e38], np.float32, True),
        ([3e38, 3e38], ml_dtypes.bfloat16, True),
        ([1.7e308, 1e308], np.float64, True),  # past float64's max the float64 sum is inf
        ([1e308, 1e307], np.float64, False),
    ],
)
def test_sum_overflows_is_decided_from_the_exact_sum_of_finite_magnitudes(row, dtype, overflows):
    assert sum_overflows(np.array([row], dtype=dtype)).tolist() == [overflows]


@pytest.mark.parametrize(
    ("row", "dtype", "subnormal", "zero"),
    [
        ([1e-6, 1.0], np.float16, True, False),  # 1e-6 < 6.1e-5, float16's smallest normal
        ([6.2e-5, 1.0], np.float16, False, False),
        ([0.0, -0.0], np.float16, False, True),
        ([1e-40, 0.0], np.float32, True, False),
        ([1e-40, 0.0], ml_dtypes.bfloat16, True, False),
        ([1e-310, 1.0], np.float64, True, False),
        ([1e-300, 1.0], np.float64, False, False),
    ],
)
def test_subnormal_and_zero_slices(row, dtype, subnormal, zero):
    rows = np.array([row], dtype=dtype)
    assert has_subnormal_entry(rows).tolist() == [subnormal]
    assert all_zero(rows).tolist() == [zero]


def test_integer_rows_never_overflow():
    assert sum_overflows(np.array([[2**62, 2**62]], dtype=np.int64)).tolist() == [False]


def test_the_kinds_of_an_inputs_failing_slices():
    rows = np.array([[60000.0, 6000.0], [1.0, 2.0], [0.0, 0.0], [1.0, 3.0]], dtype=np.float16)
    assert row_conditions(rows[:1]) == [("sum-overflow",)]
    assert row_conditions(rows) == [("sum-overflow",), (), ("all-zero",), ()]
    assert row_conditions(rows[:0]) == []


def _observation(name: str, x: np.ndarray, axis: int = -1):
    return SimpleNamespace(case=SimpleNamespace(name=name, x=x, axis=axis))


def _failing(passed: list[bool]) -> SliceResults:
    n = len(passed)
    return SliceResults(np.ones(n, bool), np.full(n, 9.0), np.full(n, 1.0), np.array(passed))


def test_summarize_names_the_conditions_of_each_failing_input():
    """The conditions come from the slices that failed, along the judged axis: a strided input
    (axis 0) whose overflowing column failed meets sum-overflow; one whose ordinary column failed
    is not listed, even though another column of it overflows."""
    x = np.array([[60000.0, 1.0], [6000.0, 2.0]], dtype=np.float16)  # column 0 sums past 65,504
    judged = [
        (_observation("overflowing[0]", x, axis=0), _failing([False, True])),
        (_observation("ordinary[0]", x, axis=0), _failing([True, False])),
    ]
    out, _ = summarize("precision", judged)
    assert out.failing_conditions == {"overflowing[0]": (("sum-overflow",),)}


def _registry(tmp_path, extra: str = ""):
    path = tmp_path / "k.toml"
    path.write_text(
        """
[[discrepancy]]
id = "overflow"
framework = "numpy"
versions = ">=1,<99"
api = "x/sum"
property = "precision"
condition = "sum-overflow"
reason = "the sum is formed in the input dtype"
classification = "expression-limitation"
"""
        + extra
    )
    return load_registry(path)


CHECK = dict(
    framework="numpy",
    version="2.4.6",
    api="x/sum",
    mode="eager",
    dtype="float16",
    device="cpu",
    op="sum_normalize",
    prop="precision",
)


def test_a_condition_entry_covers_overflowing_inputs_and_nothing_else(tmp_path):
    registry = _registry(tmp_path)
    overflow = {"long_axis[0]": (("sum-overflow",),), "hypothesis[rows,uniform,none]": (("sum-overflow",),)}
    got = resolve(registry, "fail", failing_cases=tuple(overflow), failing_conditions=overflow, **CHECK)
    assert (got.verdict, got.entry.id) == ("expected-fail", "overflow")
    # the same cell failing on an input whose failing slices do not overflow: not this discrepancy
    got = resolve(
        registry,
        "fail",
        failing_cases=("long_axis[0]", "transposed[0]"),
        failing_conditions=overflow,
        **CHECK,
    )
    assert (got.verdict, got.uncovered) == ("fail", ("transposed[0]",))
    # a failure whose inputs are unknown cannot be shown to overflow
    assert resolve(registry, "fail", **CHECK).verdict == "fail"
    # strict, about every input: a pass means the expression no longer overflows
    assert resolve(registry, "pass", judged_cases=("sum_overflow[0]",), **CHECK).verdict == "fixed"


def test_each_kind_of_failing_slice_needs_its_own_entry(tmp_path):
    """One input may fail for two documented reasons on two of its slices (long_axis: a zero row
    and an overflowing row): both entries cover it together; without the second, it is a failure."""
    zero = '\n[[discrepancy]]\nid = "zero"\nframework = "numpy"\nversions = ">=1,<99"\napi = "x/sum"\n'
    zero += 'property = "precision"\ncondition = "all-zero"\nreason = "r"\nclassification = "framework-bug"\n'
    mixed = {"long_axis[0]": (("all-zero",), ("sum-overflow",))}
    got = resolve(
        _registry(tmp_path, zero), "fail", failing_cases=("long_axis[0]",), failing_conditions=mixed, **CHECK
    )
    assert (got.verdict, got.entry.id, [e.id for e in got.also]) == ("expected-fail", "overflow", ["zero"])
    got = resolve(
        _registry(tmp_path), "fail", failing_cases=("long_axis[0]",), failing_conditions=mixed, **CHECK
    )
    assert (got.verdict, got.uncovered) == ("fail", ("long_axis[0]",))


def test_an_entry_covering_two_kinds_of_one_input_is_named_once(tmp_path):
    """An entry without a condition covers every kind of failing slice: named as the record's entry,
    not again among the further entries (``also_known``)."""
    mixed = {"long_axis[0]": ((), ("sum-overflow",))}
    everything = '\n[[discrepancy]]\nid = "every"\nframework = "numpy"\nversions = ">=1,<99"\napi = "x/sum"\n'
    everything += 'property = "precision"\nreason = "r"\nclassification = "framework-bug"\n'
    registry = [e for e in _registry(tmp_path, everything) if e.id == "every"]
    got = resolve(registry, "fail", failing_cases=("long_axis[0]",), failing_conditions=mixed, **CHECK)
    assert (got.verdict, got.entry.id, got.also) == ("expected-fail", "every", ())


def test_the_most_specific_entry_documents_a_slice_whatever_the_registry_order(tmp_path):
    """Attribution does not depend on registry order: an input's overflowing slices are the overflow
    entry's even when an entry about every input of the cell (here a flush-to-zero one) comes first,
    and an entry naming the input comes before the whole-cell one too; the whole-cell entry keeps
    the other inputs."""
    path = tmp_path / "k.toml"
    entry = '[[discrepancy]]\nid = "{id}"\nframework = "numpy"\nversions = ">=1,<99"\napi = "x/sum"\n'
    entry += 'property = "precision"\n{extra}reason = "r"\nclassification = "framework-bug"\n'
    entry += "strict = false\n\n"
    overflow = entry.format(id="overflow", extra='condition = "sum-overflow"\n')
    path.write_text(entry.format(id="ftz", extra="") + overflow)
    registry = load_registry(path)
    kinds = {"sum_overflow[0]": (("sum-overflow",),)}
    got = resolve(registry, "fail", failing_cases=("sum_overflow[0]",), failing_conditions=kinds, **CHECK)
    assert (got.verdict, got.entry.id, got.also) == ("expected-fail", "overflow", ())
    got = resolve(
        registry, "fail", failing_cases=("sum_overflow[0]", "one_d[0]"), failing_conditions=kinds, **CHECK
    )
    assert (got.entry.id, [e.id for e in got.also]) == ("ftz", ["overflow"])
    # an entry naming the input also documents it before the whole-cell one
    path.write_text(entry.format(id="ftz", extra="") + entry.format(id="named", extra='case = "one_d*"\n'))
    got = resolve(load_registry(path), "fail", failing_cases=("one_d[0]",), **CHECK)
    assert (got.entry.id, got.also) == ("named", ())


def test_a_case_glob_with_an_index_in_brackets_is_refused(tmp_path):
    """``grad_rows[1000]*`` is a glob character class (it matches ``grad_rows1...``), never the input
    ``grad_rows[1000]/ones`` it means: the loader says so and gives the literal form, which works."""
    entry = '\n[[discrepancy]]\nid = "x"\nframework = "numpy"\nproperty = "precision"\ncase = "{case}"\n'
    entry += 'reason = "r"\nclassification = "framework-bug"\nstrict = false\n'
    with pytest.raises(RegistryError, match=r"write 'grad_rows\[\[\]1000\]\*' to match the input"):
        _registry(tmp_path, entry.format(case="grad_rows[1000]*"))
    literal = next(e for e in _registry(tmp_path, entry.format(case="grad_rows[[]1000]*")) if e.id == "x")
    assert literal.covers_case("grad_rows[1000]/ones") and not literal.covers_case("grad_rows[100]/ones")


def test_an_unknown_condition_is_one_clear_error(tmp_path):
    with pytest.raises(RegistryError, match="'condition' must be one of sum-overflow, subnormal-entry"):
        _registry(
            tmp_path,
            '\n[[discrepancy]]\nid = "x"\nframework = "numpy"\nproperty = "precision"\n'
            'condition = "big"\nreason = "r"\nclassification = "framework-bug"\n',
        )


def test_the_bundled_overflow_entries_do_not_cover_a_long_float16_row_that_fits():
    """The bundled registry's NumPy entry for x / x.sum() overflow documents a float16 input whose
    failing slices overflow; the same cell failing on an input that does not overflow (e.g. a
    float16 column summed in half, as TensorFlow's eager kernel does) stays unexpected."""
    registry = load_registry()
    overflow = {"sum_overflow[0]": (("sum-overflow",),)}
    got = resolve(registry, "fail", failing_cases=("sum_overflow[0]",), failing_conditions=overflow, **CHECK)
    assert (got.verdict, got.entry.id) == ("expected-fail", "sum-overflows-dtype")
    got = resolve(
        registry, "fail", failing_cases=("sum_overflow[0]", "one_d[0]"), failing_conditions=overflow, **CHECK
    )
    assert got.verdict == "fail" and "one_d[0]" in got.uncovered


def test_a_sum_with_no_correct_digit_is_not_judged():
    """x / sum(x) where the exact sum is within the accumulator's rounding of 0: any floating-point
    sum of [12, 2.8e-45, -12] in float32 is 0 (exact 2.8e-45), so [inf, inf, -inf] is what every
    implementation returns (exact [4.3e45 -> inf, 1, -inf]); the oracle calls the slice
    cancelled_sum and precision does not judge it. The float16 row [2.646, -0.896, -1.75] (exact
    sum 4.883e-04) stays judged: a float32 accumulator gets it right, and a float16 running sum's
    +-inf fails."""
    from conformance.properties import compute_oracle, precision
    from reference.special import slice_kinds

    x = np.array([[12.0, 2.8e-45, -12.0]], dtype=np.float32)
    assert slice_kinds("sum_normalize", x, -1).tolist() == ["cancelled_sum"]
    oracle = compute_oracle("sum_normalize", x, -1, np.float32)
    with np.errstate(divide="ignore"):
        y = (x / np.float32(0.0)).astype(np.float32)
    assert not precision(x, y, oracle, "sum_normalize", np.float32, -1).applicable.any()

    h = np.array([[2.646, -0.896, -1.75]], dtype=np.float16)
    assert slice_kinds("sum_normalize", h, -1).tolist() == ["negative"]
    oracle = compute_oracle("sum_normalize", h, -1, np.float16)
    right = (h.astype(np.float32) / np.sum(h.astype(np.float32))).astype(np.float16)
    assert precision(h, right, oracle, "sum_normalize", np.float16, -1).passed.all()
    with np.errstate(divide="ignore"):
        half_sum = (h / np.float16(np.float16(h[0, 0] + h[0, 1]) + h[0, 2])).astype(np.float16)
    result = precision(h, half_sum, oracle, "sum_normalize", np.float16, -1)
    assert result.applicable.all() and not result.passed.any()


# ---- repair conditions: a mechanism undone in the output --------------------------------------

TINY32 = float(np.finfo(np.float32).tiny)


def test_undoing_a_flush_near_tiny_restores_only_zeros_whose_exact_value_is_below_twice_tiny():
    exact = np.array([1.5 * TINY32, 0.5 * TINY32, 3.0 * TINY32, 0.25, 0.0])
    rounded = exact.astype(np.float32)
    y = np.array([0.0, 0.0, 0.0, 0.0, 0.0], dtype=np.float32)
    got = undo_flush_near_tiny(y, exact, rounded, TINY32)
    # 1.5 tiny and 0.5 tiny come back; 3 tiny and 0.25 returned as 0 are other errors; an exact 0 stays
    assert got.tolist() == [rounded[0], rounded[1], 0.0, 0.0, 0.0]
    assert got.dtype == np.float32
    untouched = np.array([1.0, 2.0], dtype=np.float32)
    assert undo_flush_near_tiny(untouched, np.array([1.0, 2.0]), untouched, TINY32) is untouched


def _flushing_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """A correct softmax whose outputs below twice the smallest normal come back 0 (the mechanism of
    TensorFlow's eager float32 kernel, tf-eager-softmax-ftz-near-tiny)."""
    from faults.catalogue import CORRECT

    y = np.asarray(CORRECT["softmax"](x, axis))
    if y.dtype.kind != "f":
        return y
    return np.where(np.abs(y) < 2 * np.finfo(y.dtype).tiny, np.zeros_like(y), y)


def _flushing_and_off(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """The same flush, and a second error in the same slices: the largest output of every slice
    holding a flushed near-tiny output is 2**-10 too large (hundreds of ULP)."""
    from faults.catalogue import CORRECT

    y = np.array(_flushing_softmax(x, axis))
    if y.dtype.kind != "f":
        return y
    exact = np.asarray(CORRECT["softmax"](x, axis))
    tiny = np.finfo(y.dtype).tiny
    with np.errstate(invalid="ignore"):
        flushed = np.any((y == 0) & (exact > 0) & (exact < 2 * tiny), axis=axis, keepdims=True)
        largest = exact == np.max(exact, axis=axis, keepdims=True)
    return np.where(flushed & largest, y * y.dtype.type(1 + 2**-10), y)


FTZ_ENTRY = """
[[discrepancy]]
id = "ftz-near-tiny"
framework = "numpy"
versions = ">=1,<99"
api = "softmax"
property = "precision"
condition = "{condition}"
strict = false
reason = "outputs just above the smallest normal come back 0"
classification = "framework-bug"
"""


def _against_ftz_entry(target, prop: str, mode: str, tmp_path, condition: str | None):
    """The ``prop`` verdict of ``target`` (softmax, float32, quick profile, seed 0; it must fail)
    resolved against a registry holding one flush-near-tiny entry about every input of the cell,
    with or without its ``condition``."""
    import conformance

    judged = conformance.check(target, "softmax", dtypes="float32", profile="quick", seed=0).get(
        "float32", prop
    )
    assert judged.verdict == "fail", judged.line()
    text = FTZ_ENTRY.format(condition=condition or "").replace('"precision"', f'"{prop}"')
    if condition is None:
        text = text.replace('condition = ""\n', "")
    check = {**CHECK, "api": "softmax", "op": "softmax", "dtype": "float32", "mode": mode, "prop": prop}
    return _resolve_failure(judged, text, check, tmp_path)


def _resolved(function, tmp_path, condition: str | None):
    """The precision verdict of ``function`` against the flush-near-tiny entry (``_against_ftz_entry``)."""
    return _against_ftz_entry(function, "precision", "eager", tmp_path, condition)


def test_a_flush_near_tiny_entry_covers_the_flush_and_not_a_second_error_in_the_same_slices(tmp_path):
    """The repair condition at work: the flushing softmax fails precision only through its flush, and
    the entry covers it; the one that is also 2**-10 off in the same slices is a failure although
    every failing slice holds a flushed output too. A whole-cell entry (no condition) hid that second
    error, as the registry's TensorFlow FTZ entries did before they named the condition."""
    got = _resolved(_flushing_softmax, tmp_path, "flush-near-tiny")
    assert (got.verdict, got.entry.id) == ("expected-fail", "ftz-near-tiny")
    got = _resolved(_flushing_and_off, tmp_path, "flush-near-tiny")
    assert got.verdict == "fail" and got.uncovered
    hidden = _resolved(_flushing_and_off, tmp_path, None)
    assert hidden.verdict == "expected-fail"


def _compiled_consistency(eager, tmp_path, condition: str | None):
    """compiled_consistency of a correct compiled softmax against the eager ``eager``, resolved
    against the flush-near-tiny entry about that property (``_against_ftz_entry``)."""
    import dataclasses

    from faults.catalogue import CORRECT

    from conformance.adapters.custom import function_implementation

    compiled = function_implementation(CORRECT["softmax"], "softmax", name="compiled")
    eager_impl = function_implementation(eager, "softmax", name="compiled")
    impl = dataclasses.replace(
        compiled, mode="jit", eager_call=eager_impl.call, eager_snippet=eager_impl.snippet
    )
    return _against_ftz_entry(impl, "compiled_consistency", "jit", tmp_path, condition)


def test_the_flush_is_undone_in_the_eager_output_a_compiled_mode_is_compared_with(tmp_path):
    """compiled_consistency: an exact compiled output against an eager output that flushes near tiny
    is the entry's (the flush is undone in the eager output too); against an eager output that is
    also 2**-10 off in those slices it is a failure, which the whole-cell entry would have hidden."""
    got = _compiled_consistency(_flushing_softmax, tmp_path, "flush-near-tiny")
    assert (got.verdict, got.entry.id) == ("expected-fail", "ftz-near-tiny")
    got = _compiled_consistency(_flushing_and_off, tmp_path, "flush-near-tiny")
    assert got.verdict == "fail" and got.uncovered
    assert _compiled_consistency(_flushing_and_off, tmp_path, None).verdict == "expected-fail"


# ---- gradient conditions: the quotient rule's intermediates against the dtype's range ---------


@pytest.mark.parametrize(
    ("x", "g", "dtype", "expected"),
    [
        # S = 6: every intermediate is a normal float16
        ([1.0, 2.0, 3.0], [1.0, -1.0, 0.5], np.float16, ()),
        # S = 300: S^2 = 90,000 overflows float16 (JAX's s**2); x/S, g x/S stay normal
        ([100.0, 100.0, 100.0], [1.0, 1.0, 1.0], np.float16, ("square-of-sum-out-of-range",)),
        # S = 3e4: x/S^2 = 1.1e-5 is below float16's smallest normal, in both forms
        (
            [1e4, 1e4, 1e4],
            [1.0, 1.0, 1.0],
            np.float16,
            ("square-of-sum-out-of-range", "quotient-out-of-range"),
        ),
        # float32, S = 1.8e38: S^2 overflows, and 1/S = 5.6e-39 and x/S^2 = 1.9e-39 are below
        # float32's smallest normal (1.18e-38)
        (
            [6e37, 6e37, 6e37],
            [1.0, 0.0, 0.0],
            np.float32,
            ("square-of-sum-out-of-range", "quotient-out-of-range"),
        ),
        # a cotangent entry of 0 makes no term out of range by itself
        ([1.0, 1.0], [0.0, 0.0], np.float32, ()),
        # a sum of exactly 0 (mixed signs): 1/S is infinite, the gradient undefined
        ([1.0, -1.0], [1.0, 1.0], np.float64, ("square-of-sum-out-of-range", "quotient-out-of-range")),
    ],
)
def test_gradient_conditions_place_the_quotient_rule_terms_against_the_dtype_range(x, g, dtype, expected):
    x_rows, g_rows = np.array([x], dtype=dtype), np.array([g], dtype=dtype)
    assert gradient_conditions(x_rows, g_rows) == [expected]


def test_float64_terms_are_placed_in_long_double():
    """float64 sums near 1e200: S^2 = 9e400 is beyond float64 (out of range, as formed in float64), and
    it is computed in long double, where it is finite, so the check does not rely on an overflow."""
    x = np.array([[1e200, 1e200, 1e200]])
    g = np.ones_like(x)
    assert gradient_conditions(x, g) == [("square-of-sum-out-of-range",)]


def _divide_by_the_square_of_the_sum(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """The backward pass of x / sum(x) as JAX forms it, in the input dtype: g / s - sum(g x s**-2),
    s**-2 = 1 / (s * s): in float16 s * s overflows for |s| > 256 and the second term vanishes."""
    s = np.sum(x, axis=axis, keepdims=True, dtype=np.float64).astype(x.dtype)
    with np.errstate(all="ignore"):
        inverse_square = (s * s) ** -1
        return g / s + np.sum(-g * x * inverse_square, axis=axis, keepdims=True)


def _sum_normalize_with(vjp):
    from faults.catalogue import CORRECT

    def function(x: np.ndarray, axis: int) -> np.ndarray:
        return CORRECT["sum_normalize"](x, axis)

    function.vjp = vjp
    return function


def _grad_precision_against(vjp, tmp_path, condition: str | None):
    """grad_precision of x / sum(x) with backward pass ``vjp`` (float16, quick, seed 0; it must
    fail) resolved against one entry about every gradient input of the cell, with or without
    ``condition``."""
    import conformance

    judged = conformance.check(
        _sum_normalize_with(vjp), "sum_normalize", dtypes="float16", profile="quick", seed=0
    ).get("float16", "grad_precision")
    assert judged.verdict == "fail", judged.line()
    entry = FTZ_ENTRY.format(condition=condition or "").replace('"precision"', '"grad_precision"')
    entry = entry.replace('api = "softmax"', 'api = "x/sum"')
    if condition is None:
        entry = entry.replace('condition = ""\n', "")
    return _resolve_failure(judged, entry, {**CHECK, "prop": "grad_precision"}, tmp_path)


def test_a_square_of_sum_entry_covers_the_slices_where_the_square_leaves_the_range_and_no_others(
    tmp_path,
):
    """JAX's x / sum backward pass in float16 fails only on slices whose square of the sum (or a
    product with it) leaves float16's normal range: the entry with the condition covers it. The same
    backward pass 2**-5 off everywhere also fails on slices where every intermediate is a normal
    float16: not covered, where a whole-cell entry hid it."""
    got = _grad_precision_against(_divide_by_the_square_of_the_sum, tmp_path, "square-of-sum-out-of-range")
    assert got.verdict == "expected-fail", got.uncovered

    def also_off(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
        return _divide_by_the_square_of_the_sum(x, g, axis) * np.float16(1 + 2**-5)

    got = _grad_precision_against(also_off, tmp_path, "square-of-sum-out-of-range")
    assert got.verdict == "fail" and got.uncovered
    assert _grad_precision_against(also_off, tmp_path, None).verdict == "expected-fail"


def test_an_l1_normalization_divides_by_the_sum_of_magnitudes_or_its_eps():
    """For an L1 normalization S is max(sum(|x|), eps): a mixed-sign row whose plain sum is 0 is in
    range there (sum(|x|) = 2), and a row of tiny entries is divided by eps, not by its sum."""
    mixed = np.array([[1.0, -1.0]], dtype=np.float32)
    ones = np.ones_like(mixed)
    assert gradient_conditions(mixed, ones) == [("square-of-sum-out-of-range", "quotient-out-of-range")]
    assert gradient_conditions(mixed, ones, l1=True) == [()]
    tiny = np.array([[1e-30, 1e-30]], dtype=np.float32)  # S = 2e-30: S^2 = 4e-60 underflows float32
    assert gradient_conditions(tiny, ones, l1=True) == [("square-of-sum-out-of-range",)]
    # divided by eps = 1e-7 instead: x/S = 1e-23, S^2 = 1e-14, x/S^2 = 1e-16, all normal float32
    assert gradient_conditions(tiny, ones, l1=True, eps=1e-7) == [()]


# ---- emulation conditions: the output is a documented compiler mechanism's ------------------


def test_the_xla_temperature_emulation_reproduces_what_xla_returned():
    """The registry's repro, from a jax.jit run: on float32 logits near 8e37, XLA's contracted shift
    leaves the maximum at 8.45e29 and the row is [nan, 0, 0], where the rounded shift gives [1, 0, 0]."""
    from conformance.emulations import xla_temperature_softmax

    x = np.array([[8.5070587e37, 8.2234898e37, 7.9399214e37]], np.float32)
    contracted = xla_temperature_softmax(x, 3.0, contracted=True)
    assert np.isnan(contracted[0, 0]) and contracted[0, 1:].tolist() == [0.0, 0.0]
    assert xla_temperature_softmax(x, 3.0, contracted=False).tolist() == [[1.0, 0.0, 0.0]]


def _xla_over_t(x: np.ndarray, axis: int) -> np.ndarray:
    """softmax(x / 3) as XLA builds it (``conformance.emulations``), along ``axis``."""
    from conformance.emulations import xla_temperature_softmax

    moved = np.moveaxis(np.asarray(x), axis, -1)
    if moved.dtype.kind != "f" or moved.size == 0:
        return np.moveaxis(moved / 3.0, -1, axis)
    rows = moved.reshape(-1, moved.shape[-1])
    y = xla_temperature_softmax(rows, 3.0, contracted=True).reshape(moved.shape)
    return np.moveaxis(y, -1, axis)


def _xla_over_t_vjp(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """The backward pass of XLA's rewrite: c * y * (g - sum(g * y)), c = fl(1/3), y the rewrite's
    output (NaN rows where its contracted shift overflows exp), in float64, rounded once."""
    y = _xla_over_t(x, axis).astype(np.float64)
    c = float(x.dtype.type(1 / 3)) if x.dtype == np.float32 else 1 / 3
    g64 = np.asarray(g, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return (c * y * (g64 - np.sum(g64 * y, axis=axis, keepdims=True))).astype(x.dtype)


_xla_over_t.vjp = _xla_over_t_vjp  # type: ignore[attr-defined]


def _xla_over_t_and_off(x: np.ndarray, axis: int) -> np.ndarray:
    """The same, with every output 2**-10 too large as well."""
    y = _xla_over_t(x, axis)
    return y * y.dtype.type(1 + 2**-10) if y.dtype.kind == "f" else y


def _xla_over_t_and_off_vjp(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """The rewrite's backward pass with every element 2**-8 too large."""
    return (_xla_over_t_vjp(x, g, axis) * (1 + 2**-8)).astype(x.dtype)


_xla_over_t_and_off.vjp = _xla_over_t_and_off_vjp  # type: ignore[attr-defined]


def _over_t_against(function, tmp_path, condition: str | None, prop: str = "precision"):
    """``prop`` of ``function`` as softmax(x / 3) (float32, quick, seed 0; it must fail) resolved
    against one entry about every input of the cell, with or without ``condition``."""
    from faults.catalogue import OVER_T

    import conformance

    judged = conformance.check(
        function, "softmax", dtypes="float32", profile="quick", seed=0, contract=OVER_T
    ).get("float32", prop)
    assert judged.verdict == "fail", judged.line()
    entry = FTZ_ENTRY.format(condition=condition or "").replace('"precision"', f'"{prop}"')
    if condition is None:
        entry = entry.replace('condition = ""\n', "")
    check = {**CHECK, "api": "softmax", "op": "softmax", "dtype": "float32", "prop": prop}
    return _resolve_failure(judged, entry, check, tmp_path)


def test_an_emulation_entry_covers_the_mechanism_and_not_an_error_beside_it(tmp_path):
    """softmax(x / 3) computed as XLA does fails precision (the rewrite moves outputs hundreds of
    ULP, and the contracted shift gives NaN rows on huge logits): the entry with the emulation
    condition covers it. The same 2**-10 off everywhere is not the mechanism's output: a failure,
    which a whole-cell entry (the registry's temperature entries before the condition) hid."""
    got = _over_t_against(_xla_over_t, tmp_path, "xla-temperature-rewrite")
    assert got.verdict == "expected-fail", got.uncovered
    got = _over_t_against(_xla_over_t_and_off, tmp_path, "xla-temperature-rewrite")
    assert got.verdict == "fail" and got.uncovered
    assert _over_t_against(_xla_over_t_and_off, tmp_path, None).verdict == "expected-fail"


@pytest.mark.parametrize("prop", ["grad_precision", "grad_finite"])
def test_the_backward_emulation_covers_the_rewrite_gradient_and_not_an_error_beside_it(prop, tmp_path):
    """The backward pass of XLA's softmax(x / 3) (c = fl(1/3) times softmax's VJP at the rewrite's
    output) fails the gradient properties (NaN rows where the contracted shift overflows, and the
    rewrite's error on large logits): the entry naming the emulation covers it. The same gradient
    2**-8 off everywhere is not covered (grad_precision), where a whole-cell entry, as the registry's
    XLA temperature backward entries were, hid it."""
    got = _over_t_against(_xla_over_t, tmp_path, "xla-temperature-rewrite", prop)
    assert got.verdict == "expected-fail", got.uncovered
    if prop == "grad_finite":  # the NaN rows are the rewrite's whatever the error beside them
        return
    got = _over_t_against(_xla_over_t_and_off, tmp_path, "xla-temperature-rewrite", prop)
    assert got.verdict == "fail" and got.uncovered
    assert _over_t_against(_xla_over_t_and_off, tmp_path, None, prop).verdict == "expected-fail"


def test_the_linear_sum_denominator_is_one_denominator_within_the_recursive_sum_bound():
    """A float32 L1 normalization by a running sum of |x| (torch's vector_norm) is the mechanism;
    the exact quotients are too (D exact); one element off, or a denominator 10% off (beyond the
    bound (n - 1) u / (1 - (n - 1) u) of a recursive sum of 65,537 terms, 3.9e-3), is not."""
    from conformance.emulations import one_denominator_within_linear_sum_bound as explained

    rng = np.random.default_rng(0)
    x = rng.lognormal(0, 3, (1, 65537)).astype(np.float32)
    running = np.float32(0)
    for value in x[0]:
        running = np.float32(running + value)
    by_running_sum = (x / running).astype(np.float32)
    exact = (x.astype(np.float64) / x.astype(np.float64).sum()).astype(np.float32)
    assert abs(float(running) / x.astype(np.float64).sum() - 1) > 1e-5  # hundreds of ULP off
    assert explained(x, by_running_sum, l1=True).tolist() == [True]
    assert explained(x, exact, l1=True).tolist() == [True]
    one_off = exact.copy()
    one_off[0, 5] *= np.float32(1 + 2**-10)
    assert explained(x, one_off, l1=True).tolist() == [False]
    assert explained(x, exact / np.float32(1.1), l1=True).tolist() == [False]
    # a cancelling bfloat16 row whose sum comes out 0 (exact -3.9e-3, within 2u sum|x|): x / 0
    row = np.array([[4.469, 0.5273, -5]], dtype=ml_dtypes.bfloat16)
    with np.errstate(divide="ignore"):
        over_zero = row / row.sum(axis=-1, keepdims=True)
    assert over_zero.astype(np.float64).tolist() == [[np.inf, np.inf, -np.inf]]
    assert explained(row, over_zero, l1=False).tolist() == [True]


def _l1_by_running_sum(x: np.ndarray, axis: int) -> np.ndarray:
    """x / sum(|x|) with the sum of magnitudes accumulated one term at a time in the input dtype."""
    moved = np.moveaxis(np.asarray(x), axis, -1)
    total = np.zeros(moved.shape[:-1], dtype=moved.dtype)
    with np.errstate(all="ignore"):
        for j in range(moved.shape[-1]):
            total = (total + np.abs(moved[..., j])).astype(moved.dtype)
        return np.moveaxis(moved / total[..., None], -1, axis)


def _covers_the_mechanism_only(
    mechanism, off, op: str, dtype: str, registry: str, condition: str, tmp_path, prop="precision", **kw
):
    """``prop`` of ``mechanism`` and of ``off`` (the mechanism with an error beside it), quick profile,
    seed 0, both failing: an entry about every input of the cell naming ``condition`` (with the
    entries of ``registry`` beside it, where ``{condition}`` is the entry's condition line) covers the
    first and not the second; the same entry without the condition hides the second."""
    import conformance

    results = [
        conformance.check(function, op, dtypes=dtype, profile="quick", seed=0, **kw).get(dtype, prop)
        for function in (mechanism, off)
    ]
    for judged in results:
        assert judged.verdict == "fail", judged.line()
    api = {"sum_normalize": "x/sum"}.get(op, "softmax")
    check = {**CHECK, "api": api, "op": op, "dtype": dtype, "prop": prop}
    registry = registry.replace('"precision"', f'"{prop}"')
    documented = registry.format(condition=condition)
    got = _resolve_failure(results[0], documented, check, tmp_path)
    assert got.verdict == "expected-fail", got.uncovered
    got = _resolve_failure(results[1], documented, check, tmp_path)
    assert got.verdict == "fail" and got.uncovered
    whole = registry.format(condition="").replace('condition = ""\n', "")
    assert _resolve_failure(results[1], whole, check, tmp_path).verdict == "expected-fail"


def test_a_linear_sum_entry_covers_the_sum_and_not_an_error_beside_it(tmp_path):
    """An L1 normalization by a running float32 sum fails precision on the long rows (and, its sum
    overflowing, on the rows past float32's max: a second entry, ``sum-overflow``): covered by an
    entry naming ``linear-sum-denominator``; the same with the first output of every row 2**-10 off
    is not, where a whole-cell entry hid it."""
    from reference.contracts import L1_NORMALIZE, Contract

    def one_element_off(x: np.ndarray, axis: int) -> np.ndarray:
        y = np.array(_l1_by_running_sum(x, axis))
        if y.dtype.kind == "f" and y.size:
            np.moveaxis(y, axis, -1)[..., 0] *= y.dtype.type(1 + 2**-10)
        return y

    entry = FTZ_ENTRY.replace('api = "softmax"', 'api = "x/sum"')
    overflow = entry.format(condition="sum-overflow").replace('"ftz-near-tiny"', '"overflow"')
    contract = Contract(L1_NORMALIZE, eps=None)
    _covers_the_mechanism_only(
        _l1_by_running_sum,
        one_element_off,
        "sum_normalize",
        "float32",
        entry + overflow,
        "linear-sum-denominator",
        tmp_path,
        contract=contract,
    )


def _l1_by_float32_norm(x: np.ndarray, axis: int) -> np.ndarray:
    """x / max(sum|x|, 1e-7) with the norm of a float64 input formed in float32 (Keras's
    ``ops.normalize``): the float64 input divided by a float32 number."""
    if x.dtype != np.float64:
        return _l1_by_running_sum(x, axis)
    with np.errstate(over="ignore"):
        norm = np.sum(np.abs(x.astype(np.float32)), axis=axis, keepdims=True, dtype=np.float32)
    return x / np.maximum(norm, np.float32(1e-7)).astype(np.float64)


def test_the_float32_norm_denominator_is_a_float32_number_near_the_norm_of_the_rounded_input():
    from conformance.emulations import float32_norm_denominator as explained

    rng = np.random.default_rng(3)
    x = rng.lognormal(0, 2, (3, 1000))
    eps = float(np.float32(1e-7))
    assert explained(x, _l1_by_float32_norm(x, -1), eps).tolist() == [True] * 3
    exact = x / np.sum(x, axis=-1, keepdims=True)  # a float64 norm: not a float32 number
    assert explained(x, exact, eps).tolist() == [False] * 3
    off = _l1_by_float32_norm(x, -1)
    off[1, 0] *= 1 + 2**-30
    assert explained(x, off, eps).tolist() == [True, False, True]
    huge = np.array([[3e38, 3e38, 1.0]])  # the float32 norm overflows: x / inf
    assert explained(huge, _l1_by_float32_norm(huge, -1), eps).tolist() == [True]
    tiny = np.array([[5e-323, 1e-322]])  # 0 in float32: x / eps
    assert explained(tiny, _l1_by_float32_norm(tiny, -1), eps).tolist() == [True]
    assert (
        explained(x.astype(np.float32), _l1_by_float32_norm(x, -1).astype(np.float32), eps).tolist()
        == [False] * 3
    )


def test_a_softmax_right_but_for_its_sum_is_one_denominator_within_the_bound():
    """softmax(x) = e_i / D, log-softmax d_i - log D: a D 1.2 times the sum is within the bound of a
    bfloat16 running sum over 64 entries (gamma_63 = 0.33); one element 2**-5 off, or a D 1.5 times
    the sum, is not the mechanism. The allowance given is two bfloat16 ULP."""
    from conformance.emulations import softmax_one_denominator_within_linear_sum_bound as explained

    bf16 = ml_dtypes.bfloat16
    x = np.random.default_rng(5).normal(0, 2, (2, 64)).astype(bf16)
    d = x.astype(np.float64) - x.astype(np.float64).max(axis=-1, keepdims=True)
    exact_sum = np.exp(d).sum(axis=-1, keepdims=True)

    def output(factor: float, log: bool) -> tuple[np.ndarray, np.ndarray]:
        value = d - np.log(exact_sum * factor) if log else np.exp(d) / (exact_sum * factor)
        return value.astype(bf16), 2**-7 * np.abs(value)  # two bfloat16 ULP

    for log in (False, True):
        y, rounding = output(1.2, log)
        assert explained(x, y, log, rounding).tolist() == [True, True]
        off = y.copy()
        off[1, 3] = (off[1, 3].astype(np.float64) * (1 + 2**-5)).astype(bf16)
        assert explained(x, off, log, rounding).tolist() == [True, False]
        y, rounding = output(1.5, log)
        assert explained(x, y, log, rounding).tolist() == [False, False]


def _softmax_by_running_sum(x: np.ndarray, axis: int) -> np.ndarray:
    """exp(x - max) / sum, every step in the input dtype, the sum one term at a time (NumPy's
    reductions on ml_dtypes.bfloat16)."""
    moved = np.moveaxis(np.asarray(x), axis, -1)
    with np.errstate(all="ignore"):
        e = np.exp(moved - moved.max(axis=-1, keepdims=True)).astype(moved.dtype)
        total = np.zeros(moved.shape[:-1], dtype=moved.dtype)
        for j in range(moved.shape[-1]):
            total = (total + e[..., j]).astype(moved.dtype)
        return np.moveaxis((e / total[..., None]).astype(moved.dtype), -1, axis)


def test_a_softmax_linear_sum_entry_covers_the_sum_and_not_an_error_beside_it(tmp_path):
    """A bfloat16 softmax whose sum of exponentials runs in bfloat16 fails precision on long rows:
    covered by an entry naming ``linear-sum-denominator``; the same with the largest output of
    every slice 2**-5 off is not, where a whole-cell entry (the registry's NumPy and SciPy bfloat16
    accumulation entries before) hid it."""

    def largest_off(x: np.ndarray, axis: int) -> np.ndarray:
        y = np.array(_softmax_by_running_sum(x, axis))
        if y.size:  # (bfloat16's dtype kind is "V", not "f")
            with np.errstate(invalid="ignore"):
                largest = y == np.max(y, axis=axis, keepdims=True)
            y = np.where(largest, (y.astype(np.float64) * (1 + 2**-5)).astype(y.dtype), y)
        return y

    _covers_the_mechanism_only(
        _softmax_by_running_sum,
        largest_off,
        "softmax",
        "bfloat16",
        FTZ_ENTRY,
        "linear-sum-denominator",
        tmp_path,
    )


def _l1_by_float32_norm_vjp(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """The backward pass of ``_l1_by_float32_norm`` through its casts, as Keras's autodiff forms it:
    g / D + sign(float32(x)) * fl32(-sum(g x) / D^2), D the float32 norm (its eps: no second term)."""
    x32 = x.astype(np.float32)
    norm = np.sum(np.abs(x32), axis=axis, keepdims=True, dtype=np.float32)
    d = np.maximum(norm, np.float32(1e-7)).astype(np.float64)
    c = (-np.sum(g * x, axis=axis, keepdims=True) / (d * d)).astype(np.float32).astype(np.float64)
    c = np.where(norm >= np.float32(1e-7), c, 0.0)
    return (g / d + np.sign(x32).astype(np.float64) * c).astype(x.dtype)


_l1_by_float32_norm.vjp = _l1_by_float32_norm_vjp  # type: ignore[attr-defined]


def test_the_float32_norm_backward_is_g_over_d_plus_a_float32_multiple_of_the_signs():
    from conformance.emulations import float32_norm_backward as explained

    rng = np.random.default_rng(4)
    x, g = rng.normal(0, 3, (3, 100)), rng.normal(0, 1, (3, 100))
    gx = _l1_by_float32_norm_vjp(x, g, -1)
    assert explained(x, g, gx, 1e-7).tolist() == [True] * 3
    off = gx.copy()
    off[2, 10] *= 1 + 2**-30
    assert explained(x, g, off, 1e-7).tolist() == [True, True, False]
    # the second term not rounded to float32: not the mechanism
    d = np.sum(np.abs(x.astype(np.float32)), axis=-1, keepdims=True, dtype=np.float32).astype(np.float64)
    unrounded = g / d + np.sign(x) * (-np.sum(g * x, axis=-1, keepdims=True) / (d * d))
    assert explained(x, g, unrounded, 1e-7).tolist() == [False] * 3
    positive = np.abs(x)  # a ones cotangent on rows of one sign: C * sign, C in the range of k (D - S) / D^2
    ones = np.ones_like(x)
    assert explained(positive, ones, _l1_by_float32_norm_vjp(positive, ones, -1), 1e-7).tolist() == [True] * 3
    assert explained(positive, ones, np.full_like(x, 1e-3), 1e-7).tolist() == [False] * 3
    tiny = np.full((1, 4), 1e-307)  # 0 in float32: g / eps
    assert explained(tiny, g[:1, :4], _l1_by_float32_norm_vjp(tiny, g[:1, :4], -1), 1e-7).tolist() == [True]


def _off_by_2_to_the_minus_30(a: np.ndarray, axis: int) -> np.ndarray:
    """``a`` with the first element of every slice along ``axis`` 2**-30 too large (float64 only)."""
    a = np.array(a)
    if a.dtype == np.float64 and a.size:
        np.moveaxis(a, axis, -1)[..., 0] *= 1 + 2**-30
    return a


def _l1_by_float32_norm_and_off(x: np.ndarray, axis: int) -> np.ndarray:
    """``_l1_by_float32_norm`` with an error beside its mechanism (forward and backward)."""
    return _off_by_2_to_the_minus_30(_l1_by_float32_norm(x, axis), axis)


_l1_by_float32_norm_and_off.vjp = lambda x, g, axis: _off_by_2_to_the_minus_30(  # type: ignore[attr-defined]
    _l1_by_float32_norm_vjp(x, g, axis), axis
)


@pytest.mark.parametrize("prop", ["precision", "grad_precision"])
def test_a_float32_norm_entry_covers_the_float32_norm_and_not_an_error_beside_it(prop, tmp_path):
    """A float64 L1 normalization dividing by a float32 norm (and its backward pass through the
    casts) fails precision (grad_precision): covered by an entry naming ``float32-norm-denominator``;
    the same with the first element of every row 2**-30 off (millions of float64 ULP, far below the
    float32 norm's own error) is not, where a whole-cell entry, as the registry's Keras float64
    normalize entries were, hid it."""
    from reference.contracts import L1_NORMALIZE, Contract

    entry = FTZ_ENTRY.replace('api = "softmax"', 'api = "x/sum"')
    _covers_the_mechanism_only(
        _l1_by_float32_norm,
        _l1_by_float32_norm_and_off,
        "sum_normalize",
        "float64",
        entry,
        "float32-norm-denominator",
        tmp_path,
        prop=prop,
        contract=Contract(L1_NORMALIZE, eps=1e-7),
    )
