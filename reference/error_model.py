"""The error model: how far from the oracle a correct implementation may be.

Every tolerance the suite applies comes from here, per element, in ULPs of the
output dtype. The model is the forward error analysis of the shifted softmax by
Blanchard, Higham & Higham ("Accurately computing the log-sum-exp and softmax
functions", IMA J. Numer. Anal. 41(4), 2021), made per element instead of
worst-case over the slice, with two choices about the summation that follow what
correct implementations actually do:

Notation: ``d_i = x_i - max(x)`` (exact), ``s`` the exact softmax, ``n`` the slice
length, ``u_w`` the unit roundoff of the output dtype (elementwise work),
``u_acc`` the unit roundoff of the accumulator: float32's for float16 and
bfloat16 (every framework accumulates half-precision reductions in float32; a
half-precision accumulator is unbounded in error once ``n > 1/u`` and is treated
as non-conforming), the dtype's own for float32 and float64.

softmax, relative error of element i::

    rel_i = u_w * (|d_i| + sum_j s_j |d_j| + C_ELEMENTWISE) + u_acc * G(n)   (to first order)

``|d_i| u_w`` is the rounding of ``x_i - max`` amplified by ``exp``; the weighted
sum is the same effect in the denominator (BHH bound it by ``2 (max - min) u``;
the weighted form is never larger and is what the data show); ``C_ELEMENTWISE``
covers exp (vectorised exps are within 2 ULP), the division or the reciprocal and
multiply, and rounding a float32 result to a half type.

BHH's bound is first order. The rounding of ``d_i`` perturbs ``exp(d_i)`` by the
factor ``exp(u_w |d_i|)`` exactly, and in bfloat16 ``u_w |d_i|`` is not small
(``d_i = -64.25`` rounds to ``-64``: ``exp`` is then 28% off, where the linear term
says 25%). The division-free form ``exp(d_i - log S)``, as correct as the textbook
one, rounds the exponent twice: ``d_i`` and then ``d_i - log S``, another
``u_w (|d_i| + log S)`` (BHH's own bound carries the factor 2: ``2 (max - min) u``).
So the model applies the exponential form to both and compounds the terms::

    A = u_w * (2 |d_i| + sum_j s_j |d_j| + log S),   B = u_w * C_ELEMENTWISE + u_acc * G(n)
    rel_i = expm1(A) + B + expm1(A) * B

which equals the linear form to first order (measured: JAX's bfloat16 softmax,
which forms ``x - max`` in bfloat16, exceeded the linear form on generated inputs
with spreads near 64 and is within this one).

``G(n)`` is the summation term. BHH use ``n - 1`` (recursive summation).
Frameworks use blocked, vectorised or pairwise reductions whose error grows like
``log2 n``; measured on torch 2.13, TF 2.21, JAX 0.10 and NumPy 2.4 at
n = 30,000 the whole softmax error stays below 30 ULP. We take
``G(n) = G_BLOCK + 2 log2(n)``: a block of up to 16 sequential additions per
lane plus a pairwise tree. Plain sequential accumulation over a long axis
exceeds it and is reported, as the issue's fault catalogue intends.

log-softmax, absolute error of element i (``y_i = d_i - log S``, ``L = log S``)::

    abs_i = u_w * (|d_i| + |y_i| + C_LOG * L) + rel_S
    rel_S = u_w * (sum_j s_j |d_j| + C_ELEMENTWISE) + u_acc * G(n)

The terms have the same sign, so there is no cancellation; near ``y_i = 0`` the
absolute form matters, because ``log(S)`` for ``S`` within an ULP of 1 carries an
absolute, not relative, error of ``u``.

sum-normalization ``x / sum(x)``, relative error of element i::

    rel_i = u_w * C_DIVIDE + u_acc * G(n) * kappa,   kappa = sum|x| / |sum x|

``kappa`` is the condition number of the sum: 1 for non-negative slices,
unbounded when the sum cancels (the tolerance grows with it, because every
correct implementation's error does). Where ``u_acc * G(n) * kappa >= 1`` the sum has no
correct digit in any order of summation (it may come out 0: [12, 2.8e-45, -12] in float32): such
slices are of kind ``cancelled_sum`` (``reference.special``) and are not judged.

L1 normalization ``x / max(sum|x|, eps)`` (an API's contract, ``reference.contracts``): the
same model with ``kappa = 1`` on every finite slice, since ``sum|x|`` has no cancellation;
the division by the rounded eps, where ``sum|x| < eps``, is one rounding (covered by
``C_DIVIDE``), and near ``sum|x| = eps`` choosing the other of two values within the
summation error of each other is covered by the summation term.

Every tolerance adds ``ABSOLUTE_ULPS`` (one ULP: the final rounding of the
result plus the subnormal range, where a relative model says nothing).
"""

from __future__ import annotations

import numpy as np

from reference.contracts import L1_NORMALIZE, contract_of
from reference.dtypes import dtype_info
from reference.ulp import spacing

C_ELEMENTWISE = 6.0
C_LOG = 2.0
C_DIVIDE = 4.0
G_BLOCK = 16.0
ABSOLUTE_ULPS = 1.0

_HALF_TYPES = ("float16", "bfloat16")


def accumulator_unit_roundoff(dtype: object) -> float:
    """u of the accumulator the model assumes: float32's for half types, else the dtype's own."""
    info = dtype_info(dtype)
    return 2.0**-24 if info.name in _HALF_TYPES else info.unit_roundoff


