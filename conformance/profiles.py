"""Profiles: how hard the suite looks. ``quick`` for CI, ``default``, ``thorough``."""

from __future__ import annotations

from dataclasses import dataclass

# Corpus cases the quick profile leaves out: each is a further (shape, axis) that a compiled
# mode (jax.jit, XLA) compiles anew, and each probes what a kept case also probes: a non-last
# axis (kept: the 4-D array along axis 1, the size-1 middle axis), a strided view (kept: the
# transposed 2-D block along its strided last axis).
QUICK_CORPUS_EXCLUDE: tuple[str, ...] = (
    "size1_axes[1]",
    "non_last_axes[0]",
    "non_last_axes[1]",
    "non_last_axes[2]",
    "non_last_axes[4]",
    "non_last_axes[5]",
    "transposed[0]",
    "transposed[2]",
    # inputs from limits: quick keeps one case per limit (conformance.cases.limits checks it)
    "one_d[0]",
    "one_d[1]",
    *(f"power_of_two_lengths[{i}]" for i in range(21) if i not in (11,)),
    *(f"wide_non_last_axes[{i}]" for i in (0, 1, 2, 6, 7, 8)),
    "large_outer_extent[0]",
    "large_outer_extent[1]",
    "long_non_last_axis[0]",
)


@dataclass(frozen=True)
class Profile:
    """How hard the suite looks.

    ``hypothesis_examples`` generated batches per cell (one framework call each),
    drawn from ``hypothesis_layouts``; ``long_axis`` includes the 30,000-element
    corpus case; ``shrink_calls`` bounds the framework calls spent reducing a
    failing slice; ``corpus_exclude`` names corpus cases left out;
    ``gradient_lengths`` are the row lengths of the backward pass's inputs
    (``conformance.gradients``; each is one shape a compiled mode compiles);
    ``timeout_seconds`` is how long one framework's process may run (``run --timeout``);
    ``gradient_long_non_last`` adds a (65,537, 3) array judged along axis 0 to the backward pass's
    inputs (``conformance.gradients.LONG_NON_LAST_SHAPE``; quick leaves it out, as it leaves out the
    forward corpus case long_non_last_axis).

    ``compact_shapes`` trades shape variety for speed (compiled modes compile once
    per input shape): row inputs are padded with filler rows to a few row counts,
    the special rows and the shifted copies join their length's call. Framework
    behaviour can depend on the shape (vectorized and scalar code paths, flushing of
    subnormals), so only ``quick`` does this; the other profiles call every case at
    its own shape.
    """

    name: str
    hypothesis_examples: int
    long_axis: bool
    shrink_calls: int
    hypothesis_layouts: tuple[str, ...] = ("rows", "rows", "rows", "block3d", "transposed")
    corpus_exclude: tuple[str, ...] = ()
    compact_shapes: bool = False
    gradient_lengths: tuple[int, ...] = (3, 16, 100, 1000, 2049, 65537)
    gradient_long_non_last: bool = True
    # Seconds one framework's process may run before it is killed (``run --timeout`` overrides):
    # about three times the slowest framework's time on the project's 2-core machine when quiet
    # (JAX's quick process took 902 s there with the load average at 12).
    timeout_seconds: float = 3600.0

    @property
    def description(self) -> str:
        long_axes = "on" if self.long_axis else "off"
        return f"{self.hypothesis_examples} generated batches per cell, long axes {long_axes}"


PROFILES: dict[str, Profile] = {
    # Compact shapes and row batches only, so that generated batches reuse the corpus' compiled
    # shapes; no shrinking (a failure's smallest failing slice is still isolated and reported).
    "quick": Profile(
        "quick",
        hypothesis_examples=6,
        long_axis=True,
        shrink_calls=0,
        hypothesis_layouts=("rows",),
        corpus_exclude=QUICK_CORPUS_EXCLUDE,
        compact_shapes=True,
        gradient_lengths=(7, 128, 65537),
        gradient_long_non_last=False,
        timeout_seconds=1800.0,
    ),
    "default": Profile("default", hypothesis_examples=30, long_axis=True, shrink_calls=24),
    "thorough": Profile(
        "thorough", hypothesis_examples=150, long_axis=True, shrink_calls=64, timeout_seconds=14400.0
    ),
}


def get_profile(name: str) -> Profile:
    """The named profile; ValueError naming the valid ones otherwise."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; valid: {', '.join(PROFILES)}")
    return PROFILES[name]
