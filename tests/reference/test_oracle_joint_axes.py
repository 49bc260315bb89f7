"""Joint axes (a tuple of axes, axis=None): ``reference.axes`` and the oracle over joint axes.

The oracle's answer over joint axes is checked against mpmath at 40 digits, computed slice by slice
with explicit loops over the index space (no transpose, no reshape: independent of
``reference.axes``), then rounded once to the dtype.
"""

from __future__ import annotations

import itertools

import mpmath
import numpy as np
import pytest

from reference import oracle
from reference.axes import joint_last, joint_length, normalize_axes, restore
from reference.rounding import round_to_dtype


@pytest.mark.parametrize(
    ("axis", "ndim", "expected"),
    [
        (-1, 3, (2,)),
        ((1, 2), 3, (1, 2)),
        ((2, 0), 3, (0, 2)),
        ((-1, -2), 3, (1, 2)),
        ((-3, -1), 3, (0, 2)),
        (None, 2, (0, 1)),
        (None, 3, (0, 1, 2)),
        (np.int64(1), 2, (1,)),
        (None, 0, ()),
        (-1, 0, ()),
    ],
)
def test_normalize_axes(axis, ndim, expected):
    assert normalize_axes(axis, ndim) == expected


@pytest.mark.parametrize(("axis", "ndim"), [((0, 3), 3), (3, 3), (-4, 3), ((0, -3), 3), ((), 2), ((0, 1), 0)])
def test_normalize_axes_rejects_bad_axes(axis, ndim):
    with pytest.raises(ValueError):
        normalize_axes(axis, ndim)


def test_normalize_axes_rejects_a_repeated_axis():
    with pytest.raises(ValueError, match="twice"):
        normalize_axes((1, -2), 3)


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 4, 5), (4, 6)])
def test_joint_last_then_restore_is_the_identity(shape):
    x = np.arange(np.prod(shape)).reshape(shape)
    ndim = len(shape)
    forms = [None] + [c for r in (1, 2, 3) for c in itertools.combinations(range(-ndim, 0), r)]
    for axis in forms:
        flat = joint_last(x, axis)
        axes = normalize_axes(axis, ndim)
        assert flat.shape[-1] == joint_length(shape, axis) == np.prod([shape[a] for a in axes])
        np.testing.assert_array_equal(restore(flat, shape, axis), x)


def test_joint_last_groups_exactly_the_entries_of_each_joint_slice():
    x = np.arange(60).reshape(3, 4, 5)
    flat = joint_last(x, (0, 2))  # slices indexed by the remaining axis 1
    for j in range(4):
        assert sorted(flat[j].tolist()) == sorted(x[:, j, :].reshape(-1).tolist())
    assert joint_last(x, None).shape == (60,)


def _mp_slice(op: str, values: list[float]) -> list[mpmath.mpf]:
    with mpmath.workdps(40):
        xs = [mpmath.mpf(v) for v in values]
        if op == "sum_normalize":
            total = mpmath.fsum(xs)
            return [v / total for v in xs]
        lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in xs))
        return [v - lse if op == "log_softmax" else mpmath.exp(v - lse) for v in xs]


def _mpmath_joint(op: str, x: np.ndarray, axis) -> np.ndarray:
    """The exact result by brute force: for each index of the remaining axes, collect the joint
    slice's entries with an explicit loop, compute in mpmath, and write them back in place."""
    axes = set(range(x.ndim)) if axis is None else {a % x.ndim for a in axis}
    out = np.empty(x.shape, dtype=np.float64)
    rest = [d for d in range(x.ndim) if d not in axes]
    for outer in itertools.product(*(range(x.shape[d]) for d in rest)):
        index = [
            idx
            for idx in itertools.product(*(range(n) for n in x.shape))
            if all(idx[d] == o for d, o in zip(rest, outer, strict=True))
        ]
        for idx, value in zip(index, _mp_slice(op, [float(x[i]) for i in index]), strict=True):
            out[idx] = float(value)
    return out


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "sum_normalize"])
@pytest.mark.parametrize(
    ("shape", "axis"),
    [((3, 4, 5), (1, 2)), ((3, 4, 5), (0, 2)), ((3, 4, 5), (-1, -2)), ((4, 6), None), ((2, 3, 4), None)],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_oracle_over_joint_axes_matches_mpmath(op, shape, axis, dtype):
    rng = np.random.default_rng(7)
    x = (rng.random(shape) * 6 + 0.5).astype(dtype)
    got = oracle.evaluate(op, x, axis)
    # mpmath's value rounded to float64, then to the dtype: a double rounding that differs from the
    # single correct rounding only within 2^-29 ULP of a midpoint (none of these inputs is).
    want = round_to_dtype(_mpmath_joint(op, x, axis), np.dtype(dtype))
    assert got.dtype == np.dtype(dtype) and got.shape == x.shape
    np.testing.assert_array_equal(got, want)


def test_oracle_over_every_axis_differs_from_the_last_axis():
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    assert abs(oracle.softmax(x, axis=None).sum() - 1) < 1e-15
    assert not np.allclose(oracle.softmax(x, axis=None), oracle.softmax(x, axis=-1))
