"""The adapter kit (``conformance.adapters.base``): specs, availability with a reason, device names,
``module:attribute`` registration, and an adapter written on it in a few lines."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.adapters import BUILTIN_ADAPTERS, AdapterLoadError, all_adapters, resolve
from conformance.adapters.base import (
    IMPORT_FAILED,
    NOT_INSTALLED,
    VERSION_TOO_OLD,
    ApiSpec,
    FrameworkAdapter,
    SourceAdapter,
    composite_specs,
    parse_device,
)


class Cube(SourceAdapter):
    """A whole adapter: one spec, its snippet being the implementation."""

    name, module = "cube", "numpy"
    specs = (ApiSpec("x3/sum", "sum_normalize", "y = x**3 / (x**3).sum(axis, keepdims=True)"),)


def test_a_source_adapter_runs_its_snippet_and_refuses_unknown_devices():
    (impl,) = Cube().implementations()
    assert (impl.id, impl.snippet, impl.vjp) == ("cube-x3/sum-eager", Cube.specs[0].source, None)
    x = np.array([[1.0, 2.0]], np.float32)
    np.testing.assert_array_equal(impl.call(x, -1, "cpu"), np.array([[1 / 9, 8 / 9]], np.float32))
    with pytest.raises(ValueError, match=r"unknown cube device 'cuda:0'; valid: cpu"):
        impl.call(x, -1, "cuda:0")


def test_compiled_modes_carry_the_eager_call_and_composites_are_specs():
    class Twice(Cube):
        name = "twice"
        specs = (ApiSpec("x3/sum", "sum_normalize", Cube.specs[0].source, ("eager", "jit")),)

    eager, jit = Twice().implementations()
    assert eager.eager_call is None and jit.eager_call is eager.call and jit.eager_snippet == eager.snippet
    scaled, renorm = composite_specs("sm({}, axis)", "total({})", ("jit",))
    assert (scaled.source, renorm.source) == ("sm(t / 3.0, axis)", "(lambda s: s / total(s))(sm(t, axis))")
    assert scaled.modes == renorm.modes == ("jit",) and scaled.operation and renorm.operation


def test_parse_device():
    assert parse_device("fw", "cpu", 0) is None and parse_device("fw", "cuda:1", 2) == 1
    for bad in ("cuda:2", "gpu:0", "cuda:x"):
        with pytest.raises(ValueError, match=rf"unknown fw device '{bad}'; valid: cpu, cuda:0, cuda:1"):
            parse_device("fw", bad, 2)


def test_availability_records_why():
    class Raises(FrameworkAdapter):
        name, module = "raises", "numpy"

        def load(self):
            raise OSError("libfoo.so: cannot open shared object file\nsecond line")

    class Old(FrameworkAdapter):
        name, module, min_version = "old", "numpy", "999.1"

    class Absent(FrameworkAdapter):
        name, module = "absent", "no_such_module_for_the_kit"

    state = Raises().availability()
    assert (state.status, state.reason) == (
        IMPORT_FAILED,
        "OSError: libfoo.so: cannot open shared object file",
    )
    assert not Raises().available() and Raises().unavailable_reason == state.reason
    old = Old().availability()
    assert (
        old.status == VERSION_TOO_OLD and old.reason == f"numpy {np.__version__} found, 999.1 or newer needed"
    )
    assert Old().version() is None
    assert Absent().availability().status == NOT_INSTALLED and not Absent().installed()
    fine = Cube()
    assert fine.available() and fine.unavailable_reason is None and fine.version() == np.__version__


def test_registrations_are_module_attribute_and_checked():
    assert all(":" in ref for ref in BUILTIN_ADAPTERS.values())
    assert all_adapters()["keras-jax"] is resolve("conformance.adapters.keras_adapter:KERAS_JAX")
    with pytest.raises(AdapterLoadError, match="expected module:attribute"):
        resolve("conformance.adapters.numpy_adapter")
    with pytest.raises(AdapterLoadError, match="failed to load: ModuleNotFoundError"):
        resolve("no_such_pkg.adapter:ADAPTER")
    with pytest.raises(AdapterLoadError, match="is a tuple, not a FrameworkAdapter instance"):
        resolve("conformance.adapters.keras_adapter:BACKENDS")
