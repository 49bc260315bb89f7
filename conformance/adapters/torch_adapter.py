"""PyTorch (eager mode) as a framework under test.

torch is imported lazily, on the first call: importing this module costs nothing.

Conversions are exact. NumPy has no native bfloat16 and torch does not know
ml_dtypes' bfloat16, so a bfloat16 array crosses as its bit pattern (int16 view)
both ways. The array is shared with ``torch.from_numpy`` (strides kept, so a
transposed view reaches torch as a non-contiguous tensor) except when it has a
negative stride (``from_numpy`` rejects those) or is read-only (torch does not
support non-writable tensors and warns): then a C-contiguous copy is passed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from types import ModuleType
from typing import Any

import ml_dtypes
import numpy as np

from conformance.adapters.base import FrameworkAdapter, Implementation

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


@cache
def _torch() -> ModuleType:
    import torch

    return torch


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


def _make_call(fn: Callable[[Any, Any, int], Any]) -> Callable[[np.ndarray, int, str], np.ndarray]:
    def call(x: np.ndarray, axis: int, device: str) -> np.ndarray:
        return _to_numpy(fn(_torch(), _to_torch(x, device), axis))

    return call


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
            **_gpu_details(torch, cuda),
        }

    def implementations(self) -> Sequence[Implementation]:
        return [
            Implementation(
                framework=self.name,
                api=api,
                op=op,
                mode="eager",
                call=_make_call(fn),
                snippet=f"{_TO_TORCH}out = {expr}\n{_TO_NUMPY}",
                imports=_IMPORTS,
                operation=operation,
            )
            for api, op, fn, expr, operation in _SPECS
        ]


ADAPTER = TorchAdapter()
