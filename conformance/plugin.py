"""The pytest plugin: selection options, cell parametrization, records, registry, summary.

Load it with ``-p conformance.plugin`` and collect ``--pyargs conformance.suite``
(``python -m conformance run`` does both). Test ids read
``test_precision[torch-F.softmax-eager-cpu-float32]``. All tests of one cell run
one after the other (the cell's outputs are computed once and judged by every
property), so only one cell's observations are held in memory at a time.

Under pytest-xdist, records travel to the controller in ``user_properties`` and
only the controller writes the results file; ``--dist loadgroup`` keeps one
framework's cells on one worker (``xdist_group`` marks).
"""

from __future__ import annotations

import os
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance.adapters import all_adapters
from conformance.adapters.base import IMPORT_FAILED, NOT_INSTALLED, OPT_IN_MODES, FrameworkAdapter
from conformance.adapters.custom import CustomImplementation, CustomImplError, declared_outcome
from conformance.compile_cache import ENV_MARKER as COMPILE_CACHE_ENV
from conformance.custom_cli import CustomOptions, build_implementations
from conformance.evaluation import Cell, CellEvaluation, PropertyOutcome, cell_seed
from conformance.known import DEFAULT_REGISTRY, apply_registry, find_entry, load_registry, stale_entries
from conformance.profiles import PROFILES, get_profile
from conformance.property_registry import PROPERTY_ORDER, cell_properties, unit_of
from conformance.records import RESULTS_FILE, UNEXPECTED, RunWriter, sanitize
from conformance.summary import STOPPED_EXIT, empty_selection_message
from reference.dtypes import FLOAT_DTYPE_NAMES

RECORD_KEY = "conformance_record"
DEVICE_PATTERN = re.compile(r"^(cpu|cuda:\d+)$")


def _split(values: list[str]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "softmax-conformance selection")
    for name, help_text in (
        ("framework", "framework(s) to test (default: every installed one)"),
        ("api", "API(s) to test, e.g. F.softmax (glob patterns allowed)"),
        ("device", "device(s): cpu, cuda:0, ..."),
        ("dtype", f"dtype(s): {', '.join(FLOAT_DTYPE_NAMES)}"),
        ("mode", "execution mode(s): eager, jit, xla, compiled (torch.compile: opt-in, run only when named)"),
        ("op", "op(s): softmax, log_softmax, sum_normalize"),
    ):
        group.addoption(
            f"--{name}", action="append", default=[], help=help_text + "; repeat or comma-separate"
        )
    group.addoption("--profile", default="default", help=f"profile: {', '.join(PROFILES)} (default: default)")
    group.addoption("--run-dir", default=None, help="directory of the run (default: reports/runs/<run-id>)")
    group.addoption("--run-id", default=None, help="run id (default: a timestamp)")
    group.addoption("--known", default=str(DEFAULT_REGISTRY), help="registry of known discrepancies (TOML)")
    group.addoption(
        "--append-run", action="store_true", help="append to an existing results file (no envelope)"
    )
    group.addoption(
        "--progress-file", default=None, help="write the number of planned checks here after collection"
    )
    _add_custom_options(group)


def _add_custom_options(group) -> None:
    """Options that add the user's own implementations (``conformance.adapters.custom``) as cells."""
    from conformance.custom_cli import IMPL_OPTIONS

    for name, kwargs in IMPL_OPTIONS:
        group.addoption(name, **kwargs)


def custom_options(config: pytest.Config) -> CustomOptions:
    """The custom-implementation options; --impl-op defaults to the one --op when exactly one is given."""
    ops = _split(config.getoption("op"))
    return CustomOptions(
        functions=tuple(config.getoption("impl")),
        commands=tuple(config.getoption("impl_command")),
        op=config.getoption("impl_op") or (ops[0] if len(ops) == 1 else None),
        framework=config.getoption("impl_framework"),
        name=config.getoption("impl_name"),
        timeout=config.getoption("impl_timeout"),
    )


