"""The reference on examples worked by hand, most of them from the seed documents."""
import numpy as np
import pytest

import reference
from reference.activations import activation
from reference.windows import tap_boxes, windows

X4 = np.array([[[1.0], [2.0], [3.0], [4.0]]])          # (batch 1, 4 steps, 1 channel)
K2 = np.array([[[1.0]], [[10.0]]])                     # kernel taps 1 then 10


@pytest.mark.parametrize("padding, strides, expected", [
    ("valid", 1, [21, 32, 43]),                # y[t] = x[t] + 10 x[t+1]
    ("same", 1, [21, 32, 43, 4]),              # one zero after the end
    ("causal", 1, [10, 21, 32, 43]),           # one zero before the start: y[t] = x[t-1] + 10 x[t]
    ("causal", 2, [10, 32]),                   # causal windows end at t * strides
])
def test_conv1d_by_hand(padding, strides, expected):
    y = reference.conv(X4, K2, filters=1, kernel_size=2, padding=padding, strides=strides,
                       use_bias=False)
    assert y[0, :, 0].tolist() == expected


def test_conv1d_dilation_by_hand():
    y = reference.conv(X4, K2, filters=1, kernel_size=2, dilation_rate=2, padding="causal",
                       use_bias=False)
    assert y[0, :, 0].tolist() == [10, 20, 31, 42]   # y[t] = x[t-2] + 10 x[t]


def test_conv1d_seed_004_shapes():
    """Convolution1D(64, 3, border_mode='same', input_shape=(10, 32)) -> (None, 10, 64)."""
    y = reference.conv(np.zeros((1, 10, 32)), np.zeros((3, 32, 64)), np.zeros(64), filters=64,
                       kernel_size=3, padding="same")
    assert y.shape == (1, 10, 64)


def test_conv_activation_runs_in_the_output_layout():
    """channels_first + softmax: Keras applies softmax along the last axis, here the steps."""
    x = np.random.default_rng(0).standard_normal((1, 2, 5))
    k = np.random.default_rng(1).standard_normal((3, 2, 4))
    y = reference.conv(x, k, filters=4, kernel_size=3, data_format="channels_first",
                       activation="softmax", use_bias=False)
    assert y.shape == (1, 4, 3) and np.allclose(y.sum(axis=-1), 1)


@pytest.mark.parametrize("shape, size, strides, dilation, padding", [
    ((7,), (3,), (1,), (2,), "causal"), ((5,), (2,), (3,), (1,), "same"),
    ((6, 5), (3, 2), (2, 1), (1, 1), "same"), ((6, 5), (2, 3), (1, 1), (2, 1), "valid"),
    ((4, 3, 5), (2, 2, 3), (1, 2, 2), (1, 1, 1), "same"), ((3,), (3,), (1,), (1,), "same"),
])
def test_tap_boxes_are_the_windows_tap_by_tap(shape, size, strides, dilation, padding):
    """The convolution's tap-by-tap sum reads exactly the (output, tap, input) triples of
    windows(), and adds each output's taps in windows()' order."""
    by_window = [(out, tap, pos) for out, taps in
                 windows(shape, size, strides, dilation, padding) for tap, pos in taps]
    by_tap = []
    for tap, out_box, in_box in tap_boxes(shape, size, strides, dilation, padding):
        outs = np.ndindex(*[b.stop - b.start for b in out_box])
        for i in outs:
            by_tap.append((tuple(b.start + j for b, j in zip(out_box, i)), tap,
                           tuple(b.start + j * b.step for b, j in zip(in_box, i))))
    assert sorted(by_tap) == sorted(by_window)
    in_order = sorted(by_window, key=lambda triple: triple[0])     # stable: taps keep order
    assert sorted(by_tap, key=lambda triple: triple[0]) == in_order


def test_average_pooling_same_divides_by_real_positions():
    x = np.array([[[1.0], [2.0], [4.0]]])
    y = reference.average_pooling(x, pool_size=4, strides=1, padding="same")
    assert np.allclose(y[0, :, 0], [7 / 3, 7 / 3, 3])


def test_max_pooling_same_ignores_padding():
    x = -np.ones((1, 3, 1))
    assert reference.max_pooling(x, pool_size=2, padding="same").ravel().tolist() == [-1, -1]


def test_seed_001_shapes():
    """The output shapes the Core-layer page of seed 001 states in its examples."""
    assert reference.reshape(np.zeros((2, 12)), target_shape=(3, 4)).shape == (2, 3, 4)
    assert reference.reshape(np.zeros((2, 6, 2)), target_shape=(-1, 2, 2)).shape == (2, 3, 2, 2)
    assert reference.permute(np.zeros((2, 10, 64)), dims=(2, 1)).shape == (2, 64, 10)
    assert reference.repeat_vector(np.zeros((2, 32)), n=3).shape == (2, 3, 32)
    assert reference.flatten(np.zeros((1, 64, 32, 32))).shape == (1, 65536)


def test_flatten_channels_first_moves_channels_last_first():
    x = np.arange(12.0).reshape(1, 3, 2, 2)                # (b, c, h, w)
    assert reference.flatten(x, data_format="channels_first").ravel().tolist() == \
        np.moveaxis(x, 1, -1).ravel().tolist()


def test_masking_masks_only_whole_steps():
    x = np.array([[[0.0, 0.0], [0.0, 1.0], [2.0, 3.0]]])
    assert reference.masking_mask(x).tolist() == [[False, True, True]]
    assert reference.masking(x).tolist() == x.tolist()


