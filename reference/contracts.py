"""An API's own documented contract, where it is not exactly its op's mathematics.

Most APIs compute their op (``softmax``, ``log_softmax``, ``sum_normalize``) exactly as the
oracle defines it. Some document something else, and are judged by that:

* **L1 normalization** (``kind="l1_normalize"``): ``torch.nn.functional.normalize(x, p=1)``,
  ``keras.ops.normalize(x, order=1)`` and ``tf.linalg.normalize(x, ord=1)`` compute
  ``x / max(sum|x|, eps)``, not ``x / sum(x)``. ``eps`` is the documented floor (torch 1e-12,
  Keras ``keras.config.epsilon()`` = 1e-7; None for TensorFlow, which documents plain
  ``x / norm``). The frameworks pass ``eps`` as a Python scalar next to a tensor of the input
  dtype, so it is rounded to that dtype (in float16 torch's 1e-12 rounds to 0, Keras's 1e-7 to
  the subnormal 2**-23); the oracle rounds it the same way (``rounded_eps``). The denominator
  ``sum|x|`` has no cancellation: mixed-sign slices are defined and judged against it. A slice
  of zeros is *defined* where there is an eps (the result is 0: the eps exists to avoid the
  division by zero), so NaN there is a failure; without an eps it is 0/0 (NaN), the contract.
* **Mixed precision output** (``output_dtype``): ``F.softmax(x, dim, dtype=torch.float32)``
  upcasts a float16/bfloat16 input exactly and returns float32: the oracle rounds to float32
  and precision is judged in float32 ULPs; records name the input dtype.
* **Temperature** (``temperature``): an expression ``softmax(x / T)``. The implementation gets
  ``x`` and divides in the input dtype; the oracle is the exact softmax of ``round(x / T)``
  (``effective_input``), the quotient each correct implementation forms. A rewrite to
  ``x * (1 / T)`` rounds twice and differs on many inputs when T is not a power of two.

* **Masked APIs** (``masked=True``): ``jax.nn.softmax(x, where=m)`` / ``log_softmax`` and Keras's
  ``layers.Softmax()(x, mask=m)``, called with ``m = x != -inf``. Each documents the output of a
  masked-out element: 0 for softmax ("The output for any masked-out element is zero", JAX's
  docstring; Keras 3.10+ zeroes masked positions after the softmax, keras-team/keras#21149), -inf
  for log-softmax ("minus infinity"). So a slice with *every* entry masked (all -inf, an
  all-False mask) is defined for these APIs: all zeros (all -inf), where the plain op is 0/0; a
  uniform row or NaN there contradicts the API's own contract and is a failure. The numerical
  assumption: masked entries are not inputs at all, whatever value sits under the mask.

The contract travels with the op name: ``ContractOp`` is a ``str`` equal to the op's name (so
op selection, the property registry and records see ``"softmax"``) carrying a ``Contract``.
The oracle and the properties read it with ``contract_of``; a plain ``str`` op has the default
contract (the op's mathematics in the input dtype).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference.dtypes import dtype_from_name
from reference.rounding import round_to_dtype

PLAIN = "plain"
L1_NORMALIZE = "l1_normalize"
CONTRACT_KINDS = (PLAIN, L1_NORMALIZE)
# The temperature of the composite softmax(x / T) the suite runs (not a power of two: x / T rounds).
COMPOSITE_TEMPERATURE = 3.0


@dataclass(frozen=True)
class Contract:
    """What an API documents: ``kind`` (``PLAIN`` or ``L1_NORMALIZE``), the L1 ``eps`` (None: no
    floor), the ``output_dtype`` name where it is not the input's, a ``temperature`` the input
    is divided by (softmax only), and ``masked``: a masked API (mask = ``x != -inf``) whose
    masked-out outputs are 0 / -inf by its documentation, an all-masked slice included."""

    kind: str = PLAIN
    eps: float | None = None
    output_dtype: str | None = None
    temperature: float | None = None
    masked: bool = False

    def __post_init__(self) -> None:
        if self.kind not in CONTRACT_KINDS:
            raise ValueError(f"unknown contract kind {self.kind!r}; valid: {', '.join(CONTRACT_KINDS)}")
        if self.output_dtype is not None:
            dtype_from_name(self.output_dtype)
        if self.temperature is not None and not (np.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be finite and positive, not {self.temperature!r}")

    @property
    def key(self) -> tuple:
        """What an oracle answer depends on besides the op (part of every cache key)."""
        return (self.kind, self.eps, self.output_dtype, self.temperature, self.masked)

    @property
    def is_plain(self) -> bool:
        return self == DEFAULT


DEFAULT = Contract()
MASKED = Contract(masked=True)


class ContractOp(str):
    """An op name (``"sum_normalize"``) that carries its API's ``Contract``; equal to the name."""

    contract: Contract

    def __new__(cls, op: str, contract: Contract) -> ContractOp:
        self = super().__new__(cls, op)
        self.contract = contract
        return self

    def __reduce__(self) -> tuple:
        return (ContractOp, (str(self), self.contract))

    def __repr__(self) -> str:
        return f"ContractOp({str(self)!r}, {self.contract!r})"