def summation_growth(n: int | np.ndarray) -> np.ndarray:
    """G(n) = G_BLOCK + 2 log2(n): the error growth of a blocked/pairwise sum of n terms, in units of u."""
    return G_BLOCK + 2.0 * np.log2(np.maximum(np.asarray(n, dtype=np.float64), 1.0))


def _last_axis(a: np.ndarray, axis: int) -> np.ndarray:
    return np.moveaxis(np.asarray(a), axis, -1)


def allowed_error(op: str, x: np.ndarray, exact: np.ndarray, axis: int, dtype: object) -> np.ndarray:
    """Per-element absolute error a correct implementation may have, for finite slices (NaN elsewhere).

    ``x`` is the input (any float dtype), ``exact`` the oracle's unrounded result
    (``reference.oracle.exact``) with the same shape. Includes ``ABSOLUTE_ULPS``
    ULPs of ``dtype`` at the exact value.
    """
    info = dtype_info(dtype)
    u_w = info.unit_roundoff
    u_acc = accumulator_unit_roundoff(dtype)
    # longdouble keeps max - min and the sums finite for float64 inputs near the overflow threshold.
    xl = _last_axis(x, axis).astype(np.longdouble)
    el = _last_axis(exact, axis).astype(np.longdouble)
    n = xl.shape[-1]
    if xl.size == 0:
        return np.moveaxis(np.zeros(el.shape), -1, axis)
    growth = summation_growth(n)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        masked = np.zeros(xl.shape, dtype=bool)
        if op == "sum_normalize":
            finite_slice = np.all(np.isfinite(xl), axis=-1, keepdims=True)
        else:  # -inf entries are a mask: the model applies to the finite entries
            masked = xl == -np.inf
            # a slice with every entry masked is undefined, unless the API defines it (its
            # documented 0 / -inf: reference.contracts, masked=True): then only the masked rule applies
            finite_slice = np.all(np.isfinite(xl) | masked, axis=-1, keepdims=True) & (
                ~np.all(masked, axis=-1, keepdims=True) | contract_of(op).masked
            )
        xs = np.where(finite_slice & ~masked, xl, 0)
        if op == "sum_normalize":
            kappa = np.sum(np.abs(xs), axis=-1, keepdims=True) / np.abs(np.sum(xs, axis=-1, keepdims=True))
            if contract_of(op).kind == L1_NORMALIZE:  # sum|x|: no cancellation
                kappa = np.ones_like(kappa)
            abs_err = np.abs(el) * (u_w * C_DIVIDE + u_acc * growth * kappa)
        else:
            top = np.max(np.where(masked, -np.inf, xs), axis=-1, keepdims=True)
            d = np.where(masked, np.inf, np.abs(xs - np.where(np.isfinite(top), top, 0)))
            s = np.exp(-d) / np.sum(np.exp(-d), axis=-1, keepdims=True)
            weighted = np.sum(np.where(masked, 0, s * d), axis=-1, keepdims=True)
            if op == "softmax":
                log_sum = np.log(np.sum(np.exp(-d), axis=-1, keepdims=True))
                # exp amplifies the rounding of d, and of d - log S in the division-free form (see above)
                shift = np.expm1(u_w * (2 * d + weighted + log_sum))
                rest = u_w * C_ELEMENTWISE + u_acc * growth
                # exp(d) underflows long before expm1(u d) overflows: 0 * inf is 0 here, not NaN.
                abs_err = np.where(el == 0, 0, np.abs(el) * (shift + rest + shift * rest))
            else:
                log_sum = np.log(np.sum(np.exp(-d), axis=-1, keepdims=True))
                rel_sum = u_w * (weighted + C_ELEMENTWISE) + u_acc * growth
                abs_err = u_w * (d + np.abs(el) + C_LOG * log_sum) + rel_sum
        allowed = (abs_err + ABSOLUTE_ULPS * spacing(el, info.dtype)).astype(np.float64)
        allowed = np.where(masked, 0.0 if op == "log_softmax" else allowed, allowed)
        allowed = np.where(finite_slice & (np.isfinite(allowed) | masked), allowed, np.nan)
    return np.moveaxis(allowed, -1, axis)


def tolerance_ulps(op: str, x: np.ndarray, exact: np.ndarray, axis: int, dtype: object) -> np.ndarray:
    """``allowed_error`` in ULPs of ``dtype`` at the exact result (inf where the exact result is 0 and
    the allowance is absolute, as for log-softmax at the maximum of a one-element slice)."""
    allowed = allowed_error(op, x, exact, axis, dtype)
    with np.errstate(over="ignore"):
        return (allowed.astype(np.longdouble) / spacing(np.asarray(exact), dtype)).astype(np.float64)


def sum_tolerance(allowed: np.ndarray, exact: np.ndarray, axis: int, op: str) -> np.ndarray:
    """Bound on ``|sum(y) - 1|`` per slice (``|sum(exp(y)) - 1|`` for log-softmax), from the element model.

    ``|sum y - 1| <= sum_i |y_i - s_i| <= sum_i allowed_i``, plus the float64 rounding
    of the check's own sum. For log-softmax ``|exp(y_i) - s_i| <= s_i * (exp(allowed_i) - 1)``.
    """
    el = _last_axis(exact, axis).astype(np.float64)
    abs_err = _last_axis(allowed, axis)
    if op == "log_softmax":
        with np.errstate(over="ignore", invalid="ignore"):
            s = np.exp(el)
            abs_err = np.where(s == 0, np.exp(el + abs_err), s * np.expm1(abs_err))
    n = el.shape[-1]
    return np.sum(abs_err, axis=-1) + 2.0 * n * 2.0**-53
