"""The analytic backward pass of the normalizations, Embedding, the advanced activations,
the noise layers, the layers that move values and LocallyConnected
(reference/backward_normalization.py, reference/backward_misc.py) against float64 central
differences of the forward with Richardson extrapolation (tests/backward_checks.py). The
recurrent layers: tests/test_reference_backward_recurrent.py.

Cases are small, seeded and drawn MARGIN away from the kinks (draw_away): the piecewise
activations' inputs from their breakpoints (0, theta, ReLU's threshold and max_value, as
float32), PReLU's from 0, ActivityRegularization's l1 input from 0. What a case does not
differentiate (the moving statistics, a dropout draw, Embedding's integer indices) is fixed
through a small wrapper.
"""
import numpy as np
import pytest

import reference
from reference import backward as bw
from reference.model_layers import layer_norm_weight_shape
from reference.normalization import batch_statistics
from tests.backward_checks import assert_vjp, draw_away


def fixed(function, **constants):
    """function with some arguments fixed (not differentiated), named as function."""
    def partial(*arrays, **config):
        return function(*arrays, **constants, **config)
    partial.__name__ = function.__name__
    return partial


# ---- BatchNormalization and LayerNormalization --------------------------------------------

BATCH_NORM = [   # x shape, config
    ((4, 3), dict(training=True)),
    ((3, 2, 3), dict(training=True, center=False, epsilon=0.1)),
    ((2, 3, 2, 2), dict(training=True, axis=1, fused=True, spec="keras2")),
    ((3, 2, 3, 2), dict(training=True, axis=[1, 3], scale=False, spec="keras2")),
    ((4, 3), dict(training=False)),
    ((2, 3, 2, 2), dict(axis=1, center=False)),
    ((3, 3), dict(training=True, trainable=False)),
    ((2, 2, 3, 2), dict(axis=[1, 3], spec="keras2")),
]


def batch_norm_case(shape, config, seed=0):
    """(x, gamma, beta) to differentiate and the moving statistics (constants)."""
    rng = np.random.default_rng(seed)
    rank, axis = len(shape), config.get("axis", -1)
    axes = [a % rank for a in (axis if isinstance(axis, list) else [axis])]
    weight = (shape[axes[0]],) if len(axes) == 1 else tuple(
        d if i in axes else 1 for i, d in enumerate(shape))
    x = rng.standard_normal(shape) * 1.5 + 0.3
    gamma, beta = rng.uniform(0.5, 1.5, weight), rng.standard_normal(weight)
    moving = [rng.standard_normal(weight) * 0.2, rng.uniform(0.5, 1.5, weight)]
    trained = [gamma] * config.get("scale", True) + [beta] * config.get("center", True)
    return [x, *trained], moving


def moving_statistics(function, moving, output=False):
    """function(x, *trained weights, **config) with the moving statistics appended."""
    def with_moving(*arrays, **config):
        result = function(*arrays, *moving, **config)
        return result[0] if output else result
    with_moving.__name__ = function.__name__
    return with_moving


@pytest.mark.parametrize("shape, config", BATCH_NORM)
def test_batch_normalization_vjp(shape, config):
    arrays, moving = batch_norm_case(shape, config)
    assert_vjp(moving_statistics(reference.batch_normalization, moving, output=True),
               moving_statistics(bw.batch_normalization_vjp, moving), arrays, config)


LAYER_NORM = [
    ((2, 5), dict()),
    ((2, 3, 4), dict(axis=[1, 2], center=False)),
    ((2, 3, 2), dict(axis=[2, 1], spec="keras2", epsilon=0.01)),      # weights scrambled
    ((2, 2, 4), dict(axis=-1, rms_scaling=True)),
    ((3, 4), dict(scale=False)),
]


