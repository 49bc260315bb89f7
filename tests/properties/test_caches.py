"""The oracle's answer cache (in memory, and shared by a run's processes through a directory) and the
persistent compilation cache's environment."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from conformance import oracle_cache
from conformance.compile_cache import ENV_MARKER, compile_cache_env
from conformance.gradient_properties import compute_gradient_oracle, gradient_oracle
from conformance.oracle_cache import ORACLE_CACHE, AnswerCache, array_key, key_text
from conformance.properties import compute_oracle, oracle_for


def _same_answer(a, b) -> None:
    for name in a.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y)
            assert x.dtype == y.dtype


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "sum_normalize"])
def test_cached_oracle_is_the_uncached_oracle_and_read_only(op):
    x = np.random.default_rng(1).random((5, 7)).astype(np.float32)
    first = oracle_for(op, x, -1, np.float32)
    again = oracle_for(op, x.copy(), -1, "float32")  # equal values, a new array, the dtype by name
    assert again is first
    _same_answer(first, compute_oracle(op, x, -1, np.float32))
    with pytest.raises(ValueError, match="read-only"):
        first.exact[0, 0] = 0


def test_the_key_tells_apart_what_the_answer_depends_on():
    x = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    base = oracle_for("softmax", x, -1, np.float32)
    assert oracle_for("log_softmax", x, -1, np.float32) is not base  # op
    assert oracle_for("softmax", x, 0, np.float32) is not base  # axis
    assert oracle_for("softmax", x, -1, np.float16) is not base  # output dtype
    assert oracle_for("softmax", x.reshape(4, 3), -1, np.float32) is not base  # shape
    assert oracle_for("softmax", x.astype(np.float64), -1, np.float32) is not base  # input dtype
    changed = x.copy()
    changed[2, 3] = np.nextafter(changed[2, 3], np.float32(1))  # one ULP in one element
    assert oracle_for("softmax", changed, -1, np.float32) is not base
    # A strided view and its contiguous copy hold the same values: one answer.
    assert array_key(x.T) == array_key(np.ascontiguousarray(x.T))
    assert oracle_for("softmax", x.T, -1, np.float32) is oracle_for("softmax", x.T.copy(), -1, np.float32)


def test_cached_gradient_oracle_is_the_uncached_one():
    rng = np.random.default_rng(2)
    x, g = rng.normal(size=(4, 9)), rng.normal(size=(4, 9))
    first = gradient_oracle("softmax", x, g, -1, np.float64)
    assert gradient_oracle("softmax", x.copy(), g.copy(), -1, np.float64) is first
    assert gradient_oracle("softmax", x, -g, -1, np.float64) is not first  # another cotangent
    _same_answer(first, compute_gradient_oracle("softmax", x, g, -1, np.float64))


def test_the_cache_drops_least_recently_used_answers_beyond_its_size():
    from dataclasses import dataclass

    @dataclass
    class Answer:
        values: np.ndarray

    cache = AnswerCache(max_bytes=3 * 800)
    calls = []

    def compute(i: int):
        calls.append(i)
        return Answer(np.full(100, float(i)))  # 800 bytes

    for i in range(3):
        cache.get(i, lambda i=i: compute(i))
    cache.get(0, lambda: compute(0))  # a hit: 0 becomes the most recent
    cache.get(3, lambda: compute(3))  # over the limit: 1, the least recent, goes
    assert calls == [0, 1, 2, 3]
    cache.get(0, lambda: compute(0))
    cache.get(1, lambda: compute(1))
    assert calls == [0, 1, 2, 3, 1]
    assert cache.hits == 2 and cache.misses == 5


def test_the_process_cache_is_bounded():
    assert 0 < ORACLE_CACHE.max_bytes <= 2**30


def test_compile_cache_env_per_framework(tmp_path):
    env = compile_cache_env(tmp_path, "jax", {})
    directory = tmp_path.resolve() / "jax"
    assert directory.is_dir()
    assert env[ENV_MARKER] == str(directory)
    assert env["JAX_COMPILATION_CACHE_DIR"] == str(directory / "jax")
    assert env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"
    assert env["TF_XLA_FLAGS"] == f"--tf_xla_persistent_cache_directory={directory / 'tensorflow'}"


def test_compile_cache_env_keeps_the_users_settings(tmp_path):
    users = {"JAX_COMPILATION_CACHE_DIR": "/elsewhere", "TF_XLA_FLAGS": "--tf_xla_auto_jit=2"}
    env = compile_cache_env(tmp_path, "tensorflow", users)
    assert "JAX_COMPILATION_CACHE_DIR" not in env
    assert env["TF_XLA_FLAGS"].startswith("--tf_xla_auto_jit=2 --tf_xla_persistent_cache_directory=")
    flag = "--tf_xla_persistent_cache_directory=/x"
    named = compile_cache_env(tmp_path, "tensorflow", {"TF_XLA_FLAGS": flag})
    assert "TF_XLA_FLAGS" not in named
    spaced = compile_cache_env(tmp_path / "a b", "tensorflow", {})
    assert "TF_XLA_FLAGS" not in spaced  # TF splits its flags at spaces


def _counted(calls: list, op: str, x: np.ndarray):
    def compute():
        calls.append(op)
        return compute_oracle(op, x, -1, np.float32)

    return compute


@pytest.fixture
def disk_to_spare(monkeypatch):
    """The sharing tests write regardless of this machine's free disk: the rule that nothing is
    shared on a nearly full disk (``MIN_FREE_BYTES``) has its own test below, and on a machine
    with less than that free the sharing tests would otherwise see nothing written."""
    monkeypatch.setattr(oracle_cache, "MIN_FREE_BYTES", 0)


def test_a_shared_answer_is_read_by_another_process_cache_bit_for_bit(tmp_path, disk_to_spare):
    """Two caches on one directory stand for two processes of a run: the second reads the
    first's answer instead of computing it, and gets the same bits, read-only."""
    x = np.random.default_rng(3).normal(size=(4, 9)).astype(np.float32)
    calls: list = []
    writer, reader = AnswerCache(shared_dir=tmp_path), AnswerCache(shared_dir=tmp_path)
    first = writer.get(("k", 1), _counted(calls, "softmax", x))
    second = reader.get(("k", 1), _counted(calls, "softmax", x))
    assert calls == ["softmax"] and reader.shared_hits == 1 and reader.misses == 0
    _same_answer(first, second)
    with pytest.raises(ValueError, match="read-only"):
        second.exact[0, 0] = 0
    assert [p.suffix for p in tmp_path.iterdir()] == [".pickle"]  # no partial file left


