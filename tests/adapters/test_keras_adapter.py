"""The Keras 3 adapters (``keras-jax``, ``keras-torch``, ``keras-tensorflow``).

Keras fixes its backend when ``keras`` is first imported, so every check of one
backend runs in a subprocess of its own (the test process never imports Keras):
the adapter's process computes, a second fresh process runs the repro snippets
and compares them bit for bit. The worker is started with ``KERAS_BACKEND`` set
to another backend, so the adapter must override it for its import (and restore
it afterwards).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

BACKENDS = ("jax", "torch", "tensorflow")
APIS = [
    "ops.softmax",
    "ops.log_softmax",
    "activations.softmax",
    "layers.Softmax",
    "layers.Softmax-mask",
    "layers.Softmax-mask-neginf",
    "x/ops.sum",
    "ops.normalize-order1",
]

if importlib.util.find_spec("keras") is None:
    pytest.skip("keras is not installed", allow_module_level=True)

# The inputs both processes build: (x, axis) pairs, a strided view among them.
_INPUTS = """
import ml_dtypes
import numpy as np

def inputs():
    rng = np.random.default_rng(7)
    a = rng.normal(0.0, 3.0, size=(3, 7)).astype(np.float32)
    a[0, 2] = -np.inf  # a masked entry
    b = rng.uniform(0.25, 4.0, size=(4, 3, 5)).astype(ml_dtypes.bfloat16).transpose(2, 0, 1)
    c = rng.normal(0.0, 1.0, size=(2, 9)).astype(np.float16)
    d = rng.uniform(0.25, 4.0, size=(2, 6)).astype(np.float64)
    return [(a, -1), (b, 1), (c, -1), (d, 0)]

def cotangent(x):
    # a fixed cotangent of the input's shape and dtype, 0 at -inf entries (masked outputs not read)
    g = np.linspace(-1.0, 1.0, x.size).reshape(x.shape)
    return np.where(np.isneginf(x.astype(np.float64)), 0.0, g).astype(x.dtype)
"""

# The adapter's process: contract, conversions, the mask variant, outputs for the snippet check.
_WORKER = (
    _INPUTS
    + """
import json, os, sys
import reference
from conformance.adapters import get_adapter

backend, out_dir = sys.argv[1], sys.argv[2]
env_before = os.environ.get("KERAS_BACKEND")
adapter = get_adapter(f"keras-{backend}")
res = {"installed": adapter.installed(), "available": adapter.available()}
res["reason"] = adapter.unavailable_reason
res["env_restored"] = os.environ.get("KERAS_BACKEND") == env_before
res["version"], res["devices"] = adapter.version(), adapter.devices()
details = adapter.device_details()
res["keras_backend"], res["x64"] = details["keras_backend"], details.get("jax_enable_x64")
impls = {impl.api: impl for impl in adapter.implementations()}
res["apis"] = list(impls)
res["frameworks"] = sorted({impl.framework for impl in impls.values()})
res["imports_set_backend"] = all(
    f'os.environ["KERAS_BACKEND"] = "{backend}"' in i.imports
    and i.imports.index("KERAS_BACKEND") < i.imports.index("import keras")
    for i in impls.values()
)

import keras

# Conversions: every float16 and bfloat16 bit pattern, there and back.
bits = np.arange(2**16, dtype=np.uint32).astype(np.uint16)
res["round_trip"] = {}
with keras.device("cpu:0"):
    for name, x in (("bfloat16", bits.view(ml_dtypes.bfloat16)), ("float16", bits.view(np.float16))):
        t = keras.ops.convert_to_tensor(x)
        back = keras.ops.convert_to_numpy(t)
        nan = np.isnan(x.astype(np.float32))
        res["round_trip"][name] = {
            "tensor_dtype": keras.backend.standardize_dtype(t.dtype),
            "dtype": str(back.dtype),
            "exact": back.dtype == x.dtype and back[~nan].tobytes() == x[~nan].tobytes(),
            "nan_kept": bool(np.isnan(back[nan].astype(np.float32)).all()),
        }
res["call_dtypes"] = {
    name: str(impls["ops.softmax"].call(np.ones((2, 3), dtype), -1, "cpu").dtype)
    for name, dtype in (("bfloat16", ml_dtypes.bfloat16), ("float16", np.float16), ("float64", np.float64))
}

# The mask variant: rows with some -inf entries against the oracle; observed behaviour otherwise.
mask = impls["layers.Softmax-mask"]
x = np.array([[-np.inf, 0.0, 1.0, 2.5], [3.0, -np.inf, -np.inf, -1.0], [0.5, 0.25, -2.0, 1.0]], np.float32)
y = mask.call(x, -1, "cpu")
exact = reference.softmax(x, -1)
res["mask_dtype"] = str(y.dtype)
res["mask_ulp"] = float(np.max(reference.ulp_distance(y, exact)))
res["mask_zeros_exact"] = bool(np.all(y[np.isneginf(x)] == 0.0))
res["mask_all_neginf"] = mask.call(np.full((1, 4), -np.inf, np.float32), -1, "cpu").tolist()
res["mask_very_negative"] = mask.call(np.array([[-np.inf, -2e9, -3e9]], np.float32), -1, "cpu").tolist()

# Outputs for the snippet check (contiguous bytes, dtype name).
saved = {}
for api, impl in impls.items():
    for k, (xi, axis) in enumerate(inputs()):
        yi = np.ascontiguousarray(impl.call(xi, axis, "cpu"))
        saved[f"{api}|{k}"] = [str(yi.dtype), list(yi.shape), yi.tobytes().hex()]
        gi = np.ascontiguousarray(impl.vjp(xi, cotangent(xi), axis, "cpu"))
        saved[f"{api}|{k}|vjp"] = [str(gi.dtype), list(gi.shape), gi.tobytes().hex()]
