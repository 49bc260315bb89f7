"""Reducing a cell's observations to one ``PropertyOutcome`` per property.

The contract: ``ReductionMixin.outcome(name)`` judges every observation the property applies
to (``PROPERTIES[name].judge``, or the device property's comparison with the paired output),
aggregates the slices (``conformance.outcome.summarize``) and describes the worst failure: the
smallest failing slice, reduced while it still fails when called alone (``_fails_alone``,
bounded by the profile's ``shrink_calls``), with its input, output, expected output and a repro
snippet. A call that raised or returned the wrong shape makes the verdict at best "error"; so
do failed paired calls and an exception that escaped the Hypothesis search. It only calls the
implementation to shrink a failure.
"""

from __future__ import annotations

import numpy as np

from conformance.cases import Case
from conformance.evaluation.cell import Observation, applicable_properties
from conformance.evaluation.conditions import ConditionsMixin, other_output
from conformance.outcome import PropertyOutcome, failure_message, listing, summarize
from conformance.properties import SliceResults, _slices, oracle_for
from conformance.property_registry import DEVICE_PROPERTIES, GRADIENT_PROPERTIES, PROPERTIES
from conformance.repro import device_repro, repro_snippet

# The paired calls (``CallingMixin._paired_calls``), as a message names them.
PAIRED_CALL_NAMES = {"repeat": "repeated", "cpu": "CPU", "eager": "eager"}


