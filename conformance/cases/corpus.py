"""The curated corpus: named, deterministic inputs, each probing one known weakness.

Each generator takes the dtype name and a NumPy Generator (seeded from the
generator's name, so a case is the same in every run) and returns a list of
``(x, axis)`` pairs in that dtype. Its docstring's first line says what it
probes; that line is the case's description in records and reports.

Lengths are drawn from ``LENGTHS`` so that compiled modes (jax.jit,
tf.function with XLA), which compile once per shape, compile few times.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from conformance.cases import Case
from conformance.profiles import Profile
from reference.axes import Axis
from reference.dtypes import dtype_from_name, dtype_info
from reference.rounding import round_to_dtype

LENGTHS: tuple[int, ...] = (1, 2, 3, 5, 8, 16, 64, 256, 1024)
LONG_LENGTH = 30_000  # beyond 2048, the largest count float16 holds exactly

# A generator's cases: (x, axis); axis an int, or a tuple of ints / None (``tuple_axes`` only).
Generator = Callable[[str, np.random.Generator], list[tuple[np.ndarray, Axis]]]


@dataclass(frozen=True)
class CorpusEntry:
    name: str
    generate: Generator
    ops: tuple[str, ...]
    special: bool

    @property
    def description(self) -> str:
        return (self.generate.__doc__ or "").strip().splitlines()[0]


CORPUS: dict[str, CorpusEntry] = {}
ALL_OPS = ("softmax", "log_softmax", "sum_normalize")


def corpus_case(ops: tuple[str, ...] = ALL_OPS, special: bool = False) -> Callable[[Generator], Generator]:
    """Register a generator in the corpus under its function name."""

    def register(fn: Generator) -> Generator:
        CORPUS[fn.__name__] = CorpusEntry(fn.__name__, fn, ops, special)
        return fn

    return register


def _cast(values: np.ndarray, dtype: str) -> np.ndarray:
    """Round float64 values once into ``dtype`` (no double rounding for bfloat16)."""
    return round_to_dtype(np.asarray(values, dtype=np.float64), dtype_from_name(dtype))


def _rows(dtype: str, values: np.ndarray) -> list[tuple[np.ndarray, int]]:
    return [(_cast(np.atleast_2d(values), dtype), -1)]


@corpus_case()
def textbook(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """The worked example [1, 2, 4, 5, 6] and small hand-checkable vectors."""
    return _rows(dtype, np.array([[1, 2, 4, 5, 6], [0, 0, 0, 0, 1], [-1, 0, 1, 2, 3]], dtype=np.float64))


@corpus_case()
def normal_scales(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Gaussian logits at scales 1e-3, 1, 3 and 10: the everyday regime."""
    out = []
    for n in (16, 256):
        scales = np.array([1e-3, 1.0, 3.0, 10.0])[:, None]
        out += _rows(dtype, rng.standard_normal((4, n)) * scales)
    return out


