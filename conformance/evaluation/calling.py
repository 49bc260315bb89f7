"""Calling the implementation: timed calls, row padding to shared shapes, paired calls.

The contract: every call of the implementation under evaluation goes through ``CallingMixin``
(the probe, the corpus, the Hypothesis search, the shrinker, the sample). ``_call`` returns
(output, None) or (None, the exception in one line) and never raises; it counts the call and
its seconds (less compile time in compiled modes, ``timing``). With ``pair=True`` it also makes
the paired calls the device properties compare with (the same call again, on the CPU, in eager
mode), leaving their outputs in ``_pair`` and their failures in ``pair_errors``.
``_call_rows`` pads a row batch to a bucket of rows so compiled modes reuse one compiled shape.
"""

from __future__ import annotations

import time

import numpy as np

from conformance.call_log import LoggedCall
from conformance.outcome import short_error
from reference.axes import Axis
from reference.dtypes import dtype_from_name

# Row counts that stacked row batches are padded up to (see ``CallingMixin._call_rows``).
# Every generated row batch (at most 16 rows) and most corpus groups fit the first bucket.
ROW_BUCKETS = (64, 512, 4096, 32768)
# Rows longer than 1,024 elements. A length's corpus rows and their shifted copies make one group
# (long_axis: 4 rows and 8 copies; beyond_float16_max: 3 and 6), padded to the next bucket: 16
# keeps those calls at 16 rows instead of 64 (one bucket per length either way, so no more shapes).
LONG_ROW_BUCKETS = (8, 16, 64, 512)


def probe_input(dtype: str) -> np.ndarray:
    """The first input every cell is called on, ``[[0, 1, 2]]``: does it run at all (or decline)?"""
    return np.array([[0.0, 1.0, 2.0]], dtype=np.float64).astype(dtype_from_name(dtype))


def rows_of(
    pair: tuple[np.ndarray | None, ...], start: int, stop: int, shape: tuple[int, ...]
) -> tuple[np.ndarray | None, ...]:
    """Rows ``start:stop`` of each output of ``pair`` that has the called input's ``shape`` (else None)."""
    return tuple(  # type: ignore[return-value]
        y[start:stop] if isinstance(y, np.ndarray) and y.shape == tuple(shape) else None for y in pair
    )


