"""The Keras candidates answer a gradient case (one with a cotangent) through observe():
"gradients", the gradient of sum(cotangent * outputs) with respect to each float input (then
each array of initial_state or states) and each trainable weight in get_weights() order, by
the backend's own autodiff (conformance/candidates/gradients.py). Checked here against the
reference's analytic VJPs (reference/backward.py) on a handful of hand-built cases, each
candidate in its own child process as the suite runs it (so the cotangent crosses the process
boundary); keras-numpy and keras-openvino have no autodiff and say so; compare_case judges
observed["gradients"] as it judges the other observed values; the fixture store keeps the
cotangent.

The tolerance here is this adapter test's, not the suite's per-element bound (a later piece
derives that): each gradient array must lie within 1e-4 * max|reference array| of the
reference. Inputs, weights and cotangents are float32-exact and of unit scale, so a float32
backward pass differs from the float64 truth by rounding alone: sums of at most a few dozen
terms (Conv2D's dx: 9 taps times 2 filters; the kernel's: 2 batches times 9 positions; LSTM's
5 steps), each rounding contributing about u = 2^-24 = 6e-8 of the terms' magnitude, which
is the array's. Measured on CPU: at most 3.1e-7 of the array's largest element (keras-jax,
the masked LSTM's dx), 2.8e-7 on TensorFlow, 2.1e-7 on torch, about 5u. 1e-4 leaves a margin
of 300x for other shapes and machines and stays far below any structural fault: a bias
gradient without its batch sum, an Embedding row overwritten instead of added, a gradient
not taken through the batch statistics are wrong by O(1) of the array (the planted fault
below is). A relative measure per array, not per element: an element whose terms cancel is
small against its own rounding error, and only a per-element bound (the later piece) can
judge it. Declared lower precision (keras-jax-mixed_bfloat16) is not tested here.
"""
import dataclasses
import importlib.util

import numpy as np
import pytest

import reference.backward as backward
from conformance.candidates.isolation import IsolatedCandidate
from conformance.case import Case
from conformance.compare import compare_case
from conformance.fixtures import read_layer, read_manifest, write_layer, write_manifest
from reference.conv import conv
from reference.core import dense
from reference.embedding import embedding
from reference.merge import add
from reference.normalization import batch_normalization
from reference.recurrent import lstm, lstm_cell

RELATIVE = 1e-4        # of each array's largest reference magnitude: see the module docstring

# candidate -> the module whose absence skips it
WITH_GRADIENTS = {"tf.keras": "tensorflow", "tf_keras": "tf_keras",
                  "keras-tensorflow": "tensorflow", "keras-jax": "jax", "keras-torch": "torch"}
# what each one's extra brings: Keras's NumPy backend runs its convolutions in JAX (and
# imports scipy, which jax brings)
WITHOUT_GRADIENTS = {"keras-numpy": "jax", "keras-openvino": "openvino"}


