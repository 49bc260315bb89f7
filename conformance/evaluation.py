"""Evaluating one cell: call the implementation on every input once, judge many times.

A *cell* is (implementation, device, dtype). ``CellEvaluation`` calls the
implementation on the corpus (row cases of equal length stacked into one call),
on Hypothesis-generated batches (``hypothesis.target`` steers towards the
largest ULP error) and on exactly shifted copies for shift invariance; it keeps
every output with its oracle result, and ``outcome(property)`` aggregates one
property over all of them. Nothing is judged inside the adapters and nothing is
called inside the properties.
"""

from __future__ import annotations

import time
import traceback
import zlib
from dataclasses import dataclass, field

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings, target

from conformance.adapters.base import Implementation, decline_reason
from conformance.cases import Case
from conformance.cases.corpus import LONG_LENGTH, corpus_cases
from conformance.cases.strategies import batches
from conformance.gradients import GradientEvaluation, gradient_seed
from conformance.outcome import (
    PropertyOutcome,
    failure_message,
    listing,
    short_error,
    summarize,
)
from conformance.profiles import Profile
from conformance.properties import (
    OracleResult,
    SliceResults,
    _slices,
    check_shape_dtype,
    classify_semantics,
    oracle_for,
)
from conformance.property_registry import (
    DEVICE_PROPERTIES,
    GRADIENT_PROPERTIES,
    PROPERTIES,
    SHAPE_DTYPE,
    cell_properties,
)
from conformance.repro import device_repro, repro_snippet
from reference.dtypes import dtype_from_name, dtype_info, output_dtype_for


@dataclass(frozen=True)
class Cell:
    impl: Implementation
    device: str
    dtype: str

    @property
    def id(self) -> str:
        return f"{self.impl.id}-{self.device}-{self.dtype}"


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

    def judged_against(self) -> OracleResult:
        return self.reference if self.reference is not None else self.oracle


# The paired calls (``CellEvaluation._paired_calls``), as a message names them.
PAIRED_CALL_NAMES = {"repeat": "repeated", "cpu": "CPU", "eager": "eager"}

# Row counts that stacked row batches are padded up to (see ``CellEvaluation._call_rows``).
# Every generated row batch (at most 16 rows) and most corpus groups fit the first bucket.
ROW_BUCKETS = (64, 512, 4096, 32768)
LONG_ROW_BUCKETS = (8, 64, 512)  # rows longer than 1,024 elements

# The one fixed, positive vector every cell is also called on, for the report's pictures
# (sum-normalization against softmax; sorted input against sorted output).
SAMPLE_VECTOR = (1.0, 2.0, 4.0, 5.0, 6.0, 0.5, 3.0, 2.5, 7.5, 1.5, 0.25, 4.5, 3.5, 6.5, 5.5, 8.0)


def _probe_input(dtype: str) -> np.ndarray:
    return np.array([[0.0, 1.0, 2.0]], dtype=np.float64).astype(dtype_from_name(dtype))


