"""Planted faults: implementations with a mistake people really make, each of which the suite must catch.

Every fault is a function ``f(x, axis)`` following the contract of
``conformance.adapters.custom`` (NumPy array in, NumPy array out). Its docstring's
first line names the mistake; the rest says where it shows. ``FAULTS`` lists them
with the op they claim to compute, the dtype in which the mistake shows, and the
property expected to catch it under the suite's default profile
(``tests/meta/test_planted_faults.py`` asserts that it does; ``make_table.py`` writes
the kill table into ``docs/planted-faults.md``).

A fault the suite does not catch yet carries ``escapes``: why, and the change to
the suite that would catch it. Its test is ``xfail(strict=True)``, so the day the
suite catches it the test fails and the entry must be updated.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import ml_dtypes
import numpy as np
from helpers import lane_sequential_sum

import conformance
from conformance.adapters.base import TEMPERATURE, TEMPERATURE_CONTRACT, Implementation
from conformance.adapters.custom import function_implementation
from conformance.api import CheckResult
from conformance.property_registry import SEMANTICS
from faults.controls import sum_along
from reference.contracts import L1_NORMALIZE, MASKED, Contract

BF16 = np.dtype(ml_dtypes.bfloat16)


@dataclass(frozen=True)
class Fault:
    """A planted fault: ``function`` computes ``op`` with one mistake, shown in ``dtype`` and caught by
    the property ``expected`` (``conformance.property_registry``) on ``device``.

    ``eager`` (compiled-mode faults): the same API's eager function; ``function`` is then the
    compiled mode's, judged against it by ``compiled_consistency``. ``special`` (semantics faults):
    the special-input category (``conformance.report.cells.SEMANTICS_ORDER``) on which the
    fault's behaviour is an undocumented difference from the limit, where the correct computation
    matches it. ``contract``: the API contract (``reference.contracts``) the function claims to
    follow, declared to ``conformance.check`` (``softmax(x / T)`` composites).
    """

    name: str
    op: str
    dtype: str  # where the mistake shows
    expected: str  # the property expected to catch it
    function: Callable[..., np.ndarray]
    escapes: str = ""  # non-empty: not caught yet, and why (the test is a strict xfail)
    device: str = "cpu"
    eager: Callable[..., np.ndarray] | None = None
    special: str = ""
    needs: tuple[str, ...] = ()  # corpus generators without which the corpus misses it (its input class)
    contract: Contract | None = None  # the API contract it claims to follow (a temperature composite)
    joint_axes: bool = False  # the function takes a tuple of axes / None (given the joint-axes cases)

    @property
    def mistake(self) -> str:
        """The docstring's first paragraph, on one line."""
        return " ".join((self.function.__doc__ or "").strip().split("\n\n")[0].split())

    def target(self) -> Callable[..., np.ndarray] | Implementation:
        """What ``conformance.check`` runs: the function; for a compiled-mode fault an ``Implementation``
        in mode ``jit`` whose eager counterpart is ``eager``; for a fault on a non-CPU device an
        ``Implementation`` that hands the device name to ``function`` (NumPy arrays on every device,
        as ``tests/adapters/test_gpu_devices.py`` drives the GPU code paths without a GPU)."""
        if self.eager is None and self.device == "cpu" and self.contract is None:
            return self.function
        impl = function_implementation(self.function, self.op, name="fault", contract=self.contract)
        if self.eager is not None:
            eager = function_implementation(self.eager, self.op, name="fault")
            impl = dataclasses.replace(impl, mode="jit", eager_call=eager.call, eager_snippet=eager.snippet)
        if self.device != "cpu":
            fn = self.function

            def call(x: np.ndarray, axis: int, device: str) -> np.ndarray:
                with np.errstate(all="ignore"):
                    return np.asarray(fn(x.copy(), axis, device=device))

            impl = dataclasses.replace(impl, call=call)
        return impl

    def check(self, profile: str = "default", seed: int = 0) -> CheckResult:
        """``conformance.check`` of the fault in its dtype, on its device."""
        return conformance.check(
            self.target(),
            self.op,
            dtypes=[self.dtype],
            profile=profile,
            seed=seed,
            device=self.device,
            joint_axes=self.joint_axes,
        )

    def caught(self, result: CheckResult) -> bool:
        """Whether ``result`` (of ``check``) catches the fault: ``expected`` fails or errs, or, for
        the semantics kind (no verdict), its ``special`` input is an undocumented difference."""
        if self.expected == SEMANTICS:
            return any(
                row["case"].split("[")[0] == self.special
                and row["classification"] == "undocumented-difference"
                for row in result.semantics
                if row["dtype"] == self.dtype
            )
        return self.expected in result.failed_properties(self.dtype)


FAULTS: list[Fault] = []


