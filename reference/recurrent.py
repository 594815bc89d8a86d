"""Recurrent layers: one step function per cell (SimpleRNN, GRU, LSTM) and the one loop that
folds a step over time (masking, go_backwards, initial and final states).

Weight layouts, as in `layer.get_weights()` (u = units, n = input features):

- SimpleRNN: kernel (n, u), recurrent_kernel (u, u), bias (u,).
- LSTM: kernel (n, 4u), recurrent_kernel (u, 4u), bias (4u,); the four column blocks are the
  gates in the order i (input), f (forget), c (candidate), o (output).
- GRU: kernel (n, 3u), recurrent_kernel (u, 3u); blocks in the order z (update), r (reset),
  h (candidate). bias (3u,) with reset_after=False; (2, 3u) with reset_after=True: row 0 is
  added to x @ kernel, row 1 to h @ recurrent_kernel (the cuDNN layout).
"""
import numpy as np

from reference.activations import activation as get_activation
from reference.config import takes_config
from reference.core import linear_sum


def _blocks(z, count):
    """The `count` equal column blocks of z (gate pre-activations)."""
    return np.split(z, count, axis=-1)


def simple_rnn_step(x, states, kernel, recurrent_kernel, bias, activation, spec):
    """h' = act(x @ kernel + h @ recurrent_kernel + bias); the output is h'."""
    h, = states
    z = linear_sum(x, kernel) + linear_sum(h, recurrent_kernel)
    if bias is not None:
        z = z + bias
    h = get_activation(activation, spec)(z)
    return h, [h]


def lstm_step(x, states, kernel, recurrent_kernel, bias, activation, recurrent_activation,
              spec):
    """Gates i, f, c, o from z = x @ kernel + h @ recurrent_kernel + bias:
    i = rec(z_i), f = rec(z_f), o = rec(z_o), c' = f * c + i * act(z_c), h' = o * act(c').
    The output is h'; the states are [h', c']."""
    h, c = states
    z = linear_sum(x, kernel) + linear_sum(h, recurrent_kernel)
    if bias is not None:
        z = z + bias
    z_i, z_f, z_c, z_o = _blocks(z, 4)
    act, rec = get_activation(activation, spec), get_activation(recurrent_activation, spec)
    c = rec(z_f) * c + rec(z_i) * act(z_c)
    h = rec(z_o) * act(c)
    return h, [h, c]


def gru_step(x, states, kernel, recurrent_kernel, bias, activation, recurrent_activation,
             reset_after, spec):
    """Gates z, r and the candidate from x @ kernel and h @ recurrent_kernel (blocks z, r, h):
    z = rec(x_z + h_z), r = rec(x_r + h_r), h' = z * h + (1 - z) * candidate, where
    reset_after=False: candidate = act(x_h + (r * h) @ recurrent_kernel_h)  (reset, then matmul)
    reset_after=True:  candidate = act(x_h + r * (h @ recurrent_kernel_h + b_rec_h))."""
    h, = states
    units = h.shape[-1]
    act, rec = get_activation(activation, spec), get_activation(recurrent_activation, spec)
    input_bias, recurrent_bias = (None, None) if bias is None else (
        (bias[0], bias[1]) if reset_after else (bias, None))
    x_all = linear_sum(x, kernel)
    if input_bias is not None:
        x_all = x_all + input_bias
    x_z, x_r, x_h = _blocks(x_all, 3)
    u_zr, u_h = recurrent_kernel[:, :2 * units], recurrent_kernel[:, 2 * units:]
    if reset_after:
        inner = linear_sum(h, recurrent_kernel)
        if recurrent_bias is not None:
            inner = inner + recurrent_bias
        h_z, h_r, h_h = _blocks(inner, 3)
        z, r = rec(x_z + h_z), rec(x_r + h_r)
        candidate = act(x_h + r * h_h)
    else:
        h_z, h_r = _blocks(linear_sum(h, u_zr), 2)
        z, r = rec(x_z + h_z), rec(x_r + h_r)
        candidate = act(x_h + linear_sum(r * h, u_h))
    h = z * h + (1 - z) * candidate
    return h, [h]


