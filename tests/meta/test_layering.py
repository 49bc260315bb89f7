"""The package's layers: every import (module level or inside a function) points down, never up,
and no group of modules imports itself round in a cycle.

The layers, lowest first, follow the data flow of DESIGN.md (cases -> adapters -> oracle ->
properties -> evaluation -> records -> report -> cli), with the pieces every layer shares
(errors, version, the record schema, profiles, the registry) at the bottom.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest
from helpers import ROOT

# (layer name, module-name prefixes); a module belongs to the first layer with a matching prefix.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "foundation",
        (
            "conformance.errors",
            "conformance.version",
            "conformance.records",
            "conformance.environment",
            "conformance.compile_cache",
            "conformance.oracle_cache",
            "conformance.profiles",
            "conformance.known",
            "conformance.work_units",
        ),
    ),
    ("reference", ("reference",)),
    ("cases", ("conformance.cases",)),
    ("adapters", ("conformance.adapters",)),
    (
        "properties",
        (
            "conformance.properties",
            "conformance.gradient_properties",
            "conformance.property_registry",
            "conformance.outcome",
            "conformance.slice_conditions",
            "conformance.emulations",
            "conformance.computed_in_float32",
        ),
    ),
    (
        "evaluation",
        ("conformance.evaluation", "conformance.gradients", "conformance.repro", "conformance.call_log"),
    ),
    (
        "session",
        (
            "conformance.selection",
            "conformance.planning",
            "conformance.recording",
            "conformance.session",
            "conformance.plugin",
            "conformance.api",
            "conformance.runner",
            "conformance.summary",
            "conformance.custom_cli",
            "conformance.suite",
        ),
    ),
    ("report", ("conformance.report",)),
    (
        "cli",
        (
            "conformance.cli",
            "conformance.__main__",
            "conformance.tox_run",
            "conformance.matrix",
            "conformance.listing",
            "conformance.bisect",
            "conformance.registry_audit",
        ),
    ),
)
# The package ``__init__`` re-exports ``check`` lazily (``conformance.check``): it sits with the
# session layer it exposes, and only the command line may import it.
PACKAGE_LAYER = "session"


def _modules() -> dict[str, Path]:
    found = {}
    for package in ("conformance", "reference"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every package module ``path`` imports, wherever the import statement is."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        targets |= {t for t in names if t in modules and t != name}
    return targets


def _layer(name: str) -> int:
    if name == "conformance":
        return next(i for i, (layer, _) in enumerate(LAYERS) if layer == PACKAGE_LAYER)
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return index
    raise AssertionError(f"{name} belongs to no layer: add it to LAYERS in {Path(__file__).name}")


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_every_module_has_a_layer(graph):
    for name in graph:
        _layer(name)


def test_no_import_points_up_a_layer(graph):
    upward = [
        f"{name} ({LAYERS[_layer(name)][0]}) imports {target} ({LAYERS[_layer(target)][0]})"
        for name, targets in sorted(graph.items())
        for target in sorted(targets)
        if _layer(target) > _layer(name)
    ]
    assert not upward, "\n".join(upward)


def test_no_import_cycles(graph):
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_the_checker_sees_imports_inside_functions(tmp_path):
    """A meta-test: a lazy import in a function body is an edge like any other."""
    module = tmp_path / "mod.py"
    module.write_text("def f():\n    from conformance.cli import main\n    return main\n")
    assert _imports("conformance.records", module, {"conformance.cli": module}) == {"conformance.cli"}
    cyclic = {"a": {"b"}, "b": {"a"}}
    with pytest.raises(graphlib.CycleError):
        tuple(graphlib.TopologicalSorter(cyclic).static_order())
