"""The reference's analytic backward pass (reference/backward*.py) against float64 central
differences of its forward pass, with Richardson extrapolation (tests/backward_checks.py: the
steps, the error estimate and the tolerances).

Cases are valid by construction and keep MARGIN (>> H) away from the points where the
derivative is not defined: activation inputs and pre-activations from kinks and seams
(reference.backward.kink_distance), max pooling's windows and Maximum's inputs from ties
(distinct values spaced apart by construction). Each layer also gets a planted wrong VJP that
the same comparison must catch.
"""
import numpy as np
import pytest

import reference
from reference import backward as bw
from reference.activations import _BY_NAME, KERAS3_NAMES, NEEDS_ARGUMENTS, _activation
from reference.backward_activations import DERIVATIVES, ROW_VJPS, activation_vjp
from reference.backward_pooling import tie_gap
from reference.merge import broadcast_inputs
from reference.windows import windows
from tests.backward_checks import MARGIN, assert_vjp, distinct, draw_away


# ---- activations -----------------------------------------------------------------------

ACTIVATIONS = [(n, "keras3") for n in KERAS3_NAMES if n not in NEEDS_ARGUMENTS] + \
    [("hard_sigmoid", "keras2")]
ROW_WISE = ("softmax", "log_softmax", "glu", "sparsemax")


@pytest.mark.parametrize("name, spec", ACTIVATIONS)
def test_activation_vjp(name, spec):
    rng = np.random.default_rng(len(name))
    low, high = (-1.5, 1.5) if name in ROW_WISE else (-4.5, 7.5)
    x = draw_away(rng, (2, 6), lambda x: bw.kink_distance(name, x, spec), low, high)
    config = {"activation": name, "spec": spec}
    assert_vjp(reference.activation_layer, bw.activation_layer_vjp, [x], config)


def test_every_activation_has_a_derivative():
    functions = {f for n, f in _BY_NAME.items() if n not in NEEDS_ARGUMENTS}
    functions |= {_activation("hard_sigmoid", s) for s in ("keras2", "keras3")}
    assert functions <= set(DERIVATIVES) | set(ROW_VJPS)


@pytest.mark.parametrize("name, spec", [a for a in ACTIVATIONS if a[0] not in ROW_WISE])
def test_kinks_are_where_the_derivative_jumps(name, spec):
    """On a grid of step 1e-4 over [-8, 8], the analytic derivative jumps exactly at kinks()."""
    grid = np.linspace(-8, 8, 160001)
    d = activation_vjp(name, spec)(grid, np.ones_like(grid))
    jumps = np.abs(np.diff(d)) > 0.05 * np.maximum(1.0, np.abs(d[1:]))
    found = [round(p, 2) for p in (grid[:-1][jumps] + 5e-5)]
    assert found == bw.kinks(name, spec)


def test_sparsemax_kink_distance_is_the_threshold():
    x = np.array([[0.1, 0.5, 0.9, -1.0]])      # tau = 0.2: support {0.5, 0.9}
    assert np.allclose(bw.kink_distance("sparsemax", x), [[0.1, 0.3, 0.7, 1.2]])


# ---- Dense ---------------------------------------------------------------------------------

DENSE = [
    ((2, 3), dict(units=4, activation="tanh")),
    ((2, 2, 3), dict(units=2, use_bias=False)),
    ((3, 4), dict(units=3, activation="relu", name="d", trainable=True,
                  kernel_initializer="zeros", bias_regularizer=None)),
    ((2, 3), dict(units=4, activation="softmax")),
    ((2, 3), dict(units=3, activation="hard_sigmoid", spec="keras2")),
]


def dense_case(shape, config, seed=0):
    """x, kernel (and bias), drawn until the pre-activation is MARGIN from the kinks."""
    rng = np.random.default_rng(seed)
    while True:
        arrays = [rng.standard_normal(shape) * 2, rng.standard_normal((shape[-1], config["units"]))]
        if config.get("use_bias", True):
            arrays.append(rng.standard_normal(config["units"]))
        z = reference.dense(*arrays, **{**config, "activation": None})
        if np.min(bw.kink_distance(config.get("activation"), z, config.get("spec", "keras3"))) \
                >= MARGIN:
            return arrays


