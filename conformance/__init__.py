"""softmax-conformance: a numerical conformance suite for softmax, log-softmax and sum-normalization.

The oracle lives in the sibling package ``reference``; this package holds the
adapters, the inputs, the properties, the pytest plugin, the records and the CLI.

``conformance.check(function, op=...)`` runs the suite on your own function
in-process (see ``conformance.api``); it is imported on first use, so that
``import conformance`` stays cheap for the CLI.
"""

from __future__ import annotations

from typing import Any

from conformance.version import __version__

_LAZY = ("check", "CheckResult", "PropertyResult")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from conformance import api

        return getattr(api, name)
    raise AttributeError(f"module 'conformance' has no attribute {name!r}")


__all__ = ["CheckResult", "PropertyResult", "__version__", "check"]
