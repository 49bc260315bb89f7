"""The known-discrepancy registry (strict and stale logic) and the CLI's exit codes and messages."""

import json
import subprocess
import sys
import textwrap

import pytest

from conformance.known import (
    RegistryError,
    Resolution,
    load_registry,
    resolve,
    stale_entries,
    uncovered_note,
)
from conformance.records import RunFileError, read_run
from conformance.summary import stale_known_issues

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


def _resolve(registry, verdict, *, failing=(), judged=("corpus[0]",), **changes):
    return resolve(registry, verdict, failing_cases=failing, judged_cases=judged, **{**CHECK, **changes})


def test_matching_failure_is_expected_and_matching_pass_is_fixed(registry):
    got = _resolve(registry, "fail", failing=("corpus[0]",))
    assert (got.verdict, got.entry.id, got.also) == ("expected-fail", "demo", ())
    assert _resolve(registry, "pass").verdict == "fixed"
    assert _resolve(registry, "fail", failing=("corpus[0]",), dtype="float32") == Resolution(
        "fail", uncovered=("corpus[0]",)
    )
    assert _resolve(registry, "fail", failing=("corpus[0]",), version="100.0").verdict == "fail"
    assert _resolve(registry, "fail", failing=("corpus[0]",), api="x/sum").verdict == "expected-fail"
    # a failure whose inputs are not known is covered by an entry about the whole cell
    assert _resolve(registry, "fail").verdict == "expected-fail"
    # an error is reported as it is, naming the entry
    got = _resolve(registry, "error")
    assert (got.verdict, got.entry.id) == ("error", "demo")


def test_non_strict_entry_lets_a_pass_stay_a_pass(tmp_path):
    registry = load_registry(_write(tmp_path, ENTRY + "strict = false\n"))
    got = _resolve(registry, "pass")
    assert (got.verdict, got.entry.id) == ("pass", "demo")
    assert _resolve(registry, "fail", failing=("corpus[0]",)).verdict == "expected-fail"


def test_case_filter_covers_only_failures_on_those_cases(tmp_path):
    """A ``case`` filter narrows an entry to failures on named corpus cases: the same property
    failing on another input (or on inputs nobody named) is unexpected."""
    registry = load_registry(_write(tmp_path, ENTRY + 'case = "power_of_two_lengths*"\nstrict = false\n'))
    assert _resolve(registry, "fail", failing=("power_of_two_lengths[19]",)).verdict == "expected-fail"
    got = _resolve(registry, "fail", failing=("long_axis[0]", "power_of_two_lengths[19]"))
    assert (got.verdict, got.entry, got.uncovered) == ("fail", None, ("long_axis[0]",))
    assert _resolve(registry, "fail", failing=("long_axis[0]",)).verdict == "fail"
    assert _resolve(registry, "fail").verdict == "fail"  # a failure whose inputs are unknown
    got = _resolve(registry, "pass")
    assert (got.verdict, got.entry.id) == ("pass", "demo")  # named, stays a pass


NARROW = """
[[discrepancy]]
id = "narrow"
framework = "numpy"
versions = ">=1,<99"
api = "exp-*"
property = "precision"
case = "long_non_last_axis*"
reason = "a running sum down a long strided axis"
classification = "accuracy-limitation"
"""


def test_entries_cover_a_failure_together_and_a_narrow_one_hides_nothing(tmp_path):
    """The failing inputs are covered one by one, each by the first entry in scope that names it:
    two entries may cover one check together (both recorded), and an input that no entry names
    is a failure, however many of the others are documented."""
    registry = load_registry(_write(tmp_path, NARROW + ENTRY + 'case = "beyond_float16_max*"\n'))
    judged = ("beyond_float16_max[0]", "long_non_last_axis[0]", "tiny[0]")
    got = _resolve(registry, "fail", failing=judged[:2], judged=judged)
    assert (got.verdict, got.entry.id, [e.id for e in got.also]) == ("expected-fail", "narrow", ["demo"])
    got = _resolve(registry, "fail", failing=judged, judged=judged)
    assert (got.verdict, got.uncovered) == ("fail", ("tiny[0]",))
    assert uncovered_note(got.uncovered) == "not covered by the registry: tiny[0]"


