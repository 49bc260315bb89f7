"""Results files: one run = one JSON-lines file, an envelope first, then records.

Schema (version ``SCHEMA_VERSION``), one JSON object per line:

* ``{"type": "envelope", "schema_version", "run_id", "suite_version", "started",
  "python", "os", "cpu", "frameworks": {name: version or null}, "devices",
  "device_details", "seed", "profile", "selection", "argv"}`` -- exactly once, first.
* ``{"type": "check", ...}`` -- one per (implementation, device, dtype, property):
  ``implementation, framework, api, op, operation, mode, device, dtype, property,
  verdict`` (pass, fail, expected-fail, fixed, unsupported, skipped, error),
  ``metric, median, tolerance, unit, n_cases, n_failed, message, worst_case,
  repro, known_issue, histogram, seed, profile, seconds``. ``histogram`` (precision
  only, else null) is ``{"edges", "counts", "nonfinite"}``: how many judged slices
  had their maximum ULP error in ``[edges[k], edges[k+1])`` (the last bin is open).
* ``{"type": "semantics", ...}`` -- one per special input and implementation:
  ``case, input, observed, limit, classification, note, error`` plus the cell fields.
* ``{"type": "sample", ...}`` -- one per cell: the output on one fixed positive
  vector, ``input, output, expected, error`` plus the cell fields (for pictures).
* ``{"type": "framework", "framework", "status", "message"}`` -- a framework that
  is not installed, or whose process died or timed out.
* ``{"type": "end", "finished", "counts", "stale_known_issues"}`` -- written by the
  process that ran the checks; a run without it did not finish.

Records are written and flushed one at a time, so a crash keeps what was done.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

SCHEMA_VERSION = 1
VERDICTS = ("pass", "fail", "expected-fail", "fixed", "unsupported", "skipped", "error")
UNEXPECTED = ("fail", "fixed", "error")
RESULTS_FILE = "results.jsonl"


class RunFileError(ValueError):
    """A results file that cannot be read: the message names the file and line."""


class RunWriter:
    """Append-only writer of one results file; every line is flushed as it is written."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record, allow_nan=False, default=_jsonable) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def sanitize(value: Any) -> Any:
    """Replace non-finite floats (not valid JSON) by the strings 'nan', 'inf', '-inf'."""
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {k: sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [sanitize(v) for v in value]
    return value


@dataclass
class Run:
    """A results file read back: the envelope, the records by type, and whether it finished."""

    path: Path
    envelope: dict[str, Any]
    checks: list[dict[str, Any]] = field(default_factory=list)
    semantics: list[dict[str, Any]] = field(default_factory=list)
    frameworks: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    ends: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return bool(self.ends)


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield number, line


def read_run(path: str | Path) -> Run:
    """Read a run directory or results file; RunFileError (one line) on any problem."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.exists():
        raise RunFileError(f"{path}: no such results file")
    run: Run | None = None
    for number, line in _lines(path):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RunFileError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict) or "type" not in record:
            raise RunFileError(f"{path}:{number}: a record must be a JSON object with a 'type'")
        kind = record["type"]
        if run is None:
            if kind != "envelope":
                raise RunFileError(f"{path}:{number}: the first record must be the envelope, got {kind!r}")
            version = record.get("schema_version")
            if version != SCHEMA_VERSION:
                raise RunFileError(
                    f"{path}:{number}: schema version {version!r}, this suite reads version {SCHEMA_VERSION}"
                )
            run = Run(path, record)
            continue
        target = {
            "check": run.checks,
            "semantics": run.semantics,
            "framework": run.frameworks,
            "sample": run.samples,
            "end": run.ends,
        }
        if kind not in target:
            raise RunFileError(f"{path}:{number}: unknown record type {kind!r}")
        if kind == "check" and record.get("verdict") not in VERDICTS:
            raise RunFileError(f"{path}:{number}: unknown verdict {record.get('verdict')!r}")
        target[kind].append(record)
    if run is None:
        raise RunFileError(f"{path}: empty results file (no envelope)")
    return run