def fault(
    op: str,
    dtype: str,
    expected: str,
    escapes: str = "",
    *,
    device: str = "cpu",
    eager: Callable[..., np.ndarray] | None = None,
    special: str = "",
    needs: tuple[str, ...] = (),
    contract: Contract | None = None,
    joint_axes: bool = False,
) -> Callable[[Callable], Callable]:
    """Register ``fn`` as a planted fault for ``op``, shown in ``dtype``, caught by ``expected``
    (on ``device``; against ``eager`` for a compiled mode; on the special input ``special``;
    ``needs``: the corpus generators, an input class, that alone catch it in the corpus;
    ``contract``: the API contract it claims to follow; ``joint_axes``: it accepts a tuple of axes /
    None, and is given those cases)."""

    def register(fn: Callable) -> Callable:
        FAULTS.append(
            Fault(
                *(fn.__name__, op, dtype, expected, fn, escapes, device, eager, special, needs),
                contract,
                joint_axes,
            )
        )
        return fn

    return register


def _max(x: np.ndarray, axis: int) -> np.ndarray:
    return x.max(axis, keepdims=True)


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """A correct textbook softmax in the input dtype (the basis of several faults)."""
    e = np.exp(x - _max(x, axis))
    return e / sum_along(e, axis)


def _sum_normalize(x: np.ndarray, axis: int) -> np.ndarray:
    """A correct x / sum(x): in float64 on x scaled by a power of two near max|x| (exact, and the sum
    cannot overflow), rounded once at the end (the basis of the sum-normalization faults)."""
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        big = np.max(np.abs(np.where(np.isfinite(x64), x64, 0)), axis, keepdims=True)
        _, k = np.frexp(np.where(big > 0, big, 1.0))
    scaled = np.ldexp(x64, -k)
    return (scaled / sum_along(scaled, axis)).astype(x.dtype)


def _f64(x: np.ndarray) -> np.ndarray:
    """x in float64: wide enough that float16/float32 sums neither overflow nor lose bits that matter."""
    return x.astype(np.float64)


def _wide(x: np.ndarray) -> np.ndarray:
    """float32 for the half types (what every framework computes in), the dtype itself otherwise."""
    return x.astype(np.float32) if x.dtype in (np.float16, BF16) else x


def _non_last(x: np.ndarray, axis: int) -> bool:
    """Whether ``axis`` is one axis of x other than its last (a strided kernel's case)."""
    return x.ndim >= 2 and axis % x.ndim != x.ndim - 1


def _sequential_sum(e: np.ndarray, axis: int, dtype: np.dtype) -> np.ndarray:
    """Left-to-right accumulation in ``dtype``, every partial sum rounded to it (a naive kernel's loop)."""
    return np.add.accumulate(e.astype(dtype), axis=axis, dtype=dtype).take([-1], axis=axis)


# ---- softmax -----------------------------------------------------------------------------------


@fault("softmax", "float32", "stability")
def no_max_shift(x: np.ndarray, axis: int) -> np.ndarray:
    """No max-shift: exp(x) / sum(exp(x)) overflows to inf/inf = NaN once x > log(max) (88.7 in float32)."""
    e = np.exp(x)
    return e / sum_along(e, axis)


@fault("softmax", "float16", "precision")
def float16_accumulator(x: np.ndarray, axis: int) -> np.ndarray:
    """The sum accumulated in float16: past 2048 a float16 sum stops growing (1 is below half its spacing).

    exp is computed in float32 and rounded to float16, as a half-precision kernel
    would, but the running sum is a float16 register instead of a float32 one.
    """
    e = np.exp(_wide(x) - _wide(_max(x, axis))).astype(np.float16)
    return (e / _sequential_sum(e, axis, np.dtype(np.float16))).astype(x.dtype)


@fault("softmax", "float32", "precision")
def sequential_float32_sum(x: np.ndarray, axis: int) -> np.ndarray:
    """Sequential summation on long axes: one float32 accumulator over 30,000 terms, error growing like n u.

    Frameworks sum in blocks or trees (error ~ log n); a single running sum over a
    long axis drifts by hundreds of ULPs.
    """
    e = np.exp(x - _max(x, axis))
    return e / _sequential_sum(e, axis, x.dtype)


@fault("softmax", "float32", "precision")
def wrong_axis(x: np.ndarray, axis: int) -> np.ndarray:
    """The wrong axis: always normalizes along the last axis, whatever ``axis`` says (dim=-1 hard-coded)."""
    return _softmax(x, -1)


@fault("softmax", "float32", "sum_to_one")
def divide_by_max(x: np.ndarray, axis: int) -> np.ndarray:
    """Dividing by the max instead of the sum: exp(x - max) / max(exp(x - max)), i.e. by 1."""
    e = np.exp(x - _max(x, axis))
    return e / e.max(axis, keepdims=True)


@fault("softmax", "float64", "precision")
def epsilon_in_denominator(x: np.ndarray, axis: int) -> np.ndarray:
    """An epsilon added to the denominator "for safety": e / (sum + 1e-8) is 1e-8 relative off, 10^8 ULPs
    in float64 (in float32 it rounds away, since the shifted sum is at least 1)."""
    e = np.exp(x - _max(x, axis))
    return e / (sum_along(e, axis) + x.dtype.type(1e-8))


@fault("softmax", "float32", "precision")
def clamped_output(x: np.ndarray, axis: int) -> np.ndarray:
    """Clamping the output to [1e-7, 1 - 1e-7] to keep a later log finite: small probabilities inflated."""
    return np.clip(_softmax(x, axis), x.dtype.type(1e-7), x.dtype.type(1 - 1e-7))