@dataclass
class Selection:
    frameworks: list[str]
    apis: list[str]
    devices: list[str]
    dtypes: list[str]
    modes: list[str]
    ops: list[str]


def parse_selection(config: pytest.Config) -> Selection:
    """Validate the selection options; UsageError with one line naming the bad value and the valid ones."""
    adapters = all_adapters()
    sel = Selection(
        *(_split(config.getoption(n)) for n in ("framework", "api", "device", "dtype", "mode", "op"))
    )
    for value in sel.frameworks:
        if value not in adapters:
            raise pytest.UsageError(f"unknown framework {value!r}; valid: {', '.join(adapters)}")
    for value in sel.dtypes:
        if value not in FLOAT_DTYPE_NAMES:
            raise pytest.UsageError(f"unknown dtype {value!r}; valid: {', '.join(FLOAT_DTYPE_NAMES)}")
    for value in sel.devices:
        if not DEVICE_PATTERN.match(value):
            raise pytest.UsageError(f"unknown device {value!r}; valid: cpu, cuda:N (N = 0, 1, ...)")
    for value in sel.modes:
        if value not in ("eager", "jit", "xla", "compiled"):
            raise pytest.UsageError(f"unknown mode {value!r}; valid: eager, jit, xla, compiled")
    for value in sel.ops:
        if value not in ("softmax", "log_softmax", "sum_normalize"):
            raise pytest.UsageError(f"unknown op {value!r}; valid: softmax, log_softmax, sum_normalize")
    try:
        get_profile(config.getoption("profile"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    return sel


@dataclass
class ConformanceSession:
    config: pytest.Config
    selection: Selection
    profile_name: str
    seed: int
    run_dir: Path
    registry: list
    writer: RunWriter | None = None
    counts: dict[str, int] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    used_entries: set[str] = field(default_factory=set)
    versions: dict[str, str | None] = field(default_factory=dict)
    _cells: list[Cell] | None = None
    custom: list[CustomImplementation] = field(default_factory=list)
    _missing: dict[str, str] = field(default_factory=dict)
    _unusable: dict[str, tuple[str, str]] = field(default_factory=dict)  # framework -> (status, reason)
    _current: tuple[str, CellEvaluation] | None = None
    planned: int | None = None  # check records this process will write (after collection; None under xdist)
    empty_selection: str | None = None  # the usage error of a selection that matched no checks

    # ---- cells -------------------------------------------------------------------------------

    def cells(self) -> list[Cell]:
        if self._cells is not None:
            return self._cells
        sel = self.selection
        cells: list[Cell] = []
        adapters = all_adapters()
        for name, adapter in adapters.items():
            if (sel.frameworks and name not in sel.frameworks) or (self.custom and not sel.frameworks):
                continue  # with --impl and no --framework, only the custom implementations run
            if not adapter.available():  # a framework record says why (sessionstart)
                self._unusable[name] = _unavailable(adapter)
                status, reason = self._unusable[name]
                self._missing[name] = NOT_INSTALLED if status == NOT_INSTALLED else reason
                continue
            self.versions[name] = adapter.version()
            seen = adapter.devices()
            devices = sel.devices or ["cpu"]
            for impl in adapter.implementations():
                if sel.apis and not any(_glob(impl.api, pat) for pat in sel.apis):
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
                            self._missing[f"{cell.id}"] = _not_visible(name, device, seen)
                        cells.append(cell)
        # Cells that share inputs run one after another: the oracle's answers (and a framework's
        # per-shape compilations of shared primitives) are then reused while still cached.
        order = {name: i for i, name in enumerate(adapters)}
        cells.sort(key=lambda c: (order[c.impl.framework], c.device, c.dtype, c.impl.op))
        for impl in self.custom:  # --framework/--api/--mode/--op select framework implementations only
            self.versions.setdefault(impl.framework, None)
            for device in sel.devices or ["cpu"]:
                cells += [Cell(impl, device, d) for d in impl.dtypes if not sel.dtypes or d in sel.dtypes]
        self._cells = cells
        return cells

    def evaluation(self, cell: Cell) -> CellEvaluation:
        if self._current is None or self._current[0] != cell.id:
            profile = get_profile(self.profile_name)
            self._current = (cell.id, CellEvaluation(cell, profile, cell_seed(self.seed, cell)).run())
        return self._current[1]

    # ---- records -----------------------------------------------------------------------------

    def check(self, request: pytest.FixtureRequest, cell: Cell, prop: str) -> None:
        start = time.perf_counter()
        missing = self._missing.get(cell.id)
        if missing:
            outcome = PropertyOutcome(prop, "skipped", message=missing)
        else:
            try:
                outcome = declared_outcome(cell.impl, self.evaluation(cell).outcome(prop))
            except Exception as exc:  # a suite bug must cost this check only, and say so
                self._current = None
                outcome = PropertyOutcome(
                    prop, "error", message=f"suite error: {type(exc).__name__}: {exc}"[:500]
                )
        entry = find_entry(
            self.registry,
            framework=cell.impl.framework,
            version=self.versions.get(cell.impl.framework),
            api=cell.impl.api,
            mode=cell.impl.mode,
            dtype=cell.dtype,
            device=cell.device,
            op=cell.impl.op,
            prop=prop,
        )
        verdict = apply_registry(outcome.verdict, entry)
        record = self._record(cell, prop, outcome, verdict, entry, time.perf_counter() - start)
        request.node.user_properties.append((RECORD_KEY, record))
        _raise_for(verdict, outcome, entry)

    def observe_semantics(self, request: pytest.FixtureRequest, cell: Cell) -> None:
        """Record the cell's behaviour on special inputs (``semantics`` records) and its sample.

        A cell that declined (``unsupported``) or runs on a device its framework does not see is
        skipped. A cell whose probe input raised something other than a decline was never
        observed: it gets one ``semantics`` record per special case of its op, classified
        ``error`` with the exception (so the report's semantics table shows it, not a gap),
        and the test fails.
        """
        if cell.id in self._missing:
            pytest.skip(self._missing[cell.id])
        evaluation = self.evaluation(cell)
        if evaluation.unsupported:
            pytest.skip(f"unsupported: {evaluation.unsupported}")
        if evaluation.probe_error:
            for row in _unobserved_semantics(cell, evaluation.probe_error):
                request.node.user_properties.append(
                    (RECORD_KEY, sanitize({"type": "semantics", **self._cell_fields(cell), **row}))
                )
            pytest.fail(f"error: special inputs not observed: {evaluation.probe_error}", pytrace=False)
        sample = evaluation.sample()
        if sample is not None:
            request.node.user_properties.append(
                (RECORD_KEY, sanitize({"type": "sample", **self._cell_fields(cell), **sample}))
            )
        for row in evaluation.semantics():
            entry = find_entry(
                self.registry,
                framework=cell.impl.framework,
                version=self.versions.get(cell.impl.framework),
                api=cell.impl.api,
                mode=cell.impl.mode,
                dtype=cell.dtype,
                device=cell.device,
                op=cell.impl.op,
                prop=f"semantics:{row['case'].split('[')[0]}",
            )
            if entry is not None and row["classification"] == "undocumented-difference":
                row["classification"] = "documented-difference"
                row["known_issue"] = entry.as_record()
            request.node.user_properties.append(
                (RECORD_KEY, {"type": "semantics", **self._cell_fields(cell), **row})
            )

    def _cell_fields(self, cell: Cell) -> dict[str, Any]:
        impl = cell.impl
        return {
            "implementation": impl.id,
            "framework": impl.framework,
            "framework_version": self.versions.get(impl.framework),
            "api": impl.api,
            "op": impl.op,
            "operation": impl.operation,
            "mode": impl.mode,
            "device": cell.device,
            "dtype": cell.dtype,
        }

    def _record(self, cell, prop, outcome: PropertyOutcome, verdict, entry, seconds) -> dict[str, Any]:
        unit = unit_of(prop)
        current = self._current[1] if self._current and self._current[0] == cell.id else None
        return sanitize(
            {
                "type": "check",
                **self._cell_fields(cell),
                "property": prop,
                "verdict": verdict,
                "metric": outcome.metric,
                "median": outcome.median,
                "tolerance": outcome.bound,
                "unit": unit,
                "n_cases": outcome.n_cases,
                "n_failed": outcome.n_failed,
                "message": outcome.message,
                "worst_case": outcome.worst,
                "repro": outcome.repro,
                "known_issue": entry.as_record() if entry else None,
                "histogram": outcome.histogram,
                "seed": self.seed,
                "cell_seed": cell_seed(self.seed, cell),
                "profile": self.profile_name,
                "seconds": round(seconds, 4),
                "timing": current.timing() if current is not None else None,
            }
        )

    def write(self, record: dict[str, Any]) -> None:
        if self.writer is None:
            return
        self.writer.write(record)
        if record["type"] == "check":
            verdict = record["verdict"]
            self.counts[verdict] = self.counts.get(verdict, 0) + 1
            if record.get("known_issue"):
                self.used_entries.add(record["known_issue"]["id"])
            if verdict in UNEXPECTED:
                self.unexpected.append(
                    f"{record['implementation']}-{record['device']}-{record['dtype']}"
                    f" {record['property']}: {verdict}: {record['message'][:160]}"
                )
        elif record["type"] == "semantics" and record.get("known_issue"):
            self.used_entries.add(record["known_issue"]["id"])


def _unobserved_semantics(cell: Cell, error: str) -> list[dict[str, Any]]:
    """``semantics`` rows (without the cell fields) for every special corpus case of the cell's op,
    none of them observed because ``error`` happened first: classification ``error``."""
    from conformance.cases.corpus import CORPUS

    return [
        {
            "case": name,
            "description": "not observed",
            "input": None,
            "input_dtype": None,
            "observed": None,
            "observed_dtype": None,
            "error": error,
            "limit": None,
            "classification": "error",
            "note": "not observed: the cell raised before its special inputs were called",
        }
        for name, entry in CORPUS.items()
        if entry.special and cell.impl.op in entry.ops
    ]


def _not_visible(framework: str, device: str, seen: list[str]) -> str:
    """Why a cell on ``device`` is skipped: the framework does not see it (``seen``: what it sees)."""
    gpus = [d for d in seen if d != "cpu"]
    if not gpus:
        return f"no CUDA device visible to {framework}"
    return f"{device} not visible to {framework} (it sees {', '.join(gpus)})"


def _glob(value: str, pattern: str) -> bool:
    from fnmatch import fnmatchcase

    return fnmatchcase(value, pattern)


def _raise_for(verdict: str, outcome: PropertyOutcome, entry) -> None:
    if verdict == "pass":
        return
    if verdict == "expected-fail":
        pytest.xfail(f"known discrepancy {entry.id}: {entry.reason}")
    if verdict == "fixed":
        pytest.fail(
            f"known discrepancy {entry.id} no longer reproduces: it is fixed; update the registry",
            pytrace=False,
        )
    if verdict in ("unsupported", "skipped"):
        pytest.skip(f"{verdict}: {outcome.message}")
    pytest.fail(f"{verdict}: {outcome.message}", pytrace=False)


SESSION_KEY = pytest.StashKey[ConformanceSession]()


def _unavailable(adapter: FrameworkAdapter) -> tuple[str, str]:
    """(status, reason) of an adapter whose ``available()`` is False: ``not installed``, ``import failed``
    (the import error's type and message), ``version too old`` (found and needed)."""
    state = adapter.availability()
    if not state.ok:
        return state.status, state.reason
    if not adapter.installed():
        return NOT_INSTALLED, f"{adapter.name} is not installed"
    return IMPORT_FAILED, adapter.unavailable_reason or f"{adapter.name}: available() is False"


def pytest_configure(config: pytest.Config) -> None:
    selection = parse_selection(config)
    seed = config.getoption("hypothesis_seed", default=None)
    seed = int(seed) if seed is not None else random.SystemRandom().randrange(2**31)
    run_id = config.getoption("run_id") or time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(config.getoption("run_dir") or Path("reports") / "runs" / run_id)
    try:
        registry = load_registry(config.getoption("known"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    session = ConformanceSession(config, selection, config.getoption("profile"), seed, run_dir, registry)
    try:
        session.custom = build_implementations(custom_options(config))
    except CustomImplError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[SESSION_KEY] = session
    if hasattr(config, "workerinput"):
        return  # xdist worker: the controller writes
    from conformance.environment import envelope

    results = run_dir / RESULTS_FILE
    if not config.getoption("append_run") or not results.exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        if results.exists():
            results.unlink()
        session.writer = RunWriter(results)
        session.writer.write(
            sanitize(
                envelope(
                    run_id,
                    seed,
                    session.profile_name,
                    selection.__dict__,
                    list(config.invocation_params.args),
                )
            )
        )
    else:
        session.writer = RunWriter(results)
    global _CONTROLLER
    _CONTROLLER = session


def pytest_report_header(config: pytest.Config) -> list[str]:
    session = config.stash[SESSION_KEY]
    return [
        f"conformance: profile {session.profile_name}, seed {session.seed} "
        f"(reproduce with --hypothesis-seed={session.seed}), run dir {session.run_dir}",
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cell" not in metafunc.fixturenames:
        return
    session = metafunc.config.stash[SESSION_KEY]
    prop = metafunc.function.__name__.removeprefix("test_")
    # The registry decides, as for conformance.check(): the same properties for the same cell.
    cells = [c for c in session.cells() if prop in cell_properties(c.impl, c.device, semantics=True)]
    params = [pytest.param(c, id=c.id, marks=pytest.mark.xdist_group(c.impl.framework)) for c in cells]
    metafunc.parametrize("cell", params)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Run every property of one cell together (the cell is evaluated once, then dropped)."""

    def key(item: pytest.Item) -> tuple[int, int]:
        callspec = getattr(item, "callspec", None)
        if callspec is None or not isinstance(callspec.params.get("cell"), Cell):
            return (-1, 0)  # an empty parametrization (no cell selected for this property)
        cells = config.stash[SESSION_KEY].cells()
        prop = item.originalname.removeprefix("test_") if hasattr(item, "originalname") else ""
        order = PROPERTY_ORDER.index(prop) if prop in PROPERTY_ORDER else len(PROPERTY_ORDER)
        return (cells.index(callspec.params["cell"]), order)

    items.sort(key=key)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Count the check records this session will write (kept for its ``end`` record) and tell a
    watching parent process (``--progress-file``)."""
    if hasattr(session.config, "workerinput") or session.config.pluginmanager.hasplugin("dsession"):
        return  # under xdist the workers collect; the controller cannot count
    cs = session.config.stash[SESSION_KEY]
    cs.planned = planned = sum(
        1
        for item in session.items
        if getattr(item, "originalname", "") != "test_semantics"
        and isinstance(getattr(getattr(item, "callspec", None), "params", {}).get("cell"), Cell)
    )
    path = session.config.getoption("progress_file")
    if not path:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(f"{planned}\n")


def pytest_sessionstart(session: pytest.Session) -> None:
    cs = session.config.stash[SESSION_KEY]
    if cs.writer is None:
        return
    cs.cells()
    for name, (status, reason) in cs._unusable.items():  # keyed by framework: "keras-jax" included
        cs.writer.write({"type": "framework", "framework": name, "status": status, "message": reason})
    for name, adapter in all_adapters().items():
        if name in cs.versions:
            cs.writer.write(
                sanitize(
                    {
                        "type": "framework",
                        "framework": name,
                        "status": "ok",
                        "version": cs.versions[name],
                        "devices": adapter.devices(),
                        "details": adapter.device_details(),
                        "pid": os.getpid(),
                        # compile_seconds count loading from this cache where it held the program
                        "compile_cache": os.environ.get(COMPILE_CACHE_ENV),
                    }
                )
            )
    for name in dict.fromkeys(impl.framework for impl in cs.custom):
        origins = [impl.origin for impl in cs.custom if impl.framework == name]
        cs.writer.write(
            sanitize(
                {
                    "type": "framework",
                    "framework": name,
                    "status": "ok",
                    "version": None,
                    "devices": cs.selection.devices or ["cpu"],
                    "details": {"custom": origins},
                    "pid": os.getpid(),
                }
            )
        )


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _CONTROLLER is None or (report.when != "call" and not (report.when == "setup" and report.skipped)):
        return
    for key, value in report.user_properties:
        if key == RECORD_KEY:
            _CONTROLLER.write(value)


# The session that writes the results file (the controller under xdist); hooks such as
# pytest_runtest_logreport receive no config, so it is kept here for the process.
_CONTROLLER: ConformanceSession | None = None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    cs = session.config.stash[SESSION_KEY]
    if cs.writer is None:
        return
    run_cells = [
        {
            "framework": c.impl.framework,
            "api": c.impl.api,
            "mode": c.impl.mode,
            "dtype": c.dtype,
            "device": c.device,
            "op": c.impl.op,
        }
        for c in cs.cells()
    ]
    written = sum(cs.counts.values())
    stopped = int(exitstatus) in STOPPED_EXIT or (cs.planned is not None and written < cs.planned)
    stale = (
        stale_entries(cs.registry, cs.used_entries, cs.versions, run_cells)
        if not _partial(cs) and not stopped
        else []  # an incomplete run did not test every entry's cells
    )
    cs.writer.write(
        {
            "type": "end",
            "frameworks": sorted({c.impl.framework for c in cs.cells()}),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "counts": cs.counts,
            "stale_known_issues": stale,
            "exit_status": int(exitstatus),
            "pid": os.getpid(),
            "planned": cs.planned,
            "checks": written,
        }
    )
    cs.writer.close()
    if (
        not written
        and int(exitstatus) in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
        and not session.config.getoption("append_run")  # under `run` the parent judges the whole
        and not (session.config.getoption("collectonly") and session.testscollected)
        and not _import_failures(cs)
    ):
        keyword = session.config.getoption("keyword") or None
        cs.empty_selection = empty_selection_message(cs.selection.__dict__, keyword)
        session.exitstatus = pytest.ExitCode.USAGE_ERROR  # never 5, never a green 0 for no checks
    elif (
        _import_failures(cs)
        and int(exitstatus) == pytest.ExitCode.OK
        and not session.config.getoption("append_run")  # `run` exits EXIT_BROKEN for it
    ):
        # Plain pytest: a framework installed but broken was not tested, so the run is not green.
        # Its own codes stop at 5 (3 is its internal error), so this is 1, "tests failed".
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _import_failures(cs: ConformanceSession) -> dict[str, str]:
    """Frameworks installed but not importable (their own ``framework`` records say why)."""
    adapters = all_adapters()
    return {n: r for n, r in cs._missing.items() if n in adapters and r != "not installed"}


def _partial(cs: ConformanceSession) -> bool:
    """A selection narrower than everything makes "matched nothing" meaningless (no stale report)."""
    sel = cs.selection
    return bool(sel.apis or sel.dtypes or sel.modes or sel.ops or sel.devices) or bool(
        cs.config.getoption("keyword") or cs.config.getoption("markexpr")
    )


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    cs = config.stash[SESSION_KEY]
    if cs.writer is None:
        return
    from conformance.summary import print_summary

    print_summary(terminalreporter, cs, exitstatus)


@pytest.fixture
def conformance(request: pytest.FixtureRequest) -> ConformanceSession:
    return request.config.stash[SESSION_KEY]
