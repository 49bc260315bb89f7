"""Regenerate docs/planted-faults.md: the kill table of the planted faults, and the negative controls.

    python tests/faults/make_table.py                      # the kill table (default profile, seed 0)
    python tests/faults/make_table.py --controls           # also the controls, thorough profile (minutes)
    python tests/faults/make_table.py --controls --controls-profile default

Each section of the document lives between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``
markers and is replaced as a whole; the text around the sections is kept as written.
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DOC = ROOT / "docs" / "planted-faults.md"
sys.path[:0] = [str(ROOT), str(HERE.parent)]

import conformance  # noqa: E402
from faults.catalogue import FAULTS  # noqa: E402
from faults.controls import CONTROLS  # noqa: E402
from reference.dtypes import FLOAT_DTYPE_NAMES  # noqa: E402

SEED = 0

TEMPLATE = """\
# Planted faults and negative controls

Does the suite catch real mistakes, and does it leave correct implementations alone?
`tests/faults/catalogue.py` holds implementations with one mistake each, modelled on mistakes
people make (the docstring of each names it); `tests/faults/controls.py` holds correct
implementations computed in different ways. `tests/meta/test_planted_faults.py` asserts that the
default profile catches every fault through the property named below (a fault the suite does
not catch yet is a strict xfail with the reason), and that the same computation without the
mistake passes; `tests/meta/test_negative_controls.py` asserts that every control passes.

Regenerate the tables with `python tests/faults/make_table.py` (add `--controls` for the
controls under the thorough profile: a few minutes).

## Kill table

<!-- faults:begin -->
<!-- faults:end -->

## Negative controls

<!-- controls:begin -->
<!-- controls:end -->
"""


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|")


def _value(v: object) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _input(worst: dict | None) -> str:
    if not worst or not worst.get("input"):
        return ""
    listing = worst["input"]
    values = listing.get("values", [])
    shown = ", ".join(_value(v) for v in values[:6]) + (", ..." if len(values) > 6 else "")
    n = 1
    for d in listing.get("shape", []):
        n *= d
    where = worst.get("where", "")
    alone = "fails on its own" in where
    note = "" if alone else f" ({worst.get('case', where)}, in its batch)"
    return f"`[{shown}]` (n={n}){note}"


def kill_table(seed: int) -> str:
    rows = [
        "| fault | op | the mistake | dtype | expected property | caught | also failing | minimal input |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    caught_count = 0
    escaped = []
    start = time.perf_counter()
    for f in FAULTS:
        result = f.check(profile="default", seed=seed)
        failing = result.failed_properties(f.dtype)
        caught = f.caught(result)
        caught_count += caught
        if not caught:
            escaped.append(f)
        worst = result.get(f.dtype, f.expected).worst_case if caught and f.expected in failing else None
        others = ", ".join(p for p in failing if p != f.expected) or "-"
        mark = "yes" if caught else f"**no**: {f.escapes}"
        cells = [
            f"`{f.name}`",
            f.op,
            _cell(f.mistake),
            f.dtype,
            f.expected,
            _cell(mark),
            others,
            _input(worst),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    seconds = time.perf_counter() - start
    total = len(FAULTS)
    lines = [
        f"Default profile, seed {seed}; {total} faults, caught {caught_count} "
        f"(kill rate {100 * caught_count / total:.0f}%), generated in {seconds:.0f} s.",
        "",
        *rows,
    ]
    if escaped:
        lines += ["", "Not caught yet (strict xfail in `tests/meta/test_planted_faults.py`):", ""]
        lines += [f"- `{f.name}`: {f.escapes}." for f in escaped]
    return "\n".join(lines)


def controls_table(profile: str, seed: int) -> str:
    header = "| control | op | how it computes | " + " | ".join(FLOAT_DTYPE_NAMES) + " | seconds |"
    rows = [header, "| --- | --- | --- | " + " | ".join("---" for _ in FLOAT_DTYPE_NAMES) + " | --- |"]
    evidence = []
    start = time.perf_counter()
    failures = checks = 0
    for c in CONTROLS:
        t = time.perf_counter()
        result = conformance.check(
            c.function, c.op, dtypes=list(FLOAT_DTYPE_NAMES), profile=profile, seed=seed
        )
        checks += len(result.results)
        cells = []
        for dtype in FLOAT_DTYPE_NAMES:
            bad = [r for r in result.failures if r.dtype == dtype]
            failures += len(bad)
            cells.append("pass" if not bad else "**" + ", ".join(r.property for r in bad) + "**")
            for r in bad:
                w = r.worst_case or {}
                evidence.append(
                    f"- {c.name} {c.op} {dtype} {r.property}: {r.metric:.4g} {r.unit} against a tolerance "
                    f"of {r.tolerance:.4g} ({r.n_failed} failing slices); worst input {_input(w)}"
                )
        rows.append(
            f"| {c.name} | {c.op} | {c.method} | " + " | ".join(cells) + f" | {time.perf_counter() - t:.0f} |"
        )
    seconds = time.perf_counter() - start
    lines = [
        f"Profile `{profile}`, seed {seed}, every dtype: {len(CONTROLS)} controls, {checks} checks, "
        f"{failures} failing, in {seconds:.0f} s ({platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}).",
        "",
        *rows,
    ]
    if evidence:
        lines += [
            "",
            "Failures of correct implementations (findings about the tolerance model):",
            "",
            *evidence,
        ]
    return "\n".join(lines)


def replace_section(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:begin -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"{DOC}: no <!-- {name}:begin/end --> markers")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--controls", action="store_true", help="also run the negative controls")
    parser.add_argument("--controls-profile", default="thorough", help="profile for the controls")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--no-faults", action="store_true", help="leave the kill table as it is")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # the faults overflow and divide by zero on purpose
    DOC.parent.mkdir(parents=True, exist_ok=True)
    text = DOC.read_text() if DOC.exists() else TEMPLATE
    if not args.no_faults:
        text = replace_section(text, "faults", kill_table(args.seed))
        DOC.write_text(text)
        print(f"kill table written to {DOC}", flush=True)
    if args.controls:
        text = replace_section(text, "controls", controls_table(args.controls_profile, args.seed))
        DOC.write_text(text)
        print(f"controls written to {DOC}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
