"""Adapters on old framework releases: an absent API or a broken setting is handled, never an error.

Each test fakes the old release's behaviour (the objects it calls, the message it raises), so it
runs wherever the suite runs; the real releases (torch 2.0.1, TensorFlow 2.15.1 with Keras 2.15,
JAX 0.4.26) were run by hand: README.md, "Supported releases".
"""

from __future__ import annotations

import types

import numpy as np
import pytest

from conformance.adapters import keras_adapter, torch_adapter
from conformance.adapters.base import decline_reason
from conformance.adapters.jax_adapter import declining_absent_where
from conformance.adapters.tensorflow_adapter import drop_broken_persistent_cache
from conformance.errors import ApiNotAvailable

CACHE = "--tf_xla_persistent_cache_directory=/tmp/c/tensorflow"


class _OldMatmul:
    """torch < 2.1's ``torch.backends.cuda.matmul``: an unknown attribute is an AssertionError."""

    allow_tf32 = False
    allow_fp16_reduced_precision_reduction = True

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"Unknown attribute {name}")


def _old_torch() -> types.ModuleType:
    torch = types.ModuleType("fake_torch_2_0")  # no _dynamo attribute, no importable submodule
    torch.__version__ = "2.0.1"
    torch.get_float32_matmul_precision = lambda: "highest"
    torch.are_deterministic_algorithms_enabled = lambda: False
    torch.backends = types.SimpleNamespace(
        cuda=types.SimpleNamespace(matmul=_OldMatmul()),
        cudnn=types.SimpleNamespace(deterministic=False, benchmark=False),
    )
    return torch


def test_torch_getattr_probe_survives_assertion_error() -> None:
    details = torch_adapter._gpu_details(_old_torch(), cuda=False)
    assert details["matmul_fp32_precision"] is None
    assert details["matmul_allow_bf16_reduced_precision_reduction"] is None
    assert details["matmul_allow_fp16_reduced_precision_reduction"] is True  # present: read
    assert details["float32_matmul_precision"] == "highest"


def test_torch_without_dynamo_says_so() -> None:
    settings = torch_adapter._compile_settings(_old_torch())
    assert settings == {"available": False, "reason": "torch 2.0.1 has no torch._dynamo"}


def test_probe_lets_other_exceptions_through() -> None:
    class Broken:
        @property
        def x(self) -> object:
            raise RuntimeError("CUDA driver failure")

    with pytest.raises(RuntimeError):
        torch_adapter.probe(Broken(), "x")


@pytest.mark.parametrize(
    ("version", "flags", "left"),
    [
        ("2.15.1", CACHE, None),
        (
            "2.15.0",
            f"--tf_xla_auto_jit=2 {CACHE} --xla_cpu_fast_math",
            "--tf_xla_auto_jit=2 --xla_cpu_fast_math",
        ),
    ],
)
def test_tf215_persistent_cache_is_turned_off_with_a_note(version: str, flags: str, left: str | None) -> None:
    env = {"TF_XLA_FLAGS": flags}
    note = drop_broken_persistent_cache(version, env)
    assert env.get("TF_XLA_FLAGS") == left
    assert note is not None and note.startswith(f"off: TensorFlow {version} fails every XLA compile")


@pytest.mark.parametrize(("version", "flags"), [("2.16.2", CACHE), ("2.21.0", CACHE), ("2.15.1", "--x=1")])
def test_tf_cache_is_kept_where_it_works(version: str, flags: str) -> None:
    env = {"TF_XLA_FLAGS": flags}
    assert drop_broken_persistent_cache(version, env) is None
    assert env == {"TF_XLA_FLAGS": flags}


def _raises(exc: Exception) -> object:
    def f(*args: object, **kwargs: object) -> object:
        raise exc

    return f


def test_jax_where_without_initial_is_unsupported() -> None:
    message = (
        "reduction operation max does not have an identity, so to use a where mask one has to "
        "specify 'initial'"
    )
    with pytest.raises(ApiNotAvailable) as caught:
        declining_absent_where(_raises(ValueError(message)))(1, axis=0)
    reason = decline_reason(caught.value, "float32")
    assert reason is not None and "accepts where= only with initial=" in reason


def test_jax_other_value_errors_stay_errors() -> None:
    with pytest.raises(ValueError, match="shape mismatch"):
        declining_absent_where(_raises(ValueError("shape mismatch")))(1, axis=0)
    assert declining_absent_where(lambda x, axis: x + 1)(1, axis=0) == 2


def test_keras2_cells_are_unsupported_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    keras2 = types.ModuleType("keras")
    keras2.__version__ = "2.15.0"  # no keras.config, keras.ops, keras.device
    monkeypatch.setitem(keras_adapter._loaded, "tensorflow", keras2)
    adapter = keras_adapter.KerasAdapter("tensorflow")
    impl = next(i for i in adapter.implementations() if i.api == "ops.softmax")
    with pytest.raises(ApiNotAvailable) as caught:
        impl.call(np.zeros((1, 3), np.float32), -1, "cpu")
    reason = decline_reason(caught.value, "float32")
    assert reason is not None and reason.startswith("ApiNotAvailable: keras 2.15.0 is Keras 2")
    assert adapter.availability().ok  # it loads, so its cells are reported, not "ok, 0 checks"
