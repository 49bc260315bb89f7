"""The ``computed-in-float32`` conditions (``conformance.computed_in_float32``): a float64 cell's
failing slice is an entry's only when its output (or gradient) is a correct float32 result of the
input rounded to float32, as Keras's float32 dtype policy computes a float64 input. A whole-cell
entry, which the registry's Keras float64 layer entries were, hid any further error."""

from __future__ import annotations

import numpy as np
import pytest
from faults.catalogue import CORRECT
from helpers import resolve_failure

import conformance
from conformance.computed_in_float32 import (
    COMPUTED_IN_FLOAT32,
    COMPUTED_IN_FLOAT32_FLUSH,
    forward_computed_in_float32,
    gradient_computed_in_float32,
)

BOTH = (COMPUTED_IN_FLOAT32, COMPUTED_IN_FLOAT32_FLUSH)


def _in_float32(x: np.ndarray) -> np.ndarray:
    """``x`` rounded to float32 (a float64 input; any other dtype is left as it is)."""
    with np.errstate(over="ignore"):
        return x.astype(np.float32) if x.dtype == np.float64 else x


def softmax_in_float32(x: np.ndarray, axis: int) -> np.ndarray:
    """A correct float32 softmax of round32(x), returned as float32 (Keras's float32 policy)."""
    return np.asarray(CORRECT["softmax"](_in_float32(x), axis))


def softmax_in_float32_vjp(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """The correct float32 backward pass at (round32(x), round32(g)), cast back to x's dtype."""
    return np.asarray(CORRECT["softmax"].vjp(_in_float32(x), _in_float32(g), axis)).astype(x.dtype)


softmax_in_float32.vjp = softmax_in_float32_vjp  # type: ignore[attr-defined]


def in_float32_and_off(x: np.ndarray, axis: int) -> np.ndarray:
    """The same float32 computation with the largest output of every slice 2**-12 too large (thousands
    of float32 ULP: an error of the float32 kernel, beyond float32's error model)."""
    y = np.array(softmax_in_float32(x, axis))
    if y.dtype.kind != "f" or y.size == 0:
        return y
    with np.errstate(invalid="ignore"):
        largest = y == np.max(y, axis=axis, keepdims=True)
    return np.where(largest, y * np.float32(1 + 2**-12), y)


def in_float32_and_off_vjp(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """The float32 backward pass with every element 2**-8 too large."""
    return (softmax_in_float32_vjp(x, g, axis) * (1 + 2**-8)).astype(x.dtype)


in_float32_and_off.vjp = in_float32_and_off_vjp  # type: ignore[attr-defined]


def test_a_correct_float32_result_of_the_rounded_input_meets_it():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 5, (6, 40))
    y32 = softmax_in_float32(x, -1)
    assert forward_computed_in_float32("softmax", x, y32) == [BOTH] * 6
    # the same values carried in float64 are float32 numbers: still met
    assert forward_computed_in_float32("softmax", x, y32.astype(np.float64)) == [BOTH] * 6
    # the float64 softmax is not a float32 number
    exact64 = np.asarray(CORRECT["softmax"](x, -1))
    assert forward_computed_in_float32("softmax", x, exact64) == [()] * 6
    # one element of row 2 thousands of float32 ULP off
    off = y32.copy()
    off[2, 7] *= np.float32(1 + 2**-12)
    assert forward_computed_in_float32("softmax", x, off)[2] == ()


def test_a_row_the_cast_overflows_meets_it_with_nan_and_a_fitting_row_does_not():
    """A float64 entry beyond float32's max becomes inf: the float32 slice is undefined and a NaN
    output is the cast's; a NaN on a row that fits float32 is an error."""
    x = np.array([[1e39, 0.0, 1.0], [1.0, 2.0, 3.0]])
    nan = np.full((2, 3), np.nan, dtype=np.float32)
    assert forward_computed_in_float32("softmax", x, nan) == [BOTH, ()]


def test_a_flush_near_tiny_meets_only_the_flush_variant():
    """An output just above float32's smallest normal returned as 0 (eager TensorFlow's float32
    kernel) is a correct float32 result only once the flush is undone."""
    tiny = float(np.finfo(np.float32).tiny)
    x = np.array([[0.0, np.log(1.5 * tiny)]])  # outputs ~1 and ~1.5 tiny
    y = softmax_in_float32(x, -1)
    assert 0 < y[0, 1] < 2 * tiny
    flushed = y.copy()
    flushed[0, 1] = 0
    assert forward_computed_in_float32("softmax", x, y) == [BOTH]
    assert forward_computed_in_float32("softmax", x, flushed) == [(COMPUTED_IN_FLOAT32_FLUSH,)]


def test_the_gradient_condition_judges_the_float32_backward_pass():
    rng = np.random.default_rng(1)
    x, g = rng.normal(0, 3, (4, 20)), rng.normal(0, 1, (4, 20))
    gx = softmax_in_float32_vjp(x, g, -1)
    assert gradient_computed_in_float32("softmax", x, g, gx) == [BOTH] * 4
    assert gradient_computed_in_float32("softmax", x, g, in_float32_and_off_vjp(x, g, -1)) == [()] * 4
    exact64 = np.asarray(CORRECT["softmax"].vjp(x, g, -1))
    assert gradient_computed_in_float32("softmax", x, g, exact64) == [()] * 4


def test_other_dtypes_are_never_judged_so():
    x = np.array([[1.0, 2.0]], dtype=np.float32)
    assert forward_computed_in_float32("softmax", x, softmax_in_float32(x, -1)) == [()]


ENTRY = """
[[discrepancy]]
id = "float32-policy"
framework = "numpy"
versions = ">=1,<99"
api = "softmax"
dtype = "float64"
property = "{prop}"
{condition}
reason = "float64 input computed in float32"
classification = "documented-difference"
"""


def _resolved(function, prop: str, tmp_path, condition: str | None):
    """The ``prop`` verdict of ``function`` (softmax, float64, quick, seed 0; it must fail) resolved
    against one entry about every input of the cell, with or without ``condition``."""
    judged = conformance.check(function, "softmax", dtypes="float64", profile="quick", seed=0).get(
        "float64", prop
    )
    assert judged.verdict == "fail", judged.line()
    entry = ENTRY.format(prop=prop, condition=f'condition = "{condition}"' if condition else "")
    check = dict(
        framework="numpy",
        version="2.4.6",
        api="softmax",
        mode="eager",
        dtype="float64",
        device="cpu",
        op="softmax",
        prop=prop,
    )
    return resolve_failure(judged, entry, check, tmp_path)


@pytest.mark.parametrize("prop", ["precision", "sum_to_one", "stability", "grad_precision"])
def test_the_entry_covers_the_float32_computation_and_not_an_error_of_the_float32_kernel(prop, tmp_path):
    """Computed in float32, a float64 softmax fails these properties (float32 accuracy; NaN rows
    where the cast overflows): the entry naming the condition covers it. The same float32
    computation with a float32 error besides (2**-12 forward, 2**-8 backward) is not covered,
    where a whole-cell entry, as the registry's Keras float64 layer entries were, hid it."""
    got = _resolved(softmax_in_float32, prop, tmp_path, COMPUTED_IN_FLOAT32)
    assert got.verdict == "expected-fail", got.uncovered
    if prop == "stability":  # the NaN rows are the cast's whatever the float32 kernel's error
        return
    got = _resolved(in_float32_and_off, prop, tmp_path, COMPUTED_IN_FLOAT32)
    assert got.verdict == "fail" and got.uncovered
    assert _resolved(in_float32_and_off, prop, tmp_path, None).verdict == "expected-fail"
