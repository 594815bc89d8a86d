"""The recurrent layers' analytic backward pass (reference/backward_recurrent.py) against
float64 central differences of the forward with Richardson extrapolation
(tests/backward_checks.py): SimpleRNN, LSTM, GRU (both reset_after), the cells,
StackedRNNCells and RNN over a stack, through every step.

The arrays a case differentiates are [x, *initial states, *weights]: the initial states are
inputs (the gradient flows back to them through every step and every masked step). The
configs cover masks with masked steps in the middle, at both ends and over a whole row,
go_backwards, return_sequences, return_state (a cotangent per returned array),
zero_output_for_mask, time_major, no bias, and the keras2 and keras3 hard_sigmoid. Cases with
a kinked activation (relu, hard_sigmoid) are redrawn until every activation input of every
step is MARGIN from a kink (reference.backward.activation_gap).
"""
from unittest import mock

import numpy as np
import pytest

import reference
from reference import backward as bw
from reference import backward_recurrent as br
from tests.backward_checks import MARGIN, assert_vjp

BATCH, STEPS, FEATURES = 3, 5, 2
MASKS = {   # (batch, steps), True = a real step
    "middle": np.array([[1, 0, 0, 1, 1], [1, 1, 0, 1, 0], [1, 1, 1, 1, 1]], bool),
    "ends": np.array([[0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 0, 0, 0]], bool),
}
GATES = {reference.simple_rnn: 1, reference.lstm: 4, reference.gru: 3}
VJPS = {reference.simple_rnn: bw.simple_rnn_vjp, reference.lstm: bw.lstm_vjp,
        reference.gru: bw.gru_vjp, reference.rnn: bw.rnn_vjp}


def with_states(function, count, keyword):
    """function over [x, *count states, *weights], the states handed as `keyword` (a list)."""
    def flat(x, *rest, **config):
        states = list(rest[:count]) if count else None
        return function(x, *rest[count:], **{keyword: states}, **config)
    flat.__name__ = function.__name__
    return flat


def layer_weights(rng, forward, config, features=FEATURES):
    units, gates = config["units"], GATES[forward]
    weights = [rng.standard_normal((features, gates * units)) * 0.7,
               rng.standard_normal((units, gates * units)) * 0.7]
    if config.get("use_bias", True):
        two_rows = forward is reference.gru and config.get("reset_after", True)
        weights.append(rng.standard_normal((2, gates * units) if two_rows
                                           else (gates * units,)) * 0.5)
    return weights


def rnn_case(forward, config, mask, initial, seed=0, weights=layer_weights):
    """[x, *initial states, *weights] and the config (mask included), drawn until the
    activation inputs are MARGIN from every kink."""
    rng = np.random.default_rng(seed)
    time_major = config.get("time_major", False)
    config = {**config, "mask": None if mask is None else MASKS[mask].T if time_major
              else MASKS[mask]}
    x_shape = (STEPS, BATCH, FEATURES) if time_major else (BATCH, STEPS, FEATURES)
    # hard_sigmoid gates: inputs large enough that some saturate (beyond +-2.5 or +-3)
    spread = 3.0 if config.get("recurrent_activation") == "hard_sigmoid" else 1.0
    while True:
        x, w = rng.standard_normal(x_shape) * spread, weights(rng, forward, config)
        states = [rng.standard_normal((BATCH, n)) * 0.5 for n in initial]
        gap = bw.activation_gap(forward, x, *w, initial_state=states or None, **config)
        if gap >= MARGIN:
            return [x, *states, *w], config


LAYERS = [   # forward, config, mask, the units of each initial state given
    (reference.simple_rnn, dict(units=2, return_sequences=True), "middle", [2]),
    (reference.simple_rnn, dict(units=2, activation="relu", go_backwards=True,
                                return_state=True), "ends", [2]),
    (reference.simple_rnn, dict(units=3, use_bias=False, time_major=True,
                                return_sequences=True, spec="keras2"), None, []),
    (reference.lstm, dict(units=2), None, [2, 2]),
    (reference.lstm, dict(units=2, return_sequences=True, return_state=True,
                          go_backwards=True), "middle", [2, 2]),
    (reference.lstm, dict(units=2, recurrent_activation="hard_sigmoid", spec="keras2",
                          return_sequences=True, zero_output_for_mask=True), "ends", []),
    (reference.lstm, dict(units=2, return_state=True, use_bias=False), "ends", [2, 2]),
    (reference.gru, dict(units=2, return_state=True), "middle", [2]),
    (reference.gru, dict(units=2, reset_after=False, return_sequences=True,
                         go_backwards=True), "ends", [2]),
    (reference.gru, dict(units=2, reset_after=False, recurrent_activation="hard_sigmoid",
                         return_state=True, use_bias=False), "middle", []),
    (reference.gru, dict(units=2, activation="relu", time_major=True, return_sequences=True,
                         return_state=True, spec="keras2"), "middle", [2]),
]


