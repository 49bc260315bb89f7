"""One test function per property, parametrized over cells by ``conformance.plugin``.

Each test judges one property of one cell (implementation x device x dtype); the
cell's outputs are computed once and shared by all its tests. Verdicts map onto
pytest outcomes: pass, fail, xfail (a known discrepancy), fail for a known
discrepancy that no longer reproduces (strict), skip for unsupported cells.
"""


def test_shape_dtype(cell, conformance, request):
    conformance.check(request, cell, "shape_dtype")


def test_precision(cell, conformance, request):
    conformance.check(request, cell, "precision")


def test_sum_to_one(cell, conformance, request):
    conformance.check(request, cell, "sum_to_one")


def test_bounds(cell, conformance, request):
    conformance.check(request, cell, "bounds")


def test_monotonicity(cell, conformance, request):
    conformance.check(request, cell, "monotonicity")


def test_stability(cell, conformance, request):
    conformance.check(request, cell, "stability")


def test_shift_invariance(cell, conformance, request):
    conformance.check(request, cell, "shift_invariance")


def test_log_softmax_consistency(cell, conformance, request):
    conformance.check(request, cell, "log_softmax_consistency")


def test_nan_propagation(cell, conformance, request):
    conformance.check(request, cell, "nan_propagation")


def test_device_consistency(cell, conformance, request):
    """GPU cells only: the output agrees with the same call on the CPU within the error model."""
    conformance.check(request, cell, "device_consistency")


def test_repeatability(cell, conformance, request):
    """GPU cells only: the same call made twice gives bitwise-identical output."""
    conformance.check(request, cell, "repeatability")


def test_compiled_consistency(cell, conformance, request):
    """Compiled modes only: the output agrees with the same API's eager output within the error model."""
    conformance.check(request, cell, "compiled_consistency")


def test_grad_precision(cell, conformance, request):
    """Cells with a backward pass: the VJP against the exact one, in ULPs of the term scale."""
    conformance.check(request, cell, "grad_precision")


def test_grad_finite(cell, conformance, request):
    conformance.check(request, cell, "grad_finite")


def test_grad_sum_to_zero(cell, conformance, request):
    conformance.check(request, cell, "grad_sum_to_zero")


def test_grad_masked(cell, conformance, request):
    conformance.check(request, cell, "grad_masked")


def test_semantics(cell, conformance, request):
    """Special inputs: observed and classified against the oracle's limit; never a failure."""
    conformance.observe_semantics(request, cell)
