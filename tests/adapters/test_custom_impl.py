"""Your own implementation: ``conformance.check``, the custom adapter's contract, and ``run --impl``."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from helpers import ROOT

import conformance
from conformance.adapters.custom import CustomImplError, function_implementation, load_function, split_target
from conformance.api import conformance_check  # noqa: F401  (the fixture, as a user's conftest gets it)
from conformance.custom_cli import CustomOptions, build_implementations
from conformance.property_registry import DEVICE_PROPERTIES, PROPERTIES, REGISTRY
from reference.dtypes import output_dtype_for

BF16 = np.dtype(ml_dtypes.bfloat16)


def good_softmax(x, axis):
    """Correct: computed in float64, rounded once to the dtype the result must have."""
    w = x.astype(np.float64)
    e = np.exp(w - w.max(axis, keepdims=True))
    return (e / e.sum(axis, keepdims=True)).astype(output_dtype_for(x.dtype))


def unshifted_softmax(x, axis):
    e = np.exp(x)
    return e / e.sum(axis, keepdims=True)


def test_check_passes_a_correct_function_with_a_structured_result():
    result = conformance.check(good_softmax, "softmax", dtypes=["float32", "bfloat16"], profile="quick")
    assert result.ok, result.summary()
    expected = {
        "shape_dtype",
        "repeatability",
        *(p for p, prop in PROPERTIES.items() if "softmax" in prop.ops),
    }
    assert {r.property for r in result.results} == expected
    assert result.dtypes == ["float32", "bfloat16"]
    precision = result.get("bfloat16", "precision")
    assert precision.verdict == "pass" and precision.unit == "ULP"
    assert 0 <= precision.metric <= precision.tolerance
    assert "good_softmax" in repr(result) and ": ok>" in repr(result)
    assert result.assert_conforms() is result
    assert result.semantics and {"case", "classification"} <= set(result.semantics[0])


def test_assert_conforms_lists_every_failure_with_a_repro():
    result = conformance.check(unshifted_softmax, "softmax", dtypes=["float32"], profile="quick")
    assert not result.ok and "stability" in result.failed_properties()
    with pytest.raises(AssertionError) as info:
        result.assert_conforms()
    text = str(info.value)
    assert f"{len(result.failures)} check(s) failed" in text
    assert "float32  stability" in text and "worst input" in text
    assert "repro for float32" in text and "unshifted_softmax" in text and "x = np.array(" in text


USER_MODULE = """\
import numpy as np


def good_softmax(x, axis):
    w = x.astype(np.float64)
    e = np.exp(w - w.max(axis, keepdims=True))
    return (e / e.sum(axis, keepdims=True)).astype(np.float64 if x.dtype.kind in "iub" else x.dtype)


def unshifted_softmax(x, axis):
    e = np.exp(x)
    return e / e.sum(axis, keepdims=True)
"""


@pytest.fixture
def user_module(tmp_path) -> Path:
    """A user's module file, outside the project: tested by path, as ``FILE.py:FUNCTION``."""
    path = tmp_path / "user_kernels.py"
    path.write_text(USER_MODULE)
    return path


