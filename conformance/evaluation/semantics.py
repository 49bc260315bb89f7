"""What a cell does on special inputs and on one fixed vector: ``semantics`` and ``sample`` rows.

The contract: ``SemanticsMixin.semantics()`` gives one row per special corpus input observed
(the observed output beside the oracle's limit, classified by
``conformance.properties.classify_semantics``) and ``sample()`` the output on ``SAMPLE_VECTOR``
beside the oracle's, for the report's pictures; both are the record fields after the cell
fields (``conformance.records.semantics_record``, ``sample_record``), and both are empty (None)
for a cell that declined or whose probe input raised.
"""

from __future__ import annotations

import numpy as np

from conformance.outcome import listing
from conformance.properties import classify_semantics, oracle_for
from reference.contracts import contract_of

# The one fixed, positive vector every cell is also called on, for the report's pictures
# (sum-normalization against softmax; sorted input against sorted output).
SAMPLE_VECTOR = (1.0, 2.0, 4.0, 5.0, 6.0, 0.5, 3.0, 2.5, 7.5, 1.5, 0.25, 4.5, 3.5, 6.5, 5.5, 8.0)


class SemanticsMixin:
    """The special-input observations and the sample of ``CellEvaluation``."""

    def sample(self) -> dict | None:
        """The implementation's output on ``SAMPLE_VECTOR`` beside the oracle's, for the report's pictures."""
        if self.unsupported is not None or self.probe_error is not None:
            return None
        x = np.array(SAMPLE_VECTOR, dtype=np.float64).astype(self._dtype)
        y, error = self._call(x, -1)
        expected = oracle_for(self.cell.impl.op, x, -1, self._dtype).rounded
        ok = error is None and isinstance(y, np.ndarray) and y.shape == x.shape
        return {
            "input": listing(x),
            "output": listing(y) if ok else None,
            "expected": listing(expected),
            "error": error if error is not None else (None if ok else "output of the wrong shape"),
        }

    def semantics(self) -> list[dict]:
        """Observations on special inputs: observed output beside the oracle's limit, classified."""
        rows = []
        if self.unsupported is not None or self.probe_error is not None:
            return rows
        for obs in self.observations:
            if not obs.case.special:
                continue
            op = self.cell.impl.op
            kinds = set(np.asarray(obs.oracle.kinds).reshape(-1).tolist())
            # undefined for the op, unless the API's contract defines it (a masked API's all-masked
            # slice: its observed value is still recorded here, and precision judges it)
            undefined = bool(kinds & {"zero_sum"}) or ("all_neginf" in kinds and not contract_of(op).masked)
            classification, note = classify_semantics(obs.y, obs.oracle, undefined)
            rows.append(
                {
                    "case": obs.case.name,
                    "description": obs.case.description,
                    "input": listing(obs.case.x),
                    "input_dtype": str(obs.case.x.dtype),
                    "observed": None if obs.y is None else listing(obs.y),
                    "observed_dtype": None if obs.y is None else str(obs.y.dtype),
                    "error": obs.error,
                    "limit": listing(obs.oracle.rounded),
                    "classification": classification,
                    "note": note,
                }
            )
        return rows