@dataclass
class CellEvaluation:
    cell: Cell
    profile: Profile
    seed: int
    unsupported: str | None = None  # the framework declined (``decline_reason``)
    probe_error: str | None = None  # the probe input raised something that is not a decline
    observations: list[Observation] = field(default_factory=list)
    call_seconds: float = 0.0
    calls: int = 0
    hypothesis_error: str | None = None
    # A cell on a non-CPU device repeats every observed call and makes it on the CPU too, a
    # compiled mode makes it in eager mode too (``DEVICE_PROPERTIES``); ``_pair`` holds the
    # (repeat, cpu, eager) outputs of the last such call.
    paired: bool = False
    _pair: tuple[np.ndarray | None, ...] = (None, None, None)
    # Paired calls that raised or gave no array of the input's shape, per "repeat" | "cpu" |
    # "eager": (count, first message). The property comparing with them is then an error.
    pair_errors: dict[str, tuple[int, str]] = field(default_factory=dict)
    _last_exception: BaseException | None = None
    # CPU cells: the corpus' stacked calls are made twice (repeatability), nothing else.
    _repeat_on_cpu: bool = False
    # Compiled modes: the first call per (shape, dtype, axis) is made twice; compile time is
    # the first call's time less the second's (``timing``).
    compile_seconds: float = 0.0
    compiles: int = 0
    _compiled_keys: set = field(default_factory=set)
    gradients: GradientEvaluation | None = None

    # ---- calling -----------------------------------------------------------------------------

    def _call(self, x: np.ndarray, axis: int, pair: bool = False) -> tuple[np.ndarray | None, str | None]:
        y, error = self._timed_call(x, axis)
        if pair:  # after the timed call, which must be the first of a compiled shape
            # A call that raised has nothing to compare (its error is reported as such).
            called = error is None and isinstance(y, np.ndarray)
            self._pair = self._paired_calls(x, axis) if called else (None, None, None)
        return y, error

    def _timed_call(self, x: np.ndarray, axis: int) -> tuple[np.ndarray | None, str | None]:
        key = (x.shape, str(x.dtype), axis)
        first = self.cell.impl.mode != "eager" and key not in self._compiled_keys
        start = time.perf_counter()
        self.calls += 1
        try:
            with np.errstate(all="ignore"):
                y = self.cell.impl.call(x, axis, self.cell.device)
                if first:
                    self._compiled_keys.add(key)
                    first_seconds = time.perf_counter() - start
                    again = time.perf_counter()
                    self.cell.impl.call(x, axis, self.cell.device)
                    self.compile_seconds += max(first_seconds - (time.perf_counter() - again), 0.0)
                    self.compiles += 1
                    start += time.perf_counter() - again  # the second call is not run time
        except Exception as exc:
            self._last_exception = exc
            return None, short_error(exc)
        finally:
            self.call_seconds += time.perf_counter() - start
        return y, None

    def timing(self) -> dict:
        """Seconds spent in the implementation: forward run time, compile time (compiled modes), backward."""
        return {
            "calls": self.calls,
            "run_seconds": round(max(self.call_seconds - self.compile_seconds, 0.0), 4),
            "compile_seconds": round(self.compile_seconds, 4),
            "compiles": self.compiles,
            "backward_seconds": round(self.gradients.call_seconds, 4) if self.gradients else None,
        }

    def _call_rows(self, x: np.ndarray, pair: bool = False) -> tuple[np.ndarray | None, str | None]:
        """Call on a C-contiguous 2-D ``x`` along its last axis, padded with filler rows to a bucket.

        Compiled modes compile once per input shape; padding the row count up to a
        bucket (rows of ones, never judged) lets batches of one length share a
        compiled shape. Slices are independent, so the filler cannot change a row's
        result in a correct implementation. A wrong-shaped output comes back as is.
        """
        rows = x.shape[0]
        buckets = ROW_BUCKETS if x.shape[1] <= 1024 else LONG_ROW_BUCKETS
        bucket = next((b for b in buckets if b >= rows), rows)
        if bucket == rows:
            return self._call(x, -1, pair)
        padded = np.concatenate([x, np.ones((bucket - rows, x.shape[1]), dtype=x.dtype)])
        y, error = self._call(padded, -1, pair)
        if error is None and isinstance(y, np.ndarray) and y.shape == padded.shape:
            y = y[:rows]
            self._pair = _rows_of(self._pair, 0, rows, padded.shape)
        return y, error

    def _paired_calls(self, x: np.ndarray, axis: int) -> tuple[np.ndarray | None, ...]:
        """The same call again on the device, on the CPU, and in eager mode (None where not made or raising).

        Repeated: on a non-CPU device always, on the CPU for the corpus' stacked calls.
        On the CPU: non-CPU cells. In eager mode: compiled modes (``eager_call``).
        """
        impl = self.cell.impl
        calls = (
            ("repeat", impl.call, self.cell.device) if self.paired or self._repeat_on_cpu else None,
            ("cpu", impl.call, "cpu") if self.paired else None,
            ("eager", impl.eager_call, self.cell.device) if impl.eager_call is not None else None,
        )
        outputs: list[np.ndarray | None] = []
        for spec in calls:
            y, problem = None, None
            if spec is not None:
                kind, call, device = spec
                try:
                    with np.errstate(all="ignore"):
                        y = call(x, axis, device)
                except Exception as exc:
                    y, problem = None, short_error(exc)
                if problem is None and not isinstance(y, np.ndarray):
                    problem = f"returned a {type(y).__name__}, not an array"
                elif problem is None and y.shape != x.shape:
                    problem = f"returned shape {y.shape} for input shape {x.shape}"
                if problem is not None:
                    count, first = self.pair_errors.get(kind, (0, problem))
                    self.pair_errors[kind] = (count + 1, first)
                    y = None
            outputs.append(y)
        return tuple(outputs)

    def observe(
        self,
        case: Case,
        role: str,
        y=None,
        error=None,
        called: bool = False,
        oracle: OracleResult | None = None,
        reference: OracleResult | None = None,
        pair: tuple[np.ndarray | None, ...] = (None, None, None),
    ) -> Observation:
        """Call (unless ``called``) and wrap the result with its oracle (computed unless given).

        ``pair``: the (repeat, cpu) outputs of a call made by the caller (non-CPU cells).
        """
        if not called:
            if self.profile.compact_shapes and self._stackable(case):
                y, error = self._call_rows(case.x, pair=True)
            else:
                y, error = self._call(case.x, case.axis, pair=True)
            pair = self._pair
        expected = output_dtype_for(case.x.dtype) if case.x.dtype.kind in "iub" else case.x.dtype
        if oracle is None:
            oracle = oracle_for(self.cell.impl.op, case.x, case.axis, expected)
        shape_error = None if error else check_shape_dtype(case.x, y, expected)
        if y is not None and not isinstance(y, np.ndarray):
            y = None
            error = shape_error
        obs = Observation(case, y, error, oracle, shape_error, role, reference, *pair)
        self.observations.append(obs)
        return obs

    # ---- the three sources of inputs -----------------------------------------------------------

    def run(self) -> CellEvaluation:
        self.paired = self.cell.device != "cpu"
        probe = _probe_input(self.cell.dtype)
        self._last_exception = None
        _, error = self._call_rows(probe) if self.profile.compact_shapes else self._call(probe, -1)
        if error is not None:
            exc = self._last_exception
            reason = decline_reason(exc, self.cell.dtype) if exc is not None else None
            if reason is not None:
                self.unsupported = reason
            else:
                self.probe_error = f"the probe input [[0, 1, 2]] raised {error}"
            return self
        self._run_corpus()
        self._run_hypothesis()
        if self.cell.impl.vjp is not None:
            impl, dtype = self.cell.impl, self.cell.dtype
            seed = gradient_seed(impl.op, dtype)
            lengths = self.profile.gradient_lengths
            self.gradients = GradientEvaluation(impl, self.cell.device, dtype, lengths, seed).run()
        return self

    def _stackable(self, case: Case) -> bool:
        """Row cases in the cell's dtype, C-contiguous (stacking would hide a strided view).

        Special rows are stacked only with compact shapes; otherwise each is called
        at its own shape.
        """
        return (
            case.is_row_case
            and case.x.dtype == self._dtype
            and case.x.flags.c_contiguous
            and (self.profile.compact_shapes or not case.special)
        )

    def _run_corpus(self) -> None:
        """The corpus: one call per row length, other cases one call each; shifted copies.

        With compact shapes the shifted copies join their length's call (padded to a
        row bucket); otherwise each original case's shifted copies get a call of their own.
        """
        cases = [
            c
            for c in corpus_cases(self.cell.dtype, self.cell.impl.op)
            if c.name not in self.profile.corpus_exclude
            and (self.profile.long_axis or c.length != LONG_LENGTH)
        ]
        by_length: dict[int, list[tuple[Case, str, OracleResult, OracleResult | None]]] = {}
        separate: list[tuple[Case, str, OracleResult, OracleResult | None]] = []
        for case in cases:
            if not self._stackable(case):
                self.observe(case, "corpus")
                continue
            oracle = oracle_for(self.cell.impl.op, case.x, -1, self._dtype)
            group = by_length.setdefault(case.x.shape[1], [])
            group.append((case, "corpus", oracle, None))
            if not case.special:
                copies = self._shifted_copies(case, oracle)
                if self.profile.compact_shapes:
                    group += copies
                else:
                    separate += copies
        self._repeat_on_cpu = self.cell.device == "cpu"
        for group in by_length.values():
            stacked = np.concatenate([c.x for c, *_ in group])
            if self.profile.compact_shapes:
                y, error = self._call_rows(stacked, pair=True)
            else:
                y, error = self._call(stacked, -1, pair=True)
            pair = self._pair
            if error is not None or not isinstance(y, np.ndarray) or y.shape != stacked.shape:
                for case, role, oracle, reference in group:  # one bad case then costs only itself
                    self.observe(case, role, oracle=oracle, reference=reference)
                continue
            start = 0
            for case, role, oracle, reference in group:
                rows = case.x.shape[0]
                part = y[start : start + rows]
                part_pair = _rows_of(pair, start, start + rows, stacked.shape)
                self.observe(
                    case, role, y=part, called=True, oracle=oracle, reference=reference, pair=part_pair
                )
                start += rows
        self._repeat_on_cpu = False
        for case, role, oracle, reference in separate:
            self.observe(case, role, oracle=oracle, reference=reference)

    def _shift_constant(self) -> float:
        thr = dtype_info(self._dtype).exp_overflow
        return float(2.0 ** np.ceil(np.log2(thr * 1.05)))

    def _shifted_copies(
        self, case: Case, oracle: OracleResult
    ) -> list[tuple[Case, str, OracleResult, OracleResult | None]]:
        """Rows of ``case`` shifted by +-c (c a power of two beyond the exp overflow threshold).

        Only regular rows whose shift is exact are kept, so that the exact softmax of
        the shifted row equals that of the original; they are judged against the
        original's oracle (shift invariance).
        """
        if "shift_invariance" not in self.applicable_properties():
            return []
        c = self._shift_constant()
        x = case.x
        x64 = x.astype(np.float64)
        regular = np.asarray(oracle.kinds == "regular")
        copies = []
        for sign in (1.0, -1.0):
            shifted = (x64 + sign * c).astype(self._dtype)
            exact_rows = np.all(shifted.astype(np.float64) - sign * c == x64, axis=1)
            keep = exact_rows & regular & np.all(np.abs(x64) < c, axis=1)
            if not np.any(keep):
                continue
            name = f"{case.name}{'+' if sign > 0 else '-'}{c:g}"
            shifted_case = Case(name, np.ascontiguousarray(shifted[keep]), -1, f"shifted by {sign * c:+g}")
            shifted_oracle = oracle_for(self.cell.impl.op, shifted_case.x, -1, self._dtype)
            reference = oracle_for(self.cell.impl.op, np.ascontiguousarray(x[keep]), -1, self._dtype)
            copies.append((shifted_case, "shifted", shifted_oracle, reference))
        return copies

    def _run_hypothesis(self) -> None:
        if self.profile.hypothesis_examples <= 0:
            return
        op = self.cell.impl.op

        @seed(self.seed)
        @settings(
            max_examples=self.profile.hypothesis_examples,
            database=None,
            deadline=None,
            derandomize=False,
            phases=[Phase.generate, Phase.target],
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
        )
        @given(batches(self.cell.dtype, op, layouts=self.profile.hypothesis_layouts))
        def explore(case: Case) -> None:
            obs = self.observe(case, "hypothesis")
            if obs.y is not None and obs.shape_error is None:
                result = PROPERTIES["precision"].judge(case.x, obs.y, obs.oracle, op, self._dtype, case.axis)
                ratio = result.metric[result.applicable] / np.maximum(result.bound[result.applicable], 1e-300)
                score = float(np.max(ratio)) if ratio.size else 0.0
                target(score if np.isfinite(score) else 1e6, label="ulp error / tolerance")

        try:
            explore()
        except Exception as exc:
            self.hypothesis_error = short_error(exc) + "\n" + traceback.format_exc(limit=3)

    @property
    def _dtype(self) -> np.dtype:
        return dtype_from_name(self.cell.dtype)

    # ---- judging -------------------------------------------------------------------------------

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
            return _with_generation_error(self._shape_dtype_outcome(), self.hypothesis_error)
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
        out, failures = summarize(name, ((obs, res) for obs, res in judged if res is not None))
        if failures:
            self._describe_failure(name, out, failures)
        if errors:
            problem = errors[0].error or errors[0].shape_error
            out.verdict = "fail" if out.verdict == "fail" else "error"
            out.message = (out.message + f"; {len(errors)} call(s) failed: {problem}").strip("; ")
        if name in DEVICE_PROPERTIES and DEVICE_PROPERTIES[name].compare_with in self.pair_errors:
            count, problem = self.pair_errors[DEVICE_PROPERTIES[name].compare_with]
            what = PAIRED_CALL_NAMES[DEVICE_PROPERTIES[name].compare_with]
            out.verdict = "fail" if out.verdict == "fail" else "error"
            out.message = (out.message + f"; {count} {what} comparison call(s) failed: {problem}").strip("; ")
        return _with_generation_error(out, self.hypothesis_error)

    def _shape_dtype_outcome(self) -> PropertyOutcome:
        """Shape and dtype preserved, and no exception, on every regular float input."""
        judged = [o for o in self.observations if o.case.x.dtype.kind not in "iub" and not o.case.special]
        bad = [o for o in judged if o.error or o.shape_error]
        out = PropertyOutcome("shape_dtype", "pass" if judged else "skipped", n_cases=len(judged))
        out.n_failed, out.metric, out.bound = len(bad), float(len(bad)), 0.0
        if bad:
            o = min(bad, key=lambda o: o.case.x.size)
            out.verdict = "fail"
            out.message = f"{len(bad)} input(s) wrong; e.g. {o.case.name}: {o.error or o.shape_error}"
            out.worst = _worst_case(
                o.case,
                "whole input",
                o.case.x,
                o.y,
                None,
                axis=o.case.axis,
                problem=o.error or o.shape_error,
            )
            out.repro = repro_snippet(
                self.cell.impl, o.case.x, o.case.axis, self.cell.device, o.oracle.rounded
            )
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
            axis, repro_x = obs.case.axis, obs.case.x
            if name == "shift_invariance" or repro_x.size > 4096:
                repro_x, axis = x1, -1
        out.message = failure_message(len(failures), PROPERTIES[name].unit, out, obs.case.name, metric, bound)
        out.worst = _worst_case(
            obs.case, where, x1, got, expected, metric=metric, bound=bound, dtype=self.cell.dtype
        )
        full_expected = oracle_for(self.cell.impl.op, repro_x, axis, self._dtype).rounded
        out.repro = repro_snippet(self.cell.impl, repro_x, axis, self.cell.device, full_expected)

    # ---- GPU cells: the same call again, and on the CPU (DEVICE_PROPERTIES) --------------------

    def _judge_device(self, name: str, obs: Observation) -> SliceResults | None:
        prop = DEVICE_PROPERTIES[name]
        other = _other_output(obs, prop.compare_with)
        if other is None or other.shape != obs.y.shape:
            return None
        return prop.judge(obs.case.x, obs.y, other, obs.oracle, self.cell.impl.op, self._dtype, obs.case.axis)

    def _describe_device_failure(self, name: str, out: PropertyOutcome, failures: list) -> None:
        """The smallest differing slice, the device's output beside the CPU's (or the first call's)."""
        prop = DEVICE_PROPERTIES[name]
        obs, i, metric, bound = min(failures, key=lambda f: (f[0].case.x.size, -f[2]))
        other = _other_output(obs, prop.compare_with)
        x1 = np.ascontiguousarray(self._slice(obs.case.x, obs.case.axis, i))
        against = {
            "cpu": "the CPU's output",
            "repeat": "a second, identical call's output",
            "eager": "the eager mode's output",
        }[prop.compare_with]
        out.message = failure_message(
            len(failures), prop.unit, out, obs.case.name, metric, bound, f"differ from {against}"
        )
        out.worst = _worst_case(
            obs.case,
            f"slice {i} of {obs.case.name}; 'expected' is {against}",
            x1,
            self._slice(obs.y, obs.case.axis, i),
            self._slice(other, obs.case.axis, i),
            metric=metric,
            bound=bound,
            dtype=self.cell.dtype,
        )
        out.repro = device_repro(self.cell.impl, x1, -1, self.cell.device, prop.compare_with)

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
            kinds = set(np.asarray(obs.oracle.kinds).reshape(-1).tolist())
            undefined = bool(kinds & {"all_neginf", "zero_sum"})
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


