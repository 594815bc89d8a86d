"""The analytic backward pass of ConvLSTM2D, the CuDNN layers, the wrappers (TimeDistributed,
Bidirectional, Sequential), EinsumDense, MultiHeadAttention, ReversibleEmbedding, Softmax,
Masking, Identity, Rescaling, Normalization, Lambda and MyLayer (reference/backward_conv_lstm.py,
backward_cudnn.py, backward_wrappers.py, backward_attention.py, backward_model_layers.py)
against float64 central differences of the forward with Richardson extrapolation
(tests/backward_checks.py).

Cases are small and seeded; every activation is smooth (tanh, sigmoid, softmax), so no case
sits near a kink. The arrays a case differentiates are [inputs, initial states, weights] (as in
tests/test_reference_backward_recurrent.py); what it does not (masks, integer indices, a
Masking layer's masked steps, whose values decide the mask) is held fixed by a small wrapper.
"""
from unittest import mock

import numpy as np
import pytest

import reference
from conformance.lambdas import resolve_lambda_config
from reference import backward as bw
from reference import backward_wrappers
from tests.backward_checks import assert_vjp
from tests.test_reference_backward_recurrent import layer_weights, with_states

BATCH, STEPS, FEATURES = 2, 3, 2
MASK = np.array([[1, 0, 1], [0, 1, 1]], bool)          # (batch, steps), True = a real step


def normal(rng, *shape, scale=1.0):
    return rng.standard_normal(shape) * scale


def named(function, name):
    function.__name__ = name
    return function


def given_input(function, x):
    """function over its weights, its input x fixed (integer indices)."""
    return named(lambda *weights, **config: function(x, *weights, **config), function.__name__)


def with_fixed(function, **constants):
    """function with some arguments fixed (not differentiated)."""
    return named(lambda *arrays, **config: function(*arrays, **constants, **config),
                 function.__name__)


# ---- ConvLSTM2D ----------------------------------------------------------------------------

CONV_LSTM = [   # config, image (rows, cols), mask, initial states given
    (dict(filters=1, kernel_size=2, return_sequences=True, return_state=True,
          go_backwards=True), (3, 3), MASK, True),
    (dict(filters=2, kernel_size=(2, 1), strides=2, data_format="channels_first",
          use_bias=False), (4, 3), None, False),
    (dict(filters=1, kernel_size=2, padding="same", dilation_rate=2, return_sequences=True,
          zero_output_for_mask=True, recurrent_activation="tanh", spec="keras2",
          time_major=True), (3, 3), MASK, False),
]


@pytest.mark.parametrize("config, image, mask, initial", CONV_LSTM)
def test_conv_lstm2d_vjp(config, image, mask, initial):
    rng = np.random.default_rng(0)
    first = config.get("data_format") == "channels_first"
    x = normal(rng, BATCH, STEPS, *((1, *image) if first else (*image, 1)))
    size = reference.padding.as_tuple(config["kernel_size"], 2, "kernel_size")
    f = config["filters"]
    weights = [normal(rng, *size, 1, 4 * f, scale=0.6), normal(rng, *size, f, 4 * f, scale=0.6)]
    weights += [normal(rng, 4 * f, scale=0.5)] if config.get("use_bias", True) else []
    shape = reference.conv_lstm.state_shape(x.shape, f, config["kernel_size"],
                                            config.get("strides", 1),
                                            config.get("padding", "valid"),
                                            config.get("dilation_rate", 1),
                                            config.get("data_format", "channels_last"))
    states = [normal(rng, *shape, scale=0.5) for _ in range(2 * initial)]
    assert_vjp(with_states(reference.conv_lstm2d, len(states), "initial_state"),
               with_states(bw.conv_lstm2d_vjp, len(states), "initial_state"),
               [x, *states, *weights], {**config, "mask": mask})


# ---- CuDNNGRU and CuDNNLSTM ----------------------------------------------------------------

