"""The property registry: every property the suite judges, in one table, and everything derived from it.

One ``PropertySpec`` per property: its name, its kind, its judge (a pure function of
``conformance.properties`` or ``conformance.gradient_properties``), the ops it applies to,
the unit of its metric, its label and display order in the report, whether its records
carry an error histogram, and the text of its row in the README's property table. From
``REGISTRY`` come:

- the pytest functions of ``conformance/suite/test_conformance.py`` (``test_<name>``),
- the properties ``conformance.check()`` and ``python -m conformance run`` judge for a cell
  (``cell_properties``; the same function serves both),
- the report's columns, labels, units and column groups (``conformance.report.cells``,
  ``conformance.report.html``), the record's ``unit`` (``conformance.plugin``) and which
  outcomes carry a histogram (``conformance.outcome``),
- the README's property table (``readme_table``; ``tests/meta/test_property_registry.py`` checks
  that the README holds it).

Adding a property is one entry here plus its judge; ``tests/meta/test_property_registry.py``
then demands a planted fault (``tests/faults/catalogue.py``) that the property catches.

Kinds (``KINDS``) and the judge's signature each implies:

- ``forward``: ``judge(x, y, oracle, op, dtype, axis) -> SliceResults`` on the output of
  one call (``shape_dtype`` alone: ``check_shape_dtype(x, y, expected_dtype) -> str | None``,
  judged on the whole output before any slice property);
- ``special``: as ``forward``, on slices holding special values (NaN);
- ``device``: ``judge(x, y, other, oracle, op, dtype, axis) -> SliceResults``, ``other``
  being the same input's output from the paired call named by ``compare_with``: ``"cpu"``
  (the same call on the CPU: non-CPU cells only), ``"repeat"`` (the same call again: every
  cell) or ``"eager"`` (the same API in eager mode: compiled modes only);
- ``gradient``: ``judge(x, g, gx, oracle, op, dtype, axis) -> SliceResults`` on a backward
  pass (implementations with a ``vjp`` only);
- ``semantics``: ``classify_semantics(y, oracle, undefined) -> (classification, note)``:
  special inputs observed and classified, never a verdict (its records are ``semantics``
  records, not ``check`` records, and it has no report column: it has its own table).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from conformance.adapters.base import Implementation
from conformance.gradient_properties import grad_finite, grad_masked, grad_precision, grad_sum_to_zero
from conformance.properties import (
    bounds,
    check_shape_dtype,
    classify_semantics,
    device_consistency,
    gradual_underflow,
    log_softmax_consistency,
    monotonicity,
    nan_propagation,
    precision,
    repeatability,
    shift_invariance,
    stability,
    sum_to_one,
)
from reference.contracts import contract_of

ALL_OPS = ("softmax", "log_softmax", "sum_normalize")
SOFTMAX_OPS = ("softmax", "log_softmax")

# The kinds, in display order, with the report column group each one's properties sit in.
KINDS = ("forward", "special", "device", "gradient", "semantics")
REPORT_GROUPS: dict[str, str] = {
    "forward": "forward pass",
    "special": "special values",
    "device": "consistency",
    "gradient": "backward pass",
    "semantics": "semantics",
}
# The paired call a device-kind property compares with (``compare_with``).
COMPARE_WITH = ("cpu", "repeat", "eager")
SHAPE_DTYPE = "shape_dtype"
SEMANTICS = "semantics"


@dataclass(frozen=True)
class PropertySpec:
    """One property: what it judges, where it applies, and how records and the report show it.

    ``name`` is the record's ``property`` field and the test function's name without
    ``test_``; ``ops`` the ops it applies to; ``unit`` what its metric counts (the record's
    ``unit``); ``label`` its report column heading; ``order`` its place among the columns
    (unique); ``histogram`` whether its outcomes carry the per-slice error histogram;
    ``compare_with`` (device kind only) the paired call it compares with; ``holds`` and
    ``applies_to`` its README table row; ``doc`` the test function's docstring.
    """

    name: str
    kind: str
    judge: Callable[..., object]
    ops: tuple[str, ...]
    unit: str
    label: str
    order: int
    holds: str
    applies_to: str
    histogram: bool = False
    compare_with: str | None = None
    doc: str = ""

    @property
    def group(self) -> str:
        """The report column group (``REPORT_GROUPS`` of the kind)."""
        return REPORT_GROUPS[self.kind]

    @property
    def test_name(self) -> str:
        """The pytest function judging it: ``test_<name>`` (test ids, ``-k`` and the known-discrepancy
        registry use it)."""
        return f"test_{self.name}"

    @property
    def checked(self) -> bool:
        """Whether it gives a verdict (a ``check`` record, a report column): every kind but semantics."""
        return self.kind != "semantics"

    @property
    def measures_ulp(self) -> bool:
        """Whether its metric is in ULPs (the report shows the worst ULP error in its chips)."""
        return self.unit.startswith("ULP")

    @property
    def description(self) -> str:
        """The first line of the judge's docstring."""
        return (self.judge.__doc__ or "").strip().splitlines()[0]


