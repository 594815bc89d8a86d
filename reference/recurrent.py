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
from reference.config import OutOfScope, layer_arguments, takes_config
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
    h, c = lstm_gates(*_blocks(z, 4), c, activation, recurrent_activation, spec)
    return h, [h, c]


def lstm_gates(z_i, z_f, z_c, z_o, c, activation, recurrent_activation, spec):
    """The LSTM's gating (LSTM and ConvLSTM2D alike), from the gates' pre-activations:
    c' = rec(z_f) * c + rec(z_i) * act(z_c), h' = rec(z_o) * act(c'). Returns (h', c')."""
    act, rec = get_activation(activation, spec), get_activation(recurrent_activation, spec)
    c = rec(z_f) * c + rec(z_i) * act(z_c)
    return rec(z_o) * act(c), c


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
    outputs 0 and returns its initial states. Outputs and states may have any rank
    (ConvLSTM2D's are images): the mask selects whole rows.
    """
    order = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    outputs, previous = [], None
    for t in order:
        output, new_states = step(x[:, t], states)
        if mask is not None:
            keep = _per_row(mask, t, output)
            before = 0.0 if zero_output_for_mask or previous is None else previous
            output = np.where(keep, output, before)
            new_states = [np.where(keep, new, old) for new, old in zip(new_states, states)]
        outputs.append(output)
        states, previous = new_states, output
    return np.stack(outputs, axis=1), states


def _per_row(mask, t, like):
    """mask[:, t] shaped to select whole rows of `like` (batch, ...)."""
    return np.asarray(mask)[:, t].reshape(-1, *(1,) * (np.ndim(like) - 1))


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


# The cells as layers of their own, StackedRNNCells, and RNN over any cell or stack of cells --
#
# A cell is one step: cell(x, states), x (batch, features), returns [output, *new_states]
# (SimpleRNNCell and GRUCell [h', h'], LSTMCell [h', h', c']), with its layer's weights (above).
# A stack's weights are each cell's weights in turn; its states are each cell's states in turn
# (Keras nests them per cell, [h1, [h2, c2], h3]; flattened, the order is the same).


def _cell_call(step, x, weights, states, *, units, gates, state_count):
    """One step of a cell: step(x, states, kernel, recurrent_kernel, bias) -> [output, *new
    states]. Keras reads only the cell's own states from `states` (it ignores any beyond)."""
    if not isinstance(units, int) or units <= 0:
        raise ValueError(f"`units` must be a positive int, got {units!r}")
    x = np.asarray(x, np.float64)
    if x.ndim != 2:
        raise OutOfScope(f"outside the scope: a cell steps over (batch, features), got an "
                         f"input of shape {x.shape}")
    kernel, recurrent_kernel, *bias = [np.asarray(w, np.float64) for w in weights
                                       if w is not None]
    if kernel.shape != (x.shape[-1], gates * units):
        raise ValueError(f"kernel shape {kernel.shape}, expected {(x.shape[-1], gates * units)}")
    if states is None or len(states) < state_count:
        raise ValueError(f"the cell takes {state_count} state(s), got "
                         f"{0 if states is None else len(states)}")
    states = [np.asarray(s, np.float64) for s in states[:state_count]]
    if any(s.shape != (x.shape[0], units) for s in states):
        raise ValueError(f"states must have shape {(x.shape[0], units)}, got "
                         f"{[s.shape for s in states]}")
    output, new_states = step(x, states, kernel, recurrent_kernel, bias[0] if bias else None)
    return [output, *new_states]


@takes_config
def simple_rnn_cell(x, kernel, recurrent_kernel, bias=None, states=None, *, units,
                    activation="tanh", use_bias=True, dropout=0.0, recurrent_dropout=0.0,
                    seed=None, spec="keras3"):
    """SimpleRNNCell at inference (dropout is identity there): one simple_rnn_step.
    states [h]; returns [h', h']."""
    def step(x, states, kernel, recurrent_kernel, bias):
        return simple_rnn_step(x, states, kernel, recurrent_kernel, bias, activation, spec)
    return _cell_call(step, x, [kernel, recurrent_kernel, bias], states, units=units, gates=1,
                      state_count=1)


@takes_config
def gru_cell(x, kernel, recurrent_kernel, bias=None, states=None, *, units, activation="tanh",
             recurrent_activation="sigmoid", use_bias=True, reset_after=True, implementation=2,
             dropout=0.0, recurrent_dropout=0.0, seed=None, spec="keras3"):
    """GRUCell at inference: one gru_step; bias (2, 3u) with reset_after, else (3u,).
    states [h]; returns [h', h']."""
    expected_bias = (2, 3 * units) if reset_after else (3 * units,)
    if bias is not None and np.shape(bias) != expected_bias:
        raise ValueError(f"bias shape {np.shape(bias)}, expected {expected_bias} "
                         f"(reset_after={reset_after})")

    def step(x, states, kernel, recurrent_kernel, bias):
        return gru_step(x, states, kernel, recurrent_kernel, bias, activation,
                        recurrent_activation, reset_after, spec)
    return _cell_call(step, x, [kernel, recurrent_kernel, bias], states, units=units, gates=3,
                      state_count=1)


@takes_config
def lstm_cell(x, kernel, recurrent_kernel, bias=None, states=None, *, units, activation="tanh",
              recurrent_activation="sigmoid", use_bias=True, unit_forget_bias=True,
              implementation=2, dropout=0.0, recurrent_dropout=0.0, seed=None, spec="keras3"):
    """LSTMCell at inference: one lstm_step (unit_forget_bias only initialises the bias).
    states [h, c]; returns [h', h', c']."""
    def step(x, states, kernel, recurrent_kernel, bias):
        return lstm_step(x, states, kernel, recurrent_kernel, bias, activation,
                         recurrent_activation, spec)
    return _cell_call(step, x, [kernel, recurrent_kernel, bias], states, units=units, gates=4,
                      state_count=2)


CELLS = {"SimpleRNNCell": (simple_rnn_cell, 1), "GRUCell": (gru_cell, 1),
         "LSTMCell": (lstm_cell, 2)}
SERIALIZED = frozenset({"module", "class_name", "config", "registered_name", "build_config"})


def cell_configs(cell):
    """The (class name, config) of each cell in an RNN's `cell`: one serialized cell
    ({"class_name": "LSTMCell", "config": {...}}, with the "module", "registered_name" and
    "build_config" keys Keras writes), a serialized StackedRNNCells of cells (what
    get_config() writes for RNN(cell=[...]) in both Kerases), or a list of cells."""
    if isinstance(cell, (list, tuple)):
        cells = list(cell)
    elif isinstance(cell, dict) and cell.get("class_name") == "StackedRNNCells":
        _serialized(cell, ("StackedRNNCells",))
        config = layer_arguments(stacked_rnn_cells.__wrapped__, cell.get("config", {}))
        cells = config.get("cells", [])
    else:
        cells = [cell]
    for c in cells:
        _serialized(c, tuple(CELLS))
    return [(c["class_name"], c.get("config", {})) for c in cells]


def _serialized(cell, class_names):
    """Check a serialized cell: its keys, and a class among `class_names` (a stack inside a
    stack, or a cell the suite does not implement, is outside the scope)."""
    if not isinstance(cell, dict) or not set(cell) <= SERIALIZED:
        raise OutOfScope(f"outside the scope: a cell given as {cell!r}, not a serialized "
                         f"Keras cell")
    if cell.get("class_name") not in class_names:
        raise OutOfScope(f"outside the scope: the cell {cell.get('class_name')!r} here")


def _stack(cells, weights, spec):
    """(step, units of each state) of cells stacked: each cell's output is the next cell's
    input, and the states are each cell's states in turn. cells: cell_configs(); weights:
    each cell's [kernel, recurrent_kernel, bias] (no bias with use_bias=False) in turn."""
    if not cells:
        raise OutOfScope("outside the scope: an empty stack of cells (tf_keras runs it)")
    parts, weights, state_units = [], list(weights), []
    for class_name, config in cells:
        function, state_count = CELLS[class_name]
        arguments = layer_arguments(function.__wrapped__, config)
        if "units" not in arguments:
            raise ValueError(f"a {class_name} without units")
        count = 3 if arguments.get("use_bias", True) else 2
        parts.append((function.__wrapped__, arguments, weights[:count], state_count))
        state_units += [arguments["units"]] * state_count
        weights = weights[count:]
    if weights:
        raise ValueError(f"{len(weights)} weights more than the cells take")

    def step(x, states):
        new_states = []
        for function, arguments, cell_weights, state_count in parts:
            x, *cell_states = function(x, *cell_weights, states=states[:state_count],
                                       **arguments, spec=spec)
            states, new_states = states[state_count:], new_states + cell_states
        return x, new_states
    return step, state_units


@takes_config
def stacked_rnn_cells(x, *weights, states=None, cells, spec="keras3"):
    """StackedRNNCells: one step of its cells in turn, each cell's output the next one's input.
    weights: each cell's weights in turn; states: each cell's states in turn, flat
    ([h1, h2, c2, ...] for SimpleRNNCell then LSTMCell). Returns [output, *new states]."""
    step, state_units = _stack(cell_configs(list(cells)), weights, spec)
    if states is None or len(states) != len(state_units):
        raise ValueError(f"the stack takes {len(state_units)} states, got "
                         f"{0 if states is None else len(states)}")
    output, new_states = step(np.asarray(x, np.float64), list(states))
    return [output, *new_states]


@takes_config
def rnn(x, *weights, mask=None, initial_state=None, cell, return_sequences=False,
        return_state=False, go_backwards=False, stateful=False, unroll=False,
        zero_output_for_mask=False, time_major=False, spec="keras3"):
    """RNN(cell) at inference: the cell, or the stack of cells, folded over time by `fold`.
    x (batch, time, features) ((time, batch, features) with time_major, Keras 2); weights:
    each cell's weights in turn; initial_state and the returned states: each cell's states in
    turn. Returns [output] or, with return_state, [output, *states]."""
    cells = cell_configs(cell)
    if not cells and spec == "keras3":
        raise ValueError("RNN needs at least one cell (Keras 3 raises IndexError on an empty "
                         "stack)")
    step, state_units = _stack(cells, weights, spec)
    x = np.asarray(x, np.float64)
    if time_major:
        x = np.swapaxes(x, 0, 1)
        mask = None if mask is None else np.swapaxes(np.asarray(mask), 0, 1)
    if x.ndim != 3:
        raise ValueError(f"RNN takes (batch, time, features), got {x.shape}")
    batch = x.shape[0]
    if initial_state is None:
        states = [np.zeros((batch, units)) for units in state_units]
    else:
        states = [np.asarray(s, np.float64) for s in initial_state]
        shapes = [(batch, units) for units in state_units]
        if [s.shape for s in states] != shapes:
            raise ValueError(f"initial_state must be arrays of shapes {shapes}, got "
                             f"{[s.shape for s in states]}")
    outputs, states = fold(step, x, states, mask, go_backwards, zero_output_for_mask)
    if time_major and return_sequences:
        outputs = np.swapaxes(outputs, 0, 1)
    return _layer_outputs(outputs, states, return_sequences, return_state)


# Two Keras behaviours across calls and in training, over the layers above -----------------

def stateful_calls(layer, calls, *weights, **config):
    """A stateful layer (`layer` is simple_rnn, gru or lstm) called once per input of `calls`
    after reset_states(): the first call starts from zeros, each later call from the final
    states of the call before it (the masked steps carried, as fold returns them). The same
    call arguments (a mask) go to every call. Returns every call's outputs, in call order."""
    outputs, states = [], None
    for x in calls:
        result = layer(x, *weights, **{**config, "initial_state": states, "return_state": True})
        states = result[1:]
        outputs += result if config.get("return_state") else result[:1]
    return outputs


def dropout_weights(kernel, recurrent_kernel, input_keep, recurrent_keep, *, gates, dropout,
                    recurrent_dropout):
    """The kernels of one batch row under dropout in training. Keras draws, once per call and
    for every time step alike, a keep mask over the input features and one over the previous
    output's units (one per gate where the cell draws a mask per gate), and multiplies x and h
    by mask / (1 - rate) before their matmuls; (x * m) @ K = x @ (m[:, None] * K), so the row
    computes the layer with the kernels' rows scaled per gate block. input_keep (gates, n) and
    recurrent_keep (gates, u) are booleans (the same row repeated where the mask is shared);
    a rate of 0 or 1 applies no dropout (Keras: only 0 < rate < 1 does)."""
    def scaled(w, keep, rate):
        w = np.asarray(w, np.float64)
        if not 0 < rate < 1:
            return w
        units = w.shape[1] // gates
        return w * np.repeat(np.asarray(keep, np.float64) / (1 - rate), units, axis=0).T
    return (scaled(kernel, input_keep, dropout),
            scaled(recurrent_kernel, recurrent_keep, recurrent_dropout))