@pytest.mark.parametrize("shape, config", DENSE)
def test_dense_vjp(shape, config):
    assert_vjp(reference.dense, bw.dense_vjp, dense_case(shape, config), config)


# ---- convolutions --------------------------------------------------------------------------

def conv_case(x_shape, k_shape, bias, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(k_shape) * 0.7]
    return arrays + [rng.standard_normal(k_shape[-1])] if bias else arrays


CONV = [   # x shape, kernel shape, config (filters and kernel_size from the kernel)
    ((2, 6, 3), (3, 3, 4), dict(activation="tanh")),
    ((2, 7, 2), (2, 2, 3), dict(padding="same", strides=2, use_bias=False)),
    ((2, 6, 2), (2, 2, 2), dict(padding="causal", dilation_rate=2, activation="gelu")),
    ((2, 6, 4), (3, 2, 4), dict(padding="same", groups=2)),
    ((2, 3, 6), (3, 3, 2), dict(data_format="channels_first", activation="softmax")),
    ((2, 4, 5, 2), (2, 3, 2, 3), dict(padding="same", strides=(2, 1), activation="tanh")),
    ((2, 5, 4, 2), (2, 2, 2, 2), dict(dilation_rate=(2, 1), use_bias=False)),
    ((2, 4, 3, 3), (2, 2, 2, 4), dict(data_format="channels_first", groups=2, padding="same",
                                      activation="softmax")),
    ((2, 3, 3, 3, 1), (2, 2, 2, 1, 2), dict()),
    ((1, 2, 4, 3, 3), (2, 1, 2, 2, 3), dict(data_format="channels_first", padding="same",
                                            strides=2, activation="tanh")),
]


def conv_config(k_shape, config):
    return {"filters": k_shape[-1], "kernel_size": k_shape[:-2], **config}


@pytest.mark.parametrize("x_shape, k_shape, config", CONV)
def test_conv_vjp(x_shape, k_shape, config):
    arrays = conv_case(x_shape, k_shape, config.get("use_bias", True))
    assert_vjp(reference.conv, bw.conv_vjp, arrays, conv_config(k_shape, config))


DEPTHWISE = [   # x shape, depthwise kernel shape (*k, C, M), config
    ((2, 6, 2), (3, 2, 2), dict(padding="same", strides=2, depth_multiplier=2)),
    ((2, 5, 5, 2), (2, 2, 2, 1), dict(strides=2, dilation_rate=2, use_bias=False)),
    ((2, 2, 4, 3), (2, 2, 2, 2), dict(data_format="channels_first", padding="same",
                                      depth_multiplier=2, activation="tanh")),
]


@pytest.mark.parametrize("x_shape, k_shape, config", DEPTHWISE)
def test_depthwise_conv_vjp(x_shape, k_shape, config):
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(k_shape)]
    if config.get("use_bias", True):
        arrays.append(rng.standard_normal(k_shape[-2] * k_shape[-1]))
    assert_vjp(reference.depthwise_conv, bw.depthwise_conv_vjp, arrays,
               {"kernel_size": k_shape[:-2], **config})


@pytest.mark.parametrize("config", [
    dict(padding="same", depth_multiplier=2),
    dict(data_format="channels_first", strides=2, activation="tanh", use_bias=False),
])
def test_separable_conv2d_vjp(config):
    rng = np.random.default_rng(2)
    m = config.get("depth_multiplier", 1)
    x = rng.standard_normal((2, 4, 4, 2) if "data_format" not in config else (2, 2, 4, 4))
    arrays = [x, rng.standard_normal((2, 2, 2, m)), rng.standard_normal((1, 1, 2 * m, 3))]
    if config.get("use_bias", True):
        arrays.append(rng.standard_normal(3))
    assert_vjp(reference.separable_conv2d, bw.separable_conv2d_vjp, arrays,
               {"filters": 3, "kernel_size": 2, **config})


