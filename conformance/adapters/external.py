"""An implementation in any language: an external command that reads and writes ``.npy`` files.

The protocol (``--impl-command CMD``; ``CMD`` is split like a shell would, with
``shlex``, and run without a shell), once per call::

    CMD... IN.npy AXIS OUT.npy

* ``IN.npy``: the input, a NumPy ``.npy`` file (format 1.0, C order, the byte
  order its header states: little-endian on x86 and ARM). At least 1-D: a 0-d
  input is sent as shape ``(1,)`` and the result read back as 0-d. dtypes:
  ``<f2`` (float16), ``<f4`` (float32), ``<f8`` (float64), ``<i8`` (the integer
  case), and **bfloat16 as its raw bits, ``<u2``** (NumPy's format has no
  bfloat16: the value is ``uint32(bits) << 16`` read as a float32).
* ``AXIS``: a decimal integer, ``0 <= AXIS < ndim``, the axis to normalize along.
* ``OUT.npy``: the command writes the result there, same shape, in the dtype the
  result must have: the input's (bfloat16 again as ``<u2`` bits, which the suite
  reads back as bfloat16; a ``|V2`` array, as NumPy saves ml_dtypes' bfloat16, is
  accepted too), float64 for the integer case. Any other dtype is read as it is
  and reported as the wrong dtype. C or Fortran order, either byte order.
* Environment: ``SOFTMAX_CONFORMANCE_DTYPE`` (``float16``, ``bfloat16``,
  ``float32``, ``float64`` or ``int64``: how to read ``IN.npy``),
  ``SOFTMAX_CONFORMANCE_OP`` (``softmax``, ``log_softmax``, ``sum_normalize``) and
  ``SOFTMAX_CONFORMANCE_DEVICE`` (``cpu``, ``cuda:0``, ...), on top of the
  suite's own environment.
* Exit status 0 means success. A non-zero status, a missing or unreadable
  ``OUT.npy``, or running past the per-call limit (``--impl-timeout``; the whole
  process group is killed) is an error for that input, with the command's last
  line of stderr as the message; it never stops the run.

The files live in a fresh temporary directory per call, removed afterwards.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import ml_dtypes
import numpy as np

from conformance.adapters.base import OPS
from conformance.adapters.custom import (
    DEFAULT_NAME,
    DEFAULT_TIMEOUT,
    CustomImplementation,
    CustomImplError,
    validate_name,
)
from reference.dtypes import FLOAT_DTYPE_NAMES

BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
ENV_DTYPE = "SOFTMAX_CONFORMANCE_DTYPE"
ENV_OP = "SOFTMAX_CONFORMANCE_OP"
ENV_DEVICE = "SOFTMAX_CONFORMANCE_DEVICE"


def parse_command(command: str | Sequence[str]) -> list[str]:
    """The command's argv; CustomImplError (one line) when it is empty or its program is not found."""
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if not argv:
        raise CustomImplError("--impl-command: empty command")
    program = argv[0]
    found = shutil.which(program)
    if found is None and ("/" in program or os.sep in program):
        path = Path(program)
        if path.is_file() and not os.access(path, os.X_OK):
            raise CustomImplError(f"--impl-command {program!r}: the file is not executable (chmod +x?)")
    if found is None:
        raise CustomImplError(f"--impl-command {program!r}: command not found")
    return argv


def encode_input(x: np.ndarray, axis: int) -> tuple[np.ndarray, int]:
    """The array written to IN.npy and the non-negative axis passed on the command line."""
    if x.ndim == 0:
        x, axis = x.reshape(1), 0
    a = np.ascontiguousarray(x)
    if a.dtype == BFLOAT16:
        a = a.view(np.uint16)
    return a, axis % a.ndim


