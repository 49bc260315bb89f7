"""Results files: one run = one JSON-lines file, an envelope first, then records.

Schema (version ``SCHEMA_VERSION``), one JSON object per line:

* ``{"type": "envelope", "schema_version", "run_id", "suite_version", "started",
  "python", "python_implementation", "os", "hostname", "cpu", "cpu_count",
  "distributions": {name: version or null}, "seed", "profile", "selection", "argv"}`` --
  exactly once, first. Framework versions, devices and device details are in the
  ``framework`` records (written by the process that imported the framework).
* ``{"type": "check", ...}`` -- one per (implementation, device, dtype, property):
  ``implementation, framework, api, op, operation, mode, device, dtype, property,
  verdict`` (pass, fail, expected-fail, fixed, unsupported, skipped, error),
  ``metric, median, tolerance, unit, n_cases, n_failed, message, worst_case,
  repro, failing_cases, failing_conditions, known_issue, also_known, histogram, seed,
  cell_seed, profile, seconds, timing``. ``metric`` is the worst value over every judged
  slice and ``tolerance`` the bound at that slice
  (for precision: the ULP error and the tolerance at the element nearest to, or
  furthest beyond, its allowance); ``median`` is over slices. ``worst_case`` is the
  smallest failing slice (reduced while it still fails on its own), with its own
  ``metric`` and ``bound``, which may therefore differ from the check's. ``seed`` is
  the run's seed, ``cell_seed`` the Hypothesis seed derived from it for this cell.
  ``failing_cases`` lists the inputs (corpus cases, ``hypothesis[...]`` batches, gradient inputs)
  holding a failing slice or a failed call, empty for a pass; ``failing_conditions`` maps each of
  those inputs some of whose failing slices meet a condition of ``conformance.slice_conditions``
  (``sum-overflow``, ``subnormal-entry``, ``all-zero``) to the kinds of its failing slices, each
  the list of conditions it meets (``[[], ["all-zero"]]``); ``known_issue`` is the registry entry
  that documents the failure (or, for a pass, the one that matched: a strict one makes the verdict
  ``fixed``), ``also_known`` the ids of further entries that, together with it, cover every
  failing case (``conformance.known.resolve``).
  ``histogram`` (precision only, else null) is ``{"edges", "counts", "nonfinite"}``:
  how many judged slices had their ULP error in ``[edges[k], edges[k+1])`` (the last
  bin is open).
* ``{"type": "semantics", ...}`` -- one per special input and implementation:
  ``case, description, input, input_dtype, observed, observed_dtype, error, limit,
  classification, note, known_issue`` (null unless a registry entry documents the difference)
  plus the cell fields;
  classification ``error`` (observed, input and limit null) for each special case of a cell
  whose probe input raised something other than a decline, so it was never observed.
* ``{"type": "sample", ...}`` -- one per cell: the output on one fixed positive
  vector, ``input, output, expected, error`` plus the cell fields (for pictures).
* ``{"type": "framework", "framework", "status", "version", "devices", "details", "pid",
  "compile_cache"}`` -- written by the process that imported the framework (``status``
  "ok"; ``compile_cache``: the directory where XLA programs were kept between runs, or
  null, ``conformance.compile_cache``; ``import_seconds``: how long importing the framework took
  in that process, null for custom implementations); ``{"type": "framework", "framework", "status",
  "message"}`` for a framework that is not installed, or whose process died or timed out;
  ``{"type": "framework", "framework", "status": "restarted", "message", "pid"}`` for a process
  (``pid``) that crashed and was started again for the checks it had not recorded.
* ``timing`` in a check record: ``calls, run_seconds, compile_seconds, compiles,
  backward_seconds`` of its cell (compile time includes loading from the compile cache), and
  for an alias cell (``conformance.evaluation.aliasing``) ``alias_check``: ``{"canonical",
  "identical", "calls", "seconds", "difference"}``, the replay of its canonical's calls; and,
  where the framework reports its compilations, ``framework_compiles``: TensorFlow ``{"traces"}``
  (its ``xla`` tf.functions' tracing counts), JAX (``jax.monitoring``)
  ``{"backend_compiles", "backend_compile_seconds", "traces", "trace_seconds"}`` (a backend
  compile includes a load from the persistent compile cache) while the cell
  was evaluated (``compiles`` above counts the suite's own first calls of a compiled shape).
* ``inherited_from`` in a check record: null, or the canonical's test id
  (``test_precision[torch-F.softmax-eager-cpu-float32]``) when the cell is an alias whose outputs
  matched the canonical's bit for bit on every call the canonical was judged on, so its outcome
  is the canonical's (``compile_seconds`` and ``compiles`` are then null).
* ``{"type": "end", "frameworks", "finished", "counts", "stale_known_issues",
  "exit_status", "pid", "planned", "checks"}`` -- written by the process that ran the checks
  of ``frameworks`` (``pid``: that process, as in its ``framework`` records; ``planned``: the
  check records it collected, null under xdist; ``checks``: those it wrote); a framework
  without an ``end`` record, or with one whose ``exit_status`` is pytest's interrupted (2) or
  internal error (3), or with ``checks`` < ``planned``, did not finish
  (``conformance.summary.incomplete_reasons``).

The fields of each kind are ``RECORD_FIELDS``; every record is built by its constructor here
(``check_record``, ``semantics_record``, ...), by the suite and by the synthetic runs of the
report's tests alike. Records are written one at a time, unbuffered, so a crash keeps what was
done.

Merged runs (schema version ``MERGED_SCHEMA_VERSION``), written by ``python -m conformance
merge``: runs made on several machines or environments (a CPU box and a GPU box, several tox
environments) combined into one file. Version 2 is version 1 plus:

* the envelope has ``"merged": true`` and ``"sources"``: a list of the original envelopes
  (each unchanged but for two added keys, ``"source"``, a label unique in the file, and
  ``"host"``, a short description of the machine), in the order they were merged; its other
  keys are ``run_id`` (the merged run's), ``suite_version`` (common to every source),
  ``started`` (the earliest), ``created`` and ``conflicts`` (the same cell with the same
  framework version but different verdicts in two sources: the cell fields,
  ``framework_version`` and ``verdicts``, a map from source label to verdict);
* every other record carries ``"source"``: the label of the envelope it came from. The
  same cell may therefore appear once per source; a reader keeps them apart by ``source``.

A plain run is still written as version 1, so that older readers keep reading plain runs and
refuse merged ones with a clear message. ``read_run`` reads both; ``Run.sources`` gives the
envelopes of either kind (a plain run's own envelope, labelled with its run id).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:  # optional speed-up for reading runs (see _loads)
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is a dependency, but reading works without it
    _orjson = None

SCHEMA_VERSION = 1
MERGED_SCHEMA_VERSION = 2
READABLE_SCHEMA_VERSIONS = (SCHEMA_VERSION, MERGED_SCHEMA_VERSION)
VERDICTS = ("pass", "fail", "expected-fail", "fixed", "unsupported", "skipped", "error")
UNEXPECTED = ("fail", "fixed", "error")
RESULTS_FILE = "results.jsonl"


# ---- the record schema: the one place that says which fields each kind of record has ----------
#
# Every writer (``conformance.environment``, ``conformance.recording``, ``conformance.cli``,
# ``conformance.report.merge``) and the synthetic builder (``conformance.report.synthetic``)
# builds its records with the constructors below, which take exactly these fields (TypeError on
# a missing or an unknown one) and write them in this order, non-finite floats sanitized. A field
# added to the schema is added here, and to the docstring above.

# The fields naming a cell, first in every ``check``, ``semantics`` and ``sample`` record.
CELL_FIELDS = (
    "implementation",
    "framework",
    "framework_version",
    "api",
    "op",
    "operation",
    "mode",
    "device",
    "dtype",
)
# The fields of each record shape, keyed by shape; a record's ``type`` is its shape but for
# ``framework_status`` (type ``framework``: a framework that is not installed or did not finish).
RECORD_FIELDS: dict[str, tuple[str, ...]] = {
    "envelope": (
        "schema_version",
        "run_id",
        "suite_version",
        "started",
        "python",
        "python_implementation",
        "os",
        "hostname",
        "cpu",
        "cpu_count",
        "distributions",
        "seed",
        "profile",
        "selection",
        "argv",
    ),
    "merged_envelope": (
        "schema_version",
        "run_id",
        "suite_version",
        "merged",
        "started",
        "created",
        "sources",
        "conflicts",
        "warnings",
        "argv",
    ),
    "check": (
        *CELL_FIELDS,
        "property",
        "verdict",
        "metric",
        "median",
        "tolerance",
        "unit",
        "n_cases",
        "n_failed",
        "message",
        "worst_case",
        "repro",
        "failing_cases",
        "failing_conditions",
        "known_issue",
        "also_known",
        "histogram",
        "seed",
        "cell_seed",
        "profile",
        "seconds",
        "timing",
        "inherited_from",
    ),
    "semantics": (
        *CELL_FIELDS,
        "case",
        "description",
        "input",
        "input_dtype",
        "observed",
        "observed_dtype",
        "error",
        "limit",
        "classification",
        "note",
        "known_issue",
    ),
    "sample": (*CELL_FIELDS, "input", "output", "expected", "error"),
    "framework": (
        "framework",
        "status",
        "version",
        "devices",
        "details",
        "pid",
        "compile_cache",
        "import_seconds",
    ),
    "framework_status": ("framework", "status", "message"),
    "framework_restart": ("framework", "status", "message", "pid"),
    "end": (
        "frameworks",
        "finished",
        "counts",
        "stale_known_issues",
        "exit_status",
        "pid",
        "planned",
        "checks",
    ),
}
_RECORD_TYPE = {
    "merged_envelope": "envelope",
    "framework_status": "framework",
    "framework_restart": "framework",
}


def record_shape(record: dict[str, Any]) -> str:
    """The shape (a key of ``RECORD_FIELDS``) of a record read back or built."""
    kind = str(record.get("type"))
    if kind == "envelope" and record.get("merged"):
        return "merged_envelope"
    if kind == "framework" and record.get("status") != "ok":
        return "framework_status"
    return kind


def build_record(shape: str, values: dict[str, Any]) -> dict[str, Any]:
    """The record of ``shape`` with ``values`` (exactly its ``RECORD_FIELDS``), ``type`` first, sanitized."""
    fields = RECORD_FIELDS[shape]
    missing = [name for name in fields if name not in values]
    unknown = [name for name in values if name not in fields]
    if missing or unknown:
        raise TypeError(f"{shape} record: missing fields {missing}, unknown fields {unknown}")
    return sanitize({"type": _RECORD_TYPE.get(shape, shape), **{name: values[name] for name in fields}})


def cell_fields(**values: Any) -> dict[str, Any]:
    """The ``CELL_FIELDS`` of a cell, in order (TypeError on a missing or unknown one)."""
    if set(values) != set(CELL_FIELDS):
        raise TypeError(f"cell fields: expected {list(CELL_FIELDS)}, got {sorted(values)}")
    return {name: values[name] for name in CELL_FIELDS}


def envelope_record(**values: Any) -> dict[str, Any]:
    """The envelope of a plain run (``schema_version`` is ``SCHEMA_VERSION``)."""
    return build_record("envelope", {"schema_version": SCHEMA_VERSION, **values})


def merged_envelope_record(**values: Any) -> dict[str, Any]:
    """The envelope of a merged run (``schema_version`` ``MERGED_SCHEMA_VERSION``, ``merged`` true)."""
    return build_record(
        "merged_envelope", {"schema_version": MERGED_SCHEMA_VERSION, "merged": True, **values}
    )


def check_record(cell: dict[str, Any], **values: Any) -> dict[str, Any]:
    """A ``check`` record: the ``cell_fields`` of its cell and the check's own fields."""
    return build_record("check", {**cell, **values})