CONV_TRANSPOSE = [   # x shape, kernel shape (*k, filters, C), config
    ((2, 3, 2), (3, 2, 2), dict(strides=2)),
    ((2, 3, 3, 2), (3, 2, 3, 2), dict(strides=2, padding="same", activation="tanh")),
    ((2, 2, 3, 2), (2, 2, 2, 2), dict(strides=2, output_padding=1, use_bias=False,
                                      data_format="channels_first")),
]


@pytest.mark.parametrize("x_shape, k_shape, config", CONV_TRANSPOSE)
def test_conv_transpose_vjp(x_shape, k_shape, config):
    arrays = conv_case(x_shape, k_shape, False)
    if config.get("use_bias", True):
        arrays.append(np.random.default_rng(3).standard_normal(k_shape[-2]))
    assert_vjp(reference.conv_transpose, bw.conv_transpose_vjp, arrays,
               {"filters": k_shape[-2], "kernel_size": k_shape[:-2], **config})


# ---- pooling -------------------------------------------------------------------------------

POOLING = [
    ((2, 7, 2), dict(pool_size=3, strides=2, padding="same")),
    ((2, 6, 2), dict(pool_size=2, strides=1)),
    ((2, 2, 5, 4), dict(pool_size=(2, 3), strides=1, padding="same",
                        data_format="channels_first")),
    ((2, 4, 4, 3, 1), dict(pool_size=2, padding="same")),
]


@pytest.mark.parametrize("shape, config", POOLING)
@pytest.mark.parametrize("kind", ["max", "average"])
def test_pooling_vjp(kind, shape, config):
    x = distinct(np.random.default_rng(4), shape)
    if kind == "max":
        assert bw.max_pooling_gap(x, **config) >= MARGIN
    forward, vjp = {"max": (reference.max_pooling, bw.max_pooling_vjp),
                    "average": (reference.average_pooling, bw.average_pooling_vjp)}[kind]
    assert_vjp(forward, vjp, [x], config)


GLOBAL = [
    ((2, 5, 3), dict()),
    ((2, 3, 3, 2), dict(data_format="channels_first", keepdims=True)),
    ((2, 2, 3, 2, 2), dict()),
]


@pytest.mark.parametrize("shape, config", GLOBAL)
@pytest.mark.parametrize("kind", ["max", "average"])
def test_global_pooling_vjp(kind, shape, config):
    x = distinct(np.random.default_rng(5), shape)
    forward, vjp = {"max": (reference.global_max_pooling, bw.global_max_pooling_vjp),
                    "average": (reference.global_average_pooling,
                                bw.global_average_pooling_vjp)}[kind]
    assert_vjp(forward, vjp, [x], config)


@pytest.mark.parametrize("spec", ["keras3", "keras2"])
def test_masked_global_average_pooling_vjp(spec):
    x = np.random.default_rng(6).standard_normal((2, 5, 3))
    mask = np.array([[True] * 5, [True, False, True, True, False]])
    assert_vjp(reference.global_average_pooling, bw.global_average_pooling_vjp, [x],
               {"mask": mask, "spec": spec})


# ---- merges --------------------------------------------------------------------------------

MERGES = [
    ("add", [(2, 3, 4), (2, 1, 4), (2, 4)], {}),
    ("subtract", [(2, 3, 4), (2, 4)], {}),
    ("multiply", [(2, 3, 4), (2, 3, 1), (2, 1, 4)], {}),
    ("average", [(2, 3), (2, 3)], {}),
    ("maximum", [(2, 3, 4), (2, 1, 4), (2, 4)], {}),
    ("concatenate", [(2, 3, 1), (2, 3, 2), (2, 3, 3)], {}),
    ("concatenate", [(2, 1, 3), (2, 2, 3)], {"axis": 1}),
    ("dot", [(2, 4), (2, 4)], {"axes": 1}),
    ("dot", [(2, 3, 4), (2, 4, 2)], {"axes": (2, 1)}),
    ("dot", [(2, 3, 4), (2, 2, 4)], {"axes": -1, "normalize": True}),
    ("dot", [(2, 4, 3), (2, 4)], {"axes": 1, "normalize": True, "spec": "keras2"}),
]


