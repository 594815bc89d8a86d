"""The reference takes a layer's complete get_config() as Keras writes it (written out here
as Keras 3.15 and tf_keras 2.21 print them, so this runs without TensorFlow); keys that would
change the result at values it does not implement are outside the scope."""
import base64
import dataclasses
import marshal

import numpy as np
import pytest

import reference
from conformance import fixtures, lambdas, specs
from conformance.cases import fixture_cases, with_expected
from conformance.compare import compare_case
from reference.config import OutOfScope

KERAS3_POLICY = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
                 "registered_name": None}
GLOROT = {"module": "keras.initializers", "class_name": "GlorotUniform",
          "config": {"seed": None, "input_axes": None, "output_axes": None},
          "registered_name": None}
KERAS3_DENSE = {"name": "dense", "trainable": True, "dtype": KERAS3_POLICY, "units": 3,
                "activation": "tanh", "use_bias": True, "kernel_initializer": GLOROT,
                "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros",
                                     "config": {}, "registered_name": None},
                "kernel_regularizer": None, "bias_regularizer": None,
                "kernel_constraint": None, "bias_constraint": None, "quantization_config": None}
TF_KERAS_DENSE = {"name": "dense_2", "trainable": True, "dtype": "float32",
                  "batch_input_shape": [None, 4], "units": 3, "activation": "tanh",
                  "use_bias": True, "kernel_initializer": {"class_name": "GlorotUniform",
                                                           "config": {"seed": None}},
                  "bias_initializer": {"class_name": "Zeros", "config": {}},
                  "kernel_regularizer": None, "bias_regularizer": None,
                  "activity_regularizer": None, "kernel_constraint": None,
                  "bias_constraint": None}

