"""What is evaluated and what one call gave: ``Cell``, ``Observation``, the cell's seed and properties.

A *cell* is (implementation, device, dtype). An ``Observation`` is one input with what the
implementation returned for it (or the exception), the oracle's result on it, and the outputs
of the paired calls the device properties compare with. Nothing here calls or judges anything.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from conformance.adapters.base import Implementation
from conformance.cases import Case
from conformance.properties import OracleResult
from conformance.property_registry import SHAPE_DTYPE, cell_properties


@dataclass(frozen=True)
class Cell:
    impl: Implementation
    device: str
    dtype: str

    @property
    def id(self) -> str:
        return cell_id(self.impl.id, self.device, self.dtype)

    @property
    def canonical_id(self) -> str | None:
        """The id of the canonical API's cell on this device and dtype, for an alias (else None)."""
        canonical = self.impl.canonical_id
        return cell_id(canonical, self.device, self.dtype) if canonical else None


def cell_id(impl_id: str, device: str, dtype: str) -> str:
    """A cell's id (the pytest parameter id): ``torch-F.softmax-eager-cpu-float32``."""
    return f"{impl_id}-{device}-{dtype}"


@dataclass
class Observation:
    """One call: the input, what came back (or the exception), and the oracle's view of the input."""

    case: Case
    y: np.ndarray | None
    error: str | None
    oracle: OracleResult
    shape_error: str | None = None
    role: str = "corpus"  # corpus | hypothesis | shifted | isolated
    reference: OracleResult | None = None  # for shifted inputs: the unshifted input's oracle
    # ``DEVICE_PROPERTIES``: the same call again (non-CPU cells; CPU corpus calls), the same call
    # on the CPU (non-CPU cells), and the same API's eager call (compiled modes).
    y_repeat: np.ndarray | None = None
    y_cpu: np.ndarray | None = None
    y_eager: np.ndarray | None = None
    # A joint-axes case (a tuple of axes, None) is judged on its joint view: ``case`` is then
    # ``called.joint()`` (the joint axes flattened into the last one), every output above is in
    # that view, and ``called`` is the case as the implementation was called (for repros).
    called: Case | None = None

    @property
    def as_called(self) -> Case:
        """The case as the implementation was called (``case`` itself unless it had joint axes)."""
        return self.called if self.called is not None else self.case

    def judged_against(self) -> OracleResult:
        return self.reference if self.reference is not None else self.oracle


def applicable_properties(cell: Cell) -> list[str]:
    """The properties judged for ``cell`` besides ``shape_dtype`` (judged for every cell), in display
    order: as ``conformance.property_registry.cell_properties`` decides from the op, the device,
    whether the mode is compiled (an eager counterpart) and whether there is a backward pass."""
    return [name for name in cell_properties(cell.impl, cell.device) if name != SHAPE_DTYPE]


def cell_seed(session_seed: int, cell: Cell) -> int:
    """A per-cell seed derived from the session seed, stable when other cells are added or removed."""
    return zlib.crc32(f"{session_seed}/{cell.id}".encode())
