"""The slice conditions a cell's evaluation decides from the outputs it holds (``ConditionsMixin``).

The contract: ``_more_conditions(property, observation, failing slice indices)`` gives, per failing
slice, the conditions of ``conformance.slice_conditions`` that only the outputs can decide: a repair
under which the property passes on the slice (``OUTPUT_REPAIRS``, judged again by ``_judge``), an
emulated mechanism whose output the slice's is (``conformance.emulations``), a float64 cell's
output that is a correct float32 result (``conformance.computed_in_float32``). ``ReductionMixin`` hands
it to ``conformance.outcome.summarize``, and the registry's ``condition`` entries are matched against
what it finds. It never calls the implementation.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from conformance.computed_in_float32 import forward_computed_in_float32
from conformance.emulations import (
    float32_norm_denominator,
    matches_xla_temperature_rewrite,
    one_denominator_within_linear_sum_bound,
    softmax_one_denominator_within_linear_sum_bound,
)
from conformance.evaluation.cell import Observation
from conformance.properties import OracleResult, SliceResults, _slices, judged_dtype
from conformance.property_registry import DEVICE_PROPERTIES, PROPERTIES
from conformance.slice_conditions import OUTPUT_REPAIRS, divisor_form, undo_flush_near_tiny, with_condition
from reference.contracts import contract_of
from reference.dtypes import dtype_info, is_float_dtype


def other_output(obs: Observation, compare_with: str) -> np.ndarray | None:
    """The output a device property compares ``obs.y`` with: "cpu", "repeat" or "eager"."""
    return {"cpu": obs.y_cpu, "repeat": obs.y_repeat, "eager": obs.y_eager}[compare_with]


class ConditionsMixin:
    """Conditions of failing slices decided from a cell's outputs (the module's contract); needs the
    evaluation's ``cell``, ``_dtype`` and ``_judge``."""

    @property
    def _judged_tiny(self) -> float:
        """The smallest normal of the dtype the cell's outputs are judged in."""
        return dtype_info(judged_dtype(self.cell.impl.op, self._dtype)).tiny

    def _more_conditions(self, name: str, obs: Observation, indices: list[int]) -> list[tuple[str, ...]]:
        """Per failing slice ``indices`` of ``obs``, the conditions decided from its outputs: the
        repairs under which ``name`` passes (``_repairs_met``), then the emulations it matches
        (``_emulations_met``, ``_denominator_met``), then ``computed-in-float32`` (``_float32_met``)."""
        repairs = self._repairs_met(name, obs, indices)
        emulations = self._emulations_met(name, obs, indices)
        denominators = self._denominator_met(name, obs, indices)
        in_float32 = self._float32_met(name, obs, indices)
        found = zip(repairs, emulations, denominators, in_float32, strict=True)
        return [(*r, *e, *d, *f) for r, e, d, f in found]

    def _float32_met(self, name: str, obs: Observation, indices: list[int]) -> list[tuple[str, ...]]:
        """``computed-in-float32`` (and its flush variant) for the failing slices of a float64 cell
        whose output is a correct float32 result of the input rounded to float32
        (``conformance.computed_in_float32``); not for the properties comparing two outputs."""
        op = self.cell.impl.op
        float64 = judged_dtype(op, self._dtype) == np.float64 and obs.case.x.dtype == np.float64
        if not float64 or name in DEVICE_PROPERTIES or obs.y is None:
            return [() for _ in indices]
        index = np.asarray(indices)
        x, y = (_slices(np.asarray(a), obs.case.axis)[index] for a in (obs.case.x, obs.y))
        return forward_computed_in_float32(op, x, y)

    def _denominator_met(self, name: str, obs: Observation, indices: list[int]) -> list[tuple[str, ...]]:
        """``linear-sum-denominator`` for the failing slices of a sum normalization whose output is
        ``x / D`` with ``D`` within a recursive summation's error of the exact sum
        (``conformance.emulations.one_denominator_within_linear_sum_bound``), or of a softmax or
        log-softmax (no temperature) that is right but for its sum of exponentials
        (``softmax_one_denominator_within_linear_sum_bound``); for a float64 L1
        normalization ``float32-norm-denominator``, ``D`` a float32 norm
        (``conformance.emulations.float32_norm_denominator``); not for the properties comparing two
        outputs."""
        op = self.cell.impl.op
        softmax = str(op) in ("softmax", "log_softmax") and contract_of(op).temperature is None
        skip = not (op == "sum_normalize" or softmax) or name in DEVICE_PROPERTIES or obs.y is None
        if skip or not is_float_dtype(obs.case.x.dtype):
            return [() for _ in indices]
        index = np.asarray(indices)
        x, y = (_slices(np.asarray(a), obs.case.axis)[index] for a in (obs.case.x, obs.y))
        if softmax:
            allowed = np.asarray(obs.judged_against().allowed, dtype=np.float64)
            allowed = _slices(allowed, obs.case.axis)[index]
            met = softmax_one_denominator_within_linear_sum_bound(x, y, str(op) == "log_softmax", allowed)
            return with_condition(None, "linear-sum-denominator", met)
        met = one_denominator_within_linear_sum_bound(x, y, *divisor_form(op, self._dtype))
        found = with_condition(None, "linear-sum-denominator", met)
        l1, eps32 = divisor_form(op, np.float32)
        if l1 and x.dtype == np.float64:
            found = with_condition(found, "float32-norm-denominator", float32_norm_denominator(x, y, eps32))
        return found

    def _emulations_met(self, name: str, obs: Observation, indices: list[int]) -> list[tuple[str, ...]]:
        """``xla-temperature-rewrite`` for the failing slices of a temperature composite whose output
        is XLA's rewrite of it (``conformance.emulations``). For ``compiled_consistency`` the eager
        output it is compared with must be right too (precision, a flush near tiny accepted) or the
        rewrite itself, so that no other error of the eager side is taken for the compiler's (the
        eager expression is also a cell of its own, judged against the contract: JAX's eager
        ``t / 3.0`` is the rewrite without the contraction)."""
        temperature = contract_of(self.cell.impl.op).temperature
        if temperature is None or obs.y is None or not is_float_dtype(obs.case.x.dtype):
            return [() for _ in indices]
        index = np.asarray(indices)
        x, y = (_slices(np.asarray(a), obs.case.axis)[index] for a in (obs.case.x, obs.y))
        allowed = _slices(np.asarray(obs.oracle.allowed, dtype=np.float64), obs.case.axis)[index]
        met = matches_xla_temperature_rewrite(x, y, temperature, allowed)
        if name in DEVICE_PROPERTIES:
            other = other_output(obs, DEVICE_PROPERTIES[name].compare_with)
            if other is None:
                return [() for _ in indices]
            undone = undo_flush_near_tiny(other, obs.oracle.exact, obs.oracle.rounded, self._judged_tiny)
            right = PROPERTIES["precision"].judge(
                obs.case.x, undone, obs.oracle, self.cell.impl.op, self._dtype, obs.case.axis
            )
            other_rows = _slices(np.asarray(other), obs.case.axis)[index]
            rewritten = matches_xla_temperature_rewrite(x, other_rows, temperature, allowed)
            met &= np.asarray(right.passed)[index] | rewritten
        return with_condition(None, "xla-temperature-rewrite", met)

    def _repairs_met(self, name: str, obs: Observation, indices: list[int]) -> list[tuple[str, ...]]:
        """Per failing slice ``indices`` of ``obs``, the ``OUTPUT_REPAIRS`` under which ``name``
        passes on it (``_rejudge``)."""
        met: list[list[str]] = [[] for _ in indices]
        for repair in OUTPUT_REPAIRS:
            again = self._rejudge(name, obs, repair)
            if again is not None:
                for found, i in zip(met, indices, strict=True):
                    if bool(again.passed[i]):
                        found.append(repair)
        return [tuple(found) for found in met]

    def _rejudge(self, name: str, obs: Observation, repair: str) -> SliceResults | None:
        """``name`` judged again on ``obs`` with the ``OUTPUT_REPAIRS[repair]`` mechanism undone in
        its output and in the output a device property compares it with; None if that changes
        nothing (``conformance.slice_conditions``)."""
        undo = OUTPUT_REPAIRS[repair]
        tiny = self._judged_tiny

        def undone(y: np.ndarray | None, oracle: OracleResult) -> np.ndarray | None:
            return None if y is None else undo(y, oracle.exact, oracle.rounded, tiny)

        outputs = {"y": undone(obs.y, obs.judged_against())}
        for field in ("y_repeat", "y_cpu", "y_eager"):
            outputs[field] = undone(getattr(obs, field), obs.oracle)
        if all(outputs[f] is getattr(obs, f) for f in outputs):
            return None
        return self._judge(name, replace(obs, **outputs))
