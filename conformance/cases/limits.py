"""The limits of the input space where a dtype or a kernel changes behaviour, and the cases crossing them.

Each ``Limit`` names one dimension of the input (length, trailing extent of a non-last axis, rank,
outer extent, layout, magnitude, spread) and says, for a ``Case`` in a dtype, whether the case
crosses the limit. ``coverage`` lists, per op, profile and dtype, the corpus cases (and the backward
pass's row lengths) that cross each limit; ``missing`` lists the (limit, op, profile, dtype) a
profile claims to test and no case crosses: the project's tests require it to be empty, so a limit
without a case, or a profile exclusion that drops the last case crossing one, fails them.

``docs/input-coverage.md`` is this module's output (``python -m conformance.cases.limits``), and a
test checks the file is current. Hypothesis batches are not counted here: their shapes are drawn, so
a limit is only covered when a curated case crosses it in every run.

The numerical assumption behind each limit is in its ``why``: float16 counts exactly up to 2,048
(bfloat16 to 256), a float16 sum of more than 65,504 ones overflows, vector and tile widths end at
powers of two, exp overflows above log(max) and underflows below log(smallest subnormal / 2). Two
rows ask the oracle (``reference``): whether an output is subnormal beyond the error model's
allowance, and whether a rewrite of the composite's x / T moves an output beyond it. Input classes
that live in how an API is called (a temperature, a mask, a dtype keyword) are ``API_VARIANTS``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from conformance.cases import AXIS_INT, AXIS_NONE, AXIS_TUPLE, Case
from conformance.cases.corpus import POWER_OF_TWO_EXPONENTS, corpus_cases
from conformance.profiles import PROFILES, Profile
from reference.axes import joint_last, normalize_axes
from reference.contracts import COMPOSITE_TEMPERATURE, Contract, with_contract
from reference.dtypes import dtype_from_name, dtype_info
from reference.error_model import allowed_error
from reference.oracle import exact
from reference.rounding import round_to_dtype

OPS = ("softmax", "log_softmax", "sum_normalize")
DTYPES = ("float16", "bfloat16", "float32", "float64")
ALL_PROFILES = tuple(PROFILES)
FLOAT16_MAX = 65_504
GRID_DIMENSION = 65_535  # the largest extent of a 16-bit (CUDA y/z) grid dimension

Predicate = Callable[[Case, str], bool]


def _length(case: Case) -> int:
    return case.length if case.x.size else 0


def _non_last(case: Case) -> bool:
    """One axis, not the last (a joint-axes case has its own limits: ``_joint_axes_limits``)."""
    return case.axis_form == AXIS_INT and case.x.ndim >= 2 and (case.axis % case.x.ndim) != case.x.ndim - 1


def trailing_extent(case: Case) -> int:
    """Elements after the normalized axis (1 along the last axis): the stride a kernel walks (for joint
    axes: after the last of them)."""
    if case.x.ndim == 0:
        return 1
    axis = max(normalize_axes(case.axis, case.x.ndim))
    return math.prod(case.x.shape[axis + 1 :])


def outer_extent(case: Case) -> int:
    """The number of slices (1-D or 0-d input: one)."""
    if case.x.ndim <= 1:
        return 1
    return case.x.size // max(case.length, 1)


def _finite(case: Case) -> np.ndarray:
    x = np.asarray(case.x, dtype=np.float64)
    return x[np.isfinite(x)]


def _has_subnormal(case: Case, dtype: str) -> bool:
    a = np.abs(_finite(case))
    return bool(np.any((a > 0) & (a < dtype_info(dtype_from_name(dtype)).tiny)))


def _abs_sum(case: Case) -> float:
    """The sum of |finite entries| in float64 (inf where even float64 overflows)."""
    with np.errstate(over="ignore"):
        return float(np.abs(_finite(case)).sum())


def _all_above_overflow(case: Case, dtype: str) -> bool:
    x = _finite(case)
    return x.size > 0 and float(x.min()) > dtype_info(dtype_from_name(dtype)).exp_overflow


def _all_below_underflow(case: Case, dtype: str) -> bool:
    x = _finite(case)
    return x.size > 0 and float(x.max()) < dtype_info(dtype_from_name(dtype)).exp_underflow


_JUDGED: dict[tuple, bool] = {}  # (predicate, op, case name, shape, dtype) -> crosses (oracle-based rows)


def _oracle_judged(
    kind: str, op: str, case: Case, dtype: str, judge: Callable[[np.ndarray, np.dtype], bool]
) -> bool:
    """An oracle-based predicate's answer, ``judge(x, dtype)`` on the case's input as its joint view
    (``reference.axes.joint_last``: normalized along the last axis), computed once per case and dtype
    (corpus cases are fixed), floating-point warnings silenced. False for an empty case or one whose
    input is not in ``dtype`` (the oracle rows need a float input)."""
    x = np.asarray(case.x)
    dt = dtype_from_name(dtype)
    if not x.size or x.dtype != dt:
        return False
    key = (kind, op, case.name, case.x.shape, case.axis, dtype)
    if key not in _JUDGED:
        with np.errstate(all="ignore"):
            _JUDGED[key] = judge(joint_last(x, case.axis), dt)
    return _JUDGED[key]


def _subnormal_output(op: str) -> Predicate:
    """Some correctly rounded output of ``op`` is a non-zero subnormal that 0 misses by more than the
    error model's allowance: a flush to zero there fails ``gradual_underflow`` (precision accepts it)."""

    def judge(x: np.ndarray, dt: np.dtype) -> bool:
        ex = exact(op, x, -1, dt)
        allowed = allowed_error(op, x, ex, -1, dt)
        rounded = round_to_dtype(np.asarray(ex, np.float64), dt).astype(np.float64)
        hit = (rounded != 0) & (np.abs(rounded) < dtype_info(dt).tiny) & (np.abs(ex) > allowed)
        return bool(np.any(hit))

    return lambda case, dtype: _oracle_judged("subnormal", op, case, dtype, judge)


