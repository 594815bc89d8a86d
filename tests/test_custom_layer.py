"""The seeds' custom layer MyLayer (conformance/custom_layer.py, reference/custom.py), and a
Lambda mask given as a tensor: what the harness proves about a custom layer's weights, and
that a tensor mask reads the same from its name and from Keras 3's complete config."""
import dataclasses

import numpy as np
import pytest

import reference
from conformance import custom_layer, lambdas, specs
from conformance.cases import fixture_cases, with_expected
from conformance.compare import compare_case


def test_my_layer_is_x_dot_kernel():
    x = np.array([[1.0, 2.0, -1.0], [0.5, 0.0, 4.0]])
    kernel = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(reference.my_layer(x, kernel, output_dim=2),
                                  [[0.0, 2.0], [16.0, 20.5]])
    with pytest.raises(ValueError, match="input_shape"):       # the kernel build() makes
        reference.my_layer(x, kernel.T, output_dim=2)
    with pytest.raises(ValueError, match="last axis"):         # a rank-3 input
        reference.my_layer(np.zeros((2, 3, 4)), kernel, output_dim=2)


@pytest.fixture(scope="module")
def tf_keras():
    return pytest.importorskip("tf_keras", reason="tf_keras (Keras 2) is not installed")


def _case(keras_spec="keras2"):
    return next(c for c in fixture_cases(specs.get("MyLayer"), keras_spec)
                if c.params["regime"] == "unit" and c.config["output_dim"] > 1
                and c.inputs[0].shape[1] > 1)


def test_the_seed_layer_runs_as_written_and_its_kernel_is_its_one_trainable_weight(tf_keras):
    case = _case()
    x, = case.inputs
    layer = custom_layer.my_layer_class(tf_keras)(**case.config)
    layer(x)                                            # build() gets the input shape
    assert [tuple(w.shape) for w in layer.trainable_weights] == [
        (x.shape[1], case.config["output_dim"])] and not layer.non_trainable_weights
    custom_layer.set_trainable_weights(layer, case.weights)
    assert tuple(layer.compute_output_shape(x.shape)) == case.expected[0].shape
    assert compare_case(case, [np.asarray(layer(x))]).status == "passed"


def test_a_kernel_that_is_not_trainable_or_of_another_shape_is_refused(tf_keras):
    """set_weights() would take either; the harness's set_trainable_weights() does not."""
    case = _case()
    seed_class = custom_layer.my_layer_class(tf_keras)

    class Frozen(seed_class):
        def build(self, input_shape):
            self.kernel = self.add_weight(name="kernel", trainable=False,
                                          shape=(input_shape[1], self.output_dim))

    class Transposed(seed_class):
        def build(self, input_shape):
            self.kernel = self.add_weight(name="kernel", shape=(self.output_dim,
                                                                input_shape[1]))

        def call(self, x):
            return tf_keras.backend.dot(x, tf_keras.backend.transpose(self.kernel))

    for faulty, message in ((Frozen, "0 trainable weights"), (Transposed, "built a weight")):
        layer = faulty(**case.config)
        layer(case.inputs[0])
        if faulty is Frozen:
            layer.set_weights(case.weights)             # set_weights() takes it
        with pytest.raises(ValueError, match=message):
            custom_layer.set_trainable_weights(layer, case.weights)


def test_a_tensor_mask_reads_the_same_from_its_name_and_from_keras3s_config():
    spec = specs.get("Lambda")
    assert spec.domains_for("keras2")["mask"] == (None, "first_feature_positive")
    case = next(c for c in fixture_cases(spec, "keras3") if c.config["mask"] == "steps_2x3")
    want = np.array(lambdas.MASK_TENSORS["steps_2x3"])
    np.testing.assert_array_equal(case.expected_mask, want)
    # what Keras 3's get_config() writes for Lambda(mask=<tensor>) (serialize_keras_object)
    written = {"class_name": "__tensor__", "config": {"value": want.tolist(), "dtype": "bool"}}
    twin = with_expected(spec, dataclasses.replace(
        case, config={**case.config, "mask": written}, expected=None))
    np.testing.assert_array_equal(twin.expected_mask, want)
    np.testing.assert_array_equal(twin.expected[0], case.expected[0])
