"""What judging one property over a cell produces: ``PropertyOutcome``, and the reductions
that build it from per-slice results (``summarize``), shared by the forward evaluation
(``conformance.evaluation``) and the backward one (``conformance.gradients``).

The metric and bound an outcome carries always come from one slice (``excess``), so a
verdict is never shown beside another slice's figures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from conformance.properties import SliceResults, _slices
from conformance.property_registry import HISTOGRAM_PROPERTIES
from conformance.slice_conditions import row_conditions


@dataclass
class PropertyOutcome:
    """One property over every observation of a cell: the numbers a record carries."""

    property: str
    verdict: str  # pass | fail | skipped | unsupported | error
    metric: float | None = None
    median: float | None = None
    bound: float | None = None
    n_cases: int = 0
    n_failed: int = 0
    message: str = ""
    worst: dict | None = None
    repro: str | None = None
    histogram: dict | None = None
    worst_in: str | None = None  # the case holding the slice ``metric`` and ``bound`` come from
    # every input with a failing slice (or a failed call): what registry ``case`` globs match
    failing_cases: tuple[str, ...] = ()
    judged_cases: tuple[str, ...] = ()  # every corpus case with a slice this property applied to
    # per failing input, the kinds of its failing slices: the sets of ``conformance.slice_conditions``
    # they meet (inputs whose failing slices meet none are left out)
    failing_conditions: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)


# Bin edges (in the property's unit, ULPs for precision) of the per-slice error histogram that
# precision records carry, so that "passes, but 40 ULP off" stays visible in the report.
HISTOGRAM_EDGES = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 256.0, 1024.0, 2.0**16)


def excess(metric: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """How far each slice is towards (< 1) or beyond (> 1) its bound: ``metric / bound``.

    A NaN metric, or a positive metric against a zero bound, is infinitely far; a zero
    metric is 0 whatever the bound.
    """
    metric = np.asarray(metric, dtype=np.float64)
    bound = np.asarray(bound, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(metric == 0, 0.0, metric / bound)
    return np.where(np.isnan(ratio), np.inf, ratio)


# ``more_conditions(observation, slice indices)``: the further conditions each of those failing
# slices of the observation meets (repairs, gradient conditions), one tuple per index.
MoreConditions = Callable[[object, list[int]], list[tuple[str, ...]]]


def summarize(
    name: str, judged: Iterable[tuple[object, SliceResults]], more_conditions: MoreConditions | None = None
) -> tuple[PropertyOutcome, list]:
    """One property over every judged observation: verdict (pass, fail, or skipped when nothing
    applied), median metric, the metric and bound of one and the same slice (the failing slice
    furthest beyond its bound, else the slice nearest to it: ``excess``), the error histogram
    (properties registered with ``histogram``), and the failing slices as (observation, slice, metric,
    bound), for the caller to describe. ``more_conditions`` adds the conditions the caller decides
    (``failing_conditions``)."""
    metrics, failures, n_cases, judged_cases = [], [], 0, set()
    worst: tuple[float, float, float, object] | None = None  # (excess, metric, bound, obs)
    for obs, res in judged:
        app = res.applicable
        n_cases += int(np.sum(app))
        if np.any(app):
            judged_cases.add(_input_name(obs))
        metrics.append(res.metric[app])
        bad = np.flatnonzero(app & ~res.passed)
        failures += [(obs, int(i), float(res.metric[i]), float(res.bound[i])) for i in bad]
        if not failures and np.any(app):
            index = np.flatnonzero(app)
            ratios = excess(res.metric[index], res.bound[index])
            i = int(index[np.argmax(ratios)])
            if worst is None or float(np.max(ratios)) > worst[0]:
                worst = (float(np.max(ratios)), float(res.metric[i]), float(res.bound[i]), obs)
    if failures:
        ratios = excess([f[2] for f in failures], [f[3] for f in failures])
        obs, _, metric, bound = failures[int(np.argmax(ratios))]
        worst = (float(np.max(ratios)), metric, bound, obs)
    all_metrics = np.concatenate(metrics) if metrics else np.array([])
    out = PropertyOutcome(name, "pass", n_cases=n_cases, judged_cases=tuple(sorted(judged_cases - {None})))
    if all_metrics.size:
        out.median = float(np.median(all_metrics))
        if worst is not None:
            out.metric, out.bound = worst[1], worst[2]
            case = getattr(worst[3], "case", None)
            out.worst_in = getattr(case, "name", None)
        if name in HISTOGRAM_PROPERTIES:
            out.histogram = error_histogram(all_metrics)
    if failures:
        out.verdict = "fail"
        out.n_failed = len(failures)
        out.failing_cases = tuple(sorted({_input_name(f[0]) for f in failures} - {None}))
        out.failing_conditions = failing_conditions(failures, more_conditions)
    elif n_cases == 0:
        out.verdict = "skipped"
        out.message = "no input to which this property applies"
    return out, failures


def _input_name(obs: object) -> str | None:
    """The name of the input (corpus case, batch, gradient input) an observation was made on."""
    return getattr(getattr(obs, "case", None), "name", None)


def failing_conditions(
    failures: list, more_conditions: MoreConditions | None = None
) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Per input holding failing slices (``failures``: (observation, slice index, metric, bound)),
    the kinds of those slices, for the inputs where some failing slice meets a condition: the input
    conditions each slice meets (``conformance.slice_conditions.row_conditions``), then those
    ``more_conditions`` finds (a repair under which the slice passes, a gradient condition)."""
    by_observation: dict[int, tuple[object, list[int]]] = {}
    for obs, i, _, _ in failures:
        by_observation.setdefault(id(obs), (obs, []))[1].append(i)
    found: dict[str, set[tuple[str, ...]]] = {}
    for obs, indices in by_observation.values():
        case = getattr(obs, "case", None)
        try:
            rows = _slices(case.x, case.axis)[np.asarray(indices)]
        except (AttributeError, TypeError, ValueError, IndexError, np.exceptions.AxisError):
            continue  # an input not judged as (slices, axis): no condition is claimed for it
        kinds = [list(k) for k in row_conditions(rows)]
        if more_conditions is not None and len(kinds) == len(indices):
            for kind, more in zip(kinds, more_conditions(obs, indices), strict=True):
                kind.extend(more)
        found.setdefault(case.name, set()).update(tuple(k) for k in kinds)
    return {name: tuple(sorted(kinds)) for name, kinds in found.items() if any(kinds)}


