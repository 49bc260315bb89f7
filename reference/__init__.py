"""The NumPy oracle and the numerics helpers of softmax-conformance.

No framework is imported here: this package is what every framework is judged
against. See ``reference.oracle`` for the accuracy contract, ``reference.special``
for the special-value limits and ``reference.error_model`` for the tolerances.
"""

from reference.dtypes import FLOAT_DTYPE_NAMES, DtypeInfo, dtype_from_name, dtype_info, dtype_name
from reference.error_model import allowed_error, sum_tolerance, tolerance_ulps
from reference.oracle import OPS, evaluate, exact, log_softmax, softmax, sum_normalize
from reference.rounding import round_to_dtype
from reference.special import LIMITS_TABLE, slice_kinds
from reference.ulp import ordinal, spacing, ulp_distance, ulp_error

__all__ = [
    "FLOAT_DTYPE_NAMES",
    "LIMITS_TABLE",
    "OPS",
    "DtypeInfo",
    "allowed_error",
    "dtype_from_name",
    "dtype_info",
    "dtype_name",
    "evaluate",
    "exact",
    "log_softmax",
    "ordinal",
    "round_to_dtype",
    "slice_kinds",
    "softmax",
    "spacing",
    "sum_normalize",
    "sum_tolerance",
    "tolerance_ulps",
    "ulp_distance",
    "ulp_error",
]
