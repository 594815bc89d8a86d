"""ConvLSTM2D's reference against the reference's own LSTM and its channels_last form: a 1x1
kernel makes it an LSTM on every pixel, and channels_first is channels_last transposed."""
import numpy as np
import pytest

import reference
from conformance import specs
from conformance.cases import build_case
from conformance.compare import compare_case


def _draw(shape, rng, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_a_one_by_one_kernel_is_an_lstm_on_every_pixel(go_backwards):
    rng = np.random.default_rng(0)
    batch, steps, rows, cols, channels, filters = 2, 3, 2, 3, 2, 3
    x = _draw((batch, steps, rows, cols, channels), rng)
    kernel, recurrent_kernel = _draw((channels, 4 * filters), rng, 0.5), _draw(
        (filters, 4 * filters), rng, 0.5)
    bias = _draw((4 * filters,), rng)
    mask = np.array([[True, False, True], [False, True, True]])
    got = reference.conv_lstm2d(x, kernel[None, None], recurrent_kernel[None, None], bias,
                                mask=mask, filters=filters, kernel_size=1, padding="same",
                                return_sequences=True, return_state=True,
                                go_backwards=go_backwards)
    pixels = np.moveaxis(x, 1, 3).reshape(batch * rows * cols, steps, channels)
    want = reference.lstm(pixels, kernel, recurrent_kernel, bias,
                          mask=np.repeat(mask, rows * cols, axis=0), units=filters,
                          return_sequences=True, return_state=True, go_backwards=go_backwards)
    sequence = np.moveaxis(want[0].reshape(batch, rows, cols, steps, filters), 3, 1)
    # equal up to float64 rounding: the convolution adds its bias after the taps
    np.testing.assert_allclose(got[0], sequence, rtol=1e-13, atol=1e-15)
    for g, w in zip(got[1:], want[1:]):
        np.testing.assert_allclose(g, w.reshape(batch, rows, cols, filters), rtol=1e-13,
                                   atol=1e-15)


def test_channels_first_is_channels_last_transposed():
    rng = np.random.default_rng(1)
    x = _draw((2, 3, 5, 4, 2), rng)
    weights = [_draw((3, 2, 2, 8), rng, 0.5), _draw((3, 2, 2, 8), rng, 0.5), _draw((8,), rng)]
    config = dict(filters=2, kernel_size=[3, 2], strides=[2, 1], padding="same",
                  return_sequences=True, return_state=True)
    last = reference.conv_lstm2d(x, *weights, **config)
    first = reference.conv_lstm2d(np.moveaxis(x, -1, 2), *weights, **config,
                                  data_format="channels_first")
    np.testing.assert_array_equal(first[0], np.moveaxis(last[0], -1, 2))
    for f, l in zip(first[1:], last[1:]):
        np.testing.assert_array_equal(f, np.moveaxis(l, -1, 1))


def test_the_recurrent_convolution_is_same_and_undilated():
    """With a dilated "valid" input convolution, the state (3x3 here) is convolved with the
    recurrent kernel at stride 1, "same", dilation 1: the hand-computed second step."""
    rng = np.random.default_rng(2)
    x = _draw((1, 2, 7, 7, 1), rng)
    kernel, recurrent_kernel = _draw((3, 3, 1, 4), rng, 0.5), _draw((3, 3, 1, 4), rng, 0.5)
    config = dict(filters=1, kernel_size=3, dilation_rate=2, activation="linear",
                  recurrent_activation="linear", use_bias=False, return_sequences=True,
                  return_state=True)
    sequence, h, c = reference.conv_lstm2d(x, kernel, recurrent_kernel, **config)

    def input_conv(x_t):
        out = np.zeros((3, 3, 4))
        for i in range(3):
            for j in range(3):
                for a in range(3):
                    for b in range(3):
                        out[i, j] += x_t[i + 2 * a, j + 2 * b, 0] * kernel[a, b, 0]
        return out

    def recurrent_conv(h_t):
        padded, out = np.pad(h_t, [(1, 1), (1, 1), (0, 0)]), np.zeros((3, 3, 4))
        for i in range(3):
            for j in range(3):
                for a in range(3):
                    for b in range(3):
                        out[i, j] += padded[i + a, j + b, 0] * recurrent_kernel[a, b, 0]
        return out

    h_t, c_t = np.zeros((3, 3, 1)), np.zeros((3, 3, 1))
    x64 = x.astype(np.float64)
    for t in range(2):
        z = input_conv(x64[0, t]) + recurrent_conv(h_t)
        c_t = z[..., 1:2] * c_t + z[..., 0:1] * z[..., 2:3]
        h_t = z[..., 3:4] * c_t
        np.testing.assert_allclose(sequence[0, t], h_t, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c[0], c_t, rtol=1e-12, atol=1e-12)


def test_every_bound_covers_a_float32_step():
    """The spec's bounds against the layer computed in float32 (NumPy, tap by tap): within
    bound (conformance/compare.py's rules: below 2^-126 counts as zero) in several regimes."""
    spec = specs.get("ConvLSTM2D")
    params = {"filters": 3, "kernel_size": [3, 2], "strides": 1, "padding": "same",
              "dilation_rate": 1, "data_format": "channels_last", "activation": "tanh",
              "recurrent_activation": "sigmoid", "use_bias": True, "unit_forget_bias": True,
              "return_sequences": True, "return_state": True, "go_backwards": False,
              "mask": None, "initial_state": True, "unroll": False, "dropout": 0.0,
              "recurrent_dropout": 0.0}
    for seed, regime in enumerate(["unit", "large", "offset", "long"]):
        case = build_case(spec, {**params, "regime": regime}, seed, "keras3", "t")
        f32 = [np.asarray(w, np.float32) for w in case.weights]
        x = np.asarray(case.inputs[0], np.float32)
        with np.errstate(all="ignore"):
            got = reference_in_float32(x, f32, case.call_kwargs["initial_state"])
        outcome = compare_case(case, got)
        assert outcome.status == "passed", (regime, outcome.message)


def reference_in_float32(x, weights, initial):
    """The layer's step in float32 arithmetic, tap by tap ("same", stride 1)."""
    kernel, recurrent_kernel, bias = weights
    kh, kw = kernel.shape[:2]

    def conv(a, k):
        padded = np.pad(a, [(0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2),
                            (0, 0)])
        out = np.zeros((*a.shape[:3], k.shape[-1]), np.float32)
        for i in range(kh):
            for j in range(kw):
                out += padded[:, i:i + a.shape[1], j:j + a.shape[2]] @ k[i, j]
        return out

    def sigmoid(z):
        return np.float32(1) / (np.float32(1) + np.exp(-z))

    h, c = [np.asarray(s, np.float32) for s in initial]
    outputs = []
    for t in range(x.shape[1]):
        z = conv(x[:, t], kernel) + bias + conv(h, recurrent_kernel)
        z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
        c = sigmoid(z_f) * c + sigmoid(z_i) * np.tanh(z_c)
        h = sigmoid(z_o) * np.tanh(c)
        outputs.append(h)
    return [np.stack(outputs, axis=1), h, c]
