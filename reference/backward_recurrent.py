"""The backward pass of the recurrent layers of reference/recurrent.py: SimpleRNN, LSTM and GRU
(both reset_after), the cells SimpleRNNCell, LSTMCell and GRUCell, StackedRNNCells and RNN over
a cell or a stack of cells, all at inference (dropout is the identity there).

Backpropagation through time. The forward folds a step over time (recurrent.fold); the
backward replays that very fold, recording the states that enter each step, then walks the
steps in reverse (fold_vjp): at processing step k (time t), with D_out the gradient of the
step's output and D_s that of the states it leaves,

    dx[:, t], D_s(k-1), dW += step_vjp(x[:, t], states entering k, D_out, D_s)

the cell's own VJP (its output is its first new state, h', so the two gradients add). A
masked step (mask[b, t] False) of row b selects instead of stepping (fold's np.where):
its states are the entering ones, carried, and its output the previous step's output (0 at
the first step or with zero_output_for_mask), so its gradients pass straight through to the
step before (masked_step_vjp) and its step sees none. go_backwards only changes the order of
the steps; the outputs are in processing order as the forward returns them.

Conventions as reference/backward_core.py, with the differences a recurrent layer needs:
- `u` is one cotangent per array the forward returns ([output] or [output, *states] with
  return_state; a cell [h', *states']), a list of that length;
- the gradients are (dx, d initial_state..., weight gradients in get_weights() order): the
  initial states only when given (a cell's states always are), dbias only with a bias;
- the config passes through to the forward as it is (its complete get_config()): the forward
  checks it and refuses it, in one place, and its defaults are the ones read here.
Where an activation has a kink (relu, hard_sigmoid), activation_gap(forward, ...) gives the
smallest distance of any activation input of any step to one: cases keep it well above the
finite-difference step.
"""
import inspect
from collections import namedtuple

import numpy as np

from reference.backward_activations import activation_vjp, cotangent, kink_distance
from reference.config import layer_arguments
from reference.core import linear_sum
from reference.recurrent import (
    CELLS, _blocks, _per_row, cell_configs, fold, gru, gru_cell, gru_step, lstm,
    lstm_cell, lstm_gates, lstm_step, rnn, simple_rnn, simple_rnn_cell, simple_rnn_step,
    stacked_rnn_cells,
)
from reference.activations import activation as get_activation


# ---- one step of each cell ---------------------------------------------------------------

def _affine(x, h, kernel, recurrent_kernel, bias):
    """z = x @ kernel + h @ recurrent_kernel (+ bias), as simple_rnn_step and lstm_step."""
    z = linear_sum(x, kernel) + linear_sum(h, recurrent_kernel)
    return z if bias is None else z + bias


def _affine_vjp(x, h, kernel, recurrent_kernel, bias, g):
    """The VJP of _affine for g = dL/dz: (dx, dh, [dkernel, drecurrent_kernel, dbias]),

        dx = g kernel^T,  dh = g recurrent_kernel^T,
        dkernel = x^T g,  drecurrent_kernel = h^T g,  dbias = sum over the batch of g,
    without dbias when there is no bias."""
    weights = [linear_sum(x.T, g), linear_sum(h.T, g)] + ([g.sum(axis=0)] * (bias is not None))
    return linear_sum(g, kernel.T), linear_sum(g, recurrent_kernel.T), weights


def simple_rnn_inputs(x, states, kernel, recurrent_kernel, bias, activation, spec):
    """[(activation, z)], z = x @ kernel + h @ recurrent_kernel + bias: what the step feeds an
    activation."""
    return [(activation, _affine(x, states[0], kernel, recurrent_kernel, bias))]


def simple_rnn_step_vjp(x, states, kernel, recurrent_kernel, bias, d_states, activation, spec):
    """h' = act(z); with D = dL/dh' and g = act'(z) D (activation_vjp), _affine_vjp(g):
    dx = g kernel^T, dh = g recurrent_kernel^T, dkernel = x^T g, drecurrent_kernel = h^T g,
    dbias = sum_b g. Returns (dx, [dh], weight gradients)."""
    (_, z), = simple_rnn_inputs(x, states, kernel, recurrent_kernel, bias, activation, spec)
    g = activation_vjp(activation, spec)(z, d_states[0])
    dx, dh, weights = _affine_vjp(x, states[0], kernel, recurrent_kernel, bias, g)
    return dx, [dh], weights


