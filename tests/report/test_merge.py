"""Merging runs from several machines: format, labels, conflicts, errors, and reports of merged runs."""

from __future__ import annotations

import json

import pytest

from conformance.cli import main
from conformance.records import MERGED_SCHEMA_VERSION, RunFileError, read_run
from conformance.report import synthetic as syn
from conformance.report.model import build_model


def machine(tmp_path, name, *, version="2.4.6", verdict="pass", suite="0.1.0", run_id="ci", gpu=None):
    details = {"gpus": [gpu]} if gpu else {}
    records = [
        syn.envelope(run_id, suite_version=suite, cpu=f"{name} CPU"),
        syn.framework("numpy", version, details=details),
        syn.check(verdict, version=version),
        syn.check("pass", version=version, prop="bounds"),
        syn.semantics(),
        syn.sample(),
        syn.end(),
    ]
    return syn.write_run(tmp_path / name, records)


def test_merge_keeps_every_record_apart_by_source(tmp_path, capsys):
    cpu = machine(tmp_path, "cpu-box")
    gpu = machine(tmp_path, "gpu-box", gpu="NVIDIA H100 80GB HBM3")
    out = tmp_path / "merged"
    assert main(["merge", str(cpu), str(gpu), "-o", str(out)]) == 0
    assert "merged run: " in capsys.readouterr().out
    first = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    assert first["schema_version"] == MERGED_SCHEMA_VERSION and first["merged"] is True
    run = read_run(out)
    assert run.merged and run.finished
    # both runs are called "ci": the second label gets a suffix
    assert [s["source"] for s in run.sources] == ["ci", "ci#2"]
    assert run.sources[1]["host"] == "gpu-box ×2; NVIDIA H100 80GB HBM3"
    assert run.sources[0]["cpu"] == "cpu-box CPU" and run.sources[0]["merged_from"] == str(
        cpu / "results.jsonl"
    )
    assert len(run.checks) == 4 and len(run.semantics) == 2 and len(run.samples) == 2 and len(run.ends) == 2
    assert sorted(run.source_of(r) for r in run.checks) == ["ci", "ci", "ci#2", "ci#2"]
    assert run.envelope["conflicts"] == []


def test_conflicts_are_same_cell_same_version_different_verdict(tmp_path, capsys):
    a = machine(tmp_path, "a", run_id="a")
    b = machine(tmp_path, "b", run_id="b", verdict="fail")
    c = machine(tmp_path, "c", run_id="c", verdict="fail", version="2.5.0")
    out = tmp_path / "m" / "results.jsonl"
    assert main(["merge", str(a), str(b), str(c), "-o", str(out)]) == 0
    assert "1 conflict(s)" in capsys.readouterr().out
    conflicts = read_run(out).envelope["conflicts"]
    assert conflicts == [
        {
            "framework": "numpy",
            "api": "exp-shift",
            "mode": "eager",
            "op": "softmax",
            "device": "cpu",
            "dtype": "float32",
            "property": "precision",
            "framework_version": "2.4.6",
            "verdicts": {"a": "pass", "b": "fail"},
        }
    ]


def test_labels_and_merging_a_merged_run(tmp_path):
    a, b, c = (machine(tmp_path, n, run_id=n) for n in ("a", "b", "c"))
    assert main(["merge", str(a), str(b), "--label", "cpu,gpu", "-o", str(tmp_path / "ab")]) == 0
    assert main(["merge", str(tmp_path / "ab"), str(c), "-o", str(tmp_path / "abc")]) == 0
    run = read_run(tmp_path / "abc")
    assert [s["source"] for s in run.sources] == ["cpu", "gpu", "c"]
    assert {run.source_of(r) for r in run.checks} == {"cpu", "gpu", "c"}
    assert run.sources[0]["merged_from"] == str(a / "results.jsonl")  # the original file, not the merged one


def test_different_suite_versions_are_refused_and_nothing_is_written(tmp_path, capsys):
    a = machine(tmp_path, "a", run_id="a")
    b = machine(tmp_path, "b", run_id="b", suite="0.2.0")
    out = tmp_path / "m"
    assert main(["merge", str(a), str(b), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "different suite versions (a: 0.1.0, b: 0.2.0)" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_existing_output_needs_overwrite_and_label_count_is_checked(tmp_path, capsys):
    a, b = machine(tmp_path, "a", run_id="a"), machine(tmp_path, "b", run_id="b")
    assert main(["merge", str(a), str(b), "-o", str(tmp_path / "m")]) == 0
    before = (tmp_path / "m" / "results.jsonl").read_text()
    assert main(["merge", str(a), str(b), "-o", str(tmp_path / "m")]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["merge", str(a), str(b), "--label", "x", "-o", str(tmp_path / "n")]) == 2
    assert "1 label(s) for 2 run(s)" in capsys.readouterr().err
    assert (tmp_path / "m" / "results.jsonl").read_text() == before and not (tmp_path / "n").exists()
    assert main(["merge", str(a), str(b), "-o", str(tmp_path / "m"), "--overwrite"]) == 0


def test_read_run_checks_merged_records(tmp_path):
    a, b = machine(tmp_path, "a", run_id="a"), machine(tmp_path, "b", run_id="b")
    assert main(["merge", str(a), str(b), "-o", str(tmp_path / "m")]) == 0
    path = tmp_path / "m" / "results.jsonl"
    lines = path.read_text().splitlines()
    record = json.loads(lines[3])
    record["source"] = "nowhere"
    lines[3] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RunFileError, match=r"results.jsonl:4: a record of a merged run needs a 'source'"):
        read_run(path)
    envelope = json.loads(lines[0])
    envelope["sources"] = []
    path.write_text(json.dumps(envelope) + "\n")
    with pytest.raises(RunFileError, match=r"results.jsonl:1: a merged run's envelope needs"):
        read_run(path)


def test_report_of_merged_run_and_of_several_runs_side_by_side(tmp_path):
    cpu = machine(tmp_path, "cpu-box", run_id="cpu")
    gpu = machine(tmp_path, "gpu-box", run_id="gpu", version="2.5.0", verdict="fail")
    assert main(["merge", str(cpu), str(gpu), "-o", str(tmp_path / "m")]) == 0
    merged = build_model(read_run(tmp_path / "m"))
    assert [s["source"] for s in merged.sources] == ["cpu", "gpu"]
    assert [(r.source, r.version) for r in merged.matrix] == [("cpu", "2.4.6"), ("gpu", "2.5.0")]
    assert [len(values) for _, values in merged.environment] == [2] * len(merged.environment)
    # the version trend: the same cell under two versions of numpy, with different verdicts
    assert merged.trend_versions == {"numpy": ["2.4.6", "2.5.0"]}
    assert [t["key"][4] for t in merged.trend] == ["precision"]
    out = tmp_path / "side.html"
    assert main(["report", str(cpu), str(gpu), "-o", str(out)]) == 0
    page = out.read_text()
    assert "cpu-box CPU" in page and "gpu-box CPU" in page and 'id="trend"' in page
    assert page.count('<span class="src">gpu</span>') >= 2  # matrix row and scoreboard row carry the source
