"""No verdict may hide a failure: every path by which a real failure could pass, be skipped or
be called "unsupported" is closed here, each with an implementation that takes that path.

The implementations are small NumPy functions (no framework needed); each test failed before
the fix it guards (issue 13).
"""

from __future__ import annotations

import numpy as np
import pytest

import conformance.evaluation.inputs as evaluation_module  # the Hypothesis search's module
import reference
from conformance.adapters.base import Implementation, decline_reason
from conformance.errors import ApiNotAvailable, DtypeNotSupported
from conformance.evaluation import Cell, CellEvaluation
from conformance.outcome import summarize
from conformance.profiles import get_profile
from conformance.properties import SliceResults


def _impl(call, *, op="softmax", mode="eager", eager_call=None, vjp=None) -> Implementation:
    return Implementation(
        "testfw",
        "test-api",
        op,
        mode,
        call=call,
        snippet="y = x",
        eager_call=eager_call,
        vjp=vjp,
    )


def _exact(x, axis, device="cpu"):
    return reference.evaluate("softmax", x, axis)


def _run(impl: Implementation, dtype="float32", profile="quick", seed=3) -> CellEvaluation:
    return CellEvaluation(Cell(impl, "cpu", dtype), get_profile(profile), seed).run()


def _verdicts(ev: CellEvaluation) -> dict[str, str]:
    return {name: ev.outcome(name).verdict for name in ["shape_dtype", *ev.applicable_properties()]}


# ---- the probe: only a decline is "unsupported" ---------------------------------------------


def test_a_probe_that_raises_something_else_is_an_error_in_every_property():
    """A ``where=`` API that always raises used to make the whole cell "unsupported" (exit 0)."""

    def always_raises(x, axis, device):
        raise ValueError("softmax: where= requires initial= in this release")

    ev = _run(_impl(always_raises))
    assert ev.unsupported is None
    verdicts = _verdicts(ev)
    assert set(verdicts.values()) == {"error"}, verdicts
    assert "probe input" in ev.outcome("precision").message
    assert "where= requires initial=" in ev.outcome("precision").message


def test_a_dtype_the_framework_declines_is_unsupported_with_its_message():
    def no_half(x, axis, device):
        if x.dtype == np.float16:
            raise RuntimeError("\"softmax_lastdim_kernel_impl\" not implemented for 'Half'")
        return _exact(x, axis)

    half = _run(_impl(no_half), dtype="float16")
    assert set(_verdicts(half).values()) == {"unsupported"}
    assert "not implemented for 'Half'" in half.outcome("precision").message
    assert _run(_impl(no_half), dtype="float32").outcome("precision").verdict == "pass"


def test_an_adapter_raising_declined_makes_the_cell_unsupported():
    def declines(x, axis, device):
        raise DtypeNotSupported("no bfloat16 kernel for this graph")

    ev = _run(_impl(declines), dtype="bfloat16")
    assert ev.outcome("sum_to_one").verdict == "unsupported"
    assert "no bfloat16 kernel" in ev.outcome("sum_to_one").message


DECLINES = [
    (RuntimeError("\"softmax_lastdim_kernel_impl\" not implemented for 'Half'"), "float16"),
    (RuntimeError("\"log_softmax_lastdim_kernel_impl\" not implemented for 'BFloat16'"), "bfloat16"),
    (TypeError("Value for 'logits' has DataType bfloat16 not in list of allowed values"), "bfloat16"),
    (
        Exception(
            "[ONNXRuntimeError] : 10 : INVALID_GRAPH : This is an invalid model. Type Error: Type "
            "'tensor(bfloat16)' of input parameter (x) of operator (Softmax) in node () is invalid."
        ),
        "bfloat16",
    ),
    (Exception("Could not find device for node: {{node Softmax}} = Softmax[T=DT_HALF]"), "float16"),
    (DtypeNotSupported("no kernel"), "float64"),
    (ApiNotAvailable("jax.nn.softmax has no where= in 0.4.13"), "float32"),
    (AttributeError("module 'torch' has no attribute '_dynamo'"), "float32"),
    (TypeError("softmax() got an unexpected keyword argument 'where'"), "float32"),
]
NOT_DECLINES = [
    (ValueError("where= requires initial="), "float32"),
    (RuntimeError("INTERNAL: Failed to load the XLA compile cache entry"), "float32"),
    (RuntimeError("CUDA error: an illegal memory access was encountered"), "float16"),
    (ZeroDivisionError("division by zero"), "float64"),
    (RuntimeError("shape mismatch: value tensor of shape [3] cannot be broadcast"), "float32"),
    # a dtype is named, but nothing is declined: a numerical/assertion failure, not a refusal
    (AssertionError("output is not float16"), "float16"),
]


def _case_id(value: object) -> str:
    return type(value).__name__ if isinstance(value, BaseException) else str(value)


@pytest.mark.parametrize(("exc", "dtype"), DECLINES, ids=_case_id)
def test_decline_reason_recognises_each_frameworks_refusal(exc, dtype):
    assert decline_reason(exc, dtype) is not None


@pytest.mark.parametrize(("exc", "dtype"), NOT_DECLINES, ids=_case_id)
def test_decline_reason_refuses_everything_else(exc, dtype):
    assert decline_reason(exc, dtype) is None


def test_a_backward_probe_that_raises_is_an_error_not_unsupported():
    def vjp_raises(x, g, axis, device):
        raise ValueError("grad of where= without initial= is not defined")

    ev = _run(_impl(_exact, vjp=vjp_raises))
    grad = {n: v for n, v in _verdicts(ev).items() if n.startswith("grad_")}
    assert grad and set(grad.values()) == {"error"}, grad
    assert ev.outcome("precision").verdict == "pass"


