"""``conformance.check``: run the suite on your own function from Python (your own pytest suite, a notebook).

::

    import conformance

    def test_my_softmax():
        conformance.check(my_softmax, op="softmax", dtypes=["float32"]).assert_conforms()

``check`` runs in-process (no subprocess, no results file): for each dtype it
evaluates one cell (``conformance.evaluation.CellEvaluation``: the whole corpus,
the profile's Hypothesis batches and the shifted copies) and judges every
property that applies to the op. The function's contract is that of
``conformance.adapters.custom`` (``function(x, axis=axis)``, optionally
``dtype=``/``device=``; NumPy arrays in and out, or a framework's arrays with
``framework=``). ``command=`` tests an external program instead
(``conformance.adapters.external``).

The result, a ``CheckResult``, holds one ``PropertyResult`` per (dtype,
property) with the verdict, the metric and its tolerance, the message, the worst
case (the smallest failing input) and a standalone repro script; ``ok`` is False
when any is ``fail`` or ``error``, and ``assert_conforms()`` raises an
AssertionError listing those. ``seed`` defaults to 0, so a test is deterministic;
change it to explore other inputs.

As a pytest fixture: add ``pytest_plugins = ["conformance.api"]`` to your
``conftest.py`` and take ``conformance_check`` (``check`` with the seed taken from
``--hypothesis-seed`` when given; the summary is attached to the test report).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from conformance.adapters.base import OPS, Implementation
from conformance.adapters.custom import (
    DEFAULT_NAME,
    DEFAULT_TIMEOUT,
    declared_outcome,
    function_implementation,
    load_function,
    target_api,
)
from conformance.evaluation import Cell, CellEvaluation, cell_seed
from conformance.profiles import get_profile
from conformance.property_registry import cell_properties
from conformance.recording import outcome_fields
from reference.contracts import Contract
from reference.dtypes import FLOAT_DTYPE_NAMES

FAILING = ("fail", "error")


@dataclass(frozen=True)
class PropertyResult:
    """One property of one dtype: what a record of ``python -m conformance run`` holds, as an object."""

    dtype: str
    property: str
    verdict: str  # pass | fail | error | skipped | unsupported
    metric: float | None
    tolerance: float | None
    unit: str
    message: str
    n_cases: int
    n_failed: int
    median: float | None = None
    worst_case: dict | None = field(default=None, repr=False)
    repro: str | None = field(default=None, repr=False)
    failing_cases: list[str] = field(default_factory=list, repr=False)
    failing_conditions: dict[str, list[list[str]]] = field(default_factory=dict, repr=False)

    @property
    def failed(self) -> bool:
        return self.verdict in FAILING

    def line(self) -> str:
        """One line: dtype, property, verdict, metric against tolerance, and the message."""
        figures = ""
        if self.metric is not None:
            figures = f" {self.metric:.4g} {self.unit}"
            if self.tolerance is not None:
                figures += f" (tolerance {self.tolerance:.4g})"
        text = f"{self.dtype:<8} {self.property:<23} {self.verdict}{figures}"
        return text + (f": {self.message}" if self.message else "")


@dataclass
class CheckResult:
    """The outcome of ``check``: every (dtype, property) judged, with the semantics observed."""

    implementation: str
    op: str
    profile: str
    seed: int
    device: str
    results: list[PropertyResult]
    semantics: list[dict] = field(default_factory=list, repr=False)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no check failed or errored (skipped checks had no input they apply to)."""
        return not self.failures

    @property
    def failures(self) -> list[PropertyResult]:
        return [r for r in self.results if r.failed]

    def get(self, dtype: str, prop: str) -> PropertyResult:
        """The result for ``dtype`` and property ``prop``; KeyError when it was not judged."""
        for r in self.results:
            if r.dtype == dtype and r.property == prop:
                return r
        raise KeyError(f"no result for dtype {dtype!r}, property {prop!r}")

    def verdicts(self) -> dict[tuple[str, str], str]:
        """{(dtype, property): verdict}."""
        return {(r.dtype, r.property): r.verdict for r in self.results}

    def failed_properties(self, dtype: str | None = None) -> list[str]:
        """Properties that failed or errored (for one dtype, or any)."""
        seen: dict[str, None] = {}
        for r in self.failures:
            if dtype is None or r.dtype == dtype:
                seen.setdefault(r.property)
        return list(seen)

    def summary(self) -> str:
        """A few lines: the verdict counts, then one line per failing check with its worst input."""
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.verdict] = counts.get(r.verdict, 0) + 1
        tally = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
        head = (
            f"{self.implementation} ({self.op}, profile {self.profile}, seed {self.seed}, {self.device}):"
            f" {tally} in {self.seconds:.1f} s"
        )
        lines = [head]
        for r in self.failures:
            lines.append("  " + r.line())
            if r.worst_case and "input" in r.worst_case:
                values = r.worst_case["input"].get("values", [])
                shown = ", ".join(str(v) for v in values[:8]) + (", ..." if len(values) > 8 else "")
                lines.append(f"      worst input ({r.worst_case.get('where', '')}): [{shown}]")
        return "\n".join(lines)

    def assert_conforms(self) -> CheckResult:
        """Raise AssertionError listing every failing check (with its repro for the first); else self."""
        if self.ok:
            return self
        first = next((r for r in self.failures if r.repro), None)
        repro = f"\n\nrepro for {first.dtype} {first.property}:\n{first.repro}" if first else ""
        raise AssertionError(f"{len(self.failures)} check(s) failed\n{self.summary()}{repro}")

    def __repr__(self) -> str:
        failing = "; ".join(f"{r.dtype} {r.property}: {r.verdict}" for r in self.failures[:6])
        more = f"; +{len(self.failures) - 6} more" if len(self.failures) > 6 else ""
        state = "ok" if self.ok else f"{len(self.failures)} failing: {failing}{more}"
        return f"<CheckResult {self.implementation} {self.op} [{', '.join(self.dtypes)}]: {state}>"

    @property
    def dtypes(self) -> list[str]:
        return list(dict.fromkeys(r.dtype for r in self.results))


