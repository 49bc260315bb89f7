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


def test_tensorflow_counts_one_trace_per_new_input_signature_of_its_xla_functions() -> None:
    pytest.importorskip("tensorflow")
    import numpy as np

    from conformance.adapters.tensorflow_adapter import ADAPTER as TF

    impl = next(i for i in TF.implementations() if i.api == "nn.softmax" and i.mode == "xla")
    impl.call(np.zeros((2, 3), np.float32), -1, "cpu")  # the function exists from here on
    before = TF.compile_counts()
    assert before is not None
    impl.call(np.zeros((2, 5), np.float32), -1, "cpu")  # a new shape: one trace
    impl.call(np.ones((2, 5), np.float32), -1, "cpu")  # the same shape again: none
    after = TF.compile_counts()
    assert after["traces"] - before["traces"] == 1


def test_torch_compile_counts_one_graph_per_new_input_shape() -> None:
    """Dynamo's counters, whichever backend compiles the graph (``eager`` here: no C++ compiler
    needed, and the counting is Dynamo's, before the backend)."""
    torch = pytest.importorskip("torch")
    from conformance.adapters.torch_adapter import ADAPTER as TORCH

    f = torch.compile(lambda t: torch.softmax(t, -1), backend="eager", dynamic=False)
    f(torch.zeros(2, 3))
    before = TORCH.compile_counts()
    assert before is not None and before["traces"] >= 1
    f(torch.zeros(2, 3))  # the same shape: nothing new
    assert TORCH.compile_counts() == before
    f(torch.zeros(2, 7))  # a new shape, dynamic shapes off: one more graph
    after = TORCH.compile_counts()
    assert after["traces"] - before["traces"] == 1 and after["frames"] - before["frames"] == 1