@pytest.mark.parametrize("name, shapes, config", MERGES)
def test_merge_vjp(name, shapes, config):
    rng = np.random.default_rng(7)
    inputs = [rng.standard_normal(s) for s in shapes]
    if name == "maximum":      # no ties: every value of every input distinct
        sizes = [int(np.prod(s)) for s in shapes]
        values = np.split(distinct(rng, (sum(sizes),)), np.cumsum(sizes)[:-1])
        inputs = [v.reshape(s) for v, s in zip(values, shapes)]
        winners = np.argmax(np.stack(broadcast_inputs(inputs)), axis=0)
        assert set(winners.ravel()) == {0, 1, 2}
        assert np.min(tie_gap(np.stack(broadcast_inputs(inputs)))) >= MARGIN
    assert_vjp(getattr(reference, name), getattr(bw, f"{name}_vjp"), inputs, config)


# ---- cotangent and config checks -----------------------------------------------------------

def test_vjp_refuses_a_cotangent_of_another_shape():
    with pytest.raises(ValueError, match="cotangent"):
        bw.dense_vjp(np.ones((2, 3)), np.ones((3, 4)), np.ones(4), u=np.ones((2, 3)), units=4)


def test_vjp_refuses_what_the_forward_refuses():
    with pytest.raises(ValueError):
        bw.conv_vjp(np.ones((1, 4, 2)), np.ones((2, 2, 2)), u=np.ones((1, 3, 2)), filters=2,
                    kernel_size=2, use_bias=False, groups=3)


# ---- planted wrong VJPs: the same comparison catches each ----------------------------------

def first_sample_bias(vjp):
    """The bias gradient of the first sample alone: the batch sum forgotten."""
    def planted(x, *weights, u, **config):
        grads = vjp(x, *weights, u=u, **config)
        return grads[:-1] + (vjp(x[:1], *weights, u=u[:1], **config)[-1],)
    return planted


def flipped_kernel(vjp):
    """The input gradient through the kernel flipped, the kernel gradient flipped."""
    def planted(x, kernel, *rest, u, **config):
        rank = kernel.ndim - 2
        flip = (slice(None, None, -1),) * rank
        dx = vjp(x, kernel[flip], *rest, u=u, **config)[0]
        grads = vjp(x, kernel, *rest, u=u, **config)
        return (dx, grads[1][flip]) + grads[2:]
    return planted


def replaced(vjp, index, change):
    """vjp with gradient `index` replaced by change(that gradient, the arrays, u)."""
    def planted(*arrays, u, **config):
        grads = list(vjp(*arrays, u=u, **config))
        grads[index] = change(grads[index], arrays, u)
        return tuple(grads)
    return planted


def spread_over_window(x, *, u, **config):
    """Max pooling's gradient sent to every position of the window."""
    (dx,) = bw.average_pooling_vjp(x, u=u, **config)
    return (dx * np.prod(config["pool_size"]),)     # valid, full windows only


def average_over_full_window(x, *, u, pool_size, strides, padding):
    """1D average pooling's "same" border windows divided by the full pool size."""
    n_real = np.array([len(taps) for _, taps in windows(x.shape[1:-1], (pool_size,),
                                                         (strides,), (1,), padding)])
    return bw.average_pooling_vjp(x, u=u * n_real[:, None] / pool_size, pool_size=pool_size,
                                  strides=strides, padding=padding)


def diagonal_softmax(x, *, u, activation, spec="keras3"):
    """softmax's VJP with the Jacobian's diagonal alone."""
    s = reference.activation("softmax")(x)
    return (u * s * (1 - s),)


