"""reference/keras1.py: the Keras 1 table, row by row; the seeds' Keras 1 examples translated
and computed by the reference, against hand-translated configs and direct NumPy; the errors."""
import math

import numpy as np
import pytest

import reference
from reference.keras1 import (
    COMMON, INITIALIZERS, KERAS1_LAYERS, TABLE, Keras1Error, is_keras1, translate,
)

RNG = np.random.default_rng(1)
# The least config each layer needs, and an input shape it fits (batch axis included).
BASE = {
    "Dense": ({"output_dim": 4}, (2, 6)),
    "Convolution1D": ({"nb_filter": 4, "filter_length": 3}, (2, 10, 6)),
    "Convolution2D": ({"nb_filter": 4, "nb_row": 3, "nb_col": 2, "dim_ordering": "tf"},
                      (2, 8, 8, 3)),
    "Embedding": ({"input_dim": 20, "output_dim": 4}, (2, 5)),
    "MaxPooling1D": ({}, (2, 10, 3)), "AveragePooling1D": ({}, (2, 10, 3)),
    "MaxPooling2D": ({}, (2, 8, 8, 3)), "AveragePooling2D": ({}, (2, 8, 8, 3)),
    "GlobalMaxPooling1D": ({}, (2, 10, 3)), "GlobalAveragePooling1D": ({}, (2, 10, 3)),
    "GlobalMaxPooling2D": ({}, (2, 8, 8, 3)), "GlobalAveragePooling2D": ({}, (2, 8, 8, 3)),
    "TimeDistributed": ({"layer": {"class_name": "Dense", "config": {"output_dim": 4}}},
                        (2, 5, 6)),
}
L2 = {"class_name": "L2", "config": {"l2": 0.01}}
MAXNORM = {"class_name": "MaxNorm", "config": {"max_value": 2, "axis": 0}}
GONE = "<no key>"
KERNEL_ROWS = [  # (Keras 1 key, value, current key, current value): Dense, both convolutions
    ("init", "he_uniform", "kernel_initializer", "he_uniform"),
    ("activation", "relu", "activation", "relu"),
    ("bias", False, "use_bias", False),
    ("W_regularizer", L2, "kernel_regularizer", L2),
    ("b_regularizer", "l1", "bias_regularizer", "l1"),
    ("activity_regularizer", L2, "activity_regularizer", L2),
    ("W_constraint", "non_neg", "kernel_constraint", "non_neg"),
    ("b_constraint", MAXNORM, "bias_constraint", MAXNORM),
]
ROWS = [  # (layer, Keras 1 key, value, current key, current value)
    *[("Dense", *row) for row in KERNEL_ROWS],
    ("Dense", "output_dim", 7, "units", 7), ("Dense", "input_dim", 6, GONE, None),
    *[("Convolution1D", *row) for row in KERNEL_ROWS if row[0] != "init"],
    ("Convolution1D", "init", "he_uniform", "kernel_initializer",   # fan_in: 3 * 6 -> 6 * 4
     {"class_name": "VarianceScaling", "config": {
         "scale": 2.0 * 18 / 24, "mode": "fan_in", "distribution": "uniform", "seed": None}}),
    ("Convolution1D", "nb_filter", 5, "filters", 5),
    ("Convolution1D", "filter_length", 2, "kernel_size", (2,)),
    ("Convolution1D", "subsample_length", 2, "strides", (2,)),
    ("Convolution1D", "border_mode", "same", "padding", "same"),
    ("Convolution1D", "border_mode", "valid", "padding", "valid"),
    ("Convolution1D", "input_dim", 6, GONE, None),
    ("Convolution1D", "input_length", 10, GONE, None),
    *[("Convolution2D", *row) for row in KERNEL_ROWS],
    ("Convolution2D", "nb_filter", 5, "filters", 5),
    ("Convolution2D", "nb_row", 5, "kernel_size", (5, 2)),
    ("Convolution2D", "nb_col", 5, "kernel_size", (3, 5)),
    ("Convolution2D", "subsample", [2, 1], "strides", (2, 1)),
    ("Convolution2D", "border_mode", "same", "padding", "same"),
    ("Convolution2D", "dim_ordering", "th", "data_format", "channels_first"),
    ("Convolution2D", "dim_ordering", "tf", "data_format", "channels_last"),
    ("Convolution2D", "dim_ordering", "default", "data_format", None),
    ("Embedding", "input_dim", 30, "input_dim", 30),
    ("Embedding", "output_dim", 3, "output_dim", 3),
    ("Embedding", "init", "normal", "embeddings_initializer", INITIALIZERS["normal"]),
    ("Embedding", "W_regularizer", "l1l2", "embeddings_regularizer",
     {"class_name": "L1L2", "config": {"l1": 0.01, "l2": 0.01}}),
    ("Embedding", "activity_regularizer", L2, "activity_regularizer", L2),
    ("Embedding", "W_constraint", "unitnorm", "embeddings_constraint",
     {"class_name": "UnitNorm", "config": {"axis": 0}}),
    ("Embedding", "mask_zero", True, "mask_zero", True),
    ("Embedding", "input_length", 5, GONE, None), ("Embedding", "dropout", 0.0, GONE, None),
    *[(pool, *row) for pool in ("MaxPooling1D", "AveragePooling1D") for row in [
        ("pool_length", 3, "pool_size", (3,)), ("stride", 1, "strides", (1,)),
        ("stride", None, "strides", None), ("border_mode", "same", "padding", "same")]],
    *[(pool, *row) for pool in ("MaxPooling2D", "AveragePooling2D") for row in [
        ("pool_size", (3, 2), "pool_size", (3, 2)), ("strides", [1, 2], "strides", (1, 2)),
        ("border_mode", "same", "padding", "same"),
        ("dim_ordering", "th", "data_format", "channels_first")]],
    *[(pool, "dim_ordering", "th", "data_format", "channels_first")
      for pool in ("GlobalMaxPooling2D", "GlobalAveragePooling2D")],
    ("TimeDistributed", "layer", {"class_name": "Convolution1D", "config": {
        "nb_filter": 2, "filter_length": 1, "border_mode": "same", "init": "zero"}}, "layer",
     {"class_name": "Conv1D", "config": {
         "bias_initializer": "zeros", "data_format": "channels_last",
         "kernel_initializer": "zeros", "filters": 2, "kernel_size": (1,), "padding": "same"}}),
]
COMMON_ROWS = [("name", "k1", "name", "k1"), ("trainable", False, "trainable", False),
               ("input_dtype", "float32", GONE, None)]


