"""Which inputs a cell is called on: the corpus, its shifted copies, and the Hypothesis search.

The contract: ``InputsMixin`` turns inputs into ``Observation``s (``observe``: call, wrap with
the oracle's result and the shape/dtype check) and appends them to ``observations``; it judges
nothing but the Hypothesis search's steering score. The corpus' row cases of one length are
stacked into one call (one bad case then costs only itself: the group is called case by case);
regular rows get copies shifted by a power of two beyond the exp overflow threshold, judged
against the unshifted row's oracle (shift invariance); Hypothesis batches are steered
(``hypothesis.target``) towards the largest ULP error over tolerance.
"""

from __future__ import annotations

import traceback

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings, target

from conformance.cases import AXIS_INT, Case
from conformance.cases.corpus import profile_corpus
from conformance.cases.strategies import batches
from conformance.evaluation.calling import rows_of
from conformance.evaluation.cell import Observation
from conformance.outcome import short_error
from conformance.properties import OracleResult, check_shape_dtype, expected_output_dtype, oracle_for
from conformance.property_registry import PROPERTIES
from reference.axes import joint_last
from reference.dtypes import dtype_info


def joint_view(
    case: Case, y: np.ndarray | None, pair: tuple[np.ndarray | None, ...]
) -> tuple[Case, np.ndarray | None, tuple[np.ndarray | None, ...]]:
    """A joint-axes case, its output and its paired outputs, each with the joint axes moved last and
    flattened (``reference.axes.joint_last``): the view every property judges, along ``axis=-1``.

    Exact: softmax, log-softmax and sum-normalization over joint axes are those of each flattened
    joint slice, and the transform only moves values. An output not of the input's shape (a
    shape error, reported as such) is left as it is; a paired output not of that shape is dropped.
    """
    joint = case.joint()

    def view(a: np.ndarray | None) -> np.ndarray | None:
        if not isinstance(a, np.ndarray) or a.shape != case.x.shape:
            return None
        return np.ascontiguousarray(joint_last(a, case.axis))

    flat_y = view(y) if isinstance(y, np.ndarray) and y.shape == case.x.shape else y
    return joint, flat_y, tuple(view(p) for p in pair)


