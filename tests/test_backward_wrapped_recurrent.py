"""The gradient bounds of the layers built on the recurrent family (conformance/backward/
bidirectional.py, cudnn.py, conv_lstm.py): each replay computes the reference's VJPs value
for value (expected() asserts it), its bounds have the gradients' shapes and are finite;
Bidirectional's mul merge carries the other direction's forward bound into the cotangent;
the CuDNN layout mapping is a permutation (values and bounds alike); a channels_first
ConvLSTM2D has the channels_last case's bounds, moved."""
from dataclasses import replace

import numpy as np
import pytest

from conformance import backward
from conformance.backward import bidirectional, conv_lstm, cudnn, recurrent
from conformance.cases import fixture_cases
from conformance.specs import get as get_spec
from reference.config import OutOfScope
from tests.backward_checks import first_twins

LAYERS = ("Bidirectional", "CuDNNGRU", "CuDNNLSTM", "ConvLSTM2D")


@pytest.fixture(scope="module", params=LAYERS)
def twins(request):
    """The first covering cases' twins of a layer, in each Keras spec it has."""
    return first_twins(request.param, 16, 11)


def test_the_bounds_follow_the_reference_gradients(twins):
    checked = 0
    for case in twins:
        try:
            grads, bounds = backward.expected_gradients(case)
        except OutOfScope:
            continue
        assert len(grads) == len(bounds)
        for g, b in zip(grads, bounds):
            assert np.shape(g) == np.shape(b), case.id
            assert np.all(np.isfinite(b)) and np.all(b >= 0), case.id
        checked += 1
    assert checked


def test_bidirectional_mul_carries_the_forward_bound():
    """dy = u * y_rev: |u| e_rev on top of the product's rounding; sum routes u exactly."""
    f = recurrent.FORWARD
    u = [f.Bounded(np.array([[2.0, -1.0]]), np.zeros((1, 2)))]
    y = f.Bounded(np.array([[0.5, 0.25]]), np.full((1, 2), 1e-6))
    y_rev = f.Bounded(np.array([[0.75, -0.5]]), np.full((1, 2), 3e-6))
    dy, dy_rev = bidirectional.merge_vjp(u, y, y_rev, "mul", f)
    np.testing.assert_allclose(dy.v, u[0].v * y_rev.v)
    assert np.all(dy.e >= np.abs(u[0].v) * 3e-6) and np.all(dy_rev.e >= np.abs(u[0].v) * 1e-6)
    routed, _ = bidirectional.merge_vjp(u, y, y_rev, "sum", f)
    assert np.all(routed.e == 0)


def test_cudnn_mapping_is_a_permutation():
    """The LSTM oracle's single bias gradient, copied, equals the two rows' mapping; the
    kernels' entries are moved, none changed."""
    case = [c for c in fixture_cases(get_spec("CuDNNLSTM"), "keras2", 4)][0]
    units, features = case.config["units"], np.shape(case.weights[0])[0]
    rng = np.random.default_rng(0)
    d_kernel, d_recurrent = rng.random((features, 4 * units)), rng.random((units, 4 * units))
    d_bias = rng.random(4 * units)
    single = cudnn.cudnn_gradients(case, [d_kernel, d_recurrent, d_bias])
    rows = cudnn.cudnn_gradients(case, [d_kernel, d_recurrent, np.stack([d_bias, d_bias])])
    for a, b in zip(single, rows):
        np.testing.assert_array_equal(a, b)
    assert sorted(single[0].ravel()) == sorted(d_kernel.ravel())


def test_conv_lstm_channels_first_moves_the_bounds():
    spec = get_spec("ConvLSTM2D")
    case = next(backward.gradient_twin(c, 3) for c in fixture_cases(spec, "keras3", 40)
                if backward.takes_gradient(c)
                and c.config.get("data_format", "channels_last") == "channels_last"
                and c.config.get("padding") == "same")
    grads, bounds = conv_lstm.expected(case)
    first = replace(case, config={**case.config, "data_format": "channels_first"},
                    inputs=[np.moveaxis(case.inputs[0], -1, 2)],
                    cotangent=[np.moveaxis(u, -1, 2 if u.ndim == 5 else 1)
                               for u in case.cotangent],
                    call_kwargs={k: ([np.moveaxis(s, -1, 1) for s in v]
                                     if k == "initial_state" else v)
                                 for k, v in case.call_kwargs.items()})
    grads_first, bounds_first = conv_lstm.expected(first)
    np.testing.assert_allclose(np.moveaxis(bounds_first[0], 2, -1), bounds[0], rtol=1e-12)
    for b, b_first in zip(bounds[-3:], bounds_first[-3:]):
        np.testing.assert_allclose(b_first, b, rtol=1e-12)
