"""Shared helpers for the tests: the repository's paths; for the tests of ``reference/``, dtypes,
bit patterns and mpmath ground truth; for the registry's tests, a failing check resolved against a
registry text (``resolve_failure``).

``ROOT`` is the one definition of the repository root (the tests live in ``tests/<area>/``, so no
test finds it from its own ``__file__``). Everything else here is independent of ``reference.ulp``
and ``reference.rounding``, so the tests can use it as ground truth for those modules.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import ml_dtypes
import mpmath
import numpy as np

from reference.dtypes import DtypeInfo, dtype_info

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
FLOAT_DTYPES: tuple[np.dtype, ...] = (
    np.dtype(np.float16),
    BFLOAT16,
    np.dtype(np.float32),
    np.dtype(np.float64),
)
DTYPE_IDS: tuple[str, ...] = ("float16", "bfloat16", "float32", "float64")
NUMPY_ULP_DTYPES: tuple[np.dtype, ...] = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))

MP_DPS = 60

_UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def claimed_bound(dtype: object) -> float:
    """The oracle's documented accuracy, in ULPs of the output dtype."""
    return 1.0 if dtype_info(dtype).name == "float64" else 0.5 + 1e-6


def is_finite(a: np.ndarray) -> np.ndarray:
    """np.isfinite for any of the four dtypes, without NaN-cast warnings."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(np.asarray(a).astype(np.float64))


def all_finite_sorted(dtype: object) -> np.ndarray:
    """Every finite value of a 16-bit dtype, ascending, with -0 dropped (so values are distinct)."""
    dt = np.dtype(dtype)
    assert dt.itemsize == 2
    values = np.arange(65536, dtype=np.uint16).view(dt)
    values = values[is_finite(values)]
    values = values[~((values.astype(np.float64) == 0) & np.signbit(values.astype(np.float64)))]
    return values[np.argsort(values.astype(np.float64), kind="stable")]


def random_finite(rng: np.random.Generator, dtype: object, size: int) -> np.ndarray:
    """Finite values with uniformly random bit patterns (every binade equally likely)."""
    dt = np.dtype(dtype)
    bits = rng.integers(0, 2 ** (8 * dt.itemsize), size=size * 2, dtype=np.uint64, endpoint=False)
    values = bits.astype(_UINT[dt.itemsize]).view(dt)
    values = values[is_finite(values)]
    return values[:size]


def from_ordinal(ordinals: np.ndarray, dtype: object) -> np.ndarray:
    """The float whose position on the number line is ``ordinal`` (0 is +0, 1 the smallest subnormal)."""
    dt = np.dtype(dtype)
    o = np.asarray(ordinals, dtype=np.int64)
    sign_bit = np.uint64(1) << np.uint64(8 * dt.itemsize - 1)
    bits = np.where(o < 0, np.abs(o).astype(np.uint64) | sign_bit, o.astype(np.uint64))
    return bits.astype(_UINT[dt.itemsize]).view(dt)


def to_floats(a: np.ndarray) -> list[float]:
    """Python floats, exactly (every value of the four dtypes is a float64)."""
    return np.asarray(a).astype(np.float64).ravel().tolist()


# ---------------------------------------------------------------------------
# mpmath ground truth


def exact_sum(values: list[float]) -> Fraction:
    """The exact sum of floats (every float is a dyadic rational)."""
    total = Fraction(0)
    # Summing integers over a common power-of-two denominator is much faster than Fractions.
    ratios = [v.as_integer_ratio() for v in values]
    if not ratios:
        return total
    den = max(d for _, d in ratios)
    return Fraction(sum(n * (den // d) for n, d in ratios), den)


def mp_from_fraction(f: Fraction) -> mpmath.mpf:
    return mpmath.mpf(f.numerator) / f.denominator


def mp_exact_ops(values: list[float]) -> dict[str, list[mpmath.mpf] | None]:
    """softmax, log_softmax and sum_normalize of one finite slice, at the current mpmath precision.

    ``sum_normalize`` is None when the exact sum is zero.
    """
    v = [mpmath.mpf(x) for x in values]
    m = max(v)
    d = [mpmath.fsub(x, m, exact=True) for x in v]
    e = [mpmath.exp(t) for t in d]
    # S = 1 + T with T the sum over all but the first maximum; log S = log1p(T) keeps
    # its relative accuracy when T is far below the working precision.
    first_max = d.index(0)
    rest = mpmath.fsum(t for i, t in enumerate(e) if i != first_max)
    s = 1 + rest
    log_s = mpmath.log1p(rest)
    total = exact_sum(values)
    sn = None if total == 0 else [x / mp_from_fraction(total) for x in v]
    return {"softmax": [t / s for t in e], "log_softmax": [t - log_s for t in d], "sum_normalize": sn}


def mp_spacing_exponent(y: mpmath.mpf, info: DtypeInfo) -> int:
    """k such that the ULP of ``info``'s format at the real value y is 2**k."""
    if y == 0:
        return info.min_exponent - info.precision + 1
    _, e = mpmath.frexp(y)  # y = m * 2**e, 0.5 <= |m| < 1, so floor(log2|y|) = e - 1
    return max(int(e) - 1, info.min_exponent) - info.precision + 1


