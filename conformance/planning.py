"""Planning: which cells a selection makes, which of them cannot run and why, and their order.

The contract: ``plan_cells`` expands a ``Selection`` over the adapters (and the user's custom
implementations) into the session's cells, in the order they run: one framework's cells
together, sorted by device, dtype and op so that cells sharing inputs run one after another
(the oracle's answers and a framework's compiled shapes are reused while cached), the custom
implementations last. It imports no framework but through the adapters' own
``available()``/``version()``/``devices()``. A framework that is unavailable contributes no
cell but an entry in ``unusable`` (its ``framework`` record) and ``missing``; a cell on a device
its framework does not see stays, with the reason in ``missing`` (its checks are skipped).
``item_order`` and ``planned_checks`` order and count the collected test items.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conformance.adapters.base import IMPORT_FAILED, NOT_INSTALLED, OPT_IN_MODES, FrameworkAdapter
from conformance.adapters.custom import CustomImplementation
from conformance.evaluation import Cell
from conformance.property_registry import PROPERTY_ORDER
from conformance.selection import Selection, matches


@dataclass
class Plan:
    cells: list[Cell] = field(default_factory=list)
    versions: dict[str, str | None] = field(default_factory=dict)  # framework -> version (None: custom)
    missing: dict[str, str] = field(default_factory=dict)  # framework or cell id -> why it is skipped
    unusable: dict[str, tuple[str, str]] = field(default_factory=dict)  # framework -> (status, reason)


def plan_cells(
    selection: Selection,
    adapters: Mapping[str, FrameworkAdapter],
    custom: list[CustomImplementation],
) -> Plan:
    """The cells of ``selection``, in run order, with the versions of their frameworks and what is missing."""
    sel = selection
    plan = Plan()
    cells = plan.cells
    for name, adapter in adapters.items():
        if (sel.frameworks and name not in sel.frameworks) or (custom and not sel.frameworks):
            continue  # with --impl and no --framework, only the custom implementations run
        if not adapter.available():  # a framework record says why (sessionstart)
            plan.unusable[name] = unavailable(adapter)
            status, reason = plan.unusable[name]
            plan.missing[name] = NOT_INSTALLED if status == NOT_INSTALLED else reason
            continue
        plan.versions[name] = adapter.version()
        seen = adapter.devices()
        devices = sel.devices or ["cpu"]
        for impl in adapter.implementations():
            if sel.apis and not any(matches(impl.api, pat) for pat in sel.apis):
                continue
            if (sel.modes and impl.mode not in sel.modes) or (sel.ops and impl.op not in sel.ops):
                continue
            if impl.mode in OPT_IN_MODES and impl.mode not in sel.modes:
                continue  # e.g. torch.compile: minutes of compilation, run only when named
            for device in devices:
                for dtype in impl.dtypes:
                    if sel.dtypes and dtype not in sel.dtypes:
                        continue
                    cell = Cell(impl, device, dtype)
                    if device not in seen:
                        plan.missing[f"{cell.id}"] = not_visible(name, device, seen)
                    cells.append(cell)
    # Cells that share inputs run one after another: the oracle's answers (and a framework's
    # per-shape compilations of shared primitives) are then reused while still cached.
    order = {name: i for i, name in enumerate(adapters)}
    cells.sort(key=lambda c: (order[c.impl.framework], c.device, c.dtype, c.impl.op))
    for impl in custom:  # --framework/--api/--mode/--op select framework implementations only
        plan.versions.setdefault(impl.framework, None)
        for device in sel.devices or ["cpu"]:
            cells += [Cell(impl, device, d) for d in impl.dtypes if not sel.dtypes or d in sel.dtypes]
    return plan


def unavailable(adapter: FrameworkAdapter) -> tuple[str, str]:
    """(status, reason) of an adapter whose ``available()`` is False: ``not installed``, ``import failed``
    (the import error's type and message), ``version too old`` (found and needed)."""
    state = adapter.availability()
    if not state.ok:
        return state.status, state.reason
    if not adapter.installed():
        return NOT_INSTALLED, f"{adapter.name} is not installed"
    return IMPORT_FAILED, adapter.unavailable_reason or f"{adapter.name}: available() is False"


def not_visible(framework: str, device: str, seen: list[str]) -> str:
    """Why a cell on ``device`` is skipped: the framework does not see it (``seen``: what it sees)."""
    gpus = [d for d in seen if d != "cpu"]
    if not gpus:
        return f"no CUDA device visible to {framework}"
    return f"{device} not visible to {framework} (it sees {', '.join(gpus)})"


def item_cell(item: pytest.Item) -> Cell | None:
    """The cell a collected test item is parametrized with (None: not a cell's test)."""
    cell = getattr(getattr(item, "callspec", None), "params", {}).get("cell")
    return cell if isinstance(cell, Cell) else None


def item_order(item: pytest.Item, cells: list[Cell]) -> tuple[int, int]:
    """The sort key that runs every property of one cell together, the cells in ``cells``' order
    and the properties in ``PROPERTY_ORDER`` (the cell is then evaluated once, and dropped)."""
    cell = item_cell(item)
    if cell is None:
        return (-1, 0)  # an empty parametrization (no cell selected for this property)
    prop = item.originalname.removeprefix("test_") if hasattr(item, "originalname") else ""
    order = PROPERTY_ORDER.index(prop) if prop in PROPERTY_ORDER else len(PROPERTY_ORDER)
    return (cells.index(cell), order)


def planned_checks(items: Iterable[pytest.Item]) -> int:
    """How many ``check`` records the collected ``items`` will write (``test_semantics`` writes none)."""
    return sum(
        1
        for item in items
        if getattr(item, "originalname", "") != "test_semantics" and item_cell(item) is not None
    )


def recorded_items(results: Path) -> set[tuple[str, str, str, str]]:
    """What a results file already holds, as ``(implementation, device, dtype, property)``: a check
    record per property, and ``"semantics"`` for a cell with any semantics record (its test writes
    them all at once). Lines that are not whole records (a process killed mid-write) are ignored."""
    done: set[tuple[str, str, str, str]] = set()
    if not results.exists():
        return done
    for line in results.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        kind = rec.get("type") if isinstance(rec, dict) else None
        if kind not in ("check", "semantics"):
            continue
        prop = rec.get("property") if kind == "check" else "semantics"
        done.add((str(rec.get("implementation")), str(rec.get("device")), str(rec.get("dtype")), str(prop)))
    return done


def item_key(item: pytest.Item) -> tuple[str, str, str, str] | None:
    """An item's ``(implementation, device, dtype, property)``, as ``recorded_items`` names them."""
    cell = item_cell(item)
    if cell is None:
        return None
    prop = getattr(item, "originalname", "").removeprefix("test_")
    return (cell.impl.id, cell.device, cell.dtype, prop)
