"""Joint axes (a tuple of axes, axis=None) in the adapters, the evaluation and custom implementations.

Each API's declared axis forms (``ApiSpec.axes``) are checked against the installed release: an API
declared ``JOINT_AXES`` computes, on a tuple of axes and on None, what SciPy's float64 softmax over
the same axes gives (an independent implementation documented to take them); an API declared
``INT_AXIS_ONLY`` is never given a joint-axes case.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
import scipy.special

from conformance.adapters import all_adapters
from conformance.adapters.base import INT_AXIS_ONLY, JOINT_AXES
from conformance.adapters.custom import function_implementation
from conformance.cases import AXIS_INT, AXIS_NONE, AXIS_TUPLE, Case
from conformance.cases.corpus import corpus_cases
from conformance.custom_cli import CustomOptions, build_implementations, pytest_command
from conformance.evaluation import Cell, CellEvaluation
from conformance.evaluation.inputs import joint_view
from conformance.gradients import JOINT_BLOCK_AXES, GradientEvaluation, gradient_seed
from conformance.profiles import PROFILES
from reference.axes import joint_last
from reference.contracts import effective_input

X = (np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7) * np.array([1.0, 3.0, -2.0, 5.0])
FORMS = [(0, 2), (-1, -2), (1, 2), None]


def _reference(op: str, x: np.ndarray, axis) -> np.ndarray:
    if op == "sum_normalize":
        return x / x.sum(axis=axis, keepdims=True)
    return (
        scipy.special.log_softmax(x, axis=axis)
        if op == "log_softmax"
        else scipy.special.softmax(x, axis=axis)
    )


def _impls(framework: str):
    adapter = all_adapters()[framework]
    if importlib.util.find_spec(adapter.module) is None or not adapter.available():
        pytest.skip(f"{framework} is not installed")
    return [i for i in adapter.implementations() if i.mode == "eager"]


@pytest.mark.parametrize("framework", ["numpy", "scipy", "jax"])
def test_apis_declared_with_joint_axes_compute_over_them(framework):
    impls = [i for i in _impls(framework) if i.axes == JOINT_AXES]
    assert impls, f"{framework} declares no API with joint axes"
    x = np.abs(X) + 0.5  # positive: sum-normalization is well conditioned
    for impl in impls:
        for axis in FORMS:
            y = impl.call(x, axis, "cpu")
            # a composite's contract (softmax(x / T)) names the input its mathematics applies to
            expected = _reference(impl.op, effective_input(impl.op, x), axis)
            np.testing.assert_allclose(y, expected, rtol=1e-12, err_msg=f"{impl.id} {axis}")


@pytest.mark.parametrize(
    ("framework", "forms"), [("numpy", JOINT_AXES), ("scipy", JOINT_AXES), ("jax", JOINT_AXES)]
)
def test_every_api_of_a_joint_axes_framework_declares_them(framework, forms):
    assert {i.api: i.axes for i in _impls(framework)} == {i.api: forms for i in _impls(framework)}


@pytest.mark.parametrize("framework", ["torch", "tensorflow", "onnxruntime"])
def test_one_axis_frameworks_declare_int_axes_only(framework):
    adapter = all_adapters()[framework]
    assert {spec.axes for spec in adapter.specs} == {INT_AXIS_ONLY}


def test_keras_declares_the_axis_forms_it_documents():
    from conformance.adapters.keras_adapter import KERAS_JAX

    axes = {spec.api: spec.axes for spec in KERAS_JAX.specs}
    assert axes == {
        "ops.softmax": INT_AXIS_ONLY,  # documented "Integer"
        "ops.log_softmax": INT_AXIS_ONLY,
        "activations.softmax": INT_AXIS_ONLY,
        "layers.Softmax": (AXIS_INT, AXIS_TUPLE),  # "Integer, or list of Integers"
        "layers.Softmax-mask": (AXIS_INT, AXIS_TUPLE),
        "layers.Softmax-mask-neginf": (AXIS_INT, AXIS_TUPLE),
        "x/ops.sum": JOINT_AXES,  # keras.ops.sum: axis or axes, None for all
        "ops.normalize-order1": INT_AXIS_ONLY,  # with two axes, a matrix 1-norm
    }


def test_corpus_has_each_joint_axis_form_for_every_op():
    for op in ("softmax", "log_softmax", "sum_normalize"):
        cases = [c for c in corpus_cases("float32", op) if c.name.startswith("tuple_axes")]
        assert {c.axis_form for c in cases} == {AXIS_TUPLE, AXIS_NONE}
        tuples = [c.axis for c in cases if c.axis_form == AXIS_TUPLE]
        assert (1, 2) in tuples and (0, 2) in tuples and any(min(t) < 0 for t in tuples)
        assert {c.x.ndim for c in cases if c.axis is None} == {2, 3}
        assert all(c.name not in PROFILES["quick"].corpus_exclude for c in cases)
        for c in cases:  # no two joint slices alike: normalizing over the wrong axes shows
            flat = joint_last(c.x, c.axis).reshape(-1, c.length)
            assert len({tuple(np.sort(r)) for r in flat}) == flat.shape[0]


def _seen_forms(impl) -> set[str]:
    evaluation = CellEvaluation(Cell(impl, "cpu", "float32"), PROFILES["quick"], 0)
    evaluation._run_corpus()
    return {o.as_called.axis_form for o in evaluation.observations}


def _softmax(x, axis):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def test_joint_axes_cases_go_only_to_implementations_that_accept_them():
    assert _seen_forms(function_implementation(_softmax, "softmax", timeout=None)) == {AXIS_INT}
    joint = function_implementation(_softmax, "softmax", timeout=None, joint_axes=True)
    assert _seen_forms(joint) == {AXIS_INT, AXIS_TUPLE, AXIS_NONE}


def test_a_joint_axes_case_is_judged_on_its_flattened_view():
    impl = function_implementation(_softmax, "softmax", timeout=None, joint_axes=True)
    evaluation = CellEvaluation(Cell(impl, "cpu", "float32"), PROFILES["quick"], 0)
    evaluation._run_corpus()
    joint = [o for o in evaluation.observations if o.called is not None]
    assert len(joint) == 5
    for obs in joint:
        called = obs.called
        assert obs.case.axis == -1 and obs.case.x.shape[-1] == called.length
        np.testing.assert_array_equal(obs.case.x, joint_last(called.x, called.axis))
        np.testing.assert_array_equal(obs.y, joint_last(_softmax(called.x, called.axis), called.axis))
        assert obs.oracle.rounded.shape == obs.case.x.shape
    verdicts = {
        p: evaluation.outcome(p).verdict for p in ("precision", "sum_to_one", "bounds", "monotonicity")
    }
    assert set(verdicts.values()) == {"pass"}, verdicts


def test_joint_view_leaves_a_wrong_shape_alone():
    case = Case("c", np.ones((2, 3, 4), np.float32), (0, 2))
    flat, y, pair = joint_view(case, np.ones((2, 3), np.float32), (np.ones((2, 3, 4)), None, np.ones(3)))
    assert flat.x.shape == (3, 8) and y.shape == (2, 3)
    assert pair[0].shape == (3, 8) and pair[1] is None and pair[2] is None


def test_a_wrong_joint_axes_implementation_fails_with_a_repro_of_the_call():
    def last_only(x, axis):
        return _softmax(x, axis[-1] if isinstance(axis, tuple) else -1 if axis is None else axis)

    impl = function_implementation(last_only, "softmax", timeout=None, joint_axes=True)
    evaluation = CellEvaluation(Cell(impl, "cpu", "float32"), PROFILES["quick"], 0)
    evaluation._run_corpus()
    out = evaluation.outcome("sum_to_one")
    assert out.verdict == "fail"
    assert {name.split("[")[0] for name in out.failing_cases} == {"tuple_axes"}
    assert "joint slice over axis=" in out.worst["where"]
    assert "\naxis = (" in out.repro or "\naxis = None" in out.repro
    scope: dict = {"last_only": last_only}
    assert "\nfunction = ...\n" in out.repro  # a local function: the user defines it there
    exec(out.repro.replace("\nfunction = ...\n", "\nfunction = last_only\n"), scope)
    assert not np.allclose(scope["y"], scope["expected"])  # the repro shows the failure
    np.testing.assert_allclose(_softmax(scope["x"], scope["axis"]), scope["expected"], rtol=1e-6)


def test_impl_joint_axes_flag_reaches_the_implementations_and_the_pytest_command():
    module = sys.modules[__name__].__name__
    options = CustomOptions(functions=(f"softmax={module}:_softmax",), joint_axes=True)
    assert [i.axes for i in build_implementations(options)] == [JOINT_AXES]
    assert "--impl-joint-axes" in pytest_command(["pytest"], options)
    plain = CustomOptions(functions=(f"softmax={module}:_softmax",))
    assert [i.axes for i in build_implementations(plain)] == [INT_AXIS_ONLY]
    assert "--impl-joint-axes" not in pytest_command(["pytest"], plain)


def _softmax_vjp_last_axis_only(x, g, axis):
    """softmax's backward with sum(g * s) over the last of the joint axes only."""
    one = axis[-1] if isinstance(axis, tuple) else axis
    s, g64 = _softmax(x.astype(np.float64), one), g.astype(np.float64)
    return (s * (g64 - (g64 * s).sum(one, keepdims=True))).astype(x.dtype)