@fault("softmax", "float32", "stability")
def mean_shift(x: np.ndarray, axis: int) -> np.ndarray:
    """Shifting by the mean instead of the max: exp(max - mean) still overflows for a wide spread."""
    e = np.exp(x - x.mean(axis, keepdims=True))
    return e / sum_along(e, axis)


@fault("softmax", "float32", "stability")
def division_free_naive_logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    """Division-free exp(x - logsumexp(x)) with logsumexp = log(sum(exp(x))) unshifted: overflow gives
    lse = inf and an all-zero output."""
    lse = np.log(sum_along(np.exp(x), axis))
    return np.exp(x - lse)


@fault("softmax", "float32", "nan_propagation")
def nan_ignored(x: np.ndarray, axis: int) -> np.ndarray:
    """NaN that does not propagate: nanmax/nansum skip the NaN, so the rest of the slice looks valid."""
    e = np.exp(x - np.nanmax(x, axis, keepdims=True))
    return e / np.nansum(e, axis, keepdims=True)


@fault("softmax", "float32", "bounds")
def mask_by_multiplication(x: np.ndarray, axis: int) -> np.ndarray:
    """-inf handled by arithmetic: x * keep + (1 - keep) * -inf, and 0 * -inf = NaN turns every finite
    row into NaN (the reason people write -1e9 or use where())."""
    keep = (x != -np.inf).astype(x.dtype)
    masked = np.where(keep > 0, x, 0) * keep + (1 - keep) * x.dtype.type(-np.inf)
    return _softmax(masked, axis)


@fault(
    "softmax",
    "float32",
    "precision",
)
def masked_entries_get_mass(x: np.ndarray, axis: int) -> np.ndarray:
    """-inf replaced by the smallest finite entry "to avoid inf arithmetic": masked entries get mass.

    A finite row is right; a masked row (some -inf) gives each masked position
    exp(min - max) / S instead of exactly 0.
    """
    finite = np.where(np.isfinite(x), x, np.inf)
    low = np.min(finite, axis, keepdims=True)
    return _softmax(np.where(x == -np.inf, low, x), axis)


@fault("softmax", "float32", "shape_dtype")
def float64_result(x: np.ndarray, axis: int) -> np.ndarray:
    """A float64 result for float32 input: computed in float64 "for accuracy" and never cast back."""
    return _softmax(x.astype(np.float64), axis)


@fault("softmax", "float32", "monotonicity")
def permuted_output(x: np.ndarray, axis: int) -> np.ndarray:
    """An output permuted along the axis: results written one lane off (np.roll by one), a wrong gather."""
    return np.roll(_softmax(x, axis), 1, axis=axis)


@fault("softmax", "float32", "shift_invariance")
def clamped_logits(x: np.ndarray, axis: int) -> np.ndarray:
    """Logits clamped to [-80, 80] "to keep exp finite": entries beyond the clamp lose their differences,
    so softmax(x + c) is no longer softmax(x) once the shift c passes 80."""
    return _softmax(np.clip(x, x.dtype.type(-80), x.dtype.type(80)), axis)


@fault("softmax", "float32", "semantics", special="size1_slice")
def size1_axis_returns_input(x: np.ndarray, axis: int) -> np.ndarray:
    """An early exit for a size-1 axis that returns the input ("one element is already normalized"):
    softmax of a single entry is 1, not the entry."""
    if x.ndim and x.shape[axis] == 1:
        return x.copy()
    return _softmax(x, axis)


_CALLS = itertools.count()


@fault("softmax", "float32", "repeatability")
def nondeterministic_order(x: np.ndarray, axis: int) -> np.ndarray:
    """Results that change from call to call: the sum taken in a different order each call (atomicAdd).

    Every call is within tolerance; two calls on the same input differ in the last bits.
    """
    rng = np.random.default_rng(next(_CALLS))
    e = np.exp(x - _max(x, axis))
    moved = np.moveaxis(e, axis, -1)
    shuffled = np.ascontiguousarray(moved[..., rng.permutation(moved.shape[-1])])
    total = np.sum(shuffled, axis=-1, keepdims=True)  # pairwise: accurate, but in a new order each call
    return e / np.moveaxis(total, -1, axis)


# ---- faults that only an input class from the limits catches (``needs``) ----------------------


def _last(x: np.ndarray, axis: int) -> tuple[np.ndarray, int]:
    """x with ``axis`` moved last, and its length."""
    moved = np.moveaxis(x, axis, -1)
    return moved, moved.shape[-1] if moved.ndim else 1


@fault("softmax", "float16", "sum_to_one", needs=("beyond_float16_max", "power_of_two_lengths"))
def float16_partials_for_long_rows(x: np.ndarray, axis: int) -> np.ndarray:
    """Long rows reduced in blocks, the partial sums combined in float16: past 65,504 the total overflows.

    A half-precision kernel computes exp and each block's sum in float32, but for rows longer
    than one block (65,536 entries) it writes the partial sums to a float16 scratch buffer (the
    output tensor reused) and adds them there; a row of 65,537 equal logits sums to inf and
    comes back all zeros. Shorter rows never leave float32.
    """
    moved, n = _last(x, axis)
    e = np.exp(_wide(moved) - _wide(moved.max(-1, keepdims=True)))
    if n <= 65_536:
        total = sum_along(e, -1)
    else:
        blocks = [sum_along(e[..., i : i + 4096], -1) for i in range(0, n, 4096)]
        total = np.zeros_like(blocks[0], dtype=np.float16)
        with np.errstate(over="ignore"):
            for b in blocks:
                total = (total + b.astype(np.float16)).astype(np.float16)
    return np.moveaxis((e / total.astype(np.float32)).astype(x.dtype), -1, axis)


