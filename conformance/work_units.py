"""How a run's work is cut into processes: one per framework, or one per (framework, dtype).

The contract: ``plan_units`` returns the processes ``run`` starts (``WorkUnit``s), longest
expected first. A framework's cells of different dtypes share nothing a process keeps (compiled
programs are per dtype, the oracle's answers are per dtype, an alias's canonical cell has its
dtype), so one process per dtype gives the same records as one process for all of them, at the
price of one more import per process (about 4 s for TensorFlow, 2 s for PyTorch, 1 s for JAX on
the project's 2-core machine). On a machine with more cores than frameworks that price buys wall
time: the run can be no shorter than its longest process, and JAX alone is most of a run.

``split``:

- ``framework``: one process per framework (the cheapest in CPU time);
- ``dtype``: one per framework and dtype;
- ``auto`` (the default): a framework is split by dtype when it is expected to take more than
  its share of the run, ``total / (2 * jobs)`` of the expected seconds (``EXPECTED_SECONDS``),
  so that the longest process is not much more than the run's ideal length on ``jobs`` cores.
  With one job nothing is split (nothing would run beside it).
"""

from __future__ import annotations

from dataclasses import dataclass

SPLITS = ("auto", "framework", "dtype")

# Seconds of each framework's processes in the quick profile on the project's 2-core machine
# (benchmarks/README.md, 2026-12-06, the oracle shared between processes): processes start
# longest first, so that the longest one does not start last and end the run late (a name not
# listed, e.g. the user's own implementations, starts after these).
EXPECTED_SECONDS = {
    "jax": 270.0,
    "tensorflow": 113.0,
    "keras-jax": 94.0,
    "keras-torch": 31.0,
    "torch": 27.0,
    "keras-tensorflow": 22.0,
    "numpy": 8.0,
    "onnxruntime": 8.0,
    "scipy": 4.0,
}


@dataclass(frozen=True)
class WorkUnit:
    """One process of a run: a framework's cells, all of them or those of one dtype."""

    framework: str
    dtype: str | None = None  # None: every selected dtype
    expected_seconds: float = 0.0

    @property
    def name(self) -> str:
        """How the run's output names it: ``jax`` or ``jax[float16]``."""
        return self.framework if self.dtype is None else f"{self.framework}[{self.dtype}]"

    @property
    def file_stem(self) -> str:
        """Its log's and progress file's name: ``jax`` or ``jax.float16``."""
        return self.framework if self.dtype is None else f"{self.framework}.{self.dtype}"

    def owns(self, record: dict) -> bool:
        """Whether a record (a ``check``, say) was written by this unit's process."""
        if record.get("framework") != self.framework:
            return False
        return self.dtype is None or record.get("dtype") == self.dtype


def plan_units(
    frameworks: list[str],
    dtypes: list[str],
    jobs: int,
    split: str = "auto",
    expected: dict[str, float] | None = None,
) -> list[WorkUnit]:
    """The processes for ``frameworks`` (in the order given where nothing is known of their length),
    longest expected first; ``dtypes`` are those the run selects (all of them when none was asked
    for). ValueError for an unknown ``split``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    expected = EXPECTED_SECONDS if expected is None else expected
    total = sum(expected.get(f, 0.0) for f in frameworks)
    threshold = total / (2 * max(jobs, 1))
    units: list[WorkUnit] = []
    for framework in frameworks:
        seconds = expected.get(framework, 0.0)
        divide = len(dtypes) > 1 and (
            split == "dtype" or (split == "auto" and jobs > 1 and seconds > threshold)
        )
        if divide:
            units += [WorkUnit(framework, d, seconds / len(dtypes)) for d in dtypes]
        else:
            units.append(WorkUnit(framework, None, seconds))
    return sorted(units, key=lambda u: -u.expected_seconds)  # stable: unknown ones keep their order
