"""Alias APIs inherit their canonical's verdicts only when every output matches bit for bit.

The canonical here is the oracle itself (forward: ``reference.evaluate``; backward: the exact VJP,
rounded once), so it passes every property; each alias is that function with one bit planted
somewhere. A session evaluates the canonical first, then the alias (the order a run has), and
the alias must come back either inherited (identical on every call) or judged in full.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import reference
from conformance.adapters.base import Implementation
from conformance.evaluation import Cell, CellEvaluation
from conformance.evaluation.aliasing import InheritedEvaluation, JudgedCell, same_bits
from conformance.property_registry import cell_properties
from conformance.session import ConformanceSession
from reference import round_to_dtype
from reference.gradient import vjp_exact

DTYPE = "float32"


def _forward(x: np.ndarray, axis: int, device: str) -> np.ndarray:
    return reference.evaluate("softmax", x, axis)


def _backward(x: np.ndarray, g: np.ndarray, axis: int, device: str) -> np.ndarray:
    gx, _ = vjp_exact("softmax", x, g, axis)
    return round_to_dtype(gx, x.dtype).astype(x.dtype)


def _impl(api: str, call=_forward, vjp=_backward, alias_of: str = "") -> Implementation:
    snippet = f"y = {api.replace('.', '_')}(x, axis)"
    return Implementation(
        "testfw",
        api,
        "softmax",
        "eager",
        call=call,
        snippet=snippet,
        vjp=vjp,
        vjp_snippet=f"gx = {api}_vjp",
        dtypes=(DTYPE,),
        alias_of=alias_of,
    )


def _flip_sign_bit(y: np.ndarray) -> np.ndarray:
    """``y`` with one bit changed: the sign of its largest element (a 0 would become -0, which passes)."""
    y = np.array(y, copy=True, order="C")  # reshape(-1) must be a view of it
    bits = y.reshape(-1).view(np.uint32)
    bits[int(np.nanargmax(np.abs(y.reshape(-1))))] ^= np.uint32(0x80000000)
    return y


def _session(tmp_path: Path, *cells: Cell) -> ConformanceSession:
    session = ConformanceSession(None, None, "quick", 0, tmp_path, [])  # type: ignore[arg-type]
    session._cells = list(cells)
    return session


def _starts_with(x: np.ndarray, target: np.ndarray | None) -> bool:
    """Whether ``x``'s leading rows are ``target`` (a call pads a row batch to a bucket of rows)."""
    if target is None or x.ndim != target.ndim or x.shape[1:] != target.shape[1:] or len(x) < len(target):
        return False
    return same_bits(np.ascontiguousarray(x[: len(target)]), target)


def _run_canonical(session: ConformanceSession, cell: Cell) -> JudgedCell:
    judged = session.evaluation(cell)
    assert isinstance(judged, JudgedCell) and judged.call_log  # kept, with its calls, for the alias
    for prop in cell_properties(cell.impl, cell.device):
        assert judged.outcome(prop).verdict == "pass", (prop, judged.outcome(prop).message)
    return judged


def _log_input(judged: JudgedCell, kind: str, pick) -> np.ndarray:
    """The input of the logged call of ``kind`` that ``pick`` chooses from the list of them."""
    return pick([e for e in judged.call_log if e.kind == kind and e.x.ndim == 2 and e.x.shape[0] > 1]).x


def test_an_alias_with_identical_outputs_inherits_every_outcome(tmp_path) -> None:
    canonical = Cell(_impl("f.softmax"), "cpu", DTYPE)
    alias = Cell(_impl("g.softmax", alias_of="f.softmax"), "cpu", DTYPE)
    session = _session(tmp_path, canonical, alias)
    judged = _run_canonical(session, canonical)
    inherited = session.evaluation(alias)
    assert isinstance(inherited, InheritedEvaluation)
    assert inherited.inherited_from == canonical.id
    assert inherited.replay.calls == len(judged.call_log) > 0
    for prop in cell_properties(alias.impl, alias.device):
        assert inherited.outcome(prop).verdict == judged.outcome(prop).verdict
    assert inherited.timing()["alias_check"]["identical"] is True
    assert inherited.semantics() == judged.semantics()


