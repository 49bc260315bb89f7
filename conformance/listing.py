"""``python -m conformance list``: every framework's version, devices and implementations.

Each installed framework is probed in a process of its own (``python -m conformance.listing
NAME`` prints one JSON object), several at once: Keras fixes its backend when ``keras`` is first
imported (``import tensorflow`` imports it too), so ``keras-jax`` and ``keras-torch`` can only be
seen beside TensorFlow from separate processes, and the heavy imports (TensorFlow, JAX, torch)
overlap instead of adding up. The probes' stderr (TensorFlow's and XLA's log lines) is kept out
of the listing; a probe that dies is listed with the last line it wrote.

The answers are cached (``cache_path``: ``$XDG_CACHE_HOME/softmax-conformance/``, or
``~/.cache/...``), under a key of everything they depend on: the Python executable and version,
every installed distribution and its version, the adapters' source files (size and mtime) and the
variables that choose GPUs (``CUDA_VISIBLE_DEVICES``, ...). Installing, upgrading or editing any
of them probes again; ``list --refresh`` always does. Only complete answers are kept (a probe that
failed is never cached).

``format_plain`` is the listing for a pipe or a file: one line per implementation, every field in
full (no truncation at 80 columns), the framework on every line (``grep``-able); on a terminal
``cli.cmd_list`` prints a table.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import distributions
from pathlib import Path
from typing import Any

COLUMNS = ("framework", "version", "devices", "api", "op", "mode", "dtypes")
PROBE_TIMEOUT = 300.0  # seconds a framework's probe may take (TensorFlow's import is the slowest)
# Quiet the frameworks' C++ logging in the probes (TensorFlow, XLA/absl); their stderr is captured anyway.
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR", "GLOG_minloglevel": "3"}


def probe(name: str) -> dict[str, Any]:
    """This process's view of framework ``name``: ``status`` ("ok", "not installed" or the adapter's
    unavailability status), ``version``, ``devices``, ``reason`` and ``implementations`` (rows of
    ``[api, op, mode, dtypes]``). Loads the framework: call it in a process of its own."""
    from conformance.adapters import all_adapters

    adapter = all_adapters()[name]
    if not adapter.installed():
        return {"framework": name, "status": "not installed", "reason": f"{name} is not installed"}
    if not adapter.available():
        reason = adapter.unavailable_reason or "import failed"
        return {"framework": name, "status": "unavailable", "reason": reason}
    rows = [
        [
            impl.api,
            impl.op + (f" ({impl.operation})" if impl.operation else ""),
            impl.mode,
            ",".join(impl.dtypes),
        ]
        for impl in adapter.implementations()
    ]
    return {
        "framework": name,
        "status": "ok",
        "version": adapter.version() or "",
        "devices": ", ".join(adapter.devices()),
        "implementations": rows,
    }


def _run_probe(name: str, env: dict[str, str], timeout: float) -> dict[str, Any]:
    command = [sys.executable, "-m", "conformance.listing", name]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"framework": name, "status": "probe failed", "reason": f"no answer within {timeout:g} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode == 0 and lines:
        return json.loads(lines[-1])
    last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {"framework": name, "status": "probe failed", "reason": f"exit status {done.returncode}: {last}"}


def probe_all(names: list[str], installed: dict[str, bool], jobs: int | None = None) -> list[dict[str, Any]]:
    """Every framework in ``names`` probed, in that order: installed ones in their own processes,
    ``jobs`` at a time (default: the CPU count, at least 2); the others without a process."""
    env = dict(os.environ, **QUIET_ENV)
    workers = max(2, jobs or os.cpu_count() or 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {
            name: pool.submit(_run_probe, name, env, PROBE_TIMEOUT) for name in names if installed[name]
        }
        return [
            futures[name].result()
            if name in futures
            else {"framework": name, "status": "not installed", "reason": f"{name} is not installed"}
            for name in names
        ]


DEVICE_VARIABLES = ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "JAX_PLATFORMS", "KERAS_BACKEND")


def cache_key() -> str:
    """A digest of what a probe's answer depends on (see the module docstring)."""
    import conformance.adapters as adapters_package

    parts = [sys.executable, sys.version]
    parts += sorted(f"{d.metadata['Name']}=={d.version}" for d in distributions())
    for path in sorted(Path(adapters_package.__file__).parent.glob("*.py")):
        stat = path.stat()
        parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    parts += [f"{v}={os.environ.get(v, '')}" for v in DEVICE_VARIABLES]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def user_cache_dir() -> Path:
    """The project's folder in the user's cache: ``$XDG_CACHE_HOME/softmax-conformance`` (default
    ``~/.cache/softmax-conformance``); ``list``'s answers and ``bisect``'s environments live there."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "softmax-conformance"


def cache_path(key: str) -> Path:
    """The cache file of ``key``."""
    return user_cache_dir() / f"list-{key}.json"


def cached_probe_all(
    names: list[str], installed: dict[str, bool], refresh: bool = False
) -> tuple[list[dict[str, Any]], int]:
    """``probe_all`` through the cache: (answers in ``names`` order, how many came from the cache)."""
    path = cache_path(cache_key())
    try:
        cache = {} if refresh else json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    missing = [n for n in names if n not in cache or not installed[n]]
    fresh = {item["framework"]: item for item in probe_all(missing, installed)}
    answers = [fresh.get(n) or cache[n] for n in names]
    keep = {**cache, **{n: a for n, a in fresh.items() if a["status"] in ("ok", "unavailable")}}
    if keep != cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(keep), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:  # a read-only home: list still works, uncached
            pass
    return answers, len(names) - len(missing)


def rows(found: list[dict[str, Any]]) -> list[list[str]]:
    """The listing's rows (``COLUMNS``): one per implementation, one per framework not usable here."""
    out = []
    for item in found:
        if item["status"] != "ok":
            out.append([item["framework"], item["status"], "", "", "", "", item.get("reason", "")])
            continue
        for api, op, mode, dtypes in item["implementations"]:
            out.append([item["framework"], item["version"], item["devices"], api, op, mode, dtypes])
    return out


def format_plain(table: list[list[str]]) -> str:
    """The rows as aligned plain text with a header line, nothing cut (for a pipe or a file)."""
    lines = [list(COLUMNS), *table]
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m conformance.listing NAME``: print ``probe(NAME)`` as one line of JSON."""
    (name,) = argv if argv is not None else sys.argv[1:]
    print(json.dumps(probe(name)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