def semantics_record(cell: dict[str, Any], **values: Any) -> dict[str, Any]:
    """A ``semantics`` record; ``known_issue`` is null unless a registry entry documents the case."""
    return build_record("semantics", {"known_issue": None, **cell, **values})


def sample_record(cell: dict[str, Any], **values: Any) -> dict[str, Any]:
    """A ``sample`` record: the output on the fixed sample vector beside the oracle's."""
    return build_record("sample", {**cell, **values})


def used_entries(record: dict[str, Any]) -> list[str]:
    """The ids of the registry entries a ``check`` or ``semantics`` record names, ``known_issue``
    first, then ``also_known`` (that check used them: an entry no record names matched nothing)."""
    if record.get("type") not in ("check", "semantics") or not isinstance(record.get("known_issue"), dict):
        return []
    return [str(record["known_issue"].get("id")), *(str(i) for i in record.get("also_known") or [])]


def framework_record(**values: Any) -> dict[str, Any]:
    """The ``framework`` record of a framework that ran (``status`` "ok")."""
    return build_record("framework", {"status": "ok", **values})


def framework_status_record(framework: str, status: str, message: str) -> dict[str, Any]:
    """The ``framework`` record of a framework that did not run: not installed, import failed,
    version too old, did not finish; ``message`` says why."""
    return build_record("framework_status", {"framework": framework, "status": status, "message": message})