_OVER_T = with_contract("softmax", Contract(temperature=COMPOSITE_TEMPERATURE))


def _temperature_rewrite_judge(x: np.ndarray, dt: np.dtype) -> bool:
    ex = exact(_OVER_T, x, -1, dt)
    q = round_to_dtype(np.asarray(x, np.float64) / COMPOSITE_TEMPERATURE, dt)
    allowed = allowed_error("softmax", q, ex, -1, dt)
    reciprocal = round_to_dtype(
        np.asarray(x, np.float64) * float(round_to_dtype(np.array(1 / COMPOSITE_TEMPERATURE), dt)), dt
    )
    rewrites = [reciprocal]
    if dt != np.float64:  # the unrounded quotient differs from round(x / T) only below float64
        rewrites.append(np.asarray(x, np.float64) / COMPOSITE_TEMPERATURE)
    for rewritten in rewrites:
        moved = exact("softmax", np.asarray(rewritten, np.float64), -1, np.float64)
        if np.any(np.abs(moved - ex) > allowed):
            return True
    return False


def _temperature_rewrite_visible(case: Case, dtype: str) -> bool:
    """softmax(x / T) with x / T rewritten (x * round(1 / T), or the quotient left unrounded as a
    contraction would) moves some output beyond the allowance of the exact softmax of round(x / T)."""
    return _oracle_judged("temperature", "softmax", case, dtype, _temperature_rewrite_judge)


@dataclass(frozen=True)
class Limit:
    """One place where behaviour changes: ``crosses(case, dtype)`` says whether a case crosses it.

    ``dtypes`` are those it applies to, ``ops`` the ops, ``profiles`` those that must have a case
    crossing it (every profile unless said), ``backward`` whether the backward pass's row lengths
    (``Profile.gradient_lengths``) must cross it too (length limits only).
    """

    name: str
    dimension: str
    why: str
    crosses: Predicate
    dtypes: tuple[str, ...] = DTYPES
    ops: tuple[str, ...] = OPS
    profiles: tuple[str, ...] = ALL_PROFILES
    backward_length: int | None = field(default=None)


def _repeated_term(case: Case) -> bool:
    """A slice (along the normalized axis) whose most common value fills at least 99% of it and not
    all of it."""
    if case.axis_form != AXIS_INT or case.x.size == 0:
        return False
    slices = np.moveaxis(case.x, case.axis, -1).reshape(-1, case.x.shape[case.axis])
    for row in slices:
        _, counts = np.unique(row, return_counts=True)
        if counts.size > 1 and counts.max() >= 0.99 * row.size:
            return True
    return False


