"""Every name a profile uses exists: its corpus exclusions name corpus cases, its layouts are layouts.

A profile names corpus cases to leave out (``Profile.corpus_exclude``, matched against
``Case.name`` such as ``"non_last_axes[2]"``) and the layouts its generated batches are drawn
from (``Profile.hypothesis_layouts``). Neither is checked where it is used: an exclusion with a
typo excludes nothing (the profile silently runs a case it meant to drop) and an unknown layout
is drawn as plain rows. ``unknown_names`` is the check; it runs on the real profiles (nothing may
be reported) and on a profile with planted typos (each must be reported), so the check itself is
shown able to fail.
"""

from __future__ import annotations

import dataclasses

from conformance.cases.corpus import corpus_cases
from conformance.cases.limits import DTYPES, OPS
from conformance.cases.strategies import LAYOUTS
from conformance.profiles import PROFILES, Profile


def corpus_case_names() -> set[str]:
    """The names of every corpus case, in every dtype and for every op."""
    return {case.name for dtype in DTYPES for op in OPS for case in corpus_cases(dtype, op)}


def unknown_names(profiles: dict[str, Profile]) -> list[str]:
    """One line per name a profile uses that does not exist (empty when all exist)."""
    cases = corpus_case_names()
    problems = []
    for profile in profiles.values():
        problems += [
            f"profile {profile.name}: excludes corpus case {name!r}, which does not exist"
            for name in sorted(set(profile.corpus_exclude) - cases)
        ]
        problems += [
            f"profile {profile.name}: draws layout {name!r}, which does not exist"
            for name in sorted(set(profile.hypothesis_layouts) - set(LAYOUTS))
        ]
    return problems


def test_the_real_profiles_name_only_existing_cases_and_layouts():
    assert unknown_names(PROFILES) == []


def test_the_real_profiles_exclude_something_the_check_sees():
    """The check is not vacuous: quick excludes cases, and they all match corpus names."""
    quick = PROFILES["quick"].corpus_exclude
    assert quick and set(quick) <= corpus_case_names()


def test_planted_typos_are_reported():
    quick = PROFILES["quick"]
    planted = dataclasses.replace(
        quick,
        corpus_exclude=(*quick.corpus_exclude, "non_last_axis[0]", "transposed[99]", "one_d"),
        hypothesis_layouts=(*quick.hypothesis_layouts, "block_3d"),
    )
    problems = unknown_names({**PROFILES, "quick": planted})
    assert problems == [
        "profile quick: excludes corpus case 'non_last_axis[0]', which does not exist",
        "profile quick: excludes corpus case 'one_d', which does not exist",
        "profile quick: excludes corpus case 'transposed[99]', which does not exist",
        "profile quick: draws layout 'block_3d', which does not exist",
    ]