# The backward pass through the backend's autodiff: the masked entry gets exactly zero gradient.
gm = mask.vjp(x, np.where(np.isneginf(x), 0, 1).astype(np.float32), -1, "cpu")
res["mask_grad_zero"] = bool(np.all(gm[np.isneginf(x)] == 0.0)) and bool(np.all(np.isfinite(gm)))
with open(os.path.join(out_dir, "outputs.json"), "w") as fh:
    json.dump(saved, fh)

# Another backend in this process: unavailable, with the reason.
other = get_adapter(f"keras-{'torch' if backend == 'jax' else 'jax'}")
res["other_available"], res["other_reason"] = other.available(), other.unavailable_reason
print("RESULT " + json.dumps(res))
"""
)

# A fresh process: each implementation's imports and snippet, compared with the saved outputs.
_SNIPPETS = (
    _INPUTS
    + """
import json, os, sys
from conformance.adapters import get_adapter

backend, out_dir = sys.argv[1], sys.argv[2]
saved = json.load(open(os.path.join(out_dir, "outputs.json")))
mismatches, compared = [], 0
for impl in get_adapter(f"keras-{backend}").implementations():
    for k, (x, axis) in enumerate(inputs()):
        namespace = {}
        exec(impl.imports, namespace)
        namespace.update(x=x, axis=axis, device="cpu")
        exec(impl.snippet, namespace)
        y = np.ascontiguousarray(namespace["y"])
        dtype, shape, data = saved[f"{impl.api}|{k}"]
        compared += 1
        if str(y.dtype) != dtype or list(y.shape) != shape or y.tobytes().hex() != data:
            mismatches.append(f"{impl.api} input {k}: {y.dtype}{list(y.shape)} vs {dtype}{shape}")
        namespace = {}
        exec(impl.imports, namespace)
        namespace.update(x=x, g=cotangent(x), axis=axis, device="cpu")
        exec(impl.vjp_snippet, namespace)
        gx = np.ascontiguousarray(namespace["gx"])
        dtype, shape, data = saved[f"{impl.api}|{k}|vjp"]
        if str(gx.dtype) != dtype or list(gx.shape) != shape or gx.tobytes().hex() != data:
            mismatches.append(f"{impl.api} input {k} vjp: {gx.dtype}{list(gx.shape)} vs {dtype}{shape}")
import keras
snip = {"compared": compared, "mismatches": mismatches, "backend": keras.config.backend()}
print("RESULT " + json.dumps(snip))
"""
)


def _run(script: str, backend: str, out_dir: Path, env_backend: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if env_backend is not None:
        env["KERAS_BACKEND"] = env_backend
    proc = subprocess.run(
        [sys.executable, "-c", script, backend, str(out_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])


@pytest.mark.parametrize("backend", BACKENDS)
def test_keras_backend(backend: str, tmp_path: Path) -> None:
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    other_env = "numpy" if backend != "jax" else "torch"  # the adapter must override it
    res = _run(_WORKER, backend, tmp_path, env_backend=other_env)

    # The contract: available on its own backend, one framework name, every API.
    assert res["installed"] and res["available"] and res["reason"] is None, res
    assert res["keras_backend"] == backend and res["env_restored"]
    assert res["version"] and res["devices"][0] == "cpu"
    assert res["frameworks"] == [f"keras-{backend}"] and res["apis"] == APIS
    assert res["imports_set_backend"]
    if backend == "jax":
        assert res["x64"] is True  # float64 stays float64

    # Conversions are exact and keep the dtype; bfloat16 comes back as ml_dtypes.bfloat16.
    for name in ("bfloat16", "float16"):
        rt = res["round_trip"][name]
        assert rt == {"tensor_dtype": name, "dtype": name, "exact": True, "nan_kept": True}, (name, rt)
    assert res["call_dtypes"] == {"bfloat16": "bfloat16", "float16": "float16", "float64": "float64"}

    # The mask variant computes the oracle's softmax on slices with some -inf entries ...
    assert res["mask_dtype"] == "float32"
    assert res["mask_zeros_exact"] and res["mask_ulp"] <= 4, res["mask_ulp"]
    # ... and, observed behaviour (not the oracle's NaN): an all -inf slice is all zeros since
    # Keras 3.10 (keras-team/keras#21149 zeroes masked outputs; earlier releases gave a uniform
    # row), and unmasked logits below -1e9 lose to the masked positions' -1e9.
    version = tuple(int(p) for p in res["version"].split(".")[:2])
    all_masked = res["mask_all_neginf"][0]
    assert all_masked == ([0.0] * 4 if version >= (3, 10) else [0.25] * 4), all_masked
    assert res["mask_very_negative"] == [[0.0, 0.0, 0.0]]
    assert res["mask_grad_zero"], "the masked entry must get exactly zero, finite gradient"

    # Another backend cannot load in the same process, and says why.
    assert res["other_available"] is False
    assert f"backend {backend!r}" in res["other_reason"] and "process of its own" in res["other_reason"]

    # The repro snippets reproduce every output bit for bit in a fresh process.
    snip = _run(_SNIPPETS, backend, tmp_path, env_backend=None)
    assert snip["backend"] == backend
    assert snip["compared"] == len(APIS) * 4 and not snip["mismatches"], snip["mismatches"]
