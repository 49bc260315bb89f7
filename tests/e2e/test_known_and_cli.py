"""The known-discrepancy registry (strict and stale logic) and the CLI's exit codes and messages."""

import json
import subprocess
import sys
import textwrap

import pytest

from conformance.known import RegistryError, apply_registry, find_entry, load_registry, stale_entries
from conformance.records import RunFileError, read_run

ENTRY = """
[[discrepancy]]
id = "demo"
framework = "numpy"
versions = ">=1,<99"
api = ["exp-*", "x/sum"]
dtype = "bfloat16"
property = "precision"
reason = "demo"
classification = "framework-bug"
"""

CHECK = dict(
    framework="numpy",
    version="2.4.6",
    api="exp-shift",
    mode="eager",
    dtype="bfloat16",
    device="cpu",
    op="softmax",
    prop="precision",
)


@pytest.fixture
def registry(tmp_path):
    path = tmp_path / "known.toml"
    path.write_text(ENTRY)
    return load_registry(path)


def test_matching_failure_is_expected_and_matching_pass_is_fixed(registry):
    entry = find_entry(registry, **CHECK)
    assert entry is not None and entry.id == "demo"
    assert apply_registry("fail", entry) == "expected-fail"
    assert apply_registry("pass", entry) == "fixed"
    assert apply_registry("fail", None) == "fail"
    assert find_entry(registry, **{**CHECK, "dtype": "float32"}) is None
    assert find_entry(registry, **{**CHECK, "version": "100.0"}) is None
    assert find_entry(registry, **{**CHECK, "api": "x/sum"}) is not None


def test_non_strict_entry_lets_a_pass_stay_a_pass(tmp_path):
    path = tmp_path / "known.toml"
    path.write_text(ENTRY + "strict = false\n")
    entry = find_entry(load_registry(path), **CHECK)
    assert entry is not None and not entry.strict
    assert apply_registry("pass", entry) == "pass"
    assert apply_registry("fail", entry) == "expected-fail"


def test_case_filter_covers_only_failures_on_those_cases(tmp_path):
    """A ``case`` filter narrows an entry to failures on named corpus cases: the same property
    failing on another input (or on inputs nobody named) is unexpected."""
    path = tmp_path / "known.toml"
    path.write_text(ENTRY + 'case = "power_of_two_lengths*"\nstrict = false\n')
    registry = load_registry(path)
    assert find_entry(registry, **CHECK, cases=("power_of_two_lengths[19]",)) is not None
    assert find_entry(registry, **CHECK, cases=("power_of_two_lengths[19]", "long_axis[0]")) is None
    assert find_entry(registry, **CHECK, cases=("long_axis[0]",)) is None
    assert find_entry(registry, **CHECK, cases=None) is None  # a failure whose cases are unknown
    assert find_entry(registry, **CHECK, cases=()) is not None  # a pass: named, stays a pass
    assert find_entry(registry[:0] + load_registry(_write(tmp_path, ENTRY)), **CHECK, cases=None) is not None


def _write(tmp_path, text: str):
    path = tmp_path / "plain.toml"
    path.write_text(text)
    return path


def test_case_filter_requires_a_non_strict_entry(tmp_path):
    path = tmp_path / "known.toml"
    path.write_text(ENTRY + 'case = "long_axis*"\n')
    with pytest.raises(RegistryError, match="'case' filter must be strict = false"):
        load_registry(path)


def test_strict_must_be_a_boolean(tmp_path):
    path = tmp_path / "known.toml"
    path.write_text(ENTRY + 'strict = "no"\n')
    with pytest.raises(RegistryError, match="'strict' must be true or false"):
        load_registry(path)


def test_stale_only_for_versions_that_ran(registry):
    assert stale_entries(registry, set(), {"numpy": "2.4.6"}) == ["demo"]
    assert stale_entries(registry, {"demo"}, {"numpy": "2.4.6"}) == []
    assert stale_entries(registry, set(), {"numpy": "100.0"}) == []
    assert stale_entries(registry, set(), {}) == []