def _with_generation_error(out: PropertyOutcome, hypothesis_error: str | None) -> PropertyOutcome:
    """An exception that escaped the Hypothesis search makes the verdict "error" (unless it
    failed already): the examples it would have tried were never judged."""
    if hypothesis_error:
        out.verdict = "fail" if out.verdict == "fail" else "error"
        out.message = (out.message + f"; generation failed: {hypothesis_error.splitlines()[0]}").strip("; ")
    return out


def applicable_properties(cell: Cell) -> list[str]:
    """The properties judged for ``cell`` besides ``shape_dtype`` (judged for every cell), in display
    order: as ``conformance.property_registry.cell_properties`` decides from the op, the device,
    whether the mode is compiled (an eager counterpart) and whether there is a backward pass."""
    return [name for name in cell_properties(cell.impl, cell.device) if name != SHAPE_DTYPE]


def _other_output(obs: Observation, compare_with: str) -> np.ndarray | None:
    return {"cpu": obs.y_cpu, "repeat": obs.y_repeat, "eager": obs.y_eager}[compare_with]


def _rows_of(
    pair: tuple[np.ndarray | None, ...], start: int, stop: int, shape: tuple[int, ...]
) -> tuple[np.ndarray | None, ...]:
    """Rows ``start:stop`` of each output of ``pair`` that has the called input's ``shape`` (else None)."""
    return tuple(  # type: ignore[return-value]
        y[start:stop] if isinstance(y, np.ndarray) and y.shape == tuple(shape) else None for y in pair
    )


def _worst_case(
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


def cell_seed(session_seed: int, cell: Cell) -> int:
    """A per-cell seed derived from the session seed, stable when other cells are added or removed."""
    return zlib.crc32(f"{session_seed}/{cell.id}".encode())