class CallingMixin:
    """The calls of ``CellEvaluation`` (its ``cell``, ``calls``, ``call_seconds``, ``compile_seconds``,
    ``compiles``, ``_compiled_keys``, ``paired``, ``_repeat_on_cpu``, ``_pair``, ``pair_errors``,
    ``_last_exception``, ``call_log`` and ``gradients`` fields)."""

    def _call(self, x: np.ndarray, axis: int, pair: bool = False) -> tuple[np.ndarray | None, str | None]:
        y, error = self._timed_call(x, axis)
        if pair:  # after the timed call, which must be the first of a compiled shape
            # A call that raised has nothing to compare (its error is reported as such).
            called = error is None and isinstance(y, np.ndarray)
            self._pair = self._paired_calls(x, axis) if called else (None, None, None)
        return y, error

    def _timed_call(self, x: np.ndarray, axis: int) -> tuple[np.ndarray | None, str | None]:
        key = (x.shape, str(x.dtype), axis)
        first = self.cell.impl.mode != "eager" and key not in self._compiled_keys
        start = time.perf_counter()
        self.calls += 1
        y = None
        try:
            with np.errstate(all="ignore"):
                y = self.cell.impl.call(x, axis, self.cell.device)
                self._log("call", x, axis, self.cell.device, y, None)
                if first:
                    self._compiled_keys.add(key)
                    first_seconds = time.perf_counter() - start
                    again = time.perf_counter()
                    self.cell.impl.call(x, axis, self.cell.device)
                    self.compile_seconds += max(first_seconds - (time.perf_counter() - again), 0.0)
                    self.compiles += 1
                    start += time.perf_counter() - again  # the second call is not run time
        except Exception as exc:
            self._last_exception = exc
            # The call raised, or (y set) the second call of a new compiled shape did: logged too.
            self._log("call", x, axis, self.cell.device, None, short_error(exc))
            return None, short_error(exc)
        finally:
            self.call_seconds += time.perf_counter() - start
        return y, None

    def _log(self, kind: str, x: np.ndarray, axis: Axis, device: str, y, error: str | None) -> None:
        """Keep the call in ``call_log`` (cells whose aliases will replay it; None: not kept)."""
        if self.call_log is not None:
            self.call_log.append(LoggedCall(kind, x, axis, device, None, y, error))

    def timing(self) -> dict:
        """Seconds spent in the implementation: forward run time, compile time (compiled modes), backward."""
        timing = {
            "calls": self.calls,
            "run_seconds": round(max(self.call_seconds - self.compile_seconds, 0.0), 4),
            "compile_seconds": round(self.compile_seconds, 4),
            "compiles": self.compiles,
            "backward_seconds": round(self.gradients.call_seconds, 4) if self.gradients else None,
        }
        if self.alias_check is not None:  # an alias judged in full: where it differed from its canonical
            timing["alias_check"] = self.alias_check
        return timing

    def _call_rows(self, x: np.ndarray, pair: bool = False) -> tuple[np.ndarray | None, str | None]:
        """Call on a C-contiguous 2-D ``x`` along its last axis, padded with filler rows to a bucket.

        Compiled modes compile once per input shape; padding the row count up to a
        bucket (rows of ones, never judged) lets batches of one length share a
        compiled shape. Slices are independent, so the filler cannot change a row's
        result in a correct implementation. A wrong-shaped output comes back as is.
        """
        rows = x.shape[0]
        buckets = ROW_BUCKETS if x.shape[1] <= 1024 else LONG_ROW_BUCKETS
        bucket = next((b for b in buckets if b >= rows), rows)
        if bucket == rows:
            return self._call(x, -1, pair)
        padded = np.concatenate([x, np.ones((bucket - rows, x.shape[1]), dtype=x.dtype)])
        y, error = self._call(padded, -1, pair)
        if error is None and isinstance(y, np.ndarray) and y.shape == padded.shape:
            y = y[:rows]
            self._pair = rows_of(self._pair, 0, rows, padded.shape)
        return y, error

    def _paired_calls(self, x: np.ndarray, axis: int) -> tuple[np.ndarray | None, ...]:
        """The same call again on the device, on the CPU, and in eager mode (None where not made or raising).

        Repeated: on a non-CPU device always, on the CPU for the corpus' stacked calls.
        On the CPU: non-CPU cells. In eager mode: compiled modes (``eager_call``).
        """
        impl = self.cell.impl
        calls = (
            ("repeat", impl.call, self.cell.device) if self.paired or self._repeat_on_cpu else None,
            ("cpu", impl.call, "cpu") if self.paired else None,
            ("eager", impl.eager_call, self.cell.device) if impl.eager_call is not None else None,
        )
        outputs: list[np.ndarray | None] = []
        for spec in calls:
            y, problem = None, None
            if spec is not None:
                kind, call, device = spec
                try:
                    with np.errstate(all="ignore"):
                        y = call(x, axis, device)
                except Exception as exc:
                    y, problem = None, short_error(exc)
                self._log("eager" if kind == "eager" else "call", x, axis, device, y, problem)
                if problem is None and not isinstance(y, np.ndarray):
                    problem = f"returned a {type(y).__name__}, not an array"
                elif problem is None and y.shape != x.shape:
                    problem = f"returned shape {y.shape} for input shape {x.shape}"
                if problem is not None:
                    count, first = self.pair_errors.get(kind, (0, problem))
                    self.pair_errors[kind] = (count + 1, first)
                    y = None
            outputs.append(y)
        return tuple(outputs)
