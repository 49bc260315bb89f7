"""Negative controls: correct implementations, each computed differently, that the suite must pass.

If one of these fails, the suite (its tolerance model, a property, the oracle)
is wrong, not the implementation: ``tests/meta/test_negative_controls.py`` runs them
through ``conformance.check`` and expects zero failures. They follow the contract
of ``conformance.adapters.custom`` (NumPy in, NumPy out, the input's dtype).

Half types (float16, bfloat16) are computed in float32 or wider and rounded at the
end, as every framework does; a correct half-precision softmax needs a wider
accumulator (see ``reference/error_model.py``). Three controls also carry a backward
pass (``vjp``), judged by the gradient properties.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ml_dtypes
import numpy as np

import reference

BF16 = np.dtype(ml_dtypes.bfloat16)
HALF = (np.dtype(np.float16), BF16)


@dataclass(frozen=True)
class Control:
    name: str
    op: str
    function: Callable[..., np.ndarray]

    @property
    def method(self) -> str:
        return (self.function.__doc__ or "").strip().splitlines()[0]


def _work(x: np.ndarray) -> np.ndarray:
    """float32 for the half types and integers' float64; the input dtype otherwise."""
    if x.dtype in HALF:
        return x.astype(np.float32)
    return x.astype(np.float64) if x.dtype.kind in "iub" else x


def _out_dtype(x: np.ndarray) -> np.dtype:
    return np.dtype(np.float64) if x.dtype.kind in "iub" else x.dtype


def sum_along(a: np.ndarray, axis: int) -> np.ndarray:
    """np.sum(a, axis, keepdims=True) over a contiguous copy with ``axis`` last, so NumPy sums pairwise
    (along a non-last axis of a C-ordered array it adds one term at a time to a running sum per
    column, which on 65,537 terms is tens of float64 ULP off: numpy-non-last-axis-sequential-sum).
    A tuple of axes or None is summed as np.sum does."""
    if not isinstance(axis, int):
        return a.sum(axis, keepdims=True)
    return np.expand_dims(np.ascontiguousarray(np.moveaxis(a, axis, -1)).sum(-1), axis)


def _along_last(function, x: np.ndarray, axis: int) -> np.ndarray:
    """``function(x, -1)`` on a contiguous copy of x with ``axis`` last, moved back."""
    moved = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    return np.moveaxis(function(moved, -1), -1, axis)