def _translate(layer, key, value):
    config, shape = BASE[layer]
    if key in ("input_shape", "batch_input_shape"):
        value = shape[1:] if key == "input_shape" else shape
    return translate(layer, {**config, key: value}, input_shapes=shape)


@pytest.mark.parametrize("layer, key, value, new_key, expected", ROWS + [
    (layer, *row) for layer in KERAS1_LAYERS for row in COMMON_ROWS])
def test_each_row_of_the_table(layer, key, value, new_key, expected):
    name, out, _ = _translate(layer, key, value)
    assert name == TABLE[layer][0]
    if new_key is GONE:     # dropped: as if the key were not there
        assert out == translate(layer, BASE[layer][0], input_shapes=BASE[layer][1])[1]
    else:
        assert out[new_key] == expected


@pytest.mark.parametrize("layer", KERAS1_LAYERS)
@pytest.mark.parametrize("key", ["input_shape", "batch_input_shape"])
def test_shape_declarations_are_checked_then_dropped(layer, key):
    config, shape = BASE[layer]
    assert key not in _translate(layer, key, None)[1]
    wrong = (shape[0], *[d + 1 for d in shape[1:]])
    with pytest.raises(ValueError, match=key):
        translate(layer, {**config, key: wrong[1:] if key == "input_shape" else wrong},
                  input_shapes=shape)