def as_implementation(
    function: Callable[..., Any] | str | Implementation | None,
    op: str,
    *,
    command: str | Sequence[str] | None = None,
    framework: str = "numpy",
    name: str = DEFAULT_NAME,
    timeout: float | None = DEFAULT_TIMEOUT,
    contract: Contract | None = None,
    joint_axes: bool = False,
) -> Implementation:
    """The Implementation ``check`` runs: from a callable, a ``"module:function"`` string, a command,
    or an ``Implementation`` passed through unchanged."""
    if isinstance(function, Implementation):
        return function
    if (function is None) == (command is None):
        raise ValueError("pass exactly one of function and command")
    if command is not None:
        from conformance.adapters.external import command_implementation

        return command_implementation(command, op, name=name, timeout=timeout)
    source = api = None
    if isinstance(function, str):  # named as on the command line: ``api`` is the attribute as written
        api = target_api(function)
        function, source = load_function(function)
    if not callable(function):
        raise TypeError(f"function must be callable or 'module:function', not {type(function).__name__}")
    return function_implementation(
        function,
        op,
        name=name,
        framework=framework,
        timeout=timeout,
        api=api,
        source=source,
        contract=contract,
        joint_axes=joint_axes,
    )


def evaluate_cell(
    impl: Implementation, dtype: str, profile: str, seed: int, device: str = "cpu"
) -> tuple[list[PropertyResult], list[dict]]:
    """Every property the registry applies to this cell (``property_registry.cell_properties``, as
    ``python -m conformance run`` judges it), judged in display order, and the semantics rows."""
    cell = Cell(impl, device, dtype)
    evaluation = CellEvaluation(cell, get_profile(profile), cell_seed(seed, cell)).run()
    results = []
    # The same list the pytest session parametrizes its tests with (``conformance.plugin``).
    for prop in cell_properties(impl, device):
        out = declared_outcome(impl, evaluation.outcome(prop))
        results.append(
            PropertyResult(dtype=dtype, property=prop, verdict=out.verdict, **outcome_fields(prop, out))
        )
    return results, evaluation.semantics()