PLANTED = [   # (forward, planted vjp, arrays, config)
    (reference.dense, first_sample_bias(bw.dense_vjp), dense_case(*DENSE[0]), DENSE[0][1]),
    (reference.conv, first_sample_bias(bw.conv_vjp), conv_case(*CONV[0][:2], True),
     conv_config(CONV[0][1], CONV[0][2])),
    (reference.conv, flipped_kernel(bw.conv_vjp), conv_case(*CONV[6][:2], False),
     conv_config(CONV[6][1], CONV[6][2])),
    (reference.depthwise_conv,         # channel c*M + m read as m*C + c (C = M = 2)
     replaced(bw.depthwise_conv_vjp, 1, lambda g, a, u: g.transpose(0, 2, 1)),
     [*conv_case((2, 6, 2), (3, 2, 2), False), np.arange(4.0)],
     dict(kernel_size=3, padding="same", depth_multiplier=2)),
    (reference.separable_conv2d, first_sample_bias(bw.separable_conv2d_vjp),
     [*conv_case((2, 4, 4, 2), (2, 2, 2, 1), False), np.ones((1, 1, 2, 3)), np.zeros(3)],
     dict(filters=3, kernel_size=2)),
    (reference.conv_transpose, flipped_kernel(bw.conv_transpose_vjp),
     [*conv_case(*CONV_TRANSPOSE[1][:2], False), np.ones(3)],
     dict(filters=3, kernel_size=(3, 2), **CONV_TRANSPOSE[1][2])),
    (reference.max_pooling, spread_over_window, [distinct(np.random.default_rng(8), (2, 6, 2))],
     dict(pool_size=2, strides=2)),
    (reference.average_pooling, average_over_full_window,
     [np.random.default_rng(9).standard_normal((2, 7, 2))],
     dict(pool_size=3, strides=2, padding="same")),
    (reference.global_average_pooling, replaced(bw.global_average_pooling_vjp, 0,
                                                lambda g, a, u: g * 5),   # no division by P
     [np.random.default_rng(10).standard_normal((2, 5, 3))], {}),
    (reference.global_max_pooling, replaced(bw.global_max_pooling_vjp, 0,  # to every position
                                            lambda g, a, u: np.broadcast_to(u[:, None], g.shape)),
     [distinct(np.random.default_rng(13), (2, 5, 3))], {}),
    (reference.multiply, replaced(bw.multiply_vjp, 0, lambda g, a, u: u * a[0]),  # own factor
     list(np.random.default_rng(14).standard_normal((2, 2, 3))), {}),
    (reference.average, replaced(bw.average_vjp, 1, lambda g, a, u: u),   # no division by n
     [np.ones((2, 3)), np.ones((2, 3))], {}),
    (reference.add, replaced(bw.add_vjp, 1, lambda g, a, u: u[:, :1]),   # no broadcast sum
     [np.ones((2, 3, 4)), np.ones((2, 1, 4))], {}),
    (reference.subtract, replaced(bw.subtract_vjp, 1, lambda g, a, u: -g),
     [np.ones((2, 3)), np.ones((2, 3))], {}),
    (reference.maximum, replaced(bw.maximum_vjp, 0, lambda g, a, u: u),   # the loser too
     [np.zeros((2, 3)), np.ones((2, 3))], {}),
    (reference.concatenate, lambda *a, u, **c: tuple(np.split(u, [2], axis=-1))[::-1],
     [np.ones((2, 2)), np.ones((2, 2))], {}),
    (reference.dot, lambda x, z, u, **c: bw.dot_vjp(x, z, u=u, axes=-1),   # norms as constants
     [np.arange(8.0).reshape(2, 4) + 1, np.arange(8.0).reshape(2, 4)[::-1] + 2],
     dict(axes=-1, normalize=True)),
    (reference.activation_layer, diagonal_softmax,
     [np.random.default_rng(11).standard_normal((2, 4))], dict(activation="softmax")),
    (reference.activation_layer, lambda x, u, **c: bw.activation_layer_vjp(
        x, u=u, activation="hard_sigmoid", spec="keras2"),
     [np.random.default_rng(12).uniform(-2, 2, (2, 4))], dict(activation="hard_sigmoid")),
]


@pytest.mark.parametrize("forward, planted, arrays, config", PLANTED,
                         ids=[f"{p[0].__name__}-{i}" for i, p in enumerate(PLANTED)])
def test_a_planted_wrong_vjp_is_caught(forward, planted, arrays, config):
    with pytest.raises(AssertionError, match="finite differences"):
        assert_vjp(forward, planted, arrays, config)