def _softmax_vjp(x, g, axis):
    s, g64 = _softmax(x.astype(np.float64), axis), g.astype(np.float64)
    return (s * (g64 - (g64 * s).sum(axis, keepdims=True))).astype(x.dtype)


def _with_vjp(vjp):
    def function(x, axis):
        return _softmax(x, axis)

    function.vjp = vjp
    return function


def _gradients(function, joint_axes: bool):
    impl = function_implementation(function, "softmax", timeout=None, joint_axes=joint_axes)
    return GradientEvaluation(impl, "cpu", "float32", (7,), gradient_seed("softmax", "float32")).run()


def test_the_backward_pass_is_judged_over_joint_axes():
    correct = _gradients(_with_vjp(_softmax_vjp), joint_axes=True)
    joint = [o for o in correct.observations if o.called is not None]
    assert len(joint) == 3 and all(o.called.axis == JOINT_BLOCK_AXES and o.case.axis == -1 for o in joint)
    assert {p: correct.outcome(p).verdict for p in ("grad_precision", "grad_sum_to_zero")} == {
        "grad_precision": "pass",
        "grad_sum_to_zero": "pass",
    }
    assert not any(o.called for o in _gradients(_with_vjp(_softmax_vjp), joint_axes=False).observations)
    wrong = _gradients(_with_vjp(_softmax_vjp_last_axis_only), joint_axes=True).outcome("grad_precision")
    assert wrong.verdict == "fail" and "joint slice over axis=" in wrong.worst["where"]
    assert f"\naxis = {JOINT_BLOCK_AXES!r}\n" in wrong.repro
