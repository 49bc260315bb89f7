"""The cell runner: call once, judge many; compact shapes in quick; histograms, samples, repros.

The implementations here are small NumPy functions, so these tests need no framework.
"""

import base64  # noqa: F401  (used by eval'd repro literals)
import os
import subprocess
import sys
import textwrap
import zlib  # noqa: F401  (used by eval'd repro literals)

import ml_dtypes
import numpy as np
import pytest

import reference
from conformance.adapters.base import Implementation
from conformance.evaluation import ROW_BUCKETS, SAMPLE_VECTOR, Cell, CellEvaluation
from conformance.outcome import HISTOGRAM_EDGES, error_histogram
from conformance.profiles import get_profile
from conformance.records import RunWriter, read_run
from conformance.repro import INLINE_LIMIT, array_literal
from conformance.runner import ResultsTail


def _impl(fn, op="softmax", name="test"):
    return Implementation("testfw", name, op, "eager", call=lambda x, axis, device: fn(x, axis), snippet="")


def _oracle_call(op):
    return lambda x, axis: reference.evaluate(op, x, axis)


def _evaluate(fn, profile="quick", dtype="float32", op="softmax", seed=1):
    shapes = []

    def recording(x, axis):
        shapes.append((x.shape, axis) if x.dtype.kind == "f" and x.size else ("other", axis))
        return fn(x, axis)

    ev = CellEvaluation(Cell(_impl(recording, op), "cpu", dtype), get_profile(profile), seed).run()
    return ev, shapes


@pytest.mark.parametrize("profile", ["quick", "default"])
def test_the_oracle_passes_every_property(profile):
    ev, _ = _evaluate(_oracle_call("softmax"), profile)
    for name in ["shape_dtype", *ev.applicable_properties()]:
        assert ev.outcome(name).verdict == "pass", (name, ev.outcome(name).message)


def test_quick_pads_row_batches_to_a_few_shapes_and_default_does_not():
    _, quick = _evaluate(_oracle_call("softmax"), "quick")
    _, default = _evaluate(_oracle_call("softmax"), "default")
    quick_rows = {s for s, axis in quick if s != "other" and len(s) == 2 and axis == -1 and s[1] <= 1024}
    assert {rows for rows, _ in quick_rows} <= set(ROW_BUCKETS) | {16}  # 16: the strided (16, 6) view
    assert len(set(quick)) < len(set(default))
    default_rows = {s[0] for s, axis in default if s != "other" and len(s) == 2 and axis == -1}
    assert {1, 2, 3} <= default_rows  # special rows and small groups called at their own shape


def test_filler_rows_are_never_judged():
    """An implementation that is wrong only on rows of ones (the filler) passes in quick."""

    def wrong_on_ones(x, axis):
        y = reference.evaluate("softmax", x, axis)
        if x.ndim == 2 and axis == -1:
            ones = np.all(x == 1, axis=1)
            y[ones] = 0.5
        return y

    ev, _ = _evaluate(wrong_on_ones, "quick")
    assert ev.outcome("precision").verdict == "pass"


def test_a_row_coupling_bug_is_caught_in_quick():
    """Normalizing by the batch's global sum (rows coupled) fails even among padded rows."""

    def global_sum(x, axis):
        e = np.exp(x.astype(np.float64) - np.max(x))
        return (e / np.sum(e)).astype(x.dtype)

    ev, _ = _evaluate(global_sum, "quick")
    assert ev.outcome("precision").verdict == "fail"
    assert ev.outcome("sum_to_one").verdict == "fail"


def test_shift_invariance_is_judged_on_shifted_copies():
    """exp(x) / sum without the max shift overflows on the shifted copies."""

    def no_shift(x, axis):
        with np.errstate(all="ignore"):
            e = np.exp(x)
            return (e / np.sum(e, axis=axis, keepdims=True)).astype(x.dtype)

    for profile in ("quick", "default"):
        ev, _ = _evaluate(no_shift, profile)
        out = ev.outcome("shift_invariance")
        assert out.verdict == "fail" and out.n_cases > 0
        assert (
            "judged against the unshifted" in out.worst["where"] or "fails on its own" in out.worst["where"]
        )