def _length_above(n: int) -> Predicate:
    return lambda case, dtype: _length(case) > n


def _length_is(n: int) -> Predicate:
    return lambda case, dtype: _length(case) == n


def _wide_non_last(extent: int, regime: Callable[[Case, str], bool] | None = None) -> Predicate:
    def crosses(case: Case, dtype: str) -> bool:
        return _non_last(case) and trailing_extent(case) >= extent and (regime is None or regime(case, dtype))

    return crosses


def _power_of_two_limits() -> list[Limit]:
    limits = []
    for k in POWER_OF_TWO_EXPONENTS:
        for offset in (-1, 0, 1):
            n = 2**k + offset
            # quick keeps float16's exact-count edge (2^11 + 1) and the float16-max one (2^16 + 1)
            quick = (k, offset) in ((11, 1), (16, 1))
            limits.append(
                Limit(
                    f"length 2^{k}{offset:+d}" if offset else f"length 2^{k}",
                    "length",
                    f"a slice of {n:,} entries: vector widths, tiles and block reductions end at"
                    " powers of two",
                    _length_is(n),
                    profiles=ALL_PROFILES if quick else ("default", "thorough"),
                )
            )
    return limits


def _joint(case: Case) -> tuple[int, ...]:
    """The sorted non-negative axes of a tuple-axis case (``()`` for any other case)."""
    return normalize_axes(case.axis, case.x.ndim) if case.axis_form == AXIS_TUPLE else ()


# Joint axes (a tuple of axes, axis=None): only the APIs that accept them get these cases
# (``ApiSpec.axes``), and their coverage is counted over all cases, as for every limit.
_JOINT_AXES_LIMITS: tuple[Limit, ...] = (
    Limit(
        "tuple axes (contiguous)",
        "axis form",
        "adjacent axes normalized jointly: an implementation may reshape them into one without a copy",
        lambda case, dtype: (
            len(_joint(case)) > 1 and _joint(case)[-1] - _joint(case)[0] == len(_joint(case)) - 1
        ),
    ),
    Limit(
        "tuple axes (non-contiguous)",
        "axis form",
        "axes with another between them: a transpose (or a strided reduction) is needed, and normalizing"
        " over only some of the axes, or the last one, shows",
        lambda case, dtype: (
            len(_joint(case)) > 1 and _joint(case)[-1] - _joint(case)[0] != len(_joint(case)) - 1
        ),
    ),
    Limit(
        "tuple axes (negative)",
        "axis form",
        "negative entries in the tuple: an implementation that does not canonicalize them builds a wrong"
        " permutation",
        lambda case, dtype: case.axis_form == AXIS_TUPLE and any(a < 0 for a in case.axis),  # type: ignore[union-attr]
    ),
    Limit(
        "axis=None (2-D)",
        "axis form",
        "every axis of a matrix: one slice of all the entries",
        lambda case, dtype: case.axis_form == AXIS_NONE and case.x.ndim == 2,
    ),
    Limit(
        "axis=None (3-D)",
        "axis form",
        "every axis of a rank-3 array: one slice, read across every stride",
        lambda case, dtype: case.axis_form == AXIS_NONE and case.x.ndim >= 3,
    ),
)