def decode_output(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """OUT.npy's array as the suite's result for input ``x`` (bfloat16 bits viewed as bfloat16)."""
    if x.dtype == BFLOAT16 and y.dtype.itemsize == 2 and y.dtype.kind in "uV":
        y = np.ascontiguousarray(y).view(BFLOAT16)
    if x.ndim == 0 and y.shape == (1,):
        y = y.reshape(())
    return y


def run_command(
    argv: Sequence[str], x: np.ndarray, axis: int, device: str, op: str, timeout: float | None
) -> np.ndarray:
    """One call of the protocol above; raises RuntimeError/TimeoutError with one line on failure."""
    data, ax = encode_input(x, axis)
    kind = "bfloat16" if x.dtype == BFLOAT16 else x.dtype.name
    env = dict(os.environ, **{ENV_DTYPE: kind, ENV_OP: op, ENV_DEVICE: device})
    with tempfile.TemporaryDirectory(prefix="softmax-conformance-") as tmp:
        inp, out = Path(tmp) / "in.npy", Path(tmp) / "out.npy"
        np.save(inp, data, allow_pickle=False)
        proc = subprocess.Popen(
            [*argv, str(inp), str(ax), str(out)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,  # its own process group, killed whole on timeout
        )
        try:
            _, stderr = proc.communicate(timeout=timeout if timeout and timeout > 0 else None)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise TimeoutError(
                f"command did not finish within {timeout:g} s (the per-call limit, --impl-timeout)"
            ) from None
        last = _last_line(stderr)
        if proc.returncode != 0:
            status = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else proc.returncode
            raise RuntimeError(f"command exited with status {status}" + (f": {last}" if last else ""))
        if not out.exists():
            raise RuntimeError("command exited with status 0 but wrote no output file" + _tail(last))
        try:
            y = np.load(out, allow_pickle=False)
        except Exception as exc:
            raise RuntimeError(f"cannot read the output file: {type(exc).__name__}: {exc}") from None
    return decode_output(y, x)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.communicate()


def _last_line(stderr: bytes | None) -> str:
    lines = (stderr or b"").decode("utf-8", "replace").strip().splitlines()
    return lines[-1][:300] if lines else ""


def _tail(last: str) -> str:
    return f" (stderr: {last})" if last else ""


_SNIPPET = """\
argv = {argv!r}
a = np.ascontiguousarray(x.reshape(1) if x.ndim == 0 else x)
kind = "bfloat16" if a.dtype == ml_dtypes.bfloat16 else a.dtype.name
env = dict(os.environ, {env_dtype}=kind, {env_op}={op!r}, {env_device}=device)
with tempfile.TemporaryDirectory() as tmp:
    inp, out = os.path.join(tmp, "in.npy"), os.path.join(tmp, "out.npy")
    np.save(inp, a.view(np.uint16) if kind == "bfloat16" else a)
    subprocess.run([*argv, inp, str(axis % a.ndim), out], check=True, env=env, timeout={timeout!r})
    y = np.load(out)
if kind == "bfloat16" and y.dtype.itemsize == 2 and y.dtype.kind in "uV":
    y = y.view(ml_dtypes.bfloat16)
if x.ndim == 0 and y.shape == (1,):
    y = y.reshape(())"""


def command_implementation(
    command: str | Sequence[str],
    op: str,
    *,
    name: str = DEFAULT_NAME,
    timeout: float | None = DEFAULT_TIMEOUT,
    dtypes: Sequence[str] = FLOAT_DTYPE_NAMES,
) -> CustomImplementation:
    """An Implementation that runs ``command`` per call (protocol in the module docstring).

    ``api`` in records is the command line as given. CustomImplError when the
    program is not found or ``op`` is unknown.
    """

    if op not in OPS:
        raise CustomImplError(f"unknown op {op!r}; valid: {', '.join(OPS)}")
    validate_name(name)
    argv = parse_command(command)
    limit = timeout if timeout and timeout > 0 else None

    def call(x: np.ndarray, axis: int, device: str) -> np.ndarray:
        return run_command(argv, x, axis, device, op, limit)

    label = command if isinstance(command, str) else shlex.join(argv)
    snippet = _SNIPPET.format(
        argv=argv, env_dtype=ENV_DTYPE, env_op=ENV_OP, env_device=ENV_DEVICE, op=op, timeout=limit
    )
    return CustomImplementation(
        framework=name,
        api=label,
        op=op,
        mode="eager",
        call=call,
        snippet=snippet,
        imports="import os\nimport subprocess\nimport tempfile\n\nimport ml_dtypes\nimport numpy as np",
        dtypes=tuple(dtypes),
        notes=f"external command (.npy protocol), per-call time limit {limit or 'none'}",
        origin=label,
    )
