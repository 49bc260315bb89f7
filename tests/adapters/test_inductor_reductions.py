"""The mechanism the registry names for torch.compile's renormalized softmax, checked.

Registry entries ``torch-inductor-fused-renormalization-sum`` and its ``-backward`` twin say that
Inductor's CPU kernels (torch 2.13) sum a row of up to 65,537 float32 entries in one float32
accumulator per vector lane, sequentially (each OpenMP thread takes a contiguous run of the
vector loop; the lanes and the threads' partials are added at the end), and that in the backward
pass of ``s / sum(s)``, ``s = softmax(x)``, where the softmax backward's dot ``sum(gs * s)``
cancels to about 0, those sums' rounding errors are the whole error of every element.

``helpers.lane_sequential_sum`` emulates that order in NumPy. Checked here:

- without torch: Inductor's backward formula, its sums replaced by the emulation, judged by the
  suite's own ``grad_precision`` (the renormalized model) on the constant 65,537-entry row with a
  one-hot cotangent, fails as the entry records (976 ULP of the term scale, bound 184); the same
  formula with correctly rounded sums passes. So the order of summation, nothing else in the
  formula, is what the entry measures;
- with torch 2.13, a C++ compiler and AVX-512 (16 lanes; 2 threads): the compiled
  sum of a random row, and the compiled backward pass on the constant row, equal the emulation bit
  for bit, both for a kernel compiled for one row's shape (the row split between the threads) and
  for the shape-generic kernel on a 5-row batch (one thread per row: the suite's case).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from helpers import lane_sequential_sum

from conformance.gradient_properties import compute_gradient_oracle, grad_precision

F32 = np.float32
N = 65537  # grad_rows[65537]: one entry past 2^16
HOT = 123  # where the one-hot cotangent is 1


def rounded_sum(terms: np.ndarray) -> np.float32:
    """The float32 sum rounded once (float64 accumulation of at most 2^17 float32 terms is exact
    to far below float32's rounding)."""
    return F32(np.sum(np.asarray(terms, np.float64)))


def renormalized_backward(x: np.ndarray, g: np.ndarray, total) -> np.ndarray:
    """Inductor's backward of ``s / sum(s)`` on one float32 row (its generated kernel, torch 2.13):
    ``s = exp(x - max) / S1`` recomputed, ``c = sum(-g * s / S / S)``, ``gs = g / S + c``,
    ``gx = fma(-s, sum(gs * s), gs * s)``, with every sum (``S1``, ``S`` from the forward pass,
    ``c`` and the dot) taken by ``total``."""
    with np.errstate(all="ignore"):
        e = np.exp((x - x.max()).astype(F32)).astype(F32)
        s = (e / total(e)).astype(F32)
        big_s = total(s)
        c = total((-g * ((s / big_s).astype(F32) / big_s).astype(F32)).astype(F32))
        gs = ((g / big_s).astype(F32) + c).astype(F32)
        dot = total((gs * s).astype(F32))
        # fma: the float64 product of two float32 numbers is exact
        return (np.float64(gs * s) - np.float64(s) * np.float64(dot)).astype(F32)


def _constant_row_one_hot() -> tuple[np.ndarray, np.ndarray]:
    # grad_rows[65537]'s constant row (its value does not matter: exp(0) = 1 exactly)
    x = np.full(N, F32(0.16782835125923157), F32)
    g = np.zeros(N, F32)
    g[HOT] = 1
    return x, g


def _judge(x: np.ndarray, g: np.ndarray, gx: np.ndarray):
    oracle = compute_gradient_oracle("softmax", x[None], g[None], -1, np.float32, renormalized=True)
    return grad_precision(x[None], g[None], gx[None], oracle, "softmax", np.float32, -1)


def test_lane_sequential_sums_alone_give_the_registry_figure() -> None:
    x, g = _constant_row_one_hot()
    # one thread per row, 16 lanes: the shape-generic kernel the suite's calls compile (see below)
    sequential = _judge(x, g, renormalized_backward(x, g, lambda t: lane_sequential_sum(t, 16, 1)[0]))
    rounded = _judge(x, g, renormalized_backward(x, g, rounded_sum))
    assert sequential.applicable[0] and not sequential.passed[0]
    assert sequential.metric[0] > sequential.bound[0]
    assert 900 < sequential.metric[0] < 1100  # the entry: 976 ULP of the term scale, bound 184
    assert rounded.applicable[0] and rounded.passed[0], f"rounded sums: {rounded.metric[0]} ULP"


def test_lane_sequential_sum_is_not_the_rounded_sum() -> None:
    """The emulation is a real order, not the exact sum: on a random row the two differ."""
    row = np.random.default_rng(0).random(N).astype(F32)
    assert lane_sequential_sum(row, 16, 2)[0] != rounded_sum(row)
    assert lane_sequential_sum(row, 16, 2)[0] != lane_sequential_sum(row, 8, 2)[0]


@pytest.fixture
def inductor_lanes():
    """torch 2.13 with Inductor's C++ backend on an AVX-512 CPU, two threads: the lane count."""
    torch = pytest.importorskip("torch")
    if not torch.__version__.startswith("2.13."):
        pytest.skip(f"the registry entries name torch 2.13, this is {torch.__version__}")
    if shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.skip("torch.compile on the CPU needs a C++ compiler")
    capability = torch.backends.cpu.get_cpu_capability()
    if capability != "AVX512":  # AVX2 has 8 lanes; its horizontal reduction order is not verified
        pytest.skip(f"the order was established with AVX-512 (16 lanes), this CPU runs {capability!r}")
    lanes = 16
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    torch._dynamo.reset()
    yield torch, lanes
    torch.set_num_threads(threads)
    torch._dynamo.reset()


def test_inductor_sums_a_row_lane_by_lane(inductor_lanes) -> None:
    """One float32 sum can match a wrong order by chance (about a quarter of random rows do): 16
    rows, each equal to the emulation, and each other order misses at least one of them."""
    torch, lanes = inductor_lanes
    compiled = torch.compile(lambda t: t.sum(-1), dynamic=False)
    rows = [np.random.default_rng(seed).random(N).astype(F32) for seed in range(16)]
    got = [compiled(torch.from_numpy(row[None].copy())).numpy()[0] for row in rows]
    assert got == [lane_sequential_sum(row, lanes, 2)[0] for row in rows]
    other_lanes = 8 if lanes == 16 else 16
    for other in (
        lambda row: lane_sequential_sum(row, lanes, 1)[0],
        lambda row: lane_sequential_sum(row, other_lanes, 2)[0],
        rounded_sum,
    ):
        assert got != [other(row) for row in rows]


@pytest.mark.parametrize(
    ("dynamic", "rows", "threads_per_row"),
    [
        (False, 1, 2),  # one row, its shape compiled in: the row's loop split between the threads
        (True, 5, 1),  # the shape-generic kernel (the suite's calls, after a second shape), 5 rows:
        # each row reduced by one thread, so 4,096 additions per lane; the entry's 976 ULP
    ],
)
def test_inductor_renormalized_backward_is_the_emulation_bit_for_bit(
    inductor_lanes, dynamic: bool, rows: int, threads_per_row: int
) -> None:
    torch, lanes = inductor_lanes
    x, g = _constant_row_one_hot()
    xs = np.repeat(x[None], rows, axis=0)
    xs[:-1] += np.arange(rows - 1, dtype=F32)[:, None] * F32(0.5)  # other rows: constant too, other values
    gs = np.repeat(g[None], rows, axis=0)

    def renormalized(t):
        s = torch.softmax(t, -1)
        return s / s.sum(-1, keepdim=True)

    t = torch.from_numpy(xs).requires_grad_(True)
    compiled = torch.compile(renormalized, dynamic=dynamic)
    (gx,) = torch.autograd.grad(compiled(t), t, torch.from_numpy(gs))
    lane_sum = lambda terms: lane_sequential_sum(terms, lanes, threads_per_row)[0]  # noqa: E731
    expected = renormalized_backward(x, g, lane_sum)
    assert np.array_equal(gx.numpy()[-1].view(np.int32), expected.view(np.int32))