def framework_restart_record(framework: str, pid: int, message: str) -> dict[str, Any]:
    """The ``framework`` record (status "restarted") of a process that was killed by a signal
    (``pid``: it wrote no ``end`` record) and started again for the checks it had not recorded."""
    return build_record(
        "framework_restart", {"framework": framework, "status": "restarted", "message": message, "pid": pid}
    )


def end_record(**values: Any) -> dict[str, Any]:
    """The ``end`` record a process writes when it has run its checks."""
    return build_record("end", values)


class RunFileError(ValueError):
    """A results file that cannot be read: the message names the file and line."""


class RunWriter:
    """Append-only writer of one results file; every record is one unbuffered ``O_APPEND`` write.

    A record is in the kernel once ``write`` returns, so a process that crashes or is
    killed keeps every record it wrote; ``close`` also syncs the file to disk (a sync per
    record cost seconds per run and protects only against the machine itself failing).
    Several processes may append to the same file at once (the CLI runs frameworks
    in parallel): a record is written with a single ``os.write`` of the whole line,
    which the kernel appends atomically, so lines never interleave.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, record: dict[str, Any]) -> None:
        if self._fd is None:
            raise ValueError(f"{self.path}: writer is closed")
        data = (json.dumps(record, allow_nan=False, default=_jsonable) + "\n").encode("utf-8")
        written = os.write(self._fd, data)
        while written < len(data):  # only on a signal or a full disk; the line stays whole otherwise
            written += os.write(self._fd, data[written:])

    def close(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None


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
    def merged(self) -> bool:
        """True for a merged run (several envelopes, records labelled with their ``source``)."""
        return bool(self.envelope.get("merged"))

    @property
    def sources(self) -> list[dict[str, Any]]:
        """The envelope of every machine/environment in the run, each with a ``source`` label."""
        if self.merged:
            return list(self.envelope["sources"])
        label = str(self.envelope.get("run_id", ""))
        return [{**self.envelope, "source": label, "host": self.envelope.get("host", "")}]

    def source_of(self, record: dict[str, Any]) -> str:
        """The label of the envelope a record came from (a plain run's run id)."""
        return record.get("source") or str(self.envelope.get("run_id", ""))

    @property
    def finished(self) -> bool:
        """Every source wrote at least one ``end`` record (a plain run: any ``end`` record)."""
        if not self.merged:
            return bool(self.ends)
        done = {end.get("source") for end in self.ends}
        return all(src["source"] in done for src in self.sources)


def _loads(line: str) -> object:
    """``json.loads``, through orjson where it is installed (2-3x faster on big runs).

    orjson rejects the NaN/Infinity literals that ``json`` accepts (records are written
    without them, but a hand-edited file may have them): such a line, and any line orjson
    rejects, goes to ``json.loads``, whose error is the one reported.
    """
    if _orjson is not None:
        try:
            return _orjson.loads(line)
        except _orjson.JSONDecodeError:
            pass
    return json.loads(line)


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
    elif not path.exists() and path.suffix != ".jsonl":
        raise RunFileError(f"{path}: no such run (neither a run directory nor a results file)")
    if not path.exists():
        raise RunFileError(f"{path}: no such results file")
    run: Run | None = None
    labels: set[str] = set()
    for number, line in _lines(path):
        try:
            record = _loads(line)
        except json.JSONDecodeError as exc:
            raise RunFileError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict) or "type" not in record:
            raise RunFileError(f"{path}:{number}: a record must be a JSON object with a 'type'")
        kind = record["type"]
        if run is None:
            if kind != "envelope":
                raise RunFileError(f"{path}:{number}: the first record must be the envelope, got {kind!r}")
            version = record.get("schema_version")
            if version not in READABLE_SCHEMA_VERSIONS:
                raise RunFileError(
                    f"{path}:{number}: schema version {version!r}, this suite reads version {SCHEMA_VERSION}"
                    f" (a merged run: version {MERGED_SCHEMA_VERSION})"
                )
            if version == MERGED_SCHEMA_VERSION:
                labels = _merged_labels(path, number, record)
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
        if labels and record.get("source") not in labels:
            raise RunFileError(
                f"{path}:{number}: a record of a merged run needs a 'source' naming one of its envelopes,"
                f" got {record.get('source')!r}"
            )
        if kind == "check" and record.get("verdict") not in VERDICTS:
            raise RunFileError(f"{path}:{number}: unknown verdict {record.get('verdict')!r}")
        target[kind].append(record)
    if run is None:
        raise RunFileError(f"{path}: empty results file (no envelope)")
    return run


def _merged_labels(path: Path, number: int, envelope: dict[str, Any]) -> set[str]:
    """The source labels of a merged run's envelope; RunFileError unless it is well formed."""
    sources = envelope.get("sources")
    if not envelope.get("merged") or not isinstance(sources, list) or not sources:
        raise RunFileError(
            f"{path}:{number}: a merged run's envelope needs 'merged': true and a list of 'sources'"
        )
    labels = [s.get("source") if isinstance(s, dict) else None for s in sources]
    if any(not isinstance(label, str) or not label for label in labels) or len(set(labels)) != len(labels):
        raise RunFileError(f"{path}:{number}: every source of a merged run needs a unique 'source' label")
    return set(labels)
