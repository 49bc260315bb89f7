"""NumPy as a framework under test: the textbook formulas, computed in the input dtype.

These are not the oracle (``reference/`` is): they are what a user writes by hand
with NumPy, so they show what plain float16/bfloat16/float32 arithmetic gives.
NumPy computes in the input dtype (bfloat16 through ml_dtypes' ufunc loops);
integer input is promoted by NumPy's own rules (``np.exp`` and ``/`` give
float64). Floating-point warnings (overflow, invalid) are NumPy's and are not
silenced here.

Each has the hand-written backward pass that goes with it (NumPy has no
autodiff), in the input dtype: ``s * (g - sum(g * s))`` from the forward output,
``g - exp(y) * sum(g)``, and ``(g - sum(g * y)) / S``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from conformance.adapters.base import FrameworkAdapter, Implementation


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    d = x - x.max(axis, keepdims=True)
    return d - np.log(np.exp(d).sum(axis, keepdims=True))


def _sum_normalize(x: np.ndarray, axis: int) -> np.ndarray:
    return x / x.sum(axis, keepdims=True)


def _softmax_vjp(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    s = _softmax(x, axis)
    return s * (g - (g * s).sum(axis, keepdims=True))


def _log_softmax_vjp(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    return g - np.exp(_log_softmax(x, axis)) * g.sum(axis, keepdims=True)


def _sum_normalize_vjp(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    total = x.sum(axis, keepdims=True)
    return (g - (g * (x / total)).sum(axis, keepdims=True)) / total


# (api, op, function, snippet computing y from x and axis, its backward pass, that as a snippet
# computing gx from x, g and axis); each snippet is the function's body.
_SPECS: tuple[tuple[str, str, Callable[..., np.ndarray], str, Callable[..., np.ndarray], str], ...] = (
    (
        "exp-shift",
        "softmax",
        _softmax,
        "e = np.exp(x - x.max(axis, keepdims=True))\ny = e / e.sum(axis, keepdims=True)",
        _softmax_vjp,
        "e = np.exp(x - x.max(axis, keepdims=True))\ns = e / e.sum(axis, keepdims=True)\n"
        "gx = s * (g - (g * s).sum(axis, keepdims=True))",
    ),
    (
        "log-shift",
        "log_softmax",
        _log_softmax,
        "d = x - x.max(axis, keepdims=True)\ny = d - np.log(np.exp(d).sum(axis, keepdims=True))",
        _log_softmax_vjp,
        "d = x - x.max(axis, keepdims=True)\ny = d - np.log(np.exp(d).sum(axis, keepdims=True))\n"
        "gx = g - np.exp(y) * g.sum(axis, keepdims=True)",
    ),
    (
        "x/sum",
        "sum_normalize",
        _sum_normalize,
        "y = x / x.sum(axis, keepdims=True)",
        _sum_normalize_vjp,
        "total = x.sum(axis, keepdims=True)\ngx = (g - (g * (x / total)).sum(axis, keepdims=True)) / total",
    ),
)


def _make_call(fn: Callable[[np.ndarray, int], np.ndarray]) -> Callable[[np.ndarray, int, str], np.ndarray]:
    def call(x: np.ndarray, axis: int, device: str) -> np.ndarray:
        if device != "cpu":
            raise ValueError(f"unknown numpy device {device!r}; valid: cpu")
        return np.asarray(fn(x, axis))

    return call


def _make_vjp(fn: Callable[..., np.ndarray]) -> Callable[[np.ndarray, np.ndarray, int, str], np.ndarray]:
    def vjp(x: np.ndarray, g: np.ndarray, axis: int, device: str) -> np.ndarray:
        if device != "cpu":
            raise ValueError(f"unknown numpy device {device!r}; valid: cpu")
        return np.asarray(fn(x, g, axis))

    return vjp


class NumpyAdapter(FrameworkAdapter):
    name = "numpy"
    module = "numpy"
    distribution = "numpy"

    def device_details(self) -> dict[str, object]:
        return {"numpy": np.__version__}

    def implementations(self) -> Sequence[Implementation]:
        return [
            Implementation(
                framework=self.name,
                api=api,
                op=op,
                mode="eager",
                call=_make_call(fn),
                snippet=snippet,
                imports="import numpy as np",
                notes="hand-written formula in NumPy, computed in the input dtype",
                vjp=_make_vjp(vjp),
                vjp_snippet=vjp_snippet,
            )
            for api, op, fn, snippet, vjp, vjp_snippet in _SPECS
        ]


ADAPTER = NumpyAdapter()
