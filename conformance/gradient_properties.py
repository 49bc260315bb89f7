"""Gradient properties: pure judgements of a backward pass (a VJP) against the gradient oracle.

Each judge is ``(x, g, gx, oracle, op, dtype, axis) -> SliceResults``: ``x`` the input,
``g`` the cotangent, ``gx`` the implementation's gradient with respect to ``x``
(already checked to have ``x``'s shape), ``oracle`` the ``GradientOracle`` of
``(x, g)``. Like ``conformance.properties`` nothing is called here. The numbers
come from ``reference.gradient`` (analytic VJPs, term scale, error model).

Judged slices: finite ones and, for softmax and log-softmax, slices with some
(not all) -inf entries, i.e. masks. Masked positions are judged by
``grad_masked`` only; the other properties judge the unmasked entries. The judges are
registered in ``conformance.property_registry``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from conformance.oracle_cache import ORACLE_CACHE, array_key
from conformance.properties import SliceResults, _slices, flush_accepted
from reference import dtype_info, slice_kinds, spacing
from reference.contracts import L1_NORMALIZE, contract_of, effective_input
from reference.gradient import ForwardParts, forward_parts, vjp_allowed_error, vjp_exact
from reference.rounding import round_to_dtype
from reference.special import REGULAR


@dataclass(frozen=True)
class GradientOracle:
    """What the gradient oracle says about one (input, cotangent) pair."""

    # The exact VJP, x's shape: long double for a float64 backward pass; float64 for the narrower
    # dtypes (rounded from long double: 2**-53 of the term scale, 2**-29 of the smallest allowance,
    # about u M for float32).
    exact: np.ndarray
    scale: np.ndarray  # the term scale M (the same float type)
    allowed: np.ndarray  # per-element allowed absolute error (NaN where the model does not apply)
    kinds: np.ndarray  # slice kinds (reference.special), axis removed
    masked: np.ndarray  # x == -inf for softmax / log-softmax (masks), all False for sum-normalization
    unit: np.ndarray  # the ULP of the dtype at the term scale: the unit errors are counted in


def gradient_oracle(
    op: str,
    x: np.ndarray,
    g: np.ndarray,
    axis: int,
    dtype: object,
    parts: ForwardParts | None = None,
    renormalized: bool = False,
) -> GradientOracle:
    """Run the gradient oracle on the input ``x`` and cotangent ``g`` for a backward pass in ``dtype``.

    ``parts``: ``reference.gradient.forward_parts(op, x, axis, dtype)`` (computed here and
    cached when not given: the cotangents of one input share it). ``renormalized``: the
    implementation is the composite ``softmax(x) / sum(softmax(x))``, whose backward pass the
    error model allows a second reduction (``reference.gradient.vjp_allowed_error``). The answer
    is computed once per process for each (op, input, cotangent, axis, dtype, renormalized) and
    shared read-only (``conformance.oracle_cache``).
    """
    contract = contract_of(op).key
    key = ("gradient", op, contract, axis, dtype_info(dtype).name, renormalized, *array_key(x), *array_key(g))
    return ORACLE_CACHE.get(key, lambda: compute_gradient_oracle(op, x, g, axis, dtype, parts, renormalized))


def compute_gradient_oracle(
    op: str,
    x: np.ndarray,
    g: np.ndarray,
    axis: int,
    dtype: object,
    parts: ForwardParts | None = None,
    renormalized: bool = False,
) -> GradientOracle:
    """``gradient_oracle`` without the cache.

    Under a temperature contract (``softmax(x / T)``) the backward pass is ``J(x') g / T`` at the input
    the softmax sees, ``x' = round(x / T)``: the softmax model at ``x'``, divided by T, with one more
    rounding (the product by ``1 / T``) allowed. An L1 normalization is judged against its own VJP,
    that of ``x / max(sum|x|, eps)`` (``reference.gradient``); its mixed-sign and below-eps slices
    are defined and judged. Other contracts keep the op's own gradient.
    """
    temperature = contract_of(op).temperature
    if temperature is not None:
        x = effective_input(op, x)
        parts = None
    if contract_of(op).kind != L1_NORMALIZE:
        op = str(op)
    if parts is None:
        key = ("gradient-parts", op, contract_of(op).key, axis, dtype_info(dtype).name, *array_key(x))
        parts = ORACLE_CACHE.get(key, lambda: forward_parts(op, x, axis, dtype))
    grad, scale = vjp_exact(op, x, g, axis, parts)
    allowed = vjp_allowed_error(op, x, g, axis, dtype, parts, (grad, scale), renormalized)
    if dtype_info(dtype).name != "float64":  # judged in float64, several times faster than long double
        grad, scale = grad.astype(np.float64), scale.astype(np.float64)
    if temperature is not None:
        grad, scale = grad / temperature, scale / temperature
        allowed = allowed / temperature + dtype_info(dtype).unit_roundoff * np.abs(grad).astype(np.float64)
    masked = np.zeros(x.shape, bool) if op == "sum_normalize" else np.asarray(x) == -np.inf
    unit = spacing(np.asarray(scale), dtype)
    return GradientOracle(grad, scale, allowed, slice_kinds(op, x, axis), masked, unit)


def _judged(oracle: GradientOracle, op: str) -> np.ndarray:
    kinds = np.asarray(oracle.kinds).reshape(-1)
    if contract_of(op).kind == L1_NORMALIZE:  # x / max(sum|x|, eps): mixed signs and sums below eps too
        return (kinds == REGULAR) | (kinds == "negative") | (kinds == "below_eps")
    return (kinds == REGULAR) | ((kinds == "neginf") & (op != "sum_normalize"))


def grad_precision(x, g, gx, oracle: GradientOracle, op: str, dtype, axis: int) -> SliceResults:
    """Error against the exact VJP in ULPs of the term scale ``M``, within the backward error model.

    The verdict compares absolute errors with the model's allowance, per unmasked
    element; metric and bound are taken at the element closest to (or furthest
    beyond) its allowance, both in ULPs of ``dtype`` at ``M`` (where the gradient
    cancels, a correct backward pass is about ``u M`` off, whatever the result's own
    magnitude). Flushing to zero is accepted where a result within the allowance
    would be subnormal.
    """
    ex = _slices(oracle.exact, axis)
    got = _slices(np.asarray(gx).astype(np.float64), axis).astype(ex.dtype, copy=False)  # exact in either
    allowed = _slices(oracle.allowed, axis)
    unit = _slices(oracle.unit, axis)
    masked = _slices(oracle.masked, axis)
    m, n = ex.shape
    if n == 0:
        return SliceResults.empty(m)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        err = np.abs(got - ex).astype(np.float64)
        err = np.where(got == ex, 0.0, np.where(np.isnan(err), np.inf, err))
        # An exact gradient beyond the dtype's range rounds to +-inf: that infinity is exact.
        rounded = round_to_dtype(ex.astype(np.float64), dtype).astype(np.float64)
        err = np.where(np.isinf(got) & (got == rounded), 0.0, err)
        flushed = (got == 0) & flush_accepted(ex, allowed, dtype)
        err = np.where(flushed | masked, 0.0, err)
        ratio = np.where(err == 0, 0.0, err / allowed)
    ratio = np.where(np.isnan(ratio), np.inf, ratio)
    worst = np.argmax(ratio, axis=1)
    rows = np.arange(m)
    metric = (err / unit)[rows, worst]
    bound = (allowed / unit)[rows, worst]
    applicable = _judged(oracle, op)
    return SliceResults(applicable, metric, bound, np.all(ratio <= 1.0, axis=1) | ~applicable)


def grad_finite(x, g, gx, oracle: GradientOracle, op: str, dtype, axis: int) -> SliceResults:
    """A finite input (masks allowed) gives a finite gradient: the count of NaN/inf elements, bound 0.

    Applies where the exact gradient is finite in ``dtype`` with room to spare (its term
    scale below a quarter of the largest finite value), so that a correct implementation
    cannot overflow: large logits and long axes are in, a sum-normalization of
    subnormal inputs (whose gradient ``1/S`` overflows) is out.
    """
    info = dtype_info(dtype)
    got = _slices(np.asarray(gx).astype(np.float64), axis)
    scale = _slices(oracle.scale, axis).astype(np.float64)
    m, n = got.shape
    if n == 0:
        return SliceResults.empty(m)
    metric = np.sum(~np.isfinite(got), axis=1).astype(np.float64)
    with np.errstate(invalid="ignore"):
        representable = np.all(np.isfinite(scale) & (scale < info.max / 4), axis=1)
    applicable = _judged(oracle, op) & representable
    return SliceResults(applicable, metric, np.zeros(m), (metric == 0) | ~applicable)


def grad_sum_to_zero(x, g, gx, oracle: GradientOracle, op: str, dtype, axis: int) -> SliceResults:
    """softmax and log-softmax gradients sum to zero along the axis (``1^T J = 0``).

    ``|sum_j gx_j|`` (in float64) against ``sum_j allowed_j``: each element is within
    its allowance of the exact gradient, whose sum is exactly 0 (plus, as ``grad_precision``
    accepts flushing to zero, the exact values that may be flushed). Metric and bound in
    units of ``u * sum_j M_j``. (Sum-normalization's gradient does not sum to zero:
    ``1^T J = (1 - n y)^T / S``; its invariance is to scaling, ``J x = 0``.)
    """
    info = dtype_info(dtype)
    got = _slices(np.asarray(gx).astype(np.float64), axis)
    m, n = got.shape
    if n == 0:
        return SliceResults.empty(m)
    masked = _slices(oracle.masked, axis)
    allowed = np.where(masked, 0.0, _slices(oracle.allowed, axis))
    terms = np.sum(np.where(masked, 0.0, _slices(oracle.scale, axis).astype(np.float64)), axis=1)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        total = np.abs(np.sum(np.where(masked, 0.0, got), axis=1))
        total = np.where(np.isnan(total), np.inf, total)
        rounding = 2.0 * n * 2.0**-53 * np.sum(np.abs(np.where(masked, 0.0, got)), axis=1)
        # As in grad_precision, an element may be flushed to zero where a result within its
        # allowance would be subnormal: its whole exact value may then be missing from the sum.
        ex = np.abs(_slices(oracle.exact, axis).astype(np.float64))
        flushable = np.sum(np.where(~masked & flush_accepted(ex, allowed, dtype), ex, 0.0), axis=1)
        bound_abs = np.sum(allowed, axis=1) + flushable + rounding
        unit = np.maximum(info.unit_roundoff * terms, np.finfo(np.float64).tiny)
        metric = total / unit
        bound = bound_abs / unit
    applicable = _judged(oracle, op)
    return SliceResults(applicable, metric, bound, (total <= bound_abs) | ~applicable)


def grad_masked(x, g, gx, oracle: GradientOracle, op: str, dtype, axis: int) -> SliceResults:
    """Masked (-inf) entries get exactly zero gradient, and the mask leaks no NaN into the rest.

    Slices with some, not all, -inf entries (softmax, log-softmax). Metric: masked
    elements whose gradient is not exactly 0, plus elements of the slice whose
    gradient is NaN or inf; bound 0. (The cotangent is 0 at masked positions: see
    ``reference.gradient``.)
    """
    got = _slices(np.asarray(gx).astype(np.float64), axis)
    masked = _slices(oracle.masked, axis)
    m, n = got.shape
    if n == 0:
        return SliceResults.empty(m)
    nonzero = masked & (got != 0)  # NaN != 0 counts
    nonfinite = ~masked & ~np.isfinite(got)
    metric = np.sum(nonzero | nonfinite, axis=1).astype(np.float64)
    kinds = np.asarray(oracle.kinds).reshape(-1)
    applicable = kinds == "neginf"
    return SliceResults(applicable, metric, np.zeros(m), (metric == 0) | ~applicable)