def test_function_named_by_file_path_with_a_runnable_repro(user_module):
    good = conformance.check(f"{user_module}:good_softmax", "softmax", dtypes=["float64"], profile="quick")
    assert good.ok and good.implementation == "custom-good_softmax"
    bad = conformance.check(
        f"{user_module}:unshifted_softmax", "softmax", dtypes=["float64"], profile="quick"
    )
    repro = bad.get("float64", "stability").repro
    assert "spec_from_file_location" in repro
    out = subprocess.run([sys.executable, "-c", repro], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "got:" in out.stdout and "nan" in out.stdout, out.stderr


def test_dtype_and_device_keywords_reach_a_function_that_accepts_them():
    seen = []

    def softmax(x, axis, dtype, device):
        seen.append((x.dtype.name, dtype, device))
        return good_softmax(x, axis)

    impl = function_implementation(softmax, "softmax")
    impl.call(np.zeros((2, 3), BF16), -1, "cpu")
    impl.call(np.zeros((2, 3), np.int64), 0, "cpu")
    assert seen == [("bfloat16", "bfloat16", "cpu"), ("int64", "float64", "cpu")]
    assert "dtype=" in impl.snippet and "device=device" in impl.snippet
    plain = function_implementation(good_softmax, "softmax")
    assert "dtype=" not in plain.snippet  # only what the signature accepts is passed


def test_a_function_that_writes_into_its_input_cannot_corrupt_the_suite():
    def in_place(x, axis):
        x -= x.max(axis, keepdims=True)
        np.exp(x, out=x)
        x /= x.sum(axis, keepdims=True)
        return x

    assert conformance.check(in_place, "softmax", dtypes=["float32"], profile="quick").ok


def _raises(x, axis):
    raise ValueError("nope")


def _raises_on_long_axes(x, axis):
    if x.shape[axis] > 1000:
        raise MemoryError("too long for my kernel")
    return good_softmax(x, axis)


def _exits(x, axis):
    sys.exit(3)


MISBEHAVING = {
    # name: (function, property, verdict, text in the message)
    "raises": (_raises, "precision", "error", "ValueError: nope"),
    "raises-on-long-axes": (_raises_on_long_axes, "shape_dtype", "fail", "MemoryError: too long"),
    "wrong-shape": (lambda x, axis: good_softmax(x, axis)[..., :1], "shape_dtype", "fail", "output shape"),
    "wrong-dtype": (
        lambda x, axis: good_softmax(x, axis).astype(np.float64),
        "shape_dtype",
        "fail",
        "output dtype float64 != expected float32",
    ),
    "list": (lambda x, axis: good_softmax(x, axis).tolist(), "shape_dtype", "fail", "returned list"),
    "nan-everywhere": (lambda x, axis: np.full_like(x, np.nan), "precision", "fail", "failing slice"),
    "sys-exit": (_exits, "sum_to_one", "error", "raised SystemExit"),
}


@pytest.mark.parametrize("name", list(MISBEHAVING))
def test_misbehaving_function_gets_a_verdict_per_check(name):
    fn, prop, verdict, text = MISBEHAVING[name]
    result = conformance.check(fn, "softmax", dtypes=["float32"], profile="quick")
    judged = result.get("float32", prop)
    assert judged.verdict == verdict, result.summary()
    assert text in judged.message
    judged = {**PROPERTIES, "repeatability": DEVICE_PROPERTIES["repeatability"]}
    assert not result.ok and len(result.results) == 1 + sum("softmax" in p.ops for p in judged.values())


def test_a_hanging_call_is_cut_off_and_the_rest_still_runs():
    def slow_on_long_axes(x, axis):
        if x.shape[axis] > 1000:
            time.sleep(1.0)
        return good_softmax(x, axis)

    start = time.perf_counter()
    result = conformance.check(slow_on_long_axes, "softmax", dtypes=["float32"], timeout=0.3, profile="quick")
    assert time.perf_counter() - start < 30
    shape = result.get("float32", "shape_dtype")
    assert shape.verdict == "fail" and "TimeoutError" in shape.message and "0.3 s" in shape.message
    precision = result.get("float32", "precision")  # every other input was still judged, but the
    # long ones were not: an input the property could not be checked on makes it an error
    assert precision.verdict == "error" and precision.n_cases > 20 and "TimeoutError" in precision.message


def test_a_function_that_never_returns_costs_one_time_limit():
    release = threading.Event()
    start = time.perf_counter()
    try:
        result = conformance.check(
            lambda x, axis: release.wait(60), "softmax", dtypes=["float32", "float64"], timeout=0.2
        )
    finally:
        release.set()
    assert time.perf_counter() - start < 10
    assert {r.verdict for r in result.results} == {"error"}
    assert "did not return within 0.2 s" in result.get("float32", "precision").message
    assert "still running" in result.get("float64", "precision").message


@pytest.mark.parametrize("framework", ["torch", "jax", "tensorflow"])
def test_framework_native_function_converts_exactly(framework):
    pytest.importorskip(framework)
    from conformance.adapters import get_adapter

    rng = np.random.default_rng(0)
    bits = np.concatenate([rng.integers(0, 2**16, 500), [0x7F80, 0xFF80, 0x0001, 0x8000]]).astype(np.uint16)
    x = bits.view(BF16)
    identity = function_implementation(lambda t, axis: t, "softmax", framework=framework)
    y = identity.call(x, -1, "cpu")
    assert y.dtype == BF16 and np.array_equal(y.view(np.uint16), bits)
    native = {
        "torch": lambda t, axis: __import__("torch").nn.functional.softmax(t, dim=axis),
        "jax": lambda t, axis: __import__("jax").nn.softmax(t, axis=axis),
        "tensorflow": lambda t, axis: __import__("tensorflow").nn.softmax(t, axis=axis),
    }[framework]
    theirs = next(
        i for i in get_adapter(framework).implementations() if i.op == "softmax" and i.mode == "eager"
    )
    mine = function_implementation(native, "softmax", framework=framework)
    for dtype in ("bfloat16", "float16", "float32", "float64"):
        xs = (
            (rng.standard_normal((4, 64)) * 5)
            .astype(np.float32)
            .astype(np.dtype(BF16 if dtype == "bfloat16" else dtype))
        )
        a, b = mine.call(xs, -1, "cpu"), theirs.call(xs, -1, "cpu")
        assert a.dtype == b.dtype == xs.dtype and np.array_equal(a.view(np.uint8), b.view(np.uint8)), dtype


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_xyz:f", "module 'no_such_module_xyz' not found"),
        ("numpy:no_such_function", "'numpy' has no attribute 'no_such_function'"),
        ("numpy:pi", "is a float, not a function"),
        ("numpy:roll", "cannot be called as function(x, axis=...)"),
        ("/nonexistent/file.py:f", "file '/nonexistent/file.py' not found"),
        ("just_a_module", "expected MODULE:FUNCTION"),
    ],
)
def test_unloadable_function_is_one_clear_line(target, message):
    with pytest.raises(CustomImplError) as info:
        load_function(target)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_module_that_fails_to_import_and_class_attributes(tmp_path):
    (tmp_path / "broken.py").write_text("raise RuntimeError('import-time bug')\n")
    with pytest.raises(CustomImplError, match="failed to import: RuntimeError: import-time bug"):
        load_function(f"{tmp_path / 'broken.py'}:f")
    (tmp_path / "kernels.py").write_text(
        "import numpy as np\nclass K:\n    @staticmethod\n    def softmax(x, axis):\n        return x\n"
    )
    fn, source = load_function(f"{tmp_path / 'kernels.py'}:K.softmax")
    assert fn(np.ones(2), axis=0).shape == (2,) and source.endswith("function = module.K.softmax")


