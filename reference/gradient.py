"""The gradient oracle: exact vector-Jacobian products, and the backward pass's error model.

For ``y = f(x)`` along one axis and a cotangent ``g`` (same shape), the VJP is
``g^T J`` with the analytic Jacobians

=====================  ==============================  ====================================
op                     Jacobian ``J``                  VJP, element ``j``
=====================  ==============================  ====================================
softmax                ``diag(s) - s s^T``             ``s_j (g_j - sum_i g_i s_i)``
log-softmax            ``I - 1 s^T``                   ``g_j - s_j sum_i g_i``
sum-normalization      ``(I - y 1^T) / S``             ``(g_j - sum_i g_i y_i) / S``
=====================  ==============================  ====================================

(``s`` the softmax, ``y = x / S``, ``S = sum x``). An L1 normalization (``reference.contracts``:
``F.normalize(p=1)``, ``keras.ops.normalize(order=1)``, ``tf.linalg.normalize(ord=1)``) is
``y = x / D`` with ``D = max(sum|x|, eps)``; its Jacobian is ``(I - y sign(x)^T) / D`` where
``sum|x| > eps`` (VJP ``(g_j - sign(x_j) sum_i g_i y_i) / D``, with ``sign(0) = 0``, the
subgradient autodiff takes for ``|x|`` at 0) and ``I / eps`` below the eps, where ``D`` is the
constant eps (VJP ``g_j / eps``); ``eps`` is rounded to the input's dtype, as the frameworks use it.

They are evaluated in long double (80-bit on x86-64) from the exactly converted ``x`` and ``g``, with ``s``
and ``y`` from ``reference.oracle.exact``: the cancellation in ``g_j - sum`` then
costs about ``2**-64`` relative to the terms, far below any tolerance.

Masked entries: a -inf entry of a softmax or log-softmax slice is a mask. Its
softmax is exactly 0, so its softmax gradient is 0; the suite gives masked
positions a zero cotangent (a loss does not read masked outputs), under which the
log-softmax gradient there (the limit ``g_j``) is 0 as well, and a masking API
(``where=``, a Keras mask), for which the entry is not an input at all, agrees.

The error model (``vjp_allowed_error``) follows the forward one
(``reference.error_model``): every framework computes the backward pass from its
forward output ``s'`` (softmax), ``exp(y')`` (log-softmax) or from ``x`` and a
recomputed ``S'`` (sum-normalization), then one reduction and a few elementwise
operations. To first order, per element::

    softmax       Δs_j |g_j - dot| + s_j sum_i |g_i| Δs_i          (the forward error, propagated)
                  + s_j k(g, s) eta                                 (subnormal products g_i s_i)
    log-softmax   Δs_j |sum g|,  Δs_j = s_j (expm1(Δy_j) + C_EXP u_w)
    sum-norm.     2 rel_S M_j,   rel_S = u_acc G(n) kappa + u_w   (the sum's error, squared in S^2)
                  + k(g, y) eta / |S|                               (subnormal products g_i y_i)

    + (u_acc G(n) + C_BACKWARD u_w) M_j + n eta_acc + C_BACKWARD eta + ABSOLUTE_ULPS ulp(exact_j)

where ``Δs`` / ``Δy`` are the forward model's allowances for the dtype under test
(``Δs_j = s_j`` where the forward model accepts ``s_j`` flushed to zero: a flush-to-
zero forward pass loses those terms of the backward pass too), ``G(n)`` and
``u_acc`` the forward model's summation growth and accumulator, ``eta`` half the
smallest subnormal (the underflow term of the standard model of floating-point
arithmetic, one per product that may land in the subnormal range: the reduction's
``n`` in the accumulator's precision, float32 for half types as in the forward
model, the elementwise ones in the dtype), ``k(c, v)`` the number of nonzero products
``c_i v_i`` below the dtype's smallest normal (``subnormal_products``: autodiff graphs form
the reduction's products in the dtype, so each of those may lose ``eta``; for the composite
``softmax(x) / sum(softmax(x))`` the inner cotangent ``g - dot`` adds ``s_j k(g - dot, s) eta``:
a one-hot ``g`` at a tiny ``s_k`` makes every inner product subnormal), and ``M_j`` the
*term scale* of element ``j``: the magnitude of the terms whose difference forms it (``s_j (|g_j| + sum_i
|g_i| s_i)``, ``|g_j| + s_j sum_i |g_i|``, ``(|g_j| + sum_i |g_i y_i|) / |S|``). The
gradient is a difference of such terms; where they cancel, a correct backward pass
keeps an absolute error of about ``u M_j``, so errors are measured in ULPs of
``M_j`` (``grad_precision``), not of the (possibly tiny) result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reference.contracts import L1_NORMALIZE, contract_of, rounded_eps
from reference.dtypes import dtype_info
from reference.error_model import (
    ABSOLUTE_ULPS,
    accumulator_unit_roundoff,
    allowed_error,
    summation_growth,
)
from reference.oracle import exact
from reference.ulp import spacing

C_BACKWARD = 3.0  # the subtraction, the product, and the division or scaling of a backward pass
C_EXP = 2.0  # exp(y') in the log-softmax backward pass (vectorised exps are within 2 ULP)

GRADIENT_OPS = ("softmax", "log_softmax", "sum_normalize")


def _last(a: np.ndarray, axis: int) -> np.ndarray:
    return np.moveaxis(np.asarray(a), axis, -1)


def _exact_sum(xl: np.ndarray) -> np.ndarray:
    """sum(x) along the last axis as long double (keepdims): the float64 fsum plus the fsum of its
    remainder, so about 2**-106 relative before the long double rounding."""
    n = xl.shape[-1]
    rows = xl.reshape(-1, n).astype(np.float64).tolist()
    hi = [math.fsum(r) for r in rows]
    lo = [math.fsum([*r, -h]) if math.isfinite(h) else 0.0 for r, h in zip(rows, hi, strict=True)]
    sums = np.array(hi, dtype=np.longdouble) + np.array(lo, dtype=np.longdouble)
    return sums.reshape((*xl.shape[:-1], 1))


@dataclass(frozen=True)
class ForwardParts:
    """What the VJP oracle and its error model need from ``x`` alone (the axis moved last, long
    double): shared by every cotangent of one input. ``delta`` is the forward model's allowance
    (softmax, log-softmax) for ``dtype``; ``total`` and ``kappa`` the sum and its condition
    number (sum-normalization)."""

    op: str
    axis: int
    values: np.ndarray  # s (softmax, log-softmax) or y = x / S (sum-normalization)
    masked: np.ndarray
    total: np.ndarray | None = None
    kappa: np.ndarray | None = None
    delta: np.ndarray | None = None
    dtype: object = None
    sign: np.ndarray | None = None  # an L1 normalization: sign(x), 0 where the slice is below eps


def forward_parts(op: str, x: np.ndarray, axis: int = -1, dtype: object = None) -> ForwardParts:
    """The x-only part of the gradient oracle (``dtype``: for the error model; None: oracle only)."""
    if op not in GRADIENT_OPS:
        raise ValueError(f"unknown op {op!r}; valid: {', '.join(GRADIENT_OPS)}")
    x = np.asarray(x)
    xl = _last(x, axis)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if op == "sum_normalize" and contract_of(op).kind == L1_NORMALIZE:
            return _l1_parts(op, x, axis, dtype)
        if op == "sum_normalize":
            total = _exact_sum(xl)
            y = _last(exact("sum_normalize", x, axis, np.float64), axis).astype(np.longdouble)
            xw = xl.astype(np.float64).astype(np.longdouble)
            kappa = np.sum(np.abs(xw), axis=-1, keepdims=True) / np.abs(total)
            return ForwardParts(op, axis, y, np.zeros(xl.shape, bool), total, kappa, None, dtype)
        s = _last(exact("softmax", x, axis, np.float64), axis).astype(np.longdouble)
        delta = None
        if dtype is not None:
            forward_op = "softmax" if op == "softmax" else "log_softmax"
            forward = exact(forward_op, x, axis, dtype)
            delta = _last(allowed_error(forward_op, x, forward, axis, dtype), axis).astype(np.longdouble)
    return ForwardParts(op, axis, s, xl == -np.inf, delta=delta, dtype=dtype)


def _l1_parts(op: str, x: np.ndarray, axis: int, dtype: object) -> ForwardParts:
    """``forward_parts`` of an L1 normalization: ``total`` is ``D = max(sum|x|, eps)`` (eps rounded to
    x's dtype), ``sign`` is sign(x) (0 in slices below eps, where D does not depend on x), kappa 1."""
    xl = _last(x, axis)
    xdtype = x.dtype if x.dtype.kind == "f" or x.dtype.name == "bfloat16" else np.dtype(np.float64)
    eps = rounded_eps(op, xdtype)
    abs_sum = _exact_sum(np.abs(xl.astype(np.float64)))
    floor = np.longdouble(eps if eps is not None else 0.0)
    below = abs_sum < floor
    total = np.where(below, floor, abs_sum)
    y = _last(exact(op, x, axis, np.float64), axis).astype(np.longdouble)
    sign = np.where(below, 0, np.sign(xl.astype(np.float64))).astype(np.longdouble)
    kappa = np.ones_like(total)
    return ForwardParts(op, axis, y, np.zeros(xl.shape, bool), total, kappa, None, dtype, sign)


def vjp_exact(
    op: str, x: np.ndarray, g: np.ndarray, axis: int = -1, parts: ForwardParts | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The exact VJP ``g^T J`` of ``op`` at ``x`` along ``axis``, and the term scale ``M``.

    Returns ``(grad, scale)``, both long double with ``x``'s shape. Meant for finite
    slices and, for softmax and log-softmax, slices with some (not all) -inf entries
    where ``g`` is 0 (see the module docstring); elsewhere the values are not defined
    (NaN or inf may appear). ``g`` must have ``x``'s shape. ``parts``: ``forward_parts``
    of ``x``, when several cotangents share one input.
    """
    if op not in GRADIENT_OPS:
        raise ValueError(f"unknown op {op!r}; valid: {', '.join(GRADIENT_OPS)}")
    x = np.asarray(x)
    g = np.asarray(g)
    if g.shape != x.shape:
        raise ValueError(f"cotangent shape {g.shape} differs from the input's {x.shape}")
    parts = parts if parts is not None else forward_parts(op, x, axis)
    gl = _last(g, axis).astype(np.float64).astype(np.longdouble)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if op == "sum_normalize":
            y, total = parts.values, parts.total
            sign = parts.sign if parts.sign is not None else np.ones_like(y)  # L1: d sum|x| / dx = sign
            dot = np.sum(gl * y, axis=-1, keepdims=True)
            grad = (gl - sign * dot) / total
            scale = (np.abs(gl) + np.abs(sign) * np.sum(np.abs(gl * y), axis=-1, keepdims=True)) / np.abs(
                total
            )
        else:
            s = parts.values
            gl = np.where(parts.masked, 0, gl)
            if op == "softmax":
                dot = np.sum(gl * s, axis=-1, keepdims=True)
                grad = s * (gl - dot)
                scale = s * (np.abs(gl) + np.sum(np.abs(gl) * s, axis=-1, keepdims=True))
            else:
                total_g = np.sum(gl, axis=-1, keepdims=True)
                grad = gl - s * total_g
                scale = np.abs(gl) + s * np.sum(np.abs(gl), axis=-1, keepdims=True)
    return np.moveaxis(grad, -1, axis), np.moveaxis(scale, -1, axis)


def subnormal_products(c: np.ndarray, v: np.ndarray, info) -> np.ndarray:
    """The underflow error of the reduction ``sum_i c_i v_i`` when its products are formed in the dtype.

    Autodiff graphs (TF's softmax gradient, JAX's transposed JVP, a composite's chain rule)
    multiply elementwise in the dtype and then reduce. A product whose exact value lies
    below the dtype's smallest normal is rounded in the subnormal range: an absolute error
    of up to half the smallest subnormal (``eta``, gradual underflow). Returns ``eta`` times
    the number of such nonzero products per slice (last axis, keepdims). Flush-to-zero loses
    the whole product instead, which this term does not allow for.
    """
    products = np.abs(c * v)
    count = np.sum((products > 0) & (products < info.tiny), axis=-1, keepdims=True)
    return count * (np.longdouble(info.smallest_subnormal) / 2)


def vjp_allowed_error(
    op: str,
    x: np.ndarray,
    g: np.ndarray,
    axis: int,
    dtype: object,
    parts: ForwardParts | None = None,
    exact_vjp: tuple[np.ndarray, np.ndarray] | None = None,
    renormalized: bool = False,
) -> np.ndarray:
    """Per-element absolute error a correct backward pass in ``dtype`` may have (see the module docstring).

    ``x`` and ``g`` are the input and cotangent (same shape). NaN where the model
    does not apply (a NaN, +inf or all -inf slice; -inf anywhere for sum-normalization).
    ``parts`` (``forward_parts(op, x, axis, dtype)``) and ``exact_vjp`` (``vjp_exact``'s
    result) save recomputing them. ``renormalized`` (softmax only): the backward pass of the
    composite ``s / sum(s)``, ``s = softmax(x)``, which runs softmax's backward pass with the
    cotangent ``(g - g.y) / S`` (exactly ``g - g.s``): its products are judged as well.
    """
    info = dtype_info(dtype)
    u_w = info.unit_roundoff
    u_acc = accumulator_unit_roundoff(dtype)
    x = np.asarray(x)
    if parts is None or (op != "sum_normalize" and parts.delta is None):
        parts = forward_parts(op, x, axis, dtype)
    grad, scale = exact_vjp if exact_vjp is not None else vjp_exact(op, x, g, axis, parts)
    gl = _last(g, axis).astype(np.float64).astype(np.longdouble)
    n = _last(x, axis).shape[-1]
    growth = summation_growth(n)
    arithmetic = (u_acc * growth + C_BACKWARD * u_w) * _last(scale, axis)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if op == "sum_normalize":
            rel_sum = u_acc * growth * parts.kappa + u_w
            propagated = 2 * rel_sum * _last(scale, axis)
            propagated = propagated + subnormal_products(gl, parts.values, info) / np.abs(parts.total)
        else:
            s, delta = parts.values, parts.delta
            gl = np.where(parts.masked, 0, gl)
            # The forward model accepts a softmax output flushed to zero where a result within its
            # allowance would be subnormal (flush-to-zero); the backward pass inherits that loss.
            flushable = (s > 0) & (s - delta < info.tiny)
            if op == "softmax":
                dot = np.sum(gl * s, axis=-1, keepdims=True)
                delta = np.where(s == 0, 0, np.where(flushable, np.maximum(delta, s), delta))
                propagated = delta * np.abs(gl - dot) + s * np.sum(np.abs(gl) * delta, axis=-1, keepdims=True)
                propagated = propagated + s * subnormal_products(gl, s, info)
                if renormalized:
                    propagated = propagated + s * subnormal_products(gl - dot, s, info)
            else:
                delta_s = np.where(s == 0, 0, s * (np.expm1(delta) + C_EXP * u_w))
                delta_s = np.where((s > 0) & (s - delta_s < info.tiny), np.maximum(delta_s, s), delta_s)
                propagated = delta_s * np.abs(np.sum(gl, axis=-1, keepdims=True))
        # Gradual underflow: each of the n products of the reduction (in the accumulator's
        # precision, as the model assumes for every reduction) and the few elementwise ones (in
        # the dtype) may be rounded in the subnormal range, an absolute error of up to half the
        # smallest subnormal each: the eta of the standard model.
        # (In long double: half of float64's smallest subnormal is not a float64.)
        eta = np.longdouble(info.smallest_subnormal) / 2
        eta_acc = np.longdouble(2.0**-149) / 2 if u_acc < u_w else eta
        underflow = n * eta_acc + C_BACKWARD * eta
        allowed = propagated + arithmetic + underflow + ABSOLUTE_ULPS * spacing(_last(grad, axis), info.dtype)
    return np.moveaxis(allowed.astype(np.float64), -1, axis)