@pytest.mark.parametrize("layer, key, wrong", [
    ("Dense", "input_dim", 5), ("Convolution1D", "input_dim", 7),
    ("Convolution1D", "input_length", 11), ("Embedding", "input_length", 4)])
def test_a_declaration_that_contradicts_input_shapes_names_itself(layer, key, wrong):
    config, shape = BASE[layer]
    with pytest.raises(ValueError, match=key) as error:
        translate(layer, {**config, key: wrong}, input_shapes=[shape])
    assert not isinstance(error.value, Keras1Error)


def test_every_key_of_the_table_has_a_row():
    rows = {(layer, key) for layer, key, *_ in ROWS}
    rows |= {(layer, key) for layer in KERAS1_LAYERS for key in COMMON}
    assert rows == {(layer, key) for layer, (_, table, *_) in TABLE.items() for key in table}


@pytest.mark.parametrize("layer", KERAS1_LAYERS)
def test_weights_in_a_config_are_refused(layer):
    with pytest.raises(ValueError, match="weights"):
        translate(layer, {**BASE[layer][0], "weights": [np.zeros(1)]})


# ---- initializers: Keras 1.2.2's distribution, for every init and weight shape ------------

def keras1_fans(shape, ordering):
    """Keras 1.2.2 initializations.get_fans."""
    if len(shape) == 2:
        return shape[0], shape[1]
    if ordering == "th":
        field = np.prod(shape[2:])
        return shape[1] * field, shape[0] * field
    field = np.prod(shape[:2])
    return shape[-2] * field, shape[-1] * field


def keras1_distribution(init, fans):
    """(family, standard deviation) of Keras 1.2.2's init for a weight with these fans."""
    fan_in, fan_out = fans
    uniform = {"uniform": 0.05, "lecun_uniform": math.sqrt(3 / fan_in),
               "glorot_uniform": math.sqrt(6 / (fan_in + fan_out)),
               "he_uniform": math.sqrt(6 / fan_in)}
    normal = {"normal": 0.05, "glorot_normal": math.sqrt(2 / (fan_in + fan_out)),
              "he_normal": math.sqrt(2 / fan_in)}
    if init in uniform:
        return "uniform", uniform[init] / math.sqrt(3)
    return "untruncated_normal", normal[init]


def current_distribution(identifier, shape):
    """(family, standard deviation) of today's initializer for a channels-last weight."""
    field = int(np.prod(shape[:-2]))
    fan_in, fan_out = shape[-2] * field, shape[-1] * field
    named = {"glorot_uniform": (1.0, "fan_avg", "uniform"),
             "he_uniform": (2.0, "fan_in", "uniform"), "lecun_uniform": (1.0, "fan_in", "uniform")}
    if isinstance(identifier, str):
        scale, mode, family = named[identifier]
    elif identifier["class_name"] == "RandomUniform":
        return "uniform", identifier["config"]["maxval"] / math.sqrt(3)
    elif identifier["class_name"] == "RandomNormal":
        return "untruncated_normal", identifier["config"]["stddev"]
    else:
        scale, mode, family = (identifier["config"][k] for k in ("scale", "mode", "distribution"))
    n = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    return family, math.sqrt(scale / n)


SHAPES = [  # layer, config, Keras 1 kernel shape, today's kernel shape, Keras 1 fan rule
    ("Dense", {"output_dim": 7}, (5, 7), (5, 7), "th"),
    ("Convolution2D", {"nb_filter": 7, "nb_row": 3, "nb_col": 2, "dim_ordering": "th"},
     (7, 5, 3, 2), (3, 2, 5, 7), "th"),
    ("Convolution2D", {"nb_filter": 7, "nb_row": 3, "nb_col": 2, "dim_ordering": "tf"},
     (3, 2, 5, 7), (3, 2, 5, 7), "tf"),
    ("Convolution1D", {"nb_filter": 7, "filter_length": 3}, (3, 1, 5, 7), (3, 5, 7), "th"),
]
SCALED = [i for i, rule in INITIALIZERS.items() if isinstance(rule, tuple)] + ["uniform", "normal"]


