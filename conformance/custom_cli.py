"""The ``run`` command's options for your own implementations (``--impl``, ``--impl-command``, ...).

``python -m conformance run --impl mypkg.kernels:softmax --impl-op softmax`` tests
the function in a pytest process of its own (like a framework's), appending to the
same results file, so that the report shows it beside the frameworks. With
``--impl``/``--impl-command`` and no ``--framework`` only the custom implementations
run; add ``--framework torch`` (etc.) to compare in the same run. The functions and
commands are loaded and checked here, before any process starts: one that cannot
be found is a usage error (one line, exit status 2).
"""

from __future__ import annotations

import argparse

from conformance.adapters.custom import (
    DEFAULT_NAME,
    DEFAULT_TIMEOUT,
    CustomOptions,
    build_implementations,
    describe,
)

IMPL_OPTIONS: tuple[tuple[str, dict], ...] = (
    (
        "--impl",
        {
            "action": "append",
            "default": [],
            "metavar": "[OP=]MODULE:FUNCTION",
            "help": "your function (or FILE.py:FUNCTION), called as f(x, axis=axis); repeatable;"
            " without --framework only custom implementations run",
        },
    ),
    (
        "--impl-command",
        {
            "action": "append",
            "default": [],
            "metavar": "CMD",
            "help": "an external program, run as CMD IN.npy AXIS OUT.npy per call; repeatable",
        },
    ),
    (
        "--impl-op",
        {"default": None, "help": "op they compute: softmax, log_softmax, sum_normalize (or one --op)"},
    ),
    (
        "--impl-framework",
        {
            "default": "numpy",
            "help": "arrays the functions take and return: numpy (default), torch, tensorflow, jax",
        },
    ),
    (
        "--impl-name",
        {"default": DEFAULT_NAME, "help": f"framework name in the records (default: {DEFAULT_NAME})"},
    ),
    (
        "--impl-timeout",
        {
            "type": float,
            "default": DEFAULT_TIMEOUT,
            "help": f"seconds per call of a custom implementation, 0 for none (default: {DEFAULT_TIMEOUT:g})",
        },
    ),
)
"""The ``--impl*`` options, one table for both parsers: the ``run`` command's (argparse) and the
pytest plugin's (``pytest --impl ...``), which takes the same keyword arguments."""


def add_arguments(run: argparse.ArgumentParser) -> None:
    """Add the ``--impl*`` options to the ``run`` subcommand."""
    for name, kwargs in IMPL_OPTIONS:
        run.add_argument(name, **kwargs)


def options_from_args(args: argparse.Namespace) -> CustomOptions:
    """The options as parsed; ``--impl-op`` defaults to the one ``--op`` when exactly one is given."""
    ops = [v.strip() for item in getattr(args, "op", None) or [] for v in item.split(",") if v.strip()]
    return CustomOptions(
        functions=tuple(getattr(args, "impl", None) or ()),
        commands=tuple(getattr(args, "impl_command", None) or ()),
        op=getattr(args, "impl_op", None) or (ops[0] if len(ops) == 1 else None),
        framework=getattr(args, "impl_framework", "numpy"),
        name=getattr(args, "impl_name", DEFAULT_NAME),
        timeout=getattr(args, "impl_timeout", DEFAULT_TIMEOUT),
    )


def validate(options: CustomOptions) -> str:
    """Load every function and find every command (CustomImplError, one line, if one fails);
    returns the one-line description printed at the start of the run."""
    if options.requested:
        build_implementations(options)
    return describe(options)


def pytest_command(base: list[str], options: CustomOptions) -> list[str]:
    """The framework command ``base`` (from ``cli._pytest_command``) turned into the custom one.

    ``--framework NAME`` is dropped (the plugin then runs only the custom
    implementations) and the ``--impl*`` options are added; the op is passed
    explicitly, so the plugin does not have to infer it from ``--op``.
    """
    cmd: list[str] = []
    skip = False
    for arg in base:
        if skip:
            skip = False
            continue
        if arg == "--framework":
            skip = True
            continue
        cmd.append(arg)
    extra: list[str] = []
    for target in options.functions:
        extra += ["--impl", target]
    for command in options.commands:
        extra += ["--impl-command", command]
    if options.op:
        extra += ["--impl-op", options.op]
    extra += ["--impl-framework", options.framework, "--impl-name", options.name]
    extra += ["--impl-timeout", str(options.timeout if options.timeout is not None else 0)]
    return cmd + extra
