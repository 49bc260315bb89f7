"""Cell keys, orderings and short labels shared by the report, compare and merge.

A *cell* is one check: ``(framework, api, mode, op, device, dtype, property)``. The key
deliberately leaves out the implementation id and the framework version, so that the same
check is matched across runs made with different framework versions (compare) and across
machines (merge, where the ``source`` label keeps duplicates apart).
"""

from __future__ import annotations

import html
import math
from typing import Any

from conformance.property_registry import CHECKED

CELL_FIELDS = ("framework", "api", "mode", "op", "device", "dtype", "property")
# A row of the matrix / semantics table: one implementation.
ROW_FIELDS = ("framework", "api", "mode", "op")
# A sample record's key: a cell without the property.
SAMPLE_FIELDS = ("framework", "api", "mode", "op", "device", "dtype")

# The check columns, their order, labels, units and groups: from the property registry (every
# property with a verdict; semantics records have their own table, ``SEMANTICS_ORDER``).
PROPERTY_ORDER: tuple[str, ...] = tuple(CHECKED)
PROPERTY_LABEL: dict[str, str] = {name: spec.label for name, spec in CHECKED.items()}
PROPERTY_UNIT: dict[str, str] = {name: spec.unit for name, spec in CHECKED.items()}
PROPERTY_GROUP: dict[str, str] = {name: spec.group for name, spec in CHECKED.items()}
# Properties whose metric is in ULPs: their chips show the worst ULP error.
ULP_PROPERTIES: tuple[str, ...] = tuple(name for name, spec in CHECKED.items() if spec.measures_ulp)
DTYPE_ORDER = ("float16", "bfloat16", "float32", "float64")
DTYPE_SHORT = {"float16": "f16", "bfloat16": "bf16", "float32": "f32", "float64": "f64"}
OP_ORDER = ("softmax", "log_softmax", "sum_normalize")

# Verdicts from the worst to the best, for "the worst verdict of a group".
VERDICT_SEVERITY = ("error", "fail", "fixed", "expected-fail", "pass", "unsupported", "skipped")
# A check that held (good) or did not (bad); the rest judged nothing.
GOOD = ("pass", "fixed")
BAD = ("fail", "expected-fail", "error")
VERDICT_SYMBOL = {
    "pass": "",
    "fail": "✗",
    "expected-fail": "≈",
    "fixed": "★",
    "unsupported": "–",
    "skipped": "·",
    "error": "!",
}

# Special-input categories of semantics records (the case name before "["), in table order.
SEMANTICS_ORDER = (
    "all_neginf",
    "posinf_entry",
    "neginf_entry",
    "nan_entry",
    "empty",
    "zero_d",
    "integer_input",
    "size1_slice",
    "zero_sum",
    "negative_entries",
)
SEMANTICS_LABEL = {
    "all_neginf": "all −inf",
    "posinf_entry": "+inf",
    "neginf_entry": "some −inf",
    "nan_entry": "NaN",
    "empty": "empty",
    "zero_d": "0-d",
    "integer_input": "integer",
    "size1_slice": "size-1 slice",
    "zero_sum": "zero sum",
    "negative_entries": "negative",
}
# Semantics classifications that are the oracle's behaviour (good) or a difference from it (bad):
# ``compare`` calls a move from one to the other a semantics regression or fix, the version trend
# a discrepancy that appeared or disappeared.
SEMANTICS_GOOD = ("matches-limit", "undefined-input")
SEMANTICS_BAD = ("documented-difference", "undocumented-difference", "error")
# Classifications of semantics records from the most to the least notable.
CLASSIFICATION_SEVERITY = (
    "error",  # the call raised where the implementation must answer (or the probe raised)
    "undocumented-difference",
    "documented-difference",
    "undefined-input",
    "matches-limit",
)


def cell_key(record: dict[str, Any]) -> tuple[str, ...]:
    """The key of a check record: ``CELL_FIELDS`` as strings (missing fields are '')."""
    return tuple(str(record.get(name) or "") for name in CELL_FIELDS)


def sample_key(record: dict[str, Any]) -> tuple[str, ...]:
    """The key of a sample (or semantics) record: ``SAMPLE_FIELDS`` as strings."""
    return tuple(str(record.get(name) or "") for name in SAMPLE_FIELDS)


def order_index(value: str, order: tuple[str, ...]) -> tuple[int, str]:
    """A sort key that puts known values in ``order`` first, then the rest alphabetically."""
    return (order.index(value), "") if value in order else (len(order), value)


def worst_verdict(verdicts: list[str]) -> str:
    """The most severe of ``verdicts`` (``VERDICT_SEVERITY``); 'skipped' for none."""
    return min(verdicts, key=lambda v: order_index(v, VERDICT_SEVERITY), default="skipped")


def as_number(value: Any) -> float | None:
    """A metric as a float: numbers and the strings 'nan'/'inf'/'-inf'; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if value in ("nan", "inf", "-inf"):
        return float(value)
    return None


def fmt_num(value: Any, digits: int = 3) -> str:
    """A short human form of a metric: 0.5, 12.3, 1.87e+04, nan, inf; '' when absent."""
    number = as_number(value)
    if number is None:
        return "" if value is None else str(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    if number == 0:
        return "0"
    if abs(number) >= 10**digits or abs(number) < 10 ** -(digits - 1):
        return f"{number:.{digits - 1}e}"
    return f"{number:.{digits}g}"


def fmt_ulp(value: Any) -> str:
    """A worst ULP error for a chip: '0.5', '3.2', '40', '1.9k', '2.1M', 'nan'."""
    number = as_number(value)
    if number is None:
        return ""
    if math.isnan(number) or math.isinf(number):
        return fmt_num(number)
    if number < 10:
        return f"{number:.2g}" if number < 1 else f"{number:.1f}"
    if number >= 1e12:
        return f"{number:.1e}".replace("e+", "e")
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if number >= scale:
            return f"{number / scale:.2g}{suffix}"
    return f"{number:.0f}"


def op_label(op: str, operation: str = "") -> str:
    """The op with its operation where it differs (``F.normalize(p=1)`` is an L1 normalization)."""
    return f"{op} ({operation})" if operation else op


def markdown_cell(value: Any, limit: int = 200) -> str:
    """Text safe inside a Markdown table cell: HTML-escaped, no pipes or newlines, bounded length."""
    text = " ".join(str("" if value is None else value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text, quote=False).replace("|", "\\|").replace("`", "'")
