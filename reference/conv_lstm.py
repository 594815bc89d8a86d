"""ConvLSTM2D: the LSTM step (reference/recurrent.py lstm_gates) with its two matmuls replaced
by convolutions (reference/conv.py conv), folded over time by the one RNN loop
(reference/recurrent.py fold).

Weight layout, as in `layer.get_weights()` (F = filters, C = input channels; the same in
Keras 3 and tf_keras, keras/src/layers/rnn/conv_lstm.py ConvLSTMCell.build and
tf_keras/src/layers/rnn/base_conv_lstm.py ConvLSTMCell.build):

- kernel (kh, kw, C, 4F), recurrent_kernel (kh, kw, F, 4F), bias (4F,); the four blocks of
  the last axis are the gates in the order i, f, c, o, as in LSTM (both Kerases split them
  with split(kernel, 4, axis=3) and split(bias, 4)).
"""
import numpy as np

from reference.config import takes_config
from reference.conv import conv
from reference.layout import check_data_format
from reference.padding import as_tuple
from reference.recurrent import _layer_outputs, fold, lstm_gates
from reference.windows import output_shape


def conv_lstm_step(x, states, kernel, recurrent_kernel, bias, *, kernel_size, strides,
                   padding, dilation_rate, data_format, activation, recurrent_activation,
                   spec):
    """z = conv(x, kernel, strides, padding, dilation_rate) + bias
         + conv(h, recurrent_kernel, strides 1, "same", dilation 1),
    then the LSTM gates on z's four channel blocks i, f, c, o: c' = rec(z_f) * c +
    rec(z_i) * act(z_c), h' = rec(z_o) * act(c'). The output is h'; the states [h', c'].
    x, h and c are images in the layer's data_format, and so are the activations' inputs
    (softmax runs along the last axis: the filters with channels_last, the columns with
    channels_first)."""
    h, c = states
    gates = 4 * c.shape[1 if data_format == "channels_first" else -1]
    common = dict(filters=gates, kernel_size=kernel_size, data_format=data_format, spec=spec)
    z = (conv(x, kernel, bias, strides=strides, padding=padding, dilation_rate=dilation_rate,
              use_bias=bias is not None, **common)
         + conv(h, recurrent_kernel, strides=1, padding="same", dilation_rate=1,
                use_bias=False, **common))
    blocks = np.split(z, 4, axis=1 if data_format == "channels_first" else -1)
    h, c = lstm_gates(*blocks, c, activation, recurrent_activation, spec)
    return h, [h, c]


def state_shape(x_shape, filters, kernel_size, strides, padding, dilation_rate, data_format):
    """The shape of h and c for an input of x_shape (batch, time, rows, cols, channels)
    (channels_first: (batch, time, channels, rows, cols)): the input convolution's output."""
    channels_first = data_format == "channels_first"
    spatial = x_shape[3:] if channels_first else x_shape[2:-1]
    out = output_shape(spatial, as_tuple(kernel_size, 2, "kernel_size"),
                       as_tuple(strides, 2, "strides"),
                       as_tuple(dilation_rate, 2, "dilation_rate"), padding)
    return (x_shape[0], filters, *out) if channels_first else (x_shape[0], *out, filters)


@takes_config
def conv_lstm2d(x, kernel, recurrent_kernel, bias=None, mask=None, initial_state=None, *,
                filters, kernel_size, strides=1, padding="valid",
                data_format="channels_last", dilation_rate=1, activation="tanh",
                recurrent_activation="sigmoid", use_bias=True, unit_forget_bias=True,
                return_sequences=False, return_state=False, go_backwards=False,
                stateful=False, unroll=False, zero_output_for_mask=False, time_major=False,
                dropout=0.0, recurrent_dropout=0.0, seed=None, spec="keras3"):
    """ConvLSTM2D at inference (dropout is identity there): conv_lstm_step folded over time.

    x: (batch, time, rows, cols, C) (channels_first: (batch, time, C, rows, cols)).
    h, c and each output step: (batch, rows', cols', F) (channels_first: (batch, F, rows',
    cols')), rows' and cols' the input convolution's output size (reference/padding.py
    output_length); zeros unless initial_state gives [h, c]. mask (batch, time) as for LSTM.
    Returns [output] or, with return_state, [output, h, c]; output is the sequence
    (batch, time, ...) with return_sequences (in processing order: reversed with
    go_backwards), else the last step.

    Keras refuses strides > 1 with dilation_rate > 1, a "valid" window larger than the
    input (Keras 3; tf_keras returns an empty output there, refused here in both specs as
    for Conv1D), paddings other than "valid"/"same", and unroll=True (tf_keras only).
    unit_forget_bias only initialises the bias. time_major (tf_keras) is read and ignored:
    tf_keras's ConvRNN never passes it to its loop (base_conv_rnn.py call), so the input is
    batch-major whatever it says.
    """
    x = np.asarray(x, np.float64)
    if not isinstance(filters, int) or filters <= 0:
        raise ValueError(f"`filters` must be a positive int, got {filters!r}")
    if x.ndim != 5:
        raise ValueError(f"ConvLSTM2D takes (batch, time, rows, cols, channels), got {x.shape}")
    if spec == "keras2" and unroll:
        raise ValueError("Keras 2 cannot unroll a convolutional RNN")
    if not (0 <= dropout <= 1 and 0 <= recurrent_dropout <= 1):
        raise ValueError("dropout rates must be in [0, 1]")
    check_data_format(data_format)
    kernel = np.asarray(kernel, np.float64)
    recurrent_kernel = np.asarray(recurrent_kernel, np.float64)
    channels = x.shape[2] if data_format == "channels_first" else x.shape[-1]
    size = as_tuple(kernel_size, 2, "kernel_size")
    if kernel.shape != (*size, channels, 4 * filters) or \
            recurrent_kernel.shape != (*size, filters, 4 * filters):
        raise ValueError(f"kernel {kernel.shape} and recurrent_kernel {recurrent_kernel.shape}, "
                         f"expected {(*size, channels, 4 * filters)} and "
                         f"{(*size, filters, 4 * filters)}")
    if use_bias != (bias is not None) or (use_bias and np.shape(bias) != (4 * filters,)):
        raise ValueError(f"a bias of shape {(4 * filters,)} must be given exactly when use_bias")
    bias = None if bias is None else np.asarray(bias, np.float64)
    shape = state_shape(x.shape, filters, kernel_size, strides, padding, dilation_rate,
                        data_format)
    if initial_state is None:
        states = [np.zeros(shape), np.zeros(shape)]
    else:
        states = [np.asarray(s, np.float64) for s in initial_state]
        if len(states) != 2 or any(s.shape != shape for s in states):
            raise ValueError(f"initial_state must be [h, c] of shape {shape}, "
                             f"got {[s.shape for s in states]}")

    def step(x_t, states):
        return conv_lstm_step(x_t, states, kernel, recurrent_kernel, bias,
                              kernel_size=kernel_size, strides=strides, padding=padding,
                              dilation_rate=dilation_rate, data_format=data_format,
                              activation=activation,
                              recurrent_activation=recurrent_activation, spec=spec)
    outputs, states = fold(step, x, states, mask, go_backwards, zero_output_for_mask)
    return _layer_outputs(outputs, states, return_sequences, return_state)
