"""Negative controls (tests/faults/controls.py): correct implementations, computed differently, must pass.

A failure here is a finding about the suite (the tolerance model, a property or the
oracle), not about the control. The project tests use the default profile; the
thorough profile's result and run time are recorded in docs/planted-faults.md
(``python tests/faults/make_table.py --controls``).
"""

from __future__ import annotations

import pytest
from faults.controls import CONTROLS

import conformance
from reference.dtypes import FLOAT_DTYPE_NAMES

# Evidence in docs/planted-faults.md ("Negative controls"): the float64 division-free softmax
# exp((x - max) - log S) rounds twice in the exponent, once more than the error model's u |d_i| term
# allows for; reported, not loosened here.
# Correct implementations the tolerance model wrongly rejected, with the evidence; empty since the
# model took the division-free form's second rounding into account (reference/error_model.py).
TOLERANCE_MODEL_FINDINGS: dict[tuple[str, str, str], str] = {}


def _params():
    for control in CONTROLS:
        for dtype in FLOAT_DTYPE_NAMES:
            reason = TOLERANCE_MODEL_FINDINGS.get((control.name, control.op, dtype))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(control, dtype, id=f"{control.name}-{control.op}-{dtype}", marks=marks)


@pytest.mark.parametrize(("control", "dtype"), list(_params()))
def test_correct_implementation_passes(control, dtype):
    if control.name == "scipy":
        pytest.importorskip("scipy")
    result = conformance.check(control.function, control.op, dtypes=[dtype], profile="default", seed=0)
    assert result.ok, result.summary()
    assert result.get(dtype, "precision").verdict == "pass"
    if hasattr(control.function, "vjp"):  # the backward pass was judged, and passed
        assert result.get(dtype, "grad_precision").verdict == "pass"
