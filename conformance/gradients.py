"""Evaluating a cell's backward pass: gradient inputs, VJP calls, and their judgement.

``gradient_cases`` builds the inputs: per row length one batch of rows of several
kinds (moderate, wide, large logits, a huge entry, peaked, masked with -inf,
constant; positive, wide, tiny, huge and mixed-sign rows for sum-normalization)
and a 3-D block judged along its middle axis, each with three cotangents: a
random one, the one-hot cotangent of a cross-entropy loss, and all ones (the
gradient of ``sum(f(x))``, which is constant: the exact VJP is 0). Shapes are fixed per
profile, so a compiled mode compiles its backward pass once per length. A last block is judged
over axes ``JOINT_BLOCK_AXES`` jointly, for implementations that accept a tuple of axes
(``Implementation.axes``): like the forward pass, it is judged on its joint view (the joint axes
moved last and flattened, ``reference.axes.joint_last``), and its repro calls the tuple.

``GradientEvaluation`` calls the implementation's ``vjp`` on each (input,
cotangent) once and ``outcome(property)`` aggregates one gradient property over
all of them, like ``conformance.evaluation.CellEvaluation`` does for the forward pass.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field

import numpy as np

from conformance.adapters.base import RENORMALIZED_API, Implementation, decline_reason
from conformance.call_log import LoggedCall
from conformance.cases import axis_form
from conformance.cases.corpus import LONG_NON_LAST_LENGTH, repeated_term_row
from conformance.computed_in_float32 import gradient_computed_in_float32
from conformance.emulations import float32_norm_backward, matches_xla_temperature_rewrite_backward
from conformance.gradient_properties import GradientOracle, gradient_oracle
from conformance.outcome import PropertyOutcome, failure_message, listing, short_error, summarize
from conformance.properties import _slices
from conformance.property_registry import GRADIENT_PROPERTIES
from conformance.repro import gradient_repro
from conformance.slice_conditions import divisor_form, gradient_conditions, with_condition
from reference import dtype_from_name, dtype_info, round_to_dtype
from reference.axes import Axis, is_single_axis, joint_last, restore
from reference.contracts import contract_of

ROWS_PER_BATCH = 16
LONG_ROWS = 4  # rows per batch beyond 1,024 elements (5 beyond FLOAT16_MAX: a constant row is added)
FLOAT16_MAX = 65_504.0
BLOCK_SHAPE = (4, 6, 5)  # judged along axis 1
JOINT_BLOCK_AXES = (0, 2)  # a block of BLOCK_SHAPE judged over axes 0 and 2 jointly (30 entries)
# Judged along axis 0: a strided backward reduction that adds one term at a time to a running sum
# per column (as the forward corpus case long_non_last_axis probes) is hundreds of ULP off there.
LONG_NON_LAST_SHAPE = (LONG_NON_LAST_LENGTH, 3)
REPEATED_TERM_MIN_LENGTH = 2048  # the repeated-term row is added where a gradient length exceeds this


@dataclass(frozen=True)
class GradientCase:
    """An input and a cotangent of the same shape and dtype, judged along ``axis``."""

    name: str
    x: np.ndarray
    g: np.ndarray
    axis: Axis  # an int, or a tuple of axes (the joint block)
    description: str

    def joint(self) -> GradientCase:
        """This case with its joint axes moved last and flattened (``axis=-1``); itself for one axis."""
        if is_single_axis(self.axis):
            return self
        x, g = (np.ascontiguousarray(joint_last(a, self.axis)) for a in (self.x, self.g))
        return GradientCase(self.name, x, g, -1, self.description)


def _softmax_rows(n: int, rows: int, dtype: np.dtype, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    info = dtype_info(dtype)
    large = 4 * info.exp_overflow
    kinds = ["normal", "wide", "large logits", "huge entry", "peaked", "masked", "constant"]
    if rows < len(kinds):
        kinds = ["normal", "large logits", "masked", "peaked", "constant"][:rows]
    else:
        kinds = kinds + ["normal", "masked", "large logits"] * rows
    x = np.empty((rows, n))
    labels = []
    for r, kind in enumerate(kinds[:rows]):
        row = rng.normal(size=n)
        if kind == "wide":
            row *= 8
        elif kind == "large logits":
            row = rng.uniform(-large, large, size=n)
        elif kind == "huge entry":
            row[rng.integers(n)] = rng.choice([-1.0, 1.0]) * info.max / 8
        elif kind == "peaked":
            row[rng.integers(n)] += 30.0
        elif kind == "masked":
            row *= 2
            if n > 1:
                count = max(1, n // 4)
                row[rng.choice(n, size=count, replace=False)] = -np.inf
        elif kind == "constant":
            row[:] = row[0]
        x[r] = row
        labels.append(kind)
    return round_to_dtype(x, dtype).astype(dtype), labels


def _sum_normalize_rows(
    n: int, rows: int, dtype: np.dtype, rng: np.random.Generator
) -> tuple[np.ndarray, list]:
    info = dtype_info(dtype)
    kinds = ["positive", "wide", "huge", "tiny", "mixed sign"]
    kinds = (kinds * rows)[:rows] if rows >= len(kinds) else ["positive", "wide", "mixed sign", "huge"][:rows]
    x = np.empty((rows, n))
    for r, kind in enumerate(kinds):
        row = rng.uniform(0.5, 10.0, size=n)
        if kind == "wide":
            row = rng.lognormal(0.0, 3.0, size=n)
        elif kind == "huge":
            row = info.max / (4 * n) * rng.uniform(1.0, 2.0, size=n)
        elif kind == "tiny":
            row = rng.uniform(1.0, 2.0, size=n) * info.tiny * 16
        elif kind == "mixed sign":
            flip = rng.random(n) < 0.25
            row = np.where(flip, -0.3 * row, row)
        x[r] = row
    return round_to_dtype(x, dtype).astype(dtype), kinds


def _cotangents(x: np.ndarray, axis: int, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """Cotangents, 0 where x is -inf: random normal; one-hot at an unmasked position (a
    cross-entropy loss); all ones (the gradient of sum(f(x)), a constant: exactly 0 for all three ops)."""
    dtype = x.dtype
    masked = x.astype(np.float64) == -np.inf
    random = np.where(masked, 0.0, rng.normal(size=x.shape))
    moved = np.moveaxis(np.where(masked, -np.inf, rng.random(x.shape)), axis, -1)
    hot = np.moveaxis(moved == np.max(moved, axis=-1, keepdims=True), -1, axis)
    one_hot = np.where(hot & ~masked, 1.0, 0.0)
    return [
        ("random", round_to_dtype(random, dtype).astype(dtype)),
        ("one-hot", one_hot.astype(dtype)),
        ("ones", np.where(masked, 0.0, 1.0).astype(dtype)),
    ]


def gradient_seed(op: str, dtype_name: str) -> int:
    """The seed of a cell's gradient inputs. Like the forward corpus, they depend on the op and the
    dtype only, not on the implementation or the session seed: every implementation of an op in a
    dtype is judged on the same inputs (in every run), and the oracle's answers are computed once."""
    return zlib.crc32(f"gradients/{op}/{dtype_name}".encode())


