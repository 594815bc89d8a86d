"""The tolerance model from both sides: what it must reject, and float32 arithmetic it must
accept, computed here in float32 in several summation orders."""
import numpy as np
import pytest

from conformance import tolerance
from conformance.cases import build_case
from conformance.compare import compare
from conformance.specs.core import DENSE
from reference.activations import activation

WIDE_DENSE = {"units": 64, "activation": None, "use_bias": True, "rank": 2, "regime": "unit"}


def wide_dense_case(seed):
    return build_case(DENSE, WIDE_DENSE, seed, "keras3", "wide", [(2, 256)])


def float32_dense(case, order):
    """Dense in float32 with the sum taken in a given order, as an engine might."""
    x, (kernel, bias) = case.inputs[0], case.weights
    products = x[:, :, None] * kernel[None, :, :]          # float32 products
    if order == "sequential":
        y = np.zeros((x.shape[0], kernel.shape[1]), np.float32)
        for i in range(x.shape[1]):
            y = (y + products[:, i]).astype(np.float32)
    elif order == "reversed":
        y = np.zeros((x.shape[0], kernel.shape[1]), np.float32)
        for i in reversed(range(x.shape[1])):
            y = (y + products[:, i]).astype(np.float32)
    elif order == "pairwise":
        y = products.sum(axis=1, dtype=np.float32)
    else:
        y = (x @ kernel).astype(np.float32)
    return [(y + bias).astype(np.float32)]


@pytest.mark.parametrize("seed", range(5))
def test_one_element_off_by_1e4_fails_in_a_dense_64_over_256(seed):
    case = wide_dense_case(seed)
    got = np.array(case.expected[0])
    index = np.unravel_index(np.argmax(np.abs(got)), got.shape)
    got[index] *= 1 + 1e-4
    outcome = compare(case.expected, case.bounds, [got])
    assert outcome.status == "failed"
    assert tuple(outcome.worst["index"]) == tuple(int(i) for i in index)


@pytest.mark.parametrize("order", ["sequential", "reversed", "pairwise", "blas"])
@pytest.mark.parametrize("seed", range(5))
def test_float32_sums_in_any_order_pass(seed, order):
    case = wide_dense_case(seed)
    outcome = compare(case.expected, case.bounds, float32_dense(case, order))
    assert outcome.status == "passed", outcome.message
    assert outcome.error_ratio < 0.5      # a margin, not a bound stretched to the limit


def test_sum_bound_grows_like_sqrt_of_terms_for_cancelling_sums():
    assert tolerance.sum_bound(1.0, 400) / tolerance.sum_bound(1.0, 100) == pytest.approx(
        (6 * 20 + 1) / (6 * 10 + 1), rel=1e-6)


def _sequential_float32_sum(terms):
    total = np.float32(0)
    for t in terms.astype(np.float32):
        total = np.float32(total + t)
    return float(total)


@pytest.mark.parametrize("n", [1000, 4096, 20000])
@pytest.mark.parametrize("value", [0.1, 1 / 3, 0.7])
def test_sequential_sums_of_constant_terms_pass(n, value):
    """Constant terms: the rounding errors of a sequential float32 sum add up (about n/4 u S
    here, beyond the sqrt(n) bound); the correlated term covers them."""
    terms = np.full(n, np.float32(value), np.float64)
    exact = terms.sum()
    bound = tolerance.sum_bound(np.abs(terms).sum(), n, exact)
    error = abs(_sequential_float32_sum(terms) - exact)
    assert error <= bound


def test_constant_sums_break_the_sqrt_bound_alone():
    """Why the correlated term is there: 20000 sequential float32 additions of 0.1 err by
    more than (LAMBDA sqrt(n) + 1) u S."""
    terms = np.full(20000, np.float32(0.1), np.float64)
    error = abs(_sequential_float32_sum(terms) - terms.sum())
    assert error > (tolerance.LAMBDA * np.sqrt(20000) + 1) * tolerance.U32 * terms.sum()


