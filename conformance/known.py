"""The registry of known discrepancies (``conformance/known_discrepancies.toml``).

Each entry names a framework, a version range (a PEP 440 specifier), glob
patterns for API, mode, dtype, device and op, the property, a reason, a
classification and an upstream link. A failing check that matches an entry is
an *expected failure*; a passing check that matches one is *fixed* (strict: the
run fails until the entry is removed or narrowed); an entry that was *tested* (a check of a cell it
is about judged an input its ``case`` globs name: ``KnownDiscrepancy.tested_by``) and matched no
check is *stale*. An entry whose inputs the run did not judge (a profile that leaves them out, a
dtype or device that did not run) was not tested, and is not stale.

``case`` narrows an entry to failures on named inputs (globs on corpus case names such as
``long_non_last_axis[0]``, gradient inputs, ``hypothesis[...]`` batches). A failing check is
expected only when every input holding a failing slice is covered, each by some entry in scope:
several entries may cover one check together (``resolve``), so a narrow entry never hides a
failure on another input behind it. ``condition`` (one of ``CONDITIONS``) narrows an entry to
failing slices of a kind, wherever they occur: ``sum-overflow`` covers the slices whose exact sum
of magnitudes exceeds the dtype's max (``conformance.slice_conditions``), and nothing else of the
same input or cell.

``strict = false`` marks an entry whose failure needs a generated input that a
given seed or profile may not draw (Hypothesis explores at random): a passing
check that matches it stays ``pass`` (the record still names the entry). Use it
only for such entries, and for an entry whose failure depends on the machine (the CPU's vector
instruction set: its reason says where it was and was not seen); a failure the curated corpus
always shows on every machine must be strict. A strict entry with a ``case`` filter names at
least one curated input (a corpus case, a gradient input; it may name ``hypothesis[...]``
batches besides): it no longer reproduces when the check judged a matching curated input and no
curated input it names failed: ``fixed``, whatever the check's other inputs did.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_REGISTRY = Path(__file__).with_name("known_discrepancies.toml")
# accuracy-limitation: every operation is IEEE-correct, but the error grows past the error model's
# (e.g. a summation whose error is linear in the slice length, where a pairwise one is log2 n).
CLASSIFICATIONS = ("framework-bug", "documented-difference", "expression-limitation", "accuracy-limitation")
_FIELDS = {
    "id",
    "framework",
    "versions",
    "api",
    "mode",
    "dtype",
    "device",
    "op",
    "property",
    "reason",
    "classification",
    "link",
    "strict",
    "case",
    "condition",
}
# Conditions an entry may require of every failing slice it covers (``condition``), implemented in
# ``conformance.slice_conditions``: predicates of the input slice, of a backward pass's input and
# cotangent slices, then mechanisms decided from the output: a repair (the slice passes once the
# mechanism is undone) or an emulation (the output is the mechanism's, ``conformance.emulations``;
# a float64 cell's output is a correct float32 result, ``conformance.computed_in_float32``).
CONDITIONS = (
    "sum-overflow",
    "subnormal-entry",
    "all-zero",
    "square-of-sum-out-of-range",
    "quotient-out-of-range",
    "flush-near-tiny",
    "xla-temperature-rewrite",
    "linear-sum-denominator",
    "computed-in-float32",
    "computed-in-float32-flush-near-tiny",
    "float32-norm-denominator",
)
# The input a failing check that names none is reported under: only a whole-cell entry covers it.
INPUTS_NOT_KNOWN = "(inputs not known)"


@lru_cache(maxsize=4096)
def _version_in(version: str, specifier: str) -> bool:
    """Whether ``version`` (a local part such as ``+cpu`` ignored) is in the PEP 440 ``specifier``;
    False for a version PEP 440 cannot parse. Memoized: every check asks it of many entries."""
    try:
        return Version(version.split("+")[0]) in SpecifierSet(specifier)
    except InvalidVersion:
        return False


class RegistryError(ValueError):
    """A malformed registry: the message names the file and the entry."""


@dataclass(frozen=True)
class KnownDiscrepancy:
    id: str
    framework: str
    versions: str
    api: tuple[str, ...]  # glob patterns: the entry matches when any pattern does
    mode: tuple[str, ...]
    dtype: tuple[str, ...]
    device: tuple[str, ...]
    op: tuple[str, ...]
    property: tuple[str, ...]
    reason: str
    classification: str
    link: str
    strict: bool = True
    case: tuple[str, ...] = ("*",)  # globs on the names of the inputs it documents
    condition: str | None = None  # a ``CONDITIONS`` name every failing slice it covers must meet

    def covers_case(self, case: str) -> bool:
        """True when the input named ``case`` is one this entry is about (its ``case`` globs)."""
        return any(fnmatchcase(case, p) for p in self.case)

    def covers_kind(self, case: str, kind: tuple[str, ...]) -> bool:
        """True when this entry documents the failing slices of input ``case`` that meet the slice
        conditions ``kind``: its ``case`` globs match the name and its ``condition``, if any, is
        one of them."""
        return self.covers_case(case) and (self.condition is None or self.condition in kind)

    def covers_curated(self, case: str) -> bool:
        """True when ``case`` is a curated input (not a ``hypothesis[...]`` batch) this entry names:
        one that every run of a profile judges, so its passing means the entry stopped reproducing."""
        return not _generated(case) and self.covers_case(case)

    def tested_by(self, judged_cases: tuple[str, ...], failing_cases: tuple[str, ...] = ()) -> bool:
        """True when a check of a cell this entry is about (``covers_cell``) that judged
        ``judged_cases`` (and failed on ``failing_cases``) tested it: an entry about the whole cell
        is tested by every such check; one with ``case`` globs only by a check that judged an
        input they name."""
        if self.case == ("*",):
            return True
        return any(self.covers_case(c) for c in (*judged_cases, *failing_cases))

    def retired_by(self, passed: bool, failing_cases: tuple[str, ...], judged_cases: tuple[str, ...]) -> bool:
        """True when a check in scope shows that this strict entry no longer reproduces: about the
        whole cell, the check ``passed``; about named inputs, a curated one it names was judged
        and none it names failed."""
        if not self.strict:
            return False
        if self.case == ("*",):
            return passed
        return any(self.covers_curated(c) for c in judged_cases) and not any(
            self.covers_curated(c) for c in failing_cases
        )

    def in_scope(
        self,
        *,
        framework: str,
        version: str | None,
        api: str,
        mode: str,
        dtype: str,
        device: str,
        op: str,
        prop: str,
    ) -> bool:
        """True when the entry is about this check, whatever its inputs (cell, version, property)."""
        return (
            self.covers_cell(framework=framework, api=api, mode=mode, dtype=dtype, device=device, op=op)
            and self.covers_version(version)
            and any(fnmatchcase(prop, p) for p in self.property)
        )

    def covers_cell(self, *, framework: str, api: str, mode: str, dtype: str, device: str, op: str) -> bool:
        """True when some property of the cell (framework, API, mode, dtype, device, op) could match."""
        if framework != self.framework:
            return False
        pairs = (
            (self.api, api),
            (self.mode, mode),
            (self.dtype, dtype),
            (self.device, device),
            (self.op, op),
        )
        return all(any(fnmatchcase(value, p) for p in patterns) for patterns, value in pairs)

    def covers_version(self, version: str | None) -> bool:
        return version is not None and _version_in(version, self.versions)

    def as_record(self) -> dict[str, str]:
        return {
            "id": self.id,
            "reason": self.reason,
            "classification": self.classification,
            "link": self.link,
            "strict": self.strict,
        }


def load_registry(path: str | Path = DEFAULT_REGISTRY) -> list[KnownDiscrepancy]:
    """Parse and validate the registry; RegistryError with file and entry on a problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(f"{path}: no such registry file") from None
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{path}: not valid TOML ({exc})") from None
    entries = []
    seen = set()
    for index, raw in enumerate(data.get("discrepancy", []), start=1):
        where = f"{path}: entry {index} ({raw.get('id', 'no id')})"
        unknown = set(raw) - _FIELDS
        if unknown:
            raise RegistryError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        for required in ("id", "framework", "property", "reason", "classification"):
            if not raw.get(required):
                raise RegistryError(f"{where}: missing {required!r}")
        if raw["classification"] not in CLASSIFICATIONS:
            raise RegistryError(f"{where}: classification must be one of {', '.join(CLASSIFICATIONS)}")
        if raw["id"] in seen:
            raise RegistryError(f"{where}: duplicate id")
        seen.add(raw["id"])
        try:
            SpecifierSet(raw.get("versions", ""))
        except InvalidSpecifier:
            raise RegistryError(f"{where}: invalid version specifier {raw.get('versions')!r}") from None
        entries.append(
            KnownDiscrepancy(
                id=raw["id"],
                framework=raw["framework"],
                versions=raw.get("versions", ""),
                api=_patterns(raw.get("api", "*"), where, "api"),
                mode=_patterns(raw.get("mode", "*"), where, "mode"),
                dtype=_patterns(raw.get("dtype", "*"), where, "dtype"),
                device=_patterns(raw.get("device", "*"), where, "device"),
                op=_patterns(raw.get("op", "*"), where, "op"),
                property=_patterns(raw["property"], where, "property"),
                reason=raw["reason"],
                classification=raw["classification"],
                link=raw.get("link", ""),
                strict=_strict(raw.get("strict", True), where),
                case=_case_patterns(raw.get("case", "*"), where),
                condition=_condition(raw.get("condition"), where),
            )
        )
        if entries[-1].strict and all(_generated(p) for p in entries[-1].case):
            raise RegistryError(
                f"{where}: a strict entry's 'case' filter must name a curated input (a corpus case,"
                " a gradient input): a seed may not draw a hypothesis batch (or make it strict = false)"
            )
    return entries