def gradient_cases(
    op: str, dtype_name: str, lengths: tuple[int, ...], seed: int, long_non_last: bool = False
) -> list[GradientCase]:
    """The gradient inputs of a cell: one row batch per length, a 3-D block, a joint-axes block, a
    row of one repeated term as long as the longest length beyond 2,048 (``repeated_term_row``:
    where a backward pass's sums add one term at a time per vector lane, their error grows with the
    length) and, with ``long_non_last``, a (65,537, 3) array judged along axis 0; three cotangents
    each. The repeated-term row's cotangents and the long array are drawn from generators of their
    own, so the other inputs are the same with or without them (for sum-normalization the long
    array's entries are in [0, 1): a column sums to about 32,768, below float16's max)."""
    dtype = dtype_from_name(dtype_name)
    rng = np.random.default_rng(seed)
    make_rows = _sum_normalize_rows if op == "sum_normalize" else _softmax_rows
    inputs: list[tuple[str, np.ndarray, int, str]] = []
    for n in lengths:
        rows = ROWS_PER_BATCH if n <= 1024 else LONG_ROWS
        if n > FLOAT16_MAX:  # a constant row: its float16 sum of exp(0) = 1 overflows
            rows += 1
        x, kinds = make_rows(n, rows, dtype, rng)
        inputs.append((f"grad_rows[{n}]", x, -1, f"{rows} rows of length {n}: {', '.join(kinds)}"))
    block = rng.normal(size=BLOCK_SHAPE) * 2
    if op == "sum_normalize":
        block = rng.uniform(0.5, 10.0, size=BLOCK_SHAPE)
    x3 = round_to_dtype(block, dtype).astype(dtype)
    inputs.append(("grad_block3d", x3, 1, f"a {BLOCK_SHAPE} block along axis 1"))
    cases = []
    for name, x, axis, description in inputs:
        for label, g in _cotangents(x, axis, rng):
            cases.append(GradientCase(f"{name}/{label}", x, g, axis, f"{description}; {label} cotangent"))
    # The joint block last, so that the other cases' random draws do not depend on it.
    joint = (
        rng.uniform(0.5, 10.0, size=BLOCK_SHAPE)
        if op == "sum_normalize"
        else rng.normal(size=BLOCK_SHAPE) * 2
    )
    xj = round_to_dtype(joint, dtype).astype(dtype)
    for label, g in _cotangents(joint_last(xj, JOINT_BLOCK_AXES), -1, rng):
        description = f"a {BLOCK_SHAPE} block over axes {JOINT_BLOCK_AXES} jointly; {label} cotangent"
        g_block = restore(g, xj.shape, JOINT_BLOCK_AXES)
        cases.append(GradientCase(f"grad_block3d_joint/{label}", xj, g_block, JOINT_BLOCK_AXES, description))
    longest = max((n for n in lengths if n > REPEATED_TERM_MIN_LENGTH), default=None)
    if longest is not None:
        term_rng = np.random.default_rng([seed, 2])
        xr = round_to_dtype(repeated_term_row(longest)[None], dtype).astype(dtype)
        for label, g in _cotangents(xr, -1, term_rng):
            description = f"{longest} entries of 0.9 but one 1.0 (one repeated term); {label} cotangent"
            cases.append(GradientCase(f"grad_repeated_term[{longest}]/{label}", xr, g, -1, description))
    if long_non_last:
        long_rng = np.random.default_rng([seed, 1])
        values = (
            long_rng.random(LONG_NON_LAST_SHAPE)
            if op == "sum_normalize"
            else long_rng.standard_normal(LONG_NON_LAST_SHAPE) * 3
        )
        xl = round_to_dtype(values, dtype).astype(dtype)
        for label, g in _cotangents(xl, 0, long_rng):
            description = f"a {LONG_NON_LAST_SHAPE} array along axis 0; {label} cotangent"
            cases.append(GradientCase(f"grad_long_non_last_axis/{label}", xl, g, 0, description))
    return cases


