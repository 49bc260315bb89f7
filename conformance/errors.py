"""The suite's exceptions and exit statuses (the bottom layer: imports nothing from the package).

Two families:

- ``ConformanceError``: something the user must fix (a bad option, an unreadable file, a
  selection that matches nothing). The command line prints its message as one line and
  exits with ``EXIT_USAGE``; it is never a traceback.
- ``Declined``: a framework declining an input by design, raised by an adapter (or recognised
  by ``conformance.adapters.base.decline_reason`` in what a framework raised): a dtype it does
  not implement, or an API absent in the installed release. Only a decline makes a cell
  ``unsupported``; any other exception is an ``error`` verdict (unexpected).
"""

from __future__ import annotations

EXIT_OK = 0  # every check passed or matched a known discrepancy
EXIT_UNEXPECTED = 1  # a finding: an unexpected failure, error, fixed entry, or an incomplete run
EXIT_USAGE = 2  # bad input: options, files, a selection that matches nothing
EXIT_BROKEN = 3  # an environment that could not run (a framework installed but failing to import)


class ConformanceError(Exception):
    """A problem with the user's input, reported as one line (``EXIT_USAGE``)."""


class Declined(Exception):
    """The framework declines this input by design; ``str(self)`` says what and why."""


class DtypeNotSupported(Declined):
    """The framework (or this API in it) does not implement the dtype."""


class ApiNotAvailable(Declined):
    """The API, or the keyword it is called with, does not exist in the installed release."""