@pytest.mark.parametrize("shape, config", LAYER_NORM)
def test_layer_normalization_vjp(shape, config):
    rng = np.random.default_rng(1)
    weight = layer_norm_weight_shape(config.get("axis", -1), shape, config.get("spec", "keras3"))
    rms = config.get("rms_scaling", False)
    count = bool(config.get("scale", True) or rms) + bool(config.get("center", True) and not rms)
    arrays = [rng.standard_normal(shape) * 2] + [rng.standard_normal(weight) for _ in range(count)]
    assert_vjp(reference.layer_normalization, bw.layer_normalization_vjp, arrays, config)


@pytest.mark.parametrize("config", [dict(l1=0.1), dict(l2=0.3), dict(l1=0.2, l2=0.05)])
def test_activity_regularization_vjp(config):
    x = draw_away(np.random.default_rng(2), (3, 4), np.abs)
    assert_vjp(reference.activity_regularization, bw.activity_regularization_vjp, [x], config)


# ---- Embedding -----------------------------------------------------------------------------

EMBEDDING = [   # indices (repeated within a row and across rows), config
    (np.array([[0, 2, 2], [4, 2, 0]]), dict(input_dim=5, output_dim=3)),
    (np.array([[[1, 1], [3, 1]], [[0, 1], [3, 3]]]), dict(input_dim=4, output_dim=2,
                                                          mask_zero=True)),
    (np.array([[1.7, 0.2, 1.0]]), dict(input_dim=3, output_dim=2, input_length=3,
                                       spec="keras2")),       # floats truncate to 1, 0, 1
]


def table_first(function):
    """Embedding's forward or VJP over (table, indices): the table is what is differentiated."""
    def swapped(embeddings, x, **config):
        return function(x, embeddings, **config)
    swapped.__name__ = function.__name__
    return swapped


@pytest.mark.parametrize("indices, config", EMBEDDING)
def test_embedding_vjp(indices, config):
    table = np.random.default_rng(3).standard_normal((config["input_dim"], config["output_dim"]))
    assert_vjp(fixed(table_first(reference.embedding), x=indices),
               fixed(table_first(bw.embedding_vjp), x=indices), [table], config)


# ---- the advanced activations and ReLU ---------------------------------------------------

def away_from(*points):
    return lambda x: np.min([np.abs(x - np.float32(p)) for p in points], axis=0)


ELEMENTWISE = [   # forward, vjp, config, the kinks
    ("leaky_relu", dict(negative_slope=0.1), [0]),
    ("leaky_relu", dict(alpha=0.2, spec="keras2"), [0]),
    ("leaky_relu", dict(alpha=0.0, spec="keras2"), [0]),
    ("leaky_relu", dict(), [0]),
    ("elu", dict(alpha=0.5), [0]),
    ("elu", dict(), [0]),                   # a seam: the derivative continuous, not its own
    ("thresholded_relu", dict(theta=0.5), [0.5]),
    ("relu_layer", dict(), [0]),
    ("relu_layer", dict(max_value=1.2, negative_slope=0.1, threshold=0.3), [0.3, 1.2]),
    ("relu_layer", dict(negative_slope=0.2), [0]),
    ("relu_layer", dict(max_value=0.8, threshold=1.1, spec="keras2"), [0.8, 1.1]),
]


@pytest.mark.parametrize("name, config, points", ELEMENTWISE)
def test_elementwise_activation_layer_vjp(name, config, points):
    x = draw_away(np.random.default_rng(4), (3, 5), away_from(*points), -2.0, 2.0)
    assert_vjp(getattr(reference, name), getattr(bw, f"{name}_vjp"), [x], config)


PRELU = [((2, 3, 4), dict()), ((2, 3, 4), dict(shared_axes=[1])),
         ((2, 2, 3, 2), dict(shared_axes=[1, 2])), ((2, 3, 2, 2), dict(shared_axes=3))]


def prelu_case(shape, config, seed=5):
    rng = np.random.default_rng(seed)
    alpha_shape = list(shape[1:])
    shared = config.get("shared_axes") or []
    for axis in shared if isinstance(shared, list) else [shared]:
        alpha_shape[axis - 1] = 1
    return [draw_away(rng, shape, np.abs), rng.uniform(-0.5, 0.8, alpha_shape)]


