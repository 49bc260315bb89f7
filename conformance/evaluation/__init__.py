"""Evaluating one cell: call the implementation on every input once, judge many times.

A *cell* is (implementation, device, dtype). ``CellEvaluation`` calls the implementation on
the corpus (row cases of equal length stacked into one call), on Hypothesis-generated batches
(``hypothesis.target`` steers towards the largest ULP error) and on exactly shifted copies for
shift invariance; it keeps every output with its oracle result, and ``outcome(property)``
aggregates one property over all of them. Nothing is judged inside the adapters and nothing is
called inside the properties.

One module per job, in the order the data flows:

* ``cell`` -- ``Cell``, ``Observation``, ``cell_seed``, ``applicable_properties``: the nouns;
* ``calling`` -- calling the implementation: timing, row padding, paired repeat/CPU/eager calls;
* ``inputs`` -- which inputs are run: corpus grouping, shifted copies, the Hypothesis search;
* ``reduction`` -- observations to a ``PropertyOutcome``: judging, shrinking, failure descriptions;
* ``semantics`` -- the special-input observations and the fixed sample vector;
* ``cell_evaluation`` -- ``CellEvaluation``, composed of the four jobs, and its ``run``.

The names other modules import from ``conformance.evaluation`` are re-exported here.
"""

from __future__ import annotations

from conformance.evaluation.calling import LONG_ROW_BUCKETS, ROW_BUCKETS
from conformance.evaluation.cell import Cell, Observation, applicable_properties, cell_seed
from conformance.evaluation.cell_evaluation import CellEvaluation
from conformance.evaluation.reduction import PAIRED_CALL_NAMES
from conformance.evaluation.semantics import SAMPLE_VECTOR
from conformance.outcome import PropertyOutcome

__all__ = [
    "LONG_ROW_BUCKETS",
    "PAIRED_CALL_NAMES",
    "ROW_BUCKETS",
    "SAMPLE_VECTOR",
    "Cell",
    "CellEvaluation",
    "Observation",
    "PropertyOutcome",
    "applicable_properties",
    "cell_seed",
]