LIMITS: tuple[Limit, ...] = (
    Limit(
        "exact count (float16)",
        "length",
        "more than 2,048 entries: a float16 counter or running sum of ones stops counting exactly",
        _length_above(2048),
        dtypes=("float16",),
        backward_length=2048,
    ),
    Limit(
        "exact count (bfloat16)",
        "length",
        "more than 256 entries: a bfloat16 counter or running sum of ones stops counting exactly",
        _length_above(256),
        dtypes=("bfloat16",),
        backward_length=256,
    ),
    Limit(
        "float16 max",
        "length",
        "more than 65,504 entries: a float16 sum of exp(0) = 1 (or of ones) overflows to inf",
        _length_above(FLOAT16_MAX),
        backward_length=FLOAT16_MAX,
    ),
    *_power_of_two_limits(),
    Limit("1-D input", "rank", "no batch axis: a kernel's 1-D path", lambda case, dtype: case.x.ndim == 1),
    *_JOINT_AXES_LIMITS,
    Limit(
        "non-last axis, trailing extent >= 32",
        "trailing extent",
        "a strided reduction wide enough for a vectorized kernel",
        _wide_non_last(32),
        profiles=("default", "thorough"),
    ),
    Limit(
        "non-last axis, trailing extent >= 64",
        "trailing extent",
        "a strided reduction over whole vector registers",
        _wide_non_last(64),
    ),
    Limit(
        "non-last axis, trailing extent >= 1,000",
        "trailing extent",
        "a strided reduction split into chunks",
        _wide_non_last(1000),
        profiles=("default", "thorough"),
    ),
    Limit(
        "non-last axis, logits above log(max)",
        "magnitude x trailing extent",
        "every entry above exp's overflow threshold along a wide (>= 32) non-last axis:"
        " an unshifted exp overflows",
        _wide_non_last(32, _all_above_overflow),
        ops=("softmax", "log_softmax"),
    ),
    Limit(
        "non-last axis, logits below exp underflow",
        "magnitude x trailing extent",
        "every entry below exp's underflow threshold along a wide (>= 32) non-last axis:"
        " an unshifted exp gives 0/0",
        _wide_non_last(32, _all_below_underflow),
        ops=("softmax", "log_softmax"),
    ),
    Limit(
        "outer extent > 65,535",
        "outer extent",
        "more slices than a 16-bit grid dimension holds",
        lambda case, dtype: outer_extent(case) > GRID_DIMENSION,
        profiles=("default", "thorough"),
    ),
    Limit(
        "long non-last axis (> 2,048)",
        "length x trailing extent",
        "more than 2,048 entries down a non-last axis: a strided reduction that accumulates down the"
        " axis one term at a time (NumPy's, Eigen's column sums) is sequential, not blocked, and a"
        " float16 running sum stops counting exactly (the backward pass has such an array too:"
        " Profile.gradient_long_non_last)",
        lambda case, dtype: _non_last(case) and _length(case) > 2048,
        profiles=("default", "thorough"),
    ),
    Limit(
        "one repeated term (> 2,048)",
        "spread",
        "a slice of more than 2,048 entries in which one value makes up all but a few: a sum that adds"
        " its terms one at a time (per vector lane) makes the same rounding error at every step, so its"
        " error grows with the length instead of averaging out (equal entries cannot show it: their"
        " exponentials are 1 and sum exactly)",
        lambda case, dtype: _length(case) > 2048 and _repeated_term(case),
    ),
    Limit(
        "trailing extent > 65,535",
        "trailing extent",
        "a non-last axis whose stride exceeds a 16-bit grid dimension",
        lambda case, dtype: _non_last(case) and trailing_extent(case) > GRID_DIMENSION,
        profiles=("default", "thorough"),
    ),
    Limit(
        "strided last axis",
        "layout",
        "a non-contiguous view along the normalized axis (a kernel that assumes unit stride)",
        lambda case, dtype: case.x.ndim >= 1 and not case.x.flags.c_contiguous and not _non_last(case),
    ),
    Limit(
        "exp overflow",
        "magnitude",
        "a maximum above log(max): an unshifted exp overflows",
        lambda case, dtype: (
            _finite(case).size > 0
            and float(_finite(case).max()) > dtype_info(dtype_from_name(dtype)).exp_overflow
        ),
        ops=("softmax", "log_softmax"),
    ),
    Limit(
        "exp underflow",
        "magnitude",
        "every entry below exp's underflow threshold: an unshifted exp gives 0/0",
        _all_below_underflow,
        ops=("softmax", "log_softmax"),
    ),
    Limit(
        "subnormal inputs",
        "magnitude",
        "subnormal entries: flushing them to zero changes sum-normalization",
        lambda case, dtype: _has_subnormal(case, dtype),
        ops=("sum_normalize",),
    ),
    Limit(
        "subnormal outputs (softmax)",
        "magnitude",
        "a correctly rounded output in the subnormal range that 0 misses by more than the allowance:"
        " only there is a flush to zero visible (gradual_underflow). Not bfloat16: a subnormal softmax"
        " output needs logits 87 apart, where bfloat16's error model allows about 97% of the output",
        _subnormal_output("softmax"),
        dtypes=("float16", "float32", "float64"),
        ops=("softmax",),
    ),
    Limit(
        "subnormal outputs (sum-normalization)",
        "magnitude",
        "a quotient x_i / sum(x) in the subnormal range that 0 misses by more than the allowance (the"
        " only way to see a bfloat16 flush to zero)",
        _subnormal_output("sum_normalize"),
        ops=("sum_normalize",),
    ),
    Limit(
        f"temperature rewrite visible (T = {COMPOSITE_TEMPERATURE:g})",
        "magnitude x temperature",
        f"softmax(x / T), T = {COMPOSITE_TEMPERATURE:g} (not a power of two): rewriting x / T as"
        " x * round(1 / T), or leaving the quotient unrounded (contraction), moves an output beyond"
        " the allowance of the exact softmax of round(x / T)",
        _temperature_rewrite_visible,
        ops=("softmax",),
    ),
    Limit(
        "sum overflow",
        "magnitude",
        "finite entries whose sum overflows the dtype",
        lambda case, dtype: _abs_sum(case) > dtype_info(dtype_from_name(dtype)).max,
        ops=("sum_normalize",),
    ),
)


