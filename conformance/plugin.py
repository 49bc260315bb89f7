"""The pytest plugin: the hooks that wire selection, planning, evaluation and recording together.

Load it with ``-p conformance.plugin`` and collect ``--pyargs conformance.suite``
(``python -m conformance run`` does both). Test ids read
``test_precision[torch-F.softmax-eager-cpu-float32]``. All tests of one cell run
one after the other (the cell's outputs are computed once and judged by every
property), so only one cell's observations are held in memory at a time.

Under pytest-xdist, records travel to the controller in ``user_properties`` and
only the controller writes the results file; ``--dist loadgroup`` keeps one
framework's cells on one worker (``xdist_group`` marks).

The jobs live in their own modules: ``conformance.selection`` (options -> ``Selection``),
``conformance.planning`` (which cells, in which order), ``conformance.session`` (one test:
evaluate, apply the registry, record), ``conformance.recording`` (the records) and
``conformance.evaluation`` (calling and judging). This module holds only the hooks; the
adapters are looked up here (``all_adapters``), once per process, and passed on.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from conformance.adapters import all_adapters
from conformance.adapters.custom import CustomImplError
from conformance.custom_cli import build_implementations
from conformance.known import load_registry
from conformance.planning import item_key, item_order, planned_checks, recorded_items
from conformance.property_registry import cell_properties
from conformance.recording import framework_records, session_end_record
from conformance.records import RESULTS_FILE, RunWriter
from conformance.selection import DEVICE_PATTERN, add_options, custom_options, parse_selection
from conformance.session import RECORD_KEY, ConformanceSession
from conformance.summary import STOPPED_EXIT, empty_selection_message

__all__ = ["DEVICE_PATTERN", "RECORD_KEY", "SESSION_KEY", "ConformanceSession", "all_adapters"]

SESSION_KEY = pytest.StashKey[ConformanceSession]()

# The session that writes the results file (the controller under xdist); hooks such as
# pytest_runtest_logreport receive no config, so it is kept here for the process.
_CONTROLLER: ConformanceSession | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    adapters = all_adapters()
    selection = parse_selection(config, adapters)
    seed = config.getoption("hypothesis_seed", default=None)
    seed = int(seed) if seed is not None else random.SystemRandom().randrange(2**31)
    run_id = config.getoption("run_id") or time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(config.getoption("run_dir") or Path("reports") / "runs" / run_id)
    try:
        registry = load_registry(config.getoption("known"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    session = ConformanceSession(
        config, selection, config.getoption("profile"), seed, run_dir, registry, adapters
    )
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
        argv = list(config.invocation_params.args)
        session.writer.write(envelope(run_id, seed, session.profile_name, selection.__dict__, argv))
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
    """Run every property of one cell together (the cell is evaluated once, then dropped); under
    ``--skip-recorded``, leave out what that results file already holds."""
    cells = config.stash[SESSION_KEY].cells()
    items.sort(key=lambda item: item_order(item, cells))
    resume = config.getoption("skip_recorded")
    if resume:
        done = recorded_items(Path(resume))
        keep = [item for item in items if item_key(item) not in done]
        config.hook.pytest_deselected(items=[item for item in items if item_key(item) in done])
        items[:] = keep


def pytest_collection_finish(session: pytest.Session) -> None:
    """Count the check records this session will write (kept for its ``end`` record) and tell a
    watching parent process (``--progress-file``)."""
    if hasattr(session.config, "workerinput") or session.config.pluginmanager.hasplugin("dsession"):
        return  # under xdist the workers collect; the controller cannot count
    cs = session.config.stash[SESSION_KEY]
    cs.planned = planned = planned_checks(session.items)
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
    devices = cs.selection.devices or ["cpu"]
    for record in framework_records(cs._unusable, cs.versions, cs.adapters, cs.custom, devices):
        cs.writer.write(record)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _CONTROLLER is None or (report.when != "call" and not (report.when == "setup" and report.skipped)):
        return
    for key, value in report.user_properties:
        if key == RECORD_KEY:
            _CONTROLLER.write(value)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    cs = session.config.stash[SESSION_KEY]
    if cs.writer is None:
        return
    written = cs.tally.written
    stopped = int(exitstatus) in STOPPED_EXIT or (cs.planned is not None and written < cs.planned)
    frameworks = [c.impl.framework for c in cs.cells()]
    stale = cs.stale_entries(stopped)
    cs.writer.write(session_end_record(frameworks, cs.tally.counts, stale, int(exitstatus), cs.planned))
    cs.writer.close()
    if (
        not written
        and int(exitstatus) in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
        and not session.config.getoption("append_run")  # under `run` the parent judges the whole
        and not (session.config.getoption("collectonly") and session.testscollected)
        and not cs.import_failures()
    ):
        keyword = session.config.getoption("keyword") or None
        cs.empty_selection = empty_selection_message(cs.selection.__dict__, keyword)
        session.exitstatus = pytest.ExitCode.USAGE_ERROR  # never 5, never a green 0 for no checks
    elif (
        cs.import_failures()
        and int(exitstatus) == pytest.ExitCode.OK
        and not session.config.getoption("append_run")  # `run` exits EXIT_BROKEN for it
    ):
        # Plain pytest: a framework installed but broken was not tested, so the run is not green.
        # Its own codes stop at 5 (3 is its internal error), so this is 1, "tests failed".
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    cs = config.stash[SESSION_KEY]
    if cs.writer is None:
        return
    from conformance.summary import print_summary

    print_summary(terminalreporter, cs, exitstatus)


@pytest.fixture
def conformance(request: pytest.FixtureRequest) -> ConformanceSession:
    return request.config.stash[SESSION_KEY]