def test_precision_records_a_histogram_of_every_judged_slice():
    ev, _ = _evaluate(_oracle_call("softmax"), "quick")
    out = ev.outcome("precision")
    hist = out.histogram
    assert hist["edges"] == list(HISTOGRAM_EDGES)
    assert sum(hist["counts"]) + hist["nonfinite"] == out.n_cases
    assert sum(hist["counts"][:3]) == out.n_cases  # the oracle is within half an ULP everywhere


def test_error_histogram_bins():
    hist = error_histogram(np.array([0.0, 0.3, 0.5, 3.0, 1e9, np.inf, np.nan]))
    assert hist["counts"][0] == 1  # [0, 0.25)
    assert hist["counts"][1] == 1  # [0.25, 0.5)
    assert hist["counts"][2] == 1  # [0.5, 1)
    assert hist["counts"][HISTOGRAM_EDGES.index(2.0)] == 1  # [2, 4)
    assert hist["counts"][-1] == 1  # beyond the last edge
    assert hist["nonfinite"] == 2


def test_sample_is_the_output_on_the_fixed_vector():
    ev, _ = _evaluate(_oracle_call("sum_normalize"), "quick", op="sum_normalize")
    sample = ev.sample()
    assert sample["input"]["values"] == list(SAMPLE_VECTOR)
    assert sample["output"]["values"] == sample["expected"]["values"]
    assert sample["error"] is None


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64])
def test_long_arrays_are_written_compressed_and_rebuilt_exactly(dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, INLINE_LIMIT)).astype(dtype)
    src = array_literal(a)
    assert "b64decode" in src and len(src) < a.size * 12
    rebuilt = eval(src)
    assert rebuilt.dtype == a.dtype and rebuilt.shape == a.shape
    assert np.array_equal(rebuilt.view(np.uint8), a.view(np.uint8))
    small = a[:1, :5]
    assert "b64decode" not in array_literal(small)


def test_parallel_writers_never_interleave_lines(tmp_path):
    """Two processes appending large records to one file at once leave only whole lines."""
    path = tmp_path / "results.jsonl"
    RunWriter(path).write({"type": "envelope", "schema_version": 1, "run_id": "x"})
    script = textwrap.dedent(
        f"""
        import sys
        from conformance.records import RunWriter
        w = RunWriter({str(path)!r})
        for i in range(200):
            w.write({{"type": "framework", "framework": sys.argv[1], "status": "ok", "pad": "x" * 70000}})
        """
    )
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, "-c", script, name], env=env) for name in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    run = read_run(path)
    names = [r["framework"] for r in run.frameworks]
    assert names.count("a") == 200 and names.count("b") == 200


def test_results_tail_returns_only_whole_new_lines(tmp_path):
    path = tmp_path / "results.jsonl"
    tail = ResultsTail(path)
    assert tail.new_records() == []
    path.write_text('{"type": "check", "n": 1}\n{"type": "check", "n": 2')
    assert [r["n"] for r in tail.new_records()] == [1]
    with open(path, "a") as fh:
        fh.write('}\n{"type": "check", "n": 3}\n')
    assert [r["n"] for r in tail.new_records()] == [2, 3]


def test_both_repro_scripts_run_with_a_packed_long_input():
    """Inputs beyond INLINE_LIMIT are packed with base64/zlib: each script must import them."""
    from conformance.adapters import get_adapter
    from conformance.repro import device_repro, repro_snippet

    impl = next(i for i in get_adapter("numpy").implementations() if i.api == "exp-shift")
    x = np.random.default_rng(0).standard_normal((1, INLINE_LIMIT + 44)).astype(np.float32)
    for src in (device_repro(impl, x, -1, "cpu", "repeat"), repro_snippet(impl, x, -1, "cpu", x)):
        namespace: dict = {}
        exec(compile(src, "repro", "exec"), namespace)
        assert np.array_equal(namespace["x"], x)
