"""An example adapter from another package: ``example-numpy``, registered through an entry point.

``pyproject.toml`` beside this file declares it in the group ``softmax_conformance.adapters``
as ``example-numpy = "example_numpy_adapter:ADAPTER"``; once the package is installed,
``python -m conformance list`` shows it and ``python -m conformance run --framework
example-numpy`` judges it like any built-in framework.

It is written on the adapter kit (``conformance.adapters.base``): ``SourceAdapter`` runs each
spec's snippet (statements computing ``y`` from ``x`` and ``axis``) as the implementation. The
implementations compute in float64 (exact for every input dtype, ml_dtypes' bfloat16 included),
shifted by the slice maximum, and round once to the input dtype; integer input gives float64,
like the oracle.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import numpy as np

from conformance.adapters.base import ApiSpec, SourceAdapter

DISTRIBUTION = "softmax-conformance-example-adapter"
_OUT = "np.float64 if np.issubdtype(x.dtype, np.integer) else x.dtype"


class ExampleNumpyAdapter(SourceAdapter):
    name = "example-numpy"
    module = "numpy"  # what must import for the adapter to be usable
    distribution = DISTRIBUTION
    mode_notes = {"eager": "example adapter from another package: computed in float64, rounded once"}  # noqa: RUF012
    specs = (
        ApiSpec(
            "float64-softmax",
            "softmax",
            "d = x.astype(np.float64)\ne = np.exp(d - d.max(axis, keepdims=True))\n"
            f"y = (e / e.sum(axis, keepdims=True)).astype({_OUT})",
        ),
        ApiSpec(
            "float64-log_softmax",
            "log_softmax",
            "d = x.astype(np.float64)\nd = d - d.max(axis, keepdims=True)\n"
            f"y = (d - np.log(np.exp(d).sum(axis, keepdims=True))).astype({_OUT})",
        ),
    )

    def version(self) -> str | None:
        try:
            return version(DISTRIBUTION)
        except PackageNotFoundError:
            return "unknown"

    def device_details(self) -> dict[str, object]:
        return {"numpy": np.__version__}


ADAPTER = ExampleNumpyAdapter()
