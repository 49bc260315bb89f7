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

Conversions are exact. NumPy has no native bfloat16 and torch does not know
ml_dtypes' bfloat16, so a bfloat16 array crosses as its bit pattern (int16 view)
both ways. The array is shared with ``torch.from_numpy`` (strides kept, so a
transposed view reaches torch as a non-contiguous tensor) except when it has a
negative stride (``from_numpy`` rejects those) or is read-only (torch does not
support non-writable tensors and warns): then a C-contiguous copy is passed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cache
from types import ModuleType
from typing import Any

import ml_dtypes
import numpy as np

from conformance.adapters.base import (
    COMPOSITE_OPERATIONS,
    RENORMALIZED_API,
    TEMPERATURE,
    TEMPERATURE_API,
    FrameworkAdapter,
    Implementation,
    implementations_in_modes,
    prescale,
    prescale_gradient,
    prescale_gradient_source,
    prescale_source,
)

_IMPORTS = "import ml_dtypes\nimport numpy as np\nimport torch"

# The snippet's conversions, line for line the same as _to_torch/_to_numpy below.
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


@cache
def _torch() -> ModuleType:
    import torch

    return torch


def _compile_settings(torch: ModuleType) -> dict[str, object]:
    config = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit"):
        if hasattr(config, name) and getattr(config, name) < RECOMPILE_LIMIT:
            setattr(config, name, RECOMPILE_LIMIT)
    return {
        "recompile_limit": getattr(config, "recompile_limit", getattr(config, "cache_size_limit", None)),
        "automatic_dynamic_shapes": getattr(config, "automatic_dynamic_shapes", None),
    }


def _to_torch(x: np.ndarray, device: str) -> Any:
    torch = _torch()
    a = x if x.flags.writeable and all(s >= 0 for s in x.strides) else x.copy()
    if a.dtype == ml_dtypes.bfloat16:
        t = torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    else:
        t = torch.from_numpy(a)
    return t.to(device)


def _to_numpy(out: Any) -> np.ndarray:
    torch = _torch()
    out = out.detach().cpu()
    if out.dtype == torch.bfloat16:
        return out.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return out.numpy()


# (api, op, fn(torch, t, axis), the same expression as source, operation)
_SPECS: tuple[tuple[str, str, Callable[[Any, Any, int], Any], str, str], ...] = (
    (
        "F.softmax",
        "softmax",
        lambda torch, t, axis: torch.nn.functional.softmax(t, dim=axis),
        "torch.nn.functional.softmax(t, dim=axis)",
        "",
    ),
    (
        "torch.softmax",
        "softmax",
        lambda torch, t, axis: torch.softmax(t, dim=axis),
        "torch.softmax(t, dim=axis)",
        "",
    ),
    (
        "nn.Softmax",
        "softmax",
        lambda torch, t, axis: torch.nn.Softmax(dim=axis)(t),
        "torch.nn.Softmax(dim=axis)(t)",
        "",
    ),
    ("Tensor.softmax", "softmax", lambda torch, t, axis: t.softmax(dim=axis), "t.softmax(dim=axis)", ""),
    (
        "F.log_softmax",
        "log_softmax",
        lambda torch, t, axis: torch.nn.functional.log_softmax(t, dim=axis),
        "torch.nn.functional.log_softmax(t, dim=axis)",
        "",
    ),
    (
        "torch.log_softmax",
        "log_softmax",
        lambda torch, t, axis: torch.log_softmax(t, dim=axis),
        "torch.log_softmax(t, dim=axis)",
        "",
    ),
    (
        "x/sum",
        "sum_normalize",
        lambda torch, t, axis: t / t.sum(dim=axis, keepdim=True),
        "t / t.sum(dim=axis, keepdim=True)",
        "",
    ),
    (
        "F.normalize-p1",
        "sum_normalize",
        lambda torch, t, axis: torch.nn.functional.normalize(t, p=1, dim=axis),
        "torch.nn.functional.normalize(t, p=1, dim=axis)",
        "L1 normalization x / max(sum(|x|), eps=1e-12)",
    ),
)


_COMPOSITES: tuple[tuple[str, str, Callable[[Any, Any, int], Any], str, str], ...] = (
    (
        TEMPERATURE_API,
        "softmax",
        lambda torch, t, axis: torch.nn.functional.softmax(t / TEMPERATURE, dim=axis),
        f"torch.nn.functional.softmax(t / {TEMPERATURE!r}, dim=axis)",
        COMPOSITE_OPERATIONS[TEMPERATURE_API],
    ),
    (
        RENORMALIZED_API,
        "softmax",
        lambda torch, t, axis: (lambda s: s / s.sum(dim=axis, keepdim=True))(
            torch.nn.functional.softmax(t, dim=axis)
        ),
        "(lambda s: s / s.sum(dim=axis, keepdim=True))(torch.nn.functional.softmax(t, dim=axis))",
        COMPOSITE_OPERATIONS[RENORMALIZED_API],
    ),
)
# The APIs that also run under torch.compile (the module wrappers would only repeat F.softmax).
_COMPILED_APIS = ("F.softmax", "F.log_softmax", "x/sum", TEMPERATURE_API, RENORMALIZED_API)


