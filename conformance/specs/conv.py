"""Specs of the convolution layers."""
import math

import reference
from conformance.spec import Expected, LayerSpec, Reject
from conformance.specs.core import ACTIVATIONS
from conformance.specs._common import linear_then_activation
from reference.padding import as_tuple, span


def _conv_weights(config, shapes):
    rank = len(shapes[0]) - 2
    channels = shapes[0][1] if config.get("data_format") == "channels_first" else shapes[0][-1]
    kernel = (*as_tuple(config["kernel_size"], rank, "kernel_size"), channels, config["filters"])
    return [("kernel", kernel)] + ([("bias", (config["filters"],))] if config.get("use_bias", True) else [])


def _conv_expect(case):
    x, = case.inputs
    kernel = case.weights[0]
    terms = math.prod(kernel.shape[:-1]) + len(case.weights) - 1
    y, bound = linear_then_activation(reference.conv, x, case.weights, case.config, terms,
                                      case.spec)
    return Expected([y], [bound])


def _conv1d_make(params, rng):
    reach = span(params["kernel_size"], params["dilation_rate"])
    steps = int(rng.integers(reach if params["padding"] == "valid" else 1, reach + 7))
    config = {k: params[k] for k in ("filters", "kernel_size", "strides", "padding",
                                     "dilation_rate", "activation", "use_bias")}
    return config, [(int(rng.integers(1, 4)), steps, int(rng.integers(1, 5)))]


def _one_of_strides_dilation(params):
    """Keras forbids strides > 1 together with dilation_rate > 1."""
    return params["strides"] == 1 or params["dilation_rate"] == 1


def _conv1d(**overrides):
    base = {"filters": 2, "kernel_size": 3, "strides": 1, "padding": "valid",
            "dilation_rate": 1, "activation": None, "use_bias": True}
    return {**base, **overrides}


CONV1D = LayerSpec(
    layer="Conv1D",
    domains={"filters": (1, 3), "kernel_size": (1, 2, 3, 5), "strides": (1, 2, 3),
             "padding": ("valid", "same", "causal"), "dilation_rate": (1, 2, 3),
             "activation": ACTIVATIONS, "use_bias": (True, False)},
    valid=_one_of_strides_dilation,
    make=_conv1d_make, weights=_conv_weights, expect=_conv_expect,
    edge_cases=(
        (_conv1d(kernel_size=5, padding="valid"), [(1, 5, 2)]),            # one output step
        (_conv1d(kernel_size=5, padding="same"), [(2, 1, 3)]),             # one input step
        (_conv1d(kernel_size=3, padding="causal", dilation_rate=3), [(2, 4, 1)]),
        (_conv1d(kernel_size=2, padding="same", strides=3), [(1, 7, 2)]),  # even kernel
        (_conv1d(filters=16, kernel_size=5, padding="same"), [(2, 9, 32)]),  # long reduction
    ),
    rejects=(
        Reject(_conv1d(strides=2, dilation_rate=2), ((1, 10, 2),), "strides and dilation > 1"),
        Reject(_conv1d(padding="full"), ((1, 10, 2),), "unknown padding"),
        Reject(_conv1d(filters=0), ((1, 10, 2),), "filters must be positive"),
    ),
)
