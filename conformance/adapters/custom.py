"""Your own implementation under test: a Python function, or any program through an external command.

This module turns what a user names (``--impl``, ``--impl-command``, or the
function given to ``conformance.check``) into ``Implementation`` objects that the
suite runs exactly like a framework's, side by side with them in one report.

The contract of a Python function (``--impl package.module:function``)
-----------------------------------------------------------------------

* It is called as ``function(x, axis=axis)``: ``x`` a NumPy array (float16,
  ``ml_dtypes.bfloat16``, float32, float64, or int64 for the integer case; it may
  be a non-contiguous view, and it is a private copy, so writing into it does no
  harm), ``axis`` an int (possibly negative) along which to normalize.
* If its signature accepts them (by name or through ``**kwargs``) it also
  receives ``dtype=``, the name of the dtype the result must have
  (``"float16"``, ``"bfloat16"``, ``"float32"``, ``"float64"``; ``"float64"``
  for integer input), and ``device=``, the device name (``"cpu"``, ``"cuda:0"``).
* It returns an array of ``x``'s shape and of that dtype: a NumPy array, or an
  object NumPy converts through the array protocol (``__array__``). A list, a
  tuple or a Python number is *not* converted (it carries no dtype) and is
  reported as the wrong type.
* With ``framework="torch"`` (``--impl-framework torch``; likewise
  ``tensorflow`` and ``jax``) it takes and returns that framework's arrays
  instead: the suite converts exactly both ways, bfloat16 included, with the
  same helpers as the framework's adapter (``conformance.adapters.bridges``).
* ``axis`` is an int unless the user says the function accepts joint axes (``joint_axes=True``,
  ``--impl-joint-axes``): it is then also given the corpus' joint-axes cases, with ``axis`` a
  tuple of ints (possibly negative, in any order) or None (every axis), and must normalize over
  those axes jointly. Without the flag those cases are not given to it (skipped, not failed).
  An external command (``--impl-command``) takes one int axis.
* Each call has a time limit (``timeout`` seconds, ``--impl-timeout``, default
  ``DEFAULT_TIMEOUT``; ``0`` or ``None``: none). The call runs in a daemon
  thread; one that overruns is reported as a ``TimeoutError`` for that input, and
  while it is still running further calls are refused (reported the same way)
  rather than piled up beside it.
* A backward pass is judged too when the function carries a ``vjp`` attribute
  (NumPy functions): ``function.vjp(x, g, axis=axis)`` returns the gradient of
  ``sum(g * function(x))`` with respect to ``x`` (``g``: the cotangent, ``x``'s
  shape and dtype; a masked function's gets ``where=`` and ``x`` as its forward call does), as a
  NumPy array of ``x``'s shape and dtype. It is judged by
  the gradient properties (``conformance.gradient_properties``).
* A function that computes an API with its own contract (``reference.contracts``) declares it
  with ``contract=``: ``Contract(temperature=3.0)`` for a composite ``softmax(x / T)`` that gets
  ``x`` and divides by ``T`` itself (judged as the exact softmax of ``round(x / T)``, so that a
  rewrite of the division is caught), ``Contract(kind="l1_normalize", eps=...)`` for an L1
  normalization. The function is called exactly as above; only the oracle changes. A masked
  function (``Contract(masked=True)``, NumPy arrays only) is called as
  ``function(x, axis=axis, where=m)`` like ``jax.nn.softmax(x, where=m)``: ``m = x != -inf`` and
  the masked entries of ``x`` replaced by the dtype's largest finite value (a masked entry that
  leaks into the max or the sum shows); masked outputs must be 0 (-inf for log-softmax), and an
  all-False mask gives all zeros (all -inf), as JAX and Keras document.
* Whatever the function raises, or returns of the wrong shape, dtype or type,
  becomes a verdict of the checks concerned, with the message; it never stops
  the run. A custom implementation declares its dtypes (all four unless
  restricted with ``--dtype``/``dtypes=``), so failing on the suite's first, simple
  input is an ``error``, not "unsupported" as it is for a framework.

Records carry ``framework`` = ``name`` (``"custom"`` unless ``--impl-name``) and
``api`` = the name the user gave the function: the attribute path written after the
colon (``mysoftmax`` for ``--impl pkg.mod:mysoftmax``, ``Kernels.softmax`` for
``FILE.py:Kernels.softmax``; ``target_api``), never its ``__qualname__``, so that two
functions made by one decorator, a lambda or a ``functools.partial`` keep the name on the
command line, and a function renamed in code keeps matching in ``compare``. Where two
targets of one op name the same attribute in different modules, each keeps the whole target
as written (``a.py:softmax``, ``b.py:softmax``). A callable handed to
``conformance.check`` has no command line: its ``api`` is its ``module.qualname``. An
external command's ``api`` is the command line (``conformance.adapters.external``).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import re
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np

from conformance.adapters.base import INT_AXIS_ONLY, JOINT_AXES, OPS, Implementation
from conformance.adapters.bridges import Bridge, get_bridge
from reference.axes import Axis
from reference.contracts import Contract, with_contract
from reference.dtypes import FLOAT_DTYPE_NAMES, output_dtype_for

DEFAULT_NAME = "custom"
DEFAULT_TIMEOUT = 30.0
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.+]+$")
_FILE_MODULE_PREFIX = "_conformance_user_file_"


class CustomImplError(ValueError):
    """A user implementation that cannot be set up; the message is one line naming it."""


@dataclass(frozen=True)
class CustomImplementation(Implementation):
    """An ``Implementation`` the user brought; ``origin`` is what they wrote (``mod:fn`` or a command)."""

    origin: str = field(default="", compare=False)


def is_custom(impl: Implementation) -> bool:
    """True for implementations built here (their dtypes are declared, not probed)."""
    return isinstance(impl, CustomImplementation)


def probe_failure_message(message: str) -> str:
    """The message for a custom implementation that fails on the suite's first, simple input."""
    return (
        f"failed on the first, simple input (rows [0, 1, 2] in this dtype): {message}"
        " (restrict the dtypes with --dtype / dtypes= if this one is not meant to be supported)"
    )