def test_a_strict_narrow_entry_is_fixed_when_its_inputs_ran_and_passed(tmp_path):
    """A strict entry with a ``case`` filter reproduces only where its inputs ran: a check that did
    not judge them says nothing (pass), one that judged them and saw them pass has outlived the
    entry (fixed), even when the check fails elsewhere for another, documented reason."""
    registry = load_registry(_write(tmp_path, NARROW + ENTRY))
    assert _resolve(registry, "pass", judged=("tiny[0]",), dtype="float32").verdict == "pass"
    got = _resolve(registry, "pass", judged=("long_non_last_axis[0]",), dtype="float32")
    assert (got.verdict, got.entry.id) == ("fixed", "narrow")
    judged = ("long_non_last_axis[0]", "tiny[0]")
    got = _resolve(registry, "fail", failing=("tiny[0]",), judged=judged)
    assert (got.verdict, got.entry.id) == ("fixed", "narrow")
    got = _resolve(registry, "fail", failing=("long_non_last_axis[0]",), judged=judged)
    assert (got.verdict, got.entry.id) == ("expected-fail", "narrow")
    # a Hypothesis batch it names widens what it covers, but only its curated inputs can retire it
    both = NARROW.replace('"long_non_last_axis*"', '["long_non_last_axis*", "hypothesis[transposed*"]')
    registry = load_registry(_write(tmp_path, both))
    assert _resolve(registry, "pass", judged=("hypothesis[transposed 3x5]",)).verdict == "pass"
    got = _resolve(
        registry, "fail", failing=("hypothesis[transposed 3x5]",), judged=("hypothesis[transposed 3x5]",)
    )
    assert got.verdict == "expected-fail"
    got = _resolve(registry, "fail", failing=("hypothesis[transposed 3x5]",), judged=judged)
    assert (got.verdict, got.entry.id) == ("fixed", "narrow")
    with pytest.raises(RegistryError, match="must name a curated input"):
        load_registry(_write(tmp_path, NARROW.replace('"long_non_last_axis*"', '"hypothesis[transposed*"')))


def _write(tmp_path, text: str):
    path = tmp_path / "plain.toml"
    path.write_text(text)
    return path


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


def test_stale_only_when_a_check_could_have_matched_the_entry(registry):
    """An entry no check of the run could have matched (an opt-in mode, a GPU, inputs the profile
    leaves out) was not tested: not stale. One that was tested and matched nothing is."""
    versions = {"numpy": "2.4.6"}
    assert stale_entries(registry, set(), versions, {"demo"}) == ["demo"]
    assert stale_entries(registry, {"demo"}, versions, {"demo"}) == []
    assert stale_entries(registry, set(), versions, set()) == []


def test_an_entry_is_tested_by_a_check_that_judged_an_input_it_names(tmp_path):
    narrow = load_registry(_write(tmp_path, ENTRY + 'case = ["long_non_last_axis*"]\n'))[0]
    whole = load_registry(_write(tmp_path, ENTRY))[0]
    assert whole.tested_by(()) and whole.tested_by(("textbook[0]",))
    assert not narrow.tested_by(("textbook[0]", "one_d[2]"))
    assert narrow.tested_by(("textbook[0]", "long_non_last_axis[0]"))
    assert narrow.tested_by((), failing_cases=("long_non_last_axis[0]",))


STALE_PROBE = """
[[discrepancy]]
id = "{id}"
framework = "numpy"
api = "x/sum"
dtype = "float32"
property = "precision"
case = ["{case}"]
strict = false
reason = "probe of the stale rule"
classification = "framework-bug"
"""


def test_a_run_calls_stale_only_entries_whose_inputs_it_judged(tmp_path):
    """The quick profile leaves out long_non_last_axis: an entry about that input is not stale in a
    quick run (the cell-based rule called such entries stale in every quick run), while one about
    an input quick judges and that passes is."""
    known = tmp_path / "probe.toml"
    known.write_text(
        STALE_PROBE.format(id="about-an-input-quick-leaves-out", case="long_non_last_axis*")
        + STALE_PROBE.format(id="about-an-input-that-passes", case="textbook*")
    )
    proc = run_cli(
        "run", "--framework", "numpy", "--profile", "quick", "--seed", "0", "--known", str(known),
        "--run-id", "r", "--results-dir", str(tmp_path), "--no-report", cwd=tmp_path,
    )  # fmt: skip
    run = read_run(tmp_path / "r")
    assert run.ends, (proc.stdout + proc.stderr)[-3000:]
    assert stale_known_issues(run) == ["about-an-input-that-passes"]


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
    the earlier one's; the earlier one has no slice condition, or the later one's): ``resolve``
    gives each failing slice to the first entry documenting it, so the later entry never documents
    a failure and is reported stale."""
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
        and earlier.condition in (None, later.condition)
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