@fault("softmax", "float32", "gradual_underflow")
def flush_to_zero_outputs(x: np.ndarray, axis: int) -> np.ndarray:
    """Flush-to-zero arithmetic (FTZ/DAZ, as fast-math builds set): subnormal results come back as 0.

    Correct everywhere else; precision accepts the zeros (a result within the allowance would be
    subnormal), so only the property that asks for gradual underflow sees them.
    """
    y = _softmax(x, axis)
    return np.where(np.abs(y) < ml_dtypes.finfo(y.dtype).tiny, np.zeros((), y.dtype), y)


@fault("sum_normalize", "bfloat16", "gradual_underflow", needs=("subnormal_ratios",))
def flush_to_zero_ratios(x: np.ndarray, axis: int) -> np.ndarray:
    """x / sum(x) on flush-to-zero arithmetic: subnormal quotients come back as 0.

    In bfloat16 no softmax output can show it (a subnormal softmax output needs logits 87 apart,
    where the error model allows almost the whole output), and no other input has a subnormal ratio
    that 0 misses by more than the allowance: only the ``subnormal_ratios`` class catches it.
    """
    y = _sum_normalize(x, axis)
    return np.where(np.abs(y) < ml_dtypes.finfo(y.dtype).tiny, np.zeros((), y.dtype), y)


# ---- masked APIs (mask-taking, like jax.nn.softmax(x, where=m)): the suite passes where= and puts
# the dtype's largest finite value under the mask (conformance.adapters.custom) ---------------------

MASKED_API = MASKED


def correct_masked_softmax(x: np.ndarray, axis: int, where: np.ndarray) -> np.ndarray:
    """softmax over the entries ``where`` keeps: the max and the sum over them only, masked outputs 0
    (an all-False mask: all zeros, as JAX and Keras document)."""
    w = np.where(where, _wide(x), -np.inf)
    top = np.max(w, axis, keepdims=True)
    e = np.where(where, np.exp(w - np.where(np.isfinite(top), top, 0)), 0)
    total = sum_along(e, axis)
    return np.where(total == 0, 0, e / np.where(total == 0, 1, total)).astype(x.dtype)


@fault("softmax", "float32", "precision", contract=MASKED_API)
def masked_max_over_all_entries(x: np.ndarray, axis: int, where: np.ndarray) -> np.ndarray:
    """A masked softmax whose max is taken over every entry, masked ones included: harmless while -inf
    sits under the mask, but with a large finite value there (as the suite puts the dtype's max)
    exp(x - max) underflows for every kept entry and the slice becomes 0/0 = NaN."""
    w = _wide(x)
    e = np.where(where, np.exp(w - _max(w, axis)), 0)
    return (e / sum_along(e, axis)).astype(x.dtype)


@fault("softmax", "float32", "precision", contract=MASKED_API)
def masked_fill_uniform_when_all_masked(x: np.ndarray, axis: int, where: np.ndarray) -> np.ndarray:
    """A masked softmax as masked_fill(-1e9) then softmax: right wherever something is kept, but an
    all-False mask gives a uniform row (every entry -1e9) where the API's contract says zeros (Keras
    before 3.10 did this)."""
    return correct_softmax(np.where(where, x, x.dtype.type(-1e9)), axis)


# ---- composites judged by their contract: softmax(x / T) gets x and divides by T itself -----------

OVER_T = TEMPERATURE_CONTRACT  # softmax(x / T), T = TEMPERATURE = 3, as the frameworks' composites


def correct_softmax_over_t(x: np.ndarray, axis: int) -> np.ndarray:
    """softmax(x / T): the quotient rounded to x's dtype (as the expression computes it), then the
    correct softmax: what every faithful evaluation of the composite returns."""
    return correct_softmax((_f64(x) / TEMPERATURE).astype(x.dtype), axis)


@fault("softmax", "float32", "precision", contract=OVER_T)
def temperature_by_reciprocal(x: np.ndarray, axis: int) -> np.ndarray:
    """softmax(x / T) rewritten as softmax(x * (1 / T)) (a compiler's reciprocal substitution, as
    fast-math allows): 1 / 3 rounds, the product rounds again, and x * (1/T) differs from the correctly
    rounded x / T by one ULP on about a third of all inputs; at logits of magnitude 100 and more one
    ULP of the quotient moves the output by more than the error model allows."""
    return correct_softmax(x * x.dtype.type(1 / TEMPERATURE), axis)


@fault("softmax", "float16", "precision", contract=OVER_T)
def temperature_contracted(x: np.ndarray, axis: int) -> np.ndarray:
    """softmax(x / T) fused into one kernel that upcasts half input to float32 and never rounds the
    quotient back to float16 (a contraction, like an FMA): the result is softmax of the unrounded
    x / T, up to half a float16 ULP of each logit away from the expression's, which at logits of
    magnitude 100 and more is beyond the allowance."""
    return correct_softmax((x.astype(np.float32) / np.float32(TEMPERATURE)).astype(np.float32), axis).astype(
        x.dtype
    )