@pytest.mark.parametrize("shape, config", PRELU)
def test_prelu_vjp(shape, config):
    assert_vjp(reference.prelu, bw.prelu_vjp, prelu_case(shape, config), config)


# ---- dropout and the noise layers --------------------------------------------------------

NOISE = [   # forward name, config, the draw's shape (None: no draw)
    ("dropout", dict(rate=0.4), None),
    ("dropout", dict(rate=0.4, training=True, noise_shape=(2, 1, 3)), (2, 1, 3)),
    ("gaussian_noise", dict(stddev=0.3), None),
    ("gaussian_noise", dict(stddev=0.3, training=True), (2, 4, 3)),
    ("gaussian_dropout", dict(rate=0.2), None),
    ("gaussian_dropout", dict(rate=0.2, training=True), (2, 4, 3)),
    ("alpha_dropout", dict(rate=0.3), None),
    ("alpha_dropout", dict(rate=0.3, training=True, noise_shape=(2, 4, 1)), (2, 4, 1)),
]


@pytest.mark.parametrize("name, config, draw", NOISE)
def test_noise_layer_vjp(name, config, draw):
    rng = np.random.default_rng(6)
    if draw is not None:
        key = "keep" if "dropout" in name and name != "gaussian_dropout" else "noise"
        config = {**config, key: rng.uniform(size=draw) < 0.6 if key == "keep"
                  else rng.standard_normal(draw)}
    assert_vjp(getattr(reference, name), getattr(bw, f"{name}_vjp"),
               [rng.standard_normal((2, 4, 3))], config)


# ---- the layers that move values ---------------------------------------------------------

MOVES = [   # forward name, x shape, config
    ("flatten", (2, 3, 2, 2), dict(data_format="channels_first")),
    ("flatten", (2, 3, 4), dict()),
    ("reshape", (2, 3, 4), dict(target_shape=(2, -1))),
    ("permute", (2, 2, 3, 4), dict(dims=(3, 1, 2))),
    ("repeat_vector", (2, 3), dict(n=3)),
    ("cropping", (2, 6, 2), dict(cropping=(1, 2))),
    ("cropping", (2, 2, 4, 5), dict(cropping=((1, 0), (2, 1)), data_format="channels_first")),
    ("zero_padding", (2, 3, 2, 2), dict(padding=((1, 0), (2, 1)))),
    ("zero_padding", (2, 2, 3), dict(padding=(0, 2), data_format="channels_first")),
    ("upsampling", (2, 3, 2), dict(size=3)),
    ("upsampling", (2, 2, 2, 1, 2), dict(size=(2, 1, 3))),
    ("upsampling", (1, 2, 3, 2), dict(size=(2, 3), interpolation="bilinear",
                                      data_format="channels_first")),
    ("upsampling", (1, 3, 2, 1), dict(size=(3, 2), interpolation="bilinear")),
]


@pytest.mark.parametrize("name, shape, config", MOVES)
def test_layer_that_moves_values_vjp(name, shape, config):
    x = np.random.default_rng(7).standard_normal(shape)
    assert_vjp(getattr(reference, name), getattr(bw, f"{name}_vjp"), [x], config)


# ---- LocallyConnected1D/2D ---------------------------------------------------------------

def local_kernel_shape(implementation, data_format, in_shape, channels, out_shape,
                       kernel_size, filters):
    if implementation == 1:
        return (int(np.prod(out_shape)), int(np.prod(kernel_size)) * channels, filters)
    if implementation == 2:
        return ((*in_shape, channels, *out_shape, filters) if data_format == "channels_last"
                else (channels, *in_shape, filters, *out_shape))
    return (int(np.prod(out_shape)) * filters * int(np.prod(kernel_size)) * channels,)