@pytest.mark.parametrize("layer, config, old, new, ordering", SHAPES)
@pytest.mark.parametrize("init", SCALED)
def test_init_keeps_keras1_distribution(layer, config, old, new, ordering, init):
    out = translate(layer, {**config, "init": init}, weights=None,
                    input_shapes=(None, 9, 9, 5) if layer != "Convolution1D" else (None, 9, 5))[1]
    family, std = current_distribution(out["kernel_initializer"], new)
    expected_family, expected_std = keras1_distribution(init, keras1_fans(old, ordering))
    assert family == expected_family and math.isclose(std, expected_std)


@pytest.mark.parametrize("init, expected", [
    ("zero", "zeros"), ("one", "ones"), ("identity", "identity"),
    ("orthogonal", {"class_name": "Orthogonal", "config": {"gain": 1.1, "seed": None}}),
    ("glorot_uniform", "glorot_uniform"),
    ("glorot_normal", {"class_name": "VarianceScaling", "config": {
        "scale": 1.0, "mode": "fan_avg", "distribution": "untruncated_normal", "seed": None}}),
    ("he_normal", {"class_name": "VarianceScaling", "config": {
        "scale": 2.0, "mode": "fan_in", "distribution": "untruncated_normal", "seed": None}}),
])
def test_init_rows_on_a_dense_kernel(init, expected):
    out = translate("Dense", {"output_dim": 3, "init": init})[1]
    assert out["kernel_initializer"] == expected and out["bias_initializer"] == "zeros"


def test_conv1d_glorot_needs_the_channels_and_fan_in_does_not():
    with pytest.raises(Keras1Error, match="glorot_uniform"):
        translate("Convolution1D", {"nb_filter": 4, "filter_length": 3})
    assert translate("Convolution1D", {"nb_filter": 4, "filter_length": 3, "init": "he_normal"}
                     )[1]["kernel_initializer"]["config"]["scale"] == 2.0 * 3 / 4
    by_weights = translate("Convolution1D", {"nb_filter": 4, "filter_length": 3},
                           [np.zeros((3, 1, 6, 4)), np.zeros(4)])[1]
    assert by_weights == translate("Convolution1D", {"nb_filter": 4, "filter_length": 3,
                                                     "input_dim": 6})[1]


@pytest.mark.parametrize("layer, config", [
    ("Convolution1D", {"nb_filter": 4, "filter_length": 3, "input_dim": 2}),
    ("Convolution2D", {"nb_filter": 4, "nb_row": 3, "nb_col": 3, "dim_ordering": "tf"}),
    ("Convolution2D", {"nb_filter": 4, "nb_row": 3, "nb_col": 3})])
def test_orthogonal_where_keras1_flattened_the_kernel_otherwise(layer, config):
    with pytest.raises(Keras1Error, match="orthogonal"):
        translate(layer, {**config, "init": "orthogonal"})


# ---- the seeds' examples, computed ---------------------------------------------------------

def conv1d_keras1(x, W, b, pad):
    """Keras 1.2.2's Convolution1D on TensorFlow: conv2d of x[:, :, None, :] with W (n, 1, in,
    f), a cross-correlation; `pad` zeros before and after."""
    x = np.pad(x, [(0, 0), pad, (0, 0)])
    n = W.shape[0]
    return np.stack([np.einsum("bkc,kcf->bf", x[:, t:t + n], W[:, 0])
                     for t in range(x.shape[1] - n + 1)], axis=1) + b


