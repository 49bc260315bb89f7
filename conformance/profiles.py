"""Profiles: how hard the suite looks. ``quick`` for CI, ``default``, ``thorough``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    hypothesis_examples: int  # generated batches per cell (one framework call each)
    long_axis: bool  # include the 30,000-element corpus case
    shrink_calls: int  # framework calls allowed to reduce a failing slice

    @property
    def description(self) -> str:
        long_axes = "on" if self.long_axis else "off"
        return f"{self.hypothesis_examples} generated batches per cell, long axes {long_axes}"


PROFILES: dict[str, Profile] = {
    "quick": Profile("quick", hypothesis_examples=6, long_axis=True, shrink_calls=8),
    "default": Profile("default", hypothesis_examples=30, long_axis=True, shrink_calls=24),
    "thorough": Profile("thorough", hypothesis_examples=150, long_axis=True, shrink_calls=64),
}


def get_profile(name: str) -> Profile:
    """The named profile; ValueError naming the valid ones otherwise."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; valid: {', '.join(PROFILES)}")
    return PROFILES[name]
