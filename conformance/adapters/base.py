"""What an adapter is: the contract between the suite and one framework.

An adapter module (one per framework) exposes a module-level ``ADAPTER``, an
instance of a ``FrameworkAdapter`` subclass. It must not import its framework at
module import time: ``available()`` tries the import and the suite reports "not
installed" when it fails.

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
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from conformance.errors import Declined
from reference.dtypes import FLOAT_DTYPE_NAMES

OPS = ("softmax", "log_softmax", "sum_normalize")
MODES = ("eager", "jit", "xla", "compiled")

# call(x, axis, device) -> np.ndarray
CallFn = Callable[[np.ndarray, int, str], np.ndarray]
# vjp(x, cotangent, axis, device) -> the gradient with respect to x, as a NumPy array of x's dtype
VjpFn = Callable[[np.ndarray, np.ndarray, int, str], np.ndarray]
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

    @property
    def id(self) -> str:
        """Readable id: ``torch-F.softmax-eager``."""
        return f"{self.framework}-{self.api}-{self.mode}"


# Expressions around softmax that compiled modes also run, because a compiler may rewrite them.
# softmax(x / T) gets x pre-scaled by T in NumPy: T = 0.5 makes x * T exact (halving loses at most a
# subnormal's last bit, which exp cannot see), so its exact result is softmax(x).
TEMPERATURE = 0.5
TEMPERATURE_API = "softmax-x-over-T"
RENORMALIZED_API = "softmax-renormalized"
COMPOSITE_OPERATIONS = {
    TEMPERATURE_API: f"softmax(x' / T), x' = x * T computed exactly beforehand, T = {TEMPERATURE}",
    RENORMALIZED_API: "softmax(x) / sum(softmax(x)): a compiler may fold the sum to 1",
}


def prescale(api: str, x: np.ndarray) -> np.ndarray:
    """``x * T`` (exact) for the softmax-of-x-over-T implementations, ``x`` unchanged otherwise."""
    if api != TEMPERATURE_API or x.dtype.kind in "iub":
        return x
    return (x.astype(np.float64) * TEMPERATURE).astype(x.dtype)


def prescale_source(api: str) -> str:
    """``prescale`` as snippet source (a line, or nothing)."""
    if api != TEMPERATURE_API:
        return ""
    return f"x = (x.astype(np.float64) * {TEMPERATURE!r}).astype(x.dtype)  # exact pre-scaling by T\n"


def prescale_gradient(api: str, gx):
    """The chain rule of ``prescale`` for a gradient (any framework's tensor): the gradient of
    ``f(x T)`` is ``T f'(x T)``, so it is multiplied by T; other APIs' gradients are unchanged."""
    return gx * TEMPERATURE if api == TEMPERATURE_API else gx


def prescale_gradient_source(api: str) -> str:
    """``prescale_gradient`` as snippet source: a factor after the gradient's expression, or nothing."""
    return f" * {TEMPERATURE!r}" if api == TEMPERATURE_API else ""


def implementations_in_modes(
    *,
    framework: str,
    api: str,
    op: str,
    modes: Sequence[str],
    make_call: Callable[[str], CallFn],
    make_vjp: Callable[[str], VjpFn],
    snippet: Callable[[str], str],
    vjp_snippet: Callable[[str], str],
    imports: str,
    operation: str = "",
    notes: Callable[[str], str] = lambda mode: "",
) -> list[Implementation]:
    """One API's implementations in ``modes``; each compiled one carries the eager call and snippet."""
    eager = make_call("eager")
    return [
        Implementation(
            framework=framework,
            api=api,
            op=op,
            mode=mode,
            call=eager if mode == "eager" else make_call(mode),
            snippet=snippet(mode),
            imports=imports,
            operation=operation,
            notes=notes(mode),
            vjp=make_vjp(mode),
            vjp_snippet=vjp_snippet(mode),
            eager_call=eager if mode != "eager" else None,
            eager_snippet=snippet("eager") if mode != "eager" else "",
        )
        for mode in modes
    ]


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


class FrameworkAdapter:
    """Base class: subclass, set ``name``/``module``, and implement the hooks."""

    name: str = ""
    module: str = ""  # importable module whose presence means "installed"
    distribution: str = ""  # pip distribution name, for version lookups
    compiled_modes: tuple[str, ...] = ()

    def installed(self) -> bool:
        """True when the framework's module can be found, without importing it."""
        import importlib.util

        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):
            return False

    def available(self) -> bool:
        """True when the framework imports; never raises."""
        try:
            importlib.import_module(self.module)
        except Exception:
            return False
        return True

    def version(self) -> str | None:
        """The framework's version string, or None when not installed."""
        if not self.available():
            return None
        return str(getattr(importlib.import_module(self.module), "__version__", "unknown"))

    def devices(self) -> list[str]:
        """Device names this framework sees, ``"cpu"`` first (``"cuda:0"``, ... when present)."""
        return ["cpu"]

    def device_details(self) -> dict[str, object]:
        """Facts for the run's envelope: GPU models, CUDA/cuDNN versions, precision flags."""
        return {}

    def implementations(self) -> Sequence[Implementation]:
        """Every implementation this adapter offers (eager and compiled modes)."""
        raise NotImplementedError
