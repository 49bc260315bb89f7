"""Properties: pure, vectorised judgements of one output against the oracle.

Each property is a function ``(x, y, oracle, op, dtype, axis) -> SliceResults``:
``x`` the input, ``y`` the implementation's output (already checked to have
``x``'s shape), ``oracle`` the ``OracleResult`` for ``x``. It measures a metric
per slice along ``axis`` and says, per slice, whether the property applies and
whether it holds. No framework is imported here and nothing is called: the
runner supplies outputs, this module only judges them.

Which slices a property applies to follows ``reference.special``: numeric
properties judge *regular* slices only; NaN propagation judges NaN slices;
special slices are otherwise observed and classified (``classify_semantics``).

The judges are registered, with their name, ops, unit and report label, in
``conformance.property_registry``: the one table every other part of the suite reads.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from conformance.oracle_cache import ORACLE_CACHE, array_key
from reference import allowed_error, dtype_info, exact, round_to_dtype, slice_kinds, spacing, sum_tolerance
from reference.axes import Axis, is_single_axis, joint_last, restore
from reference.contracts import L1_NORMALIZE, contract_of, effective_input, output_dtype
from reference.special import REGULAR
from reference.ulp import error_work_type, ulp_distance


@dataclass(frozen=True)
class OracleResult:
    """What the oracle says about one input, computed once and shared by every property."""

    exact: np.ndarray  # unrounded, limits applied (float64 or longdouble)
    rounded: np.ndarray  # correctly rounded to the dtype under test
    kinds: np.ndarray  # kind of each slice (reference.special.SLICE_KINDS), axis removed
    allowed: np.ndarray  # per-element allowed absolute error (NaN outside regular slices)
    tolerance: np.ndarray  # the same in ULPs of the dtype at the exact value


def judged_dtype(op: str, dtype: object) -> np.dtype:
    """The dtype an output of ``op`` is judged in for a cell of ``dtype``: the API's documented output
    dtype where its contract names one (``F.softmax(x, dtype=torch.float32)``), else ``dtype``."""
    return output_dtype(op, dtype)


def expected_output_dtype(op: str, input_dtype: object) -> np.dtype:
    """The dtype an implementation of ``op`` must return for input of ``input_dtype`` (shape_dtype):
    float64 for integers, the contract's output dtype where it names one, else the input's."""
    dt = np.dtype(input_dtype)
    if dt.kind in "iub":
        return np.dtype(np.float64)
    return judged_dtype(op, dt)


def contract_dtype(judge: Callable[..., SliceResults]) -> Callable[..., SliceResults]:
    """A judge that receives the cell's dtype and judges in ``judged_dtype(op, dtype)`` (the ``dtype``
    argument is the one before ``axis``, the last positional argument)."""

    @functools.wraps(judge)
    def judged(*args):
        *rest, op, dtype, axis = args
        return judge(*rest, op, judged_dtype(op, dtype), axis)

    return judged


def oracle_for(op: str, x: np.ndarray, axis: Axis, dtype: object, shared: bool = True) -> OracleResult:
    """The oracle's answer for ``x`` and a cell of ``dtype`` (rounded to ``judged_dtype``): computed
    once per process for each (op and its API's contract, input values and shape, axis, dtype) and
    shared read-only (``conformance.oracle_cache``).

    ``axis`` may be a tuple of axes or None: the answer is then the flattened joint slices'
    (``reference.axes.joint_last``), with every per-element array put back in ``x``'s shape
    (``kinds`` has the joint axes removed). The properties themselves judge one axis: the
    evaluation hands them the flattened view (``conformance.evaluation.inputs``).

    ``shared``: the answer is also offered to the run's other processes (the corpus, which every
    framework sees); False for an input only this cell sees (a generated batch), which would
    only fill the shared directory."""
    if not is_single_axis(axis):
        flat = oracle_for(op, joint_last(x, axis), -1, dtype, shared)
        shape = np.shape(x)

        def back(a: np.ndarray) -> np.ndarray:
            return restore(a, shape, axis)

        return OracleResult(
            back(flat.exact), back(flat.rounded), flat.kinds, back(flat.allowed), back(flat.tolerance)
        )
    dtype = judged_dtype(op, dtype)
    key = ("forward", op, contract_of(op).key, axis, dtype_info(dtype).name, *array_key(x))
    return ORACLE_CACHE.get(key, lambda: compute_oracle(op, x, axis, dtype), shared=shared)


def compute_oracle(op: str, x: np.ndarray, axis: int, dtype: object) -> OracleResult:
    """Run the oracle on ``x`` for output ``dtype`` (uncached). Under a temperature contract the
    error model and the slice kinds are those of the input the softmax sees, ``round(x / T)``."""
    ex = exact(op, x, axis, dtype)
    rounded = round_to_dtype(ex, dtype)
    x = effective_input(op, x)
    if x.ndim == 0:
        kinds = slice_kinds(op, x.reshape(1), -1)
        allowed = allowed_error(op, x.reshape(1), ex.reshape(1), -1, dtype).reshape(())
    else:
        kinds = slice_kinds(op, x, axis)
        allowed = allowed_error(op, x, ex, axis, dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        tol = (allowed.astype(np.longdouble) / spacing(np.asarray(ex), dtype)).astype(np.float64)
    return OracleResult(ex, rounded, kinds, allowed, tol)


@dataclass
class SliceResults:
    """Per-slice outcome of one property on one array. All arrays are 1-D over the slices."""

    applicable: np.ndarray
    metric: np.ndarray
    bound: np.ndarray
    passed: np.ndarray

    @classmethod
    def empty(cls, m: int) -> SliceResults:
        return cls(np.zeros(m, bool), np.full(m, np.nan), np.full(m, np.nan), np.ones(m, bool))


def _slices(a: np.ndarray, axis: int) -> np.ndarray:
    """View ``a`` as (number of slices, slice length) with the normalized axis last."""
    a = np.asarray(a)
    if a.ndim == 0:
        return a.reshape(1, 1)
    moved = np.moveaxis(a, axis, -1)
    return moved.reshape(int(np.prod(moved.shape[:-1])), moved.shape[-1])


def _regular(oracle: OracleResult) -> np.ndarray:
    return np.asarray(oracle.kinds == REGULAR).reshape(-1)


def _judged(oracle: OracleResult, op: str) -> np.ndarray:
    """Slices whose values are defined and judged for precision and sum-to-one.

    Regular slices, and also: slices with some -inf entries (a mask) for softmax and
    log-softmax, where the masked entries must be exactly 0 (-inf) and the rest is the
    softmax of the finite entries; slices with negative entries and a non-zero sum
    for sum-normalization, where ``x / sum(x)`` is defined (just not in [0, 1]).
    """
    kinds = np.asarray(oracle.kinds).reshape(-1)
    extra = "negative" if op == "sum_normalize" else "neginf"
    # An L1 normalization's slices below its eps (zeros included) are defined too: x / eps, zeros.
    return (kinds == REGULAR) | (kinds == extra) | (kinds == "below_eps")


def _contract_defined(oracle: OracleResult, op: str) -> np.ndarray:
    """Slices the op leaves undefined but the API's contract defines, judged by precision alone: a
    masked API's all-masked slices (documented 0 / -inf, ``reference.contracts``). Their sum is not
    1, so sum-to-one and the other properties do not apply to them."""
    kinds = np.asarray(oracle.kinds).reshape(-1)
    return (kinds == "all_neginf") & contract_of(op).masked


def flush_accepted(exact: np.ndarray, allowed: np.ndarray, dtype: object) -> np.ndarray:
    """Where an output of 0 is accepted for ``exact``: a result within the allowance would be
    subnormal in ``dtype``, so flush-to-zero arithmetic may return 0 (every property that compares
    values applies this one rule)."""
    with np.errstate(invalid="ignore"):
        return np.abs(np.asarray(exact).astype(np.float64)) - allowed < dtype_info(dtype).tiny


def _as_float(y: np.ndarray) -> np.ndarray:
    return np.asarray(y).astype(np.float64)


@contract_dtype
def precision(x, y, oracle: OracleResult, op: str, dtype, axis: int) -> SliceResults:
    """ULP error against the exact result, within the error model's per-element tolerance.

    The verdict compares absolute errors with the model's allowance (robust where
    the exact value is 0 and a ULP is meaningless). Per slice, the metric and the
    bound are taken at the same element, the one closest to (or furthest beyond)
    its allowance: its error and its tolerance, both in ULPs of the dtype at the
    exact value, so ``metric <= bound`` reads as the verdict does.

    For log-softmax, whose error model is absolute (``y_i = d_i - log S`` loses
    digits by cancellation near 0), ULPs are taken at ``max(|exact|, 1)``: below 1
    in magnitude an error counts in ULPs of 1.0, since an output of -1e-300 may be
    1e15 of its own ULPs off and still be as accurate as the arithmetic allows.
    Outputs flushed to zero where the exact result, or a result within its
    allowance, is subnormal (flush-to-zero arithmetic) are not counted as errors. A masked API's
    all-masked slices are judged too, against its documented 0 / -inf (``_contract_defined``).
    """
    allowed = _slices(oracle.allowed, axis)
    work = error_work_type(oracle.exact, dtype)  # holds y and the difference exactly
    exact_w = np.asarray(oracle.exact).astype(work)
    y64 = _as_float(y)
    y_w = y64.astype(work)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        diff = np.abs(y_w - exact_w)
        if op == "log_softmax":
            unit = spacing(np.maximum(np.abs(exact_w), 1), dtype)
            tol = allowed / _slices(unit.astype(np.float64), axis)
        else:
            unit = spacing(exact_w, dtype)
            tol = _slices(oracle.tolerance, axis)
        units = diff / unit
        same = (y_w == exact_w) | (np.isnan(y_w) & np.isnan(exact_w))
        err = np.where(same, 0.0, np.where(np.isfinite(units), units, np.inf))
        err = _slices(err.astype(np.float64), axis)
        abs_err = np.where(y_w == exact_w, 0.0, np.where(np.isnan(diff), np.inf, diff)).astype(np.float64)
        abs_err = _slices(abs_err, axis)
        ex = _slices(oracle.exact, axis)
        yf = _slices(y64, axis)
        # Flush-to-zero: 0 is accepted where a result the model allows would be subnormal.
        flushed = flush_accepted(ex, allowed, dtype) & (yf == 0)
        err = np.where(flushed, 0.0, err)
        abs_err = np.where(flushed, 0.0, abs_err)
        ratio = np.where(abs_err == 0, 0.0, abs_err / allowed)
    ratio = np.where(np.isnan(ratio), np.inf, ratio)
    applicable = (_judged(oracle, op) | _contract_defined(oracle, op)) & (err.shape[1] > 0)
    if err.shape[1] == 0:
        return SliceResults(applicable, np.zeros(len(err)), np.ones(len(err)), np.ones(len(err), bool))
    worst = np.argmax(ratio, axis=1)
    rows = np.arange(len(err))
    metric = err[rows, worst]
    bound = tol[rows, worst]
    passed = np.all(ratio <= 1.0, axis=1)
    return SliceResults(applicable, metric, bound, passed | ~applicable)


@contract_dtype
def gradual_underflow(x, y, oracle: OracleResult, op: str, dtype, axis: int) -> SliceResults:
    """Outputs whose correctly rounded value is subnormal come back non-zero (no flush to zero).

    IEEE 754 arithmetic underflows gradually; a platform or kernel that flushes subnormal results
    (or operands) to zero returns 0 there. ``precision`` accepts that 0 wherever a result within
    the model's allowance could be subnormal, so it cannot see flushing; this property does, on the
    slices precision judges: an element applies where the correctly rounded result is a non-zero
    subnormal of the dtype and 0 lies outside its allowance (``|exact| > allowed``), so that only
    flushing (or an error precision also reports) gives 0 there. Metric: the number of such
    elements returned as 0; bound 0.
    """
    ex = _slices(np.asarray(oracle.exact).astype(np.float64), axis)
    rounded = _slices(np.asarray(oracle.rounded).astype(np.float64), axis)
    allowed = _slices(np.nan_to_num(np.asarray(oracle.allowed, np.float64), nan=np.inf), axis)
    yf = _slices(_as_float(y), axis)
    info = dtype_info(dtype)
    with np.errstate(invalid="ignore"):
        subnormal = (rounded != 0) & (np.abs(rounded) < info.tiny) & (np.abs(ex) > allowed)
    metric = np.sum(subnormal & (yf == 0), axis=1).astype(np.float64)
    applicable = _judged(oracle, op) & np.any(subnormal, axis=1)
    return SliceResults(applicable, metric, np.zeros_like(metric), (metric == 0) | ~applicable)


@contract_dtype
def sum_to_one(x, y, oracle: OracleResult, op: str, dtype, axis: int) -> SliceResults:
    """|sum(y) - 1| in float64 (|sum(exp(y)) - 1| for log-softmax), against the bound the model implies."""
    yf = _slices(_as_float(y), axis)
    total = np.sum(np.exp(yf) if op == "log_softmax" else yf, axis=1)
    metric = np.abs(total - 1.0)
    metric = np.where(np.isnan(metric), np.inf, metric)
    allowed = oracle.allowed if oracle.allowed.ndim else oracle.allowed.reshape(1)
    ex = oracle.exact if oracle.exact.ndim else oracle.exact.reshape(1)
    ax = axis if np.ndim(oracle.exact) else -1
    bound = sum_tolerance(np.nan_to_num(allowed, nan=0.0), ex, ax, op).reshape(-1)
    applicable = _judged(oracle, op) & (yf.shape[1] > 0)
    if contract_of(op).kind == L1_NORMALIZE:  # sums to 1 only where x >= 0 and sum|x| >= eps
        applicable = _regular(oracle) & (yf.shape[1] > 0)
    return SliceResults(applicable, metric, bound, (metric <= bound) | ~applicable)


def _bounds_violations(yf: np.ndarray, op: str) -> np.ndarray:
    finite = np.isfinite(yf)
    if op == "log_softmax":
        inside = finite & (yf <= 0)
    else:
        inside = finite & (yf >= 0) & (yf <= 1)
    return np.sum(~inside, axis=1).astype(np.float64)


@contract_dtype
def bounds(x, y, oracle: OracleResult, op: str, dtype, axis: int) -> SliceResults:
    """0 <= y <= 1 (y <= 0 for log-softmax), and finite, for finite input.

    Counts the elements outside; for sum-normalization only non-negative slices
    with a positive sum are regular, so negative entries are never judged here.
    """
    yf = _slices(_as_float(y), axis)
    metric = _bounds_violations(yf, op)
    applicable = _regular(oracle) & (yf.shape[1] > 0)
    return SliceResults(applicable, metric, np.zeros_like(metric), (metric == 0) | ~applicable)


@contract_dtype
def monotonicity(x, y, oracle: OracleResult, op: str, dtype, axis: int) -> SliceResults:
    """x_i < x_j must not give y_i > y_j, and an argmax of x is an argmax of y.

    Metric: the number of elements that break the order, plus one if the argmax
    is lost. Equal inputs may give any order among themselves.
    """
    xs = _slices(_as_float(x), axis)
    yf = _slices(_as_float(y), axis)
    m, n = xs.shape
    if n == 0:
        return SliceResults.empty(m)
    order = np.argsort(xs, axis=1, kind="stable")
    x_sorted = np.take_along_axis(xs, order, axis=1)
    y_sorted = np.take_along_axis(yf, order, axis=1)
    # Index where each element's group of equal x starts; the prefix max of y before that
    # group must not exceed the element's y.
    new_group = np.ones_like(x_sorted, dtype=bool)
    new_group[:, 1:] = x_sorted[:, 1:] != x_sorted[:, :-1]
    starts = np.maximum.accumulate(np.where(new_group, np.arange(n), 0), axis=1)
    prefix_max = np.maximum.accumulate(np.where(np.isnan(y_sorted), -np.inf, y_sorted), axis=1)
    before = np.where(starts > 0, np.take_along_axis(prefix_max, np.maximum(starts - 1, 0), axis=1), -np.inf)
    broken = np.sum(before > y_sorted, axis=1)
    with np.errstate(invalid="ignore"):
        y_at_xmax = np.take_along_axis(yf, np.argmax(xs, axis=1)[:, None], axis=1)[:, 0]
        argmax_lost = ~(y_at_xmax >= np.max(yf, axis=1))
    metric = (broken + argmax_lost).astype(np.float64)
    applicable = _regular(oracle)
    return SliceResults(applicable, metric, np.zeros(m), (metric == 0) | ~applicable)


@contract_dtype
def stability(x, y, oracle: OracleResult, op: str, dtype, axis: int) -> SliceResults:
    """Finite, correct output for large and small finite input.

    Applies to the slices precision judges that have a finite entry beyond the dtype's exp overflow
    threshold (``|x| > log(max)``): an unshifted exp overflows (or underflows to
    0/0) there. Holds when every output is finite where the exact result is and
    within the precision tolerance.
    """
    info = dtype_info(dtype)
    xs = _slices(_as_float(x), axis)
    big = np.isfinite(xs) & (np.abs(xs) > info.exp_overflow)  # a -inf mask entry is not "large"
    large = np.any(big, axis=1) if xs.shape[1] else np.zeros(len(xs), bool)
    result = precision(x, y, oracle, op, dtype, axis)
    yf = _slices(_as_float(y), axis)
    ex = _slices(oracle.exact, axis).astype(np.float64)
    nonfinite = np.sum(~np.isfinite(yf) & np.isfinite(ex), axis=1)
    applicable = result.applicable & large
    metric = np.where(nonfinite > 0, np.inf, result.metric)
    passed = result.passed & (nonfinite == 0)
    return SliceResults(applicable, metric, result.bound, passed | ~applicable)


@contract_dtype
def log_softmax_consistency(x, y, oracle: OracleResult, op: str, dtype, axis: int) -> SliceResults:
    """y = x - logsumexp(x): ``x_i - y_i`` is the same for every i of a slice.

    Metric: the range of ``x - y``, formed in longdouble; bound: twice the largest
    absolute error the model allows an element, which the range cannot exceed
    when every element is within its tolerance, plus two float64 spacings of the
    largest ``|x - y|`` for the check's own rounding (where longdouble is no wider
    than float64, as on some platforms).
    """
    xs = _slices(np.asarray(x).astype(np.longdouble), axis)
    yf = _slices(np.asarray(y).astype(np.longdouble), axis)
    allowed = np.nan_to_num(_slices(oracle.allowed, axis), nan=0.0)
    with np.errstate(invalid="ignore"):
        diff = xs - yf
        spread = np.max(diff, axis=1) - np.min(diff, axis=1) if xs.shape[1] else np.zeros(len(xs))
        biggest = np.max(np.abs(diff), axis=1) if xs.shape[1] else np.zeros(len(xs))
    metric = np.where(np.isnan(spread), np.inf, spread).astype(np.float64)
    check_rounding = 2 * np.spacing(np.nan_to_num(biggest.astype(np.float64), posinf=0.0))
    bound = (2 * np.max(allowed, axis=1) if xs.shape[1] else np.zeros(len(xs))) + check_rounding
    applicable = _regular(oracle) & (xs.shape[1] > 0)
    return SliceResults(applicable, metric, bound, (metric <= bound) | ~applicable)


@contract_dtype
def nan_propagation(x, y, oracle: OracleResult, op: str, dtype, axis: int) -> SliceResults:
    """A NaN anywhere in a slice makes every output of that slice NaN (metric: outputs that are not)."""
    yf = _slices(_as_float(y), axis)
    metric = np.sum(~np.isnan(yf), axis=1).astype(np.float64)
    applicable = np.asarray(oracle.kinds == "nan").reshape(-1)
    return SliceResults(applicable, metric, np.zeros_like(metric), (metric == 0) | ~applicable)


@contract_dtype
def shift_invariance(x, y, oracle: OracleResult, op: str, dtype, axis: int) -> SliceResults:
    """softmax(x + c) = softmax(x): ``x`` is the shifted input, ``oracle`` that of the unshifted one.

    The runner builds ``x + c`` exactly (no rounding) with ``|c|`` beyond the
    exp overflow threshold, so the exact results coincide and the ordinary
    precision judgement against the unshifted oracle decides.
    """
    return precision(x, y, oracle, op, dtype, axis)


def check_shape_dtype(x: np.ndarray, y: object, expected_dtype: np.dtype) -> str | None:
    """None when ``y`` is an ndarray of ``x``'s shape and ``expected_dtype``; else what is wrong."""
    if not isinstance(y, np.ndarray):
        return f"returned {type(y).__name__}, not an array"
    if y.shape != x.shape:
        return f"output shape {y.shape} != input shape {x.shape}"
    if y.dtype != expected_dtype:
        return f"output dtype {y.dtype} != expected {expected_dtype}"
    return None


