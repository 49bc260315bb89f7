"""The report's "where the time went" panel: per framework, import, compile, run, backward and
judging seconds derived from the records (the numbers here are made up; the sums are the test)."""

from __future__ import annotations

from conformance.records import read_run
from conformance.report import synthetic as syn
from conformance.report.commands import write_report
from conformance.report.time_panel import time_panel


def _timing(run: float, compile: float, backward: float, **extra) -> dict:
    return {"calls": 3, "run_seconds": run, "compile_seconds": compile, "compiles": 2,
            "backward_seconds": backward, **extra}  # fmt: skip


def _run(tmp_path):
    jax_cell = _timing(1.0, 2.0, 3.0, framework_compiles={"backend_compiles": 5, "traces": 7})
    alias = _timing(0.5, None, 0.25)
    records = [
        syn.envelope("timed"),
        syn.framework("jax", "0.10.2", import_seconds=4.0),
        syn.framework("numpy", import_seconds=0.5),
        # one jax cell, two checks: 7 s in all, 6 of them inside the implementation
        syn.check(framework="jax", api="nn.softmax", prop="precision", seconds=6.5, timing=jax_cell),
        syn.check(framework="jax", api="nn.softmax", prop="bounds", seconds=0.5, timing=jax_cell),
        # an alias that inherited: its replay is run and backward time
        syn.check(
            framework="jax",
            api="scipy.special.softmax",
            seconds=1.0,
            timing=alias,
            inherited_from="test_precision[jax-nn.softmax-eager-cpu-float32]",
        ),
        syn.check(framework="numpy", seconds=0.25, timing=_timing(0.125, 0.0, 0.0)),
        syn.end(),
    ]
    return read_run(syn.write_run(tmp_path / "run", records))


def test_each_framework_gets_import_compile_run_backward_and_judging(tmp_path) -> None:
    rows = {r.framework: r for r in time_panel(_run(tmp_path))}
    jax = rows["jax"]
    assert (jax.import_seconds, jax.compile_seconds, jax.run_seconds, jax.backward_seconds) == (
        4.0,
        2.0,
        1.5,
        3.25,
    )
    assert jax.judging_seconds == (7.0 - 6.0) + (1.0 - 0.75)  # what the checks spent outside the calls
    assert (jax.cells, jax.inherited_cells, jax.compiles, jax.backend_compiles) == (2, 1, 4, 5)
    assert jax.total_seconds == 4.0 + 2.0 + 1.5 + 3.25 + 1.25
    assert jax.traces == 7 and rows["numpy"].traces is None
    assert rows["numpy"].backend_compiles is None and rows["numpy"].judging_seconds == 0.125
    assert [r.framework for r in time_panel(_run(tmp_path))] == ["jax", "numpy"]  # slowest first


def test_the_report_shows_the_panel(tmp_path) -> None:
    html, _ = write_report(_run(tmp_path), tmp_path / "report.html")
    page = html.read_text(encoding="utf-8")
    assert "Where the time went" in page
    assert "2 (1)" in page  # jax: two cells, one inherited
