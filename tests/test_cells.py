"""The cells, StackedRNNCells and RNN of the reference, against the recurrent layers they must
agree with and against small computations by hand."""
import numpy as np
import pytest

import reference
from reference.config import OutOfScope


def _cell(kind, **config):
    return {"module": "keras.layers", "class_name": kind, "config": config,
            "registered_name": None}


def _weights(rng, features, units, gates, bias_shape):
    return [rng.standard_normal((features, gates * units)),
            rng.standard_normal((units, gates * units)), rng.standard_normal(bias_shape)]


@pytest.mark.parametrize("kind, layer, gates, bias, states, extra", [
    ("SimpleRNNCell", reference.simple_rnn, 1, (3,), 1, {}),
    ("GRUCell", reference.gru, 3, (2, 9), 1, {"reset_after": True}),
    ("GRUCell", reference.gru, 3, (9,), 1, {"reset_after": False}),
    ("LSTMCell", reference.lstm, 4, (12,), 2, {}),
])
def test_rnn_of_one_cell_is_the_recurrent_layer(kind, layer, gates, bias, states, extra):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 4))
    weights = _weights(rng, 4, 3, gates, bias)
    initial = [rng.standard_normal((2, 3)) for _ in range(states)]
    mask = np.array([[False, True, True, False, True], [True, True, False, False, False]])
    flags = dict(return_sequences=True, return_state=True, go_backwards=True)
    config = dict(units=3, activation="tanh", **extra)
    got = reference.rnn(x, *weights, mask=mask, initial_state=initial,
                        cell=_cell(kind, **config), **flags)
    want = layer(x, *weights, mask=mask, initial_state=initial, **config, **flags)
    assert len(got) == len(want) == 1 + states
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_a_stack_feeds_each_output_to_the_next_cell_and_lists_states_in_turn():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3))
    first, second = _weights(rng, 3, 2, 1, (2,)), _weights(rng, 2, 4, 4, (16,))
    h1, h2, c2 = (rng.standard_normal((2, n)) for n in (2, 4, 4))
    cells = [_cell("SimpleRNNCell", units=2), _cell("LSTMCell", units=4)]
    got = reference.stacked_rnn_cells(x, *first, *second, states=[h1, h2, c2], cells=cells)
    y1, h1_new = reference.simple_rnn_cell(x, *first, states=[h1], units=2)
    y2, h2_new, c2_new = reference.lstm_cell(y1, *second, states=[h2, c2], units=4)
    for g, w in zip(got, [y2, h1_new, h2_new, c2_new]):
        np.testing.assert_array_equal(g, w)
    # by hand: the SimpleRNN cell is tanh(x @ kernel + h @ recurrent_kernel + bias)
    np.testing.assert_allclose(h1_new, np.tanh(x @ first[0] + h1 @ first[1] + first[2]))


def test_a_list_of_cells_is_the_stack_keras_writes_for_it():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 4, 2))
    cells = [_cell("GRUCell", units=2, reset_after=False), _cell("SimpleRNNCell", units=3)]
    weights = _weights(rng, 2, 2, 3, (6,)) + _weights(rng, 2, 3, 1, (3,))
    stacked = {"module": "keras.layers", "class_name": "StackedRNNCells",
               "config": {"name": "stacked_rnn_cells", "trainable": True, "dtype": "float32",
                          "cells": cells}, "registered_name": None}
    as_list = reference.rnn(x, *weights, cell=cells, return_state=True)
    as_stack = reference.rnn(x, *weights, cell=stacked, return_state=True)
    assert [a.shape for a in as_list] == [(1, 3), (1, 2), (1, 3)]
    for a, b in zip(as_list, as_stack):
        np.testing.assert_array_equal(a, b)


def test_a_cell_reads_only_its_own_states():
    """Keras accepts extra states and ignores them (LSTMCell(2) called with three states)."""
    rng = np.random.default_rng(3)
    x, weights = rng.standard_normal((2, 3)), _weights(rng, 3, 2, 4, (8,))
    h, c = rng.standard_normal((2, 2)), rng.standard_normal((2, 2))
    two = reference.lstm_cell(x, *weights, states=[h, c], units=2)
    three = reference.lstm_cell(x, *weights, states=[h, c, h], units=2)
    for a, b in zip(two, three):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("call, error", [
    (lambda: reference.rnn(np.zeros((1, 2, 2)), cell={
        "class_name": "StackedRNNCells", "config": {"cells": []}}), ValueError),
    (lambda: reference.rnn(np.zeros((1, 2, 2)), spec="keras2", cell={
        "class_name": "StackedRNNCells", "config": {"cells": []}}), OutOfScope),
    (lambda: reference.rnn(np.zeros((1, 2, 2)), np.zeros((2, 4)), np.zeros((4, 4)),
                           cell=_cell("LSTMCell")), ValueError),
    (lambda: reference.rnn(np.zeros((1, 2, 2)), cell=_cell("PeepholeLSTMCell", units=1)),
     OutOfScope),
    (lambda: reference.rnn(np.zeros((1, 2, 2)), np.zeros((2, 1)), np.zeros((1, 1)),
                           cell=_cell("SimpleRNNCell", units=1, no_such_key=1)), OutOfScope),
    (lambda: reference.lstm_cell(np.zeros((1, 2)), np.zeros((2, 8)), np.zeros((2, 8)),
                                 states=[np.zeros((1, 2))], units=2), ValueError),
    (lambda: reference.simple_rnn_cell(np.zeros((1, 1, 2)), np.zeros((2, 2)),
                                       np.zeros((2, 2)), states=[np.zeros((1, 2))],
                                       units=2), OutOfScope),
])
def test_refused_and_out_of_scope_configs(call, error):
    with pytest.raises(error):
        call()