def check(
    function: Callable[..., Any] | str | Implementation | None = None,
    op: str = "softmax",
    *,
    dtypes: Iterable[str] | str | None = None,
    profile: str = "default",
    seed: int = 0,
    device: str = "cpu",
    framework: str = "numpy",
    command: str | Sequence[str] | None = None,
    name: str = DEFAULT_NAME,
    timeout: float | None = DEFAULT_TIMEOUT,
    contract: Contract | None = None,
    joint_axes: bool = False,
) -> CheckResult:
    """Run the conformance suite on ``function`` (or ``command``) for ``op``, in this process.

    ``function``: a callable following the contract of ``conformance.adapters.custom``,
    a ``"module:function"`` string, or an ``Implementation``. ``dtypes``: names among
    float16, bfloat16, float32, float64 (default: all four). ``profile``: quick,
    default or thorough. ``framework``: the arrays the function takes and returns
    (numpy, torch, tensorflow, jax). ``timeout``: seconds per call (None: no limit).
    ``contract``: the API contract the function follows where it is not exactly ``op``
    (``reference.contracts.Contract``: a temperature composite ``softmax(x / T)``, an L1
    normalization's eps); not with an ``Implementation``, whose ``op`` carries its own.
    ``joint_axes``: the function also accepts ``axis`` as a tuple of ints or None, and is given
    the corpus' joint-axes cases (without it they are skipped; an ``Implementation`` passed in
    carries its own ``axes``). Raises ValueError for an unknown op, dtype or profile, CustomImplError (a
    ValueError) for a function or command that cannot be set up; everything the
    function itself does wrong is a verdict in the result.
    """
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; valid: {', '.join(OPS)}")
    get_profile(profile)
    names = [dtypes] if isinstance(dtypes, str) else list(dtypes or FLOAT_DTYPE_NAMES)
    for dtype in names:
        if dtype not in FLOAT_DTYPE_NAMES:
            raise ValueError(f"unknown dtype {dtype!r}; valid: {', '.join(FLOAT_DTYPE_NAMES)}")
    if contract is not None and (isinstance(function, Implementation) or command is not None):
        raise ValueError("contract= applies to a Python function; an Implementation's op carries its own")
    impl = as_implementation(
        function,
        op,
        command=command,
        framework=framework,
        name=name,
        timeout=timeout,
        contract=contract,
        joint_axes=joint_axes,
    )
    if impl.op != op:
        raise ValueError(f"the implementation computes {impl.op!r}, not {op!r}")
    start = time.perf_counter()
    results: list[PropertyResult] = []
    semantics: list[dict] = []
    for dtype in names:
        cell_results, rows = evaluate_cell(impl, dtype, profile, seed, device)
        results += cell_results
        semantics += [{"dtype": dtype, **row} for row in rows]
    return CheckResult(
        implementation=f"{impl.framework}-{impl.api}",
        op=op,
        profile=profile,
        seed=seed,
        device=device,
        results=results,
        semantics=semantics,
        seconds=time.perf_counter() - start,
    )


@pytest.fixture
def conformance_check(request: pytest.FixtureRequest) -> Callable[..., CheckResult]:
    """``check`` for a test, seeded by ``--hypothesis-seed`` if given; the summary goes in the test report."""
    given = request.config.getoption("hypothesis_seed", default=None)

    def run(function: Any = None, op: str = "softmax", **kwargs: Any) -> CheckResult:
        if given is not None:
            kwargs.setdefault("seed", int(given))
        result = check(function, op, **kwargs)
        request.node.user_properties.append(("softmax_conformance", result.summary()))
        return result

    return run