def lstm_inputs(x, states, kernel, recurrent_kernel, bias, activation, recurrent_activation,
                spec):
    """[(rec, z_i), (rec, z_f), (act, z_c), (rec, z_o), (act, c')]: z = x @ kernel +
    h @ recurrent_kernel + bias in blocks i, f, c, o, and c' = rec(z_f) c + rec(z_i) act(z_c)
    (lstm_gates)."""
    z_i, z_f, z_c, z_o = _blocks(_affine(x, states[0], kernel, recurrent_kernel, bias), 4)
    _, c_new = lstm_gates(z_i, z_f, z_c, z_o, states[1], activation, recurrent_activation,
                          spec)
    rec, act = recurrent_activation, activation
    return [(rec, z_i), (rec, z_f), (act, z_c), (rec, z_o), (act, c_new)]


def lstm_gates_vjp(z_i, z_f, z_c, z_o, c, dh_new, dc_new, activation, recurrent_activation,
                   spec):
    """The VJP of lstm_gates (LSTM and ConvLSTM2D alike): i = rec(z_i), f = rec(z_f),
    g = act(z_c), o = rec(z_o), c' = f c + i g, h' = o act(c'). With dh', dc' the gradients
    of the states the step leaves:

        dc' += act'(c') (dh' o)            (h' reads c')
        do = dh' act(c'),  di = dc' g,  df = dc' c,  dg = dc' i,  dc = dc' f
        dz = [rec'(z_i) di, rec'(z_f) df, act'(z_c) dg, rec'(z_o) do]   (blocks i, f, c, o)

    Elementwise, in any layout (the activations' last axis is the blocks' own, as the forward
    applies them). Returns ([dz_i, dz_f, dz_c, dz_o], dc)."""
    _, c_new = lstm_gates(z_i, z_f, z_c, z_o, c, activation, recurrent_activation, spec)
    act, rec = get_activation(activation, spec), get_activation(recurrent_activation, spec)
    act_vjp, rec_vjp = activation_vjp(activation, spec), activation_vjp(recurrent_activation, spec)
    i, f, g, o = rec(z_i), rec(z_f), act(z_c), rec(z_o)
    dc_new = dc_new + act_vjp(c_new, dh_new * o)
    return ([rec_vjp(z_i, dc_new * g), rec_vjp(z_f, dc_new * c), act_vjp(z_c, dc_new * i),
             rec_vjp(z_o, dh_new * act(c_new))], dc_new * f)


def lstm_step_vjp(x, states, kernel, recurrent_kernel, bias, d_states, activation,
                  recurrent_activation, spec):
    """z = x @ kernel + h @ recurrent_kernel + bias in blocks i, f, c, o; the gates'
    gradient dz and dc by lstm_gates_vjp, then _affine_vjp(dz). Returns (dx, [dh, dc], weight
    gradients)."""
    h, c = states
    z_i, z_f, z_c, z_o = _blocks(_affine(x, h, kernel, recurrent_kernel, bias), 4)
    dz, dc = lstm_gates_vjp(z_i, z_f, z_c, z_o, c, *d_states, activation,
                            recurrent_activation, spec)
    dx, dh, weights = _affine_vjp(x, h, kernel, recurrent_kernel, bias,
                                  np.concatenate(dz, axis=-1))
    return dx, [dh, dc], weights


