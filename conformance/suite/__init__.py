"""The conformance suite itself: collected with ``--pyargs conformance.suite -p conformance.plugin``."""
