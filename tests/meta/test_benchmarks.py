"""The framework-free benchmark runs and prints what its README section quotes (no time is asserted)."""

from __future__ import annotations

import importlib.util
import re

from helpers import ROOT


def test_judging_timing_prints_each_stage(capsys) -> None:
    spec = importlib.util.spec_from_file_location("judging_timing", ROOT / "benchmarks" / "judging_timing.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--op", "softmax", "--dtype", "float32", "--repeat", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    row = next(line for line in out if line.startswith("softmax"))
    seconds = [float(v) for v in re.findall(r"\d+\.\d+", row)]
    assert len(seconds) == 4 and all(s > 0 for s in seconds)
    assert out[-1].startswith("all stages:")