def _function(fn: Callable[[Any, Any, int], Any], mode: str, cache: dict) -> Callable[[Any, int], Any]:
    """``fn`` bound to torch, compiled once per axis in ``compiled`` mode."""
    torch = _torch()
    if mode == "eager":
        return lambda t, axis: fn(torch, t, axis)
    if not cache:
        _compile_settings(torch)
    return lambda t, axis: cache.setdefault(axis, torch.compile(lambda u: fn(torch, u, axis)))(t)


def _make_call(
    fn: Callable[[Any, Any, int], Any], api: str, mode: str
) -> Callable[[np.ndarray, int, str], np.ndarray]:
    cache: dict[int, Any] = {}

    def call(x: np.ndarray, axis: int, device: str) -> np.ndarray:
        f = _function(fn, mode, cache)
        with _torch().no_grad():
            return _to_numpy(f(_to_torch(prescale(api, x), device), axis))

    return call


def _make_vjp(fn: Callable[[Any, Any, int], Any], api: str, mode: str) -> Callable[..., np.ndarray]:
    cache: dict[int, Any] = {}

    def vjp(x: np.ndarray, g: np.ndarray, axis: int, device: str) -> np.ndarray:
        torch = _torch()
        f = _function(fn, mode, cache)
        t = _to_torch(prescale(api, x), device).detach().clone().requires_grad_(True)
        out = f(t, axis)
        (gx,) = torch.autograd.grad(out, t, grad_outputs=_to_torch(g, device).to(out.dtype))
        return _to_numpy(prescale_gradient(api, gx))

    return vjp


def _prelude(api: str, mode: str, expr: str) -> str:
    """Snippet source: the exact pre-scaling (softmax(x/T)), x as the tensor t, and f (compiled or not)."""
    compile_ = "f = torch.compile(f)\n" if mode == "compiled" else ""
    return f"{prescale_source(api)}{_TO_TORCH}def f(t):\n    return {expr}\n{compile_}"


def _snippet(api: str, expr: str, mode: str) -> str:
    return f"{_prelude(api, mode, expr)}with torch.no_grad():\n    out = f(t)\n{_TO_NUMPY}"


def _vjp_snippet(api: str, expr: str, mode: str) -> str:
    scale = prescale_gradient_source(api)
    g_to_torch = re.sub(r"\bt\b", "tg", re.sub(r"\bx\b", "g", _TO_TORCH))  # the same conversion for g
    unscale = f"out = out{scale}\n" if scale else ""
    return (
        f"{_prelude(api, mode, expr)}"
        "tx = t.detach().clone().requires_grad_(True)\n"
        f"{g_to_torch}"
        "ty = f(tx)\n"
        "(out,) = torch.autograd.grad(ty, tx, grad_outputs=tg.to(ty.dtype))\n"
        f"{unscale}{_TO_NUMPY}\n"
        "gx = y"
    )


def _gpu_details(torch: ModuleType, cuda: bool) -> dict[str, object]:
    """Reduced-precision and determinism settings, and per GPU its compute capability; the driver."""
    from conformance.environment import nvidia_driver_version

    matmul = torch.backends.cuda.matmul
    return {
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "matmul_fp32_precision": getattr(matmul, "fp32_precision", None),
        "matmul_allow_fp16_reduced_precision_reduction": getattr(
            matmul, "allow_fp16_reduced_precision_reduction", None
        ),
        "matmul_allow_bf16_reduced_precision_reduction": getattr(
            matmul, "allow_bf16_reduced_precision_reduction", None
        ),
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
    name = "torch"
    module = "torch"
    distribution = "torch"

    def devices(self) -> list[str]:
        torch = _torch()
        gpus = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
        return ["cpu", *gpus]

    def device_details(self) -> dict[str, object]:
        torch = _torch()
        cuda = torch.cuda.is_available()
        return {
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if cuda else None,
            "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "num_threads": torch.get_num_threads(),
            "torch_compile": _compile_settings(torch),
            **_gpu_details(torch, cuda),
        }

    def implementations(self) -> Sequence[Implementation]:
        composites = {api for api, *_ in _COMPOSITES}
        return [
            impl
            for api, op, fn, expr, operation in (*_SPECS, *_COMPOSITES)
            for impl in implementations_in_modes(
                framework=self.name,
                api=api,
                op=op,
                modes=("compiled",)
                if api in composites
                else ("eager", "compiled")
                if api in _COMPILED_APIS
                else ("eager",),
                make_call=lambda mode, fn=fn, api=api: _make_call(fn, api, mode),
                make_vjp=lambda mode, fn=fn, api=api: _make_vjp(fn, api, mode),
                snippet=lambda mode, api=api, expr=expr: _snippet(api, expr, mode),
                vjp_snippet=lambda mode, api=api, expr=expr: _vjp_snippet(api, expr, mode),
                imports=_IMPORTS,
                operation=operation,
                notes=lambda mode: "torch.compile (Inductor), opt-in" if mode == "compiled" else "",
            )
        ]


ADAPTER = TorchAdapter()