def test_seed_convolution1d_same():
    """Convolution1D(64, 3, border_mode='same', input_shape=(10, 32)): (None, 10, 64)."""
    x, W, b = RNG.standard_normal((2, 10, 32)), RNG.standard_normal((3, 1, 32, 64)), \
        RNG.standard_normal(64)
    name, config, weights = translate(
        "Convolution1D", {"nb_filter": 64, "filter_length": 3, "border_mode": "same",
                          "input_shape": (10, 32)}, [W, b], input_shapes=(None, 10, 32))
    assert name == "Conv1D" and config["padding"] == "same"
    y = reference.conv(x, *weights, **config)
    by_hand = reference.conv(x, W[:, 0], b, filters=64, kernel_size=3, padding="same")
    assert y.shape == (2, 10, 64)                      # 'valid' would give 8 steps
    np.testing.assert_allclose(y, by_hand, rtol=0, atol=0)
    np.testing.assert_allclose(y, conv1d_keras1(x, W, b, (1, 1)), rtol=1e-12, atol=1e-12)


def test_border_mode_same_is_not_valid():
    """A table mapping 'same' to 'valid' fails here: the output must keep every step, and
    equal the zero-padded cross-correlation."""
    x, W, b = RNG.standard_normal((1, 7, 2)), RNG.standard_normal((4, 1, 2, 3)), np.zeros(3)
    for mode, pad, steps in (("same", (1, 2), 7), ("valid", (0, 0), 4)):
        _, config, weights = translate("Convolution1D", {"nb_filter": 3, "filter_length": 4,
                                                         "border_mode": mode}, [W, b])
        y = reference.conv(x, *weights, **config)
        assert y.shape[1] == steps
        np.testing.assert_allclose(y, conv1d_keras1(x, W, b, pad), rtol=1e-12, atol=1e-12)