def test_op_and_name_options():
    assert split_target("log_softmax=pkg.mod:f", None) == ("log_softmax", "pkg.mod:f")
    assert split_target("pkg.mod:f", "softmax") == ("softmax", "pkg.mod:f")
    with pytest.raises(CustomImplError, match="which op does it compute"):
        split_target("pkg.mod:f", None)
    with pytest.raises(CustomImplError, match="unknown op 'softmaxx'"):
        split_target("softmaxx=pkg.mod:f", None)
    for bad in ("torch", "my kernel", "a-b"):
        with pytest.raises(CustomImplError, match="--impl-name"):
            build_implementations(CustomOptions(functions=("numpy:exp",), op="softmax", name=bad))


def test_build_implementations_collapses_duplicates(user_module):
    target = f"softmax={user_module}:good_softmax"
    impls = build_implementations(CustomOptions(functions=(target, target)))
    assert [(i.framework, i.api, i.op) for i in impls] == [("custom", "good_softmax", "softmax")]


NAMED_MODULE = """\
import functools

import numpy as np


def _exact(x, axis, scale=1.0):
    w = x.astype(np.float64) * scale
    e = np.exp(w - w.max(axis, keepdims=True))
    return (e / e.sum(axis, keepdims=True)).astype(np.float64 if x.dtype.kind in "iub" else x.dtype)


def checked(fn):  # a decorator without functools.wraps: every wrapped function is "checked.<locals>.wrapper"
    def wrapper(x, axis):
        return fn(x, axis)

    return wrapper


softmax_a = checked(_exact)
softmax_b = checked(lambda x, axis: _exact(x, axis))
as_lambda = lambda x, axis: _exact(x, axis)  # noqa: E731
as_partial = functools.partial(_exact, scale=1.0)


class Kernels:
    @staticmethod
    def softmax(x, axis):
        return _exact(x, axis)
"""