@pytest.mark.parametrize("forward, config, mask, initial", LAYERS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(LAYERS)])
def test_recurrent_layer_vjp(forward, config, mask, initial):
    arrays, config = rnn_case(forward, config, mask, initial)
    assert_vjp(with_states(forward, len(initial), "initial_state"),
               with_states(VJPS[forward], len(initial), "initial_state"), arrays, config)


CELLS = [   # forward, vjp, layer (for the weights), config, states given
    (reference.simple_rnn_cell, bw.simple_rnn_cell_vjp, reference.simple_rnn,
     dict(units=3, activation="tanh"), 1),
    (reference.simple_rnn_cell, bw.simple_rnn_cell_vjp, reference.simple_rnn,
     dict(units=2, activation="softmax"), 2),          # a state beyond its own: ignored
    (reference.lstm_cell, bw.lstm_cell_vjp, reference.lstm, dict(units=2), 2),
    (reference.gru_cell, bw.gru_cell_vjp, reference.gru, dict(units=2), 1),
    (reference.gru_cell, bw.gru_cell_vjp, reference.gru,
     dict(units=2, reset_after=False, use_bias=False), 1),
]


@pytest.mark.parametrize("forward, vjp, layer, config, count", CELLS,
                         ids=[c[0].__name__ + str(i) for i, c in enumerate(CELLS)])
def test_cell_vjp(forward, vjp, layer, config, count):
    rng = np.random.default_rng(1)
    states = [rng.standard_normal((BATCH, config["units"])) for _ in range(count)]
    arrays = [rng.standard_normal((BATCH, FEATURES)), *states,
              *layer_weights(rng, layer, config)]
    assert_vjp(with_states(forward, count, "states"), with_states(vjp, count, "states"),
               arrays, config)


def cell(class_name, **config):
    return {"class_name": class_name, "config": config}


STACK = [cell("SimpleRNNCell", units=2), cell("LSTMCell", units=3),
         cell("GRUCell", units=2, reset_after=False)]


def stack_weights(rng, forward, config):
    weights, features = [], FEATURES
    for c, layer in zip(STACK, (reference.simple_rnn, reference.lstm, reference.gru)):
        weights += layer_weights(rng, layer, c["config"], features)
        features = c["config"]["units"]
    return weights


def test_stacked_rnn_cells_vjp():
    rng = np.random.default_rng(2)
    states = [rng.standard_normal((BATCH, n)) for n in (2, 3, 3, 2)]
    arrays = [rng.standard_normal((BATCH, FEATURES)), *states,
              *stack_weights(rng, None, None)]
    assert_vjp(with_states(reference.stacked_rnn_cells, 4, "states"),
               with_states(bw.stacked_rnn_cells_vjp, 4, "states"), arrays, {"cells": STACK})


def one_lstm_cell_weights(rng, forward, config):
    return layer_weights(rng, reference.lstm, {"units": 2})


@pytest.mark.parametrize("cell_config, config, mask, initial, weights", [
    ({"class_name": "StackedRNNCells", "config": {"cells": STACK}},
     dict(return_sequences=True, return_state=True), "middle", [2, 3, 3, 2], stack_weights),
    (cell("LSTMCell", units=2, recurrent_activation="hard_sigmoid"),
     dict(go_backwards=True, return_state=True), "ends", [2, 2], one_lstm_cell_weights),
])
def test_rnn_vjp(cell_config, config, mask, initial, weights):
    arrays, config = rnn_case(reference.rnn, {"cell": cell_config, **config}, mask, initial,
                              seed=3, weights=weights)
    assert_vjp(with_states(reference.rnn, len(initial), "initial_state"),
               with_states(bw.rnn_vjp, len(initial), "initial_state"), arrays, config)


