"""Recording: the records a session writes, built with ``conformance.records``' constructors.

The contract: every record the pytest session writes is built here, from the session's cells,
outcomes and frameworks, through the schema's constructors (``check_record``,
``semantics_record``, ``sample_record``, ``framework_record``, ``framework_status_record``,
``end_record``), so its fields are the schema's and nothing else. ``Tally`` counts what the
controller wrote (verdicts, unexpected results, registry entries used) for the ``end`` record
and the terminal summary. Nothing here judges: verdicts and registry entries are passed in.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance.adapters.base import FrameworkAdapter
from conformance.adapters.custom import CustomImplementation
from conformance.compile_cache import ENV_MARKER as COMPILE_CACHE_ENV
from conformance.evaluation import Cell, PropertyOutcome, cell_seed
from conformance.known import KnownDiscrepancy
from conformance.property_registry import unit_of
from conformance.records import (
    UNEXPECTED,
    cell_fields,
    check_record,
    end_record,
    framework_record,
    framework_status_record,
    sample_record,
    semantics_record,
    used_entries,
)


def cell_record_fields(cell: Cell, versions: Mapping[str, str | None]) -> dict[str, Any]:
    """The cell fields of ``cell``'s records (``versions``: framework -> version)."""
    impl = cell.impl
    return cell_fields(
        implementation=impl.id,
        framework=impl.framework,
        framework_version=versions.get(impl.framework),
        api=impl.api,
        op=impl.op,
        operation=impl.operation,
        mode=impl.mode,
        device=cell.device,
        dtype=cell.dtype,
    )


def outcome_fields(prop: str, outcome: PropertyOutcome) -> dict[str, Any]:
    """The fields of a ``check`` record (and of ``conformance.api.PropertyResult``) that come from
    the property's outcome: the worst metric and its tolerance, the unit, counts, message, worst case."""
    return {
        "metric": outcome.metric,
        "median": outcome.median,
        "tolerance": outcome.bound,
        "unit": unit_of(prop),
        "n_cases": outcome.n_cases,
        "n_failed": outcome.n_failed,
        "message": outcome.message,
        "worst_case": outcome.worst,
        "repro": outcome.repro,
        "failing_cases": list(outcome.failing_cases),
        "failing_conditions": {
            case: [list(kind) for kind in kinds] for case, kinds in outcome.failing_conditions.items()
        },
    }


def property_record(
    cell: Cell,
    prop: str,
    outcome: PropertyOutcome,
    verdict: str,
    entry: KnownDiscrepancy | None,
    *,
    versions: Mapping[str, str | None],
    seed: int,
    profile: str,
    seconds: float,
    timing: dict | None,
    inherited_from: str | None = None,
    also_known: Sequence[KnownDiscrepancy] = (),
) -> dict[str, Any]:
    """The ``check`` record of one property of one cell: ``verdict`` after the registry's ``entry``
    (``also_known``: the further entries that, with it, cover the failing cases);
    ``inherited_from``: the canonical's test id when an alias inherited its outcome."""
    return check_record(
        cell_record_fields(cell, versions),
        property=prop,
        verdict=verdict,
        **outcome_fields(prop, outcome),
        known_issue=entry.as_record() if entry else None,
        also_known=[e.id for e in also_known],
        histogram=outcome.histogram,
        seed=seed,
        cell_seed=cell_seed(seed, cell),
        profile=profile,
        seconds=round(seconds, 4),
        timing=timing,
        inherited_from=inherited_from,
    )


def semantics_row_record(
    cell: Cell, row: dict[str, Any], versions: Mapping[str, str | None]
) -> dict[str, Any]:
    """The ``semantics`` record of one row of ``CellEvaluation.semantics()`` (or ``unobserved_semantics``)."""
    return semantics_record(cell_record_fields(cell, versions), **row)


def sample_of(cell: Cell, sample: dict[str, Any], versions: Mapping[str, str | None]) -> dict[str, Any]:
    """The ``sample`` record of ``CellEvaluation.sample()``'s result."""
    return sample_record(cell_record_fields(cell, versions), **sample)


def unobserved_semantics(cell: Cell, error: str) -> list[dict[str, Any]]:
    """``semantics`` rows (without the cell fields) for every special corpus case of the cell's op,
    none of them observed because ``error`` happened first: classification ``error``."""
    from conformance.cases.corpus import CORPUS

    return [
        {
            "case": name,
            "description": "not observed",
            "input": None,
            "input_dtype": None,
            "observed": None,
            "observed_dtype": None,
            "error": error,
            "limit": None,
            "classification": "error",
            "note": "not observed: the cell raised before its special inputs were called",
        }
        for name, entry in CORPUS.items()
        if entry.special and cell.impl.op in entry.ops
    ]


def framework_records(
    unusable: Mapping[str, tuple[str, str]],
    versions: Mapping[str, str | None],
    adapters: Mapping[str, FrameworkAdapter],
    custom: list[CustomImplementation],
    custom_devices: list[str],
) -> list[dict[str, Any]]:
    """The session's ``framework`` records: the unusable frameworks (status and why), then every
    framework that ran (version, devices, device details, this process), then the custom ones."""
    pid = os.getpid()
    # compile_seconds count loading from this cache where it held the program
    compile_cache = os.environ.get(COMPILE_CACHE_ENV)
    records = [framework_status_record(name, status, reason) for name, (status, reason) in unusable.items()]
    for name, adapter in adapters.items():
        if name in versions:
            records.append(
                framework_record(
                    framework=name,
                    version=versions[name],
                    devices=adapter.devices(),
                    details=adapter.device_details(),
                    pid=pid,
                    compile_cache=compile_cache,
                    import_seconds=adapter.availability().import_seconds,
                )
            )
    for name in dict.fromkeys(impl.framework for impl in custom):
        origins = [impl.origin for impl in custom if impl.framework == name]
        records.append(
            framework_record(
                framework=name,
                version=None,
                devices=custom_devices,
                details={"custom": origins},
                pid=pid,
                compile_cache=compile_cache,
                import_seconds=None,
            )
        )
    return records


def session_end_record(
    frameworks: Iterable[str],
    counts: dict[str, int],
    stale: list[str],
    exit_status: int,
    planned: int | None,
) -> dict[str, Any]:
    """The ``end`` record of this process: what it ran, its verdict counts and exit status."""
    return end_record(
        frameworks=sorted(set(frameworks)),
        finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
        counts=counts,
        stale_known_issues=stale,
        exit_status=int(exit_status),
        pid=os.getpid(),
        planned=planned,
        checks=sum(counts.values()),
    )


@dataclass
class Tally:
    """What the records written so far add up to: verdict counts, unexpected results, entries used."""

    counts: dict[str, int] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    used_entries: set[str] = field(default_factory=set)
    # verdict counts per "implementation (device)": the rows of this process's summary table
    rows: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, record: dict[str, Any]) -> None:
        self.used_entries.update(used_entries(record))
        if record["type"] == "check":
            verdict = record["verdict"]
            self.counts[verdict] = self.counts.get(verdict, 0) + 1
            row = self.rows.setdefault(f"{record['implementation']} ({record['device']})", {})
            row[verdict] = row.get(verdict, 0) + 1
            if verdict in UNEXPECTED:
                self.unexpected.append(
                    f"{record['implementation']}-{record['device']}-{record['dtype']}"
                    f" {record['property']}: {verdict}: {record['message'][:160]}"
                )

    @property
    def written(self) -> int:
        """The ``check`` records written."""
        return sum(self.counts.values())
