"""The recurrent layers' gradient bounds (conformance/backward/recurrent.py): its Bounded replay
of backpropagation through time computes the reference's VJPs (reference/backward_recurrent.py)
and its forward the spec's Bounded forward (conformance/specs/bounded.py), so the bounds follow
the computation the expected values come from; the bound grows with the steps as the error
does; kinks and overflowing states are out of scope with their reason; stateful layers get no
twin."""
import numpy as np
import pytest

from conformance import backward
from conformance.backward import recurrent
from conformance.case import Case
from conformance.specs.bounded import fold_bounded
from conformance.specs.cells import BOUNDED, _bounded_stack
from reference.config import OutOfScope
from tests.backward_checks import first_twins

RECURRENT = tuple(recurrent.LAYERS)


def twin(layer, config, inputs, weights, call_kwargs=None, spec="keras3", seed=0):
    case = Case(id=f"{layer}-000", layer=layer, spec=spec, params={"regime": "unit"},
                config=config, inputs=[np.asarray(x, np.float32) for x in inputs],
                weights=[np.asarray(w, np.float32) for w in weights],
                call_kwargs=call_kwargs or {})
    forward = recurrent.LAYERS[layer][0]
    outputs = forward(case.inputs[0], *case.weights, **case.call_kwargs, **config, spec=spec)
    case.expected = [np.asarray(y) for y in outputs]
    return backward.gradient_twin(case, seed)


@pytest.fixture(scope="module", params=RECURRENT)
def plan_twins(request):
    """The first covering cases' twins of a layer (keras3 and keras2)."""
    return first_twins(request.param, 24, 7)


def test_the_replay_computes_the_reference_gradients(plan_twins):
    """Value for value (float64, to rounding): the bound is of the computation it follows."""
    checked = 0
    for case in plan_twins:
        try:
            grads, bounds = recurrent.expected(case)
        except OutOfScope:
            continue
        replayed = recurrent.replay(case)
        assert len(replayed) == len(grads) == len(bounds)
        for g, r, b in zip(grads, replayed, bounds):
            assert np.shape(g) == np.shape(b)
            np.testing.assert_allclose(r.v, g, rtol=1e-9, atol=1e-12 * (1 + np.max(np.abs(g))),
                                       err_msg=case.id)
        checked += 1
    assert checked


@pytest.mark.parametrize("kind", sorted(BOUNDED))
def test_the_replayed_forward_is_the_specs_forward(kind):
    """A cell's Bounded step here gives the values and bounds of specs/bounded.py's."""
    rng = np.random.default_rng(3)
    gates = {"SimpleRNNCell": 1, "GRUCell": 3, "LSTMCell": 4}[kind]
    config = {"units": 2, "activation": "tanh"}
    if kind != "SimpleRNNCell":
        config["recurrent_activation"] = "hard_sigmoid"
    if kind == "GRUCell":
        config["reset_after"] = False
    weights = [rng.standard_normal((3, 2 * gates)), rng.standard_normal((2, 2 * gates)),
               rng.standard_normal(2 * gates)]
    cells = [(kind, config)]
    f = recurrent._f()
    mine = recurrent.Stack([recurrent.BoundedCell(kind, recurrent.arguments(
        recurrent.CELLS[kind][0], {**config, "spec": "keras3"}), f)], weights, f)
    x = rng.standard_normal((2, 5, 3))
    states = [recurrent._exact(np.zeros((2, 2)), f) for _ in range(recurrent.CELLS[kind][1])]
    ours, ours_final = fold_bounded(mine.step, x, states, None, False, False)
    theirs, theirs_final = fold_bounded(_bounded_stack(cells, weights, "keras3"), x, states,
                                        None, False, False)
    for a, b in zip([ours, *ours_final], [theirs, *theirs_final]):
        np.testing.assert_array_equal(a.v, b.v)
        np.testing.assert_array_equal(np.broadcast_to(a.e, a.v.shape),
                                      np.broadcast_to(b.e, b.v.shape))


def _linear_rnn(steps):
    """SimpleRNN(2, linear) whose recurrent kernel is a rotation: the gradient keeps its size
    over any number of steps, its error keeps growing."""
    angle = 0.5
    rotation = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    x = np.ones((1, steps, 2))
    return twin("SimpleRNN", {"units": 2, "activation": "linear"}, [x],
                [np.eye(2), rotation, np.zeros(2)],
                {"initial_state": [np.ones((1, 2), np.float32)]})


def test_the_bound_grows_with_the_steps():
    """d initial state passes back through every step: its bound grows with their number."""
    short, long = (recurrent.expected(_linear_rnn(n)) for n in (2, 40))
    (_, d_h0_short, *_), (_, d_h0_long, *_) = short[1], long[1]
    assert np.all(d_h0_long > 8 * d_h0_short)


def test_a_kink_where_the_gradient_flows_is_out_of_scope():
    """relu at exactly 0 (no bias, a zero input row): no derivative for float32 to approximate."""
    case = twin("SimpleRNN", {"units": 2, "activation": "relu", "use_bias": False},
                [np.zeros((1, 3, 2))], [np.ones((2, 2)), np.eye(2)])
    with pytest.raises(OutOfScope, match="relu's kink"):
        recurrent.expected(case)


def test_a_state_that_overflows_float32_is_out_of_scope():
    case = twin("SimpleRNN", {"units": 2, "activation": "linear"}, [np.ones((1, 60, 2))],
                [np.eye(2), 10 * np.eye(2), np.zeros(2)])
    with pytest.raises(OutOfScope, match="3.4e38"):
        recurrent.expected(case)


def test_a_masked_step_passes_its_gradient_back_exactly():
    """A row masked at every step: its gradient to the initial state is the cotangent of the
    final state, exactly (selection rounds nothing)."""
    case = twin("LSTM", {"units": 2, "return_state": True}, [np.ones((2, 3, 2))],
                [np.ones((2, 8)) * 0.3, np.ones((2, 8)) * 0.2, np.zeros(8)],
                {"mask": np.array([[False] * 3, [True] * 3]),
                 "initial_state": [np.ones((2, 2), np.float32)] * 2})
    grads, bounds = recurrent.expected(case)
    np.testing.assert_array_equal(grads[1][0], case.cotangent[1][0])
    assert np.all(bounds[1][0] == 0) and np.all(bounds[2][0] == 0)


def test_a_stateful_layer_gets_no_twin():
    case = twin("GRU", {"units": 2}, [np.ones((1, 2, 2))],
                [np.ones((2, 6)), np.ones((2, 6)), np.zeros((2, 6))])
    case.config = {**case.config, "stateful": True}
    assert not recurrent.eligible(case)
