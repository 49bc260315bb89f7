"""PyTorch as a framework under test: eager mode, and ``torch.compile`` as the opt-in mode ``compiled``.

torch is imported lazily, on the first call: importing this module costs nothing.
Every implementation has a backward pass (``torch.autograd.grad`` with the
cotangent as ``grad_outputs``), judged by the gradient properties.

``compiled`` runs ``torch.compile`` (Inductor; on the CPU it needs a C++ compiler)
on the same expressions, plus two expressions around softmax that a compiler may
rewrite: a softmax of ``x / T`` and a softmax renormalized by its own sum. It is
opt-in (``--mode compiled``): the first compilation takes tens of seconds and each
new dtype or rank a few more. ``torch.compile``'s default recompilation limit (8)
would make it fall back to eager mode silently after 8 variants of one function;
the limit is raised to ``RECOMPILE_LIMIT`` and recorded in ``device_details``,
and dynamic shapes are left at their default ("automatic": a second shape of the
same rank compiles a shape-generic kernel).

The calls run the snippets' own source (the ``ApiSpec`` expressions and the conversions
below), so a repro computes exactly what ran. Conversions are exact. NumPy has no native
bfloat16 and torch does not know ml_dtypes' bfloat16, so a bfloat16 array crosses as its
bit pattern (int16 view) both ways. The array is shared with ``torch.from_numpy``
(strides kept, so a transposed view reaches torch as a non-contiguous tensor) except
when it has a negative stride (``from_numpy`` rejects those) or is read-only (torch does
not support non-writable tensors and warns): then a C-contiguous copy is passed.
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np

from conformance.adapters.base import (
    ApiSpec,
    CallFn,
    FrameworkAdapter,
    VjpFn,
    bind,
    composite_specs,
    import_namespace,
    run_source,
)
from reference.contracts import L1_NORMALIZE, Contract

_IMPORTS = "import ml_dtypes\nimport numpy as np\nimport torch"
# The conversions, run as they are written (``_to_torch``, ``_to_numpy``) and in every snippet.
_TO_TORCH = """\
a = x if x.flags.writeable and all(s >= 0 for s in x.strides) else x.copy()
if a.dtype == ml_dtypes.bfloat16:
    t = torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
else:
    t = torch.from_numpy(a)
t = t.to(device)
"""
_TO_NUMPY = """\
out = out.detach().cpu()
if out.dtype == torch.bfloat16:
    y = out.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