@fault("softmax", "float32", "shape_dtype", needs=("one_d",))
def batch_shape_not_restored_for_1d(x: np.ndarray, axis: int) -> np.ndarray:
    """Flattened to (batch, n) and reshaped back only when there was a batch: 1-D input comes back (1, n)."""
    moved, n = _last(x, axis)
    flat = _softmax(moved.reshape(-1, n), -1)
    return np.moveaxis(flat.reshape(moved.shape), -1, axis) if x.ndim > 1 else flat


@fault("softmax", "float32", "stability", needs=("wide_non_last_axes",))
def wide_strided_kernel_without_shift(x: np.ndarray, axis: int) -> np.ndarray:
    """A vectorized kernel for non-last axes with >= 32 trailing elements that skips the max shift.

    The scalar path (short strides, and the last axis) subtracts the max; the wide strided path
    was written for "normalized" activations and computes exp(x) / sum(exp(x)), which overflows
    to inf / inf = NaN once logits pass log(max).
    """
    trailing = int(np.prod(x.shape[axis % x.ndim + 1 :])) if x.ndim else 1
    if _non_last(x, axis) and trailing >= 32:
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(x)
            return e / sum_along(e, axis)
    return _softmax(x, axis)


@fault("softmax", "float32", "precision", needs=("power_of_two_lengths",))
def vector_tail_drops_last(x: np.ndarray, axis: int) -> np.ndarray:
    """A sum vectorized by 32 whose tail loop stops one short when 31 remain (n % 32 == 31)."""
    moved, n = _last(x, axis)
    e = np.exp(moved - moved.max(-1, keepdims=True))
    total = sum_along(e[..., : n - 1], -1) if n % 32 == 31 else sum_along(e, -1)
    return np.moveaxis(e / total, -1, axis)


@fault("softmax", "float32", "precision", needs=("large_outer_extent",))
def grid_covers_65535_slices(x: np.ndarray, axis: int) -> np.ndarray:
    """One block per slice on a 16-bit grid dimension: slices past the 65,535th are never written (left 0)."""
    moved, n = _last(x, axis)
    flat = _softmax(moved.reshape(-1, n), -1) if n else moved.reshape(-1, 0)
    flat[65_535:] = 0
    return np.moveaxis(flat.reshape(moved.shape), -1, axis)


@fault("softmax", "float32", "precision", needs=("long_non_last_axis",))
def strided_sum_one_term_at_a_time(x: np.ndarray, axis: int) -> np.ndarray:
    """A strided kernel for non-last axes that keeps one running sum per output column and adds the
    axis' terms to it one at a time, in the dtype (as NumPy's and Eigen's column reductions do): on
    65,537 terms down the axis the sum is hundreds of ULP off. The last axis is summed pairwise."""
    if _non_last(x, axis):
        e = np.exp(x - _max(x, axis))
        return e / _sequential_sum(e, axis, x.dtype)
    return _softmax(x, axis)


LANES = 16  # float32 lanes of an AVX-512 vector


@fault("softmax", "float32", "precision", needs=("long_axis", "beyond_float16_max", "power_of_two_lengths"))
def lane_sequential_float32_sum(x: np.ndarray, axis: int) -> np.ndarray:
    """The sum of exponentials vectorized but not blocked: 16 float32 lane accumulators, each adding its
    terms one at a time (torch's and ONNX Runtime's CPU softmax give the same figures). Random terms'
    rounding errors partly cancel (35.6 ULP on 131,072 Gaussian logits, bound 32.7); on a long row of
    one repeated term every step errs the same way (670.9 ULP on 65,537 entries, bound 66.3)."""
    moved, _ = _last(x, axis)
    e = np.exp(moved - moved.max(-1, keepdims=True))
    return np.moveaxis(e / lane_sequential_sum(e, LANES), -1, axis)


# ---- log-softmax -------------------------------------------------------------------------------


@fault("softmax", "float32", "sum_to_one", needs=("tuple_axes",), joint_axes=True)
def last_axis_of_joint_axes(x: np.ndarray, axis: int | tuple[int, ...] | None) -> np.ndarray:
    """Joint axes reduced to one: a tuple of axes normalized along its last entry only, and axis=None
    along the last axis (``axis[-1]``, or -1, handed on to a one-axis kernel): each joint slice then
    sums to the number of sub-slices, not 1."""
    one = -1 if axis is None else axis[-1] if isinstance(axis, tuple) else axis
    return _softmax(x, one)


@fault("log_softmax", "float32", "bounds")
def log_of_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """log(softmax(x)) for log-softmax: softmax underflows to 0 below about -104 and the log gives -inf."""
    return np.log(_softmax(x, axis))


@fault("log_softmax", "float32", "log_softmax_consistency")
def log_of_clipped_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """log(clip(softmax, 1e-12, 1)) to dodge log(0): log-probabilities floored at -27.6."""
    return np.log(np.clip(_softmax(x, axis), x.dtype.type(1e-12), x.dtype.type(1)))