@dataclass
class GradientObservation:
    case: GradientCase  # a joint-axes case: its joint view (``called``: as called)
    gx: np.ndarray | None
    error: str | None
    oracle: GradientOracle
    called: GradientCase | None = None


@dataclass
class GradientEvaluation:
    """The backward pass of one cell: every gradient case called once, judged per property."""

    impl: Implementation
    device: str
    dtype: str
    lengths: tuple[int, ...]
    seed: int
    unsupported: str | None = None  # the framework declined the backward pass (``decline_reason``)
    long_non_last: bool = False  # also the (65,537, 3) array along axis 0 (``gradient_cases``)
    probe_error: str | None = None  # the backward probe raised something that is not a decline
    observations: list[GradientObservation] = field(default_factory=list)
    call_seconds: float = 0.0
    _last_exception: BaseException | None = field(default=None, repr=False)
    # Every VJP call, in order, for the cell's aliases (``conformance.call_log``), or None.
    call_log: list | None = field(default=None, repr=False)

    def _vjp(self, x: np.ndarray, g: np.ndarray, axis: int) -> tuple[np.ndarray | None, str | None]:
        assert self.impl.vjp is not None
        start = time.perf_counter()
        try:
            with np.errstate(all="ignore"):
                gx = self.impl.vjp(x, g, axis, self.device)
        except Exception as exc:
            self._last_exception = exc
            self._log(x, g, axis, None, short_error(exc))
            return None, short_error(exc)
        finally:
            self.call_seconds += time.perf_counter() - start
        self._log(x, g, axis, gx, None)
        if not isinstance(gx, np.ndarray):
            return None, f"the gradient is a {type(gx).__name__}, not an array"
        if gx.shape != x.shape:
            return None, f"the gradient has shape {gx.shape}, the input {x.shape}"
        return gx, None  # another dtype is judged by its values; ``outcome`` notes it

    def _log(self, x: np.ndarray, g: np.ndarray, axis: Axis, gx, error: str | None) -> None:
        if self.call_log is not None:
            self.call_log.append(LoggedCall("vjp", x, axis, self.device, g, gx, error))

    def run(self) -> GradientEvaluation:
        dtype = dtype_from_name(self.dtype)
        probe = np.array([[0.0, 1.0, 2.0]]).astype(dtype)
        self._last_exception = None
        _, error = self._vjp(probe, np.array([[1.0, 0.0, 0.0]]).astype(dtype), -1)
        if error is not None:
            exc = self._last_exception
            reason = decline_reason(exc, self.dtype) if exc is not None else None
            if reason is not None:
                self.unsupported = reason
            else:
                self.probe_error = f"the backward pass on the probe input [[0, 1, 2]] failed: {error}"
            return self
        renormalized = self.impl.op == "softmax" and self.impl.api == RENORMALIZED_API
        for case in gradient_cases(self.impl.op, self.dtype, self.lengths, self.seed, self.long_non_last):
            if axis_form(case.axis) not in self.impl.axes:
                continue  # a joint-axes case for an API with one int axis
            gx, error = self._vjp(case.x, case.g, case.axis)
            called = None if is_single_axis(case.axis) else case
            if called is not None:  # judged on the joint view, like the forward pass
                case = called.joint()
                gx = None if gx is None else np.ascontiguousarray(joint_last(gx, called.axis))
            oracle = gradient_oracle(
                self.impl.op, case.x, case.g, case.axis, dtype, renormalized=renormalized
            )
            self.observations.append(GradientObservation(case, gx, error, oracle, called))
        return self

    def outcome(self, name: str):
        if self.unsupported is not None:
            return PropertyOutcome(name, "unsupported", message=f"backward pass: {self.unsupported}")
        if self.probe_error is not None:
            return PropertyOutcome(name, "error", message=self.probe_error)
        prop = GRADIENT_PROPERTIES[name]
        dtype = dtype_from_name(self.dtype)
        errors = [o for o in self.observations if o.error]
        judged = (
            (obs, prop.judge(obs.case.x, obs.case.g, obs.gx, obs.oracle, self.impl.op, dtype, obs.case.axis))
            for obs in self.observations
            if obs.gx is not None
        )
        out, failures = summarize(name, judged, self._conditions)
        if failures:
            self._describe(prop.unit, out, failures)
        # the gradient inputs holding a failing slice or a failed call (registry ``case`` filters)
        out.failing_cases = tuple(sorted({*out.failing_cases, *(o.case.name for o in errors)}))
        if errors:
            out.verdict = "fail" if out.verdict == "fail" else "error"
            out.message = (out.message + f"; {len(errors)} backward call(s) failed: {errors[0].error}").strip(
                "; "
            )
        mismatched = [o for o in self.observations if o.gx is not None and o.gx.dtype != o.case.x.dtype]
        if mismatched:
            first = mismatched[0]
            note = f"the gradient comes back as {first.gx.dtype}, the input is {first.case.x.dtype}"
            out.message = (out.message + "; " + note).strip("; ")
        return out

    def _conditions(self, obs: GradientObservation, indices: list[int]) -> list[tuple[str, ...]]:
        """The conditions of the failing slices ``indices`` of ``obs``: for a sum normalization the
        quotient rule's (``conformance.slice_conditions.gradient_conditions``) and, a float64 L1
        normalization, ``float32-norm-denominator``; in a float64 cell ``computed-in-float32``
        (``conformance.computed_in_float32``); for a temperature composite ``xla-temperature-rewrite``
        (``conformance.emulations``)."""
        op, dtype = self.impl.op, dtype_from_name(self.dtype)
        index = np.asarray(indices)
        x, g = (_slices(a, obs.case.axis)[index] for a in (obs.case.x, obs.case.g))
        found: list[tuple[str, ...]] = [() for _ in indices]
        if op == "sum_normalize":
            found = gradient_conditions(x, g, *divisor_form(op, dtype))
        if obs.gx is None:
            return found
        gx = _slices(obs.gx, obs.case.axis)[index]
        l1, eps32 = divisor_form(op, np.float32)
        if op == "sum_normalize" and l1 and dtype == np.float64:
            found = with_condition(found, "float32-norm-denominator", float32_norm_backward(x, g, gx, eps32))
        if dtype == np.float64:
            renormalized = op == "softmax" and self.impl.api == RENORMALIZED_API
            in_float32 = gradient_computed_in_float32(op, x, g, gx, renormalized)
            found = [(*f, *c) for f, c in zip(found, in_float32, strict=True)]
        temperature = contract_of(op).temperature
        if temperature is not None:
            allowed, unit = (_slices(a, obs.case.axis)[index] for a in (obs.oracle.allowed, obs.oracle.unit))
            rewrite = matches_xla_temperature_rewrite_backward(x, g, gx, temperature, allowed, unit)
            found = with_condition(found, "xla-temperature-rewrite", rewrite)
        return found

    def _describe(self, unit: str, out, failures: list) -> None:
        obs, i, metric, bound = min(
            failures, key=lambda f: (_slices(f[0].case.x, f[0].case.axis)[f[1]].size, -f[2])
        )
        case = obs.case
        x1 = np.ascontiguousarray(_slices(case.x, case.axis)[i])
        g1 = np.ascontiguousarray(_slices(case.g, case.axis)[i])
        got = _slices(obs.gx, case.axis)[i]
        expected = round_to_dtype(_slices(obs.oracle.exact, case.axis)[i], case.x.dtype).astype(case.x.dtype)
        out.message = failure_message(len(failures), unit, out, case.name, metric, bound)
        out.worst = {
            "case": case.name,
            "description": case.description,
            "where": f"slice {i} of {case.name}; 'expected' is the exact gradient, rounded",
            "input": listing(x1),
            "cotangent": listing(g1),
            "output": listing(np.asarray(got)),
            "expected": listing(expected),
            "length": int(x1.size),
            "metric": metric,
            "bound": bound,
            "dtype": self.dtype,
        }
        if obs.called is None:
            out.repro = gradient_repro(self.impl, x1, g1, -1, self.device, expected)
        else:  # the whole block as called, with its tuple of axes
            c = obs.called
            exact = restore(obs.oracle.exact, c.x.shape, c.axis)
            whole = round_to_dtype(exact, c.x.dtype).astype(c.x.dtype)
            out.worst["where"] += f"; joint slice over axis={c.axis!r} of shape {c.x.shape}"
            out.repro = gradient_repro(self.impl, c.x, c.g, c.axis, self.device, whole)