# ---- calls that raise past the probe ----------------------------------------------------------


def test_a_call_raising_on_some_regular_inputs_is_an_error_not_a_pass():
    def raises_on_seven(x, axis, device):
        if x.ndim and x.shape[axis] == 16:
            raise RuntimeError("kernel launch failed for length 16")
        return _exact(x, axis)

    ev = _run(_impl(raises_on_seven), profile="default")
    out = ev.outcome("precision")
    assert out.verdict == "error", out.message
    assert "length 16" in out.message


def test_an_eager_comparison_call_that_raises_makes_compiled_consistency_an_error():
    def eager_raises(x, axis, device):
        raise RuntimeError("eager path crashed")

    ev = _run(_impl(_exact, mode="jit", eager_call=eager_raises))
    out = ev.outcome("compiled_consistency")
    assert out.verdict == "error", (out.verdict, out.message)
    assert "eager path crashed" in out.message


def test_an_eager_call_raising_on_a_special_input_only_is_reported_not_an_error():
    """torch.compile accepts an integer input that eager torch rejects: the special input is
    classified by semantics, not compared, so the comparison of the judged inputs stands and the
    message says what the eager call did. A raise on a regular input is still an error (above)."""

    def eager_rejects_integers(x, axis, device):
        if x.dtype.kind in "iu":
            raise NotImplementedError("softmax_lastdim_kernel_impl not implemented for 'Long'")
        return _exact(x, axis)

    ev = _run(_impl(_exact, mode="jit", eager_call=eager_rejects_integers))
    out = ev.outcome("compiled_consistency")
    assert out.verdict == "pass", (out.verdict, out.message)
    assert "not implemented for 'Long'" in out.message and "special input" in out.message


def test_a_repeated_call_that_raises_makes_repeatability_an_error():
    seen: set[bytes] = set()

    def raises_when_repeated(x, axis, device):
        key = x.tobytes() + str(x.shape).encode()
        if key in seen:
            raise RuntimeError("workspace already in use")
        seen.add(key)
        return _exact(x, axis)

    ev = _run(_impl(raises_when_repeated))
    out = ev.outcome("repeatability")
    assert out.verdict == "error", (out.verdict, out.message)
    assert "workspace already in use" in out.message


def test_an_exception_escaping_the_hypothesis_search_is_an_error(monkeypatch):
    def broken_target(*args, **kwargs):
        raise RuntimeError("the search itself broke")

    monkeypatch.setattr(evaluation_module, "target", broken_target)
    ev = _run(_impl(_exact))
    for name in ("shape_dtype", "precision", "bounds"):
        out = ev.outcome(name)
        assert out.verdict == "error", (name, out.verdict, out.message)
        assert "generation failed" in out.message


# ---- what a failing verdict shows -------------------------------------------------------------


def test_metric_and_bound_beside_a_verdict_come_from_one_slice():
    """A passing slice 417 ULP off (bound 863) beside a failing one 300 ULP off (bound 100)
    used to be shown as "417 ULP, bound 863: fail"."""
    results = SliceResults(
        applicable=np.array([True, True, True]),
        metric=np.array([417.0, 300.0, 1.0]),
        bound=np.array([863.0, 100.0, 4.0]),
        passed=np.array([True, False, True]),
    )
    out, _ = summarize("precision", [(object(), results)])
    assert out.verdict == "fail"
    assert (out.metric, out.bound) == (300.0, 100.0)
    assert out.metric > out.bound
    passing = SliceResults(
        applicable=np.ones(2, bool),
        metric=np.array([417.0, 3.0]),
        bound=np.array([863.0, 4.0]),
        passed=np.ones(2, bool),
    )
    out, _ = summarize("precision", [(object(), passing)])
    assert (out.metric, out.bound) == (3.0, 4.0)  # 3/4 of its bound is nearer than 417/863


def test_a_failure_message_puts_each_figure_beside_its_own_bound():
    def off_on_large_rows(x, axis, device):
        y = _exact(x, axis)
        return y * np.float32(1.001) if x.shape[axis] > 100 else y * np.float32(1.0001)

    out = _run(_impl(off_on_large_rows), profile="default").outcome("precision")
    assert out.verdict == "fail"
    assert f"worst ULP {out.metric:.4g} (bound {out.bound:.4g})" in out.message
    assert out.metric > out.bound


def test_the_shrinker_never_reports_an_input_that_raises_as_the_minimal_failure():
    """Imprecise on slices holding a 5 or more; raises on any slice shorter than 3. Reducing used
    to count a raising call as "still fails", ending on an input the implementation rejects."""

    def imprecise_and_picky(x, axis, device):
        if x.ndim and x.shape[axis] < 3:
            raise ValueError("this kernel needs at least 3 elements")
        y = _exact(x, axis)
        big = np.any(x >= 5, axis=axis, keepdims=True)
        return np.where(big, y * np.float32(1.01), y).astype(x.dtype)

    ev = _run(_impl(imprecise_and_picky), profile="default")
    out = ev.outcome("precision")
    assert out.verdict in ("fail", "error")
    assert out.worst is not None
    assert out.worst["output"] is not None
    assert out.worst["length"] >= 3
    assert out.worst["where"].startswith("minimal input")
    x = np.array(out.worst["input"]["values"], dtype=np.float32)
    if not out.worst["input"]["truncated"]:
        imprecise_and_picky(x, -1, "cpu")  # the shown input does not raise
