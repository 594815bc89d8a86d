"""Planted faulty candidates for Keras 3's further activations, named in the Activation layer
and as Dense's activation: the reference with a wrong function behind three names. A case holds
one activation, so the three faults cannot hide one another, and ActivationNameFaults carries
them all."""
import numpy as np

import reference
from reference.activations import gelu, hard_sigmoid_keras3, leaky_relu
from tests.planted import Planted

LAYERS = ("Activation", "Dense")
LEAKY_RELU_LAYER_SLOPE = 0.3          # the LeakyReLU layer's default, not the function's 0.2


def gelu_tanh(z):
    """gelu's tanh approximation, where the name "gelu" asks for the exact x * Phi(x)."""
    return gelu(z, approximate=True)


def silu_hard(z):
    """silu as z * hard_sigmoid(z) (hard_silu), for silu's z * sigmoid(z)."""
    return z * hard_sigmoid_keras3(z)


def leaky_relu_layer_slope(z):
    """The name "leaky_relu" read with the LeakyReLU layer's slope 0.3."""
    return leaky_relu(z, negative_slope=LEAKY_RELU_LAYER_SLOPE)


FAULTS = {"gelu": gelu_tanh, "silu": silu_hard, "swish": silu_hard,
          "leaky_relu": leaky_relu_layer_slope}


def logits(case):
    """The activation's input: the Activation layer's input, or Dense's sum (float64)."""
    x = np.asarray(case.inputs[0], np.float64)
    if case.layer == "Activation":
        return x
    with np.errstate(invalid="ignore", over="ignore"):
        return reference.dense(x, *case.weights, **dict(case.config, activation=None))


def faulty_output(case):
    """The planted answer for a case whose activation FAULTS holds."""
    with np.errstate(invalid="ignore", over="ignore"):
        return FAULTS[case.config["activation"]](logits(case))


class ActivationNameFaults(Planted):
    """gelu's tanh form for "gelu"; z * hard_sigmoid(z) for "silu" and "swish"; slope 0.3
    for "leaky_relu"; in Activation and Dense, everything else the reference."""

    def run(self, case):
        if case.layer in LAYERS and case.config.get("activation") in FAULTS:
            return [faulty_output(case)]
        return self.correct(case)