def mp_ulp_error(got: float, y: mpmath.mpf, info: DtypeInfo) -> float:
    """|got - y| in ULPs of ``info``'s format at y, computed in mpmath.

    An infinite ``got`` is exact (error 0) when y is beyond the overflow threshold
    max + ulp(max)/2 with the same sign, and infinitely wrong otherwise.
    """
    if got != got:
        return float("inf")
    if got in (float("inf"), float("-inf")):
        threshold = mpmath.mpf(info.max) + mpmath.ldexp(1, info.max_exponent - info.precision)
        return 0.0 if (abs(y) >= threshold and (y > 0) == (got > 0)) else float("inf")
    err = abs(mpmath.mpf(got) - y)
    return float(mpmath.ldexp(err, -mp_spacing_exponent(y, info)))


def mp_round(y: mpmath.mpf, dtype: object) -> float:
    """y correctly rounded (nearest, ties to even) to ``dtype``, done independently in mpmath."""
    info = dtype_info(dtype)
    if y == 0:
        return 0.0
    q = mp_spacing_exponent(y, info)
    r = mpmath.ldexp(mpmath.nint(mpmath.ldexp(y, -q)), q)  # nint rounds halves to even
    if abs(r) > info.max:
        return float("inf") if r > 0 else float("-inf")
    return float(r)


def resolve_failure(judged, registry_text: str, check: dict, tmp_path: Path):
    """``conformance.known.resolve`` of a failing ``PropertyResult`` (``judged``: its failing inputs
    and their conditions) against a registry file holding ``registry_text``; ``check`` gives the
    check's framework, version, api, mode, dtype, device, op and prop."""
    from conformance.known import load_registry, resolve

    path = tmp_path / "k.toml"
    path.write_text(registry_text)
    kinds = {case: tuple(tuple(k) for k in v) for case, v in judged.failing_conditions.items()}
    return resolve(
        load_registry(path),
        "fail",
        failing_cases=tuple(judged.failing_cases),
        failing_conditions=kinds,
        **check,
    )


def lane_sequential_sum(terms: np.ndarray, lanes: int, threads: int = 1) -> np.ndarray:
    """``sum(terms, axis=-1, keepdims=True)`` in ``terms``' dtype as a vectorized CPU reduction adds a
    row (Inductor's, torch 2.13; ``tests/adapters/test_inductor_reductions.py`` checks it bit for bit):
    the vector loop (``lanes`` entries an iteration, the partial last one masked) split into
    ``threads`` contiguous runs (OpenMP's static schedule), one accumulator per lane and run adding
    its terms one at a time; then the runs' vectors in order, the masked tail's, and the lanes
    pairwise, halving."""
    terms = np.asarray(terms)
    dtype, n = terms.dtype, terms.shape[-1]
    full, rest = divmod(n, lanes)
    columns = terms[..., : full * lanes].reshape(*terms.shape[:-1], full, lanes)
    base, extra = divmod(full + (1 if rest else 0), threads)
    vector = np.zeros((*terms.shape[:-1], lanes), dtype)
    start = 0
    for t in range(threads):
        stop = min(start + base + (1 if t < extra else 0), full)  # the tail is no column
        if stop > start:
            run = np.add.accumulate(columns[..., start:stop, :], axis=-2, dtype=dtype)[..., -1, :]
            vector = (vector + run).astype(dtype)
        start = stop
    tail = np.zeros_like(vector)
    tail[..., :rest] = terms[..., full * lanes :]
    vector = (vector + tail).astype(dtype)  # the masked accumulator holds the tail alone: exact
    while vector.shape[-1] > 1:
        half = vector.shape[-1] // 2
        vector = (vector[..., :half] + vector[..., half:]).astype(dtype)
    return vector