def fold(step, x, states, mask=None, go_backwards=False, zero_output_for_mask=False):
    """The one RNN loop: apply `step` to x[:, t] for each time step t (from the last when
    go_backwards), carrying the states. Returns (outputs, final states), outputs of shape
    (batch, time, units) in processing order (reversed time order when go_backwards).

    mask (batch, time), True = a real step: at a masked step a row keeps its states and
    repeats its previous output; before its first real step that is 0, whatever the initial
    state (tf.keras, tf_keras and keras-torch; Keras 3 on JAX and NumPy repeat the initial
    state's h instead). zero_output_for_mask: masked steps output 0. A row masked everywhere
    outputs 0 and returns its initial states.
    """
    order = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    outputs, previous = [], None
    for t in order:
        output, new_states = step(x[:, t], states)
        if mask is not None:
            keep = np.asarray(mask)[:, t][:, None]
            before = 0.0 if zero_output_for_mask or previous is None else previous
            output = np.where(keep, output, before)
            new_states = [np.where(keep, new, old) for new, old in zip(new_states, states)]
        outputs.append(output)
        states, previous = new_states, output
    return np.stack(outputs, axis=1), states


def _layer_outputs(outputs, states, return_sequences, return_state):
    """What the layer returns: the sequence or the last output, then the final states."""
    first = outputs if return_sequences else outputs[:, -1]
    return [first, *states] if return_state else [first]


def _initial(initial_state, count, batch, units):
    if initial_state is None:
        return [np.zeros((batch, units)) for _ in range(count)]
    states = [np.asarray(s, np.float64) for s in initial_state]
    if len(states) != count or any(s.shape != (batch, units) for s in states):
        raise ValueError(f"initial_state must be {count} arrays of shape {(batch, units)}, "
                         f"got {[s.shape for s in states]}")
    return states


def _check_common(x, units, dropout, recurrent_dropout, kernel, gates):
    if not isinstance(units, int) or units <= 0:
        raise ValueError(f"`units` must be a positive int, got {units!r}")
    if x.ndim != 3:
        raise ValueError(f"a recurrent layer takes (batch, time, features), got {x.shape}")
    if not (0 <= dropout <= 1 and 0 <= recurrent_dropout <= 1):
        raise ValueError("dropout rates must be in [0, 1]")
    if kernel.shape != (x.shape[-1], gates * units):
        raise ValueError(f"kernel shape {kernel.shape}, expected {(x.shape[-1], gates * units)}")


def _run(step, x, kernel, recurrent_kernel, bias, mask, initial_state, *, units, gates,
         state_count, dropout, recurrent_dropout, time_major, go_backwards,
         zero_output_for_mask, return_sequences, return_state):
    """What the three layers share: checks, time_major (Keras 2: inputs (time, batch, ...)),
    the fold of step(x_t, states, kernel, recurrent_kernel, bias) over time, and the outputs."""
    x = np.asarray(x, np.float64)
    if time_major:
        x = np.swapaxes(x, 0, 1)
        mask = None if mask is None else np.swapaxes(np.asarray(mask), 0, 1)
    _check_common(x, units, dropout, recurrent_dropout, np.asarray(kernel), gates)
    kernel = np.asarray(kernel, np.float64)
    recurrent_kernel = np.asarray(recurrent_kernel, np.float64)
    bias = None if bias is None else np.asarray(bias, np.float64)
    outputs, states = fold(lambda x_t, s: step(x_t, s, kernel, recurrent_kernel, bias), x,
                           _initial(initial_state, state_count, x.shape[0], units), mask,
                           go_backwards, zero_output_for_mask)
    if time_major and return_sequences:
        outputs = np.swapaxes(outputs, 0, 1)
    return _layer_outputs(outputs, states, return_sequences, return_state)


