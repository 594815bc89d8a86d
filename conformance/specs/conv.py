"""Specs of the convolution layers."""
import math

import reference
from conformance.regimes import LONG_TERMS, REGIMES
from conformance.spec import Expected, LayerSpec, Reject
from conformance.specs.core import ACTIVATIONS
from conformance.specs._common import linear_part, linear_then_activation, tf_softmax_divergence
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
    config = {k: params[k] for k in ("filters", "kernel_size", "strides", "padding",
                                     "dilation_rate", "activation", "use_bias")}
    if params["regime"] == "long":     # kernel_size * channels of 2048 to 4096 terms, one row
        terms = int(rng.integers(LONG_TERMS[0], LONG_TERMS[1] + 1))
        channels = -(-terms // params["kernel_size"])
        return config, [(1, reach + int(rng.integers(0, 3)), channels)]
    steps = int(rng.integers(reach if params["padding"] == "valid" else 1, reach + 7))
    return config, [(int(rng.integers(1, 4)), steps, int(rng.integers(1, 5)))]


def _conv1d_valid(params):
    """Keras forbids strides > 1 together with dilation_rate > 1. Long reductions keep to the
    activations that show a sum's error plainly."""
    return (params["strides"] == 1 or params["dilation_rate"] == 1) and (
        params["regime"] != "long" or params["activation"] in (None, "linear", "tanh"))


def _conv1d(**overrides):
    """Edge-case params: a Conv1D config and the unit regime."""
    base = {"filters": 2, "kernel_size": 3, "strides": 1, "padding": "valid",
            "dilation_rate": 1, "activation": None, "use_bias": True, "regime": "unit"}
    return {**base, **overrides}


def _conv1d_config(**overrides):
    return {k: v for k, v in _conv1d(**overrides).items() if k != "regime"}


CONV1D = LayerSpec(
    layer="Conv1D",
    domains={"filters": (1, 3), "kernel_size": (1, 2, 3, 5), "strides": (1, 2, 3),
             "padding": ("valid", "same", "causal"), "dilation_rate": (1, 2, 3),
             "activation": ACTIVATIONS, "use_bias": (True, False), "regime": REGIMES},
    valid=_conv1d_valid,
    make=_conv1d_make, weights=_conv_weights, expect=_conv_expect,
    edge_cases=(
        (_conv1d(kernel_size=5, padding="valid"), [(1, 5, 2)]),            # one output step
        (_conv1d(kernel_size=5, padding="same"), [(2, 1, 3)]),             # one input step
        (_conv1d(kernel_size=3, padding="causal", dilation_rate=3), [(2, 4, 1)]),
        (_conv1d(kernel_size=2, padding="same", strides=3), [(1, 7, 2)]),  # even kernel
        (_conv1d(filters=16, kernel_size=5, padding="same"), [(2, 9, 32)]),  # long reduction
        (_conv1d(kernel_size=2, strides=3, padding="valid"), [(1, 2, 1)]),  # stride > input
        (_conv1d(kernel_size=3, padding="same", strides=4), [(1, 3, 2)]),
    ),
    # tf_keras accepts the second reject below and returns uninitialised memory (README,
    # "Known divergences"): it is listed for keras3 only, and the reference refuses it in both.
    divergences=(tf_softmax_divergence(linear_part(reference.conv)),),
    rejects=(
        Reject(_conv1d_config(kernel_size=5), ((1, 3, 2),),
               "a 'valid' kernel longer than the input"),
        Reject(_conv1d_config(kernel_size=2, dilation_rate=3), ((1, 3, 2),),
               "a 'valid' dilated kernel spanning more than the input", ("keras3",)),
        Reject(_conv1d_config(strides=2, dilation_rate=2), ((1, 10, 2),),
               "strides and dilation > 1"),
        Reject(_conv1d_config(padding="full"), ((1, 10, 2),), "unknown padding"),
        Reject(_conv1d_config(filters=0), ((1, 10, 2),), "filters must be positive"),
    ),
)
