"""The replay command of a check: ``python -m conformance run ...`` that judges that one check again.

For a framework the page's script builds it from the drill-down's fields (``--framework --api
--mode --device --dtype --profile --seed -k test_PROPERTY``). Your own implementations are not a
framework ``run --framework`` knows: their command must carry the ``--impl*`` options the run was
given (``--impl``, ``--impl-command``, ``--impl-op``, ``--impl-framework``, ``--impl-name``,
``--impl-timeout``), which this module reads back from the run's command line in its envelope
(``argv``). A relative ``FILE.py:FUNCTION`` is relative to the directory the run started in.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from conformance.custom_cli import IMPL_OPTIONS, options_from_args, pytest_command


def custom_arguments(envelope: dict[str, Any]) -> dict[str, list[str]]:
    """The ``--impl*`` arguments of the run in ``envelope``, keyed by the implementations' framework
    name (``--impl-name``); empty when the run tested no implementation of its own or its command
    line was not recorded (``conformance.check`` and plain ``pytest`` record none)."""
    argv = [str(a) for a in envelope.get("argv") or []]
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for name, kwargs in IMPL_OPTIONS:
        parser.add_argument(name, **kwargs)
    parser.add_argument("--op", action="append")
    try:
        args, _ = parser.parse_known_args(argv)
    except SystemExit:  # a command line argparse refuses: no replay rather than a wrong one
        return {}
    options = options_from_args(args)
    if not options.requested:
        return {}
    return {options.name: pytest_command([], options)}


def replay_command(rec: dict[str, Any], impl_args: list[str]) -> str:
    """The shell command that judges the check record ``rec`` of a custom implementation again:
    the run's ``--impl*`` arguments, the cell (API, mode, device, dtype), profile, seed and
    ``-k test_PROPERTY``; shell-quoted."""
    argv = ["python", "-m", "conformance", "run", *impl_args]
    for option, field in (("--api", "api"), ("--mode", "mode"), ("--device", "device"), ("--dtype", "dtype")):
        if rec.get(field):
            argv += [option, str(rec[field])]
    argv += ["--profile", str(rec.get("profile") or "default")]
    if rec.get("seed") is not None:
        argv += ["--seed", str(rec["seed"])]
    argv += ["-k", f"test_{rec.get('property')}"]
    return shlex.join(argv)