@takes_config
def simple_rnn(x, kernel, recurrent_kernel, bias=None, mask=None, initial_state=None, *,
               units, activation="tanh", use_bias=True, return_sequences=False,
               return_state=False, go_backwards=False, stateful=False, unroll=False,
               zero_output_for_mask=False, time_major=False,
               dropout=0.0, recurrent_dropout=0.0, seed=None, spec="keras3"):
    """SimpleRNN at inference (dropout is identity there): simple_rnn_step folded over time.
    Returns [output] or, with return_state, [output, h]."""
    def step(x_t, states, kernel, recurrent_kernel, bias):
        return simple_rnn_step(x_t, states, kernel, recurrent_kernel, bias, activation, spec)
    return _run(step, x, kernel, recurrent_kernel, bias, mask, initial_state, units=units,
                gates=1, state_count=1, dropout=dropout, recurrent_dropout=recurrent_dropout,
                time_major=time_major, go_backwards=go_backwards,
                zero_output_for_mask=zero_output_for_mask, return_sequences=return_sequences,
                return_state=return_state)


@takes_config
def lstm(x, kernel, recurrent_kernel, bias=None, mask=None, initial_state=None, *, units,
         activation="tanh", recurrent_activation="sigmoid", use_bias=True,
         unit_forget_bias=True, implementation=2, return_sequences=False, return_state=False,
         go_backwards=False, stateful=False, unroll=False, zero_output_for_mask=False,
         time_major=False, dropout=0.0, recurrent_dropout=0.0, seed=None, use_cudnn="auto",
         spec="keras3"):
    """LSTM at inference: lstm_step folded over time. unit_forget_bias only initialises the
    bias; implementation only changes how the matmuls are grouped. Returns [output] or, with
    return_state, [output, h, c]."""
    def step(x_t, states, kernel, recurrent_kernel, bias):
        return lstm_step(x_t, states, kernel, recurrent_kernel, bias, activation,
                         recurrent_activation, spec)
    return _run(step, x, kernel, recurrent_kernel, bias, mask, initial_state, units=units,
                gates=4, state_count=2, dropout=dropout, recurrent_dropout=recurrent_dropout,
                time_major=time_major, go_backwards=go_backwards,
                zero_output_for_mask=zero_output_for_mask, return_sequences=return_sequences,
                return_state=return_state)


@takes_config
def gru(x, kernel, recurrent_kernel, bias=None, mask=None, initial_state=None, *, units,
        activation="tanh", recurrent_activation="sigmoid", use_bias=True, reset_after=True,
        implementation=2, return_sequences=False, return_state=False, go_backwards=False,
        stateful=False, unroll=False, zero_output_for_mask=False, time_major=False,
        dropout=0.0, recurrent_dropout=0.0, seed=None, use_cudnn="auto", spec="keras3"):
    """GRU at inference: gru_step folded over time. bias is (2, 3u) with reset_after, else
    (3u,). Returns [output] or, with return_state, [output, h]."""
    expected_bias = (2, 3 * units) if reset_after else (3 * units,)
    if bias is not None and np.shape(bias) != expected_bias:
        raise ValueError(f"bias shape {np.shape(bias)}, expected {expected_bias} "
                         f"(reset_after={reset_after})")

    def step(x_t, states, kernel, recurrent_kernel, bias):
        return gru_step(x_t, states, kernel, recurrent_kernel, bias, activation,
                        recurrent_activation, reset_after, spec)
    return _run(step, x, kernel, recurrent_kernel, bias, mask, initial_state, units=units,
                gates=3, state_count=1, dropout=dropout, recurrent_dropout=recurrent_dropout,
                time_major=time_major, go_backwards=go_backwards,
                zero_output_for_mask=zero_output_for_mask, return_sequences=return_sequences,
                return_state=return_state)