@fault("log_softmax", "float32", "stability")
def unshifted_logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    """x - log(sum(exp(x))) with no max-shift: the sum overflows to inf and every output is -inf."""
    return x - np.log(sum_along(np.exp(x), axis))


@fault("log_softmax", "bfloat16", "precision")
def bfloat16_arithmetic(x: np.ndarray, axis: int) -> np.ndarray:
    """Everything in bfloat16, the sum of exponentials included: 8 significant bits lose the sum at once."""
    d = x - _max(x, axis)
    return d - np.log(_sequential_sum(np.exp(d), axis, BF16))


@fault("log_softmax", "float16", "shape_dtype")
def float32_result_for_half(x: np.ndarray, axis: int) -> np.ndarray:
    """Mixed precision that forgets the cast back: computed in float32 for float16 input, float32 returned."""
    d = _wide(x) - _wide(_max(x, axis))
    return d - np.log(sum_along(np.exp(d), axis))


# ---- sum-normalization -------------------------------------------------------------------------


@fault("sum_normalize", "float32", "sum_to_one")
def whole_array_sum(x: np.ndarray, axis: int) -> np.ndarray:
    """x / x.sum() without the axis: every slice divided by the total of the whole batch."""
    return (_f64(x) / _f64(x).sum()).astype(x.dtype)


@fault("sum_normalize", "float32", "shape_dtype")
def missing_keepdims(x: np.ndarray, axis: int) -> np.ndarray:
    """x / x.sum(axis) without keepdims: broadcasts along the wrong axis, or raises for most shapes."""
    return (_f64(x) / _f64(x).sum(axis)).astype(x.dtype)


@fault("sum_normalize", "float32", "precision")
def clamped_denominator(x: np.ndarray, axis: int) -> np.ndarray:
    """x / max(sum, 1e-12) as in F.normalize: a tiny but valid sum (subnormal inputs) is replaced by 1e-12."""
    return (_f64(x) / np.maximum(sum_along(_f64(x), axis), 1e-12)).astype(x.dtype)


@fault("sum_normalize", "float16", "precision")
def sequential_float16_sum(x: np.ndarray, axis: int) -> np.ndarray:
    """Sequential summation in float16: the running sum stalls at 2048 on long axes, overflows past 65504."""
    return (x / _sequential_sum(x, axis, np.dtype(np.float16))).astype(x.dtype)


@fault("sum_normalize", "float32", "stability")
def sum_overflows(x: np.ndarray, axis: int) -> np.ndarray:
    """The sum in the input dtype with no scaling: finite entries whose sum overflows give x / inf = 0."""
    return x / np.add.reduce(x, axis=axis, keepdims=True, dtype=x.dtype)


@fault("sum_normalize", "float32", "nan_propagation")
def nan_to_num_output(x: np.ndarray, axis: int) -> np.ndarray:
    """The output "sanitized" with nan_to_num: a NaN input gives zeros and finite values instead of NaN."""
    return np.nan_to_num(_sum_normalize(x, axis))


@fault(
    "sum_normalize",
    "float32",
    "precision",
)
def l1_norm_instead(x: np.ndarray, axis: int) -> np.ndarray:
    """x / sum(|x|) (an L1 normalization) for x / sum(x): the same on non-negative input, wrong with
    mixed signs."""
    return (_f64(x) / sum_along(np.abs(_f64(x)), axis)).astype(x.dtype)


# ---- the same computations without the mistake ---------------------------------------------------


def correct_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """exp(x - max) / sum in float32 (half types) or the dtype, rounded once: the faults' softmax, intact."""
    w = _wide(x)
    e = np.exp(w - _max(w, axis))
    return (e / sum_along(e, axis)).astype(x.dtype)


def correct_log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """d - log(sum(exp(d))), d = x - max, in float32 (half types) or the dtype, rounded once."""
    w = _wide(x)
    d = w - _max(w, axis)
    return (d - np.log(sum_along(np.exp(d), axis))).astype(x.dtype)


def _exact_softmax64(x: np.ndarray, axis: int) -> np.ndarray:
    """softmax in float64 (the backward passes' forward output; -inf entries give 0)."""
    w = _f64(x)
    e = np.exp(w - _max(w, axis))
    return e / sum_along(e, axis)


