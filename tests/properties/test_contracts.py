"""Each API judged by its own documented contract (``reference.contracts``): L1 normalizations with
their eps, a mixed-precision output dtype, a softmax of ``x / T`` with a non-power-of-two T."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from conformance.adapters.base import TEMPERATURE, TEMPERATURE_API
from conformance.properties import expected_output_dtype, oracle_for, precision, sum_to_one
from reference.contracts import L1_NORMALIZE, Contract, contract_of, with_contract

TORCH_L1 = with_contract("sum_normalize", Contract(L1_NORMALIZE, eps=1e-12))
KERAS_L1 = with_contract("sum_normalize", Contract(L1_NORMALIZE, eps=1e-7))
TF_L1 = with_contract("sum_normalize", Contract(L1_NORMALIZE, eps=None))
FLOAT32_OUT = with_contract("softmax", Contract(output_dtype="float32"))
SCALED = with_contract("softmax", Contract(temperature=TEMPERATURE))


def _judge(prop, op, x, y, dtype):
    oracle = oracle_for(op, x, -1, dtype)
    return prop(x, y, oracle, op, dtype, -1)


@pytest.mark.parametrize("dt", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64])
def test_l1_zero_row_is_defined_zeros_and_nan_fails_precision(dt):
    """With an eps, a slice of zeros has a defined result (zeros): NaN there is a failure."""
    x = np.zeros((1, 3), dtype=dt)
    oracle = oracle_for(TORCH_L1, x, -1, dt)
    assert list(oracle.kinds) == ["below_eps"]
    np.testing.assert_array_equal(oracle.rounded.astype(np.float64), 0.0)
    assert _judge(precision, TORCH_L1, x, np.zeros_like(x), dt).passed.all()
    assert not _judge(precision, TORCH_L1, x, np.full_like(x, np.nan), dt).passed.any()


def test_l1_without_eps_gives_nan_for_zeros_by_contract():
    x = np.zeros((1, 3), dtype=np.float32)
    oracle = oracle_for(TF_L1, x, -1, np.float32)
    assert list(oracle.kinds) == ["zero_sum"]
    assert np.isnan(oracle.rounded).all()


@pytest.mark.parametrize("op", [TORCH_L1, KERAS_L1, TF_L1])
def test_l1_mixed_signs_divide_by_the_sum_of_magnitudes(op):
    """[1, -3, 2] / 6, not / 0; [1, -1, 0] is defined ([0.5, -0.5, 0])."""
    x = np.array([[1.0, -3.0, 2.0], [1.0, -1.0, 0.0]], dtype=np.float32)
    oracle = oracle_for(op, x, -1, np.float32)
    np.testing.assert_array_equal(oracle.rounded, np.array([[1, -3, 2], [3, -3, 0]], np.float32) / 6)
    y = oracle.rounded.copy()
    assert _judge(precision, op, x, y, np.float32).passed.all()
    # x / sum(x) would be [inf, -inf, inf] / NaN: a failure under the L1 contract
    with np.errstate(all="ignore"):
        plain = x / x.sum(-1, keepdims=True)
    assert not _judge(precision, op, x, plain, np.float32).passed.any()
    # sum to one is not the contract of a mixed-sign slice
    assert not _judge(sum_to_one, op, x, y, np.float32).applicable.any()


def test_l1_tiny_rows_divide_by_the_eps_rounded_to_the_dtype():
    """sum|x| below eps: x / eps, with eps rounded as the framework rounds the scalar (bfloat16:
    1e-12 becomes 1.0019e-12; torch 2.13 returns 0.0996 for 1e-13)."""
    bf = ml_dtypes.bfloat16
    x = np.array([[1e-13, 2e-13, 3e-13]]).astype(bf)
    oracle = oracle_for(TORCH_L1, x, -1, bf)
    eps = float(np.array(1e-12).astype(bf).astype(np.float64))
    expected = (x.astype(np.float64) / eps).astype(bf)
    np.testing.assert_array_equal(oracle.rounded, expected)
    assert float(oracle.rounded[0, 0]) == 0.099609375
    # float16: eps rounds to 0, so a non-zero row is x / sum|x|, and only zeros are below it
    x16 = np.array([[0.0, 0.0, 2.0**-24]], np.float16)
    np.testing.assert_array_equal(oracle_for(TORCH_L1, x16, -1, np.float16).rounded, [[0, 0, 1]])
    # Keras's 1e-7 rounds to 2**-23 in float16: 2**-24 / 2**-23 = 0.5
    np.testing.assert_array_equal(oracle_for(KERAS_L1, x16, -1, np.float16).rounded, [[0, 0, 0.5]])


def test_l1_error_model_has_no_cancellation():
    """The allowance of a mixed-sign slice under L1 is that of its magnitudes (kappa = 1)."""
    x = np.array([[1.0, -1.0 + 2.0**-20]], np.float32)
    l1 = oracle_for(TORCH_L1, x, -1, np.float32).tolerance
    positive = oracle_for(TORCH_L1, np.abs(x), -1, np.float32).tolerance
    np.testing.assert_allclose(l1, positive)
    assert np.all(oracle_for("sum_normalize", x, -1, np.float32).tolerance > 1e4 * l1)


@pytest.mark.parametrize("dt", [np.float16, ml_dtypes.bfloat16])
def test_float32_output_contract_rounds_to_float32_and_judges_in_its_ulps(dt):
    x = np.array([[0.1, 1.0, 2.5, -3.0]]).astype(dt)
    oracle = oracle_for(FLOAT32_OUT, x, -1, dt)
    assert oracle.rounded.dtype == np.float32
    exact = np.exp(x.astype(np.float64)) / np.exp(x.astype(np.float64)).sum()
    np.testing.assert_allclose(oracle.rounded, exact, rtol=2**-24)
    assert expected_output_dtype(FLOAT32_OUT, dt) == np.float32
    assert expected_output_dtype("softmax", dt) == np.dtype(dt)
    # the softmax rounded to the input's half type is many float32 ULPs off: a failure
    half = exact.astype(dt).astype(np.float32)
    assert not _judge(precision, FLOAT32_OUT, x, half, dt).passed.all()
    assert _judge(precision, FLOAT32_OUT, x, exact.astype(np.float32), dt).passed.all()


def test_temperature_is_not_a_power_of_two_and_the_oracle_takes_the_rounded_quotient():
    assert np.log2(TEMPERATURE) % 1 != 0
    x = np.array([[3000.0, 3002.0, 3010.0, 2996.0]], np.float16)
    quotient = (x.astype(np.float64) / TEMPERATURE).astype(np.float16).astype(np.float64)
    e = np.exp(quotient - quotient.max())
    np.testing.assert_allclose(oracle_for(SCALED, x, -1, np.float16).exact, e / e.sum(), rtol=1e-12)
    # the reciprocal rewrite x * (1/T) rounds twice and moves the result beyond the allowance
    rewritten = (x * np.float16(1 / TEMPERATURE)).astype(np.float64)
    assert np.any(rewritten != quotient)
    e2 = np.exp(rewritten - rewritten.max())
    assert not _judge(precision, SCALED, x, (e2 / e2.sum()).astype(np.float16), np.float16).passed.all()


def test_framework_apis_declare_their_contracts():
    from conformance.adapters.keras_adapter import KERAS_JAX
    from conformance.adapters.tensorflow_adapter import TensorflowAdapter
    from conformance.adapters.torch_adapter import TorchAdapter

    def specs(adapter):
        return {s.api: s for s in adapter.specs}

    torch, tf, keras = specs(TorchAdapter()), specs(TensorflowAdapter()), specs(KERAS_JAX)
    assert torch["F.normalize-p1"].contract == Contract(L1_NORMALIZE, eps=1e-12)
    assert keras["ops.normalize-order1"].contract == Contract(L1_NORMALIZE, eps=1e-7)
    assert tf["linalg.normalize-ord1"].contract == Contract(L1_NORMALIZE, eps=None)
    for api in ("F.softmax-dtype-float32", "F.log_softmax-dtype-float32"):
        assert torch[api].contract == Contract(output_dtype="float32")
        assert "dtype=torch.float32" in torch[api].source
        assert set(torch[api].dtypes) == {"float16", "bfloat16", "float32"}
    impls = {(i.api, i.mode): i for i in TorchAdapter().implementations()}
    assert contract_of(impls["F.normalize-p1", "eager"].op).eps == 1e-12
    assert impls["F.normalize-p1", "eager"].op == "sum_normalize"
    assert contract_of(impls[TEMPERATURE_API, "compiled"].op).temperature == TEMPERATURE
    assert impls["F.softmax-dtype-float32", "eager"].dtypes == ("float16", "bfloat16", "float32")


def test_contract_ops_are_distinct_cache_keys():
    """The plain op and the contract op compare equal as names but get their own oracle answers."""
    x = np.array([[1.0, -3.0, 4.0]], np.float32)
    assert TORCH_L1 == "sum_normalize"
    assert oracle_for("sum_normalize", x, -1, np.float32).rounded[0, 1] == np.float32(-1.5)
    assert oracle_for(TORCH_L1, x, -1, np.float32).rounded[0, 1] == np.float32(-3 / 8)
    assert oracle_for("sum_normalize", x, -1, np.float32).rounded[0, 1] == np.float32(-1.5)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_a_masked_apis_all_masked_slice_is_judged_by_its_contract(op):
    """Under the masked contract an all -inf slice is all 0 (all -inf): a uniform row or NaN there fails
    precision (the plain op leaves it undefined, unjudged); sum-to-one does not apply to it."""
    from reference.contracts import MASKED

    masked = with_contract(op, MASKED)
    x = np.array([[-np.inf, -np.inf, -np.inf]], np.float32)
    limit = np.float32(0.0 if op == "softmax" else -np.inf)
    assert _judge(precision, masked, x, np.full((1, 3), limit), np.float32).passed.all()
    uniform = np.full((1, 3), 1 / 3 if op == "softmax" else -np.log(3), np.float32)
    for wrong in (uniform, np.full((1, 3), np.nan, np.float32)):
        judged = _judge(precision, masked, x, wrong, np.float32)
        assert judged.applicable.all() and not judged.passed.any()
        assert not _judge(precision, op, x, wrong, np.float32).applicable.any()  # plain op: undefined
    assert not _judge(sum_to_one, masked, x, np.full((1, 3), limit), np.float32).applicable.any()
    with pytest.raises(ValueError, match="mask belongs"):
        with_contract("sum_normalize", MASKED)
