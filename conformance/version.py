"""The suite's version (a module of its own, so that nothing imports the package ``__init__`` for it)."""

__version__ = "0.1.0"