def _gru_parts(x, h, kernel, recurrent_kernel, bias, reset_after):
    """x_all = x @ kernel + input bias in blocks (x_z, x_r, x_h), and the recurrent part
    in blocks: reset_after, h @ recurrent_kernel + recurrent bias (h_z, h_r, h_h); else
    h @ recurrent_kernel[:, :2u] (h_z, h_r) (gru_step's layout of the bias)."""
    units = h.shape[-1]
    input_bias, recurrent_bias = (None, None) if bias is None else (
        (bias[0], bias[1]) if reset_after else (bias, None))
    x_all = linear_sum(x, kernel) + (0.0 if input_bias is None else input_bias)
    if reset_after:
        inner = linear_sum(h, recurrent_kernel) + (0.0 if recurrent_bias is None
                                                   else recurrent_bias)
        return _blocks(x_all, 3), _blocks(inner, 3)
    return _blocks(x_all, 3), _blocks(linear_sum(h, recurrent_kernel[:, :2 * units]), 2)


def gru_inputs(x, states, kernel, recurrent_kernel, bias, activation, recurrent_activation,
               reset_after, spec):
    """[(rec, a_z), (rec, a_r), (act, a_h)]: a_z = x_z + h_z, a_r = x_r + h_r and the
    candidate's input a_h = x_h + r h_h (reset_after) or x_h + (r h) @ recurrent_kernel_h."""
    h, = states
    (x_z, x_r, x_h), (h_z, h_r, *h_h) = _gru_parts(x, h, kernel, recurrent_kernel, bias,
                                                    reset_after)
    r = get_activation(recurrent_activation, spec)(x_r + h_r)
    units = h.shape[-1]
    a_h = x_h + (r * h_h[0] if reset_after
                 else linear_sum(r * h, recurrent_kernel[:, 2 * units:]))
    rec, act = recurrent_activation, activation
    return [(rec, x_z + h_z), (rec, x_r + h_r), (act, a_h)]


def gru_step_vjp(x, states, kernel, recurrent_kernel, bias, d_states, activation,
                 recurrent_activation, reset_after, spec):
    """z = rec(a_z), r = rec(a_r), n = act(a_h), h' = z h + (1 - z) n (gru_inputs). With
    D = dL/dh': dz = D (h - n), dh = D z, dn = D (1 - z); g_z = rec'(a_z) dz, g_h = act'(a_h) dn,

        reset_after=True:  dr = g_h h_h; g_r = rec'(a_r) dr; the recurrent part's gradient
            d_inner = [g_z, g_r, g_h r]: dh += d_inner recurrent_kernel^T,
            drecurrent_kernel = h^T d_inner, dbias[1] = sum_b d_inner
        reset_after=False: d(r h) = g_h recurrent_kernel_h^T; dr = d(r h) h, dh += d(r h) r;
            g_r = rec'(a_r) dr; dh += [g_z, g_r] recurrent_kernel_zr^T,
            drecurrent_kernel = [h^T [g_z, g_r], (r h)^T g_h]

    and through x_all: dx = [g_z, g_r, g_h] kernel^T, dkernel = x^T [g_z, g_r, g_h], the input
    bias (dbias[0], or dbias without reset_after) sum_b [g_z, g_r, g_h].
    Returns (dx, [dh], weight gradients)."""
    h, = states
    units = h.shape[-1]
    (rec, a_z), (_, a_r), (act, a_h) = gru_inputs(
        x, states, kernel, recurrent_kernel, bias, activation, recurrent_activation,
        reset_after, spec)
    _, (*_, h_h) = _gru_parts(x, h, kernel, recurrent_kernel, bias, reset_after)
    z, r, n = get_activation(rec, spec)(a_z), get_activation(rec, spec)(a_r), \
        get_activation(act, spec)(a_h)
    d_h_new = d_states[0]
    g_z = activation_vjp(rec, spec)(a_z, d_h_new * (h - n))
    g_h = activation_vjp(act, spec)(a_h, d_h_new * (1 - z))
    dh = d_h_new * z
    if reset_after:
        g_r = activation_vjp(rec, spec)(a_r, g_h * h_h)
        d_inner = np.concatenate([g_z, g_r, g_h * r], axis=-1)
        dh = dh + linear_sum(d_inner, recurrent_kernel.T)
        drecurrent_kernel = linear_sum(h.T, d_inner)
    else:
        kernel_zr, kernel_h = recurrent_kernel[:, :2 * units], recurrent_kernel[:, 2 * units:]
        d_rh = linear_sum(g_h, kernel_h.T)
        g_r = activation_vjp(rec, spec)(a_r, d_rh * h)
        g_zr = np.concatenate([g_z, g_r], axis=-1)
        dh = dh + d_rh * r + linear_sum(g_zr, kernel_zr.T)
        drecurrent_kernel = np.concatenate([linear_sum(h.T, g_zr), linear_sum((r * h).T, g_h)],
                                           axis=-1)
    d_x_all = np.concatenate([g_z, g_r, g_h], axis=-1)
    weights = [linear_sum(x.T, d_x_all), drecurrent_kernel]
    if bias is not None:
        d_input_bias = d_x_all.sum(axis=0)
        weights.append(np.stack([d_input_bias, d_inner.sum(axis=0)]) if reset_after
                       else d_input_bias)
    return linear_sum(d_x_all, kernel.T), [dh], weights


