"""SciPy as a framework under test: ``scipy.special.softmax`` and ``log_softmax``.

SciPy's default is ``axis=None``, which normalizes over the whole array rather
than along one axis; the suite always passes ``axis`` explicitly, and so do the
repro snippets (which are the implementation: ``SourceAdapter`` runs them). Both document
``axis: int or tuple of ints, optional`` (None: the whole array), so the joint-axes cases,
None included, are run on them (``JOINT_AXES``).
SciPy is imported lazily, on the first call.
"""

from __future__ import annotations

import numpy as np

from conformance.adapters.base import JOINT_AXES, ApiSpec, SourceAdapter

_NOTES = "axis passed explicitly: SciPy's default axis=None normalizes over the whole array"


class ScipyAdapter(SourceAdapter):
    name = "scipy"
    module = "scipy"
    distribution = "scipy"
    imports = "import numpy as np\nimport scipy.special"
    mode_notes = {"eager": _NOTES}  # noqa: RUF012
    specs = tuple(
        ApiSpec(
            f"special.{name}", name, f"y = np.asarray(scipy.special.{name}(x, axis=axis))", axes=JOINT_AXES
        )
        for name in ("softmax", "log_softmax")
    )

    def device_details(self) -> dict[str, object]:
        return {"numpy": np.__version__}


ADAPTER = ScipyAdapter()
