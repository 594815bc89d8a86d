"""Planted faulty candidates for the advanced activation layers (LeakyReLU, PReLU, ELU): the
reference with one fault per layer. Faults in different layers cannot hide one another (a case
holds one layer), so ActivationFaults carries three and one run of the suite checks them all."""
import numpy as np

import reference
from reference.activations import relu
from tests.planted import Planted

KERAS_ACTIVATIONS_LEAKY_RELU_DEFAULT = 0.2     # keras.activations.leaky_relu's default slope
LEAKY_SLOPE_KEYS = ("negative_slope", "alpha")


def prelu_alpha_squeezed(x, alpha):
    """PReLU with alpha's 1-axes squeezed out and the rest broadcast against x's trailing axes
    (a converter that drops the shared axes): right when the unshared axes are the last ones,
    alpha on the wrong axis otherwise (and an error or a wrong shape where it cannot fit)."""
    x = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        return relu(x) - np.squeeze(np.asarray(alpha, np.float64)) * relu(-x)


def elu_alpha_ignored(x):
    """ELU with alpha 1 whatever the config says."""
    return reference.elu(x, alpha=1.0)


def leaky_relu_default(x, config, slope):
    """LeakyReLU that reads an omitted slope as `slope`."""
    if any(key in config for key in LEAKY_SLOPE_KEYS):
        return reference.leaky_relu(x, **config)
    return reference.leaky_relu(x, **config, negative_slope=slope)


class ActivationFaults(Planted):
    """PReLU's alpha broadcast over the wrong axis (prelu_alpha_squeezed); ELU's alpha ignored;
    LeakyReLU's omitted slope read as keras.activations.leaky_relu's 0.2, not the layer's 0.3."""
    FAULTY = ("PReLU", "ELU", "LeakyReLU")

    def run(self, case):
        x = case.inputs[0]
        if case.layer == "PReLU":
            return [prelu_alpha_squeezed(x, case.weights[0])]
        if case.layer == "ELU":
            return [elu_alpha_ignored(x)]
        if case.layer == "LeakyReLU":
            return [leaky_relu_default(x, case.config, KERAS_ACTIVATIONS_LEAKY_RELU_DEFAULT)]
        return self.correct(case)


class LeakyReLUOtherSpecDefault(Planted):
    """LeakyReLU (Keras 3) reading an omitted slope with tf_keras's default: the same 0.3
    (tf_keras/src/layers/activation/leaky_relu.py `alpha=0.3`; keras/src/layers/activations/
    leaky_relu.py `negative_slope=0.3`), so the fault changes nothing."""
    layer = "LeakyReLU"

    def faulty(self, case):
        x = np.asarray(case.inputs[0], np.float64)
        if any(key in case.config for key in LEAKY_SLOPE_KEYS):
            return self.correct(case)
        return [reference.leaky_relu(x, **case.config, spec="keras2")]