# ---- a cell, its weights and activations bound --------------------------------------------

# step(x, states) -> (output, new states), the forward's step; vjp(x, states, d_output,
# d_states) -> (dx, d entering states, weight gradients); inputs(x, states) -> [(activation
# name, its input)]; state_count; spec.
Cell = namedtuple("Cell", "step vjp inputs state_count spec")


def bound_cell(kind, weights, *, activation="tanh", recurrent_activation="sigmoid",
               reset_after=True, spec="keras3", **_):
    """The Cell of `kind` ("SimpleRNN", "LSTM", "GRU") over weights (kernel,
    recurrent_kernel, bias or None); the other config keys (units, use_bias, ...) change
    nothing in a step. Its vjp adds the output's gradient to h's: the output is h'."""
    kernel, recurrent_kernel, bias = weights
    args = {"SimpleRNN": (activation,),
            "LSTM": (activation, recurrent_activation),
            "GRU": (activation, recurrent_activation, reset_after)}[kind]
    step, step_vjp, inputs = {
        "SimpleRNN": (simple_rnn_step, simple_rnn_step_vjp, simple_rnn_inputs),
        "LSTM": (lstm_step, lstm_step_vjp, lstm_inputs),
        "GRU": (gru_step, gru_step_vjp, gru_inputs)}[kind]

    def vjp(x, states, d_output, d_states):
        d_states = [d_states[0] + d_output, *d_states[1:]]
        return step_vjp(x, states, kernel, recurrent_kernel, bias, d_states, *args, spec)
    return Cell(lambda x, states: step(x, states, kernel, recurrent_kernel, bias, *args, spec),
                vjp,
                lambda x, states: inputs(x, states, kernel, recurrent_kernel, bias, *args, spec),
                2 if kind == "LSTM" else 1, spec)


def stacked_cell(cells):
    """The Cell of cells stacked (StackedRNNCells): each cell's output is the next one's input,
    the states each cell's in turn. Its vjp walks the cells in reverse: a cell's input
    gradient is the output gradient of the cell before."""
    def split(states):
        parts = []
        for cell in cells:
            parts.append(list(states[:cell.state_count]))
            states = states[cell.state_count:]
        return parts

    def step(x, states):
        new_states = []
        for cell, own in zip(cells, split(states)):
            x, own_new = cell.step(x, own)
            new_states += own_new
        return x, new_states

    def walk(x, states):
        """The input each cell takes, and its states."""
        inputs = []
        for cell, own in zip(cells, split(states)):
            inputs.append((x, own))
            x, _ = cell.step(x, own)
        return inputs

    def vjp(x, states, d_output, d_states):
        d_entering, weights = [], []
        for cell, (x_j, own), d_own in reversed(list(zip(cells, walk(x, states),
                                                          split(d_states)))):
            d_output, d_own_entering, d_weights = cell.vjp(x_j, own, d_output, d_own)
            d_entering, weights = d_own_entering + d_entering, d_weights + weights
        return d_output, d_entering, weights

    def inputs(x, states):
        return [pair for cell, (x_j, own) in zip(cells, walk(x, states))
                for pair in cell.inputs(x_j, own)]
    return Cell(step, vjp, inputs, sum(c.state_count for c in cells), cells[0].spec)