def _scaled_sum(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(x / 2**k, 2**k) per slice with 2**k near max|x| (exact), so that the sum of the scaled x cannot
    overflow; x as float64."""
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        big = np.max(np.abs(np.where(np.isfinite(x64), x64, 0)), axis, keepdims=True) if x64.size else x64
        _, k = np.frexp(np.where(big > 0, big, 1.0))
    return np.ldexp(x64, -k), np.ldexp(1.0, k)


# ---- SciPy ---------------------------------------------------------------------------------------


def scipy_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """scipy.special.softmax, computed in float32 for half types and rounded once (on a contiguous
    copy with the axis last: along a strided axis SciPy sums one term at a time, as the registry's
    scipy-non-last-axis-sequential-sum says)."""
    import scipy.special

    return _along_last(lambda a, ax: scipy.special.softmax(_work(a), axis=ax), x, axis).astype(_out_dtype(x))


def scipy_log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """scipy.special.log_softmax, computed in float32 for half types and rounded once (on a contiguous
    copy with the axis last, as scipy_softmax)."""
    import scipy.special

    log_softmax = scipy.special.log_softmax
    return _along_last(lambda a, ax: log_softmax(_work(a), axis=ax), x, axis).astype(_out_dtype(x))


# ---- float64, division-free, rounded once -------------------------------------------------------


def _lse64(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    x64 = x.astype(np.float64)
    m = np.max(x64, axis, keepdims=True)
    d = x64 - m
    return d, np.log1p(sum_along(np.exp(d), axis) - 1.0)


def float64_division_free_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """exp(d - log S) in float64 (d = x - max, log S by log1p), no division, rounded once to the dtype."""
    d, log_s = _lse64(x, axis)
    return np.exp(d - log_s).astype(_out_dtype(x))


def float64_division_free_log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """d - log S in float64 (d = x - max, log S by log1p), rounded once to the dtype."""
    d, log_s = _lse64(x, axis)
    return (d - log_s).astype(_out_dtype(x))


def float64_reciprocal_sum_normalize(x: np.ndarray, axis: int) -> np.ndarray:
    """x * (1 / sum(x)) in float64 on power-of-two-scaled x (no overflow), rounded once to the dtype."""
    scaled, _ = _scaled_sum(x, axis)
    return (scaled * (1.0 / sum_along(scaled, axis))).astype(_out_dtype(x))


# ---- explicit pairwise summation ---------------------------------------------------------------


def _pairwise(a: np.ndarray) -> np.ndarray:
    """Sum over the last axis by recursive halving (a binary tree), in a's dtype."""
    while a.shape[-1] > 1:
        half = a.shape[-1] // 2
        paired = a[..., :half] + a[..., half : 2 * half]
        a = np.concatenate([paired, a[..., 2 * half :]], axis=-1) if a.shape[-1] % 2 else paired
    return a[..., 0] if a.shape[-1] == 1 else np.zeros(a.shape[:-1], dtype=a.dtype)


def _pairwise_along(a: np.ndarray, axis: int) -> np.ndarray:
    return np.expand_dims(_pairwise(np.moveaxis(a, axis, -1)), axis)


def pairwise_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """exp(x - max) summed by an explicit binary tree (float32 for half types), divided, rounded once."""
    w = _work(x)
    e = np.exp(w - np.max(w, axis, keepdims=True))
    return (e / _pairwise_along(e, axis)).astype(_out_dtype(x))


def pairwise_log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """d - log(S), S summed by an explicit binary tree (float32 for half types), rounded once."""
    w = _work(x)
    d = w - np.max(w, axis, keepdims=True)
    return (d - np.log(_pairwise_along(np.exp(d), axis))).astype(_out_dtype(x))


def pairwise_sum_normalize(x: np.ndarray, axis: int) -> np.ndarray:
    """Scaled x (a power of two, exact) over its tree-summed total, in float64, rounded once."""
    scaled, _ = _scaled_sum(x, axis)
    return (scaled / _pairwise_along(scaled, axis)).astype(_out_dtype(x))


# ---- backward passes, computed as frameworks do: from the forward output in the dtype ----------


def pairwise_softmax_vjp(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """s' * (g - tree-summed g * s'), s' the forward output in the dtype; float32 for half types."""
    s, gw = _work(pairwise_softmax(x, axis)), _work(g)
    return (s * (gw - _pairwise_along(gw * s, axis))).astype(_out_dtype(x))


def pairwise_log_softmax_vjp(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """g - exp(y') * tree-summed g, y' the forward output in the dtype; float32 for half types."""
    y, gw = _work(pairwise_log_softmax(x, axis)), _work(g)
    return (gw - np.exp(y) * _pairwise_along(gw, axis)).astype(_out_dtype(x))


def float64_reciprocal_sum_normalize_vjp(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """(g - sum(g * x) * r) * r with r = 1 / sum(x), in float64, rounded once."""
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    r = 1.0 / sum_along(x64, axis)
    return ((g64 - sum_along(g64 * x64, axis) * r) * r).astype(_out_dtype(x))


pairwise_softmax.vjp = pairwise_softmax_vjp  # type: ignore[attr-defined]
pairwise_log_softmax.vjp = pairwise_log_softmax_vjp  # type: ignore[attr-defined]
float64_reciprocal_sum_normalize.vjp = float64_reciprocal_sum_normalize_vjp  # type: ignore[attr-defined]


# ---- the oracle, rounded another way -----------------------------------------------------------


def _oracle_cast(op: str, x: np.ndarray, axis: int) -> np.ndarray:
    """reference.exact, then NumPy/ml_dtypes casts instead of reference.round_to_dtype (bfloat16 goes
    through float32: rounded twice)."""
    exact = reference.exact(op, x, axis, _out_dtype(x))
    out = _out_dtype(x)
    if out == BF16:
        return exact.astype(np.float64).astype(np.float32).astype(BF16)
    return exact.astype(out)


def oracle_cast_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """The oracle's unrounded softmax, rounded by plain casts (twice for bfloat16)."""
    return _oracle_cast("softmax", x, axis)


def oracle_cast_log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """The oracle's unrounded log-softmax, rounded by plain casts (twice for bfloat16)."""
    return _oracle_cast("log_softmax", x, axis)


def oracle_cast_sum_normalize(x: np.ndarray, axis: int) -> np.ndarray:
    """The oracle's unrounded sum-normalization, rounded by plain casts (twice for bfloat16)."""
    return _oracle_cast("sum_normalize", x, axis)


# ---- long double textbook -------------------------------------------------------------------------


def longdouble_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """The textbook exp(x - max) / sum in np.longdouble (80-bit on x86), cast to the dtype."""
    xl = x.astype(np.longdouble)
    e = np.exp(xl - np.max(xl, axis, keepdims=True))
    return (e / sum_along(e, axis)).astype(np.float64).astype(_out_dtype(x))


def longdouble_log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """The textbook d - log(sum(exp(d))) in np.longdouble (80-bit on x86), cast to the dtype."""
    xl = x.astype(np.longdouble)
    d = xl - np.max(xl, axis, keepdims=True)
    return (d - np.log(sum_along(np.exp(d), axis))).astype(np.float64).astype(_out_dtype(x))


def longdouble_sum_normalize(x: np.ndarray, axis: int) -> np.ndarray:
    """x / sum(x) in np.longdouble (its range holds any float64 sum), cast to the dtype."""
    xl = x.astype(np.longdouble)
    return (xl / sum_along(xl, axis)).astype(np.float64).astype(_out_dtype(x))


CONTROLS: list[Control] = [
    Control("scipy", "softmax", scipy_softmax),
    Control("scipy", "log_softmax", scipy_log_softmax),
    Control("float64-division-free", "softmax", float64_division_free_softmax),
    Control("float64-division-free", "log_softmax", float64_division_free_log_softmax),
    Control("float64-reciprocal", "sum_normalize", float64_reciprocal_sum_normalize),
    Control("pairwise", "softmax", pairwise_softmax),
    Control("pairwise", "log_softmax", pairwise_log_softmax),
    Control("pairwise", "sum_normalize", pairwise_sum_normalize),
    Control("oracle-cast", "softmax", oracle_cast_softmax),
    Control("oracle-cast", "log_softmax", oracle_cast_log_softmax),
    Control("oracle-cast", "sum_normalize", oracle_cast_sum_normalize),
    Control("longdouble", "softmax", longdouble_softmax),
    Control("longdouble", "log_softmax", longdouble_log_softmax),
    Control("longdouble", "sum_normalize", longdouble_sum_normalize),
]