REGISTRY: tuple[PropertySpec, ...] = tuple(
    sorted(
        (
            PropertySpec(
                SHAPE_DTYPE,
                "forward",
                check_shape_dtype,
                ALL_OPS,
                "failures",
                "shape & dtype",
                10,
                "output has the input's shape and dtype; no exception on regular input",
                "all",
            ),
            PropertySpec(
                "precision",
                "forward",
                precision,
                ALL_OPS,
                "ULP",
                "precision",
                20,
                "ULP error against the exact result within the error model's per-element tolerance"
                " (worst and median recorded; for log-softmax, ULPs of `max(|y|, 1)`, as its error is"
                " absolute near 0)",
                "regular slices; masked slices (some `-inf`: those entries must be exactly 0 / `-inf`);"
                " mixed-sign slices of sum-normalization",
                histogram=True,
            ),
            PropertySpec(
                "sum_to_one",
                "forward",
                sum_to_one,
                ALL_OPS,
                "abs error",
                "sum to one",
                30,
                "`|sum(y) - 1|` (float64; `sum(exp(y))` for log-softmax) within the bound the"
                " per-element model implies",
                "as precision",
            ),
            PropertySpec(
                "bounds",
                "forward",
                bounds,
                ALL_OPS,
                "elements outside",
                "bounds",
                40,
                "`0 <= y <= 1` (`y <= 0` for log-softmax) and finite for finite input",
                "regular slices (sum-normalization: non-negative only)",
            ),
            PropertySpec(
                "monotonicity",
                "forward",
                monotonicity,
                ALL_OPS,
                "order breaks",
                "monotonicity",
                50,
                "`x_i < x_j` never gives `y_i > y_j`; an argmax of x is an argmax of y",
                "regular slices",
            ),
            PropertySpec(
                "stability",
                "forward",
                stability,
                ALL_OPS,
                "ULP",
                "stability",
                60,
                "finite and precise output when entries exceed the dtype's exp overflow threshold",
                "slices precision judges, with a finite entry beyond it",
            ),
            PropertySpec(
                "gradual_underflow",
                "forward",
                gradual_underflow,
                ("softmax", "sum_normalize"),
                "flushed to zero",
                "gradual underflow",
                65,
                "outputs whose correctly rounded value is subnormal are not flushed to zero (a platform"
                " with flush-to-zero arithmetic fails here, visibly, where precision accepts the 0)",
                "slices precision judges with a subnormal exact output that 0 misses by more than the"
                " allowance",
            ),
            PropertySpec(
                "shift_invariance",
                "forward",
                shift_invariance,
                SOFTMAX_OPS,
                "ULP",
                "shift invariance",
                70,
                "`f(x + c)` equals the exact `softmax(x)`, for an exactly representable `c` beyond the"
                " overflow threshold",
                "softmax, log-softmax",
            ),
            PropertySpec(
                "log_softmax_consistency",
                "forward",
                log_softmax_consistency,
                ("log_softmax",),
                "range of x - y",
                "log-softmax consistency",
                80,
                "`x - y` is one constant per slice (`y = x - logsumexp(x)`)",
                "log-softmax",
            ),
            PropertySpec(
                "nan_propagation",
                "special",
                nan_propagation,
                ALL_OPS,
                "non-NaN",
                "NaN propagation",
                90,
                "a NaN anywhere in a slice makes the whole slice NaN",
                "slices with NaN",
            ),
            PropertySpec(
                "device_consistency",
                "device",
                device_consistency,
                ALL_OPS,
                "ULP",
                "CPU–GPU consistency",
                100,
                "a GPU's output and the CPU's agree within twice the model's allowance",
                "non-CPU cells",
                compare_with="cpu",
                doc="GPU cells only: the output agrees with the same call on the CPU within the error model.",
            ),
            PropertySpec(
                "repeatability",
                "device",
                repeatability,
                ALL_OPS,
                "elements differing",
                "repeatability",
                110,
                "the same call twice gives bitwise-identical output",
                "every cell (CPU: the corpus' stacked calls; GPU: every call)",
                compare_with="repeat",
                doc="The same call made twice gives bitwise-identical output (GPU: every call; CPU: the"
                " corpus' stacked calls).",
            ),
            PropertySpec(
                "compiled_consistency",
                "device",
                device_consistency,
                ALL_OPS,
                "ULP",
                "compiled vs eager",
                120,
                "a compiled mode's output and the same API's eager output agree within twice the model's"
                " allowance (a flush to zero the model accepts is not a disagreement)",
                "`jit`, `xla`, `compiled` cells",
                compare_with="eager",
                doc="Compiled modes only: the output agrees with the same API's eager output within the"
                " error model.",
            ),
            PropertySpec(
                "grad_precision",
                "gradient",
                grad_precision,
                ALL_OPS,
                "ULP of M",
                "∇ precision",
                130,
                "the backward pass (VJP) against the exact one, in ULPs of the term scale `M`, within"
                " the backward error model",
                "implementations with autodiff (see [Gradients](#gradients-compiled-modes-and-compile-time))",
                histogram=True,
                doc="Cells with a backward pass: the VJP against the exact one, in ULPs of the term scale.",
            ),
            PropertySpec(
                "grad_finite",
                "gradient",
                grad_finite,
                ALL_OPS,
                "non-finite elements",
                "∇ finite",
                140,
                "a finite input (masks allowed; large logits, long axes) gives a finite gradient",
                "as grad_precision, where the exact gradient is representable",
            ),
            PropertySpec(
                "grad_sum_to_zero",
                "gradient",
                grad_sum_to_zero,
                SOFTMAX_OPS,
                "u * sum(M)",
                "∇ sums to 0",
                150,
                "softmax and log-softmax gradients sum to zero along the axis (`1^T J = 0`)",
                "softmax, log-softmax",
            ),
            PropertySpec(
                "grad_masked",
                "gradient",
                grad_masked,
                SOFTMAX_OPS,
                "elements wrong",
                "∇ masked = 0",
                160,
                "masked (`-inf`) entries get exactly zero gradient and leak no NaN into the rest",
                "slices with some `-inf` entries",
            ),
            PropertySpec(
                SEMANTICS,
                "semantics",
                classify_semantics,
                ALL_OPS,
                "classification",
                "semantics",
                170,
                "observed output on special inputs beside the oracle's limit, classified (never a failure)",
                "special inputs",
                doc="Special inputs: observed and classified against the oracle's limit; never a failure.",
            ),
        ),
        key=lambda spec: spec.order,
    )
)