# ---- the fold over time, in reverse -------------------------------------------------------

def masked_step_vjp(keep, d_output, d_states, passes_output):
    """The VJP of a step's selection in fold, per row: output = where(keep, step output,
    before), states = where(keep, step states, entering states), before the previous output
    (passes_output) or 0. Returns (the step's d_output, the step's d_states, d previous output,
    d entering states carried), keep broadcast over each row."""
    return (np.where(keep, d_output, 0.0), [np.where(keep, d, 0.0) for d in d_states],
            np.where(keep, 0.0, d_output) if passes_output else 0.0,
            [np.where(keep, 0.0, d) for d in d_states])


def _replay(cell, x, states, mask, go_backwards, zero_output_for_mask):
    """The forward's own fold of cell.step, recording (t, x_t, entering states) per step in
    processing order. Returns (the records, the outputs, the final states)."""
    records, order = [], iter(range(x.shape[1] - 1, -1, -1) if go_backwards
                              else range(x.shape[1]))

    def recording(x_t, entering):
        records.append((next(order), x_t, entering))
        return cell.step(x_t, entering)
    outputs, final = fold(recording, x, states, mask, go_backwards, zero_output_for_mask)
    return records, outputs, final


def fold_vjp(cell, x, states, mask, go_backwards, zero_output_for_mask, d_outputs, d_final):
    """The transpose of fold(cell.step, x, states, ...): d_outputs (batch, time, units) the
    gradient of the outputs in processing order, d_final that of the final states.
    Returns (dx, d initial states, weight gradients summed over the steps)."""
    records, _, _ = _replay(cell, x, states, mask, go_backwards, zero_output_for_mask)
    dx, weights = np.zeros_like(x), None
    d_states, d_carried = list(d_final), 0.0
    for k in range(len(records) - 1, -1, -1):
        t, x_t, entering = records[k]
        d_output, d_kept = d_outputs[:, k] + d_carried, [0.0] * len(d_states)
        if mask is not None:
            keep = _per_row(mask, t, d_output)
            d_output, d_states, d_carried, d_kept = masked_step_vjp(
                keep, d_output, d_states, passes_output=k > 0 and not zero_output_for_mask)
        dx[:, t], d_entering, d_weights = cell.vjp(x_t, entering, d_output, d_states)
        d_states = [a + b for a, b in zip(d_entering, d_kept)]
        weights = d_weights if weights is None else [a + b for a, b in zip(weights, d_weights)]
    return dx, d_states, weights


# ---- the layers ----------------------------------------------------------------------------

def arguments(forward, config):
    """The forward's keyword arguments for a layer config, defaults filled in."""
    function = forward.__wrapped__
    defaults = {name: p.default for name, p in inspect.signature(function).parameters.items()
                if p.kind is p.KEYWORD_ONLY and p.default is not p.empty}
    return {**defaults, **layer_arguments(function, config)}


def _cotangents(u, outputs):
    """u as one float64 cotangent per array the forward returns."""
    if not isinstance(u, (list, tuple)) or len(u) != len(outputs):
        raise ValueError(f"the cotangent must be a list of {len(outputs)} arrays (one per "
                         f"output), got {type(u).__name__}")
    return [cotangent(w, y) for w, y in zip(u, outputs)]


def _sequence(x, mask, initial_state, state_units, args):
    """(x, mask) batch-major, and the initial states, as recurrent._run and rnn read them."""
    x = np.asarray(x, np.float64)
    if args["time_major"]:
        x = np.swapaxes(x, 0, 1)
        mask = None if mask is None else np.swapaxes(np.asarray(mask), 0, 1)
    if initial_state is None:
        states = [np.zeros((x.shape[0], n)) for n in state_units]
    else:
        states = [np.asarray(s, np.float64) for s in initial_state]
    return x, mask, states


