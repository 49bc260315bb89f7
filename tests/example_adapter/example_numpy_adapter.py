"""An example adapter from another package: ``example-numpy``, registered through an entry point.

``pyproject.toml`` beside this file declares it in the group ``softmax_conformance.adapters``
as ``example-numpy = "example_numpy_adapter:ADAPTER"``; once the package is installed,
``python -m conformance list`` shows it and ``python -m conformance run --framework
example-numpy`` judges it like any built-in framework.

The implementations compute in float64 (exact for every input dtype, ml_dtypes' bfloat16
included), shifted by the slice maximum, and round once to the input dtype; integer input
gives float64, like the oracle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from conformance.adapters.base import FrameworkAdapter, Implementation

DISTRIBUTION = "softmax-conformance-example-adapter"


def _out_dtype(x: np.ndarray) -> np.dtype:
    return np.dtype(np.float64) if np.issubdtype(x.dtype, np.integer) else x.dtype


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    d = x.astype(np.float64)
    e = np.exp(d - d.max(axis, keepdims=True))
    return (e / e.sum(axis, keepdims=True)).astype(_out_dtype(x))


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    d = x.astype(np.float64)
    d = d - d.max(axis, keepdims=True)
    return (d - np.log(np.exp(d).sum(axis, keepdims=True))).astype(_out_dtype(x))


_OUT = "np.float64 if np.issubdtype(x.dtype, np.integer) else x.dtype"
_SNIPPETS = {
    "softmax": (
        "d = x.astype(np.float64)\ne = np.exp(d - d.max(axis, keepdims=True))\n"
        f"y = (e / e.sum(axis, keepdims=True)).astype({_OUT})"
    ),
    "log_softmax": (
        "d = x.astype(np.float64)\nd = d - d.max(axis, keepdims=True)\n"
        f"y = (d - np.log(np.exp(d).sum(axis, keepdims=True))).astype({_OUT})"
    ),
}


def _make_call(fn: Callable[[np.ndarray, int], np.ndarray]) -> Callable[[np.ndarray, int, str], np.ndarray]:
    def call(x: np.ndarray, axis: int, device: str) -> np.ndarray:
        if device != "cpu":
            raise ValueError(f"unknown example-numpy device {device!r}; valid: cpu")
        return fn(np.asarray(x), axis)

    return call


class ExampleNumpyAdapter(FrameworkAdapter):
    name = "example-numpy"
    module = "numpy"  # what must import for the adapter to be usable
    distribution = DISTRIBUTION

    def version(self) -> str | None:
        try:
            return version(DISTRIBUTION)
        except PackageNotFoundError:
            return "unknown"

    def device_details(self) -> dict[str, object]:
        return {"numpy": np.__version__}

    def implementations(self) -> Sequence[Implementation]:
        return [
            Implementation(
                framework=self.name,
                api=f"float64-{op}",
                op=op,
                mode="eager",
                call=_make_call(fn),
                snippet=_SNIPPETS[op],
                imports="import numpy as np",
                notes="example adapter from another package: computed in float64, rounded once",
            )
            for op, fn in (("softmax", softmax), ("log_softmax", log_softmax))
        ]


ADAPTER = ExampleNumpyAdapter()