BY_NAME: dict[str, PropertySpec] = {spec.name: spec for spec in REGISTRY}


def of_kind(*kinds: str) -> dict[str, PropertySpec]:
    """The properties of ``kinds``, by name, in display order."""
    return {spec.name: spec for spec in REGISTRY if spec.kind in kinds}


# The views the evaluation judges with (one per judge signature). ``PROPERTIES``: the slice
# properties of one output (forward and special kinds, ``shape_dtype`` aside: it judges the
# whole output); ``DEVICE_PROPERTIES``: two outputs of one input; ``GRADIENT_PROPERTIES``: a VJP.
PROPERTIES: dict[str, PropertySpec] = {
    name: spec for name, spec in of_kind("forward", "special").items() if name != SHAPE_DTYPE
}
DEVICE_PROPERTIES: dict[str, PropertySpec] = of_kind("device")
GRADIENT_PROPERTIES: dict[str, PropertySpec] = of_kind("gradient")
# Every property with a verdict (a check record, a report column), in display order.
CHECKED: dict[str, PropertySpec] = {spec.name: spec for spec in REGISTRY if spec.checked}
PROPERTY_ORDER: tuple[str, ...] = tuple(spec.name for spec in REGISTRY)
HISTOGRAM_PROPERTIES: frozenset[str] = frozenset(spec.name for spec in REGISTRY if spec.histogram)


