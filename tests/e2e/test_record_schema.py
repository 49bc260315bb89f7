"""The record schema has one writer: a real run's records and the synthetic builder's have the
same fields, kind by kind, and both are exactly ``conformance.records.RECORD_FIELDS``."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import ROOT

from conformance.records import (
    RECORD_FIELDS,
    build_record,
    framework_status_record,
    merged_envelope_record,
    read_run,
    record_shape,
)
from conformance.report import synthetic as syn


def _fields(record: dict) -> tuple[str, ...]:
    return tuple(k for k in record if k != "type")


@pytest.fixture(scope="module")
def real_records(tmp_path_factory) -> list[dict]:
    results = tmp_path_factory.mktemp("schema")
    cmd = [sys.executable, "-m", "conformance", "run", "--framework", "numpy", "--profile", "quick"]
    cmd += ["--dtype", "float32", "--op", "softmax", "--seed", "0", "--results-dir", str(results)]
    cmd += ["--run-id", "x", "--no-progress"]
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    run = read_run(results / "x")
    return [run.envelope, *run.frameworks, *run.checks, *run.semantics, *run.samples, *run.ends]


def _synthetic() -> list[dict]:
    return [
        syn.envelope(),
        syn.framework(),
        syn.check("pass"),
        syn.check("fail"),
        syn.check("pass", prop="bounds"),
        syn.semantics(),
        syn.sample(),
        syn.end(),
    ]


def test_a_real_run_writes_every_kind_with_exactly_the_schemas_fields(real_records):
    shapes = {record_shape(r) for r in real_records}
    assert shapes >= {"envelope", "framework", "check", "semantics", "sample", "end"}
    for record in real_records:
        assert _fields(record) == RECORD_FIELDS[record_shape(record)], record["type"]


def test_synthetic_records_have_the_same_fields_as_a_real_runs_kind_by_kind(real_records):
    real = {record_shape(r): _fields(r) for r in real_records}
    for record in _synthetic():
        shape = record_shape(record)
        assert _fields(record) == RECORD_FIELDS[shape] == real[shape], shape


def test_the_other_shapes_are_built_by_their_constructors():
    status = framework_status_record("torch", "not installed", "torch is not installed")
    assert record_shape(status) == "framework_status"
    assert _fields(status) == RECORD_FIELDS["framework_status"]
    merged = merged_envelope_record(
        run_id="m", suite_version="0.1.0", started=None, created="now", sources=[], conflicts=[],
        warnings=[], argv=[],
    )  # fmt: skip
    assert record_shape(merged) == "merged_envelope" and merged["merged"] is True
    assert _fields(merged) == RECORD_FIELDS["merged_envelope"]


def test_a_constructor_refuses_a_missing_or_unknown_field():
    fields = {name: None for name in RECORD_FIELDS["end"]}
    assert build_record("end", fields)["type"] == "end"
    with pytest.raises(TypeError, match="missing fields \\['checks'\\]"):
        build_record("end", {k: v for k, v in fields.items() if k != "checks"})
    with pytest.raises(TypeError, match="unknown fields \\['extra'\\]"):
        build_record("end", {**fields, "extra": 1})
