"""A process-wide cache of the oracle's answers, keyed by what the answer depends on.

Every implementation of an op in one dtype sees the same corpus and the same
gradient inputs, and the oracle's answer depends only on the op, the input's
values and shape (not its strides), the axis and the output dtype. Computing it
once per process instead of once per cell removes most of the judging time of a
framework with many implementations (JAX has eight per op and dtype).

Cached answers are shared, so their arrays are made read-only: a consumer that
tried to modify one in place would raise instead of corrupting the next cell's verdict.
The cache is a least-recently-used map bounded by the bytes its answers hold.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

import numpy as np

T = TypeVar("T")

MAX_BYTES = 512 * 2**20


def array_key(a: np.ndarray) -> tuple[Hashable, ...]:
    """The part of a cache key that identifies an array's values: shape, dtype and a digest of the
    C-ordered bytes (a transposed view and its contiguous copy get the same key)."""
    a = np.asarray(a)
    digest = hashlib.blake2b(np.ascontiguousarray(a).tobytes(), digest_size=16).digest()
    return (a.shape, a.dtype.name, digest)


def _freeze(answer: object) -> int:
    """Make every array field of a dataclass answer read-only; the bytes they hold."""
    held = 0
    for f in dataclasses.fields(answer):  # type: ignore[arg-type]
        value = getattr(answer, f.name)
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
            held += value.nbytes
    return held


class AnswerCache:
    """Least-recently-used answers (dataclasses of arrays), at most ``max_bytes`` of arrays in all."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._answers: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The answer stored under ``key``, computing and storing it first if it is not there."""
        found = self._answers.get(key)
        if found is not None:
            self._answers.move_to_end(key)
            self.hits += 1
            return found[0]  # type: ignore[return-value]
        self.misses += 1
        answer = compute()
        held = _freeze(answer)
        if held <= self.max_bytes:
            self._answers[key] = (answer, held)
            self._bytes += held
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._answers.popitem(last=False)
                self._bytes -= dropped
        return answer

    def clear(self) -> None:
        self._answers.clear()
        self._bytes = 0


ORACLE_CACHE = AnswerCache()