def unit_of(name: str) -> str:
    """The unit of property ``name``'s metric ("failures" for a name not registered)."""
    spec = BY_NAME.get(name)
    return spec.unit if spec is not None else "failures"


def applies(spec: PropertySpec, op: str, device: str, compiled: bool, has_vjp: bool) -> bool:
    """Whether ``spec`` is judged for a cell computing ``op`` on ``device``: by its ops and, per kind,
    a backward pass (gradient), the paired call it needs (device: CPU comparison off the CPU,
    eager comparison in compiled modes, repeatability everywhere). Semantics applies everywhere.
    Shift invariance does not apply under a temperature contract (``reference.contracts``)."""
    if op not in spec.ops:
        return False
    if spec.name == "shift_invariance" and contract_of(op).temperature is not None:
        return False  # softmax(round((x + c) / T)) is not softmax(round(x / T)): the shift is not exact
    if spec.kind == "gradient":
        return has_vjp
    if spec.kind == "device":
        return {"cpu": device != "cpu", "eager": compiled, "repeat": True}[str(spec.compare_with)]
    return True


def cell_properties(impl: Implementation, device: str, semantics: bool = False) -> list[str]:
    """The checked properties judged for ``impl`` on ``device``, in display order (``semantics`` too
    when asked).

    ``applies`` decides, from ``impl.op``, the device, whether ``impl`` is a compiled mode (it has an
    ``eager_call``) and whether it has a backward pass (``vjp``). ``conformance.check()`` and the
    pytest session both judge exactly this list (``tests/meta/test_property_registry.py`` checks it on
    real runs).
    """
    compiled, has_vjp = impl.eager_call is not None, impl.vjp is not None
    return [
        spec.name
        for spec in REGISTRY
        if (spec.checked or semantics) and applies(spec, impl.op, device, compiled, has_vjp)
    ]


README_BEGIN = (
    "<!-- properties:begin (generated from conformance/property_registry.py:"
    " python -m conformance.property_registry) -->"
)
README_END = "<!-- properties:end -->"


def readme_table() -> str:
    """The README's property table (Markdown), one row per registered property in display order."""
    rows = ["| property | kind | what holds | applies to | metric |", "| --- | --- | --- | --- | --- |"]
    rows += [
        f"| `{spec.name}` | {spec.kind} | {spec.holds} | {spec.applies_to} | {spec.unit} |"
        for spec in REGISTRY
    ]
    return "\n".join(rows)


def with_readme_table(text: str) -> str:
    """``text`` (the README) with the section between ``README_BEGIN`` and ``README_END`` replaced by
    ``readme_table()``; ValueError when the markers are missing."""
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"the README lacks the markers {README_BEGIN!r} ... {README_END!r}")
    return text[: start + len(README_BEGIN)] + "\n" + readme_table() + "\n" + text[end:]


def main() -> int:
    """Rewrite the property table of the README next to the package (``python -m
    conformance.property_registry``); prints whether it changed."""
    from pathlib import Path

    readme = Path(__file__).resolve().parents[1] / "README.md"
    old = readme.read_text(encoding="utf-8")
    new = with_readme_table(old)
    if new != old:
        readme.write_text(new, encoding="utf-8")
    print(f"{readme}: {'updated' if new != old else 'up to date'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
