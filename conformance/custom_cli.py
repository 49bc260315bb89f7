"""The ``run`` command's options for your own implementations (``--impl``, ``--impl-command``, ...).

``python -m conformance run --impl mypkg.kernels:softmax --impl-op softmax`` tests
the function in a pytest process of its own (like a framework's), appending to the
same results file, so that the report shows it beside the frameworks. With
``--impl``/``--impl-command`` and no ``--framework`` only the custom implementations
run; add ``--framework torch`` (etc.) to compare in the same run. The functions and
commands are loaded and checked here, before any process starts: one that cannot
be found is a usage error (one line, exit status 2).

``CustomOptions`` and ``build_implementations`` live here, above both
``conformance.adapters.custom`` (Python functions) and ``conformance.adapters.external``
(commands), which they combine: the adapters import neither this module nor each other
in a cycle.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass

from conformance.adapters.base import OPS
from conformance.adapters.bridges import NATIVE_FRAMEWORKS
from conformance.adapters.custom import (
    DEFAULT_NAME,
    DEFAULT_TIMEOUT,
    CustomImplementation,
    CustomImplError,
    function_implementation,
    load_function,
    split_target,
    target_api,
    validate_name,
)
from conformance.adapters.external import command_implementation

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
        "--impl-joint-axes",
        {
            "action": "store_true",
            "default": False,
            "help": "the functions also accept axis as a tuple of ints or None (normalize over those axes"
            " jointly): they are then given the joint-axes cases, which are skipped otherwise",
        },
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
        joint_axes=bool(getattr(args, "impl_joint_axes", False)),
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
    if options.joint_axes:
        extra.append("--impl-joint-axes")
    return cmd + extra


@dataclass(frozen=True)
class CustomOptions:
    """What the user asked for on the command line (or the plugin's options)."""

    functions: tuple[str, ...] = ()  # "[OP=]MODULE:FUNCTION"
    commands: tuple[str, ...] = ()  # command lines, split with shlex
    op: str | None = None  # the op of entries without OP=
    framework: str = "numpy"  # the arrays the functions take and return
    name: str = DEFAULT_NAME
    timeout: float | None = DEFAULT_TIMEOUT
    joint_axes: bool = False  # the functions accept a tuple of axes / None (``--impl-joint-axes``)

    @property
    def requested(self) -> bool:
        return bool(self.functions or self.commands)


def build_implementations(options: CustomOptions) -> list[CustomImplementation]:
    """Every implementation the options name, loaded and checked; CustomImplError (one line) otherwise."""
    if options.framework not in NATIVE_FRAMEWORKS:
        raise CustomImplError(
            f"unknown --impl-framework {options.framework!r}; valid: {', '.join(NATIVE_FRAMEWORKS)}"
        )
    validate_name(options.name)
    impls: dict[tuple[str, str], CustomImplementation] = {}
    targets = list(dict.fromkeys(split_target(text, options.op) for text in options.functions))
    # The name the user gave each function (``target_api``); two targets of one op that name the
    # same attribute in different modules keep the whole target each, so neither hides the other.
    attrs = [(op, target_api(target)) for op, target in targets]
    for (op, target), key in zip(targets, attrs, strict=True):
        fn, source = load_function(target)
        impl = function_implementation(
            fn,
            op,
            name=options.name,
            framework=options.framework,
            timeout=options.timeout,
            api=key[1] if attrs.count(key) == 1 else target,
            source=source,
            origin=target,
            joint_axes=options.joint_axes,
        )
        impls.setdefault((impl.api, op), impl)
    for text in options.commands:
        op, command = split_target(text, options.op) if _has_op_prefix(text) else (options.op, text)
        if op is None:
            raise CustomImplError(
                f"--impl-command {text!r}: which op does it compute? pass --impl-op {'|'.join(OPS)}"
            )
        impl = command_implementation(command, op, name=options.name, timeout=options.timeout)
        impls.setdefault((impl.api, op), impl)
    return list(impls.values())


def _has_op_prefix(text: str) -> bool:
    head, sep, _ = text.partition("=")
    return bool(sep) and head in OPS


def describe(options: CustomOptions) -> str:
    """One line for the run's header: what will be tested."""
    parts = [*options.functions, *(f"command {shlex.quote(c)}" for c in options.commands)]
    return f"{options.name}: {', '.join(parts)}"