def _condition(value: object, where: str) -> str | None:
    if value is None or value in CONDITIONS:
        return value  # type: ignore[return-value]
    raise RegistryError(f"{where}: 'condition' must be one of {', '.join(CONDITIONS)}")


def _generated(name: str) -> bool:
    """Whether an input name (or a glob for one) is a Hypothesis batch, which a seed may not draw."""
    return name.startswith("hypothesis")


def _strict(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise RegistryError(f"{where}: 'strict' must be true or false")
    return value


def _case_patterns(value: object, where: str) -> tuple[str, ...]:
    """The ``case`` globs, refusing one whose brackets would be a character class where an input's
    index was meant: ``grad_rows[1000]*`` matches ``grad_rows1...``, never ``grad_rows[1000]/ones``
    (``[[]`` is a literal ``[``)."""
    patterns = _patterns(value, where, "case")
    for pattern in patterns:
        index = re.search(r"(?<!\[)\[(\d+)\]", pattern)
        if index:
            literal = pattern.replace(index.group(0), f"[[]{index.group(1)}]", 1)
            raise RegistryError(
                f"{where}: case {pattern!r}: {index.group(0)} is a glob character class, not an input's"
                f" index; write {literal!r} to match the input"
            )
    return patterns


def _patterns(value: object, where: str, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise RegistryError(f"{where}: {name!r} must be a glob string or a list of them")


@dataclass(frozen=True)
class Resolution:
    """What the registry makes of one check: the reported ``verdict``, the ``entry`` the record
    names, the further entries (``also``) that cover the failing inputs with it, and the failing
    inputs no entry covers (``uncovered``; the verdict is then the check's own ``fail``)."""

    verdict: str
    entry: KnownDiscrepancy | None = None
    also: tuple[KnownDiscrepancy, ...] = ()
    uncovered: tuple[str, ...] = ()


def resolve(
    entries: list[KnownDiscrepancy],
    verdict: str,
    *,
    failing_cases: tuple[str, ...] = (),
    judged_cases: tuple[str, ...] = (),
    failing_conditions: Mapping[str, tuple[tuple[str, ...], ...]] | None = None,
    **check: str | None,
) -> Resolution:
    """The reported verdict of a check whose own verdict is ``verdict`` (``check``: the keywords of
    ``KnownDiscrepancy.in_scope``).

    * ``fail``: expected (``expected-fail``) when every input in ``failing_cases`` is covered by
      entries in scope: each kind of its failing slices (``failing_conditions``: the sets of slice
      conditions they meet; an input not listed has one kind, meeting none) by an entry whose
      ``case`` globs match the input and whose ``condition``, if any, the kind meets (the most
      specific: a condition, then case globs, then the whole cell; no inputs known: only an entry
      without a ``case`` filter or a condition covers); else ``fail``, with the
      uncovered inputs. Then, a strict entry in scope with a ``case`` filter whose curated inputs
      were judged (``judged_cases``) and all passed has stopped reproducing: ``fixed``.
    * ``pass``: ``fixed`` for the first strict entry in scope that covers the whole cell or a
      judged input; else the record names the first entry in scope and the verdict stays ``pass``.
    * anything else (error, unsupported, skipped) is reported as it is, naming the first entry
      that covers its inputs.
    """
    scope = [e for e in entries if e.in_scope(**check)]
    retired = (e for e in scope if e.retired_by(verdict == "pass", failing_cases, judged_cases))
    if verdict == "pass":
        entry = next(retired, None)
        return Resolution("fixed", entry) if entry else Resolution("pass", scope[0] if scope else None)
    used, uncovered = _cover(scope, failing_cases, failing_conditions or {})
    if verdict != "fail":
        return Resolution(verdict, used[0] if used and not uncovered else None)
    if uncovered:
        return Resolution("fail", uncovered=uncovered)
    entry = next(retired, None)
    return Resolution("fixed", entry) if entry else Resolution("expected-fail", used[0], tuple(used[1:]))


def uncovered_note(uncovered: tuple[str, ...], shown: int = 3) -> str:
    """ "not covered by the registry: <inputs>": the failing inputs of a partly documented check."""
    more = f" and {len(uncovered) - shown} more" if len(uncovered) > shown else ""
    return f"not covered by the registry: {', '.join(uncovered[:shown])}{more}"


def _cover(
    scope: list[KnownDiscrepancy], cases: tuple[str, ...], kinds: Mapping[str, tuple[tuple[str, ...], ...]]
) -> tuple[list[KnownDiscrepancy], tuple[str, ...]]:
    """The entries (in registry order) covering ``cases``, each kind of failing slice of each
    input by the entry that documents it (``_entry_for``), and the inputs with a kind none
    covers. No inputs known: the first entry without a ``case`` filter or a condition covers the
    whole check."""
    used: list[KnownDiscrepancy] = []
    uncovered = []
    for case, entries in _attribute(scope, cases, kinds).items():
        if None in entries:
            uncovered.append(case)
        else:
            used += [e for e in dict.fromkeys(entries) if e not in used]  # one entry may cover two kinds
    return sorted(used, key=scope.index), tuple(uncovered)


def attribution(
    entries: list[KnownDiscrepancy],
    failing_cases: tuple[str, ...],
    failing_conditions: Mapping[str, tuple[tuple[str, ...], ...]] | None = None,
    **check: str | None,
) -> dict[str, tuple[KnownDiscrepancy | None, ...]]:
    """For each failing input of a check (keywords of ``KnownDiscrepancy.in_scope``), the entry that
    documents each kind of its failing slices (``failing_conditions``; an input not listed has one
    kind), by ``resolve``'s rule: the most specific covering entry, or None where none covers. No
    inputs known: one key, ``INPUTS_NOT_KNOWN``, and the first entry about the whole cell."""
    return _attribute([e for e in entries if e.in_scope(**check)], failing_cases, failing_conditions or {})


def _attribute(
    scope: list[KnownDiscrepancy], cases: tuple[str, ...], kinds: Mapping[str, tuple[tuple[str, ...], ...]]
) -> dict[str, tuple[KnownDiscrepancy | None, ...]]:
    if not cases:
        whole = next((e for e in scope if e.case == ("*",) and e.condition is None), None)
        return {INPUTS_NOT_KNOWN: (whole,)}
    return {c: tuple(_entry_for(scope, c, kind) for kind in kinds.get(c) or ((),)) for c in cases}


def _entry_for(scope: list[KnownDiscrepancy], case: str, kind: tuple[str, ...]) -> KnownDiscrepancy | None:
    """The entry that documents input ``case``'s failing slices of ``kind``: the most specific that
    covers them, whatever their order in the registry: one whose ``condition`` the kind meets (it
    names the mechanism of exactly such slices), then one whose ``case`` globs name the input, then
    one about every input of the cell; registry order among equals."""
    covering = [e for e in scope if e.covers_kind(case, kind)]
    return min(covering, key=lambda e: (e.condition is None, e.case == ("*",)), default=None)


def find_entry(entries: list[KnownDiscrepancy], **check: str | None) -> KnownDiscrepancy | None:
    """The first entry in scope of the check (keywords as in ``KnownDiscrepancy.in_scope``): the
    registry's word on a ``semantics:<case>`` row, which has one input and no slices."""
    return next((e for e in entries if e.in_scope(**check)), None)


def stale_entries(
    entries: list[KnownDiscrepancy],
    used: set[str],
    versions_run: dict[str, str | None],
    tested: set[str] | None = None,
) -> list[str]:
    """Ids of entries for a framework version that was run but that matched no check.

    ``tested``: the ids of the entries some check of the run could have matched
    (``KnownDiscrepancy.tested_by``). When given, an entry not in it was not tested (an opt-in
    mode such as torch.compile, a CUDA device on a CPU-only run, inputs the profile leaves out),
    so it is not stale.
    """
    return [
        e.id
        for e in entries
        if e.id not in used
        and e.covers_version(versions_run.get(e.framework))
        and (tested is None or e.id in tested)
    ]