@dataclass(frozen=True)
class ApiVariant:
    """An input class that lives in how an API is called, not in the corpus: every corpus case runs
    through ``apis`` (``framework: api`` names, as records show them), which the adapters declare
    with ``contract`` / ``source`` as said in ``how`` (``tests/cases/test_input_limits.py`` checks
    each against the adapters)."""

    name: str
    how: str
    apis: tuple[str, ...]


API_VARIANTS: tuple[ApiVariant, ...] = (
    ApiVariant(
        f"temperature not a power of two (T = {COMPOSITE_TEMPERATURE:g})",
        "softmax(x / T) in compiled modes, judged as the exact softmax of round(x / T) (contract"
        " temperature); see the limit 'temperature rewrite visible'",
        ("torch: softmax-x-over-T", "tensorflow: softmax-x-over-T", "jax: softmax-x-over-T"),
    ),
    ApiVariant(
        "large finite values under a mask",
        "mask = x != -inf with the dtype's largest finite value under it; masked outputs 0 / -inf and"
        " an all-False mask all 0 / all -inf (contract masked)",
        (
            "jax: nn.softmax-where",
            "jax: nn.log_softmax-where",
            "keras-jax: layers.Softmax-mask",
            "keras-torch: layers.Softmax-mask",
            "keras-tensorflow: layers.Softmax-mask",
        ),
    ),
    ApiVariant(
        "-inf under a mask",
        "the same masks with the -inf left under them (contract masked)",
        (
            "jax: nn.softmax-where-neginf",
            "jax: nn.log_softmax-where-neginf",
            "keras-jax: layers.Softmax-mask-neginf",
        ),
    ),
    ApiVariant(
        "mixed precision keyword (dtype=float32 on half input)",
        "F.softmax / F.log_softmax(x, dim, dtype=torch.float32) on float16 and bfloat16 input, judged in"
        " float32 (contract output_dtype)",
        ("torch: F.softmax-dtype-float32", "torch: F.log_softmax-dtype-float32"),
    ),
)

# Input classes issue 14 asks for that no case covers yet: listed in the generated page, never
# counted as covered.
OPEN_LIMITS: tuple[tuple[str, str], ...] = ()


def profile_cases(profile: Profile, dtype: str, op: str) -> list[Case]:
    """The corpus cases ``profile`` runs for ``op`` in ``dtype`` (special inputs excluded)."""
    return [c for c in corpus_cases(dtype, op) if not c.special and c.name not in profile.corpus_exclude]


@dataclass
class CoverageCell:
    """The cases of one (limit, op, profile) crossing the limit, per applicable dtype."""

    cases: dict[str, list[str]]
    backward: bool | None = None  # None: the limit has no backward requirement

    def missing_dtypes(self) -> list[str]:
        return [dtype for dtype, names in self.cases.items() if not names]