rng = np.random.default_rng(0)
X, KERNEL, BIAS = rng.standard_normal((2, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)


@pytest.mark.parametrize("config", [KERAS3_DENSE, TF_KERAS_DENSE])
def test_a_complete_dense_config_gives_what_the_compact_one_gives(config):
    compact = reference.dense(X, KERNEL, BIAS, units=3, activation="tanh")
    assert np.array_equal(reference.dense(X, KERNEL, BIAS, **config), compact)


@pytest.mark.parametrize("change, key", [
    ({"dtype": "mixed_float16"}, "dtype"),
    ({"dtype": {**KERAS3_POLICY, "config": {"name": "bfloat16"}}}, "dtype"),
    ({"dtype": {"class_name": "Policy", "config": {"name": "mixed_float16"}}}, "dtype"),
    ({"quantization_config": {"mode": "int8"}}, "quantization_config"),
    ({"lora_rank": 4}, "lora_rank"),
    ({"some_future_key": True}, "some_future_key"),
    # an activation another package registered (gelu is Keras's own: in the scope)
    ({"activation": {"module": "builtins", "class_name": "function",
                     "config": "keras_hub>gelu_approximate", "registered_name": "function"}},
     "keras_hub>gelu_approximate"),
])
def test_keys_that_change_the_result_are_outside_the_scope(change, key):
    with pytest.raises(OutOfScope, match=key):
        reference.dense(X, KERNEL, BIAS, **{**KERAS3_DENSE, **change})


def test_outside_the_scope_is_not_a_keras_rejection():
    assert not issubclass(OutOfScope, ValueError)
    with pytest.raises(ValueError, match="Unknown activation"):
        reference.dense(X, KERNEL, BIAS, **{**KERAS3_DENSE, "activation": "no_such_thing"})


# an EfficientNet's Normalization, adapted (no statistics in its config), as each Keras writes it
KERAS3_ADAPTED = {"name": "normalization", "trainable": True, "dtype": KERAS3_POLICY,
                  "axis": [-1], "invert": False, "mean": None, "variance": None}
TF_KERAS_ADAPTED = {**KERAS3_ADAPTED, "dtype": "float32"}


@pytest.mark.parametrize("config", [KERAS3_ADAPTED, TF_KERAS_ADAPTED])
@pytest.mark.parametrize("invert", [False, True])
def test_an_adapted_normalization_computes_with_its_weights(config, invert):
    """get_weights() order: mean, variance, count; the same formula and epsilon rule as the
    config's statistics (a variance of 0 or 1e-16: sqrt below 1e-7, the epsilon divides)."""
    x = rng.standard_normal((2, 3, 3, 4))
    mean, variance = np.float32([0.5, -2.0, 0.0, 1e3]), np.float32([2.0, 0.0, 1e-16, 1e4])
    given = reference.normalization(x, **{**config, "invert": invert, "mean": mean.tolist(),
                                          "variance": variance.tolist()})
    adapted = reference.normalization(x, mean, variance, np.int64(50),
                                      **{**config, "invert": invert})
    assert np.array_equal(adapted, given)


@pytest.mark.parametrize("axis, weights_shape", [(None, ()), ([1, 2], (3, 3)), (1, (3,))])
def test_an_adapted_normalization_has_the_kept_axes_shape(axis, weights_shape):
    x, config = rng.standard_normal((2, 3, 3, 4)), {**KERAS3_ADAPTED, "axis": axis}
    mean, variance = np.full(weights_shape, 1.5), np.full(weights_shape, 4.0)
    y = reference.normalization(x, mean, variance, 0, **config)
    assert np.allclose(y, (x - 1.5) / 2.0)
    with pytest.raises(ValueError, match="kept axes' shape"):
        reference.normalization(x, np.zeros(4), np.ones(4), 0, **config)
    with pytest.raises(ValueError, match="mean, variance and count"):
        reference.normalization(x, **config)     # no weights: Keras's set_weights refuses it


def test_a_grouped_convolution_is_each_group_on_its_own():
    """Conv1D(groups=2): filters 0-1 read channels 0-1 with kernel[..., :2], filters 2-3
    channels 2-3 with kernel[..., 2:]; a transposed convolution (no groups in its reference)
    with groups=2 is outside the scope."""
    x, kernel = rng.standard_normal((1, 5, 4)), rng.standard_normal((3, 2, 4))
    y = reference.conv(x, kernel, filters=4, kernel_size=[3], groups=2, use_bias=False)
    for g in range(2):
        one = reference.conv(x[..., 2 * g:2 * g + 2], kernel[..., 2 * g:2 * g + 2], filters=2,
                             kernel_size=[3], use_bias=False)
        assert np.array_equal(y[..., 2 * g:2 * g + 2], one)
    with pytest.raises(ValueError, match="divisible"):
        reference.conv(x[..., :3], kernel, filters=4, kernel_size=[3], groups=2, use_bias=False)
    with pytest.raises(OutOfScope, match="groups=2"):
        reference.conv_transpose(x, rng.standard_normal((3, 2, 4)), filters=2, kernel_size=[3],
                                 groups=2, use_bias=False)


def test_complete_input_layer_configs_of_both_kerases():
    x = rng.standard_normal((2, 3)).astype(np.float32)
    keras3 = {"batch_shape": [None, 3], "dtype": "float32", "sparse": False, "ragged": False,
              "name": "features", "optional": False}
    keras2 = {"batch_input_shape": [None, 3], "dtype": "float32", "sparse": False,
              "ragged": False, "name": "input_1"}
    for config in (keras3, keras2):
        assert np.array_equal(reference.input_layer(x, **config), x)
    with pytest.raises(OutOfScope, match="sparse"):
        reference.input_layer(x, **{**keras3, "sparse": True})
    with pytest.raises(ValueError, match="does not fit"):
        reference.input_layer(x, **{**keras2, "batch_input_shape": [None, 4]})


def test_lambda_functions_in_their_complete_forms():
    keras3 = {"name": "lambda", "trainable": True, "dtype": KERAS3_POLICY,
              "function": {"module": "builtins", "class_name": "function", "config": "affine",
                           "registered_name": "function"}, "arguments": {"scale": 0.5}}
    code = base64.encodebytes(marshal.dumps(lambdas.square.__code__)).decode("ascii")
    keras2 = {"name": "lambda", "trainable": True, "dtype": "float32",
              "function": [code, [1.0], None], "function_type": "lambda",
              "module": "conformance.lambdas", "output_shape": None,
              "output_shape_type": "raw", "output_shape_module": None, "arguments": {}}
    assert lambdas.resolve_lambda_config(keras3)["function"] is lambdas.affine
    assert lambdas.resolve_lambda_config(keras2)["function"] is lambdas.square
    with pytest.raises(OutOfScope):
        lambdas.resolve_lambda_config({**keras2, "module": "somebody.else"})


@pytest.mark.parametrize("layer", sorted(specs.SPECS))
def test_every_spec_reaches_outside_the_scope_not_an_exception(layer):
    """Any spec, given a config with a key it does not know, gives the "outside the scope"
    outcome."""
    spec = specs.get(layer)
    case = fixture_cases(spec, spec.keras_specs[0], limit=1)[0]
    twin = with_expected(spec, dataclasses.replace(
        case, config={**case.config, "quantization_config": {"mode": "int4"}}))
    assert twin.out_of_scope and "quantization_config" in twin.out_of_scope
    outcome = compare_case(twin, case.expected)
    assert outcome.status == "skipped" and outcome.message.startswith("outside the scope")


def test_non_finite_config_values_survive_json():
    value = {"mask_value": float("inf"), "list": [float("nan"), -float("inf"), 1.5]}
    back = fixtures.from_json(fixtures.to_json(value))
    assert back["mask_value"] == float("inf") and back["list"][1] == -float("inf")
    assert np.isnan(back["list"][0]) and back["list"][2] == 1.5
