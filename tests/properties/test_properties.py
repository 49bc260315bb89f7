"""Properties on inputs with known answers: a correct output passes, each planted defect is caught."""

import numpy as np
import pytest

import reference
from conformance.properties import check_shape_dtype, classify_semantics, oracle_for
from conformance.property_registry import PROPERTIES

X = np.array([[1.0, 2.0, 4.0, 5.0, 6.0], [0.5, -1.0, 3.0, 3.0, 0.0]], dtype=np.float32)


def judge(name, y, op="softmax", x=X, axis=-1):
    oracle = oracle_for(op, x, axis, x.dtype)
    return PROPERTIES[name].judge(x, y, oracle, op, x.dtype, axis)


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "sum_normalize"])
@pytest.mark.parametrize("name", ["precision", "sum_to_one", "bounds", "monotonicity"])
def test_the_oracle_itself_passes(op, name):
    x = np.abs(X) + 0.5 if op == "sum_normalize" else X
    res = judge(name, reference.evaluate(op, x), op, x)
    assert res.applicable.all() and res.passed.all()


def test_precision_catches_a_one_percent_error():
    y = reference.softmax(X) * np.float32(1.01)
    res = judge("precision", y)
    assert not res.passed.any()
    assert res.metric.min() > 1000  # 1% is ~1.7e5 ULP of float32


def test_precision_allows_the_error_model_and_no_more():
    exact = reference.exact("softmax", X)
    y = reference.softmax(X)
    assert judge("precision", y).passed.all()
    # Four ULPs off everywhere is within the model for n = 5; 1e6 ULP is not.
    nudged = y.copy()
    for _ in range(4):
        nudged = np.nextafter(nudged, np.float32(1))
    assert judge("precision", nudged).passed.all()
    assert not judge("precision", (exact * (1 + 1e6 * 2.0**-24)).astype(np.float32)).passed.all()


def test_sum_to_one_catches_an_unnormalized_output():
    y = reference.softmax(X) * np.float32(0.999)
    res = judge("sum_to_one", y)
    assert not res.passed.any()
    np.testing.assert_allclose(res.metric, 1e-3, rtol=1e-3)


def test_bounds_catches_negative_nonfinite_and_positive_log():
    y = reference.softmax(X)
    y[0, 0] = -1e-9
    y[1, 1] = np.inf
    assert list(judge("bounds", y).passed) == [False, False]
    ly = reference.log_softmax(X)
    ly[0, 0] = 1e-3
    assert list(judge("bounds", ly, "log_softmax").passed) == [False, True]


def test_monotonicity_catches_a_permutation_and_tolerates_ties():
    y = reference.softmax(X)
    assert judge("monotonicity", y).passed.all()
    swapped = y.copy()
    swapped[0, [0, 4]] = swapped[0, [4, 0]]
    res = judge("monotonicity", swapped)
    assert list(res.passed) == [False, True]
    # Row 1 has a tie (3.0, 3.0): swapping the tied outputs changes nothing.
    tied = y.copy()
    tied[1, [2, 3]] = tied[1, [3, 2]]
    assert judge("monotonicity", tied).passed.all()


def test_stability_applies_only_beyond_the_overflow_threshold_and_catches_nan():
    big = np.array([[1000.0, 999.0, 998.0], [1.0, 2.0, 3.0]], dtype=np.float32)
    res = judge("stability", reference.softmax(big), x=big)
    assert list(res.applicable) == [True, False] and res.passed.all()
    naive = np.exp(big.astype(np.float64))
    naive = (naive / naive.sum(axis=-1, keepdims=True)).astype(np.float32)
    assert list(judge("stability", naive, x=big).passed) == [False, True]


def test_nan_propagation():
    x = np.array([[np.nan, 1.0, 2.0], [1.0, 2.0, 3.0]], dtype=np.float32)
    good = reference.softmax(x)
    assert judge("nan_propagation", good, x=x).passed.all()
    bad = good.copy()
    bad[0, 1:] = [0.0, 1.0]
    res = judge("nan_propagation", bad, x=x)
    assert list(res.applicable) == [True, False] and list(res.passed) == [False, True]


def test_log_softmax_consistency_catches_a_non_constant_shift():
    y = reference.log_softmax(X)
    assert judge("log_softmax_consistency", y, "log_softmax").passed.all()
    bad = y.copy()
    bad[0, 0] -= 1e-3
    assert list(judge("log_softmax_consistency", bad, "log_softmax").passed) == [False, True]


def test_sum_normalize_negative_slices_are_not_judged_for_bounds():
    x = np.array([[-1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], dtype=np.float64)
    res = judge("bounds", reference.sum_normalize(x), "sum_normalize", x)
    assert list(res.applicable) == [False, True]


def test_shape_dtype():
    assert check_shape_dtype(X, X.copy(), X.dtype) is None
    assert "shape" in check_shape_dtype(X, X[:1], X.dtype)
    assert "dtype" in check_shape_dtype(X, X.astype(np.float64), X.dtype)
    assert "not an array" in check_shape_dtype(X, X.tolist(), X.dtype)


def test_semantics_classification():
    x = np.array([[np.inf, 1.0, 2.0]], dtype=np.float32)
    oracle = oracle_for("softmax", x, -1, x.dtype)
    assert classify_semantics(reference.softmax(x), oracle, False)[0] == "matches-limit"
    assert classify_semantics(np.full_like(x, np.nan), oracle, False)[0] == "undocumented-difference"
    assert classify_semantics(None, oracle, True)[0] == "undefined-input"
