"""Standalone repro snippets: the failing input, the call, and the oracle's answer.

A snippet needs only NumPy and the framework (and ``ml_dtypes`` for bfloat16,
which NumPy has no name for). Values are written as the shortest decimal that
round-trips through float64; every value is representable in its dtype, so the
conversion back is exact.
"""

from __future__ import annotations

import base64
import zlib

import numpy as np

from conformance.adapters.base import Implementation
from reference.axes import Axis
from reference.dtypes import dtype_name


def _literal(v: float) -> str:
    if np.isnan(v):
        return "np.nan"
    if np.isinf(v):
        return "np.inf" if v > 0 else "-np.inf"
    return repr(float(v))


# Beyond this many elements an array is written as base64 of its zlib-compressed float64 bytes
# (standard library only), so a 30,000-element failing input does not make a megabyte of source.
INLINE_LIMIT = 256


def array_literal(a: np.ndarray) -> str:
    """Python source that rebuilds ``a`` exactly (values, shape, dtype).

    Small arrays are written as decimal literals; larger ones as
    ``np.frombuffer(zlib.decompress(base64.b64decode(...)))``, which needs the
    snippet to import ``base64`` and ``zlib`` (``repro_snippet`` adds them).
    """
    a = np.asarray(a)
    name = dtype_name(a.dtype)
    dtype_src = "ml_dtypes.bfloat16" if name == "bfloat16" else f"np.{name}"
    if a.size > INLINE_LIMIT:
        packed = base64.b64encode(zlib.compress(a.astype("<f8").tobytes(), 6)).decode("ascii")
        src = f'np.frombuffer(zlib.decompress(base64.b64decode("{packed}")), dtype="<f8")'
        return f"{src}.reshape({a.shape!r}).astype({dtype_src})"
    flat = ", ".join(_literal(v) for v in a.astype(np.float64).reshape(-1))
    src = f"np.array([{flat}], dtype=np.float64)"
    if a.ndim != 1:
        src += f".reshape({a.shape!r})"
    return f"{src}.astype({dtype_src})"


def _header(impl: Implementation, x: np.ndarray, axis: Axis, device: str, *others: np.ndarray) -> list[str]:
    """Imports (ml_dtypes for bfloat16, base64/zlib for packed arrays), then x, axis and device."""
    arrays = (x, *others)
    lines = [impl.imports]
    if max(a.size for a in arrays) > INLINE_LIMIT:
        lines.append("import base64\nimport zlib")
    if any(dtype_name(a.dtype) == "bfloat16" for a in arrays) and "ml_dtypes" not in impl.imports:
        lines.append("import ml_dtypes")
    return [*lines, "", f"x = {array_literal(x)}", f"axis = {axis}", f"device = {device!r}"]


def repro_snippet(impl: Implementation, x: np.ndarray, axis: Axis, device: str, expected: np.ndarray) -> str:
    """A script that prints the implementation's output and the oracle's correctly rounded answer."""
    lines = [
        *_header(impl, x, axis, device, expected),
        impl.snippet.strip(),
        f"expected = {array_literal(expected)}  # the oracle, correctly rounded",
        "np.set_printoptions(precision=17)",
        'print("got:     ", np.asarray(y).astype(np.float64))',
        'print("expected:", expected.astype(np.float64))',
    ]
    return "\n".join(lines) + "\n"


def device_repro(impl: Implementation, x: np.ndarray, axis: Axis, device: str, compare_with: str) -> str:
    """A script that makes the call on ``device`` and again (``"repeat"``), on the CPU (``"cpu"``) or in
    eager mode (``"eager"``: the implementation's ``eager_snippet``), and prints both outputs."""
    second = {"repeat": device, "cpu": "cpu", "eager": device}[compare_with]
    second_snippet = impl.eager_snippet if compare_with == "eager" else impl.snippet
    labels = (impl.mode, "eager") if compare_with == "eager" else (device, second)
    lines = [
        *_header(impl, x, axis, device),
        impl.snippet.strip(),
        "first = np.asarray(y)",
        f"device = {second!r}",
        second_snippet.strip(),
        "second = np.asarray(y)",
        "np.set_printoptions(precision=17)",
        f'print("{labels[0]}:", first.astype(np.float64))',
        f'print("{labels[1]}:", second.astype(np.float64))',
        'print("bitwise equal:", first.tobytes() == second.tobytes())',
    ]
    return "\n".join(lines) + "\n"


def gradient_repro(
    impl: Implementation, x: np.ndarray, g: np.ndarray, axis: Axis, device: str, expected: np.ndarray
) -> str:
    """A script that prints the implementation's gradient for cotangent ``g`` and the exact one, rounded."""
    lines = [
        *_header(impl, x, axis, device, g, expected),
        f"g = {array_literal(g)}  # the cotangent",
        impl.vjp_snippet.strip(),
        f"expected = {array_literal(expected)}  # the exact vector-Jacobian product, correctly rounded",
        "np.set_printoptions(precision=17)",
        'print("got:     ", np.asarray(gx).astype(np.float64))',
        'print("expected:", expected.astype(np.float64))',
    ]
    return "\n".join(lines) + "\n"


def rebase_repro(text: str | None, canonical: Implementation, alias: Implementation) -> str | None:
    """``text``, a repro made for ``canonical``, made to run ``alias`` instead (an alias cell that
    inherited the canonical's verdict: its outputs are the same bit for bit, so is its failure).

    The canonical's imports and snippets (backward, eager, forward) are replaced by the alias's
    wherever they appear whole; everything else (the input, the expected output) stays.
    """
    if not text:
        return text
    pairs = (
        (canonical.imports, alias.imports),
        (canonical.vjp_snippet.strip(), alias.vjp_snippet.strip()),
        (canonical.eager_snippet.strip(), alias.eager_snippet.strip()),
        (canonical.snippet.strip(), alias.snippet.strip()),
    )
    for old, new in pairs:
        if old and new and old != new:
            text = text.replace(old, new)
    return text