def test_stale_only_when_a_cell_in_the_entrys_scope_ran(registry):
    """An entry for a mode, dtype or device that did not run (an opt-in compiled mode, a GPU) was
    not tested: not stale. One whose scope ran and matched nothing is."""
    cell = {k: CHECK[k] for k in ("framework", "api", "mode", "dtype", "device", "op")}
    versions = {"numpy": "2.4.6"}
    assert stale_entries(registry, set(), versions, [cell]) == ["demo"]
    assert stale_entries(registry, set(), versions, [{**cell, "dtype": "float32"}]) == []
    assert stale_entries(registry, set(), versions, [{**cell, "framework": "torch"}]) == []
    assert stale_entries(registry, set(), versions, []) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[discrepancy]]\nid = 'a'\n", "missing 'framework'"),
        (ENTRY.replace('"framework-bug"', '"bug"'), "classification must be one of"),
        (ENTRY + ENTRY, "duplicate id"),
        (ENTRY.replace('">=1,<99"', '"nonsense"'), "invalid version specifier"),
        ("not toml [", "not valid TOML"),
        (ENTRY.replace('reason = "demo"', 'reason = "demo"\ncolour = "red"'), "unknown field"),
    ],
)
def test_malformed_registry_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(RegistryError, match=message):
        load_registry(path)


def test_bundled_registry_is_valid():
    entries = load_registry()
    assert entries and all(e.reason and e.classification for e in entries)


def shadowed_entries(entries) -> list[tuple[str, str]]:
    """(entry, earlier entry) pairs where the earlier one covers every check the later one could
    match (same framework and version range; each of the later one's patterns matched by one of
    the earlier one's): ``find_entry`` returns the first match, so the later entry never applies
    (its strictness included) and is reported stale."""
    from fnmatch import fnmatchcase

    def covers(wide, narrow) -> bool:
        return all(any(fnmatchcase(n, w) for w in wide) for n in narrow)

    fields = ("api", "mode", "dtype", "device", "op", "property", "case")
    return [
        (later.id, earlier.id)
        for j, later in enumerate(entries)
        for earlier in entries[:j]
        if (earlier.framework, earlier.versions) == (later.framework, later.versions)
        and all(covers(getattr(earlier, f), getattr(later, f)) for f in fields)
    ]


def test_no_bundled_entry_is_hidden_behind_an_earlier_one(tmp_path):
    assert shadowed_entries(load_registry()) == []
    # the mistake this guards against: a non-strict entry widened over a strict one listed after it
    (tmp_path / "k.toml").write_text(
        textwrap.dedent(
            """
            [[discrepancy]]
            id = "generated"
            framework = "onnxruntime"
            versions = ">=1.31,<1.32"
            api = ["Softmax-opset11", "LogSoftmax-opset11"]
            property = ["bounds", "gradual_underflow"]
            strict = false
            reason = "r"
            classification = "documented-difference"

            [[discrepancy]]
            id = "float16-underflow"
            framework = "onnxruntime"
            versions = ">=1.31,<1.32"
            api = "Softmax-opset11"
            dtype = "float16"
            property = "gradual_underflow"
            reason = "r"
            classification = "documented-difference"
            """
        )
    )
    assert shadowed_entries(load_registry(tmp_path / "k.toml")) == [("float16-underflow", "generated")]


