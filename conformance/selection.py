"""Selection: the suite's pytest options, and the ``Selection`` they make, validated.

The contract: ``add_options`` declares every option of the suite (selection, profile, run
directory, registry, custom implementations); ``parse_selection`` turns the selection options
into a ``Selection`` or raises ``pytest.UsageError`` with one line naming the bad value and the
valid ones; ``custom_options`` gives the custom-implementation options. Values may be repeated
or comma-separated; API names may be glob patterns (``matches``). Nothing here imports a
framework: the adapters are passed in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

import pytest

from conformance.adapters.base import FrameworkAdapter
from conformance.custom_cli import IMPL_OPTIONS, CustomOptions
from conformance.known import DEFAULT_REGISTRY
from conformance.profiles import PROFILES, get_profile
from conformance.summary import SELECTION_OPTIONS
from reference.dtypes import FLOAT_DTYPE_NAMES

DEVICE_PATTERN = re.compile(r"^(cpu|cuda:\d+)$")


def split_values(values: list[str]) -> list[str]:
    """Repeated and comma-separated option values, as one list (blanks dropped)."""
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def matches(value: str, pattern: str) -> bool:
    """Whether ``value`` (an API name) matches the glob ``pattern``, case-sensitively."""
    return fnmatchcase(value, pattern)


def add_options(parser: pytest.Parser) -> None:
    """The suite's options, in the ``conformance`` group of pytest's help."""
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
        "--skip-recorded",
        default=None,
        metavar="RESULTS",
        help="resume: leave out the checks this results file already holds (a restarted process)",
    )
    group.addoption(
        "--dtype-split",
        action="store_true",
        help="the --dtype given is this process's share of a run split by dtype"
        " (conformance.work_units), not a narrower selection: unused registry entries are still reported",
    )
    group.addoption(
        "--progress-file", default=None, help="write the number of planned checks here after collection"
    )
    # Options that add the user's own implementations (``conformance.adapters.custom``) as cells.
    for name, kwargs in IMPL_OPTIONS:
        group.addoption(name, **kwargs)


def custom_options(config: pytest.Config) -> CustomOptions:
    """The custom-implementation options; --impl-op defaults to the one --op when exactly one is given."""
    ops = split_values(config.getoption("op"))
    return CustomOptions(
        functions=tuple(config.getoption("impl")),
        commands=tuple(config.getoption("impl_command")),
        op=config.getoption("impl_op") or (ops[0] if len(ops) == 1 else None),
        framework=config.getoption("impl_framework"),
        name=config.getoption("impl_name"),
        timeout=config.getoption("impl_timeout"),
        joint_axes=bool(config.getoption("impl_joint_axes")),
    )


@dataclass
class Selection:
    frameworks: list[str]
    apis: list[str]
    devices: list[str]
    dtypes: list[str]
    modes: list[str]
    ops: list[str]


def parse_selection(config: pytest.Config, adapters: Mapping[str, FrameworkAdapter]) -> Selection:
    """Validate the selection options; UsageError with one line naming the bad value and the valid ones."""
    sel = Selection(*(split_values(config.getoption(n)) for n in SELECTION_OPTIONS))
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
