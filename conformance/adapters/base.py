"""What an adapter is: the contract between the suite and one framework.

An adapter module (one per framework) holds an instance of a ``FrameworkAdapter``
subclass (``ADAPTER``), registered as ``"module:attribute"`` (``BUILTIN_ADAPTERS`` or an
entry point). It must not import its framework at module import time: ``availability()``
tries the import once and records why it fails (``not installed``; ``import failed`` with
the exception's type and message; ``version too old``); the run writes that as a
``framework`` record and exits ``EXIT_BROKEN`` for an installed framework it cannot use.

The kit (the second half of this file): ``ApiSpec`` describes one API (name, op, the
source it runs, its modes); ``FrameworkAdapter.implementations()`` builds every (API, mode)
from ``specs`` through four hooks (``make_call``, ``snippet``, and ``make_vjp``,
``vjp_snippet`` where there is autodiff); ``SourceAdapter`` is a complete adapter for
NumPy-in, NumPy-out libraries; ``parse_device`` names devices; ``composite_specs`` makes
the two compiler-bait expressions of compiled modes.

An ``Implementation`` is one (framework, API, op, mode). Its ``call`` receives a
NumPy array (float16, ml_dtypes.bfloat16, float32, float64 or integer), an axis
and a device name, and returns a NumPy array: the framework's output converted
back without any change of value or dtype (bfloat16 comes back as
ml_dtypes.bfloat16). ``call`` never judges: whatever the framework raises
propagates, and the runner records it. Only a *decline* makes a cell
"unsupported" (``decline_reason``: an adapter raising ``conformance.errors.Declined``,
or the framework rejecting the dtype with a dtype/type error, or an API or keyword
absent in the installed release); every other exception, on the probe input or
any other, is an ``error`` verdict.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import CodeType
from typing import Any

import numpy as np

from conformance.cases import AXIS_INT, AXIS_NONE, AXIS_TUPLE
from conformance.errors import Declined
from reference.axes import Axis
from reference.contracts import COMPOSITE_TEMPERATURE, Contract, with_contract
from reference.dtypes import FLOAT_DTYPE_NAMES

OPS = ("softmax", "log_softmax", "sum_normalize")
MODES = ("eager", "jit", "xla", "compiled")

# call(x, axis, device) -> np.ndarray; axis an int, or a tuple / None where the API accepts them
CallFn = Callable[[np.ndarray, Axis, str], np.ndarray]
# vjp(x, cotangent, axis, device) -> the gradient with respect to x, as a NumPy array of x's dtype
VjpFn = Callable[[np.ndarray, np.ndarray, Axis, str], np.ndarray]
# The axis forms an API accepts (``conformance.cases.AXIS_FORMS``): one int only (torch's ``dim``,
# TensorFlow's and ONNX Runtime's ``axis``), or also a tuple of axes and None (every axis).
INT_AXIS_ONLY: tuple[str, ...] = (AXIS_INT,)
JOINT_AXES: tuple[str, ...] = (AXIS_INT, AXIS_TUPLE, AXIS_NONE)
# Modes that run only when selected by name (``--mode compiled``): their compile time is large.
OPT_IN_MODES = ("compiled",)


@dataclass(frozen=True)
class Implementation:
    """One implementation under test: (framework, API, op, execution mode).

    ``snippet`` is Python source that, given ``x`` (a NumPy array) and ``axis``
    already defined, computes ``y`` as a NumPy array using only the framework and
    NumPy; the runner wraps it into a standalone repro. ``device`` appears in the
    snippet as the variable ``device`` (a string such as ``"cpu"`` or ``"cuda:0"``).

    ``vjp`` (optional) is the vector-Jacobian product through the framework's
    autodiff: ``vjp(x, g, axis, device)`` returns the gradient of ``sum(g * f(x))``
    with respect to ``x``; ``g`` has ``x``'s shape and dtype (an adapter converts it
    to the output's dtype where the framework returns a wider one: exact). Like
    ``call`` it never judges. ``eager_call`` is set on compiled-mode implementations: the eager
    implementation of the same API, whose output the compiled one must agree with.
    """

    framework: str
    api: str
    op: str
    mode: str
    call: CallFn = field(compare=False, repr=False)
    snippet: str = field(compare=False, repr=False)
    imports: str = field(default="import numpy as np", compare=False, repr=False)
    dtypes: tuple[str, ...] = FLOAT_DTYPE_NAMES
    notes: str = field(default="", compare=False)
    operation: str = field(default="", compare=False)  # what it computes, if not exactly ``op``
    # The backward pass through the framework's autodiff, where it has one; ``vjp_snippet``
    # computes ``gx`` from ``x``, ``g`` (the cotangent), ``axis`` and ``device`` like ``snippet``.
    vjp: VjpFn | None = field(default=None, compare=False, repr=False)
    vjp_snippet: str = field(default="", compare=False, repr=False)
    # Compiled modes: the same API's eager call, for the compiled-vs-eager consistency property.
    eager_call: CallFn | None = field(default=None, compare=False, repr=False)
    eager_snippet: str = field(default="", compare=False, repr=False)
    # The axis forms ``call`` accepts (``ApiSpec.axes``): corpus cases of any other form are not
    # given to it at all (they are not "unsupported": the API has no such argument).
    axes: tuple[str, ...] = field(default=INT_AXIS_ONLY, compare=False)
    # Another API of the same framework, op and mode that this one is expected to compute bit for
    # bit (``torch.softmax`` and ``F.softmax``). A cell whose outputs match that API's on every call
    # it was judged on inherits its verdicts (``conformance.evaluation.aliasing``); any differing
    # bit, and it is judged in full. A declaration, never an assumption: it is checked every run.
    alias_of: str = field(default="", compare=False)

    @property
    def id(self) -> str:
        """Readable id: ``torch-F.softmax-eager``."""
        return f"{self.framework}-{self.api}-{self.mode}"

    @property
    def canonical_id(self) -> str | None:
        """The id of the implementation this one is an alias of (``alias_of``), or None."""
        return f"{self.framework}-{self.alias_of}-{self.mode}" if self.alias_of else None


# Expressions around softmax that compiled modes also run, because a compiler may rewrite them.
# softmax(x / T): the implementation gets x and divides in the input dtype; the oracle is the exact
# softmax of round(x / T) (``TEMPERATURE_CONTRACT``). T = 3 is exact in every dtype (so the divisor
# is the same whatever dtype a framework converts the Python scalar to) and not a power of two, so
# x * (1 / T), the reciprocal a compiler may substitute, rounds twice and differs from x / T for
# about a third of all inputs; at logits of magnitude 100 and more (corpus cases temperature,
# beyond_overflow, wide_non_last_axes: the limit 'temperature rewrite visible' in
# ``conformance.cases.limits`` lists them per dtype and profile) one ULP of x / T moves the output
# by far more than the error model allows.
TEMPERATURE = COMPOSITE_TEMPERATURE
TEMPERATURE_API = "softmax-x-over-T"
RENORMALIZED_API = "softmax-renormalized"
TEMPERATURE_CONTRACT = Contract(temperature=TEMPERATURE)
COMPOSITE_OPERATIONS = {
    TEMPERATURE_API: f"softmax(x / T), T = {TEMPERATURE:g}: judged as the exact softmax of round(x / T)",
    RENORMALIZED_API: "softmax(x) / sum(softmax(x)): a compiler may fold the sum to 1",
}


# How frameworks spell each dtype in their error messages (lower-cased): torch ('Half',
# 'BFloat16', 'Double'), TensorFlow (DT_HALF, attr T=half), JAX/XLA (f16, bf16), ONNX Runtime
# (tensor(float16)), NumPy names.
DTYPE_SPELLINGS = {
    "float16": ("float16", "half", "dt_half", "f16", "fp16"),
    "bfloat16": ("bfloat16", "bf16", "dt_bfloat16"),
    "float32": ("float32", "dt_float", "f32", "fp32", "'float'"),
    "float64": ("float64", "double", "dt_double", "f64", "fp64"),
}
# Phrases with which a framework says it does not implement something (lower-cased).
DECLINE_PHRASES = (
    "not implemented for",
    "not supported",
    "unsupported",
    "could not find an implementation",
    "could not find device for node",
    "not in the list of allowed values",
    "no registered",
    "does not support",
    "no kernel",
    "type error",
    "invalid dtype",
    "not a valid dtype",
    "is not allowed",
)
# Exceptions that say an API or keyword is absent in the installed release.
_ABSENT_API = re.compile(r"has no attribute|no module named|unexpected keyword argument|cannot import name")


def decline_reason(exc: BaseException, dtype: str) -> str | None:
    """Why ``exc`` is the framework declining a call in ``dtype`` (``unsupported``), else None.

    A decline is (1) a ``conformance.errors.Declined`` an adapter raised; (2) an error whose
    message names ``dtype`` (in any framework's spelling) together with a phrase of refusal
    ("not implemented for 'Half'", "Could not find an implementation for Softmax(13) ...
    tensor(float16)"); (3) a missing attribute, module or keyword (an API absent in the
    release). Anything else (a ``ValueError`` from a ``where=`` the release rejects, an XLA
    compile failure) is not a decline: the caller records an ``error``.
    """
    text = f"{type(exc).__name__}: {exc}"
    first = text.splitlines()[0][:300] if text.strip() else type(exc).__name__
    if isinstance(exc, Declined):
        return first
    lower = text.lower()
    spellings = DTYPE_SPELLINGS.get(dtype, (dtype,))
    names_dtype = any(s in lower for s in spellings)
    if names_dtype and (isinstance(exc, TypeError) or any(p in lower for p in DECLINE_PHRASES)):
        return f"{dtype} declined: {first}"
    if isinstance(exc, (AttributeError, ImportError, TypeError)) and _ABSENT_API.search(lower):
        return f"API absent in this release: {first}"
    return None


# ---- the adapter kit ------------------------------------------------------------------------------
# What every adapter shares: the spec of each API it exposes, building its implementations in every
# mode, running snippet source as the implementation, device names, availability with a reason.


@dataclass(frozen=True)
class ApiSpec:
    """One API an adapter exposes: its name, the op it computes, and how, as source.

    ``source`` is what the repro snippet runs, and the adapter runs the very same text: for a
    framework with its own arrays an *expression* of ``t`` (the input as the framework's array)
    and ``axis`` (``torch.softmax(t, dim=axis)``), which the adapter binds with ``bind``; for a
    NumPy-in, NumPy-out adapter (``SourceAdapter``) *statements* computing ``y`` from ``x`` and
    ``axis``, and ``vjp_source`` computing ``gx`` from ``x``, ``g`` and ``axis``. ``modes``: the
    execution modes it runs in (the first of them need not be ``eager``: a compiled-only
    expression still carries its eager counterpart). ``operation``: what it computes where that is
    not exactly ``op``; ``notes``: added to the adapter's notes for the mode. ``contract``: the
    API's documented contract where it is not exactly ``op`` in the input dtype (an L1
    normalization's eps, an output dtype, a temperature: ``reference.contracts``); the
    implementation's ``op`` carries it to the oracle. ``dtypes``: the input dtypes it runs in.
    ``axes``: the axis forms its documented signature accepts (``INT_AXIS_ONLY``, the default, or
    ``JOINT_AXES``: also a tuple of axes and None; or a subset such as int and tuple); only those
    forms' corpus cases (and joint gradient block) are given to it. For NumPy, SciPy and JAX the
    declaration is checked against the installed release (``tests/adapters/test_joint_axes.py``).
    ``alias_of``: another spec's ``api`` (same op, listed before this one) that this API is
    expected to match bit for bit in every mode both run in (``Implementation.alias_of``).
    """

    api: str
    op: str
    source: str
    modes: tuple[str, ...] = ("eager",)
    operation: str = ""
    notes: str = ""
    vjp_source: str = ""
    contract: Contract | None = None
    dtypes: tuple[str, ...] = FLOAT_DTYPE_NAMES
    axes: tuple[str, ...] = INT_AXIS_ONLY
    alias_of: str = ""


def composite_specs(
    softmax: str,
    total: str,
    modes: tuple[str, ...],
    axes: tuple[str, ...] = INT_AXIS_ONLY,
    temperature_modes: tuple[str, ...] | None = None,
) -> tuple[ApiSpec, ApiSpec]:
    """The two expressions around softmax that compiled modes also run (``COMPOSITE_OPERATIONS``).

    ``softmax`` and ``total`` are the framework's softmax along ``axis`` and its sum along ``axis``
    keeping the dimension, each with ``{}`` where the argument goes
    (``"tf.nn.softmax({}, axis=axis)"``, ``"tf.reduce_sum({}, axis=axis, keepdims=True)"``);
    ``axes``: the axis forms both accept (``ApiSpec.axes``). ``temperature_modes``: the modes of
    ``softmax(x / T)`` where they are not ``modes`` (eager too, where the eager expression is judged
    in its own right: JAX's eager ``t / 3.0`` is not a correctly rounded division).
    """
    scaled = softmax.format(f"t / {TEMPERATURE!r}")
    renormalized = f"(lambda s: s / {total.format('s')})({softmax.format('t')})"
    return (
        ApiSpec(
            TEMPERATURE_API,
            "softmax",
            scaled,
            temperature_modes or modes,
            COMPOSITE_OPERATIONS[TEMPERATURE_API],
            contract=TEMPERATURE_CONTRACT,
            axes=axes,
        ),
        ApiSpec(
            RENORMALIZED_API,
            "softmax",
            renormalized,
            modes,
            COMPOSITE_OPERATIONS[RENORMALIZED_API],
            axes=axes,
        ),
    )


def bind(expression: str, namespace: dict[str, Any], params: str = "t, axis") -> Callable[..., Any]:
    """``expression`` (an ``ApiSpec.source``) as a function of ``params``, its names from ``namespace``."""
    return eval(f"lambda {params}: {expression}", namespace)  # the adapter's own source


@cache
def _code(source: str) -> CodeType:
    return compile(source, "<adapter snippet>", "exec")


def run_source(source: str, namespace: dict[str, Any], **names: Any) -> dict[str, Any]:
    """Run the statements ``source`` (a snippet's) in a copy of ``namespace`` with ``names`` added;
    the namespace afterwards (the result is whatever the source assigned, e.g. ``y``)."""
    scope = {**namespace, **names}
    exec(_code(source), scope)  # the adapter's own source: a repro runs the same
    return scope


def import_namespace(imports: str) -> dict[str, Any]:
    """The names a snippet's ``imports`` define (run once per adapter, after the framework loaded)."""
    return run_source(imports, {})


def parse_device(framework: str, device: str, gpus: int) -> int | None:
    """None for ``"cpu"``, N for ``"cuda:N"`` with ``N < gpus``; ValueError naming the valid ones.

    Checked here rather than left to the framework: TensorFlow would place work for a missing
    GPU on the CPU silently (soft placement).
    """
    if device == "cpu":
        return None
    kind, _, index = device.partition(":")
    if kind != "cuda" or not index.isdigit() or int(index) >= gpus:
        valid = ["cpu", *(f"cuda:{i}" for i in range(gpus))]
        raise ValueError(f"unknown {framework} device {device!r}; valid: {', '.join(valid)}")
    return int(index)


# A framework record's status when the adapter cannot run (``Availability.status``); the run exits
# ``EXIT_BROKEN`` for the unusable ones and ``tox_run`` fails the environment.
AVAILABLE = "ok"
NOT_INSTALLED = "not installed"
IMPORT_FAILED = "import failed"
VERSION_TOO_OLD = "version too old"
UNUSABLE_STATUSES = (IMPORT_FAILED, VERSION_TOO_OLD)


@dataclass(frozen=True)
class Availability:
    """Whether an adapter can run in this process, and why not: ``status`` (``AVAILABLE``,
    ``NOT_INSTALLED``, ``IMPORT_FAILED``, ``VERSION_TOO_OLD``), ``reason`` (one line: the import
    error's type and message, the version found and the one needed), ``version`` when loaded."""

    status: str
    reason: str = ""
    version: str | None = None
    import_seconds: float | None = None  # how long ``load`` (the framework's import) took

    @property
    def ok(self) -> bool:
        return self.status == AVAILABLE


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")[:500]


def release_tuple(version: str) -> tuple[int, ...]:
    """The leading numeric release of a version string (``"2.13.0+cpu"`` -> (2, 13, 0))."""
    parts = []
    for piece in version.split("."):
        digits = re.match(r"\d+", piece)
        if not digits:
            break
        parts.append(int(digits.group()))
        if digits.group() != piece:
            break
    return tuple(parts)


class FrameworkAdapter:
    """Base class of every adapter (the contract, and the kit).

    Set ``name``, ``module`` (imported to use the framework: its presence means "installed"),
    ``requires`` (further modules that must be installed), ``distribution``, ``min_version``
    (older releases are ``VERSION_TOO_OLD``), ``imports`` (the snippets' imports) and ``specs``
    (one ``ApiSpec`` per API), and implement ``make_call`` and ``snippet`` (and ``make_vjp``,
    ``vjp_snippet`` where the framework has autodiff); ``implementations()`` then builds every
    (API, mode). Override ``load`` to set the framework up as it is imported, ``gpu_count`` for
    GPUs, ``device_details`` for the run's envelope. An adapter that builds its implementations
    some other way overrides ``implementations()`` instead.
    """

    name: str = ""
    module: str = ""
    requires: tuple[str, ...] = ()
    distribution: str = ""
    min_version: str = ""
    compiled_modes: tuple[str, ...] = ()
    imports: str = "import numpy as np"
    specs: tuple[ApiSpec, ...] = ()
    mode_notes: dict[str, str] = {}  # noqa: RUF012 (read-only: notes per mode)

    # ---- availability --------------------------------------------------------------------------

    def installed(self) -> bool:
        """True when ``module`` and ``requires`` can all be found, without importing them."""
        try:
            return all(importlib.util.find_spec(m) is not None for m in (self.module, *self.requires))
        except (ImportError, ValueError):
            return False

    def load(self) -> Any:
        """Import the framework (and set it up); what raises here makes the adapter unavailable."""
        return importlib.import_module(self.module)

    def availability(self) -> Availability:
        """Installed, imported and recent enough, or why not; found once per process, never raises."""
        found = self.__dict__.get("_availability")
        if found is None:
            found = self.__dict__["_availability"] = self._find_availability()
        return found

    def _find_availability(self) -> Availability:
        if not self.installed():
            return Availability(NOT_INSTALLED, f"{self.name} is not installed")
        start = time.perf_counter()
        try:
            lib = self.load()
        except Exception as exc:  # whatever a broken install raises: the reason is recorded
            return Availability(IMPORT_FAILED, _first_line(exc))
        seconds = round(time.perf_counter() - start, 4)
        version = str(getattr(lib, "__version__", "unknown"))
        if self.min_version and release_tuple(version) < release_tuple(self.min_version):
            return Availability(
                VERSION_TOO_OLD, f"{self.module} {version} found, {self.min_version} or newer needed"
            )
        return Availability(AVAILABLE, version=version, import_seconds=seconds)

    def available(self) -> bool:
        """True when the framework imports (and is recent enough); never raises."""
        return self.availability().ok

    @property
    def unavailable_reason(self) -> str | None:
        """Why ``available()`` is False (one line), None when it is True."""
        state = self.availability()
        return None if state.ok else state.reason

    def version(self) -> str | None:
        """The framework's version string, or None when it is not available."""
        return self.availability().version

    # ---- devices -------------------------------------------------------------------------------

    def gpu_count(self) -> int:
        """How many CUDA devices the framework sees (0 unless overridden)."""
        return 0

    def devices(self) -> list[str]:
        """Device names this framework sees, ``"cpu"`` first (``"cuda:0"``, ... when present)."""
        return ["cpu", *(f"cuda:{i}" for i in range(self.gpu_count()))]

    def device_index(self, device: str) -> int | None:
        """``parse_device`` for this framework: None for the CPU, the GPU's index otherwise."""
        return parse_device(self.name, device, 0 if device == "cpu" else self.gpu_count())

    def device_details(self) -> dict[str, object]:
        """Facts for the run's envelope: GPU models, CUDA/cuDNN versions, precision flags."""
        return {}

    def compile_counts(self) -> dict[str, float] | None:
        """What the framework itself reports of its compilations so far in this process (cumulative
        counts and seconds, names of the adapter's choosing), or None where it exposes nothing.
        The session records the difference over each cell (``timing.framework_compiles``)."""
        return None

    # ---- implementations -----------------------------------------------------------------------

    def implementations(self) -> Sequence[Implementation]:
        """Every implementation of every spec in each of its modes; a compiled one carries the eager
        call and snippet of the same API (for the compiled-vs-eager property)."""
        impls = []
        for spec in self.specs:
            eager = self.make_call(spec, "eager")
            for mode in spec.modes:
                impls.append(
                    Implementation(
                        framework=self.name,
                        api=spec.api,
                        op=with_contract(spec.op, spec.contract),
                        mode=mode,
                        call=eager if mode == "eager" else self.make_call(spec, mode),
                        snippet=self.snippet(spec, mode),
                        imports=self.imports_for(spec),
                        notes="; ".join(n for n in (self.mode_notes.get(mode, ""), spec.notes) if n),
                        operation=spec.operation,
                        dtypes=spec.dtypes,
                        vjp=self.make_vjp(spec, mode),
                        vjp_snippet=self.vjp_snippet(spec, mode),
                        eager_call=eager if mode != "eager" else None,
                        eager_snippet=self.snippet(spec, "eager") if mode != "eager" else "",
                        axes=spec.axes,
                        alias_of=spec.alias_of,
                    )
                )
        return impls

    def imports_for(self, spec: ApiSpec) -> str:
        """The imports ``spec``'s snippets need (``imports`` unless overridden)."""
        return self.imports

    def make_call(self, spec: ApiSpec, mode: str) -> CallFn:
        """``call(x, axis, device)`` of ``spec`` in ``mode`` (imports nothing until called)."""
        raise NotImplementedError

    def make_vjp(self, spec: ApiSpec, mode: str) -> VjpFn | None:
        """The backward pass of ``spec`` in ``mode``, None where the framework has no autodiff."""
        return None

    def snippet(self, spec: ApiSpec, mode: str) -> str:
        """Source computing ``y`` from ``x``, ``axis`` and ``device`` as ``make_call`` does."""
        raise NotImplementedError

    def vjp_snippet(self, spec: ApiSpec, mode: str) -> str:
        """Source computing ``gx`` from ``x``, ``g``, ``axis`` and ``device`` as ``make_vjp`` does."""
        return ""


class SourceAdapter(FrameworkAdapter):
    """An adapter whose APIs take and return NumPy arrays on the CPU (NumPy, SciPy, a NumPy library).

    Each spec's ``source`` is statements computing ``y`` from ``x`` and ``axis`` (``vjp_source``:
    ``gx`` from ``x``, ``g`` and ``axis``), run in the namespace of ``imports``: the snippet is the
    implementation, word for word.
    """

    def _namespace(self) -> dict[str, Any]:
        found = self.__dict__.get("_ns")
        if found is None:
            self.load()
            found = self.__dict__["_ns"] = import_namespace(self.imports)
        return found

    def make_call(self, spec: ApiSpec, mode: str) -> CallFn:
        def call(x: np.ndarray, axis: Axis, device: str) -> np.ndarray:
            self.device_index(device)
            return np.asarray(run_source(spec.source, self._namespace(), x=x, axis=axis)["y"])

        return call

    def make_vjp(self, spec: ApiSpec, mode: str) -> VjpFn | None:
        if not spec.vjp_source:
            return None

        def vjp(x: np.ndarray, g: np.ndarray, axis: Axis, device: str) -> np.ndarray:
            self.device_index(device)
            return np.asarray(run_source(spec.vjp_source, self._namespace(), x=x, g=g, axis=axis)["gx"])

        return vjp

    def snippet(self, spec: ApiSpec, mode: str) -> str:
        return spec.source

    def vjp_snippet(self, spec: ApiSpec, mode: str) -> str:
        return spec.vjp_source
