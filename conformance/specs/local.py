"""Specs of LocallyConnected1D and LocallyConnected2D: Keras 2 only (tf_keras is the oracle; a
Keras 3 candidate gets no cases)."""
import math

import reference
from conformance.regimes import LONG_TERMS, REGIMES
from conformance.spec import Expected, LayerSpec, Reject
from conformance.specs._common import linear_part, linear_then_activation, tf_activation_divergences
from conformance.specs.conv import DATA_FORMATS, _spatial_shape
from conformance.specs.core import ACTIVATIONS
from reference.padding import as_tuple


def _local_shapes(config, shapes):
    """(in_shape, channels, out_shape) of a case's input."""
    rank = len(shapes[0]) - 2
    first = config.get("data_format") == "channels_first"
    in_shape = tuple(shapes[0][2:] if first else shapes[0][1:-1])
    channels = shapes[0][1] if first else shapes[0][-1]
    kernel = as_tuple(config["kernel_size"], rank, "kernel_size")
    strides = as_tuple(config.get("strides", 1), rank, "strides")
    out_shape = tuple((n - k) // s + 1 for n, k, s in zip(in_shape, kernel, strides))
    return in_shape, channels, out_shape, kernel, strides


def _local_weights(config, shapes):
    """The kernel in the layout of config["implementation"] (reference/local.py)."""
    in_shape, channels, out_shape, kernel, strides = _local_shapes(config, shapes)
    filters, first = config["filters"], config.get("data_format") == "channels_first"
    implementation = config.get("implementation", 1)
    if implementation == 1:
        shape = (math.prod(out_shape), math.prod(kernel) * channels, filters)
    elif implementation == 2:
        shape = ((channels, *in_shape, filters, *out_shape) if first
                 else (*in_shape, channels, *out_shape, filters))
    else:
        shape = (math.prod(out_shape) * math.prod(kernel) * channels * filters,)
    bias = [("bias", (*out_shape, filters))] if config.get("use_bias", True) else []
    return [("kernel", shape)] + bias


def _local_make(rank):
    """Spatial sizes from the kernel to 4 past it; the long regime makes each output a sum
    of 2048 to 4096 products (many channels, kernel 1 to 3)."""
    def make(params, rng):
        config = {k: v for k, v in params.items() if k != "regime"}
        kernel = as_tuple(params["kernel_size"], rank, "kernel_size")
        if params["regime"] == "long":
            terms = int(rng.integers(LONG_TERMS[0], LONG_TERMS[1] + 1))
            channels = -(-terms // math.prod(kernel))
            return config, [_spatial_shape(config, channels, 1, list(kernel),
                                           params["data_format"])]
        spatial = [int(rng.integers(k, k + 5)) for k in kernel]
        batch, channels = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        return config, [_spatial_shape(config, channels, batch, spatial, params["data_format"])]
    return make


def _local_expect(case):
    x, = case.inputs
    rank = x.ndim - 2
    kernel = as_tuple(case.config["kernel_size"], rank, "kernel_size")
    channels = x.shape[1] if case.config.get("data_format") == "channels_first" else x.shape[-1]
    terms = math.prod(kernel) * channels + len(case.weights) - 1
    y, bound, overflow = linear_then_activation(reference.locally_connected, x, case.weights,
                                                case.config, terms, case.spec)
    return Expected([y], [bound], overflow=[overflow])


def _local_valid(params):
    return params["regime"] != "long" or params["activation"] in (None, "linear", "tanh")


def _local(**overrides):
    base = {"filters": 2, "kernel_size": 2, "strides": 1, "data_format": "channels_last",
            "activation": None, "use_bias": True, "implementation": 1, "regime": "unit"}
    return {**base, **overrides}


def _local_config(**overrides):
    return {k: v for k, v in _local(**overrides).items() if k != "regime"}


def _bias_reshaped(shape, **overrides):
    """channels_first with a bias, in every implementation: tf_keras reshapes the bias to
    (filters, *out_shape), it does not transpose it."""
    return tuple((_local(filters=3, data_format="channels_first", implementation=i,
                         **overrides), [shape]) for i in (1, 2, 3))


LOCALLY_CONNECTED1D = LayerSpec(
    layer="LocallyConnected1D", windowed=True,
    domains={"filters": (1, 3), "kernel_size": (1, 2, 3), "strides": (1, 2, 3),
             "data_format": DATA_FORMATS, "implementation": (1, 2, 3),
             "activation": ACTIVATIONS, "use_bias": (True, False), "regime": REGIMES},
    valid=_local_valid, make=_local_make(1), weights=_local_weights, expect=_local_expect,
    keras_specs=("keras2",),
    divergences=(*tf_activation_divergences(linear_part(reference.locally_connected)),),
    edge_cases=_bias_reshaped((2, 2, 5)) + (
        (_local(kernel_size=3, strides=3), [(1, 3, 2)]),                 # one output step
        (_local(kernel_size=2, strides=3, implementation=3), [(1, 7, 2)]),  # inputs skipped
    ),
    rejects=(
        Reject(_local_config(kernel_size=4), ((1, 3, 2),), "a kernel longer than the input"),
        Reject(_local_config(implementation=4), ((1, 3, 2),), "an unknown implementation"),
    ),
)


LOCALLY_CONNECTED2D = LayerSpec(
    layer="LocallyConnected2D", windowed=True,
    domains={"filters": (1, 3), "kernel_size": (1, 2, [3, 2]), "strides": (1, 2, [1, 2]),
             "data_format": DATA_FORMATS, "implementation": (1, 2, 3),
             "activation": ACTIVATIONS, "use_bias": (True, False), "regime": REGIMES},
    valid=_local_valid, make=_local_make(2), weights=_local_weights, expect=_local_expect,
    keras_specs=("keras2",),
    divergences=(*tf_activation_divergences(linear_part(reference.locally_connected)),),
    edge_cases=_bias_reshaped((1, 2, 3, 4), kernel_size=[2, 1], strides=[1, 2]) + (
        (_local(kernel_size=[3, 1], strides=[1, 3], implementation=2), [(2, 3, 4, 1)]),
    ),
    rejects=(
        Reject(_local_config(kernel_size=[1, 4]), ((1, 3, 3, 2),),
               "a kernel wider than the input"),
    ),
)
