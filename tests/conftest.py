"""The tests live in ``tests/<area>/`` (reference, cases, adapters, properties, report, e2e, meta).

``tests/`` itself goes first on ``sys.path``, whatever pytest's import mode, so that every test
imports the shared modules the same way: ``helpers`` (``ROOT``, the repository root, and the
reference tests' ground truth), ``faults`` (planted faults and negative controls).

With ``tests/`` on ``sys.path``, the folder ``tests/reference/`` (no ``__init__.py``) is a
namespace package named ``reference``, and Python's path finder prefers it to the ``reference``
package of an editable install (whose finder comes after the path finder): a plain ``pytest``
outside the repository's root would import the empty namespace. So the package is imported here
first, with ``tests/`` off the path, and must be the real one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def _is_tests(entry: str) -> bool:
    return Path(entry or ".").resolve() == TESTS


_saved = sys.path[:]
sys.path[:] = [entry for entry in sys.path if not _is_tests(entry)]
try:
    import reference
finally:
    sys.path[:] = _saved
assert getattr(reference, "__file__", None), f"imported the namespace {reference.__path__}, not the package"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


def _run_folders() -> set[str]:
    runs = TESTS.parent / "reports" / "runs"
    return {p.name for p in runs.iterdir()} if runs.is_dir() else set()


@pytest.fixture(scope="session", autouse=True)
def no_run_folders_in_the_repository():
    """Fails the session (an error at the last test's teardown) when a test left a new folder in
    the repository's ``reports/runs``: every test writes its runs under its ``tmp_path``
    (``run --results-dir``, the plugin's ``--run-dir``). Checked per pytest process (each xdist
    worker checks what appeared while it ran, so a folder made by another worker may be named twice)."""
    before = _run_folders()
    yield
    added = sorted(_run_folders() - before)
    assert not added, (
        f"tests left run folders in {TESTS.parent / 'reports' / 'runs'}: {', '.join(added)};"
        " pass --results-dir / --run-dir under tmp_path (or a run was started there meanwhile)"
    )
