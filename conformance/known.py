"""The registry of known discrepancies (``conformance/known_discrepancies.toml``).

Each entry names a framework, a version range (a PEP 440 specifier), glob
patterns for API, mode, dtype, device and op, the property, a reason, a
classification and an upstream link. A failing check that matches an entry is
an *expected failure*; a passing check that matches one is *fixed* (strict: the
run fails until the entry is removed or narrowed); an entry that matches no
check of a framework version that was run is *stale*.

``strict = false`` marks an entry whose failure needs a generated input that a
given seed or profile may not draw (Hypothesis explores at random): a passing
check that matches it stays ``pass`` (the record still names the entry). Use it
only for such entries, and for an entry whose failure depends on the machine (the CPU's vector
instruction set: its reason says where it was and was not seen); a failure the curated corpus
always shows on every machine must be strict.
"""

from __future__ import annotations

import sys
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
}


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
    case: tuple[str, ...] = ("*",)  # globs: every failing slice's corpus case must match one

    def matches(
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
        cases: tuple[str, ...] | None = (),
    ) -> bool:
        """True when this entry covers the given check (globs on the string fields).

        ``cases``: the corpus cases (``power_of_two_lengths[19]``) holding the check's failing
        slices. An entry with a ``case`` filter covers a failure only when every one of them
        matches it: the same property failing on another input is not this discrepancy. A
        passing check (no failing cases) is covered, which is why such an entry must be
        ``strict = false``: a pass says nothing about whether the case was drawn. ``None``: a
        failure whose cases are not known, which no ``case`` filter covers."""
        if cases is None:
            cases = ("",) if self.case != ("*",) else ()
        return (
            self.covers_cell(framework=framework, api=api, mode=mode, dtype=dtype, device=device, op=op)
            and self.covers_version(version)
            and any(fnmatchcase(prop, p) for p in self.property)
            and all(any(fnmatchcase(c, p) for p in self.case) for c in cases)
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
                case=_patterns(raw.get("case", "*"), where, "case"),
            )
        )
        if entries[-1].case != ("*",) and entries[-1].strict:
            raise RegistryError(f"{where}: an entry with a 'case' filter must be strict = false")
    return entries


def _strict(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise RegistryError(f"{where}: 'strict' must be true or false")
    return value


def _patterns(value: object, where: str, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise RegistryError(f"{where}: {name!r} must be a glob string or a list of them")


def apply_registry(verdict: str, entry: KnownDiscrepancy | None) -> str:
    """The reported verdict: fail -> expected-fail, and pass -> fixed (strict entries only)."""
    if entry is None:
        return verdict
    if verdict == "fail":
        return "expected-fail"
    if verdict == "pass":
        return "fixed" if entry.strict else "pass"
    return verdict


def find_entry(entries: list[KnownDiscrepancy], **check: str | None) -> KnownDiscrepancy | None:
    """The first entry matching the check (keywords as in ``KnownDiscrepancy.matches``)."""
    for entry in entries:
        if entry.matches(**check):
            return entry
    return None


def stale_entries(
    entries: list[KnownDiscrepancy],
    used: set[str],
    versions_run: dict[str, str | None],
    cells: list[dict[str, str]] | None = None,
) -> list[str]:
    """Ids of entries for a framework version that was run but that matched no check.

    ``cells``: the cells that ran, as dicts of framework, api, mode, dtype, device and op. When
    given, an entry none of them is in scope of (an opt-in mode such as torch.compile, a CUDA
    device on a CPU-only run) was not tested, so it is not stale.
    """
    return [
        e.id
        for e in entries
        if e.id not in used
        and e.covers_version(versions_run.get(e.framework))
        and (cells is None or any(e.covers_cell(**cell) for cell in cells))
    ]
