"""``audit-registry``: the registry of known discrepancies against kept runs.

The contract: ``audit(runs, registry)`` takes every failing check of the runs (``fail`` and
``expected-fail`` records, with the inputs that failed and the slice conditions of each) and
resolves it again against ``registry`` by ``conformance.known``'s rule (each kind of failing
slice documented by the most specific covering entry). It returns which inputs each entry
documents, across all the runs, and the checks that the registry would now leave uncovered (an
input no entry in scope covers: a live run would report ``fail``).

What it is for: a registry change (a new ``case`` filter, a narrower API list, a removed entry)
is safe for the kept runs when it leaves nothing uncovered; and an entry about every input of
its cells (no ``case``, no ``condition``) that documents few distinct inputs, each of them the
mechanism its reason measures, is a candidate for a ``case`` filter, so that a new failure on
another input of those cells shows instead of hiding behind it. Passing checks are not
re-resolved: their records keep no list of the inputs judged, which the ``fixed`` rule of an
entry with a ``case`` filter needs, and narrowing an entry can only turn ``fixed`` into ``pass``.
The records are taken as they were judged: a run older than a change to the judging keeps the
verdicts of its day, and the slice conditions its records name (a run older than a condition
decided while judging, such as ``flush-near-tiny``, names none of it: the entries requiring it leave
those checks uncovered until the cells are run again).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from conformance.errors import ConformanceError
from conformance.known import DEFAULT_REGISTRY, KnownDiscrepancy, RegistryError, attribution, load_registry
from conformance.records import Run, read_run

FAILING = ("fail", "expected-fail")
_GENERATED = re.compile(r"^hypothesis\[([a-z0-9_]+),.*")


@dataclass(frozen=True)
class Uncovered:
    """A failing check that the registry leaves (partly) undocumented."""

    run: str
    implementation: str
    dtype: str
    prop: str
    inputs: tuple[str, ...]


@dataclass
class Audit:
    """What ``audit`` found: per entry id, the failing inputs it documents (how many failing
    (check, input) pairs, per input name; generated batches counted per layout) and the checks
    they belong to; the checks left uncovered; how many failing checks were re-resolved."""

    documented: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    checks: dict[str, set[tuple[str, str, str, str]]] = field(default_factory=lambda: defaultdict(set))
    uncovered: list[Uncovered] = field(default_factory=list)
    failing_checks: int = 0


def input_family(name: str) -> str:
    """The name an audit groups an input under: a generated batch by its layout
    (``hypothesis[rows,...]``), since each seed draws other batches; a curated input by its name."""
    match = _GENERATED.match(name)
    return f"hypothesis[{match.group(1)},...]" if match else name


def audit(runs: list[Run], registry: list[KnownDiscrepancy]) -> Audit:
    """Re-resolve every failing check of ``runs`` against ``registry`` (see the module's contract)."""
    out = Audit()
    for run in runs:
        run_id = str(run.envelope.get("run_id") or run.path.parent.name)
        for record in run.checks:
            if record.get("verdict") not in FAILING:
                continue
            out.failing_checks += 1
            check = {
                "framework": record["framework"],
                "version": record.get("framework_version"),
                "api": record["api"],
                "mode": record["mode"],
                "dtype": record["dtype"],
                "device": record["device"],
                "op": record["op"],
                "prop": record["property"],
            }
            cases = tuple(record.get("failing_cases") or ())
            conditions = record.get("failing_conditions") or {}
            kinds = {k: tuple(tuple(c) for c in v) for k, v in conditions.items()}
            where = (record["implementation"], record["dtype"], record["property"], record["device"])
            missing = []
            for case, entries in attribution(registry, cases, kinds, **check).items():
                if None in entries:
                    missing.append(case)
                for entry in dict.fromkeys(e for e in entries if e is not None):
                    out.documented[entry.id][input_family(case)] += 1
                    out.checks[entry.id].add(where)
            if missing:
                out.uncovered.append(Uncovered(run_id, *where[:3], tuple(missing)))
    return out


def format_audit(result: Audit, registry: list[KnownDiscrepancy], runs: int, shown: int = 8) -> str:
    """The audit as text: the uncovered checks first, then every entry about whole cells with the
    inputs it documents (fewest distinct inputs first: the likeliest to narrow), then the entries
    that documented no failing input of these runs."""
    lines = [
        f"registry audit: {runs} run(s), {result.failing_checks} failing checks resolved again",
        f"left uncovered by this registry: {len(result.uncovered)} check(s)",
    ]
    for u in result.uncovered:
        more = f" and {len(u.inputs) - 3} more" if len(u.inputs) > 3 else ""
        lines.append(f"  {u.run}: {u.implementation} {u.dtype} {u.prop}: {', '.join(u.inputs[:3])}{more}")
    whole = [e for e in registry if e.case == ("*",) and e.condition is None and result.documented.get(e.id)]
    lines.append(f"entries about every input of their cells, with the inputs they document: {len(whole)}")
    for entry in sorted(whole, key=lambda e: (len(result.documented[e.id]), e.id)):
        inputs = result.documented[entry.id].most_common()
        listed = ", ".join(f"{name} ({count})" for name, count in inputs[:shown])
        more = f", and {len(inputs) - shown} more" if len(inputs) > shown else ""
        strict = "strict" if entry.strict else "not strict"
        lines.append(f"  {entry.id} ({strict}, {len(result.checks[entry.id])} checks): {listed}{more}")
    idle = sorted(e.id for e in registry if not result.documented.get(e.id))
    lines.append(f"entries that documented no failing input of these runs: {len(idle)}")
    if idle:
        lines.append("  " + ", ".join(idle))
    return "\n".join(lines)


def cmd_audit_registry(args: argparse.Namespace) -> int:
    """Exit status 1 when the registry leaves a failing check of the runs uncovered, else 0."""
    try:
        registry = load_registry(args.known or DEFAULT_REGISTRY)
    except RegistryError as exc:
        raise ConformanceError(str(exc)) from None
    runs = [read_run(Path(p)) for p in args.runs]
    result = audit(runs, registry)
    print(format_audit(result, registry, len(runs), shown=args.shown))
    sys.stdout.flush()
    return 1 if result.uncovered else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``audit-registry`` on the command line's subparsers."""
    parser = sub.add_parser(
        "audit-registry",
        help="resolve the failing checks of kept runs against the registry again: what each entry documents, "
        "what it leaves uncovered",
    )
    parser.add_argument("runs", nargs="+", help="run directories or results files (results.jsonl)")
    parser.add_argument("--known", default=None, help="registry to audit (default: the bundled one)")
    parser.add_argument("--shown", type=int, default=8, help="inputs listed per entry (default 8)")
    parser.set_defaults(func=cmd_audit_registry)