def run_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "conformance", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--framework", "nosuch"], "unknown framework 'nosuch'; valid: numpy"),
        (["--dtype", "float8"], "unknown dtype 'float8'; valid: float16, bfloat16, float32, float64"),
        (["--device", "tpu"], "unknown device 'tpu'; valid: cpu, cuda:N"),
        (["--profile", "slow"], "unknown profile 'slow'; valid: quick, default, thorough"),
        (["--mode", "graph"], "unknown mode 'graph'"),
        (["--jobs", "0"], "--jobs must be at least 1, got 0"),
        (["--known", "missing.toml"], "registry 'missing.toml' not found"),
    ],
)
def test_usage_errors_exit_2_with_one_line(tmp_path, args, message):
    proc = run_cli("run", *args, "--results-dir", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not list(tmp_path.glob("*/results.jsonl"))


def test_numpy_run_writes_records_and_exit_status_reflects_them(tmp_path):
    proc = run_cli(
        "run",
        "--framework",
        "numpy",
        "--profile",
        "quick",
        "--seed",
        "7",
        "--run-id",
        "r",
        "--results-dir",
        str(tmp_path),
        "--dtype",
        "float32",
        cwd=tmp_path,
    )
    run = read_run(tmp_path / "r")
    assert run.envelope["seed"] == 7 and run.envelope["profile"] == "quick"
    assert run.finished and run.checks and run.semantics
    verdicts = {r["verdict"] for r in run.checks}
    unexpected = verdicts & {"fail", "fixed", "error"}
    assert proc.returncode == (1 if unexpected else 0), proc.stdout[-2000:]
    ids = {r["implementation"] for r in run.checks}
    assert {"numpy-exp-shift-eager", "numpy-log-shift-eager", "numpy-x/sum-eager"} <= ids
    # Known discrepancy: x / x.sum() overflows in float32 on the sum_overflow case.
    sumnorm = [
        r for r in run.checks if r["implementation"] == "numpy-x/sum-eager" and r["property"] == "precision"
    ]
    assert (
        sumnorm[0]["verdict"] == "expected-fail" and sumnorm[0]["known_issue"]["id"] == "sum-overflows-dtype"
    )
    assert "x = np.array(" in sumnorm[0]["repro"]
    # The parent's progress display reads the planned count the plugin wrote after collection.
    planned = int((tmp_path / "r" / "progress" / "numpy").read_text())
    assert planned == len(run.checks)
    assert "numpy: started" in proc.stdout and "numpy: ok in" in proc.stdout  # not a terminal: lines
    assert (tmp_path / "r" / "logs" / "numpy.log").stat().st_size > 0
    assert len(run.samples) == len({(r["implementation"], r["dtype"]) for r in run.checks})
    # The framework's process was told where to keep compiled programs (and says so in its record).
    cache = tmp_path / ".compile-cache" / "numpy"
    assert cache.is_dir()
    assert [f["compile_cache"] for f in run.frameworks if f["framework"] == "numpy"] == [str(cache.resolve())]


def test_a_planted_fault_fails_the_run(tmp_path):
    """A known entry whose check now passes is "fixed" and fails the run (strict)."""
    known = tmp_path / "known.toml"
    known.write_text(
        textwrap.dedent("""
        [[discrepancy]]
        id = "claims-textbook-softmax-is-wrong"
        framework = "numpy"
        versions = ">=1"
        api = "exp-shift"
        dtype = "float32"
        property = "monotonicity"
        reason = "planted: the textbook softmax is monotone, so this entry must be reported as fixed"
        classification = "framework-bug"
    """)
    )
    proc = run_cli(
        "run",
        "--framework",
        "numpy",
        "--profile",
        "quick",
        "--seed",
        "1",
        "--run-id",
        "f",
        "--results-dir",
        str(tmp_path),
        "--dtype",
        "float32",
        "--api",
        "exp-shift",
        "--known",
        str(known),
        cwd=tmp_path,
    )
    run = read_run(tmp_path / "f")
    fixed = [r for r in run.checks if r["verdict"] == "fixed"]
    assert [r["property"] for r in fixed] == ["monotonicity"]
    assert proc.returncode == 1


def test_malformed_results_file_names_file_and_line(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps({"type": "envelope", "schema_version": 1}) + "\n{not json\n")
    with pytest.raises(RunFileError, match=r"results.jsonl:2: not valid JSON"):
        read_run(path)
    path.write_text(json.dumps({"type": "envelope", "schema_version": 99}) + "\n")
    with pytest.raises(RunFileError, match="schema version 99, this suite reads version 1"):
        read_run(path)
    path.write_text("")
    with pytest.raises(RunFileError, match="empty results file"):
        read_run(path)


def test_run_k_warns_when_a_dtype_token_selects_another_dtype_too():
    """``-k float16`` also selects bfloat16 ids (substring match); ``--dtype float16`` does not."""
    from conformance.cli import keyword_dtype_warning

    ids = [
        "test_precision[torch-F.softmax-eager-cpu-float16]",
        "test_precision[torch-F.softmax-eager-cpu-bfloat16]",
    ]
    assert all("float16" in i for i in ids)  # why: pytest's -k is a substring match over these
    for expression in ("float16", "test_precision and float16", "(float16 or float32) and not jit"):
        warning = keyword_dtype_warning(expression)
        assert warning and "also selects bfloat16" in warning and "--dtype float16" in warning
    for expression in (None, "", "test_precision", "bfloat16", "float32", "float64 and precision"):
        assert keyword_dtype_warning(expression) is None
