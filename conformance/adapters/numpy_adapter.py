"""NumPy as a framework under test: the textbook formulas, computed in the input dtype.

These are not the oracle (``reference/`` is): they are what a user writes by hand
with NumPy, so they show what plain float16/bfloat16/float32 arithmetic gives.
NumPy computes in the input dtype (bfloat16 through ml_dtypes' ufunc loops);
integer input is promoted by NumPy's own rules (``np.exp`` and ``/`` give
float64). Floating-point warnings (overflow, invalid) are NumPy's and are not
silenced here. NumPy's reductions take a tuple of axes or None, so the formulas do too
(``JOINT_AXES``: the corpus' joint-axes cases are run on them).

Each has the hand-written backward pass that goes with it (NumPy has no
autodiff), in the input dtype: ``s * (g - sum(g * s))`` from the forward output,
``g - exp(y) * sum(g)``, and ``(g - sum(g * y)) / S``. The snippets below are the
implementation (``SourceAdapter`` runs them), so a repro computes exactly what ran.
"""

from __future__ import annotations

import numpy as np

from conformance.adapters.base import JOINT_AXES, ApiSpec, SourceAdapter

_SOFTMAX = "e = np.exp(x - x.max(axis, keepdims=True))\ny = e / e.sum(axis, keepdims=True)"
_LOG_SOFTMAX = "d = x - x.max(axis, keepdims=True)\ny = d - np.log(np.exp(d).sum(axis, keepdims=True))"


class NumpyAdapter(SourceAdapter):
    name = "numpy"
    module = "numpy"
    distribution = "numpy"
    mode_notes = {"eager": "hand-written formula in NumPy, computed in the input dtype"}  # noqa: RUF012
    specs = (
        ApiSpec(
            "exp-shift",
            "softmax",
            _SOFTMAX,
            vjp_source=_SOFTMAX.replace("y = ", "s = ") + "\ngx = s * (g - (g * s).sum(axis, keepdims=True))",
            axes=JOINT_AXES,
        ),
        ApiSpec(
            "log-shift",
            "log_softmax",
            _LOG_SOFTMAX,
            vjp_source=_LOG_SOFTMAX + "\ngx = g - np.exp(y) * g.sum(axis, keepdims=True)",
            axes=JOINT_AXES,
        ),
        ApiSpec(
            "x/sum",
            "sum_normalize",
            "y = x / x.sum(axis, keepdims=True)",
            vjp_source="total = x.sum(axis, keepdims=True)\n"
            "gx = (g - (g * (x / total)).sum(axis, keepdims=True)) / total",
            axes=JOINT_AXES,
        ),
    )

    def device_details(self) -> dict[str, object]:
        return {"numpy": np.__version__}


ADAPTER = NumpyAdapter()
