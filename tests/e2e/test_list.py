"""``python -m conformance list`` as a pipe sees it: every Keras backend beside TensorFlow (each
framework probed in its own process), every field whole, no TensorFlow log lines, and a second
call answered from the cache."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time

import pytest
from helpers import ROOT

from conformance.listing import COLUMNS, format_plain

NEEDED = ("tensorflow", "keras", "jax", "torch")


def _list(cache, *args):
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # list itself must keep TensorFlow quiet
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "list", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return proc, time.perf_counter() - start


@pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in NEEDED), reason=f"needs {', '.join(NEEDED)}"
)
def test_list_shows_every_keras_backend_whole_and_quiet_then_from_the_cache(tmp_path):
    names = "tensorflow,keras-tensorflow,keras-jax,keras-torch"
    first, first_s = _list(tmp_path, "--framework", names)
    assert first.returncode == 0, first.stderr
    assert first.stderr == "", first.stderr  # no oneDNN / absl / cuda lines from TensorFlow
    lines = first.stdout.splitlines()
    assert lines[0].split() == list(COLUMNS)
    frameworks = {line.split()[0] for line in lines[1:]}
    assert frameworks == set(names.split(",")), first.stdout
    for line in lines[1:]:
        assert "not installed" not in line and "unavailable" not in line, line
    # nothing cut at 80 columns: the dtypes come whole at the end of each line
    assert max(len(line) for line in lines) > 80
    assert all(line.rstrip().endswith("float64") or "float32" in line for line in lines[1:])
    assert "…" not in first.stdout
    again, again_s = _list(tmp_path, "--framework", names)
    assert again.returncode == 0 and again.stdout == first.stdout
    assert again.stderr.startswith("(4 of 4 frameworks from the cache")
    assert again_s < first_s


def test_list_refuses_an_unknown_framework_in_one_line(tmp_path):
    proc, _ = _list(tmp_path, "--framework", "nosuch")
    assert proc.returncode == 2 and proc.stdout == ""
    assert (
        proc.stderr.strip().splitlines() == [proc.stderr.strip().splitlines()[0]]
        and "unknown framework 'nosuch'" in proc.stderr
    )


def test_plain_listing_is_aligned_and_whole():
    rows = [["numpy", "2.4.6", "cpu", "a" * 90, "softmax", "eager", "float16,float32"]]
    text = format_plain(rows).splitlines()
    assert text[0].startswith("framework  version") and text[1].endswith("float16,float32")
    assert "a" * 90 in text[1] and text[0].index("op") == text[1].index("softmax")