def sequence_vjp(cell, x, mask, initial_state, state_units, u, args):
    """The VJP of a layer folding `cell` over time: (dx, d initial states if given, weight
    gradients). u[0] is the gradient of the sequence (return_sequences) or of the last output
    (processing order); u[1:] those of the final states (return_state)."""
    x, mask, states = _sequence(x, mask, initial_state, state_units, args)
    tail = u[0].shape[2:] if args["return_sequences"] else u[0].shape[1:]   # an output step
    d_outputs = np.zeros((*x.shape[:2], *tail))
    if args["return_sequences"]:
        d_outputs[:] = np.swapaxes(u[0], 0, 1) if args["time_major"] else u[0]
    else:
        d_outputs[:, -1] = u[0]
    d_final = u[1:] if args["return_state"] else [np.zeros_like(s) for s in states]
    dx, d_initial, d_weights = fold_vjp(cell, x, states, mask, args["go_backwards"],
                                        args["zero_output_for_mask"], d_outputs, d_final)
    dx = np.swapaxes(dx, 0, 1) if args["time_major"] else dx
    return (dx, *(d_initial if initial_state is not None else []), *d_weights)


def _layer_vjp(forward, kind, x, kernel, recurrent_kernel, bias, mask, initial_state, u, config):
    outputs = forward(x, kernel, recurrent_kernel, bias, mask, initial_state, **config)
    args = arguments(forward, config)
    weights = tuple(None if w is None else np.asarray(w, np.float64)
                    for w in (kernel, recurrent_kernel, bias))
    cell = bound_cell(kind, weights, **args)
    return sequence_vjp(cell, x, mask, initial_state, [args["units"]] * cell.state_count,
                        _cotangents(u, outputs), args)


def simple_rnn_vjp(x, kernel, recurrent_kernel, bias=None, mask=None, initial_state=None, *,
                   u, **config):
    """SimpleRNN: fold_vjp of simple_rnn_step_vjp. Returns (dx, [dh0], dkernel,
    drecurrent_kernel, [dbias]); u: [d output] or, with return_state, [d output, d h]."""
    return _layer_vjp(simple_rnn, "SimpleRNN", x, kernel, recurrent_kernel, bias, mask,
                      initial_state, u, config)


def lstm_vjp(x, kernel, recurrent_kernel, bias=None, mask=None, initial_state=None, *, u,
             **config):
    """LSTM: fold_vjp of lstm_step_vjp. Returns (dx, [dh0, dc0], dkernel, drecurrent_kernel,
    [dbias]); u: [d output] or, with return_state, [d output, d h, d c]."""
    return _layer_vjp(lstm, "LSTM", x, kernel, recurrent_kernel, bias, mask, initial_state, u,
                      config)


def gru_vjp(x, kernel, recurrent_kernel, bias=None, mask=None, initial_state=None, *, u,
            **config):
    """GRU: fold_vjp of gru_step_vjp (either reset_after). Returns (dx, [dh0], dkernel,
    drecurrent_kernel, [dbias of (2, 3u) or (3u,)]); u: [d output] or [d output, d h]."""
    return _layer_vjp(gru, "GRU", x, kernel, recurrent_kernel, bias, mask, initial_state, u,
                      config)


# ---- the cells, StackedRNNCells and RNN ---------------------------------------------------

def _cell_vjp(forward, kind, x, weights, states, u, config):
    """One step: [h', *states'] = forward(x, *weights, states); u one cotangent each.
    Returns (dx, d states (0 for the states beyond the cell's own), weight gradients)."""
    outputs = forward(x, *weights, states=states, **config)
    u = _cotangents(u, outputs)
    weights = tuple(None if w is None else np.asarray(w, np.float64) for w in weights)
    cell = bound_cell(kind, weights, **arguments(forward, config))
    own = [np.asarray(s, np.float64) for s in states[:cell.state_count]]
    dx, d_states, d_weights = cell.vjp(np.asarray(x, np.float64), own, u[0], u[1:])
    ignored = [np.zeros(np.shape(s)) for s in states[cell.state_count:]]
    return (dx, *d_states, *ignored, *d_weights)


