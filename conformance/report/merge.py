"""Merging runs made on several machines or environments into one run.

``combine`` builds the merged run in memory (the report uses it for several RUN
arguments); ``write_merged`` writes it as a results file of schema version
``MERGED_SCHEMA_VERSION`` (the format is documented in ``conformance.records``).

Contract:

* every envelope keeps its identity: it becomes one entry of the merged envelope's
  ``sources`` with a ``source`` label unique in the file (the run id, or the label given,
  with ``#2``, ``#3`` ... appended on a collision) and a ``host`` description;
* every record is kept, labelled with its ``source``; nothing is deduplicated, so the
  same cell measured on two machines appears twice, kept apart by ``source``;
* a *conflict* is the same cell (``cells.cell_key``) with the same framework version but
  different verdicts in two sources; conflicts are listed in the envelope, not resolved;
* ``strict`` (the ``merge`` command) requires one suite version for every source; otherwise
  (the report) a difference becomes a warning in the envelope.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from conformance.records import RESULTS_FILE, Run, merged_envelope_record
from conformance.report.cells import cell_key

RECORD_LISTS = ("frameworks", "checks", "semantics", "samples", "ends")


class MergeError(ValueError):
    """Runs that cannot be merged (different suite versions, a bad label): one line."""


def host_description(envelope: dict[str, Any], framework_records: list[dict[str, Any]]) -> str:
    """A short description of a machine: hostname when recorded, CPU model and cores, GPU models."""
    parts = []
    hostname = envelope.get("hostname")
    if hostname:
        parts.append(str(hostname))
    cpu = re.sub(r"\((R|TM|tm|r)\)|\bCPU\b|\bProcessor\b|@.*$", "", str(envelope.get("cpu") or "")).strip()
    cpu = re.sub(r"\s+", " ", cpu)
    if cpu:
        parts.append(cpu + (f" ×{envelope['cpu_count']}" if envelope.get("cpu_count") else ""))
    gpus = []
    for rec in framework_records:
        for gpu in (rec.get("details") or {}).get("gpus") or []:
            if str(gpu) not in gpus:
                gpus.append(str(gpu))
    parts.extend(gpus)
    return "; ".join(parts)


def _unique(label: str, taken: set[str]) -> str:
    if label not in taken:
        return label
    number = 2
    while f"{label}#{number}" in taken:
        number += 1
    return f"{label}#{number}"


def combine(
    runs: list[Run],
    *,
    labels: list[str] | None = None,
    run_id: str = "merged",
    strict: bool = True,
    argv: list[str] | None = None,
) -> Run:
    """One merged ``Run`` from ``runs`` (plain or merged); MergeError when ``strict`` and suites differ.

    ``labels``, one per run, name plain runs (default: their run ids); a merged run keeps the
    labels of its sources. The result's ``path`` is the first run's path (it is not written).
    """
    if labels is not None and len(labels) != len(runs):
        raise MergeError(f"{len(labels)} label(s) for {len(runs)} run(s); give one --label per run")
    taken: set[str] = set()
    sources: list[dict[str, Any]] = []
    merged = Run(Path(runs[0].path), {})
    for index, run in enumerate(runs):
        if labels is not None and run.merged:
            raise MergeError(f"{run.path}: a merged run keeps the labels of its sources; give it no --label")
        rename: dict[str, str] = {}
        for source in run.sources:
            old = source["source"]
            wanted = labels[index] if labels is not None else old
            if not wanted or not wanted.strip():
                raise MergeError(f"{run.path}: empty source label")
            new = _unique(wanted, taken)
            taken.add(new)
            rename[old] = new
            frameworks = [r for r in run.frameworks if run.source_of(r) == old]
            entry = {k: v for k, v in source.items() if k not in ("source", "host", "merged_from")}
            sources.append(
                {
                    **entry,
                    "source": new,
                    "host": source.get("host") or host_description(source, frameworks),
                    "merged_from": source.get("merged_from") or str(run.path),
                }
            )
        for name in RECORD_LISTS:
            target = getattr(merged, name)
            for record in getattr(run, name):
                target.append({**record, "source": rename[run.source_of(record)]})
    suites = {str(s.get("suite_version")) for s in sources}
    warnings = []
    if len(suites) > 1:
        detail = ", ".join(f"{s['source']}: {s.get('suite_version')}" for s in sources)
        if strict:
            raise MergeError(
                f"runs made with different suite versions ({detail}); merge needs one suite version"
            )
        warnings.append(f"the runs were made with different suite versions ({detail})")
    started = sorted(str(s.get("started") or "") for s in sources if s.get("started"))
    merged.envelope = merged_envelope_record(
        run_id=run_id,
        suite_version=suites.pop() if len(suites) == 1 else "mixed",
        started=started[0] if started else None,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        sources=sources,
        conflicts=find_conflicts(merged.checks),
        warnings=warnings,
        argv=list(argv or []),
    )
    return merged


def find_conflicts(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same cell and framework version with different verdicts in different sources."""
    verdicts: dict[tuple, dict[str, str]] = defaultdict(dict)
    for rec in checks:
        key = (*cell_key(rec), str(rec.get("framework_version") or ""))
        verdicts[key].setdefault(str(rec.get("source")), rec["verdict"])
    conflicts = []
    for key, by_source in verdicts.items():
        if len(by_source) > 1 and len(set(by_source.values())) > 1:
            fields = ("framework", "api", "mode", "op", "device", "dtype", "property", "framework_version")
            conflicts.append({**dict(zip(fields, key, strict=True)), "verdicts": by_source})
    return conflicts


def write_merged(run: Run, out: Path, *, overwrite: bool = False) -> Path:
    """Write a merged run to ``out`` (a run directory, or a ``.jsonl`` file); returns the file's path.

    The file is written under a temporary name and renamed, so a failure leaves nothing behind.
    FileExistsError when it exists and ``overwrite`` is false.
    """
    out = Path(out)
    path = out if out.suffix == ".jsonl" else out / RESULTS_FILE
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; choose another output or pass --overwrite")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(run.envelope, allow_nan=False) + "\n")
            for source in run.sources:
                label = source["source"]
                for name in RECORD_LISTS:
                    for record in getattr(run, name):
                        if record.get("source") == label:
                            fh.write(json.dumps(record, allow_nan=False) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