def test_hard_sigmoid_differs_between_keras2_and_keras3():
    assert activation("hard_sigmoid", "keras3")(np.array(1.0)) == pytest.approx(4 / 6)
    assert activation("hard_sigmoid", "keras2")(np.array(1.0)) == pytest.approx(0.7)


@pytest.mark.parametrize("call", [
    lambda: reference.dense(np.zeros((1, 3)), np.zeros((3, 0)), np.zeros(0), units=0),
    lambda: reference.conv(X4, K2, filters=1, kernel_size=2, strides=2, dilation_rate=2,
                           use_bias=False),
    lambda: reference.conv(np.zeros((1, 4, 4, 1)), np.zeros((2, 2, 1, 1)), filters=1,
                           kernel_size=2, padding="causal", use_bias=False),
    lambda: reference.permute(np.zeros((1, 2, 3)), dims=(0, 1)),
    lambda: reference.reshape(np.zeros((1, 6)), target_shape=(-1, -1)),
    lambda: reference.dropout(np.zeros(3), rate=1.5),
    lambda: reference.max_pooling(X4, padding="causal"),
    lambda: reference.activation_layer(X4, activation="no_such_activation"),
])
def test_invalid_configs_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_batch_normalization_over_two_axes_by_hand():
    """tf_keras's axis [1, 2] on a (2, 2, 2) input: the statistics over the batch alone, per
    (i, j); the weights (1, 2, 2), the input's shape with 1 on the axis not listed."""
    x = np.array([[[0.0, 2.0], [4.0, 6.0]], [[2.0, 4.0], [0.0, 10.0]]])
    mean, variance = np.array([[1.0, 3.0], [2.0, 8.0]]), np.array([[1.0, 1.0], [4.0, 4.0]])
    weights = [np.zeros((1, 2, 2)), np.ones((1, 2, 2))]           # moving mean and variance
    y, after = reference.batch_normalization(x, *weights, axis=[1, 2], momentum=0.5,
                                             epsilon=0.0, center=False, scale=False,
                                             training=True, spec="keras2")
    assert y.tolist() == [[[-1, -1], [1, -1]], [[1, 1], [-1, 1]]]
    assert after[0].tolist() == [(mean / 2).tolist()]
    assert after[1].tolist() == [(0.5 + variance / 2).tolist()]
    reordered = reference.batch_normalization(x, *weights, axis=[-1, 1], momentum=0.5,
                                              epsilon=0.0, center=False, scale=False,
                                              training=True, spec="keras2")
    assert np.array_equal(reordered[0], y)


def test_batch_normalization_list_of_one_axis_is_that_axis_in_tf_keras():
    """[-1] is -1 (tf_keras writes a built layer's axis as a list), fused on rank 4: the
    unbiased variance in the moving average."""
    x = np.random.default_rng(0).standard_normal((2, 3, 2, 4))
    weights = [np.ones(4), np.zeros(4), np.zeros(4), np.ones(4)]
    one, listed = (reference.batch_normalization(x, *weights, axis=axis, momentum=0.0,
                                                 training=True, spec="keras2")
                   for axis in (-1, [-1]))
    assert np.array_equal(one[0], listed[0]) and np.allclose(
        listed[1][-1], np.var(x, axis=(0, 1, 2), ddof=1))


@pytest.mark.parametrize("axis, shape, weight, spec, fused", [
    ([1, 3], (2, 3, 4, 5), (1, 3, 1, 5), "keras3", None),  # Keras 3: int(axis), TypeError
    ([-1], (2, 3, 4), (4,), "keras3", None),               # ... for a list of one axis too
    ([1, -3], (2, 3, 4, 5), (3,), "keras2", None),         # "Duplicate axis: (1, 1)"
    ([1, 3], (2, 3, 4), (1, 3, 4), "keras2", None),        # out of range
    ([], (2, 3, 4), (1, 1, 1), "keras2", None),            # IndexError in __init__
    ([-4], (2, 3, 4, 5), (2,), "keras2", None),            # fused: "Unsupported axis"
    ([1, 3], (2, 3, 4, 5), (1, 3, 1, 5), "keras2", True),  # fused=True takes one axis
])
def test_batch_normalization_refuses_the_list_axes_keras_refuses(axis, shape, weight, spec,
                                                                 fused):
    weights = [np.ones(weight)] * 4
    with pytest.raises(ValueError, match="axis"):
        reference.batch_normalization(np.zeros(shape), *weights, axis=axis, fused=fused,
                                      spec=spec)


def test_several_axes_softmax_takes_an_infinite_maximum_as_zero_as_logsumexp_does():
    """TensorFlow's reduce_logsumexp and JAX's and SciPy's logsumexp: a row holding +inf gives
    NaN there (inf - inf) and 0 elsewhere; a row holding NaN is NaN throughout."""
    from reference.attention import several_axes_softmax
    with np.errstate(all="ignore"):
        p = several_axes_softmax(np.array([[np.inf, 1.0, -np.inf, 2.0], [np.nan, 1.0, 2.0, 3.0],
                                           [0.0, 0.0, 0.0, 0.0]]))
    assert np.isnan(p[0, 0]) and p[0, 1:].tolist() == [0.0, 0.0, 0.0]
    assert np.isnan(p[1]).all()
    assert np.allclose(p[2], 0.25)