def correct_softmax_vjp(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """s * (g - sum(g * s)) in float64, rounded once."""
    s, g64 = _exact_softmax64(x, axis), _f64(g)
    return (s * (g64 - sum_along((g64 * s), axis))).astype(x.dtype)


def correct_log_softmax_vjp(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """g - s * sum(g) in float64, rounded once."""
    s, g64 = _exact_softmax64(x, axis), _f64(g)
    return (g64 - s * sum_along(g64, axis)).astype(x.dtype)


def correct_sum_normalize_vjp(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """(g - sum(g * y)) / S in float64, rounded once."""
    x64, g64 = _f64(x), _f64(g)
    total = sum_along(x64, axis)
    return ((g64 - sum_along((g64 * (x64 / total)), axis)) / total).astype(x.dtype)


correct_softmax.vjp = correct_softmax_vjp  # type: ignore[attr-defined]
correct_log_softmax.vjp = correct_log_softmax_vjp  # type: ignore[attr-defined]
_sum_normalize.vjp = correct_sum_normalize_vjp  # type: ignore[attr-defined]

# For each op, the fault-free computation its faults start from: it must pass where they fail, so
# that a fault is caught for its own mistake (tests/meta/test_planted_faults.py checks this). Each
# carries its correct backward pass as ``vjp`` (the gradient faults below replace only that).
CORRECT: dict[str, Callable[..., np.ndarray]] = {
    "softmax": correct_softmax,
    "log_softmax": correct_log_softmax,
    "sum_normalize": _sum_normalize,
}
# The same for the faults that claim a contract: the faithful computation of that contract.
CORRECT_FOR_CONTRACT: dict[Contract, Callable[..., np.ndarray]] = {
    OVER_T: correct_softmax_over_t,
    MASKED_API: correct_masked_softmax,
}


# ---- faults of one device or one execution mode: the CPU's eager path is right ------------------


def _tf32(x: np.ndarray) -> np.ndarray:
    """float32 rounded to TF32's 10 explicit mantissa bits (round to nearest, ties away)."""
    bits = np.array(x, dtype=np.float32).view(np.uint32)
    rounded = ((bits + np.uint32(1 << 12)) & np.uint32(0xFFFFE000)).view(np.float32)
    return np.where(np.isfinite(x), rounded, x).astype(np.float32).reshape(np.shape(x))


@fault("softmax", "float32", "device_consistency", device="cuda:0")
def tf32_on_the_gpu(x: np.ndarray, axis: int, device: str = "cpu") -> np.ndarray:
    """The GPU path rounds its inputs to TF32 (10 mantissa bits, as allow_tf32 does) before the exp:
    logits of magnitude 10 move by 2^-8, every output by hundreds of float32 ULPs; the CPU is right."""
    return correct_softmax(_tf32(x) if device != "cpu" and x.dtype == np.float32 else x, axis)


@fault("softmax", "float32", "compiled_consistency", eager=correct_softmax)
def fast_math_exp_when_compiled(x: np.ndarray, axis: int) -> np.ndarray:
    """The compiled graph uses a fast approximate exp (fast-math, 8 significant bits: exp rounded to
    bfloat16) where the eager mode calls the exact one: the compiled output drifts from eager's."""
    w = _wide(x)
    e = np.exp(w - _max(w, axis)).astype(BF16).astype(np.float32)
    return (e / sum_along(e, axis)).astype(x.dtype)


# ---- gradient faults: a correct forward pass with a wrong backward pass --------------------------


def gradient_fault(op: str, dtype: str, expected: str) -> Callable[[Callable], Callable]:
    """Register the backward pass ``vjp(x, g, axis)`` as a fault: the module-level name becomes the
    op's correct forward function carrying this ``vjp`` (importable by name, so repros work)."""

    def register(vjp: Callable) -> Callable:
        forward = CORRECT[op]

        def function(x: np.ndarray, axis: int) -> np.ndarray:
            return forward(x, axis)

        function.__name__ = function.__qualname__ = vjp.__name__
        function.__doc__ = vjp.__doc__
        function.vjp = vjp  # type: ignore[attr-defined]
        FAULTS.append(Fault(vjp.__name__, op, dtype, expected, function))
        return function

    return register


@gradient_fault("softmax", "float32", "grad_precision")
def backward_drops_normalization_term(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """softmax's backward as s * g: the - s * sum(g * s) term of the Jacobian diag(s) - s s^T is
    dropped (the gradient of exp alone)."""
    return (_exact_softmax64(x, axis) * _f64(g)).astype(x.dtype)


@gradient_fault("softmax", "float32", "grad_precision")
def cross_entropy_shortcut(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """softmax's backward as s - g, the gradient of cross-entropy with respect to the logits, used as
    if it were softmax's VJP: wrong for every cotangent (one-hot ones included)."""
    return (_exact_softmax64(x, axis) - _f64(g)).astype(x.dtype)


@gradient_fault("softmax", "float32", "grad_finite")
def backward_recomputes_unshifted(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """softmax's backward recomputes s as exp(x) / sum(exp(x)) without the max shift: large logits
    overflow to inf / inf = NaN in the gradient, though the forward pass was fine."""
    x32, g32 = x.astype(np.float32), g.astype(np.float32)
    with np.errstate(all="ignore"):
        e = np.exp(x32)
        s = e / sum_along(e, axis)
        return (s * (g32 - sum_along((g32 * s), axis))).astype(x.dtype)


@gradient_fault("softmax", "float32", "grad_precision")
def backward_strided_sum_one_term_at_a_time(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """softmax's backward along a non-last axis forms sum(g * s) in float32 by adding one term at a time
    to a running sum per column (the last axis sums pairwise): on 65,537 terms down the axis the
    gradient is hundreds of ULP of the term scale off. Only the backward pass's long array along
    axis 0 has such an axis; the forward pass is right."""
    s, g64 = _exact_softmax64(x, axis), _f64(g)
    if _non_last(x, axis):
        total = _sequential_sum(g64 * s, axis, np.dtype(np.float32)).astype(np.float64)
        return (s * (g64 - total)).astype(x.dtype)
    return (s * (g64 - sum_along(g64 * s, axis))).astype(x.dtype)


@gradient_fault("softmax", "float32", "grad_masked")
def backward_masks_by_multiplication(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """softmax's backward recomputes s from x * mask (mask = x > -inf): -inf * 0 is NaN, and the NaN
    spreads over the whole masked slice's gradient."""
    with np.errstate(all="ignore"):
        xm = _f64(x) * (_f64(x) > -np.inf)
        e = np.exp(xm - _max(xm, axis))
        s = e / sum_along(e, axis)
        g64 = _f64(g)
        return (s * (g64 - sum_along((g64 * s), axis))).astype(x.dtype)


@gradient_fault("log_softmax", "float32", "grad_precision")
def log_softmax_backward_identity(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """log-softmax's backward as g: the - s * sum(g) term of I - 1 s^T is dropped (the gradient of
    x - max, with the log-sum-exp treated as a constant)."""
    return g.copy()


@gradient_fault("log_softmax", "float32", "grad_sum_to_zero")
def log_softmax_backward_mean_for_sum(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """log-softmax's backward as g - s * mean(g): the mean where the sum belongs; the gradient no
    longer sums to zero."""
    s, g64 = _exact_softmax64(x, axis), _f64(g)
    return (g64 - s * g64.mean(axis, keepdims=True)).astype(x.dtype)


@gradient_fault("sum_normalize", "float32", "grad_precision")
def backward_treats_sum_as_constant(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """x / sum(x)'s backward as g / S: the sum is treated as a constant, the - sum(g * y) / S term of
    (I - y 1^T) / S is dropped."""
    return (_f64(g) / sum_along(_f64(x), axis)).astype(x.dtype)


@gradient_fault("softmax", "float16", "grad_precision")
def backward_float16_dot(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """softmax's backward with sum(g * s) accumulated sequentially in float16: each addition rounds
    to float16 and on long axes the running sum stops growing once its spacing exceeds the terms
    (shows from 100 elements with the all-ones cotangent, whose sum(g * s) is 1)."""
    s = _exact_softmax64(x, axis).astype(np.float16)
    g16 = g.astype(np.float16)
    terms = np.moveaxis(g16 * s, axis, -1)
    dot = np.zeros(terms.shape[:-1], dtype=np.float16)
    for k in range(terms.shape[-1]):
        dot = (dot + terms[..., k]).astype(np.float16)
    dot = np.expand_dims(dot, axis)
    return (s.astype(np.float32) * (g16.astype(np.float32) - dot.astype(np.float32))).astype(x.dtype)


# ---- an L1 normalization's backward pass (x / max(sum|x|, eps), as F.normalize(p=1)) -------------

L1_TORCH = Contract(L1_NORMALIZE, eps=1e-12)


def correct_l1_normalize(x: np.ndarray, axis: int) -> np.ndarray:
    """x / max(sum|x|, eps) in float64, rounded once (eps = 1e-12 rounded to x's dtype, as torch does)."""
    eps = float(np.array(1e-12, dtype=np.float64).astype(x.dtype).astype(np.float64))
    return (_f64(x) / np.maximum(sum_along(np.abs(_f64(x)), axis), eps)).astype(x.dtype)


def correct_l1_normalize_vjp(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """(g - sign(x) sum(g * y)) / D, D = max(sum|x|, eps); g / eps below the eps (D constant there)."""
    eps = float(np.array(1e-12, dtype=np.float64).astype(x.dtype).astype(np.float64))
    x64, g64 = _f64(x), _f64(g)
    abs_sum = sum_along(np.abs(x64), axis)
    below = abs_sum < eps
    total = np.where(below, eps, abs_sum)
    sign = np.where(below, 0.0, np.sign(x64))
    return ((g64 - sign * sum_along((g64 * (x64 / total)), axis)) / total).astype(x.dtype)


correct_l1_normalize.vjp = correct_l1_normalize_vjp  # type: ignore[attr-defined]


def l1_backward_of_sum_normalize(x: np.ndarray, axis: int) -> np.ndarray:
    """An L1 normalization whose backward pass is x / sum(x)'s, (g - sum(g * y)) / D: the derivative of
    sum|x| taken as 1 instead of sign(x), wrong wherever an entry is negative (the quotient-rule term
    has the wrong sign there)."""
    return correct_l1_normalize(x, axis)


def _l1_wrong_vjp(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    x64, g64 = _f64(x), _f64(g)
    total = sum_along(np.abs(x64), axis)
    return ((g64 - sum_along((g64 * (x64 / total)), axis)) / total).astype(x.dtype)


l1_backward_of_sum_normalize.vjp = _l1_wrong_vjp  # type: ignore[attr-defined]
FAULTS.append(
    Fault(
        "l1_backward_of_sum_normalize",
        "sum_normalize",
        "float32",
        "grad_precision",
        l1_backward_of_sum_normalize,
        contract=L1_TORCH,
    )
)
CORRECT_FOR_CONTRACT[L1_TORCH] = correct_l1_normalize


def by_name(name: str) -> Fault:
    """The fault called ``name``."""
    for f in FAULTS:
        if f.name == name:
            return f
    raise KeyError(name)