SEMANTIC_CLASSES = ("matches-limit", "undefined-input", "documented-difference", "undocumented-difference")


def classify_semantics(y: np.ndarray | None, oracle: OracleResult, undefined: bool) -> tuple[str, str]:
    """(classification, short description) of an observed output on a special input.

    Matches the limit: the same NaN positions and each value within one ULP of the rounded
    limit or within the error model's allowance of the exact one (a masked row's finite part).
    """
    if y is None:
        return ("undefined-input" if undefined else "undocumented-difference"), "raised"
    if y.shape != oracle.rounded.shape:
        return "undocumented-difference", f"shape {y.shape} instead of {oracle.rounded.shape}"
    if y.size == 0:
        return "matches-limit", "empty, as the limit"
    ref = oracle.rounded
    yv = np.asarray(y).astype(np.float64)
    same = np.array_equal(np.isnan(yv), np.isnan(ref.astype(np.float64)))
    if same and y.dtype == ref.dtype:
        # Within one ULP of the rounded limit, or (where the model defines one: masked rows)
        # within the precision allowance of the exact limit, as precision itself would judge.
        allowed = np.broadcast_to(np.asarray(oracle.allowed, dtype=np.float64), yv.shape)
        with np.errstate(invalid="ignore"):
            within = np.isfinite(allowed) & (np.abs(yv - np.asarray(oracle.exact, np.float64)) <= allowed)
        same = bool(np.all((ulp_distance(np.asarray(y), ref) <= 1) | within))
    elif same:
        same = bool(np.allclose(yv, ref.astype(np.float64), rtol=1e-2, equal_nan=True))
    if same:
        return "matches-limit", "as the limit"
    if undefined:
        return "undefined-input", "the oracle's value is a convention"
    return "undocumented-difference", "differs from the limit"


