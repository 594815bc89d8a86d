"""The tolerance model from both sides: what it must reject, and float32 arithmetic it must
accept, computed here in float32 in several summation orders."""
import numpy as np
import pytest

from conformance import tolerance
from conformance.cases import build_case
from conformance.compare import compare
from conformance.specs.core import DENSE
from reference.activations import activation

WIDE_DENSE = {"units": 64, "activation": None, "use_bias": True, "rank": 2}


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


def test_sum_bound_grows_like_sqrt_of_terms():
    assert tolerance.sum_bound(1.0, 400) / tolerance.sum_bound(1.0, 100) == pytest.approx(
        (6 * 20 + 1) / (6 * 10 + 1), rel=1e-6)


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