def test_custom_implementations_carry_the_name_written_on_the_command_line(tmp_path):
    path = tmp_path / "named_kernels.py"
    path.write_text(NAMED_MODULE)
    attrs = ["softmax_a", "softmax_b", "as_lambda", "as_partial", "Kernels.softmax"]
    impls = build_implementations(CustomOptions(functions=tuple(f"{path}:{a}" for a in attrs), op="softmax"))
    # not the __qualname__ ("checked.<locals>.wrapper" twice, "<lambda>", "partial"): the attribute as written
    assert [(i.framework, i.api, i.id) for i in impls] == [("custom", a, f"custom-{a}-eager") for a in attrs]
    named = build_implementations(
        CustomOptions(functions=(f"log_softmax={path}:softmax_a",), op="softmax", name="mykernel")
    )
    assert [(i.framework, i.api, i.op) for i in named] == [("mykernel", "softmax_a", "log_softmax")]
    # the same attribute name in two modules: each keeps the target as written, so neither hides the other
    other = tmp_path / "other_kernels.py"
    other.write_text(NAMED_MODULE)
    twins = build_implementations(
        CustomOptions(functions=(f"{path}:softmax_a", f"{other}:softmax_a"), op="softmax")
    )
    assert [i.api for i in twins] == [f"{path}:softmax_a", f"{other}:softmax_a"]
    # conformance.check with a "module:function" string names it the same way
    checked_by_name = conformance.check(f"{path}:as_partial", "softmax", dtypes=["float64"], profile="quick")
    assert checked_by_name.ok and checked_by_name.implementation == "custom-as_partial"


def test_the_fixture_seeds_from_pytest_and_reports(conformance_check, request):  # noqa: F811
    result = conformance_check(good_softmax, "softmax", dtypes=["float64"], profile="quick")
    assert result.ok and result.seed == 0  # no --hypothesis-seed given
    assert any(key == "softmax_conformance" for key, _ in request.node.user_properties)