def test_an_alias_one_bit_off_on_one_corpus_input_is_judged_in_full_and_fails(tmp_path) -> None:
    target: dict[str, np.ndarray] = {}

    def planted(x: np.ndarray, axis: int, device: str) -> np.ndarray:
        y = _forward(x, axis, device)
        return _flip_sign_bit(y) if same_bits(x, target.get("x")) else y

    canonical = Cell(_impl("f.softmax"), "cpu", DTYPE)
    alias = Cell(_impl("g.softmax", call=planted, alias_of="f.softmax"), "cpu", DTYPE)
    session = _session(tmp_path, canonical, alias)
    judged = _run_canonical(session, canonical)
    target["x"] = _log_input(judged, "call", lambda calls: calls[1])  # the first corpus call after the probe
    full = session.evaluation(alias)
    assert isinstance(full, CellEvaluation)  # judged in full, not inherited
    check = full.timing()["alias_check"]
    assert check["identical"] is False and "1 of" in check["difference"], check
    assert full.outcome("precision").verdict == "fail"
    assert full.outcome("bounds").verdict == "fail"  # a negative probability


def test_a_difference_on_a_hypothesis_input_alone_still_stops_inheritance(tmp_path) -> None:
    """The replay covers the canonical's Hypothesis batches, not just the corpus."""
    target: dict[str, np.ndarray] = {}

    def planted(x: np.ndarray, axis: int, device: str) -> np.ndarray:
        y = _forward(x, axis, device)
        return _flip_sign_bit(y) if _starts_with(x, target.get("x")) else y

    canonical = Cell(_impl("f.softmax"), "cpu", DTYPE)
    alias = Cell(_impl("g.softmax", call=planted, alias_of="f.softmax"), "cpu", DTYPE)
    session = _session(tmp_path, canonical, alias)
    judged = _run_canonical(session, canonical)
    hypothesis_inputs = [o.case.x for o in judged.evaluation.observations if o.role == "hypothesis"]
    assert hypothesis_inputs
    target["x"] = hypothesis_inputs[-1]
    assert not isinstance(session.evaluation(alias), InheritedEvaluation)


def test_an_alias_one_bit_off_in_one_backward_call_is_judged_in_full_and_fails(tmp_path) -> None:
    target: dict[str, np.ndarray] = {}

    def planted_vjp(x: np.ndarray, g: np.ndarray, axis: int, device: str) -> np.ndarray:
        gx = _backward(x, g, axis, device)
        return _flip_sign_bit(gx) if same_bits(x, target.get("x")) else gx

    canonical = Cell(_impl("f.softmax"), "cpu", DTYPE)
    alias = Cell(_impl("g.softmax", vjp=planted_vjp, alias_of="f.softmax"), "cpu", DTYPE)
    session = _session(tmp_path, canonical, alias)
    judged = _run_canonical(session, canonical)
    target["x"] = _log_input(judged, "vjp", lambda calls: calls[0])
    full = session.evaluation(alias)
    assert isinstance(full, CellEvaluation)
    assert "vjp" in full.timing()["alias_check"]["difference"]
    assert full.outcome("precision").verdict == "pass"
    assert full.outcome("grad_precision").verdict == "fail"


def test_an_alias_without_a_backward_pass_is_never_inherited(tmp_path) -> None:
    canonical = Cell(_impl("f.softmax"), "cpu", DTYPE)
    alias = Cell(_impl("g.softmax", vjp=None, alias_of="f.softmax"), "cpu", DTYPE)
    session = _session(tmp_path, canonical, alias)
    _run_canonical(session, canonical)
    full = session.evaluation(alias)
    assert isinstance(full, CellEvaluation)
    assert "property sets" in full.timing()["alias_check"]["difference"]


def test_an_inherited_failure_carries_a_repro_that_runs_the_alias(tmp_path) -> None:
    def wrong(x: np.ndarray, axis: int, device: str) -> np.ndarray:
        return _flip_sign_bit(_forward(x, axis, device))  # both APIs: the same wrong bit

    canonical = Cell(_impl("f.softmax", call=wrong), "cpu", DTYPE)
    alias = Cell(_impl("g.softmax", call=wrong, alias_of="f.softmax"), "cpu", DTYPE)
    session = _session(tmp_path, canonical, alias)
    judged = session.evaluation(canonical)
    assert judged.outcome("bounds").verdict == "fail"
    inherited = session.evaluation(alias)
    assert isinstance(inherited, InheritedEvaluation)
    out = inherited.outcome("bounds")
    assert out.verdict == "fail"
    assert "y = g_softmax(x, axis)" in out.repro and "f_softmax" not in out.repro


@pytest.mark.parametrize("framework", ["torch", "jax", "tensorflow", "keras-jax"])
def test_declared_aliases_name_an_earlier_api_of_the_same_op(framework: str) -> None:
    from conformance.adapters import all_adapters

    impls = list(all_adapters()[framework].implementations())
    ids = [i.id for i in impls]
    aliases = [i for i in impls if i.alias_of]
    assert aliases
    for impl in aliases:
        canonical = next(c for c in impls if c.id == impl.canonical_id)
        assert canonical.op == impl.op and ids.index(canonical.id) < ids.index(impl.id)
