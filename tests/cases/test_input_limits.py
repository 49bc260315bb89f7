"""The inputs cross every limit they claim to (``conformance.cases.limits``), in every profile.

These tests fail when a limit has no case in a profile that claims it, when a profile's exclusion
drops the last case crossing a limit or names a case that does not exist, and when
``docs/input-coverage.md`` is not the generator's current output.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import ROOT

from conformance.cases import Case
from conformance.cases.corpus import CORPUS, corpus_cases
from conformance.cases.limits import (
    DTYPES,
    LIMITS,
    OPS,
    coverage,
    coverage_markdown,
    missing,
    outer_extent,
    trailing_extent,
)
from conformance.profiles import PROFILES

DOC = ROOT / "docs" / "input-coverage.md"


def test_every_claimed_limit_has_a_case_in_every_profile_dtype_and_op():
    assert missing() == []


def test_the_coverage_page_is_current():
    assert DOC.read_text(encoding="utf-8") == coverage_markdown(), (
        "regenerate: python -m conformance.cases.limits > docs/input-coverage.md"
    )


def test_an_exclusion_that_drops_the_last_case_over_float16_max_is_caught():
    """The quick profile without its slices beyond 65,504 entries (forward and backward)."""
    quick = PROFILES["quick"]
    over = [c.name for c in corpus_cases("float16", "softmax") if c.length > 65_504 and not c.special]
    assert over, "no corpus case beyond float16's max in float16"
    stripped = dataclasses.replace(
        quick,
        corpus_exclude=(*quick.corpus_exclude, *over),
        gradient_lengths=tuple(n for n in quick.gradient_lengths if n <= 65_504),
    )
    gaps = missing(coverage({**PROFILES, "quick": stripped}))
    assert "float16 max: softmax, quick, float16: no case" in gaps
    assert "float16 max: softmax, quick: no backward row length crosses it" in gaps
    assert not any(", default," in g for g in gaps)


def test_profile_exclusions_name_existing_cases():
    names = set()
    for dtype in DTYPES:
        for op in OPS:
            names |= {c.name for c in corpus_cases(dtype, op)}
    for profile in PROFILES.values():
        unknown = sorted(set(profile.corpus_exclude) - names)
        assert unknown == [], f"profile {profile.name} excludes cases that do not exist: {unknown}"


def _case(x: np.ndarray, axis: int = -1) -> Case:
    return Case("probe", x, axis)


def test_limit_predicates_are_not_vacuous():
    """Each limit is crossed by some corpus case and not crossed by the textbook rows."""
    textbook = [c for c in corpus_cases("float16", "softmax") if c.name.startswith("textbook")]
    for limit in LIMITS:
        for op in limit.ops:
            dtype = limit.dtypes[0]
            rows = [c for c in corpus_cases(dtype, op) if c.name.startswith("textbook")]
            assert not any(limit.crosses(c, dtype) for c in rows), limit.name
        assert textbook


def test_extents_of_the_layouts():
    x = np.zeros((3, 7, 64))
    assert trailing_extent(_case(x, 1)) == 64 and outer_extent(_case(x, 1)) == 192
    assert trailing_extent(_case(x, -1)) == 1 and outer_extent(_case(x, -1)) == 21
    assert outer_extent(_case(np.zeros(5), 0)) == 1


LIMIT_CLASSES = ["one_d", "beyond_float16_max", "power_of_two_lengths", "wide_non_last_axes"]
LIMIT_CLASSES += ["large_outer_extent", "long_non_last_axis"]


@pytest.mark.parametrize("name", LIMIT_CLASSES)
def test_limit_cases_are_in_the_corpus_for_every_op(name):
    assert set(CORPUS[name].ops) == set(OPS)


def test_api_variants_are_what_the_adapters_declare():
    """The page's API-variant rows stay true: each named API exists with the contract and call said."""
    from conformance.adapters import all_adapters
    from conformance.adapters.keras_adapter import _conversion
    from conformance.cases.limits import API_VARIANTS, OPEN_LIMITS
    from reference.contracts import COMPOSITE_TEMPERATURE

    adapters = all_adapters()
    assert np.log2(COMPOSITE_TEMPERATURE) % 1 != 0, "a power-of-two temperature hides every rewrite"
    for variant in API_VARIANTS:
        assert variant.apis
        for name in variant.apis:
            framework, api = name.split(": ")
            specs = {s.api: s for s in adapters[framework].specs}
            assert api in specs, f"{variant.name}: {name} is not declared"
            spec = specs[api]
            contract = spec.contract
            if variant.name.startswith("temperature"):
                assert (
                    contract.temperature == COMPOSITE_TEMPERATURE
                    and f"/ {COMPOSITE_TEMPERATURE!r}" in spec.source
                )
                assert set(spec.modes) & {"jit", "xla", "compiled"}
            elif "mask" in variant.name:
                assert contract.masked, name
                fill = spec.source if framework == "jax" else _conversion(spec)
                assert ("finfo" in fill) == variant.name.startswith("large finite"), name
            else:
                assert contract.output_dtype == "float32" and "dtype=torch.float32" in spec.source
    covered = " ".join(v.name for v in API_VARIANTS).lower()
    for name, _ in OPEN_LIMITS:
        assert not any(word in name.lower() for word in ("temperature", "mask", "dtype")), name
    assert "tuple" not in covered


def test_the_temperature_case_makes_a_rewrite_of_x_over_t_visible_in_every_dtype():
    """One ULP of x / T moves the output beyond the allowance on the corpus case ``temperature``."""
    from conformance.cases.limits import _temperature_rewrite_visible

    for dtype in DTYPES:
        cases = [c for c in corpus_cases(dtype, "softmax") if c.name.startswith("temperature")]
        assert any(_temperature_rewrite_visible(c, dtype) for c in cases), dtype


def test_no_softmax_output_can_show_a_bfloat16_flush():
    """The claim behind 'subnormal outputs (softmax)' leaving bfloat16 out: a subnormal softmax output
    needs logits about 87 apart, where the allowance covers (nearly) the whole output."""
    import ml_dtypes

    from reference.error_model import allowed_error
    from reference.oracle import exact

    bf16 = np.dtype(ml_dtypes.bfloat16)
    for gap in (87.5, 88.0, 90.0, 92.0):
        x = np.array([[0.0, -gap]]).astype(bf16)
        ex = exact("softmax", x, -1, bf16)
        assert ex[0, 1] < ml_dtypes.finfo(bf16).tiny
        assert allowed_error("softmax", x, ex, -1, bf16)[0, 1] > 0.9 * ex[0, 1]