@pytest.mark.parametrize("forward, vjp, gates, config, initial", [
    (reference.cudnn_gru, bw.cudnn_gru_vjp, 3, dict(units=2, return_sequences=True,
                                                    return_state=True), 1),
    (reference.cudnn_gru, bw.cudnn_gru_vjp, 3, dict(units=3, go_backwards=True,
                                                    time_major=True), 0),
    (reference.cudnn_lstm, bw.cudnn_lstm_vjp, 4, dict(units=2, return_state=True,
                                                      go_backwards=True), 2),
])
def test_cudnn_vjp(forward, vjp, gates, config, initial):
    rng = np.random.default_rng(1)
    units = config["units"]
    x = normal(rng, BATCH, STEPS, FEATURES)
    weights = [normal(rng, FEATURES, gates * units, scale=0.7),
               normal(rng, units, gates * units, scale=0.7),
               normal(rng, 2 * gates * units, scale=0.5)]
    states = [normal(rng, BATCH, units, scale=0.5) for _ in range(initial)]
    assert_vjp(with_states(forward, initial, "initial_state"),
               with_states(vjp, initial, "initial_state"), [x, *states, *weights], config)


# ---- TimeDistributed, Bidirectional, Sequential --------------------------------------------

def inner(class_name, **config):
    return {"class_name": class_name, "config": config, "module": "keras.layers"}


TIME_DISTRIBUTED = [   # inner layer, x shape, weight shapes, mask
    (inner("Dense", units=3, activation="tanh"), (BATCH, STEPS, 2, 2), [(2, 3), (3,)], None),
    (inner("Conv2D", filters=2, kernel_size=2, activation="sigmoid", padding="same"),
     (BATCH, 2, 3, 3, 1), [(2, 2, 1, 2), (2,)], None),
    (inner("LSTM", units=2, return_sequences=True), (BATCH, 2, STEPS, FEATURES),
     [(FEATURES, 8), (2, 8), (8,)], np.stack([MASK, ~MASK | MASK[::-1]], axis=1)),
]


@pytest.mark.parametrize("layer, shape, weight_shapes, mask", TIME_DISTRIBUTED)
def test_time_distributed_vjp(layer, shape, weight_shapes, mask):
    rng = np.random.default_rng(2)
    arrays = [normal(rng, *shape)] + [normal(rng, *s, scale=0.6) for s in weight_shapes]
    assert_vjp(reference.time_distributed, bw.time_distributed_vjp, arrays,
               {"layer": layer, "mask": mask})


BIDIRECTIONAL = [   # inner layer, merge_mode, mask, initial states given (per direction)
    (inner("LSTM", units=2, return_sequences=True), "concat", MASK, 0),
    (inner("GRU", units=2, return_sequences=True, return_state=True), "mul", MASK, 1),
    (inner("SimpleRNN", units=2, return_state=True), "sum", None, 1),
    (inner("LSTM", units=2, return_state=True, use_bias=False), "ave", MASK, 2),
    (inner("GRU", units=2, reset_after=False, return_sequences=True), None, None, 0),
]
GATES = {"SimpleRNN": reference.simple_rnn, "GRU": reference.gru, "LSTM": reference.lstm}


@pytest.mark.parametrize("layer, merge_mode, mask, initial", BIDIRECTIONAL)
def test_bidirectional_vjp(layer, merge_mode, mask, initial):
    rng = np.random.default_rng(3)
    forward = GATES[layer["class_name"]]
    units = layer["config"]["units"]
    weights = [w for _ in range(2) for w in layer_weights(rng, forward, layer["config"])]
    states = [normal(rng, BATCH, units, scale=0.5) for _ in range(2 * initial)]
    assert_vjp(with_states(reference.bidirectional, len(states), "initial_state"),
               with_states(bw.bidirectional_vjp, len(states), "initial_state"),
               [normal(rng, BATCH, STEPS, FEATURES), *states, *weights],
               {"layer": layer, "merge_mode": merge_mode, "mask": mask})


def on_free(forward, vjp, x, free):
    """forward and vjp over the elements of x where `free` (the others held at their values):
    a Masking layer's masked steps decide its mask, so they are not moved."""
    def place(values):
        full = np.array(x, np.float64)
        full[free] = values
        return full

    def f(values, *rest, **config):
        return forward(place(values), *rest, **config)

    def g(values, *rest, u, **config):
        grads = vjp(place(values), *rest, u=u, **config)
        return (grads[0][free], *grads[1:])
    return named(f, forward.__name__), named(g, vjp.__name__), x[free]


