"""Compilations per cell, as the framework itself reports them (``timing.framework_compiles``).

JAX reports each XLA backend compilation and each trace through ``jax.monitoring``; the session
records how many happened while a cell was evaluated. A jit cell compiles at least once per new
input shape; repeating the same cell in the same process compiles nothing new.
"""

from __future__ import annotations

import pytest

pytest.importorskip("jax")

from conformance.adapters.jax_adapter import ADAPTER
from conformance.evaluation import Cell
from conformance.session import ConformanceSession, compile_difference


def _counts(session: ConformanceSession, cell: Cell) -> dict:
    session._current = None
    session.evaluation(cell)
    assert session._compile_counts is not None and session._compile_counts[0] == cell.id
    return session._compile_counts[1]


def test_a_jax_jit_cell_counts_its_compilations_and_a_second_run_none(tmp_path) -> None:
    impl = next(i for i in ADAPTER.implementations() if i.api == "nn.softmax" and i.mode == "jit")
    cell = Cell(impl, "cpu", "float64")
    session = ConformanceSession(None, None, "quick", 0, tmp_path, [], {"jax": ADAPTER})  # type: ignore[arg-type]
    session._cells = [cell]
    first = _counts(session, cell)
    assert first["backend_compiles"] > 0 and first["traces"] > 0 and first["backend_compile_seconds"] > 0
    again = _counts(session, cell)  # the jit wrapper is kept: every shape is compiled already
    assert again["backend_compiles"] < first["backend_compiles"]


def test_compile_difference_subtracts_counts_and_seconds() -> None:
    before = {"backend_compiles": 3, "backend_compile_seconds": 1.5}
    after = {"backend_compiles": 7, "backend_compile_seconds": 2.25}
    assert compile_difference(before, after) == {"backend_compiles": 4, "backend_compile_seconds": 0.75}
    assert compile_difference(None, after) == after