def error_histogram(metrics: np.ndarray) -> dict:
    """Counts of ``metrics`` per bin ``[edges[k], edges[k+1])``, the last bin open; NaN/inf counted apart."""
    metrics = np.asarray(metrics, dtype=np.float64)
    finite = metrics[np.isfinite(metrics)]
    edges = np.array((*HISTOGRAM_EDGES, np.inf))
    counts, _ = np.histogram(finite, bins=edges)
    return {
        "edges": list(HISTOGRAM_EDGES),
        "counts": counts.astype(int).tolist(),
        "nonfinite": int(metrics.size - finite.size),
    }


def short_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[0][:500] if text else type(exc).__name__


def failure_message(
    n_failed: int,
    unit: str,
    out: PropertyOutcome,
    shown_case: str,
    shown_metric: float,
    shown_bound: float,
    what: str = "failing",
) -> str:
    """ "N failing slice(s); worst <metric> (bound <its bound>) in <case>", then the slice the
    record shows (the smallest failing one) when it is another: every figure beside its own bound."""
    text = f"{n_failed} slice(s) {what}" if what != "failing" else f"{n_failed} failing slice(s)"
    text += f"; worst {unit} {out.metric:.4g} (bound {out.bound:.4g}) in {out.worst_in}"
    if (shown_case, shown_metric, shown_bound) != (out.worst_in, out.metric, out.bound):
        text += f"; shown: {unit} {shown_metric:.4g} (bound {shown_bound:.4g}) in {shown_case}"
    return text


def listing(a: np.ndarray, limit: int = 64) -> dict:
    """A JSON-friendly view of an array: shape, dtype and (up to ``limit``) values; NaN/inf as strings."""
    a = np.asarray(a)
    flat = a.astype(np.float64).reshape(-1)
    values = [v if np.isfinite(v) else str(v) for v in flat[:limit].tolist()]
    return {
        "shape": list(a.shape),
        "dtype": str(a.dtype),
        "values": values,
        "truncated": bool(flat.size > limit),
    }