def _run_cli(tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "conformance", "run", "--results-dir", str(tmp_path / "runs"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def test_cli_runs_the_function_beside_a_framework(tmp_path, user_module):
    proc = _run_cli(
        tmp_path,
        "--impl",
        f"{user_module}:good_softmax",
        "--impl-op",
        "softmax",
        "--impl-name",
        "mykernel",
        "--framework",
        "numpy",
        "--api",
        "exp-shift",
        "--dtype",
        "float32",
        "--profile",
        "quick",
        "--seed",
        "1",
        "--run-id",
        "side-by-side",
        "--no-progress",
        "--no-report",
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = (tmp_path / "runs" / "side-by-side" / "results.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert records[0]["type"] == "envelope"
    checks = [r for r in records if r["type"] == "check"]
    mine = [r for r in checks if r["framework"] == "mykernel"]
    assert {r["api"] for r in mine} == {"good_softmax"}
    # every forward and special-value property of softmax (the registry's), plus repeatability; the
    # function has no backward pass, so no gradient properties
    forward = {s.name for s in REGISTRY if s.kind in ("forward", "special") and "softmax" in s.ops}
    assert {r["verdict"] for r in mine} == {"pass"}
    assert sorted(r["property"] for r in mine) == sorted(forward | {"repeatability"})
    assert {r["implementation"] for r in checks} == {
        "mykernel-good_softmax-eager",
        "numpy-exp-shift-eager",
    }
    assert any(r["type"] == "framework" and r["framework"] == "mykernel" for r in records)


def test_compare_matches_a_custom_implementation_renamed_in_code(tmp_path, capsys):
    """Two runs of one command line, the function renamed in the module between them: compare matches
    the cells by the name on the command line, not by ``__qualname__``."""
    from conformance.cli import main

    module = tmp_path / "kernels.py"
    first = (
        "import numpy as np\n\n\ndef mysoftmax(x, axis):\n"
        + USER_MODULE.split("def good_softmax(x, axis):\n")[1]
    )
    renamed = first.replace("def mysoftmax(", "def _softmax_v2(") + "\n\nmysoftmax = _softmax_v2\n"
    args = [
        "--impl",
        f"{module}:mysoftmax",
        "--impl-op",
        "softmax",
        "--dtype",
        "float64",
        "--profile",
        "quick",
    ]
    for run_id, text in (("before", first), ("after", renamed)):
        module.write_text(text)
        proc = _run_cli(tmp_path, *args, "--run-id", run_id, "--no-progress", "--no-report")
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    runs = tmp_path / "runs"
    records = [json.loads(line) for line in (runs / "after" / "results.jsonl").read_text().splitlines()]
    checks = [r for r in records if r["type"] == "check"]
    semantics = [r for r in records if r["type"] == "semantics"]
    assert checks and semantics
    out = tmp_path / "compare.html"
    assert main(["compare", str(runs / "before"), str(runs / "after"), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "only in baseline: 0 cells; only in candidate: 0" in printed, printed
    assert f"{len(checks)} cells in common" in printed
    assert {(r["framework"], r["api"]) for r in checks + semantics} == {("custom", "mysoftmax")}


def test_cli_rejects_a_missing_function_before_starting_anything(tmp_path):
    proc = _run_cli(tmp_path, "--impl", "no_such_module_xyz:softmax", "--op", "softmax", "--run-id", "x")
    assert proc.returncode == 2
    line = "--impl 'no_such_module_xyz:softmax': module 'no_such_module_xyz' not found"
    assert proc.stderr.strip().splitlines() == [f"softmax-conformance: error: {line}"]
    assert not (tmp_path / "runs").exists()


def test_run_impl_lists_failing_checks_and_the_reports_replay_reproduces_one(tmp_path, user_module):
    """``run --impl`` prints each failing check with its message; the replay command the report's
    drill-down shows for a custom implementation carries the ``--impl*`` options and, run as shown,
    judges that one check again with the same verdict and metric."""
    import shlex

    from conformance.records import read_run
    from conformance.report.model import build_model

    proc = _run_cli(
        tmp_path,
        *("--impl", f"{user_module}:unshifted_softmax", "--impl-op", "softmax", "--impl-name", "mine"),
        *("--dtype", "float32", "--profile", "quick", "--seed", "3", "--run-id", "bad"),
        *("--no-progress", "--no-report"),
    )
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    run = read_run(tmp_path / "runs" / "bad")
    failing = [r for r in run.checks if r["verdict"] in ("fail", "error")]
    assert failing and "failing checks of mine:" in proc.stdout
    printed = " ".join(proc.stdout.split())
    for rec in failing:
        assert f"unshifted_softmax float32 {rec['property']} {rec['verdict']}" in printed
        assert " ".join(rec["message"].split()) in printed

    entries = build_model(run).details["d"]
    entry = next(e for e in entries if e["v"] == "fail" and e["p"] == failing[0]["property"])
    argv = shlex.split(entry["rp"])
    assert argv[:4] == ["python", "-m", "conformance", "run"] and "--framework" not in argv
    assert argv[argv.index("--impl") + 1] == f"{user_module}:unshifted_softmax"
    assert argv[argv.index("--impl-name") + 1] == "mine" and argv[argv.index("--impl-op") + 1] == "softmax"
    replay = subprocess.run(
        [
            sys.executable,
            *argv[1:],
            "--results-dir",
            str(tmp_path / "replay"),
            "--run-id",
            "r",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert replay.returncode == 1, replay.stdout[-2000:] + replay.stderr[-2000:]
    again = read_run(tmp_path / "replay" / "r").checks
    assert [(r["property"], r["dtype"], r["verdict"], r["metric"]) for r in again] == [
        (failing[0]["property"], "float32", "fail", failing[0]["metric"])
    ]


def test_failing_check_lines_stop_at_twenty_and_count_the_rest(tmp_path):
    from conformance.records import read_run
    from conformance.report import synthetic as syn
    from conformance.summary import failing_check_lines

    records = [syn.envelope("many"), syn.framework("mine", None)]
    records += [syn.check("fail", framework="mine", api=f"k{i}", metric=float(i)) for i in range(25)]
    records += [syn.check("fail", framework="numpy"), syn.end()]
    lines = failing_check_lines(read_run(syn.write_run(tmp_path / "run", records)), {"mine"})
    assert len(lines) == 21 and lines[0].startswith("k0 float32") and " fail 0 ULP" in lines[0]
    assert lines[-1].startswith("... and 5 more failing checks")


def test_a_function_declares_its_contract():
    """contract=: a masked function gets where= and the dtype's max under the mask, and its repro does
    the same; a temperature composite is judged on round(x / T); bad combinations are one clear error."""
    from reference.contracts import L1_NORMALIZE, MASKED, Contract

    seen = {}

    def masked(x, axis, where):
        seen["x"], seen["where"] = x.copy(), where.copy()
        w = np.where(where, x.astype(np.float64), -np.inf)
        e = np.where(where, np.exp(w - w.max(axis, keepdims=True)), 0)
        return (e / e.sum(axis, keepdims=True)).astype(x.dtype)

    impl = function_implementation(masked, "softmax", contract=MASKED)
    x = np.array([[-np.inf, 1.0, 2.0]], np.float32)
    y = impl.call(x, -1, "cpu")
    assert seen["x"][0, 0] == np.finfo(np.float32).max and seen["where"].tolist() == [[False, True, True]]
    assert y[0, 0] == 0 and "where=m" in impl.snippet and "finfo" in impl.snippet
    namespace = {"x": x, "axis": -1}
    exec(
        f"import ml_dtypes\nimport numpy as np\nfunction = masked_fn\n{impl.snippet.split(chr(10), 2)[2]}",
        {
            **namespace,
            "masked_fn": masked,
        },
    )
    with pytest.raises(CustomImplError, match="masked function takes NumPy"):
        function_implementation(masked, "softmax", framework="torch", contract=MASKED)
    with pytest.raises(CustomImplError, match="belongs to sum_normalize"):
        function_implementation(masked, "softmax", contract=Contract(L1_NORMALIZE, eps=1e-7))
    with pytest.raises(ValueError, match="applies to a Python function"):
        conformance.check(impl, "softmax", dtypes=["float32"], contract=MASKED)

    def over_t(x, axis):  # softmax(x / 3), dividing in the input dtype, as the expression does
        q = (x.astype(np.float64) / 3).astype(x.dtype).astype(np.float64)
        e = np.exp(q - q.max(axis, keepdims=True))
        return (e / e.sum(axis, keepdims=True)).astype(x.dtype)

    judged = conformance.check(over_t, "softmax", dtypes=["float32"], contract=Contract(temperature=3.0))
    assert judged.ok, judged.summary()
    assert not conformance.check(over_t, "softmax", dtypes=["float32"]).ok  # not softmax(x) itself
