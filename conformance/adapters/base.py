"""What an adapter is: the contract between the suite and one framework.

An adapter module (one per framework) exposes a module-level ``ADAPTER``, an
instance of a ``FrameworkAdapter`` subclass. It must not import its framework at
module import time: ``available()`` tries the import and the suite reports "not
installed" when it fails.

An ``Implementation`` is one (framework, API, op, mode). Its ``call`` receives a
NumPy array (float16, ml_dtypes.bfloat16, float32, float64 or integer), an axis
and a device name, and returns a NumPy array: the framework's output converted
back without any change of value or dtype (bfloat16 comes back as
ml_dtypes.bfloat16). ``call`` never judges: whatever the framework raises
propagates, and the runner records it (as "unsupported" when a simple probe
input already fails, as an error or an observation otherwise).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from reference.dtypes import FLOAT_DTYPE_NAMES

OPS = ("softmax", "log_softmax", "sum_normalize")
MODES = ("eager", "jit", "xla", "compiled")

# call(x, axis, device) -> np.ndarray
CallFn = Callable[[np.ndarray, int, str], np.ndarray]


@dataclass(frozen=True)
class Implementation:
    """One implementation under test: (framework, API, op, execution mode).

    ``snippet`` is Python source that, given ``x`` (a NumPy array) and ``axis``
    already defined, computes ``y`` as a NumPy array using only the framework and
    NumPy; the runner wraps it into a standalone repro. ``device`` appears in the
    snippet as the variable ``device`` (a string such as ``"cpu"`` or ``"cuda:0"``).
    """

    framework: str
    api: str
    op: str
    mode: str
    call: CallFn = field(compare=False, repr=False)
    snippet: str = field(compare=False, repr=False)
    imports: str = field(default="import numpy as np", compare=False, repr=False)
    dtypes: tuple[str, ...] = FLOAT_DTYPE_NAMES
    notes: str = field(default="", compare=False)
    operation: str = field(default="", compare=False)  # what it computes, if not exactly ``op``

    @property
    def id(self) -> str:
        """Readable id: ``torch-F.softmax-eager``."""
        return f"{self.framework}-{self.api}-{self.mode}"


class FrameworkAdapter:
    """Base class: subclass, set ``name``/``module``, and implement the hooks."""

    name: str = ""
    module: str = ""  # importable module whose presence means "installed"
    distribution: str = ""  # pip distribution name, for version lookups
    compiled_modes: tuple[str, ...] = ()

    def installed(self) -> bool:
        """True when the framework's module can be found, without importing it."""
        import importlib.util

        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):
            return False

    def available(self) -> bool:
        """True when the framework imports; never raises."""
        try:
            importlib.import_module(self.module)
        except Exception:
            return False
        return True

    def version(self) -> str | None:
        """The framework's version string, or None when not installed."""
        if not self.available():
            return None
        return str(getattr(importlib.import_module(self.module), "__version__", "unknown"))

    def devices(self) -> list[str]:
        """Device names this framework sees, ``"cpu"`` first (``"cuda:0"``, ... when present)."""
        return ["cpu"]

    def device_details(self) -> dict[str, object]:
        """Facts for the run's envelope: GPU models, CUDA/cuDNN versions, precision flags."""
        return {}

    def implementations(self) -> Sequence[Implementation]:
        """Every implementation this adapter offers (eager and compiled modes)."""
        raise NotImplementedError