@corpus_case()
def near_overflow(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Maxima just below and just above log(max) of the dtype, where an unshifted exp overflows."""
    thr = dtype_info(dtype_from_name(dtype)).exp_overflow
    rows = []
    for centre in (thr * 0.98, thr * 1.02, thr + 1.0):
        rows.append(centre - np.abs(rng.standard_normal(16)) * 2)
    return _rows(dtype, np.array(rows))


@corpus_case()
def beyond_overflow(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Magnitudes far beyond the exp overflow threshold (10x, 1e4, a quarter of the dtype's max)."""
    info = dtype_info(dtype_from_name(dtype))
    rows = []
    for mag in (10 * info.exp_overflow, min(1e4, info.max / 8), info.max / 4):
        rows.append(mag * (1 - np.abs(rng.standard_normal(16)) * 1e-2))
    rows.append(np.linspace(info.max / 4, info.max / 8, 16))
    return _rows(dtype, np.array(rows))


@corpus_case()
def very_negative(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """All logits far below the exp underflow threshold, where an unshifted exp gives 0/0."""
    info = dtype_info(dtype_from_name(dtype))
    rows = [-(2 * abs(info.exp_underflow)) - np.abs(rng.standard_normal(16)) * 3]
    rows.append(-min(1e4, info.max / 8) + rng.standard_normal(16))
    return _rows(dtype, np.array(rows))


@corpus_case()
def near_ties(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Entries a few ULPs apart, and exact ties, including a tie at the maximum."""
    ulp_at_one = 2 * dtype_info(dtype_from_name(dtype)).unit_roundoff
    near = 1.0 + ulp_at_one * np.arange(8)
    rows = [near, np.full(8, 3.0), np.array([5.0, 5.0, 1, 2, 3, 4, 0, -1]), near * 100]
    return _rows(dtype, np.array(rows))


@corpus_case()
def one_element(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Slices of length one (softmax is exactly 1, log-softmax exactly 0)."""
    return _rows(dtype, np.array([[0.0], [-3.5], [1e3], [42.0]]))


@corpus_case()
def size1_axes(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """A size-1 axis in the middle of a 3-D array, normalized along it and along its neighbour."""
    x = _cast(rng.standard_normal((2, 1, 5)), dtype)
    return [(x, 1), (x, -1)]


@corpus_case()
def long_axis(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """30,000-element slices: more terms than float16 can count; equal, uniform and Gaussian entries,
    and one repeated term (``repeated_term_row``)."""
    n = LONG_LENGTH
    rows = np.stack([np.zeros(n), rng.random(n), rng.standard_normal(n) * 3, repeated_term_row(n)])
    return _rows(dtype, rows)


def repeated_term_row(n: int) -> np.ndarray:
    """``n`` entries of 0.9 but one 1.0 (at ``n // 3``): every sum over the slice adds one value
    (0.9, or exp(-0.1) after softmax's shift) n - 1 times.

    A sum that adds its terms one at a time (per vector lane) then makes the same rounding error at
    every step of a long stretch, so its error grows with the length instead of averaging out as it
    does over random terms: this is where a sequential accumulator shows most. A slice of equal
    entries cannot show it (its exponentials are all 1, whose sums are exact), nor can Gaussian
    entries as clearly (their rounding errors partly cancel)."""
    row = np.full(n, 0.9)
    row[n // 3] = 1.0
    return row


@corpus_case()
def non_last_axes(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """3-D and 4-D inputs normalized along first, middle and negative axes."""
    x3 = _cast(rng.standard_normal((3, 4, 5)) * 4, dtype)
    x4 = _cast(rng.standard_normal((2, 3, 4, 5)) * 4, dtype)
    return [(x3, 0), (x3, 1), (x3, -2), (x4, 1), (x4, -3), (x4, 2)]


@corpus_case()
def transposed(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Non-contiguous (transposed) views, normalized along the now-strided axis."""
    base = _cast(rng.standard_normal((6, 16)) * 5, dtype)
    base3 = _cast(rng.standard_normal((4, 5, 6)) * 5, dtype)
    return [(base.T, 0), (base.T, -1), (np.transpose(base3, (2, 0, 1)), 0)]


# ---- inputs from limits (conformance.cases.limits lists the limits each of these crosses) ------

FLOAT16_MAX_LENGTH = 65_537  # 2^16 + 1 entries: beyond 65,504, so a float16 sum of ones overflows
POWER_OF_TWO_EXPONENTS: tuple[int, ...] = (5, 6, 8, 11, 12, 16, 17)
WIDE_TRAILING_EXTENTS: tuple[int, ...] = (32, 64, 1000)
LARGE_OUTER_EXTENT = 65_537  # more slices than a 16-bit grid dimension (65,535) holds
LONG_NON_LAST_LENGTH = 65_537  # down a non-last axis: a running sum that walks it sees every term


def _logit_regimes(dtype: str, rng: np.random.Generator, shape: tuple[int, ...]) -> list[np.ndarray]:
    """Gaussian logits in three regimes, each crossing a limit of exp in ``dtype``: everyday (scale
    4), very large (every entry above log(max), so an unshifted exp overflows) and very negative
    (every entry below the exp underflow threshold, so an unshifted exp gives 0/0)."""
    info = dtype_info(dtype_from_name(dtype))
    g = rng.standard_normal(shape)
    return [
        _cast(g * 4, dtype),
        _cast(1.5 * info.exp_overflow + np.abs(g), dtype),
        _cast(-2.0 * abs(info.exp_underflow) - np.abs(g), dtype),
    ]


@corpus_case()
def one_d(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """1-D inputs (no batch axis) of 5, 64 and 1,000 entries, along axis 0 and -1."""
    values = rng.standard_normal(1000) * 4
    return [(_cast(values[:5], dtype), 0), (_cast(values[:64], dtype), -1), (_cast(values, dtype), -1)]


@corpus_case()
def beyond_float16_max(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Slices of 65,537 entries, beyond float16's largest finite 65,504: a float16 sum of exp(0) = 1
    (or, for sum-normalization, of ones) overflows; equal entries, small Gaussian ones and one
    repeated term (``repeated_term_row``)."""
    n = FLOAT16_MAX_LENGTH
    return _rows(dtype, np.stack([np.zeros(n), rng.standard_normal(n) * 0.25, repeated_term_row(n)]))


@corpus_case()
def power_of_two_lengths(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Lengths 2^k - 1, 2^k and 2^k + 1 (k in 5, 6, 8, 11, 12, 16, 17), where vector widths, tiles and
    float16's (2,048) and bfloat16's (256) exact counts end; Gaussian logits at scale 3."""
    out = []
    for k in POWER_OF_TWO_EXPONENTS:
        for n in (2**k - 1, 2**k, 2**k + 1):
            out += _rows(dtype, rng.standard_normal((1, n)) * 3)
    return out


@corpus_case()
def wide_non_last_axes(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Non-last axes with 32, 64 and 1,000 trailing elements (where vectorized strided kernels take
    over), in everyday, very large and very negative logits (shapes (5, E) along 0, (3, 7, E) along 1)."""
    out = []
    for extent in WIDE_TRAILING_EXTENTS:
        shape, axis = ((5, extent), 0) if extent != 64 else ((3, 7, extent), 1)
        out += [(x, axis) for x in _logit_regimes(dtype, rng, shape)]
    return out


@corpus_case()
def large_outer_extent(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """65,537 slices of 3 entries, along the last axis and along axis 0 of the transposed shape (a
    trailing extent of 65,537): more slices than a 16-bit grid dimension holds."""
    x = _cast(rng.standard_normal((LARGE_OUTER_EXTENT, 3)) * 4, dtype)
    return [(x, -1), (np.ascontiguousarray(x.T), 0)]


@corpus_case()
def long_non_last_axis(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """65,537 entries down axis 0 of a (65,537, 3) array: a strided reduction that accumulates down the
    axis term after term (not pairwise, not in float32 for half types) loses what a blocked sum keeps.
    Columns: uniform [0, 1), exponential (mean 1/2; both sum to about 32,768, below float16's max) and
    Gaussian at scale 3."""
    n = LONG_NON_LAST_LENGTH
    columns = np.stack([rng.random(n), rng.exponential(0.5, n), rng.standard_normal(n) * 3], axis=-1)
    return [(_cast(columns, dtype), 0)]


@corpus_case(ops=("softmax", "log_softmax"))
def temperature(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Large logits divided by a small temperature (x / T in the dtype), as in sampling."""
    info = dtype_info(dtype_from_name(dtype))
    logits = _cast(rng.standard_normal((3, 64)) * min(50.0, info.max / 1e3), dtype)
    rows = []
    for t in (0.5, 0.1, 0.01):
        scaled = np.clip(logits.astype(np.float64) / t, -info.max, info.max)
        rows.append(scaled)
    return _rows(dtype, np.concatenate(rows))


@corpus_case()
def subnormal_inputs(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Subnormal entries (and zeros): flush-to-zero of inputs changes sum-normalization."""
    info = dtype_info(dtype_from_name(dtype))
    k = rng.integers(1, 16, size=(2, 8)).astype(np.float64)
    return _rows(dtype, k * info.smallest_subnormal)


@corpus_case(ops=("softmax", "log_softmax"))
def subnormal_outputs(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Spreads that put some outputs in the subnormal range and some below it."""
    info = dtype_info(dtype_from_name(dtype))
    lo = np.log(info.tiny)
    row = np.concatenate([[0.0], np.linspace(lo + 2, info.exp_underflow - 2, 15)])
    return _rows(dtype, np.stack([row, row[::-1]]))


@corpus_case(ops=("sum_normalize",))
def subnormal_ratios(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Normal entries whose ratios to the sum are subnormal: a large entry M and small ones M * tiny * c.

    Every entry is normal, so only the outputs x_i / S (about tiny * c, c in [1/64, 3/4]) are
    subnormal, with enough significant bits that 0 misses them by more than the allowance in every
    dtype, bfloat16 included (softmax cannot do that in bfloat16: a subnormal softmax output needs
    x_i - max < -87, where the error model allows about 97% of the output).
    """
    info = dtype_info(dtype_from_name(dtype))
    big = 2.0 ** (np.floor(np.log2(info.max)) // 2)  # M: a power of two, the sum stays finite
    c = np.array([0.75, 0.5, 0.375, 0.25, 0.125, 1 / 16, 1 / 64])
    rows = [
        np.concatenate([[big], big * info.tiny * c]),
        np.concatenate([big * info.tiny * c[::-1], [big / 2]]),
    ]
    return _rows(dtype, np.stack(rows))


@corpus_case(ops=("sum_normalize",))
def nonnegative_ranges(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Non-negative entries: uniform, exponential, and spanning six decades."""
    rows = np.stack([rng.random(64) + 0.01, rng.exponential(size=64), 10.0 ** rng.uniform(-3, 3, 64)])
    return _rows(dtype, rows)


@corpus_case(ops=("sum_normalize",))
def cancelling_sums(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Mixed signs with a non-zero sum: the result leaves [0, 1] and the sum is ill-conditioned."""
    rows = rng.standard_normal((3, 16))
    rows[:, 0] += 5.0  # keeps the exact sum well away from zero
    return _rows(dtype, rows)


@corpus_case(ops=("sum_normalize",))
def sum_overflow(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Finite entries whose sum overflows the dtype, though every quotient is representable."""
    info = dtype_info(dtype_from_name(dtype))
    return _rows(dtype, np.full((1, 8), info.max / 4) * (1 - rng.random((1, 8)) * 0.1))


# ---- joint axes: a tuple of axes, and axis=None (only for the APIs that accept them) -------------

TUPLE_AXES: tuple[tuple[tuple[int, ...], tuple[int, ...] | None], ...] = (
    ((3, 4, 5), (1, 2)),  # a contiguous pair of trailing axes
    ((3, 4, 5), (0, 2)),  # a non-contiguous pair
    ((3, 4, 5), (-1, -2)),  # negative entries, listed last axis first
    ((4, 6), None),  # every axis of a 2-D array
    ((2, 3, 4), None),  # every axis of a 3-D array
)


@corpus_case()
def tuple_axes(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, tuple[int, ...] | None]]:
    """Joint axes: a tuple of axes (trailing pair, non-contiguous pair, negative entries) and axis=None
    on 2-D and 3-D arrays, with a different offset per index of every axis, so that normalizing over
    the wrong axes (or over the last one only) moves every output."""
    out: list[tuple[np.ndarray, tuple[int, ...] | None]] = []
    for shape, axis in TUPLE_AXES:
        offsets = sum(
            np.arange(n).reshape([n if i == d else 1 for i in range(len(shape))]) * (0.75 + 0.5 * d)
            for d, n in enumerate(shape)
        )
        values = 0.25 + 2.0 * rng.random(shape) + offsets  # positive: a well-conditioned sum too
        out.append((_cast(values, dtype), axis))
    return out


# ---- special values: observed and classified (the semantics table) ----------------------------


def _special(dtype: str, rows: list[list[float]]) -> list[tuple[np.ndarray, int]]:
    return [(_cast(np.array(r, dtype=np.float64)[None, :], dtype), -1) for r in rows]


@corpus_case(special=True)
def nan_entry(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """A NaN in the slice, first and not first (a max that skips a later NaN): the whole slice must be NaN."""
    return _special(dtype, [[np.nan, 1.0, 2.0], [1.0, np.nan, 2.0]])


@corpus_case(special=True)
def posinf_entry(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """+inf entries: in the limit they share the mass equally."""
    return _special(dtype, [[np.inf, 1.0, 2.0], [np.inf, np.inf, 0.0]])


@corpus_case(special=True)
def neginf_entry(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Some -inf entries (a mask): they get 0, the rest is normalized without them."""
    return _special(dtype, [[-np.inf, 0.0, 1.0]])


@corpus_case(special=True)
def all_neginf(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Every entry -inf (a fully masked row): undefined for softmax."""
    return _special(dtype, [[-np.inf, -np.inf, -np.inf]])


@corpus_case(ops=("sum_normalize",), special=True)
def zero_sum(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """A slice whose sum is exactly zero: undefined for sum-normalization."""
    return _special(dtype, [[0.0, 0.0, 0.0], [1.0, -1.0, 0.0]])


@corpus_case(ops=("sum_normalize",), special=True)
def negative_entries(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Negative entries with a positive sum: defined, but outside [0, 1]."""
    return _special(dtype, [[-1.0, 2.0, 3.0]])


@corpus_case(special=True)
def size1_slice(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """A single-element slice along a size-1 axis."""
    return _special(dtype, [[5.0]])


@corpus_case(special=True)
def empty(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """An axis of length zero: the output must be empty, of the same shape."""
    return [(np.zeros((2, 0), dtype=dtype_from_name(dtype)), -1)]


@corpus_case(special=True)
def zero_d(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """A 0-d array: one implicit element."""
    return [(_cast(np.array(2.0), dtype), -1)]


@corpus_case(special=True)
def integer_input(dtype: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """An int64 array: the oracle computes in float64; frameworks may reject it."""
    return [(np.array([[1, 2, 4, 5, 6]], dtype=np.int64), -1)]


def corpus_cases(dtype: str, op: str, names: tuple[str, ...] | None = None) -> list[Case]:
    """Every corpus case for ``op`` in ``dtype`` (optionally only the named generators)."""
    cases: list[Case] = []
    for entry in CORPUS.values():
        if op not in entry.ops or (names is not None and entry.name not in names):
            continue
        rng = np.random.default_rng(zlib.crc32(f"{entry.name}/{dtype}".encode()))
        for i, (x, axis) in enumerate(entry.generate(dtype, rng)):
            cases.append(Case(f"{entry.name}[{i}]", x, axis, entry.description, entry.special))
    return cases


def profile_corpus(dtype: str, op: str, profile: Profile) -> list[Case]:
    """The corpus cases ``profile`` judges for ``op`` in ``dtype``: less its ``corpus_exclude``
    and, without ``long_axis``, the ``LONG_LENGTH`` row (every axis form; callers keep the forms
    the API accepts)."""
    return [
        c
        for c in corpus_cases(dtype, op)
        if c.name not in profile.corpus_exclude and (profile.long_axis or c.length != LONG_LENGTH)
    ]
