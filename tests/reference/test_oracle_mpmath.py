"""The oracle against mpmath at 60 digits.

Claim under test (``reference/oracle.py``): the oracle's output is within
``0.5 + 1e-6`` ULP of the exact value for float16, bfloat16 and float32 outputs,
and within 1 ULP for float64 outputs, for softmax, log-softmax and
sum-normalization, ULPs of the output dtype taken at the exact value.

The exact value is computed in mpmath from the exactly converted input
(``mpmath.mpf(float(v))`` is exact for all four dtypes); sum-normalization uses
the exact rational sum. The error is computed in mpmath too
(``helpers.mp_ulp_error``). The corpus is seeded, about 14,300 vectors: random
slices at scales 1e-3..1e3 and adversarial ones (near-ties, exact ties,
magnitudes at and far beyond each dtype's exp overflow threshold, underflowing
elements and subnormal outputs, integer inputs, cancelling sums, long slices,
inputs of another dtype with ``dtype=``). A smaller Hypothesis part adds
property-based examples, and a reduced corpus runs through the mpmath fallback
used for float64 outputs where ``longdouble`` is only float64.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import mpmath
import numpy as np
import pytest
from helpers import (
    BFLOAT16,
    DTYPE_IDS,
    FLOAT_DTYPES,
    MP_DPS,
    claimed_bound,
    from_ordinal,
    mp_exact_ops,
    mp_ulp_error,
    to_floats,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference.oracle as oracle
from reference.dtypes import dtype_info, dtype_name

SEED = 20250611
OPS = oracle.OPS


# ---------------------------------------------------------------------------
# the corpus


def _length(rng: np.random.Generator) -> int:
    """Mostly short slices (mean about 10), every length 1..64 possible."""
    return int(min(64, 1 + math.floor(rng.exponential(9.0))))


def _ordinal(a: np.ndarray) -> np.ndarray:
    bits = a.view({2: np.int16, 4: np.int32, 8: np.int64}[a.dtype.itemsize]).astype(np.int64)
    mag = bits & ((1 << (8 * a.dtype.itemsize - 1)) - 1)
    return np.where(bits < 0, -mag, mag)


@dataclass
class Case:
    category: str
    x: np.ndarray  # 1-D input, any dtype the oracle accepts
    out: np.dtype  # the output dtype asked for


def _cast(values: np.ndarray, dt: np.dtype) -> np.ndarray | None:
    with np.errstate(over="ignore", invalid="ignore"):
        x = np.asarray(values, dtype=np.float64).astype(dt)
    return x if np.all(np.isfinite(x.astype(np.float64))) else None


def generate_corpus(dt: np.dtype, rng: np.random.Generator) -> list[Case]:
    info = dtype_info(dt)
    thr = info.exp_overflow
    und = info.exp_underflow  # negative
    cases: list[Case] = []

    def add(category: str, values: np.ndarray) -> None:
        x = _cast(values, dt)
        if x is not None and x.size:
            cases.append(Case(category, x, dt))

    # 1. random normal slices, scale 1e-3..1e3, sometimes offset
    for _ in range(1200):
        n, scale = _length(rng), 10 ** rng.uniform(-3, 3)
        add("normal", rng.normal(0, scale, n) + rng.integers(0, 2) * rng.normal(0, 10 * scale))
    for n in range(1, 65):  # every length at least once
        add("normal", rng.normal(0, 1, n))

    # 2. near-ties: x + k ulp
    for _ in range(250):
        n = max(2, _length(rng))
        base = _cast(rng.normal(0, 10 ** rng.uniform(-2, 2), 1), dt)
        if base is None:
            continue
        k = rng.integers(-3, 4, n)
        add("near_ties", from_ordinal(_ordinal(base) + k, dt).astype(np.float64))

    # 3. exact ties: a few distinct values repeated, including all-equal slices
    for i in range(200):
        n = max(2, _length(rng))
        distinct = rng.normal(0, 10 ** rng.uniform(-2, 2), 1 if i % 4 == 0 else rng.integers(2, 4))
        add("exact_ties", rng.choice(distinct, n))

    # 4. around the exp overflow threshold of the dtype
    for i in range(250):
        n = _length(rng)
        x = thr + rng.uniform(-3, 3, n)
        if i % 3 == 1:
            x = x * rng.choice([-1.0, 1.0], n)
        elif i % 3 == 2:
            x = np.where(rng.random(n) < 0.5, x, rng.normal(0, 3, n))
        if i % 5 == 0:
            x[0] = thr
        add("near_overflow", x)

    # 5. far beyond the threshold (1e4, 1e30, 1e300, max where finite in the dtype)
    pool = [1e4, 1e30, 1e300, 2 * thr, 10 * thr, info.max, info.max / 2, info.max / 3]
    pool = [p for p in pool if p <= info.max]
    for i in range(250):
        n = _length(rng)
        x = rng.choice(pool, n) * rng.choice([-1.0, 1.0], n) * rng.uniform(0.5, 1.0, n) ** (i % 2)
        x = np.where(rng.random(n) < 0.3, rng.normal(0, 10, n), x)
        add("far_beyond", x)

    # 6. underflowing elements: shifted values around the underflow threshold
    for i in range(300):
        n = max(2, _length(rng))
        top = rng.normal(0, 5) if i % 2 else 0.0
        x = top + und + rng.uniform(-12, 12, n)
        x[rng.integers(0, n)] = top
        if i % 3 == 0:  # elements spread over the whole range of useful exponents
            x = top - rng.uniform(0, -und + 10, n)
            x[0] = top
        add("underflow", x)

    # 6b. shifts x - max that are inexact even in the working precision: a small max
    # with a full significand and elements deep in the underflow range
    for _ in range(100):
        n = max(2, _length(rng))
        x = -rng.uniform(-0.8 * und, -und, n)
        x[0] = rng.uniform(0.01, 1.0)
        add("inexact_shift", x)

    # 7. spreads that put softmax / sum-normalization outputs in the subnormal range
    log_tiny = math.log(info.tiny)
    for i in range(200):
        n = max(2, _length(rng))
        if i % 2 == 0:
            x = rng.uniform(und, log_tiny, n)
            x[0] = 0.0
            add("subnormal_out", x)
        else:
            small = from_ordinal(rng.integers(1, 2 ** (info.precision + 2), n), dt).astype(np.float64)
            small = small * rng.choice([-1.0, 1.0], n)
            small[0] = rng.choice([1.0, 2.0 ** rng.integers(0, 6), info.tiny * 2 ** rng.integers(0, 20)])
            add("subnormal_out", small)

    # 8. integer-valued floats
    for _ in range(150):
        n = _length(rng)
        add("integer_valued", np.round(rng.normal(0, 10 ** rng.uniform(0, 3), n)))

    # 9. cancelling sums for sum-normalization (exact sum non-zero)
    for i in range(300):
        n = max(2, _length(rng))
        v = _cast(rng.normal(0, 10 ** rng.uniform(-2, 3), n - 1), dt)
        if v is None:
            continue
        s = float(np.sum(v.astype(np.float64)))
        if i % 2:
            last = -s  # rounds to the dtype: the sum becomes a few ulp or exactly 0
        else:
            last = -s * (1 + rng.choice([-1, 1]) * 10 ** rng.uniform(-6, -1))
        add("cancelling", np.append(v.astype(np.float64), last))

    # 10. long slices
    for i in range(2):
        n = int(rng.integers(1000, 5001))
        x = rng.normal(0, 1, n) if i == 0 else rng.normal(0, 30, n) * (rng.random(n) < 0.9)
        add("long", x)

    # 11. integer input arrays with dtype=dt
    for i in range(150):
        n = _length(rng)
        int_dt = [np.int64, np.int32, np.int16, np.uint8][i % 4]
        lo = 0 if int_dt is np.uint8 else -1000
        hi = 256 if int_dt is np.uint8 else 1000
        cases.append(Case("integer_input", rng.integers(lo, hi, n).astype(int_dt), dt))

    # 12. input of another float dtype, output dt through dtype=
    others = [o for o in FLOAT_DTYPES if o != dt]
    for i in range(150):
        n = _length(rng)
        src = others[i % 3]
        x = _cast(rng.normal(0, 10 ** rng.uniform(-2, 2), n), src)
        if x is not None:
            cases.append(Case("cross_dtype", x, dt))
    return cases


def full_corpus() -> list[Case]:
    rng = np.random.default_rng(SEED)
    return [case for dt in FLOAT_DTYPES for case in generate_corpus(dt, rng)]


# ---------------------------------------------------------------------------
# evaluation against mpmath


@dataclass
class Worst:
    error: float = -1.0
    case: Case | None = None
    index: int = -1
    got: float = 0.0
    exact: str = ""


@dataclass
class Measured:
    n_vectors: int = 0
    n_elements: int = 0
    lengths: set = field(default_factory=set)
    categories: dict = field(default_factory=lambda: defaultdict(int))
    worst: dict = field(default_factory=lambda: defaultdict(Worst))  # (dtype name, op) -> Worst
    zero_sum_not_nan: list = field(default_factory=list)


def measure(cases: list[Case]) -> Measured:
    result = Measured()
    groups: dict[tuple, list[Case]] = defaultdict(list)
    for case in cases:
        groups[(case.x.dtype, case.out, case.x.size)].append(case)
    with mpmath.workdps(MP_DPS):
        for (_, out, _), group in groups.items():
            info = dtype_info(out)
            batch = np.stack([c.x for c in group])
            outputs = {op: oracle.evaluate(op, batch, axis=-1, dtype=out) for op in OPS}
            for op in OPS:
                assert outputs[op].dtype == out and outputs[op].shape == batch.shape
            for r, case in enumerate(group):
                result.n_vectors += 1
                result.n_elements += case.x.size
                result.lengths.add(case.x.size)
                result.categories[(info.name, case.category)] += 1
                exact = mp_exact_ops(to_floats(case.x))
                for op in OPS:
                    got = to_floats(outputs[op][r])
                    if exact[op] is None:  # sum-normalization of an exact zero sum: NaN
                        if not all(math.isnan(g) for g in got):
                            result.zero_sum_not_nan.append((case, got))
                        continue
                    worst = result.worst[(info.name, op)]
                    for i, (g, y) in enumerate(zip(got, exact[op], strict=True)):
                        err = mp_ulp_error(g, y, info)
                        if err > worst.error:
                            worst.error, worst.case, worst.index, worst.got = err, case, i, g
                            worst.exact = mpmath.nstr(y, 25)
    return result


@pytest.fixture(scope="module")
def measured() -> Measured:
    return measure(full_corpus())


def _describe(w: Worst) -> str:
    c = w.case
    x = np.array2string(c.x, precision=20, threshold=20) if c is not None else "?"
    return (
        f"max error {w.error!r} ULP at element {w.index}: got {w.got!r}, exact {w.exact}; "
        f"category {c.category if c else '?'}, input {c.x.dtype if c else '?'} {x}"
    )


def test_corpus_is_large_and_varied(measured: Measured) -> None:
    assert measured.n_vectors >= 10_000
    assert set(range(1, 65)) <= measured.lengths
    assert max(measured.lengths) >= 1000
    for name in DTYPE_IDS:
        for category in (
            "near_overflow",
            "far_beyond",
            "underflow",
            "inexact_shift",
            "subnormal_out",
            "cancelling",
            "long",
        ):
            assert measured.categories[(name, category)] >= 1, (name, category)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_oracle_within_claimed_ulps(measured: Measured, dt: np.dtype, op: str) -> None:
    worst = measured.worst[(dtype_name(dt), op)]
    assert worst.case is not None, "nothing measured"
    assert worst.error <= claimed_bound(dt), _describe(worst)


def test_zero_sum_slices_give_nan(measured: Measured) -> None:
    assert not measured.zero_sum_not_nan, measured.zero_sum_not_nan[:3]


def test_print_max_errors(measured: Measured, capsys: pytest.CaptureFixture) -> None:
    lines = [
        f"oracle vs mpmath ({MP_DPS} digits): {measured.n_vectors} vectors, {measured.n_elements} elements",
        f"{'dtype':<10}{'op':<15}{'max ULP error':>16}   claim",
    ]
    for name, dt in zip(DTYPE_IDS, FLOAT_DTYPES, strict=True):
        for op in OPS:
            w = measured.worst[(name, op)]
            lines.append(f"{name:<10}{op:<15}{w.error:>16.9f}   <= {claimed_bound(dt):.6f}")
    with capsys.disabled():
        print("\n" + "\n".join(lines))


# ---------------------------------------------------------------------------
# known-hard inputs, one assertion each (these name the input in the failure)


def _max_error(op: str, x: np.ndarray, out: object = None) -> float:
    out = np.dtype(out) if out is not None else np.dtype(x.dtype)
    info = dtype_info(out)
    got = to_floats(oracle.evaluate(op, x, dtype=out))
    with mpmath.workdps(MP_DPS):
        exact = mp_exact_ops(to_floats(x))[op]
        return max(mp_ulp_error(g, y, info) for g, y in zip(got, exact, strict=True))


@pytest.mark.parametrize("op", OPS)
def test_float64_near_max_slices(op: str) -> None:
    """Finite float64 slices whose plain sum overflows: the exact results are ordinary numbers."""
    big = np.finfo(np.float64).max
    for x in ([big, big], [big, -big / 2, big / 2], [big, big, -big, 1.0]):
        assert _max_error(op, np.array(x)) <= 1.0, x


@pytest.mark.parametrize("op", OPS)
def test_float64_inexact_shift(op: str) -> None:
    """x - max is inexact even in longdouble when max has low bits and x is large: the 1-ULP budget."""
    rng = np.random.default_rng(SEED + 1)
    x = np.concatenate([[0.1], -rng.uniform(600, 745, 400)])  # measured: 0.74 ULP for softmax
    assert _max_error(op, x) <= 1.0


@pytest.mark.parametrize("op", ("softmax", "log_softmax"))
@pytest.mark.parametrize("out", (np.float32, np.float64), ids=("float32", "float64"))
def test_integer_input_beyond_2_53_is_exact(op: str, out: type) -> None:
    """The integer row of LIMITS_TABLE says "computed exactly": 2**53 + 1 is not a float64."""
    x = np.array([2**53 + 1, 2**53], dtype=np.int64)
    with mpmath.workdps(MP_DPS):
        v = [mpmath.mpf(int(t)) for t in x]
        e = [mpmath.exp(t - v[0]) for t in v]
        s = mpmath.fsum(e)
        exact = [t / s for t in e] if op == "softmax" else [mpmath.log(t / s) for t in e]
        got = to_floats(oracle.evaluate(op, x, dtype=out))
        errors = [mp_ulp_error(g, y, dtype_info(out)) for g, y in zip(got, exact, strict=True)]
    assert max(errors) <= claimed_bound(out), (got, [mpmath.nstr(y, 12) for y in exact])


def test_integer_sum_normalize_beyond_2_53_is_exact() -> None:
    x = np.array([2**53 + 1, -(2**53)], dtype=np.int64)  # exact sum 1
    got = oracle.sum_normalize(x)
    np.testing.assert_array_equal(got, np.array([2.0**53, -(2.0**53)]))  # 2**53 + 1 rounds to even


# ---------------------------------------------------------------------------
# property-based part


def _float_elements(dt: np.dtype) -> st.SearchStrategy:
    name = dtype_name(dt)
    if name == "bfloat16":
        return (
            st.integers(0, 2**16 - 1)
            .map(lambda b: np.array([b], np.uint16).view(BFLOAT16)[0])
            .filter(lambda v: math.isfinite(float(v)))
        )
    width = {"float16": 16, "float32": 32, "float64": 64}[name]
    return st.floats(allow_nan=False, allow_infinity=False, width=width)


@st.composite
def slices(draw: st.DrawFn) -> np.ndarray:
    dt = draw(st.sampled_from(FLOAT_DTYPES))
    n = draw(st.integers(1, 12))
    if draw(st.booleans()):
        elements = _float_elements(dt)
    else:  # values of similar magnitude, where the outputs are informative
        scale = draw(st.sampled_from([1e-3, 1.0, 10.0, 100.0]))
        elements = st.floats(-scale, scale, width=64).map(lambda v: float(np.asarray(v).astype(dt)))
    values = draw(hnp.arrays(np.float64, n, elements=elements.map(float)))
    return values.astype(dt)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=slices())
def test_property_oracle_within_claim(x: np.ndarray) -> None:
    with mpmath.workdps(MP_DPS):
        exact = mp_exact_ops(to_floats(x))
    info = dtype_info(x.dtype)
    for op in OPS:
        got = to_floats(oracle.evaluate(op, x))
        if exact[op] is None:
            assert all(math.isnan(g) for g in got)
            continue
        with mpmath.workdps(MP_DPS):
            err = max(mp_ulp_error(g, y, info) for g, y in zip(got, exact[op], strict=True))
        assert err <= claimed_bound(x.dtype), (op, got)


# ---------------------------------------------------------------------------
# the mpmath fallback for float64 outputs (platforms whose longdouble is float64)


@pytest.fixture
def mpmath_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oracle, "_LONGDOUBLE_IS_EXTENDED", False)


def test_fallback_within_claim(mpmath_fallback: None) -> None:
    rng = np.random.default_rng(SEED + 2)
    cases = [c for c in generate_corpus(np.dtype(np.float64), rng) if c.category != "long"]
    picked = [cases[i] for i in rng.choice(len(cases), 400, replace=False)]
    m = measure(picked)
    assert not m.zero_sum_not_nan
    for op in OPS:
        worst = m.worst[("float64", op)]
        assert worst.error <= 1.0, (op, _describe(worst))


def test_fallback_cancelling_sum(mpmath_fallback: None) -> None:
    """The exact sum of [1e300, 1, -1e300] is 1, so the result is the input itself."""
    x = np.array([1e300, 1.0, -1e300])
    np.testing.assert_array_equal(oracle.sum_normalize(x), x)


@pytest.mark.parametrize("magnitude", [1e20, 1e300])
def test_fallback_large_equal_entries(mpmath_fallback: None, magnitude: float) -> None:
    """Two equal entries share the mass whatever their magnitude: [0.5, 0.5] and log 1/2."""
    x = np.array([magnitude, magnitude])
    np.testing.assert_array_equal(oracle.softmax(x), [0.5, 0.5])
    np.testing.assert_array_equal(oracle.log_softmax(x), [-math.log(2), -math.log(2)])


@pytest.mark.parametrize("op", ("softmax", "log_softmax"))
def test_fallback_masked_slice_is_accurate(mpmath_fallback: None, op: str) -> None:
    """A slice with some -inf entries is the op of its finite entries (masking), to the same accuracy.

    0.3 - (-700.1) is inexact in float64, so exp of the float64 shift is ~300 ULP off.
    """
    x = np.array([-np.inf, 0.3, -700.1])
    info = dtype_info(np.float64)
    got = to_floats(oracle.evaluate(op, x)[1:])
    with mpmath.workdps(MP_DPS):
        exact = mp_exact_ops(to_floats(x[1:]))[op]
        errors = [mp_ulp_error(g, y, info) for g, y in zip(got, exact, strict=True)]
    assert max(errors) <= 1.0, (got, errors)
