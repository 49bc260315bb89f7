"""Persistent compilation caches for the XLA-based frameworks (JAX, TensorFlow's XLA mode).

XLA compiles once per input shape and dtype, and on a 2-core CPU that is 0.1-0.3 s
a program: most of JAX's and TensorFlow's time in the suite. Both can keep what
they compiled on disk and load it in a later process instead of compiling again:

- JAX: ``JAX_COMPILATION_CACHE_DIR``, with the size and compile-time thresholds
  at zero so that the suite's small programs (and eager JAX's per-primitive
  programs) are kept too;
- TensorFlow: ``TF_XLA_FLAGS=--tf_xla_persistent_cache_directory=...``.

Each framework's process gets its own subdirectory. An entry is keyed on the
program, the compile options and the framework's version, so an upgraded
framework compiles afresh; the executable loaded is the one XLA would have
built, so verdicts do not change, only the ``compile_seconds`` of a record,
which then counts loading from the cache. A first run (as in CI, from a fresh
clone) compiles everything; later runs on the same machine are the fast ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

ENV_MARKER = "SOFTMAX_CONFORMANCE_COMPILE_CACHE"  # the directory in use, for the records
# The variables a process started without the cache drops (``cli``'s restart after a crash).
CACHE_VARIABLE_PREFIXES = (ENV_MARKER, "JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_")


def compile_cache_env(base: Path, framework: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Environment variables that make ``framework``'s process keep its XLA programs in ``base/framework``.

    Settings the user already made (a JAX cache directory, TF_XLA_FLAGS naming a
    persistent cache) are left alone.
    """
    directory = (base / framework).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    env = {ENV_MARKER: str(directory)}
    if "JAX_COMPILATION_CACHE_DIR" not in environ:
        env["JAX_COMPILATION_CACHE_DIR"] = str(directory / "jax")
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
        env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"
    tf_flags = environ.get("TF_XLA_FLAGS", "")
    # TF_XLA_FLAGS is split at spaces: a directory with one in its path gets no TensorFlow cache.
    if "tf_xla_persistent_cache_directory" not in tf_flags and " " not in str(directory):
        flag = f"--tf_xla_persistent_cache_directory={directory / 'tensorflow'}"
        env["TF_XLA_FLAGS"] = f"{tf_flags} {flag}".strip()
    return env
