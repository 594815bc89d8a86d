"""tf_keras's CuDNNGRU and CuDNNLSTM (Keras 2; Keras 3 has neither): the GRU and LSTM that
cuDNN computes, on weights in cuDNN's layout. tanh and sigmoid are fixed; there is no mask
(tf_keras raises "Masking is not supported for CuDNN RNNs."), no dropout and no use_bias.

Weight layout, as in `layer.get_weights()` (u = units, n = input features; G gates in
Keras's order: GRU z (update), r (reset), h (candidate), G = 3; LSTM i, f, c, o, G = 4):

- kernel (n, G*u): column block g holds gate g's input matrix as cuDNN reads it. The block's
  n*u values in row-major order are cuDNN's (u, n) matrix W_g, which multiplies x as W_g @ x:
  W_g = block.reshape(u, n). tf_keras hands each block to cuDNN without transposing it
  (cudnn_gru.py and cudnn_lstm.py: gru_lstm_utils.canonical_to_params, transpose_weights
  False), where GRU and LSTM transpose theirs (gru.py, lstm.py: transpose_weights=True). So
  a CuDNN kernel block is not a GRU/LSTM kernel block: that one is W_g.T.
- recurrent_kernel (u, G*u): block g, row-major, is cuDNN's (u, u) matrix R_g (R_g @ h).
- bias (2*G*u,): two bias vectors per gate set: the G input biases b_W (first half), then the
  G recurrent biases b_R (second half), each half in gate order.

The cuDNN formulas (cuDNN's CUDNN_GRU and CUDNN_LSTM; cuDNN calls z the update gate i):

    GRU:   z  = sigmoid(W_z x + b_Wz + R_z h + b_Rz)
           r  = sigmoid(W_r x + b_Wr + R_r h + b_Rr)
           h~ = tanh(W_h x + b_Wh + r * (R_h h + b_Rh))      (the reset gate after R_h h)
           h' = z * h + (1 - z) * h~
    LSTM:  i, f, o = sigmoid(W_g x + b_Wg + R_g h + b_Rg),  c~ = tanh(W_c x + b_Wc + R_c h + b_Rc)
           c' = f * c + i * c~,  h' = o * tanh(c')

which are Keras's GRU(reset_after=True) and LSTM with sigmoid and tanh, on the weights of
`keras_weights`: kernel blocks W_g.T, recurrent blocks R_g.T, and the GRU's bias rows
(b_W, b_R) or the LSTM's single bias b_W + b_R. The layers below are those steps
(reference/recurrent.py) folded over time.
"""
import numpy as np

from reference.config import takes_config
from reference.recurrent import _run, gru_step, lstm_step


def keras_weights(kernel, recurrent_kernel, bias, gates):
    """(kernel, recurrent_kernel, b_W, b_R) of a CuDNN layer's weights in the orientation of
    Keras's GRU and LSTM: x @ kernel + b_W and h @ recurrent_kernel + b_R give, gate block by
    gate block, W_g x + b_Wg and R_g h + b_Rg. Exact (a permutation of the values); in the
    weights' own dtype."""
    kernel, recurrent_kernel, bias = (np.asarray(w) for w in (kernel, recurrent_kernel, bias))
    features, units = kernel.shape[0], recurrent_kernel.shape[0]
    w = [block.reshape(units, features) for block in np.split(kernel, gates, axis=1)]
    r = np.split(recurrent_kernel, gates, axis=1)
    input_bias, recurrent_bias = np.split(bias, 2)
    return (np.concatenate([w_g.T for w_g in w], axis=1),
            np.concatenate([r_g.T for r_g in r], axis=1), input_bias, recurrent_bias)


def _checked(x, kernel, recurrent_kernel, bias, mask, units, gates):
    """The weights in Keras's orientation, after the checks tf_keras makes (and the shapes
    its build gives)."""
    if mask is not None:
        raise ValueError("Masking is not supported for CuDNN RNNs.")
    if not isinstance(units, int) or units <= 0:
        raise ValueError(f"`units` must be a positive int, got {units!r}")
    expected = [(np.shape(x)[-1], gates * units), (units, gates * units), (2 * gates * units,)]
    given = [np.shape(w) for w in (kernel, recurrent_kernel, bias)]
    if given != expected:
        raise ValueError(f"weight shapes {given}, expected {expected} (kernel, "
                         f"recurrent_kernel, bias)")
    return keras_weights(np.asarray(kernel, np.float64), np.asarray(recurrent_kernel, np.float64),
                         np.asarray(bias, np.float64), gates)


@takes_config
def cudnn_gru(x, kernel, recurrent_kernel, bias, mask=None, initial_state=None, *, units,
              return_sequences=False, return_state=False, go_backwards=False, stateful=False,
              time_major=False, spec="keras2"):
    """CuDNNGRU: gru_step with reset_after=True on keras_weights, bias rows (b_W, b_R),
    folded over time. x (batch, time, n), (time, batch, n) with time_major. Returns [output]
    or, with return_state, [output, h]."""
    kernel, recurrent_kernel, input_bias, recurrent_bias = _checked(
        x, kernel, recurrent_kernel, bias, mask, units, 3)

    def step(x_t, states, kernel, recurrent_kernel, bias):
        return gru_step(x_t, states, kernel, recurrent_kernel, bias, "tanh", "sigmoid",
                        True, spec)
    return _run(step, x, kernel, recurrent_kernel, np.stack([input_bias, recurrent_bias]),
                None, initial_state, units=units, gates=3, state_count=1, dropout=0.0,
                recurrent_dropout=0.0, time_major=time_major, go_backwards=go_backwards,
                zero_output_for_mask=False, return_sequences=return_sequences,
                return_state=return_state)


@takes_config
def cudnn_lstm(x, kernel, recurrent_kernel, bias, mask=None, initial_state=None, *, units,
               unit_forget_bias=True, return_sequences=False, return_state=False,
               go_backwards=False, stateful=False, time_major=False, spec="keras2"):
    """CuDNNLSTM: lstm_step on keras_weights with the bias b_W + b_R, folded over time
    (unit_forget_bias only initialises the bias). Returns [output] or, with return_state,
    [output, h, c]."""
    kernel, recurrent_kernel, input_bias, recurrent_bias = _checked(
        x, kernel, recurrent_kernel, bias, mask, units, 4)

    def step(x_t, states, kernel, recurrent_kernel, bias):
        return lstm_step(x_t, states, kernel, recurrent_kernel, bias, "tanh", "sigmoid", spec)
    return _run(step, x, kernel, recurrent_kernel, input_bias + recurrent_bias, None,
                initial_state, units=units, gates=4, state_count=2, dropout=0.0,
                recurrent_dropout=0.0, time_major=time_major, go_backwards=go_backwards,
                zero_output_for_mask=False, return_sequences=return_sequences,
                return_state=return_state)
