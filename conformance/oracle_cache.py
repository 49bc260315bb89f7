"""A process-wide cache of the oracle's answers, keyed by what the answer depends on.

Every implementation of an op in one dtype sees the same corpus and the same
gradient inputs, and the oracle's answer depends only on the op, the input's
values and shape (not its strides), the axis and the output dtype. Computing it
once per process instead of once per cell removes most of the judging time of a
framework with many implementations (JAX has eight per op and dtype).

Cached answers are shared, so their arrays are made read-only: a consumer that
tried to modify one in place would raise instead of corrupting the next cell's verdict.
The cache is a least-recently-used map bounded by the bytes its answers hold.

Across processes: every framework's process of a run judges the same corpus and the same
gradient inputs, so ``run`` gives its processes one directory (``SHARED_DIR_VARIABLE``) where each
answer is also written, pickled, under a digest of its key, and read by the next process that
needs it instead of computing it again. The directory belongs to one run (``run`` deletes it at
the end): every process that reads an answer runs the same code that wrote it. A file is written
whole and then renamed into place, so a reader sees a complete answer or none; one whose stored
key differs from the key asked for (a digest collision) or that cannot be read is computed again.
Only inputs every process sees are shared (the corpus, the backward pass's inputs), not a cell's
generated batches. A quick run over the nine frameworks writes about 2.5 GB there at its peak
(the backward pass's 65,537-element rows in long double are most of it); nothing is written that
would leave less than ``MIN_FREE_BYTES`` free.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TypeVar

import numpy as np

T = TypeVar("T")

MAX_BYTES = 512 * 2**20
SHARED_DIR_VARIABLE = "SOFTMAX_CONFORMANCE_ORACLE_CACHE"
MAX_SHARED_BYTES = 64 * 2**20  # an answer larger than this is not written for other processes
MIN_FREE_BYTES = 6 * 2**30  # nor one that would leave less than this free (a tox matrix installs beside it)


def key_text(key: object) -> str:
    """A cache key as text, the same in every process: a ``str`` subclass (an op carrying its
    contract) is written as the plain string it compares equal to, as the in-memory map sees it."""
    if isinstance(key, tuple):
        inner = ", ".join(key_text(k) for k in key)
        return f"({inner},)" if len(key) == 1 else f"({inner})"
    if isinstance(key, str):
        return repr(str(key))
    return repr(key)


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
    """Least-recently-used answers (dataclasses of arrays), at most ``max_bytes`` of arrays in all;
    also read from and written to ``shared_dir`` when one is given (default: the directory named
    by ``SHARED_DIR_VARIABLE``, if set), for the other processes of the run."""

    def __init__(self, max_bytes: int = MAX_BYTES, shared_dir: Path | str | None = None) -> None:
        self.max_bytes = max_bytes
        self._answers: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0
        self.shared_hits = 0
        self._shared_dir = Path(shared_dir) if shared_dir is not None else None

    @property
    def shared_dir(self) -> Path | None:
        """Where answers are shared with the run's other processes (None: not shared)."""
        if self._shared_dir is not None:
            return self._shared_dir
        named = os.environ.get(SHARED_DIR_VARIABLE)
        return Path(named) if named else None

    def get(self, key: Hashable, compute: Callable[[], T], shared: bool = True) -> T:
        """The answer stored under ``key``, computing and storing it first if it is not there;
        ``shared``: also looked for in, and written to, the shared directory (if there is one)."""
        found = self._answers.get(key)
        if found is not None:
            self._answers.move_to_end(key)
            self.hits += 1
            return found[0]  # type: ignore[return-value]
        answer = self._read_shared(key) if shared else None
        if answer is None:
            self.misses += 1
            answer = compute()
            if shared:
                self._write_shared(key, answer)
        else:
            self.shared_hits += 1
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

    def _path(self, key: Hashable) -> tuple[Path, str] | None:
        directory = self.shared_dir
        if directory is None:
            return None
        text = key_text(key)
        return directory / (hashlib.blake2b(text.encode(), digest_size=20).hexdigest() + ".pickle"), text

    def _read_shared(self, key: Hashable) -> object | None:
        where = self._path(key)
        if where is None:
            return None
        path, text = where
        try:
            stored_key, answer = pickle.loads(path.read_bytes())
        except Exception:  # not written yet, or unreadable (cut short, damaged): compute it again
            return None
        return answer if stored_key == text else None

    def _write_shared(self, key: Hashable, answer: object) -> None:
        where = self._path(key)
        if where is None:
            return
        path, text = where
        data = pickle.dumps((text, answer), protocol=pickle.HIGHEST_PROTOCOL)
        if len(data) > MAX_SHARED_BYTES:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if shutil.disk_usage(path.parent).free < MIN_FREE_BYTES + len(data):
                return
            handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".partial")
        except OSError:  # a read-only disk: this process keeps its answer, the others compute theirs
            return
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        except OSError:  # a full disk: as above
            Path(temporary).unlink(missing_ok=True)


ORACLE_CACHE = AnswerCache()