def test_a_masked_step_passes_the_gradient_on_unchanged():
    """A row masked everywhere returns its initial states (their gradient is u's) and an
    output of 0 (no gradient)."""
    arrays, config = rnn_case(reference.lstm, dict(units=2, return_state=True), "ends", [2, 2])
    u = [np.ones((BATCH, 2)), np.full((BATCH, 2), 2.0), np.full((BATCH, 2), 3.0)]
    x, h0, c0, *weights = arrays
    grads = bw.lstm_vjp(x, *weights, initial_state=[h0, c0], u=u, **config)
    assert np.array_equal(grads[1][2], [2.0, 2.0]) and np.array_equal(grads[2][2], [3.0, 3.0])
    assert not np.any(grads[0][2])


def test_recurrent_vjp_refuses_a_cotangent_per_output_missing():
    arrays, config = rnn_case(reference.gru, dict(units=2, return_state=True), None, [])
    with pytest.raises(ValueError, match="cotangent"):
        bw.gru_vjp(*arrays, u=[np.ones((BATCH, 2))], **config)


# ---- planted wrong VJPs: the same comparison catches each ----------------------------------

def lstm_truncated_to_the_last_step(x, h0, c0, *weights, u, **config):
    """LSTM backpropagation through the last step alone: the states entering it constants."""
    h, c = reference.lstm(x[:, :-1], *weights, initial_state=[h0, c0], return_state=True,
                          **config)[1:]
    dx_last, _, _, *d_weights = bw.lstm_cell_vjp(x[:, -1], *weights, states=[h, c],
                                                 u=[u[0], 0 * u[0], 0 * u[0]],
                                                 units=config["units"])
    dx = np.zeros_like(x)
    dx[:, -1] = dx_last
    return (dx, 0 * h0, 0 * c0, *d_weights)


def state_gradient_stopped_at_masked_steps(*arrays, u, **config):
    """A masked step that passes its output's gradient on but not its states'."""
    real = br.masked_step_vjp

    def stopped(keep, d_output, d_states, passes_output):
        *taken, carried = real(keep, d_output, d_states, passes_output)
        return (*taken, [0.0 * d for d in carried])
    with mock.patch.object(br, "masked_step_vjp", stopped):
        return with_states(bw.lstm_vjp, 2, "initial_state")(*arrays, u=u, **config)


def output_gradient_stopped_at_masked_steps(*arrays, u, **config):
    """A masked step that passes its states' gradient on but not its repeated output's."""
    real = br.masked_step_vjp

    def stopped(keep, d_output, d_states, passes_output):
        return real(keep, d_output, d_states, False)
    with mock.patch.object(br, "masked_step_vjp", stopped):
        return with_states(bw.gru_vjp, 1, "initial_state")(*arrays, u=u, **config)


def test_planted_lstm_truncated_to_the_last_step_is_caught():
    arrays, config = rnn_case(reference.lstm, dict(units=2), None, [2, 2], seed=4)
    assert_vjp(with_states(reference.lstm, 2, "initial_state"),   # the right VJP passes
               with_states(bw.lstm_vjp, 2, "initial_state"), arrays, config)
    with pytest.raises(AssertionError, match="finite differences"):
        assert_vjp(with_states(reference.lstm, 2, "initial_state"),
                   lstm_truncated_to_the_last_step, arrays, config)


def test_planted_masked_step_without_the_state_gradient_is_caught():
    arrays, config = rnn_case(reference.lstm, dict(units=2), "middle", [2, 2], seed=5)
    with pytest.raises(AssertionError, match="finite differences"):
        assert_vjp(with_states(reference.lstm, 2, "initial_state"),
                   state_gradient_stopped_at_masked_steps, arrays, config)


def test_planted_masked_step_without_the_output_gradient_is_caught():
    arrays, config = rnn_case(reference.gru, dict(units=2, return_sequences=True), "middle",
                              [2], seed=6)
    with pytest.raises(AssertionError, match="finite differences"):
        assert_vjp(with_states(reference.gru, 1, "initial_state"),
                   output_gradient_stopped_at_masked_steps, arrays, config)