def test_what_is_not_shared_is_neither_written_nor_read(tmp_path, monkeypatch, disk_to_spare):
    x = np.ones((2, 3), np.float32)
    calls: list = []
    AnswerCache(shared_dir=tmp_path).get(("k",), _counted(calls, "softmax", x), shared=False)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.delenv(oracle_cache.SHARED_DIR_VARIABLE, raising=False)
    AnswerCache().get(("k",), _counted(calls, "softmax", x))  # no directory named: memory only
    assert calls == ["softmax", "softmax"] and list(tmp_path.iterdir()) == []
    monkeypatch.setenv(oracle_cache.SHARED_DIR_VARIABLE, str(tmp_path))  # as `run` names it
    AnswerCache().get(("k",), _counted(calls, "softmax", x))
    assert len(list(tmp_path.iterdir())) == 1


def test_a_colliding_damaged_or_oversized_file_is_computed_again(tmp_path, monkeypatch, disk_to_spare):
    x = np.ones((2, 3), np.float32)
    calls: list = []
    AnswerCache(shared_dir=tmp_path).get(("k", 1), _counted(calls, "softmax", x))
    (path,) = tmp_path.iterdir()
    _stored_key, answer = pickle.loads(path.read_bytes())
    path.write_bytes(pickle.dumps(("('k', 2)", answer)))  # another key under this digest
    AnswerCache(shared_dir=tmp_path).get(("k", 1), _counted(calls, "softmax", x))
    path.write_bytes(path.read_bytes()[:20])  # cut short
    AnswerCache(shared_dir=tmp_path).get(("k", 1), _counted(calls, "softmax", x))
    assert calls == ["softmax"] * 3
    monkeypatch.setattr(oracle_cache, "MAX_SHARED_BYTES", 10)
    AnswerCache(shared_dir=tmp_path / "small").get(("k", 1), _counted(calls, "softmax", x))
    assert not (tmp_path / "small").exists() or not list((tmp_path / "small").iterdir())


def test_a_key_reads_the_same_in_every_process():
    class ContractOp(str):  # an op carrying its contract compares equal to its plain name
        def __repr__(self) -> str:
            return f"ContractOp({str(self)!r})"

    plain = ("forward", "softmax", ("T", 3.0), -1, (1, 2), None, "float32", b"\x01")
    assert key_text(("forward", ContractOp("softmax"), *plain[2:])) == key_text(plain) == repr(plain)
    assert key_text(("x",)) == repr(("x",))


def test_nothing_is_shared_when_the_disk_would_be_left_nearly_full(tmp_path, monkeypatch):
    import shutil

    x = np.ones((2, 3), np.float32)
    calls: list = []
    monkeypatch.setattr(oracle_cache, "MIN_FREE_BYTES", shutil.disk_usage(tmp_path).free + 1)
    AnswerCache(shared_dir=tmp_path).get(("k",), _counted(calls, "softmax", x))
    assert calls == ["softmax"] and not [p for p in tmp_path.iterdir() if p.is_file()]