def masked_steps(rng, mask_value=0.0):
    """x (batch, steps, features) with the steps ~MASK all mask_value, and where it is free."""
    x = normal(rng, BATCH, STEPS, FEATURES)
    x[~MASK] = mask_value
    return x, np.broadcast_to(MASK[..., None], x.shape)


@pytest.mark.parametrize("rnn, return_sequences", [("LSTM", True), ("GRU", False)])
def test_sequential_masking_vjp(rnn, return_sequences):
    rng = np.random.default_rng(4)
    rnn_config = dict(units=2, return_sequences=return_sequences)
    layers = [inner("Masking", mask_value=0.0), inner(rnn, **rnn_config)]
    x, free = masked_steps(rng)
    f, g, values = on_free(reference.sequential, bw.sequential_vjp, x, free)
    assert_vjp(f, g, [values, *layer_weights(rng, GATES[rnn], rnn_config)], {"layers": layers})


def test_sequential_embedding_vjp():
    """Embedding(mask_zero) then a SimpleRNN: the indices fixed, the table's gradient and the
    RNN's through the mask the embedding emits."""
    rng = np.random.default_rng(5)
    x = np.array([[1, 0, 2], [0, 3, 3]])
    layers = [inner("Embedding", input_dim=4, output_dim=2, mask_zero=True),
              inner("SimpleRNN", units=2, return_sequences=True)]
    weights = [normal(rng, 4, 2)] + layer_weights(rng, reference.simple_rnn, {"units": 2})
    assert_vjp(given_input(reference.sequential, x), given_input(bw.sequential_vjp, x),
               weights, {"layers": layers})


# ---- EinsumDense, MultiHeadAttention, ReversibleEmbedding ----------------------------------

EINSUM = [   # equation, x shape, output_shape, bias_axes, activation
    ("ab,bc->ac", (2, 3), 4, "c", "tanh"),
    ("...b,bc->...c", (2, 2, 3), 2, "c", None),
    ("abc,cde->abde", (2, 2, 3), (2, 2, 2), "de", None),
    ("ab...,bc->ac...", (2, 3, 2), 2, None, "sigmoid"),
    ("abc,cd->ad", (2, 2, 3), 2, "d", None),       # b summed over the input alone
]


@pytest.mark.parametrize("equation, shape, output_shape, bias_axes, activation", EINSUM)
def test_einsum_dense_vjp(equation, shape, output_shape, bias_axes, activation):
    rng = np.random.default_rng(6)
    kernel_shape, bias_shape = reference.attention.einsum_dense_shapes(
        equation, bias_axes, shape, output_shape)
    arrays = [normal(rng, *shape), normal(rng, *kernel_shape)]
    arrays += [] if bias_shape is None else [normal(rng, *bias_shape)]
    assert_vjp(reference.einsum_dense, bw.einsum_dense_vjp, arrays,
               dict(equation=equation, output_shape=output_shape, bias_axes=bias_axes,
                    activation=activation))


def attention_weights(rng, dq, dk, dv, heads, key_dim, value_dim, out, use_bias):
    shapes = [((dq, heads, key_dim), (heads, key_dim)), ((dk, heads, key_dim), (heads, key_dim)),
              ((dv, heads, value_dim), (heads, value_dim)), ((heads, value_dim, *out), out)]
    return [normal(rng, *s, scale=0.6) for pair in shapes for s in pair[:1 + use_bias]]


def attention_arrays(function, has_key):
    """function over [query, value, (key,) *weights]."""
    def flat(query, value, *rest, **config):
        key, weights = (rest[0], rest[1:]) if has_key else (None, rest)
        return function(query, value, *weights, key=key, **config)
    return named(flat, function.__name__)


KEEP = np.array([[[1, 1, 0, 1], [0, 0, 0, 0], [1, 0, 1, 1]],
                 [[0, 1, 1, 1], [1, 1, 1, 0], [0, 0, 1, 0]]], bool)     # (batch, T, S)