def coverage(profiles: dict[str, Profile] | None = None) -> dict[tuple[str, str, str], CoverageCell]:
    """(limit name, op, profile) -> the cases crossing it in each of the limit's dtypes (``profiles``:
    the named profiles to use instead of ``PROFILES``, for testing exclusions)."""
    profiles = PROFILES if profiles is None else profiles
    table: dict[tuple[str, str, str], CoverageCell] = {}
    memo: dict[tuple[str, str, str], list[Case]] = {}
    for limit in LIMITS:
        for op in limit.ops:
            for pname in limit.profiles:
                profile = profiles[pname]
                cases: dict[str, list[str]] = {}
                for dtype in limit.dtypes:
                    key = (pname, dtype, op)
                    if key not in memo:
                        memo[key] = profile_cases(profile, dtype, op)
                    cases[dtype] = [c.name for c in memo[key] if limit.crosses(c, dtype)]
                backward = None
                if limit.backward_length is not None:
                    backward = any(n > limit.backward_length for n in profile.gradient_lengths)
                table[(limit.name, op, pname)] = CoverageCell(cases, backward)
    return table


def missing(table: dict[tuple[str, str, str], CoverageCell] | None = None) -> list[str]:
    """Every (limit, op, profile, dtype) that a profile claims and no case crosses, in words."""
    table = coverage() if table is None else table
    gaps = []
    for (name, op, pname), cell in table.items():
        gaps += [f"{name}: {op}, {pname}, {dtype}: no case" for dtype in cell.missing_dtypes()]
        if cell.backward is False:
            gaps.append(f"{name}: {op}, {pname}: no backward row length crosses it")
    return gaps


def _cell_text(cell: CoverageCell) -> str:
    names = sorted({n for names in cell.cases.values() for n in names})
    shown = ", ".join(f"`{n}`" for n in names[:4]) + (f" +{len(names) - 4}" if len(names) > 4 else "")
    gaps = cell.missing_dtypes()
    text = shown or "—"
    if gaps:
        text += f" **missing: {', '.join(gaps)}**"
    if cell.backward is not None:
        text += "; backward ✓" if cell.backward else "; **backward missing**"
    return text


def coverage_markdown() -> str:
    """``docs/input-coverage.md``: every limit and the corpus cases crossing it, per op and profile."""
    table = coverage()
    lines = [
        "# Input coverage: the limits the inputs cross",
        "",
        "Generated by `python -m conformance.cases.limits > docs/input-coverage.md` from",
        "`conformance/cases/limits.py`; `tests/cases/test_input_limits.py` fails when this file is stale",
        "or a profile claims a limit that no case crosses. Cells list the corpus cases crossing the limit",
        "(in every dtype the limit applies to); *backward* says whether a row length of the backward",
        "pass (`Profile.gradient_lengths`) crosses it too. Hypothesis batches are not counted.",
        "",
        "| limit | dimension | dtypes | why |",
        "|---|---|---|---|",
    ]
    for limit in LIMITS:
        lines.append(f"| {limit.name} | {limit.dimension} | {', '.join(limit.dtypes)} | {limit.why} |")
    for op in OPS:
        lines += ["", f"## {op}", "", "| limit | " + " | ".join(ALL_PROFILES) + " |"]
        lines.append("|---|" + "---|" * len(ALL_PROFILES))
        for limit in LIMITS:
            if op not in limit.ops:
                continue
            cells = [
                _cell_text(table[(limit.name, op, p)]) if (limit.name, op, p) in table else "not claimed"
                for p in ALL_PROFILES
            ]
            lines.append(f"| {limit.name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## API variants",
        "",
        "Input classes in how an API is called: every corpus case runs through",
    ]
    lines += ["these APIs (checked against the adapters by the tests).", ""]
    lines += ["| input class | how | APIs |", "|---|---|---|"]
    lines += [f"| {v.name} | {v.how} | {', '.join(f'`{a}`' for a in v.apis)} |" for v in API_VARIANTS]
    lines += ["", "## Not covered yet", ""]
    if OPEN_LIMITS:
        lines += ["| input class | why not yet |", "|---|---|"]
        lines += [f"| {name} | {why} |" for name, why in OPEN_LIMITS]
    else:
        lines.append("Every input class listed above has a case in every profile that claims it.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(coverage_markdown(), end="")