def declared_outcome(impl: Implementation, outcome: Any) -> Any:
    """``outcome`` (a ``PropertyOutcome``), "unsupported" turned into "error" for a custom implementation.

    A framework that fails on the suite's first, simple input does not support the
    dtype; a custom implementation declared it supports it, so that is an error.
    """
    if outcome.verdict == "unsupported" and is_custom(impl):
        return dataclasses.replace(outcome, verdict="error", message=probe_failure_message(outcome.message))
    return outcome


# ---- calling with a time limit -----------------------------------------------------------------


class CallTimer:
    """Runs calls in a daemon thread with a per-call time limit.

    A call that overruns raises ``TimeoutError`` (its thread cannot be killed and
    keeps running); until it ends, further calls raise ``TimeoutError`` at once
    instead of starting another thread beside it. ``timeout`` None or <= 0: calls
    run in the calling thread, unlimited. A ``BaseException`` that is not an
    ``Exception`` (``SystemExit`` from a stray ``sys.exit()``) becomes a
    ``RuntimeError``, so that it costs one input and not the run.
    """

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout if timeout and timeout > 0 else None
        self._stray: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, fn: Callable[[], Any]) -> Any:
        if self.timeout is None:
            return _reraise_as_exception(fn)
        with self._lock:
            if self._stray is not None and self._stray.is_alive():
                raise TimeoutError(
                    f"not called: an earlier call overran the {self.timeout:g} s limit and is still running"
                )
            self._stray = None
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = _reraise_as_exception(fn)
            except BaseException as exc:  # handed to the calling thread below
                box["error"] = exc

        thread = threading.Thread(target=target, name="softmax-conformance-call", daemon=True)
        thread.start()
        thread.join(self.timeout)
        if thread.is_alive():
            with self._lock:
                self._stray = thread
            raise TimeoutError(
                f"did not return within {self.timeout:g} s (the per-call limit, --impl-timeout)"
            )
        if "error" in box:
            raise box["error"]
        return box["value"]