def simple_rnn_cell_vjp(x, kernel, recurrent_kernel, bias=None, states=None, *, u, **config):
    """SimpleRNNCell: simple_rnn_step_vjp; u [d h', d h'] (the two add)."""
    return _cell_vjp(simple_rnn_cell, "SimpleRNN", x, (kernel, recurrent_kernel, bias),
                     states, u, config)


def lstm_cell_vjp(x, kernel, recurrent_kernel, bias=None, states=None, *, u, **config):
    """LSTMCell: lstm_step_vjp; u [d h', d h', d c']; returns (dx, dh, dc, weights)."""
    return _cell_vjp(lstm_cell, "LSTM", x, (kernel, recurrent_kernel, bias), states, u, config)


def gru_cell_vjp(x, kernel, recurrent_kernel, bias=None, states=None, *, u, **config):
    """GRUCell: gru_step_vjp; u [d h', d h']."""
    return _cell_vjp(gru_cell, "GRU", x, (kernel, recurrent_kernel, bias), states, u, config)


def _stack(cell, weights, spec):
    """(the stacked Cell, the units of each state) of the serialized `cell` (one cell or a
    stack, recurrent.cell_configs), weights each cell's in turn (no bias without use_bias)."""
    cells, units, weights = [], [], [np.asarray(w, np.float64) for w in weights]
    for class_name, config in cell_configs(cell):
        function, state_count = CELLS[class_name]
        args = arguments(function, {**config, "spec": spec})
        count = 3 if args["use_bias"] else 2
        own = (*weights[:count], None)[:3]
        cells.append(bound_cell(class_name[:-len("Cell")], own, **args))
        units += [args["units"]] * state_count
        weights = weights[count:]
    return stacked_cell(cells), units


def stacked_rnn_cells_vjp(x, *weights, states=None, u, **config):
    """StackedRNNCells: the cells' step VJPs in reverse (stacked_cell). u [d output, d each
    state]; returns (dx, d each state, each cell's weight gradients in turn)."""
    outputs = stacked_rnn_cells(x, *weights, states=states, **config)
    u = _cotangents(u, outputs)
    args = arguments(stacked_rnn_cells, config)
    stack, _ = _stack(list(args["cells"]), weights, args["spec"])
    dx, d_states, d_weights = stack.vjp(np.asarray(x, np.float64),
                                        [np.asarray(s, np.float64) for s in states], u[0], u[1:])
    return (dx, *d_states, *d_weights)


def rnn_vjp(x, *weights, mask=None, initial_state=None, u, **config):
    """RNN(cell): fold_vjp of the cell's (or the stack's) VJP. Returns (dx, d initial states
    if given, each cell's weight gradients in turn); u [d output, d each state if
    return_state]."""
    outputs = rnn(x, *weights, mask=mask, initial_state=initial_state, **config)
    args = arguments(rnn, config)
    stack, units = _stack(args["cell"], weights, args["spec"])
    return sequence_vjp(stack, x, mask, initial_state, units, _cotangents(u, outputs), args)


# ---- where the derivative is defined --------------------------------------------------------

def activation_gap(forward, x, *weights, mask=None, initial_state=None, **config):
    """The smallest kink_distance of any activation input at any step of the recurrent layer
    `forward` (simple_rnn, lstm, gru or rnn) on this case: inf for smooth activations. A case
    whose gap is well above the finite-difference step has a defined gradient."""
    forward(x, *weights, mask=mask, initial_state=initial_state, **config)
    args = arguments(forward, config)
    if forward is rnn:
        cell, units = _stack(config["cell"], weights, args["spec"])
    else:
        kind = {simple_rnn: "SimpleRNN", lstm: "LSTM", gru: "GRU"}[forward]
        padded = tuple(np.asarray(w, np.float64) for w in weights) + (None,)
        cell = bound_cell(kind, padded[:3], **args)
        units = [args["units"]] * cell.state_count
    x, mask, states = _sequence(x, mask, initial_state, units, args)
    records, _, _ = _replay(cell, x, states, mask, args["go_backwards"],
                            args["zero_output_for_mask"])
    return min(np.min(kink_distance(name, a, cell.spec)) for _, x_t, entering in records
               for name, a in cell.inputs(x_t, entering))
