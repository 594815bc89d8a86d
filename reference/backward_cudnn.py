"""The backward pass of tf_keras's CuDNNGRU and CuDNNLSTM (reference/cudnn.py): the GRU
(reset_after) and LSTM VJPs of reference/backward_recurrent.py, tanh and sigmoid fixed, on the
weights of cudnn.keras_weights, their gradients carried back to cuDNN's layout.

keras_weights only moves values (a permutation of the kernels' entries) and, for the LSTM,
adds the two biases, so its VJP moves the gradients back and copies the LSTM's bias gradient
to both halves:

    kernel block g (n, u), read as W_g = block.reshape(u, n); Keras's block is W_g.T:
        dblock = (dKeras block).T.reshape(n, u)
    recurrent block g (u, u) is R_g; Keras's block is R_g.T:   dblock = (dKeras block).T
    GRU bias (b_W, b_R) = Keras's two bias rows:                dbias = [db_row0, db_row1]
    LSTM bias: Keras's b = b_W + b_R:                           dbias = [db, db]

Conventions as reference/backward_recurrent.py: u one cotangent per array the forward
returns; (dx, d initial states if given, dkernel, drecurrent_kernel, dbias).
"""
import numpy as np

from reference.backward_recurrent import _cotangents, arguments, bound_cell, sequence_vjp
from reference.cudnn import cudnn_gru, cudnn_lstm, keras_weights


def cudnn_weights_vjp(d_kernel, d_recurrent_kernel, gates, features, units):
    """The gradients of Keras's kernel and recurrent kernel (keras_weights' orientation)
    carried back to cuDNN's layout: each gate block transposed back (and the kernel's
    re-read row-major as (n, u))."""
    kernel = [d.T.reshape(features, units) for d in np.split(d_kernel, gates, axis=1)]
    recurrent = [d.T for d in np.split(d_recurrent_kernel, gates, axis=1)]
    return np.concatenate(kernel, axis=1), np.concatenate(recurrent, axis=1)


def _cudnn_vjp(forward, kind, gates, x, kernel, recurrent_kernel, bias, mask, initial_state,
               u, config):
    outputs = forward(x, kernel, recurrent_kernel, bias, mask, initial_state, **config)
    args = {**arguments(forward, config), "zero_output_for_mask": False}
    k, r, input_bias, recurrent_bias = keras_weights(
        *(np.asarray(w, np.float64) for w in (kernel, recurrent_kernel, bias)), gates)
    keras_bias = (np.stack([input_bias, recurrent_bias]) if kind == "GRU"
                  else input_bias + recurrent_bias)
    cell = bound_cell(kind, (k, r, keras_bias), activation="tanh",
                      recurrent_activation="sigmoid", reset_after=True, spec=args["spec"])
    *grads, d_k, d_r, d_bias = sequence_vjp(cell, x, None, initial_state,
                                            [args["units"]] * cell.state_count,
                                            _cotangents(u, outputs), args)
    d_kernel, d_recurrent = cudnn_weights_vjp(d_k, d_r, gates, np.shape(kernel)[0],
                                              args["units"])
    d_bias = d_bias.reshape(-1) if kind == "GRU" else np.concatenate([d_bias, d_bias])
    return (*grads, d_kernel, d_recurrent, d_bias)


def cudnn_gru_vjp(x, kernel, recurrent_kernel, bias, mask=None, initial_state=None, *, u,
                  **config):
    """CuDNNGRU: gru_vjp's fold (reset_after, tanh, sigmoid) on keras_weights, the weight
    gradients carried back (cudnn_weights_vjp; bias rows (b_W, b_R) flattened). Returns
    (dx, [dh0], dkernel, drecurrent_kernel, dbias)."""
    return _cudnn_vjp(cudnn_gru, "GRU", 3, x, kernel, recurrent_kernel, bias, mask,
                      initial_state, u, config)


def cudnn_lstm_vjp(x, kernel, recurrent_kernel, bias, mask=None, initial_state=None, *, u,
                   **config):
    """CuDNNLSTM: lstm_vjp's fold (tanh, sigmoid) on keras_weights with the bias b_W + b_R,
    the weight gradients carried back (the bias's to both halves). Returns (dx, [dh0, dc0],
    dkernel, drecurrent_kernel, dbias)."""
    return _cudnn_vjp(cudnn_lstm, "LSTM", 4, x, kernel, recurrent_kernel, bias, mask,
                      initial_state, u, config)