class InputsMixin:
    """The inputs of ``CellEvaluation``: its ``observe``, corpus and Hypothesis search."""

    def observe(
        self,
        case: Case,
        role: str,
        y=None,
        error=None,
        called: bool = False,
        oracle: OracleResult | None = None,
        reference: OracleResult | None = None,
        pair: tuple[np.ndarray | None, ...] = (None, None, None),
    ) -> Observation:
        """Call (unless ``called``) and wrap the result with its oracle (computed unless given).

        ``pair``: the (repeat, cpu) outputs of a call made by the caller (non-CPU cells).
        """
        if not called:
            kept = dict(self.pair_errors)
            if self.profile.compact_shapes and self._stackable(case):
                y, error = self._call_rows(case.x, pair=True)
            else:
                y, error = self._call(case.x, case.axis, pair=True)
            pair = self._pair
            if case.special and self.pair_errors != kept:
                # A special input is classified (semantics), never compared, as its own call's error
                # is not one of the judged properties': a paired call it breaks (eager torch raising on
                # an integer input that torch.compile accepts) is reported, not an error verdict.
                for kind, (count, problem) in self.pair_errors.items():
                    if kept.get(kind) != (count, problem):
                        self.special_pair_errors.setdefault(kind, (case.name, problem))
                self.pair_errors = kept
        expected = expected_output_dtype(self.cell.impl.op, case.x.dtype)  # the API contract's dtype
        shape_error = None if error else check_shape_dtype(case.x, y, expected)
        if y is not None and not isinstance(y, np.ndarray):
            y = None
            error = shape_error
        called = None
        if case.axis_form != AXIS_INT:  # judged on the joint view (see ``joint_view``)
            called, case, y, pair = case, *joint_view(case, y, pair)
        if oracle is None:  # a generated batch is this cell's own: not shared with other processes
            oracle = oracle_for(self.cell.impl.op, case.x, case.axis, expected, shared=role != "hypothesis")
        obs = Observation(case, y, error, oracle, shape_error, role, reference, *pair, called=called)
        self.observations.append(obs)
        return obs

    def _stackable(self, case: Case) -> bool:
        """Row cases in the cell's dtype, C-contiguous (stacking would hide a strided view).

        Special rows are stacked only with compact shapes; otherwise each is called
        at its own shape.
        """
        return (
            case.is_row_case
            and case.x.dtype == self._dtype
            and case.x.flags.c_contiguous
            and (self.profile.compact_shapes or not case.special)
        )

    def _run_corpus(self) -> None:
        """The corpus: one call per row length, other cases one call each; shifted copies.

        With compact shapes the shifted copies join their length's call (padded to a
        row bucket); otherwise each original case's shifted copies get a call of their own.
        """
        cases = [
            c
            for c in profile_corpus(self.cell.dtype, self.cell.impl.op, self.profile)
            if c.axis_form in self.cell.impl.axes  # an API with one int axis gets no tuple cases
        ]
        by_length: dict[int, list[tuple[Case, str, OracleResult, OracleResult | None]]] = {}
        separate: list[tuple[Case, str, OracleResult, OracleResult | None]] = []
        for case in cases:
            if not self._stackable(case):
                self.observe(case, "corpus")
                continue
            oracle = oracle_for(self.cell.impl.op, case.x, -1, self._dtype)
            group = by_length.setdefault(case.x.shape[1], [])
            group.append((case, "corpus", oracle, None))
            if not case.special:
                copies = self._shifted_copies(case, oracle)
                if self.profile.compact_shapes:
                    group += copies
                else:
                    separate += copies
        self._repeat_on_cpu = self.cell.device == "cpu"
        for group in by_length.values():
            stacked = np.concatenate([c.x for c, *_ in group])
            if self.profile.compact_shapes:
                y, error = self._call_rows(stacked, pair=True)
            else:
                y, error = self._call(stacked, -1, pair=True)
            pair = self._pair
            if error is not None or not isinstance(y, np.ndarray) or y.shape != stacked.shape:
                for case, role, oracle, reference in group:  # one bad case then costs only itself
                    self.observe(case, role, oracle=oracle, reference=reference)
                continue
            start = 0
            for case, role, oracle, reference in group:
                rows = case.x.shape[0]
                part = y[start : start + rows]
                part_pair = rows_of(pair, start, start + rows, stacked.shape)
                self.observe(
                    case, role, y=part, called=True, oracle=oracle, reference=reference, pair=part_pair
                )
                start += rows
        self._repeat_on_cpu = False
        for case, role, oracle, reference in separate:
            self.observe(case, role, oracle=oracle, reference=reference)

    def _shift_constant(self) -> float:
        thr = dtype_info(self._dtype).exp_overflow
        return float(2.0 ** np.ceil(np.log2(thr * 1.05)))

    def _shifted_copies(
        self, case: Case, oracle: OracleResult
    ) -> list[tuple[Case, str, OracleResult, OracleResult | None]]:
        """Rows of ``case`` shifted by +-c (c a power of two beyond the exp overflow threshold).

        Only regular rows whose shift is exact are kept, so that the exact softmax of
        the shifted row equals that of the original; they are judged against the
        original's oracle (shift invariance).
        """
        if "shift_invariance" not in self.applicable_properties():
            return []
        c = self._shift_constant()
        x = case.x
        x64 = x.astype(np.float64)
        regular = np.asarray(oracle.kinds == "regular")
        copies = []
        for sign in (1.0, -1.0):
            shifted = (x64 + sign * c).astype(self._dtype)
            exact_rows = np.all(shifted.astype(np.float64) - sign * c == x64, axis=1)
            keep = exact_rows & regular & np.all(np.abs(x64) < c, axis=1)
            if not np.any(keep):
                continue
            name = f"{case.name}{'+' if sign > 0 else '-'}{c:g}"
            shifted_case = Case(name, np.ascontiguousarray(shifted[keep]), -1, f"shifted by {sign * c:+g}")
            shifted_oracle = oracle_for(self.cell.impl.op, shifted_case.x, -1, self._dtype)
            reference = oracle_for(self.cell.impl.op, np.ascontiguousarray(x[keep]), -1, self._dtype)
            copies.append((shifted_case, "shifted", shifted_oracle, reference))
        return copies

    def _run_hypothesis(self) -> None:
        if self.profile.hypothesis_examples <= 0:
            return
        op = self.cell.impl.op

        @seed(self.seed)
        @settings(
            max_examples=self.profile.hypothesis_examples,
            database=None,
            deadline=None,
            derandomize=False,
            phases=[Phase.generate, Phase.target],
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
        )
        @given(batches(self.cell.dtype, op, layouts=self.profile.hypothesis_layouts))
        def explore(case: Case) -> None:
            obs = self.observe(case, "hypothesis")
            if obs.y is not None and obs.shape_error is None:
                result = PROPERTIES["precision"].judge(case.x, obs.y, obs.oracle, op, self._dtype, case.axis)
                ratio = result.metric[result.applicable] / np.maximum(result.bound[result.applicable], 1e-300)
                score = float(np.max(ratio)) if ratio.size else 0.0
                target(score if np.isfinite(score) else 1e6, label="ulp error / tolerance")

        try:
            explore()
        except Exception as exc:
            self.hypothesis_error = short_error(exc) + "\n" + traceback.format_exc(limit=3)