ATTENTION = [   # query shape, value shape, has key, config
    ((2, 3, 3), (2, 4, 2), False, dict(num_heads=2, key_dim=2)),
    ((2, 3, 3), (2, 4, 2), True, dict(num_heads=1, key_dim=3, value_dim=2, use_bias=False,
                                      attention_mask=KEEP)),
    ((2, 3, 2), (2, 4, 3), True, dict(num_heads=2, key_dim=2, attention_mask=KEEP,
                                      return_attention_scores=True, output_shape=(2, 2))),
    ((2, 3, 2), (2, 3, 2), False, dict(num_heads=2, key_dim=1, use_causal_mask=True,
                                       spec="keras2")),
    ((2, 3, 2), (2, 4, 2), True, dict(num_heads=1, key_dim=2, attention_mask=KEEP,
                                      softmax_robust_masking=True, spec="keras2")),
    ((2, 2, 3, 2), (2, 2, 2, 2), False, dict(num_heads=2, key_dim=2, attention_axes=(2,))),
]


@pytest.mark.parametrize("query, value, has_key, config", ATTENTION)
def test_multi_head_attention_vjp(query, value, has_key, config):
    rng = np.random.default_rng(7)
    key = (*value[:-1], 3) if has_key else value
    out = config.get("output_shape", (query[-1],))
    weights = attention_weights(rng, query[-1], key[-1], value[-1], config["num_heads"],
                                config["key_dim"], config.get("value_dim", config["key_dim"]),
                                out, config.get("use_bias", True))
    arrays = [normal(rng, *query), normal(rng, *value)]
    arrays += [normal(rng, *key)] if has_key else []
    assert_vjp(attention_arrays(reference.multi_head_attention, has_key),
               attention_arrays(bw.multi_head_attention_vjp, has_key), arrays + weights, config)


INDICES = np.array([[1, 2, 1], [3, 1, 0]])      # 1 repeated within and across rows


@pytest.mark.parametrize("config", [dict(), dict(tie_weights=False)])
def test_reversible_embedding_lookup_vjp(config):
    rng = np.random.default_rng(8)
    weights = [normal(rng, 4, 3)] + ([normal(rng, 3, 4)] if config else [])
    assert_vjp(given_input(reference.reversible_embedding, INDICES),
               given_input(bw.reversible_embedding_vjp, INDICES), weights,
               dict(input_dim=4, output_dim=3, **config))


@pytest.mark.parametrize("config", [dict(), dict(logit_soft_cap=1.5),
                                    dict(tie_weights=False, logit_soft_cap=2.0)])
def test_reversible_embedding_reverse_vjp(config):
    rng = np.random.default_rng(9)
    weights = [normal(rng, 4, 3)] + ([normal(rng, 3, 4)] if "tie_weights" in config else [])
    assert_vjp(reference.reversible_embedding, bw.reversible_embedding_vjp,
               [normal(rng, 2, 2, 3), *weights],
               dict(input_dim=4, output_dim=3, reverse=True, **config))


# ---- Softmax, Masking, Identity, Rescaling, Normalization, Lambda, MyLayer -----------------

SOFTMAX = [   # x shape, config, mask
    ((2, 5), dict(), None),
    ((2, 3, 4), dict(axis=1), np.array([[1, 0, 1, 1], [1, 1, 1, 0], [0, 1, 1, 0]], bool)),
    ((2, 3, 4), dict(axis=[1, 2]), np.array([[[1, 0, 1, 1]], [[0, 0, 0, 0]]], bool)),
    ((2, 4), dict(robust_masking=True, spec="keras2"), np.array([[1, 0, 1, 1], [0, 1, 1, 0]],
                                                                bool)),
]


@pytest.mark.parametrize("shape, config, mask", SOFTMAX)
def test_softmax_layer_vjp(shape, config, mask):
    x = normal(np.random.default_rng(10), *shape)
    assert_vjp(with_fixed(reference.softmax_layer, mask=mask),
               with_fixed(bw.softmax_layer_vjp, mask=mask), [x], config)


@pytest.mark.parametrize("config", [dict(), dict(mask_value=0.5, spec="keras2")])
def test_masking_vjp(config):
    x, free = masked_steps(np.random.default_rng(11), config.get("mask_value", 0.0))
    f, g, values = on_free(reference.masking, bw.masking_vjp, x, free)
    assert_vjp(f, g, [values], config)
    dx, = bw.masking_vjp(x, u=np.ones_like(x), **config)
    assert not np.any(dx[~MASK])                     # masked steps: no gradient