LOCAL = [   # spatial input, channels, config (filters 2)
    ((5,), 2, dict(kernel_size=2, implementation=1, activation="tanh")),
    ((5,), 2, dict(kernel_size=3, strides=2, implementation=2, data_format="channels_first")),
    ((3, 4), 2, dict(kernel_size=(2, 2), strides=(1, 2), implementation=1,
                     data_format="channels_first")),
    ((3, 3), 1, dict(kernel_size=2, implementation=2, use_bias=False)),
    ((3, 4), 2, dict(kernel_size=(2, 3), implementation=3, data_format="channels_first")),
    ((4,), 2, dict(kernel_size=2, strides=2, implementation=3, activation="softmax")),
]


@pytest.mark.parametrize("in_shape, channels, config", LOCAL)
def test_locally_connected_vjp(in_shape, channels, config):
    rng = np.random.default_rng(8)
    rank, first = len(in_shape), config.get("data_format") == "channels_first"
    size = (config["kernel_size"],) * rank if isinstance(config["kernel_size"], int) \
        else config["kernel_size"]
    strides = config.get("strides", 1)
    strides = (strides,) * rank if isinstance(strides, int) else strides
    out_shape = tuple((n - k) // s + 1 for n, k, s in zip(in_shape, size, strides))
    x = rng.standard_normal((2, channels, *in_shape) if first else (2, *in_shape, channels))
    kernel = rng.standard_normal(local_kernel_shape(
        config["implementation"], config.get("data_format", "channels_last"), in_shape,
        channels, out_shape, size, 2))
    arrays = [x, kernel] + [rng.standard_normal((*out_shape, 2))] * config.get("use_bias", True)
    assert_vjp(reference.locally_connected, bw.locally_connected_vjp, arrays,
               {"filters": 2, "spec": "keras2", **config})


# ---- planted wrong VJPs: the same comparison catches each ----------------------------------

def batch_statistics_as_constants(x, *weights, u, **config):
    """BatchNormalization in training with the batch mean and variance taken as constants:
    its inference VJP with the batch statistics as the moving ones."""
    mean, variance, _ = batch_statistics(np.asarray(x), (x.ndim - 1,))
    trained = weights[:-2]
    return bw.batch_normalization_vjp(x, *trained, mean.ravel(), variance.ravel(), u=u,
                                      **{**config, "training": False})


def embedding_overwritten(e, x, u, **config):
    """Each lookup's cotangent written to its row (the last one wins), not added."""
    d = np.zeros_like(e)
    d[x] = u
    return (d,)


def prelu_alpha_first_shared_position(x, alpha, *, u, shared_axes):
    """PReLU's alpha gradient from the first position of each shared axis alone."""
    dx, dalpha = bw.prelu_vjp(x, alpha, u=u, shared_axes=shared_axes)
    first = tuple(slice(0, 1) if a + 1 in shared_axes else slice(None) for a in range(alpha.ndim))
    return dx, (u * np.minimum(x, 0)).sum(axis=0)[first]


def test_planted_batch_normalization_without_the_statistics_path_is_caught():
    arrays, moving = batch_norm_case((4, 3), dict(training=True), seed=9)
    batch = moving_statistics(reference.batch_normalization, moving, output=True)
    planted = moving_statistics(batch_statistics_as_constants, moving)
    with pytest.raises(AssertionError, match="finite differences"):
        assert_vjp(batch, planted, arrays, dict(training=True))


def test_planted_embedding_overwriting_repeated_indices_is_caught():
    indices, config = EMBEDDING[0]
    table = np.random.default_rng(10).standard_normal((5, 3))
    with pytest.raises(AssertionError, match="finite differences"):
        assert_vjp(fixed(table_first(reference.embedding), x=indices),
                   fixed(embedding_overwritten, x=indices), [table], config)


def test_planted_prelu_alpha_not_summed_over_shared_axes_is_caught():
    shape, config = PRELU[2]
    with pytest.raises(AssertionError, match="finite differences"):
        assert_vjp(reference.prelu, prelu_alpha_first_shared_position,
                   prelu_case(shape, config, seed=11), config)