def _f32(rng, *shape, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def _gradient_case(case_id, layer, config, inputs, weights, cotangent, forward, vjp,
                   call_kwargs=None):
    """A Case whose expected outputs are forward() and whose observed["gradients"] are
    vjp(cotangent) (inputs', then the trainable weights'), each within RELATIVE of its
    largest element."""
    outputs = forward()
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    grads = vjp(cotangent)
    return Case(id=case_id, layer=layer, spec="keras3", params={}, config=config,
                inputs=inputs, weights=weights, call_kwargs=call_kwargs or {},
                expected=[np.asarray(y, np.float64) for y in outputs],
                bounds=[_within(y) for y in outputs], cotangent=cotangent,
                observed={"gradients": ([np.asarray(g, np.float64) for g in grads],
                                        [_within(g) for g in grads])})


def _within(array):
    """RELATIVE of the array's largest magnitude, for every element."""
    array = np.asarray(array, np.float64)
    return np.full(array.shape, RELATIVE * max(np.max(np.abs(array), initial=0.0), 1e-30))


def dense_case(rng):
    x, kernel, bias, u = _f32(rng, 3, 4), _f32(rng, 4, 3), _f32(rng, 3), _f32(rng, 3, 3)
    config = {"units": 3, "activation": "tanh"}
    return _gradient_case("Dense-grad", "Dense", config, [x], [kernel, bias], [u],
                          lambda: dense(x, kernel, bias, **config),
                          lambda u: backward.dense_vjp(x, kernel, bias, u=u[0], **config))


def conv2d_case(rng):
    x, kernel, bias = _f32(rng, 2, 5, 5, 3), _f32(rng, 3, 3, 3, 2), _f32(rng, 2)
    u = _f32(rng, 2, 3, 3, 2)                  # "same" with stride 2: ceil(5 / 2) = 3
    config = {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}
    return _gradient_case("Conv2D-grad", "Conv2D", config, [x], [kernel, bias], [u],
                          lambda: conv(x, kernel, bias, **config),
                          lambda u: backward.conv_vjp(x, kernel, bias, u=u[0], **config))


def lstm_masked_case(rng):
    x, weights = _f32(rng, 2, 5, 2), [_f32(rng, 2, 12), _f32(rng, 3, 12), _f32(rng, 12)]
    mask = np.array([[True, True, True, False, False], [True, False, True, True, True]])
    u = _f32(rng, 2, 5, 3)
    config = {"units": 3, "return_sequences": True}
    return _gradient_case("LSTM-grad-masked", "LSTM", config, [x], weights, [u],
                          lambda: lstm(x, *weights, mask, **config),
                          lambda u: backward.lstm_vjp(x, *weights, mask, u=u, **config),
                          call_kwargs={"mask": mask})


def lstm_state_case(rng):
    """initial_state given (its two arrays get gradients) and return_state: three outputs."""
    x, weights = _f32(rng, 2, 3, 2), [_f32(rng, 2, 8), _f32(rng, 2, 8), _f32(rng, 8)]
    states = [_f32(rng, 2, 2), _f32(rng, 2, 2)]
    u = [_f32(rng, 2, 2) for _ in range(3)]
    config = {"units": 2, "return_state": True}
    return _gradient_case("LSTM-grad-states", "LSTM", config, [x], weights, u,
                          lambda: lstm(x, *weights, None, states, **config),
                          lambda u: backward.lstm_vjp(x, *weights, None, states, u=u, **config),
                          call_kwargs={"initial_state": states})


def lstm_cell_case(rng):
    """A cell's states (call argument "states") get gradients; outputs [h', h', c']."""
    x, weights = _f32(rng, 3, 4), [_f32(rng, 4, 8), _f32(rng, 2, 8), _f32(rng, 8)]
    states = [_f32(rng, 3, 2), _f32(rng, 3, 2)]
    u = [_f32(rng, 3, 2) for _ in range(3)]
    config = {"units": 2}
    return _gradient_case("LSTMCell-grad", "LSTMCell", config, [x], weights, u,
                          lambda: lstm_cell(x, *weights, states=states, **config),
                          lambda u: backward.lstm_cell_vjp(x, *weights, states=states, u=u,
                                                           **config),
                          call_kwargs={"states": states})


def batch_normalization_case(rng):
    """A training call: the gradient goes through the batch mean and variance."""
    x, u = _f32(rng, 6, 3), _f32(rng, 6, 3)
    weights = [_f32(rng, 3), _f32(rng, 3), _f32(rng, 3),
               np.abs(_f32(rng, 3)) + np.float32(0.5)]
    return _gradient_case("BatchNormalization-grad", "BatchNormalization", {}, [x], weights,
                          [u], lambda: batch_normalization(x, *weights, training=True)[0],
                          lambda u: backward.batch_normalization_vjp(x, *weights, u=u[0],
                                                                     training=True),
                          call_kwargs={"training": True})


def embedding_case(rng):
    """Index 1 read three times and 3 twice: their rows add up; rows 2 and 4 get zeros."""
    x = np.array([[1, 3, 1], [0, 1, 3]], np.int32)
    table, u = _f32(rng, 5, 3), _f32(rng, 2, 3, 3)
    config = {"input_dim": 5, "output_dim": 3}
    return _gradient_case("Embedding-grad", "Embedding", config, [x], [table], [u],
                          lambda: embedding(x, table, **config),
                          lambda u: backward.embedding_vjp(x, table, u=u[0], **config))


def add_case(rng):
    """Two inputs, no weights (Keras 3 on JAX builds the layer in a first call)."""
    a, b, u = _f32(rng, 2, 3), _f32(rng, 2, 3), _f32(rng, 2, 3)
    return _gradient_case("Add-grad", "Add", {}, [a, b], [], [u], lambda: add(a, b),
                          lambda u: backward.add_vjp(a, b, u=u[0]))


CASES = [dense_case, conv2d_case, lstm_masked_case, lstm_state_case, lstm_cell_case,
         batch_normalization_case, embedding_case, add_case]


@pytest.fixture(scope="module")
def candidates():
    """candidate(name): the candidate in its own process, started once for this module."""
    started = {}

    def get(name, module):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: {name} cannot run")
        if name not in started:
            started[name] = IsolatedCandidate(name, timeout=300)
        return started[name]

    yield get
    for candidate in started.values():
        candidate.close()


def other_values(case):
    """The case with its float inputs and weights scaled by -0.5 (the same layer, config and
    shapes: the layer it builds is the one this case's would be)."""
    def scaled(arrays):
        return [a * np.float32(-0.5) if a.dtype.kind == "f" else a for a in arrays]
    return dataclasses.replace(case, id=case.id + "-before", inputs=scaled(case.inputs),
                               weights=scaled(case.weights))


def _discrepancies(case, got):
    """max |got - reference| / max |reference| of each gradient array."""
    expected = case.observed["gradients"][0]
    assert len(got) == len(expected), f"{len(got)} gradients, expected {len(expected)}"
    ratios = []
    for i, (e, g) in enumerate(zip(expected, got)):
        assert np.shape(g) == e.shape, f"gradient {i}: shape {np.shape(g)}, expected {e.shape}"
        scale = max(np.max(np.abs(e), initial=0.0), 1e-30)
        ratios.append(float(np.max(np.abs(np.asarray(g, np.float64) - e), initial=0.0) / scale))
    return ratios


@pytest.mark.parametrize("name", list(WITH_GRADIENTS))
def test_a_keras_candidate_gives_the_reference_gradients(candidates, name):
    candidate = candidates(name, WITH_GRADIENTS[name])
    rng = np.random.default_rng(24)
    for make in CASES:
        case = make(rng)
        # first a case that builds the same layer with other values: a Keras 3 candidate then
        # answers from the layer it kept (candidates/kept_layers.py), given this case's weights
        assert "unsupported" not in candidate.answer(other_values(case), True, False)
        answer = candidate.answer(case, True, False)
        assert "unsupported" not in answer, answer
        observed = answer["observed"]
        assert "gradients" in observed, f"{name} gave no gradients for {case.id}"
        ratios = _discrepancies(case, observed["gradients"])
        print(f"{name} {case.id}: max |error| / max |reference| per array "
              f"{', '.join(f'{r:.1e}' for r in ratios)}")
        assert max(ratios) <= RELATIVE, f"{name} {case.id}: {ratios}"
        outcome = compare_case(case, answer["outputs"], observed=observed)
        assert outcome.status == "passed", f"{name} {case.id}: {outcome.message}"


@pytest.mark.parametrize("name", list(WITHOUT_GRADIENTS))
def test_a_backend_without_autodiff_gives_no_gradients_and_says_why(candidates, name):
    candidate = candidates(name, WITHOUT_GRADIENTS[name])
    case = dense_case(np.random.default_rng(24))
    answer = candidate.answer(case, True, False)
    assert answer["unsupported"].startswith(f"{name} has no gradients: ")
    assert "gradients" not in candidate.call("observe", case)
    forward = dataclasses.replace(case, cotangent=None, observed=None)
    assert "unsupported" not in candidate.answer(forward, True, False)     # it still runs


# compare_case on observed["gradients"] ---------------------------------------------------------

def test_compare_case_judges_the_gradients_as_observed_values():
    case = dense_case(np.random.default_rng(3))
    outputs = [y.astype(np.float32) for y in case.expected]
    right = [g.astype(np.float32) for g in case.observed["gradients"][0]]
    passed = compare_case(case, outputs, observed={"outputs": outputs, "gradients": right})
    assert passed.status == "passed", passed.message

    # planted: the bias gradient of one row only, without the sum over the batch
    x, kernel, bias = case.inputs[0], *case.weights
    g = backward.activation_vjp("tanh", "keras3")(
        dense(x, kernel, bias, units=3, activation=None), case.cotangent[0])
    wrong = right[:2] + [g[0].astype(np.float32)]
    failed = compare_case(case, outputs, observed={"outputs": outputs, "gradients": wrong})
    assert failed.status == "failed"
    assert failed.message.startswith("after the call, gradients: value outside its bound at "
                                     "output 2 index")

    no_observe = compare_case(case, outputs, observed=None)
    assert (no_observe.status, no_observe.message) == (
        "skipped", "outputs match; the gradients not checked: candidate has no observe()")
    no_key = compare_case(case, outputs, observed={"outputs": outputs})
    assert (no_key.status, no_key.message) == (
        "skipped", 'outputs match; the gradients not checked: its observe() gives no '
                   '"gradients"')


def test_the_candidate_is_handed_the_cotangent():
    case = dense_case(np.random.default_rng(5))
    given = case.for_candidate()
    assert given.observed is None and given.expected is None
    assert all(a is b for a, b in zip(given.cotangent, case.cotangent))


# the fixture store -----------------------------------------------------------------------------

def test_the_fixture_store_keeps_the_cotangent(tmp_path):
    rng = np.random.default_rng(7)
    gradient, plain = lstm_state_case(rng), dense_case(rng)
    plain = dataclasses.replace(plain, id="Dense-plain", cotangent=None, observed=None)
    gradient = dataclasses.replace(gradient, layer="Dense")   # one layer's file holds both
    files = write_layer(tmp_path, "keras3", "Dense", [gradient, plain])
    write_manifest(tmp_path, files, {}, [])
    back = {c.id: c for c in read_layer(tmp_path, "keras3", "Dense", read_manifest(tmp_path))}
    assert back["Dense-plain"].cotangent is None
    stored = back["LSTM-grad-states"]
    assert len(stored.cotangent) == 3
    for a, b in zip(stored.cotangent, gradient.cotangent):
        assert a.dtype == np.float32 and np.array_equal(a, b)
    expected, bounds = stored.observed["gradients"]
    assert len(expected) == len(gradient.observed["gradients"][0]) == 6
    for a, b, bound in zip(expected, gradient.observed["gradients"][0], bounds):
        assert np.all(np.abs(a - b) <= bound)        # stored as float32 with bounds rounded up