# ---- properties of a cell on a GPU (a non-CPU device): two outputs of the same input ----------


@contract_dtype
def device_consistency(x, y, y_other, oracle: OracleResult, op: str, dtype, axis: int) -> SliceResults:
    """The device's output and the CPU's agree within the error model: |y - y_cpu| <= 2 * allowed.

    ``y_other`` is the same implementation's output for the same input on the CPU. Two
    conformant outputs are each within the model's allowance of the exact result, so they
    differ by at most twice it (whether each is within it alone is what ``precision`` judges,
    per device). Metric: the largest distance between the two outputs in ULPs of the dtype;
    bound: twice the tolerance (ULPs) at the element furthest beyond its allowance. Equal
    outputs (both NaN included) agree, and so do a zero and a value that ``precision``
    would accept flushed to zero. Applies to regular slices. Also judges compiled modes
    against eager mode (``compiled_consistency``: ``y_other`` is the eager output).
    """
    dt = np.dtype(dtype)
    a, b = np.asarray(y).astype(dt), np.asarray(y_other).astype(dt)
    ys, yo = _slices(_as_float(a), axis), _slices(_as_float(b), axis)
    m, n = ys.shape
    if n == 0:
        return SliceResults.empty(m)
    allowed = np.nan_to_num(_slices(oracle.allowed, axis), nan=0.0)
    tol = _slices(oracle.tolerance, axis)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        diff = np.abs(ys.astype(np.longdouble) - yo.astype(np.longdouble)).astype(np.float64)
        same = (ys == yo) | (np.isnan(ys) & np.isnan(yo))
        # One output flushed to zero where ``precision`` accepts a flush (a result within the
        # allowance would be subnormal): flush-to-zero on one side only is not a disagreement.
        ex = _slices(np.asarray(oracle.exact).astype(np.float64), axis)
        flushed = ((ys == 0) | (yo == 0)) & flush_accepted(ex, allowed, dt)
        diff = np.where(same | flushed, 0.0, np.where(np.isnan(diff), np.inf, diff))
        ratio = np.where(diff == 0, 0.0, diff / (2 * allowed))
    ratio = np.where(np.isnan(ratio), np.inf, ratio)
    distance = np.where(flushed, 0.0, _slices(ulp_distance(a, b), axis))
    worst = np.argmax(ratio, axis=1)
    metric = np.max(distance, axis=1)
    bound = 2 * tol[np.arange(m), worst]
    applicable = _regular(oracle)
    return SliceResults(applicable, metric, bound, np.all(ratio <= 1.0, axis=1) | ~applicable)