def _reraise_as_exception(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:
        raise
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        raise RuntimeError(f"raised {type(exc).__name__}: {exc}") from None


# ---- loading a Python function -----------------------------------------------------------------


def split_target(text: str, default_op: str | None) -> tuple[str, str]:
    """``[OP=]MODULE:FUNCTION`` -> (op, ``MODULE:FUNCTION``); CustomImplError when the op is unknown."""
    op, sep, rest = text.partition("=")
    if sep and op in OPS:
        return op, rest
    if sep and ":" not in op:
        raise CustomImplError(f"--impl {text!r}: unknown op {op!r}; valid: {', '.join(OPS)}")
    if default_op is None:
        raise CustomImplError(
            f"--impl {text!r}: which op does it compute? pass --impl-op {'|'.join(OPS)}"
            " (or a single --op, or write OP=MODULE:FUNCTION)"
        )
    if default_op not in OPS:
        raise CustomImplError(f"unknown op {default_op!r}; valid: {', '.join(OPS)}")
    return default_op, text


def target_api(target: str) -> str:
    """The name records give the function ``MODULE:ATTR`` names: ``ATTR`` as written (``Class.method``
    included), the name the user gave it on the command line, whatever the object's ``__qualname__``."""
    return target.rpartition(":")[2].strip()


def load_function(target: str) -> tuple[Callable[..., Any], str]:
    """Import ``MODULE:FUNCTION`` (or ``path/to/file.py:FUNCTION``; ``Class.method`` paths allowed).

    Returns the callable and Python source that defines ``function`` as it (for
    repro snippets). Raises CustomImplError with one line naming what is missing.
    """
    module_name, sep, attr_path = target.rpartition(":")
    if not sep or not module_name or not attr_path:
        raise CustomImplError(f"--impl {target!r}: expected MODULE:FUNCTION, e.g. mypkg.kernels:softmax")
    if module_name.endswith(".py") or "/" in module_name or "\\" in module_name:
        module, source = _load_file(module_name, target)
    else:
        module, source = (
            _import_module(module_name, target),
            f"import {module_name}\nfunction = {module_name}",
        )
    obj: Any = module
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise CustomImplError(f"--impl {target!r}: {module_name!r} has no attribute {attr_path!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise CustomImplError(f"--impl {target!r}: {attr_path!r} is a {type(obj).__name__}, not a function")
    check_signature(obj, target)
    return obj, f"{source}.{attr_path}"


def _import_module(name: str, target: str) -> Any:
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, "")  # `python -m conformance run --impl mymod:f` finds mymod.py in the cwd
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise CustomImplError(f"--impl {target!r}: module {name!r} not found") from None
        raise CustomImplError(f"--impl {target!r}: module {name!r} failed to import: {exc}") from None
    except Exception as exc:
        raise CustomImplError(
            f"--impl {target!r}: module {name!r} failed to import: {type(exc).__name__}: {exc}"
        ) from None


def _load_file(path_text: str, target: str) -> tuple[Any, str]:
    path = Path(path_text).expanduser().resolve()
    if not path.is_file():
        raise CustomImplError(f"--impl {target!r}: file {path_text!r} not found")
    name = _FILE_MODULE_PREFIX + re.sub(r"\W", "_", path.stem)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CustomImplError(f"--impl {target!r}: {path_text!r} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise CustomImplError(
            f"--impl {target!r}: {path_text!r} failed to import: {type(exc).__name__}: {exc}"
        ) from None
    source = (
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location({path.stem!r}, {str(path)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "function = module"
    )
    return module, source


def check_signature(fn: Callable[..., Any], label: str) -> None:
    """CustomImplError unless ``fn`` can be called as ``fn(x, axis=...)``."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # a builtin without a signature: trust it, the first call will tell
    try:
        signature.bind(np.zeros(1), axis=-1)
    except TypeError:
        raise CustomImplError(
            f"--impl {label!r}: cannot be called as function(x, axis=...); its signature is {signature}"
        ) from None


def _accepted_keywords(fn: Callable[..., Any]) -> tuple[str, ...]:
    """Which of ``dtype``/``device`` the function accepts by name or through ``**kwargs``."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return ()
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return tuple(
        k
        for k in ("dtype", "device")
        if var_kw or (k in params and params[k].kind is not inspect.Parameter.POSITIONAL_ONLY)
    )


def qualified_name(fn: Callable[..., Any]) -> str:
    """``module.qualname`` of a function (a file loaded by path shows its file name as the module)."""
    module = getattr(fn, "__module__", None) or ""
    qualname = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    if module.startswith(_FILE_MODULE_PREFIX):
        module = module.removeprefix(_FILE_MODULE_PREFIX)
    return f"{module}.{qualname}" if module else qualname


def _default_source(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module or not qualname or "<" in qualname or module == "__main__":
        return f"# define `function` here: {qualified_name(fn)} cannot be imported by name\nfunction = ..."
    return f"import {module}\nfunction = {module}.{qualname}"


# ---- building implementations --------------------------------------------------------------


def function_implementation(
    fn: Callable[..., Any],
    op: str,
    *,
    name: str = DEFAULT_NAME,
    framework: str = "numpy",
    timeout: float | None = DEFAULT_TIMEOUT,
    dtypes: Sequence[str] = FLOAT_DTYPE_NAMES,
    api: str | None = None,
    source: str | None = None,
    origin: str = "",
    contract: Contract | None = None,
    joint_axes: bool = False,
) -> CustomImplementation:
    """An Implementation calling the Python function ``fn`` (see the module docstring for the contract).

    ``framework`` is the kind of arrays ``fn`` takes and returns (``numpy``,
    ``torch``, ``tensorflow``, ``jax``); ``name`` is the framework shown in
    records; ``source`` is Python that defines ``function`` as ``fn`` in a repro
    (derived from ``fn``'s module and qualified name when omitted); ``contract``: the API
    contract ``fn`` follows where it is not exactly ``op`` (``reference.contracts``; None: ``op``'s
    own, or the one an ``op`` built with ``with_contract`` carries); ``joint_axes``: ``fn`` accepts
    ``axis`` as a tuple of ints or None too, and is given the joint-axes cases.
    """
    if op not in OPS:
        raise CustomImplError(f"unknown op {op!r}; valid: {', '.join(OPS)}")
    if contract is not None:
        try:
            op = with_contract(str(op), contract)
        except ValueError as exc:
            raise CustomImplError(str(exc)) from None
        if contract.masked and framework != "numpy":
            raise CustomImplError(f"a masked function takes NumPy arrays, not {framework} ones")
    masked = contract is not None and contract.masked
    validate_name(name)
    bridge = get_bridge(framework)
    keywords = _accepted_keywords(fn)
    timer = CallTimer(timeout)

    def call(x: np.ndarray, axis: Axis, device: str) -> Any:
        x = x.copy(order="K")  # the suite's inputs stay untouched whatever the function does

        def invoke() -> Any:
            extra: dict[str, str] = {}
            if "dtype" in keywords:
                extra["dtype"] = output_dtype_for(x.dtype).name
            if "device" in keywords:
                extra["device"] = device
            if masked:
                extra["where"], x_in = masked_input(x)
            else:
                x_in = x
            with np.errstate(all="ignore"), bridge.context(device):
                out = fn(bridge.to_native(x_in, device), axis=axis, **extra)
            return bridge.to_numpy(out)

        return timer.run(invoke)

    source = source or _default_source(fn)
    vjp_fn = getattr(fn, "vjp", None)
    vjp = None
    if callable(vjp_fn) and framework == "numpy":

        def vjp(x: np.ndarray, g: np.ndarray, axis: Axis, device: str) -> Any:
            x, g = x.copy(order="K"), g.copy(order="K")

            def invoke() -> Any:
                with np.errstate(all="ignore"):
                    if masked:
                        m, x_in = masked_input(x)
                        return bridge.to_numpy(vjp_fn(x_in, g, axis=axis, where=m))
                    return bridge.to_numpy(vjp_fn(x, g, axis=axis))

            return timer.run(invoke)

    return CustomImplementation(
        vjp=vjp,
        vjp_snippet=(
            f"{source}\n{_MASKED_SNIPPET}gx = np.asarray(function.vjp(t, g, axis=axis, where=m))"
            if masked
            else f"{source}\ngx = np.asarray(function.vjp(x, g, axis=axis))"
        )
        if vjp
        else "",
        framework=name,
        api=api or qualified_name(fn),
        op=op,
        mode="eager",
        call=call,
        snippet=_function_snippet(source, bridge, keywords, masked),
        imports=bridge.imports if "ml_dtypes" in bridge.imports else "import ml_dtypes\n" + bridge.imports,
        dtypes=tuple(dtypes),
        notes=f"user function ({framework} arrays), per-call time limit {timer.timeout or 'none'}",
        origin=origin or qualified_name(fn),
        axes=JOINT_AXES if joint_axes else INT_AXIS_ONLY,
    )


_SNIPPET_KEYWORDS = {
    "dtype": ", dtype=np.dtype(np.float64 if x.dtype.kind in 'iub' else x.dtype).name",
    "device": ", device=device",
}


_MASKED_SNIPPET = "m = x != -np.inf\nt = np.where(m, x, ml_dtypes.finfo(x.dtype).max).astype(x.dtype)\n"


def masked_input(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask, input) for a masked function: ``m = x != -inf``, and ``x`` with the masked entries set
    to the dtype's largest finite value (integer input: unchanged, as nothing is masked)."""
    m = x != -np.inf
    if x.dtype.kind in "iub":
        return m, x
    return m, np.where(m, x, ml_dtypes.finfo(x.dtype).max).astype(x.dtype)


def _function_snippet(source: str, bridge: Bridge, keywords: tuple[str, ...], masked: bool = False) -> str:
    where = ", where=m" if masked else ""
    call = f"out = function(t, axis=axis{''.join(_SNIPPET_KEYWORDS[k] for k in keywords)}{where})"
    if masked:
        call = _MASKED_SNIPPET + call
        return f"{source}\n{call}\n{bridge.snippet_out}"
    if bridge.snippet_context:
        call = f"{bridge.snippet_context}\n    {call}"
    return f"{source}\n{bridge.snippet_in}\n{call}\n{bridge.snippet_out}"


def validate_name(name: str) -> None:
    """CustomImplError unless ``name`` is a usable framework name for records (not a real framework's)."""
    from conformance.adapters import all_adapters

    if not NAME_PATTERN.match(name):
        raise CustomImplError(
            f"--impl-name {name!r}: use letters, digits, '_', '.' or '+' (it becomes part of test ids)"
        )
    if name in all_adapters():
        raise CustomImplError(f"--impl-name {name!r} is a framework's name; choose another")