else:
    y = out.numpy()"""
RECOMPILE_LIMIT = 256
_BOTH = ("eager", "compiled")
# ``dtype=torch.float32``: the output is float32 whatever the input (judged in float32 ULPs); run on
# the half types it is meant for, and on float32, where it is the plain call.
_FLOAT32_OUT = Contract(output_dtype="float32")
_UPCAST_DTYPES = ("float16", "bfloat16", "float32")


@cache
def _torch() -> ModuleType:
    import torch

    return torch


@cache
def _ns() -> dict[str, Any]:
    _torch()
    return import_namespace(_IMPORTS)


def _to_torch(x: np.ndarray, device: str) -> Any:
    return run_source(_TO_TORCH, _ns(), x=x, device=device)["t"]


def _to_numpy(out: Any) -> np.ndarray:
    return run_source(_TO_NUMPY, _ns(), out=out)["y"]


def probe(obj: Any, name: str) -> Any:
    """``getattr(obj, name, None)`` that also survives torch's ``AssertionError`` for an unknown name.

    torch < 2.1's ``torch.backends.cuda.matmul`` answers an attribute it does not know (such as
    ``fp32_precision``, added in 2.9) with ``AssertionError("Unknown attribute ...")`` instead of
    ``AttributeError``, so a plain ``getattr`` with a default raises on those releases.
    """
    try:
        return getattr(obj, name, None)
    except (AttributeError, AssertionError):
        return None


def _dynamo(torch: ModuleType) -> ModuleType | None:
    """``torch._dynamo`` (imported here: torch < 2.1 does not import it with ``torch``), else None."""
    found = getattr(torch, "_dynamo", None)
    if found is not None:
        return found
    try:
        return importlib.import_module(f"{torch.__name__}._dynamo")
    except ImportError:
        return None


def _compile_settings(torch: ModuleType) -> dict[str, object]:
    """torch.compile's recompilation limit (raised to ``RECOMPILE_LIMIT``) and dynamic-shape setting.

    A release without ``torch._dynamo`` (no ``torch.compile``) says so instead; its ``compiled``
    cells are then ``unsupported`` (``torch.compile`` is absent: an ``AttributeError``).
    """
    dynamo = _dynamo(torch)
    if dynamo is None:
        return {"available": False, "reason": f"torch {torch.__version__} has no torch._dynamo"}
    config = dynamo.config
    for name in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit"):
        if hasattr(config, name) and getattr(config, name) < RECOMPILE_LIMIT:
            setattr(config, name, RECOMPILE_LIMIT)
    return {
        "recompile_limit": getattr(config, "recompile_limit", getattr(config, "cache_size_limit", None)),
        "automatic_dynamic_shapes": getattr(config, "automatic_dynamic_shapes", None),
    }


def _function(spec: ApiSpec, mode: str, compiled: dict[int, Any]) -> Any:
    """``f(t, axis)`` of ``spec``, compiled once per axis (``torch.compile``) in ``compiled`` mode."""
    f = bind(spec.source, _ns())
    if mode == "eager":
        return f
    if not compiled:
        _compile_settings(_torch())

    def run(t: Any, axis: int) -> Any:
        if axis not in compiled:
            compiled[axis] = _torch().compile(lambda u: f(u, axis))
        return compiled[axis](t)

    return run


def _prelude(spec: ApiSpec, mode: str) -> str:
    """Snippet source: x as the tensor t, and f (compiled or not)."""
    compile_ = "f = torch.compile(f)\n" if mode == "compiled" else ""
    return f"{_TO_TORCH}def f(t):\n    return {spec.source}\n{compile_}"


def _gpu_details(torch: ModuleType, cuda: bool) -> dict[str, object]:
    """Reduced-precision and determinism settings, and per GPU its compute capability; the driver."""
    from conformance.environment import nvidia_driver_version

    matmul = torch.backends.cuda.matmul
    get_precision = probe(torch, "get_float32_matmul_precision")
    return {
        "float32_matmul_precision": get_precision() if callable(get_precision) else None,
        "matmul_fp32_precision": probe(matmul, "fp32_precision"),
        **{
            f"matmul_allow_{kind}_reduced_precision_reduction": probe(
                matmul, f"allow_{kind}_reduced_precision_reduction"
            )
            for kind in ("fp16", "bf16")
        },
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "compute_capability": [
            "{}.{}".format(*torch.cuda.get_device_capability(i)) for i in range(torch.cuda.device_count())
        ]
        if cuda
        else [],
        "driver": nvidia_driver_version() if cuda else None,
    }


class TorchAdapter(FrameworkAdapter):
    name = module = distribution = "torch"
    imports = _IMPORTS
    mode_notes = {"compiled": "torch.compile (Inductor), opt-in"}  # noqa: RUF012
    # torch.compile runs the functional forms and the composites; the module wrappers would repeat them.
    specs = (
        ApiSpec("F.softmax", "softmax", "torch.nn.functional.softmax(t, dim=axis)", _BOTH),
        ApiSpec("torch.softmax", "softmax", "torch.softmax(t, dim=axis)", alias_of="F.softmax"),
        ApiSpec("nn.Softmax", "softmax", "torch.nn.Softmax(dim=axis)(t)", alias_of="F.softmax"),
        ApiSpec("Tensor.softmax", "softmax", "t.softmax(dim=axis)", alias_of="F.softmax"),
        ApiSpec("F.log_softmax", "log_softmax", "torch.nn.functional.log_softmax(t, dim=axis)", _BOTH),
        ApiSpec(
            "torch.log_softmax", "log_softmax", "torch.log_softmax(t, dim=axis)", alias_of="F.log_softmax"
        ),
        ApiSpec("x/sum", "sum_normalize", "t / t.sum(dim=axis, keepdim=True)", _BOTH),
        ApiSpec(
            "F.normalize-p1",
            "sum_normalize",
            "torch.nn.functional.normalize(t, p=1, dim=axis)",
            operation="L1 normalization x / max(sum(|x|), eps=1e-12)",
            contract=Contract(L1_NORMALIZE, eps=1e-12),
        ),
        # Mixed precision: a half-precision input upcast exactly, computed and returned in float32.
        ApiSpec(
            "F.softmax-dtype-float32",
            "softmax",
            "torch.nn.functional.softmax(t, dim=axis, dtype=torch.float32)",
            operation="softmax of the input upcast to float32, returned as float32",
            contract=_FLOAT32_OUT,
            dtypes=_UPCAST_DTYPES,
        ),
        ApiSpec(
            "F.log_softmax-dtype-float32",
            "log_softmax",
            "torch.nn.functional.log_softmax(t, dim=axis, dtype=torch.float32)",
            operation="log-softmax of the input upcast to float32, returned as float32",
            contract=_FLOAT32_OUT,
            dtypes=_UPCAST_DTYPES,
        ),
        *composite_specs(
            "torch.nn.functional.softmax({}, dim=axis)", "{}.sum(dim=axis, keepdim=True)", ("compiled",)
        ),
    )

    def compile_counts(self) -> dict[str, float] | None:
        """torch.compile's work so far in this process (``torch._dynamo.utils.counters``): ``traces``,
        the graphs Dynamo captured and handed to the backend to compile (one per new input shape
        until it marks a dimension dynamic), and ``frames``, the Python frames it compiled; None
        before anything was compiled (``torch._dynamo`` is imported by the ``compiled`` mode only)."""
        import sys

        utils = sys.modules.get(f"{_torch().__name__}._dynamo.utils")
        counters = getattr(utils, "counters", None)
        if not counters or not counters["frames"]["total"]:
            return None
        return {"traces": int(counters["stats"]["unique_graphs"]), "frames": int(counters["frames"]["ok"])}

    def gpu_count(self) -> int:
        torch = _torch()
        return torch.cuda.device_count() if torch.cuda.is_available() else 0

    def device_details(self) -> dict[str, object]:
        torch = _torch()
        cuda = torch.cuda.is_available()
        return {
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            # PyPI's default torch wheel is a CUDA build (it runs on the CPU too); the CPU-only one
            # comes from https://download.pytorch.org/whl/cpu (or a local wheel): say which ran.
            "build": "CPU-only" if torch.version.cuda is None else f"CUDA {torch.version.cuda}",
            "cudnn": torch.backends.cudnn.version() if cuda else None,
            "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "num_threads": torch.get_num_threads(),
            "torch_compile": _compile_settings(torch),
            **_gpu_details(torch, cuda),
        }

    def make_call(self, spec: ApiSpec, mode: str) -> CallFn:
        compiled: dict[int, Any] = {}

        def call(x: np.ndarray, axis: int, device: str) -> np.ndarray:
            f = _function(spec, mode, compiled)
            with _torch().no_grad():
                return _to_numpy(f(_to_torch(x, device), axis))

        return call

    def make_vjp(self, spec: ApiSpec, mode: str) -> VjpFn:
        compiled: dict[int, Any] = {}

        def vjp(x: np.ndarray, g: np.ndarray, axis: int, device: str) -> np.ndarray:
            f = _function(spec, mode, compiled)
            t = _to_torch(x, device).detach().clone().requires_grad_(True)
            out = f(t, axis)
            (gx,) = _torch().autograd.grad(out, t, grad_outputs=_to_torch(g, device).to(out.dtype))
            return _to_numpy(gx)

        return vjp

    def snippet(self, spec: ApiSpec, mode: str) -> str:
        return f"{_prelude(spec, mode)}with torch.no_grad():\n    out = f(t)\n{_TO_NUMPY}"

    def vjp_snippet(self, spec: ApiSpec, mode: str) -> str:
        g_to_torch = re.sub(r"\bt\b", "tg", re.sub(r"\bx\b", "g", _TO_TORCH))  # the same conversion for g
        return (
            f"{_prelude(spec, mode)}tx = t.detach().clone().requires_grad_(True)\n{g_to_torch}"
            "ty = f(tx)\n(out,) = torch.autograd.grad(ty, tx, grad_outputs=tg.to(ty.dtype))\n"
            f"{_TO_NUMPY}\ngx = y"
        )


ADAPTER = TorchAdapter()