MOVES = [   # forward, vjp, x shape, config, weights
    (reference.identity, bw.identity_vjp, (2, 3), dict(), []),
    (reference.rescaling, bw.rescaling_vjp, (2, 2, 3), dict(scale=[0.5, -2.0, 3.0], offset=1.0),
     []),
    (reference.rescaling, bw.rescaling_vjp, (2, 3), dict(scale=1 / 255), []),
    (reference.normalization, bw.normalization_vjp, (2, 3, 2),
     dict(axis=1, mean=[0.5, -1.0, 2.0], variance=[4.0, 0.25, 1.0]), []),
    (reference.normalization, bw.normalization_vjp, (2, 3, 2),
     dict(axis=-1, mean=0.5, variance=9.0, invert=True), []),
    (reference.normalization, bw.normalization_vjp, (2, 3, 2), dict(axis=(1, 2)),
     [np.full((3, 2), 0.3), np.arange(1.0, 7.0).reshape(3, 2), np.array(10.0)]),
    (reference.my_layer, bw.my_layer_vjp, (3, 2), dict(output_dim=4), [(2, 4)]),
]


@pytest.mark.parametrize("forward, vjp, shape, config, weights", MOVES)
def test_model_layer_vjp(forward, vjp, shape, config, weights):
    rng = np.random.default_rng(12)
    trainable = [normal(rng, *w) for w in weights if isinstance(w, tuple)]
    fixed = [w for w in weights if not isinstance(w, tuple)]
    assert_vjp(with_fixed(forward) if not fixed else
               named(lambda x, **c: forward(x, *fixed, **c), forward.__name__),
               named(lambda x, *w, u, **c: vjp(x, *w, *fixed, u=u, **c), vjp.__name__),
               [normal(rng, *shape), *trainable], config)


@pytest.mark.parametrize("config", [
    {"function": "affine", "arguments": {"scale": -1.5, "shift": 0.25}},
    {"function": "square", "arguments": {"scale": 0.5}, "mask": "first_feature_positive"},
    {"function": "head", "output_shape": "head_shape"},
])
def test_lambda_layer_vjp(config):
    x = normal(np.random.default_rng(13), 2, 3, 4)
    assert_vjp(reference.lambda_layer, bw.lambda_layer_vjp, [x], resolve_lambda_config(config))


def test_lambda_vjp_refuses_a_function_outside_the_catalogue():
    with pytest.raises(reference.OutOfScope, match="catalogue"):
        bw.lambda_layer_vjp(np.ones((2, 2)), u=np.ones((2, 2)), function=lambda x: x)


def test_the_new_vjps_refuse_a_cotangent_of_another_shape():
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="cotangent"):
        bw.identity_vjp(x, u=np.ones((3, 2)))
    with pytest.raises(ValueError, match="cotangent"):
        bw.my_layer_vjp(x, np.ones((3, 2)), u=np.ones((2, 3)), output_dim=2)


# ---- a planted wrong VJP: the same comparison catches it -----------------------------------

def backward_direction_unreversed(*arrays, u, **config):
    """Bidirectional with the backward layer's sequence gradient left in time order (not
    reversed back to the order in which that layer processed the steps)."""
    real = backward_wrappers.merge_vjp

    def merged(y, y_rev, u, merge_mode):
        dy, dy_rev = real(y, y_rev, u, merge_mode)
        return dy, np.flip(dy_rev, 1)               # the VJP's own flip then undoes it
    with mock.patch.object(backward_wrappers, "merge_vjp", merged):
        return bw.bidirectional_vjp(*arrays, u=u, **config)


def test_planted_bidirectional_without_the_time_reversal_is_caught():
    layer, merge_mode, mask, _ = BIDIRECTIONAL[0]
    rng = np.random.default_rng(14)
    weights = [w for _ in range(2) for w in layer_weights(rng, reference.lstm, layer["config"])]
    arrays = [normal(rng, BATCH, STEPS, FEATURES), *weights]
    config = {"layer": layer, "merge_mode": merge_mode, "mask": mask}
    with pytest.raises(AssertionError, match="finite differences"):
        assert_vjp(reference.bidirectional, named(backward_direction_unreversed,
                                                  "bidirectional_vjp"), arrays, config)