def test_softmax_bound_is_per_element():
    """A very negative (or -inf) logit must not loosen its row: [0, 0.5, 0.5] is wrong for
    logits [-1e30, 1, 2] and for [-inf, 1, 2]."""
    for first in (-1e30, -np.inf):
        z = np.array([[first, 1.0, 2.0]])
        expected = activation("softmax")(z)
        bound = tolerance.softmax_bound(z, 0.0)
        assert np.all(np.isfinite(bound)) and np.all(bound < 1e-6)
        assert compare([expected], [bound], [np.array([[0, 0.5, 0.5]])]).status == "failed"


def test_overflow_to_the_right_infinity_passes():
    """exp(89) = 4.49e38 lies beyond float32's range: inf is its correctly rounded value."""
    expected = np.array([np.exp(89.0), -np.exp(89.0), 1e38])
    bound = tolerance.evaluation_bound(expected, 8)
    assert compare([expected], [bound], [np.array([np.inf, -np.inf, 1e38], np.float32)]
                   ).status == "passed"
    for wrong in ([np.nan, -np.inf, 1e38], [-np.inf, -np.inf, 1e38], [np.inf, -np.inf, np.inf]):
        assert compare([expected], [bound], [np.array(wrong, np.float32)]).status == "failed"


def test_nan_matches_only_nan():
    expected = np.array([np.nan, 1.0])
    assert compare([expected], [0.0], [np.array([np.nan, 1.0])]).status == "passed"
    assert compare([expected], [0.0], [np.array([0.0, 1.0])]).status == "failed"
    assert compare([expected], [0.0], [np.array([np.nan, np.nan])]).status == "failed"


def test_values_below_the_smallest_normal_count_as_zero():
    """FTZ/DAZ engines (TensorFlow on CPU) flush subnormal results; the suite accepts it."""
    expected = np.array([1e-40, -3e-42, 0.0, float(np.float32(2e-38))])
    got = np.array([0.0, 5e-41, -0.0, 2e-38], np.float32)
    assert compare([expected], [0.0], [got]).status == "passed"
    got[3] = 0.0          # 2e-38 is a normal float32: flushing it is an error
    assert compare([expected], [0.0], [got]).status == "failed"


def test_other_float_types_compare_as_numbers():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    expected = np.array([1.0, 2.5])
    got = np.array([1.0, 2.5], ml_dtypes.bfloat16)
    assert compare([expected], [0.0], [got]).status == "passed"


@pytest.mark.parametrize("got", [
    [np.array(["a", "b"])], [np.array([object(), 1], dtype=object)], [[1.0, [2.0]]],
    [np.array([1 + 2j, 3j])], "not a list", [None], [np.zeros(2, [("a", "f4")])]])
def test_comparing_never_raises(got):
    outcome = compare([np.array([1.0, 2.0])], [0.0], got)
    assert outcome.status == "failed" and outcome.message


@pytest.mark.parametrize("name, z", [("relu", 0.0), ("hard_sigmoid", 3.0), ("hard_sigmoid", -3.0),
                                     ("elu", 0.0)])
def test_monotone_bound_covers_kinks(name, z):
    f = activation(name, "keras3")
    b = 1e-3
    bound = tolerance.monotone_bound(f, np.array([z]), b)[0]
    worst = max(abs(f(np.array([z + d]))[0] - f(np.array([z]))[0]) for d in np.linspace(-b, b, 201))
    assert worst <= bound + 1e-15


def test_softmax_bound_covers_perturbed_inputs():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((50, 7)) * 4
    b = 1e-5
    bound = tolerance.softmax_bound(z, b)
    s = activation("softmax")(z)
    for _ in range(20):
        moved = activation("softmax")(z + rng.uniform(-b, b, z.shape))
        assert np.all(np.abs(moved - s) <= bound)


def test_data_movement_is_exact():
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    assert compare([x.astype(np.float64)], [tolerance.exact()], [x]).status == "passed"
    off = x.copy()
    off[1, 2] = np.nextafter(off[1, 2], np.float32(np.inf))
    outcome = compare([x.astype(np.float64)], [tolerance.exact()], [off])
    assert outcome.status == "failed" and outcome.worst["index"] == [1, 2]