def conv2d_th(x, W, b, same=True):
    """Keras 1's Convolution2D, dim_ordering 'th', computed as its TensorFlow backend does (a
    cross-correlation; 'same' pads an odd kernel by half its size on each side):
    y[b, o, i, j] = sum_{c, p, q} xpad[b, c, i + p, j + q] * W[o, c, p, q] + b[o]."""
    rows, cols = W.shape[2:]
    if same:
        x = np.pad(x, [(0, 0), (0, 0), (rows // 2, rows // 2), (cols // 2, cols // 2)])
    out = (x.shape[2] - rows + 1, x.shape[3] - cols + 1)
    y = np.zeros((x.shape[0], W.shape[0], *out))
    for i, j in np.ndindex(*out):
        y[:, :, i, j] = np.einsum("bcpq,ocpq->bo", x[:, :, i:i + rows, j:j + cols], W)
    return y + b[None, :, None, None]


def test_seed_convolution2d_th_kernel_transpose():
    """Convolution2D(64, 3, 3, border_mode='same', input_shape=(3, 32, 32)), 'th':
    output (None, 64, 32, 32); W (64, 3, 3, 3) -> (3, 3, 3, 64) by transpose (2, 3, 1, 0)."""
    x, W, b = RNG.standard_normal((2, 3, 32, 32)), RNG.standard_normal((64, 3, 3, 3)), \
        RNG.standard_normal(64)
    name, config, weights = translate(
        "Convolution2D", {"nb_filter": 64, "nb_row": 3, "nb_col": 3, "border_mode": "same",
                          "input_shape": (3, 32, 32), "dim_ordering": "th"}, [W, b],
        input_shapes=(None, 3, 32, 32))
    assert (name, config["data_format"], config["kernel_size"]) == ("Conv2D", "channels_first",
                                                                     (3, 3))
    assert weights[0].shape == (3, 3, 3, 64)
    y = reference.conv(x, *weights, **config)
    assert y.shape == (2, 64, 32, 32)
    np.testing.assert_allclose(y, conv2d_th(x, W, b), rtol=1e-12, atol=1e-12)
    by_hand = reference.conv(x, np.transpose(W, (2, 3, 1, 0)), b, filters=64, kernel_size=3,
                             padding="same", data_format="channels_first")
    np.testing.assert_array_equal(y, by_hand)


def test_a_nonsquare_th_kernel_keeps_rows_and_columns_apart():
    x, W, b = RNG.standard_normal((1, 2, 6, 7)), RNG.standard_normal((3, 2, 3, 5)), np.zeros(3)
    _, config, weights = translate("Convolution2D", {"nb_filter": 3, "nb_row": 3, "nb_col": 5,
                                                     "border_mode": "same", "dim_ordering": "th"},
                                   [W, b])
    np.testing.assert_allclose(reference.conv(x, *weights, **config), conv2d_th(x, W, b),
                               rtol=1e-12, atol=1e-12)


def test_keras1_get_config_of_convolution2d_tf():
    """Keras 1.2.2's own get_config() of a 'tf' Convolution2D, every key it writes."""
    keras1 = {"name": "convolution2d_1", "trainable": True, "batch_input_shape": (None, 9, 9, 3),
              "input_dtype": "float32", "nb_filter": 4, "nb_row": 3, "nb_col": 3,
              "init": "glorot_uniform", "activation": "linear", "border_mode": "valid",
              "subsample": (2, 2), "dim_ordering": "tf", "W_regularizer": None,
              "b_regularizer": None, "activity_regularizer": None, "W_constraint": None,
              "b_constraint": None, "bias": True}
    x, W, b = RNG.standard_normal((2, 9, 9, 3)), RNG.standard_normal((3, 3, 3, 4)), \
        RNG.standard_normal(4)
    _, config, weights = translate("Convolution2D", keras1, [W, b])
    by_hand = reference.conv(x, W, b, filters=4, kernel_size=(3, 3), strides=(2, 2),
                             data_format="channels_last")
    np.testing.assert_array_equal(reference.conv(x, *weights, **config), by_hand)


def test_seed_dense():
    """Dense(output_dim=16, init='he_normal', activation='tanh', input_dim=32)."""
    x, W, b = RNG.standard_normal((3, 32)), RNG.standard_normal((32, 16)), RNG.standard_normal(16)
    name, config, weights = translate("Dense", {"output_dim": 16, "init": "he_normal",
                                                "activation": "tanh", "input_dim": 32}, [W, b],
                                      input_shapes=(None, 32))
    assert name == "Dense"
    np.testing.assert_array_equal(reference.dense(x, *weights, **config),
                                  reference.dense(x, W, b, units=16, activation="tanh"))
    np.testing.assert_allclose(reference.dense(x, *weights, **config), np.tanh(x @ W + b))


def test_seed_embedding():
    """Embedding(1000, 64, init='uniform', W_regularizer=..., W_constraint=..., mask_zero=True,
    input_length=10)."""
    x, W = RNG.integers(0, 1000, (2, 10)), RNG.standard_normal((1000, 64))
    name, config, weights = translate(
        "Embedding", {"input_dim": 1000, "output_dim": 64, "init": "uniform",
                      "W_regularizer": L2, "W_constraint": "max_norm", "mask_zero": True,
                      "input_length": 10}, [W], input_shapes=(None, 10))
    assert name == "Embedding" and "input_length" not in config
    by_hand = dict(input_dim=1000, output_dim=64, mask_zero=True)
    np.testing.assert_array_equal(reference.embedding(x, *weights, **config),
                                  reference.embedding(x, W, **by_hand))
    np.testing.assert_array_equal(reference.embedding_mask(x, **config), x != 0)


@pytest.mark.parametrize("layer, config, by_hand, function", [
    ("MaxPooling1D", {"pool_length": 3, "border_mode": "same"},
     dict(pool_size=3, padding="same"), reference.max_pooling),
    ("AveragePooling1D", {"pool_length": 2, "stride": 1},
     dict(pool_size=2, strides=1), reference.average_pooling),
    ("MaxPooling2D", {"pool_size": (2, 2), "border_mode": "same", "dim_ordering": "th"},
     dict(pool_size=2, padding="same", data_format="channels_first"), reference.max_pooling),
    ("AveragePooling2D", {"pool_size": (3, 2), "strides": (1, 2), "dim_ordering": "tf"},
     dict(pool_size=(3, 2), strides=(1, 2)), reference.average_pooling),
    ("GlobalMaxPooling2D", {"dim_ordering": "th"}, dict(data_format="channels_first"),
     reference.global_max_pooling),
    ("GlobalAveragePooling2D", {"dim_ordering": "th"}, dict(data_format="channels_first"),
     reference.global_average_pooling),
])
def test_pooling_seeds(layer, config, by_hand, function):
    x = RNG.standard_normal((2, 5, 7) if layer.endswith("1D") else (2, 3, 5, 7))
    name, translated, _ = translate(layer, config)
    assert name == layer
    np.testing.assert_array_equal(function(x, **translated), function(x, **by_hand))


def test_seed_time_distributed_convolution2d():
    """TimeDistributed(Convolution2D(64, 3, 3), input_shape=(10, 3, 299, 299)), made small."""
    x, W, b = RNG.standard_normal((2, 4, 3, 6, 6)), RNG.standard_normal((5, 3, 3, 3)), \
        RNG.standard_normal(5)
    keras1 = {"layer": {"class_name": "Convolution2D", "config": {
        "nb_filter": 5, "nb_row": 3, "nb_col": 3, "dim_ordering": "th"}},
        "input_shape": (4, 3, 6, 6)}
    name, config, weights = translate("TimeDistributed", keras1, [W, b])
    assert config["layer"]["class_name"] == "Conv2D"
    y = reference.time_distributed(x, *weights, **config)
    assert y.shape == (2, 4, 5, 4, 4)
    for t in range(4):
        np.testing.assert_allclose(y[:, t], conv2d_th(x[:, t], W, b, same=False),
                                   rtol=1e-12, atol=1e-12)


# ---- what the table cannot translate ------------------------------------------------------

@pytest.mark.parametrize("layer, config, named", [
    ("Convolution1D", {"nb_filter": 2, "filter_length": 3, "atrous_rate": 2}, "atrous_rate"),
    ("Convolution2D", {"nb_filter": 2, "nb_row": 3, "nb_col": 3, "filters": 2}, "filters"),
    ("AtrousConvolution1D", {}, "AtrousConvolution1D"), ("Merge", {"mode": "sum"}, "Merge"),
    ("LSTM", {"output_dim": 4}, "LSTM"),
    ("Convolution1D", {"nb_filter": 2, "filter_length": 3, "border_mode": "full"}, "full"),
    ("MaxPooling2D", {"dim_ordering": "channels_last"}, "channels_last"),
    ("Dense", {"output_dim": 2, "init": "lecun_normal"}, "lecun_normal"),
    ("Dense", {"output_dim": 2, "activation": "selu"}, "selu"),
    ("Dense", {"output_dim": 2, "activation": "hard_sigmoid"}, "hard_sigmoid"),
    ("Convolution2D", {"nb_filter": 2, "nb_row": 1, "nb_col": 1, "activation": "softmax"}, "4D"),
    ("Embedding", {"input_dim": 5, "output_dim": 2, "dropout": 0.5}, "dropout"),
    ("Dense", {"output_dim": 2, "W_regularizer": {"name": "EigenvalueRegularizer", "k": 1}},
     "EigenvalueRegularizer"),
])
def test_untranslatable_names_raise_keras1_error_naming_them(layer, config, named):
    with pytest.raises(Keras1Error, match=named) as error:
        translate(layer, config)
    assert layer in str(error.value)


def test_hard_sigmoid_is_keras1s_in_tf_keras_only():
    assert translate("Dense", {"output_dim": 2, "activation": "hard_sigmoid"},
                     spec="keras2")[1]["activation"] == "hard_sigmoid"


@pytest.mark.parametrize("config, weights, error", [
    ({"dim_ordering": "default"}, [np.zeros((3, 3, 2, 4)), np.zeros(4)], Keras1Error),
    ({"dim_ordering": "th"}, [np.zeros((3, 3, 2, 4)), np.zeros(4)], ValueError),
    ({"dim_ordering": "tf"}, [np.zeros((3, 3, 2, 4))], ValueError),
])
def test_weights_that_do_not_fit_are_refused(config, weights, error):
    with pytest.raises(error):
        translate("Convolution2D", {"nb_filter": 4, "nb_row": 3, "nb_col": 3, **config}, weights)


def test_convolution1d_keras11_kernel_layout():
    W = RNG.standard_normal((4, 6, 3, 1))          # Keras 1.1: (nb_filter, input_dim, n, 1)
    _, _, weights = translate("Convolution1D", {"nb_filter": 4, "filter_length": 3},
                              [W, np.zeros(4)])
    np.testing.assert_array_equal(weights[0], np.transpose(W, (2, 3, 1, 0))[:, 0])


# ---- constraints follow the kernel --------------------------------------------------------

def test_constraint_axes_follow_the_th_kernel():
    """Keras 1 asked for the norm of each filter of a 'th' kernel over axes [1, 2, 3]."""
    W = RNG.standard_normal((4, 2, 3, 5))
    keras1 = {"name": "MaxNorm", "m": 3, "axis": [1, 2, 3]}
    _, config, weights = translate("Convolution2D", {"nb_filter": 4, "nb_row": 3, "nb_col": 5,
                                                     "dim_ordering": "th", "W_constraint": keras1},
                                   [W, np.zeros(4)])
    constraint = config["kernel_constraint"]
    assert constraint["class_name"] == "MaxNorm" and constraint["config"]["max_value"] == 3
    norms = np.sqrt((weights[0] ** 2).sum(axis=tuple(constraint["config"]["axis"])))
    np.testing.assert_allclose(norms, np.sqrt((W ** 2).sum(axis=(1, 2, 3))))
    assert translate("Convolution2D", {"nb_filter": 4, "nb_row": 3, "nb_col": 5,
                                       "dim_ordering": "th", "W_constraint": "maxnorm"}
                     )[1]["kernel_constraint"]["config"]["axis"] == 3


def test_constraint_axes_follow_the_conv1d_kernel():
    config = {"nb_filter": 4, "filter_length": 3, "input_dim": 2}
    out = translate("Convolution1D", {**config, "W_constraint": {
        "class_name": "UnitNorm", "config": {"axis": [0, 1, 2]}}})[1]
    assert out["kernel_constraint"]["config"]["axis"] == [0, 1]
    with pytest.raises(Keras1Error, match="size-1"):
        translate("Convolution1D", {**config, "W_constraint": {
            "class_name": "UnitNorm", "config": {"axis": 1}}})


# ---- is_keras1 and the exports ------------------------------------------------------------

@pytest.mark.parametrize("layer, config, expected", [
    ("Convolution2D", {}, True), ("Conv2D", {"filters": 2, "kernel_size": 3}, False),
    ("Dense", {"output_dim": 3}, True), ("Dense", {"units": 3}, False),
    ("Embedding", {"input_dim": 3, "output_dim": 2}, False),
    ("Embedding", {"input_dim": 3, "output_dim": 2, "init": "uniform"}, True),
    ("MaxPooling2D", {"border_mode": "same"}, True), ("MaxPooling2D", {"padding": "same"}, False),
    ("Dense", {"units": 2, "W_regularizer": None}, True),
    ("TimeDistributed", {"layer": {"class_name": "Convolution2D", "config": {}}}, True),
    ("TimeDistributed", {"layer": {"class_name": "Dense", "config": {"units": 2}}}, False),
])
def test_is_keras1(layer, config, expected):
    assert is_keras1(layer, config) is expected


def test_the_layers_the_seeds_write_in_keras1_form_are_known():
    assert {"Convolution1D", "Convolution2D", "Dense", "Embedding", "MaxPooling1D",
            "MaxPooling2D", "AveragePooling1D", "AveragePooling2D", "GlobalMaxPooling2D",
            "GlobalAveragePooling2D", "TimeDistributed"} <= set(KERAS1_LAYERS)
    assert TABLE["Embedding"][1]["input_dim"] == "input_dim"     # the vocabulary, kept