def _bits(a: np.ndarray) -> np.ndarray:
    """The bit patterns of a float array as unsigned integers of its width, same shape."""
    a = np.ascontiguousarray(a)
    return a.reshape(-1).view(f"u{a.dtype.itemsize}").reshape(a.shape)


@contract_dtype
def repeatability(x, y, y_other, oracle: OracleResult, op: str, dtype, axis: int) -> SliceResults:
    """The same call made twice gives bitwise-identical output (a NaN equals any NaN).

    ``y_other`` is the output of a second, identical call on the same device. Metric: the
    number of elements whose bits differ; bound 0. Applies to every non-empty slice:
    determinism does not depend on the input. On a GPU every call is repeated; on the CPU
    the corpus' stacked calls (every row length, the 30,000-element axis included) are.
    """
    a, b = np.asarray(y), np.asarray(y_other)
    shape = _slices(_as_float(a), axis).shape
    if a.dtype != b.dtype or a.shape != b.shape:
        differ = np.ones(shape, bool)
    else:
        nan = np.isnan(_as_float(a)) & np.isnan(_as_float(b))
        differ = _slices((_bits(a) != _bits(b)) & ~nan, axis)
    metric = np.sum(differ, axis=1).astype(np.float64)
    applicable = np.full(shape[0], shape[1] > 0)
    return SliceResults(applicable, metric, np.zeros_like(metric), (metric == 0) | ~applicable)
