"""The oracle's answer cache and the persistent compilation cache's environment."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.compile_cache import ENV_MARKER, compile_cache_env
from conformance.gradient_properties import compute_gradient_oracle, gradient_oracle
from conformance.oracle_cache import ORACLE_CACHE, AnswerCache, array_key
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
