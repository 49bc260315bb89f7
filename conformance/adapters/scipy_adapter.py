"""SciPy as a framework under test: ``scipy.special.softmax`` and ``log_softmax``.

SciPy's default is ``axis=None``, which normalizes over the whole array rather
than along one axis; the suite always passes ``axis`` explicitly, and so do the
repro snippets. SciPy is imported lazily, on the first call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from types import ModuleType

import numpy as np

from conformance.adapters.base import FrameworkAdapter, Implementation

_IMPORTS = "import numpy as np\nimport scipy.special"
_NOTES = "axis passed explicitly: SciPy's default axis=None normalizes over the whole array"


@cache
def _special() -> ModuleType:
    import scipy.special

    return scipy.special


def _make_call(name: str) -> Callable[[np.ndarray, int, str], np.ndarray]:
    def call(x: np.ndarray, axis: int, device: str) -> np.ndarray:
        if device != "cpu":
            raise ValueError(f"unknown scipy device {device!r}; valid: cpu")
        return np.asarray(getattr(_special(), name)(x, axis=axis))

    return call


class ScipyAdapter(FrameworkAdapter):
    name = "scipy"
    module = "scipy"
    distribution = "scipy"

    def device_details(self) -> dict[str, object]:
        return {"numpy": np.__version__}

    def implementations(self) -> Sequence[Implementation]:
        return [
            Implementation(
                framework=self.name,
                api=f"special.{name}",
                op=name,
                mode="eager",
                call=_make_call(name),
                snippet=f"y = np.asarray(scipy.special.{name}(x, axis=axis))",
                imports=_IMPORTS,
                notes=_NOTES,
            )
            for name in ("softmax", "log_softmax")
        ]


ADAPTER = ScipyAdapter()