def with_contract(op: str, contract: Contract | None) -> str:
    """``op`` carrying ``contract`` (``op`` itself for no or the default contract)."""
    if contract is None or contract.is_plain:
        return str(op)
    if contract.kind == L1_NORMALIZE and op != "sum_normalize":
        raise ValueError(f"an L1-normalization contract belongs to sum_normalize, not {op}")
    if contract.temperature is not None and op != "softmax":
        raise ValueError(f"a temperature belongs to softmax, not {op}")
    if contract.masked and op not in ("softmax", "log_softmax"):
        raise ValueError(f"a mask belongs to softmax or log_softmax, not {op}")
    return ContractOp(op, contract)


def contract_of(op: str) -> Contract:
    """The contract ``op`` carries (the default for a plain op name)."""
    return getattr(op, "contract", DEFAULT)


def output_dtype(op: str, input_dtype: object) -> np.dtype:
    """The dtype the API returns (and is judged in) for a floating ``input_dtype``."""
    name = contract_of(op).output_dtype
    return dtype_from_name(name) if name is not None else np.dtype(input_dtype)


def effective_input(op: str, x: np.ndarray) -> np.ndarray:
    """The input the op's mathematics is applied to: ``round(x / T)`` in ``x``'s dtype under a
    temperature contract (one correctly rounded division, as the expression computes), else ``x``."""
    t = contract_of(op).temperature
    if t is None or np.asarray(x).dtype.kind in "iub":
        return x
    x = np.asarray(x)
    with np.errstate(over="ignore", invalid="ignore"):
        return round_to_dtype(x.astype(np.float64) / t, x.dtype)


def all_masked(op: str, x: np.ndarray, axis: int) -> np.ndarray:
    """Slices (``x``'s shape without ``axis``, kept as size 1) that a masked API defines although the
    op does not: every entry -inf (masked out) under a ``masked`` contract; all False otherwise."""
    x = np.asarray(x)
    if x.ndim == 0:
        return np.zeros((), dtype=bool)
    if not contract_of(op).masked or x.shape[axis] == 0:
        return np.zeros(_kept(x.shape, axis), dtype=bool)
    with np.errstate(invalid="ignore"):
        return np.all(x.astype(np.float64) == -np.inf, axis=axis, keepdims=True)


def _kept(shape: tuple[int, ...], axis: int) -> tuple[int, ...]:
    axis = axis % len(shape)
    return tuple(1 if i == axis else n for i, n in enumerate(shape))


def masked_limit(op: str) -> float:
    """The documented output of a masked-out element: 0 for softmax, -inf for log-softmax."""
    return -np.inf if op == "log_softmax" else 0.0


def rounded_eps(op: str, dtype: object) -> float | None:
    """The L1 contract's eps as the framework uses it: the Python scalar rounded to ``dtype``
    (0.0 where it is below the dtype's range); None without an eps or an L1 contract."""
    contract = contract_of(op)
    if contract.kind != L1_NORMALIZE or contract.eps is None:
        return None
    return float(round_to_dtype(np.array(contract.eps, dtype=np.float64), np.dtype(dtype)).astype(np.float64))
