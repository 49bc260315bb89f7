"""softmax-conformance: a numerical conformance suite for softmax, log-softmax and sum-normalization.

The oracle lives in the sibling package ``reference``; this package holds the
adapters, the inputs, the properties, the pytest plugin, the records and the CLI.
"""

__version__ = "0.1.0"
