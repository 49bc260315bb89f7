"""One test function per registered property, parametrized over cells by ``conformance.plugin``.

The functions are generated from ``conformance.property_registry.REGISTRY``: ``test_<name>``
for each property (``test_precision``, ``test_sum_to_one``, ..., ``test_semantics``), the names
that test ids, ``-k`` selections and the known-discrepancy registry use. Each test judges one
property of one cell (implementation x device x dtype); the cell's outputs are computed once and
shared by all its tests. Verdicts map onto pytest outcomes: pass, fail, xfail (a known
discrepancy), fail for a known discrepancy that no longer reproduces (strict), skip for
unsupported cells. The semantics test observes special inputs and records them; it never fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conformance.property_registry import REGISTRY, PropertySpec


def _make_test(spec: PropertySpec) -> Callable[[Any, Any, Any], None]:
    """The pytest function for ``spec``: ``conformance.check`` for a property with a verdict,
    ``conformance.observe_semantics`` for the semantics kind."""
    if spec.checked:

        def test(cell: Any, conformance: Any, request: Any) -> None:
            conformance.check(request, cell, spec.name)

    else:

        def test(cell: Any, conformance: Any, request: Any) -> None:
            conformance.observe_semantics(request, cell)

    test.__name__ = test.__qualname__ = spec.test_name
    test.__doc__ = spec.doc or f"{spec.label}: {spec.holds}"
    test.__module__ = __name__
    return test


for _spec in REGISTRY:
    globals()[_spec.test_name] = _make_test(_spec)
del _spec