class ReductionMixin(ConditionsMixin):
    """The verdicts of ``CellEvaluation``: ``outcome`` per property, from its ``observations``."""

    def applicable_properties(self) -> list[str]:
        """The properties judged for this cell: repeatability everywhere, CPU consistency off the CPU."""
        return applicable_properties(self.cell)

    def _judge(self, name: str, obs: Observation) -> SliceResults | None:
        if (
            obs.y is None
            or (obs.shape_error and "shape" in obs.shape_error)
            or obs.case.x.dtype.kind in "iub"
        ):
            return None
        if name in DEVICE_PROPERTIES:
            return self._judge_device(name, obs)
        if name == "shift_invariance" and obs.role != "shifted":
            return None
        if name != "shift_invariance" and obs.role == "shifted":
            return None
        prop = PROPERTIES[name]
        return prop.judge(
            obs.case.x, obs.y, obs.judged_against(), self.cell.impl.op, self._dtype, obs.case.axis
        )

    def outcome(self, name: str) -> PropertyOutcome:
        if self.unsupported is not None:
            return PropertyOutcome(name, "unsupported", message=self.unsupported)
        if self.probe_error is not None:
            return PropertyOutcome(name, "error", message=self.probe_error)
        if name == "shape_dtype":
            return with_generation_error(self._shape_dtype_outcome(), self.hypothesis_error)
        if name in GRADIENT_PROPERTIES:
            if self.gradients is None:
                return PropertyOutcome(name, "skipped", message="no backward pass (autodiff) offered")
            return self.gradients.outcome(name)
        if name == "compiled_consistency" and self.cell.impl.eager_call is None:
            return PropertyOutcome(name, "skipped", message="applies to compiled modes only")
        if name == "device_consistency" and not self.paired:
            return PropertyOutcome(name, "skipped", message="applies to GPU (non-CPU) devices only")
        # Calls this property would have judged that raised or returned the wrong shape: each is
        # an input the property could not be checked on, so the verdict is at best "error".
        errors = [
            o
            for o in self.observations
            if (o.error or (o.shape_error and "shape" in o.shape_error))
            and not o.case.special
            and (o.role == "shifted") == (name == "shift_invariance")
        ]
        judged = ((obs, self._judge(name, obs)) for obs in self.observations)
        kept = ((obs, res) for obs, res in judged if res is not None)
        out, failures = summarize(name, kept, lambda obs, indices: self._more_conditions(name, obs, indices))
        if failures:
            self._describe_failure(name, out, failures)
        if errors:
            problem = errors[0].error or errors[0].shape_error
            out.verdict = "fail" if out.verdict == "fail" else "error"
            out.message = (out.message + f"; {len(errors)} call(s) failed: {problem}").strip("; ")
            out.failing_cases = tuple(sorted({*out.failing_cases, *(o.case.name for o in errors)}))
        if name in DEVICE_PROPERTIES and DEVICE_PROPERTIES[name].compare_with in self.pair_errors:
            count, problem = self.pair_errors[DEVICE_PROPERTIES[name].compare_with]
            what = PAIRED_CALL_NAMES[DEVICE_PROPERTIES[name].compare_with]
            out.verdict = "fail" if out.verdict == "fail" else "error"
            out.message = (out.message + f"; {count} {what} comparison call(s) failed: {problem}").strip("; ")
        if name in DEVICE_PROPERTIES and DEVICE_PROPERTIES[name].compare_with in self.special_pair_errors:
            case, problem = self.special_pair_errors[DEVICE_PROPERTIES[name].compare_with]
            what = PAIRED_CALL_NAMES[DEVICE_PROPERTIES[name].compare_with]
            note = f"the {what} call raised on special input {case} (not compared): {problem}"
            out.message = (out.message + "; " + note).strip("; ")
        return with_generation_error(out, self.hypothesis_error)

    def _shape_dtype_outcome(self) -> PropertyOutcome:
        """Shape and dtype preserved, and no exception, on every regular float input."""
        judged = [o for o in self.observations if o.case.x.dtype.kind not in "iub" and not o.case.special]
        bad = [o for o in judged if o.error or o.shape_error]
        out = PropertyOutcome("shape_dtype", "pass" if judged else "skipped", n_cases=len(judged))
        out.judged_cases = tuple(sorted({o.case.name for o in judged}))
        out.n_failed, out.metric, out.bound = len(bad), float(len(bad)), 0.0
        if bad:
            o = min(bad, key=lambda o: o.case.x.size)
            out.verdict = "fail"
            out.failing_cases = tuple(sorted({o.case.name for o in bad}))
            out.message = f"{len(bad)} input(s) wrong; e.g. {o.case.name}: {o.error or o.shape_error}"
            src = o.as_called  # a joint-axes case: the input and axis as called, not the joint view
            out.worst = worst_case(
                src,
                "whole input",
                src.x,
                o.y,
                None,
                axis=_axis_field(src.axis),
                problem=o.error or o.shape_error,
            )
            expected = o.oracle.rounded if o.called is None else self._expected(src)
            out.repro = repro_snippet(self.cell.impl, src.x, src.axis, self.cell.device, expected)
        return out

    def _slice(self, a: np.ndarray, axis: int, i: int) -> np.ndarray:
        return _slices(a, axis)[i]

    def _fails_alone(self, name: str, x1: np.ndarray) -> tuple[bool, np.ndarray | None]:
        """Whether ``name`` fails on ``x1`` called alone. A call that raises or returns the wrong
        shape is not this property failing (``shape_dtype`` reports it), so it is False: the
        shrinker never offers an input on which the implementation raises as a minimal failure."""
        y, error = self._call(x1, -1)
        if error is not None or not isinstance(y, np.ndarray) or y.shape != x1.shape:
            return False, None
        oracle = oracle_for(self.cell.impl.op, x1, -1, self._dtype)
        res = PROPERTIES[name].judge(x1, y, oracle, self.cell.impl.op, self._dtype, -1)
        return bool(np.any(res.applicable & ~res.passed)), y

    def _describe_failure(self, name: str, out: PropertyOutcome, failures: list) -> None:
        if name in DEVICE_PROPERTIES:
            return self._describe_device_failure(name, out, failures)

        def size_key(f):
            obs, i, metric, _ = f
            xs = self._slice(obs.case.x, obs.case.axis, i).astype(np.float64)
            finite = np.abs(xs[np.isfinite(xs)])
            return (xs.size, float(np.max(finite)) if finite.size else 0.0, -metric)

        obs, i, metric, bound = min(failures, key=size_key)
        x1 = np.ascontiguousarray(self._slice(obs.case.x, obs.case.axis, i))
        reference = obs.judged_against()
        alone, y1 = (False, None)
        if name != "shift_invariance":
            alone, y1 = self._fails_alone(name, x1)
            calls = 0
            # Reduce: drop elements while the property still fails on its own (bounded).
            while alone and x1.size > 1 and calls < self.profile.shrink_calls:
                reduced = False
                for j in range(x1.size):
                    if calls >= self.profile.shrink_calls:
                        break
                    candidate = np.delete(x1, j)
                    calls += 1
                    still, y_c = self._fails_alone(name, candidate)
                    if still:
                        x1, y1, reduced = candidate, y_c, True
                        break
                if not reduced:
                    break
        if alone:
            expected = oracle_for(self.cell.impl.op, x1, -1, self._dtype).rounded
            got = y1
            where = "minimal input (fails on its own)"
            axis = -1
            repro_x = x1
        else:
            expected = self._slice(reference.rounded, obs.case.axis, i)
            got = self._slice(obs.y, obs.case.axis, i)
            if name == "shift_invariance":
                where = f"slice {i} of {obs.case.name}, judged against the unshifted slice's exact result"
            else:
                where = f"slice {i} of {obs.case.name} (fails only within its batch)"
            axis, repro_x = obs.as_called.axis, obs.as_called.x  # joint axes: as called
            if name == "shift_invariance" or repro_x.size > 4096:
                repro_x, axis = x1, -1
        if obs.called is not None:
            where += f"; joint slice over axis={obs.called.axis!r} of shape {obs.called.x.shape}"
        out.message = failure_message(len(failures), PROPERTIES[name].unit, out, obs.case.name, metric, bound)
        out.worst = worst_case(
            obs.case, where, x1, got, expected, metric=metric, bound=bound, dtype=self.cell.dtype
        )
        full_expected = oracle_for(self.cell.impl.op, repro_x, axis, self._dtype).rounded
        out.repro = repro_snippet(self.cell.impl, repro_x, axis, self.cell.device, full_expected)

    def _expected(self, case: Case) -> np.ndarray:
        """The oracle's correctly rounded answer for ``case`` as called (joint axes put back in place)."""
        return oracle_for(self.cell.impl.op, case.x, case.axis, self._dtype).rounded

    # ---- GPU cells: the same call again, and on the CPU (DEVICE_PROPERTIES) --------------------

    def _judge_device(self, name: str, obs: Observation) -> SliceResults | None:
        prop = DEVICE_PROPERTIES[name]
        other = other_output(obs, prop.compare_with)
        if other is None or other.shape != obs.y.shape:
            return None
        return prop.judge(obs.case.x, obs.y, other, obs.oracle, self.cell.impl.op, self._dtype, obs.case.axis)

    def _describe_device_failure(self, name: str, out: PropertyOutcome, failures: list) -> None:
        """The smallest differing slice, the device's output beside the CPU's (or the first call's)."""
        prop = DEVICE_PROPERTIES[name]
        obs, i, metric, bound = min(failures, key=lambda f: (f[0].case.x.size, -f[2]))
        other = other_output(obs, prop.compare_with)
        x1 = np.ascontiguousarray(self._slice(obs.case.x, obs.case.axis, i))
        against = {
            "cpu": "the CPU's output",
            "repeat": "a second, identical call's output",
            "eager": "the eager mode's output",
        }[prop.compare_with]
        out.message = failure_message(
            len(failures), prop.unit, out, obs.case.name, metric, bound, f"differ from {against}"
        )
        out.worst = worst_case(
            obs.case,
            f"slice {i} of {obs.case.name}; 'expected' is {against}",
            x1,
            self._slice(obs.y, obs.case.axis, i),
            self._slice(other, obs.case.axis, i),
            metric=metric,
            bound=bound,
            dtype=self.cell.dtype,
        )
        # A joint-axes case is repeated as called (its flattened slice would not take the tuple path).
        repro_x, axis = (x1, -1) if obs.called is None else (obs.called.x, obs.called.axis)
        out.repro = device_repro(self.cell.impl, repro_x, axis, self.cell.device, prop.compare_with)


def with_generation_error(out: PropertyOutcome, hypothesis_error: str | None) -> PropertyOutcome:
    """An exception that escaped the Hypothesis search makes the verdict "error" (unless it
    failed already): the examples it would have tried were never judged."""
    if hypothesis_error:
        out.verdict = "fail" if out.verdict == "fail" else "error"
        out.message = (out.message + f"; generation failed: {hypothesis_error.splitlines()[0]}").strip("; ")
    return out


def _axis_field(axis: object) -> object:
    """An axis for a JSON record: an int, a list of ints (a tuple of axes) or None (every axis)."""
    return list(axis) if isinstance(axis, tuple) else axis


def worst_case(
    case: Case, where: str, x: np.ndarray, output: np.ndarray | None, expected: np.ndarray | None, **extra
) -> dict:
    """The ``worst_case`` field of a record: the input, what came back and the oracle's answer."""
    return {
        "case": case.name,
        "description": case.description,
        "where": where,
        "input": listing(x),
        "output": None if output is None else listing(np.asarray(output)),
        "expected": None if expected is None else listing(np.asarray(expected)),
        "length": int(np.asarray(x).size),
        **extra,
    }
