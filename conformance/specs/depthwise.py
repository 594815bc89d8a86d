"""Specs of the depthwise convolutions, DepthwiseConv1D and DepthwiseConv2D: each input channel
convolved on its own with depth_multiplier kernels (reference.depthwise_conv, the depthwise
half of SeparableConv2D)."""
import dataclasses
import math

import numpy as np

import reference
from conformance.regimes import ELEMENTWISE
from conformance.spec import Expected, LayerSpec, Reject
from conformance.specs._common import linear_part, linear_then_activation, tf_activation_divergences
from conformance.specs._engine_builtin import depthwise_logits, depthwise_tail_divergence
from conformance.specs._engine_conversion import TFLITE_RANK3_BIAS_ADD
from conformance.specs._engine_ops import OPENVINO_ONEDNN_DEPTHWISE, XNNPACK_DEPTHWISE_SPREAD
from conformance.specs._engine_xnnpack import XNNPACK_DEPTHWISE_TILE
from conformance.specs._engines import OPENVINO
from conformance.specs._onednn import TF_ONEDNN_DEPTHWISE
from conformance.specs.conv import (
    DATA_FORMATS, TF_BIAS_ADD_LAST_AXIS, _conv, _conv_make, _conv_valid,
)
from conformance.specs.core import ACTIVATIONS
from reference.padding import as_tuple


def _depthwise_weights(config, shapes):
    rank = len(shapes[0]) - 2
    channels = shapes[0][1] if config.get("data_format") == "channels_first" else shapes[0][-1]
    multiplier = config.get("depth_multiplier", 1)
    kernel = as_tuple(config["kernel_size"], rank, "kernel_size")
    bias = [("bias", (channels * multiplier,))] if config.get("use_bias", True) else []
    return [("depthwise_kernel", (*kernel, channels, multiplier))] + bias


def _depthwise_expect(case):
    """Each output element sums its own channel's window: prod(kernel_size) products, and the
    bias."""
    x, = case.inputs
    as_tuple(case.config["kernel_size"], x.ndim - 2, "kernel_size")   # no kernel without it
    kernel = case.weights[0]
    terms = math.prod(kernel.shape[:-2]) + len(case.weights) - 1
    y, bound, overflow = linear_then_activation(reference.depthwise_conv, x, case.weights,
                                                case.config, terms, case.spec)
    return Expected([y], [bound], overflow=[overflow])


def _bias_on_the_last_axis(case):
    """TF_BIAS_ADD_LAST_AXIS where the bias has C*M entries (no filters in the config)."""
    config = case.config
    x = case.inputs[0] if case.inputs else None
    if x is None or config.get("data_format") != "channels_first" \
            or not config.get("use_bias", True):
        return False
    outputs = x.shape[1] * config.get("depth_multiplier", 1)
    return outputs > 1 and any(np.shape(e)[-1] == outputs for e in case.expected or [])


TF_DEPTHWISE_BIAS_LAST_AXIS = dataclasses.replace(
    TF_BIAS_ADD_LAST_AXIS, when=_bias_on_the_last_axis,
    evidence=TF_BIAS_ADD_LAST_AXIS.evidence + ". DepthwiseConv2D (base_depthwise_conv.py "
             "adds its bias reshaped to (1, C*M, 1, 1) with ops.add): channels_first, C = 3, "
             "depth_multiplier 2, kernel 3, 'same', on a (2, 3, 6, 6) input: the output's last "
             "axis is 6 = C*M, and tf.keras is off by up to 3.79 where tf_keras agrees with the "
             "reference within 8.2e-7")


# litert-builtin's DEPTHWISE_CONV_2D turns NaN into +FLT_MAX in the tail of each output row
BUILTIN_DEPTHWISE_TAIL = depthwise_tail_divergence(
    linear_part(reference.depthwise_conv), depthwise_logits(linear_part(reference.depthwise_conv)))


def _depthwise(rank, **overrides):
    """Edge-case params of a `rank`-d depthwise convolution."""
    return {k: v for k, v in _conv(rank, **{"depth_multiplier": 1, **overrides}).items()
            if k != "filters"}


def _depthwise_config(rank, **overrides):
    return {k: v for k, v in _depthwise(rank, **overrides).items() if k != "regime"}


# Keras 3 computes strides > 1 together with dilation_rate > 1 (base_depthwise_conv.py checks
# neither; its TensorFlow backend decomposes the call, nn.py
# _depthwise_conv_stride_dilation_decomposition); tf_keras refuses it. The covering keeps to
# the configs both accept, and an edge case per layer checks Keras 3's answer.
DEPTHWISE_CONV2D = LayerSpec(
    layer="DepthwiseConv2D", windowed=True,
    domains={"kernel_size": (1, 2, 3, [3, 2]), "strides": (1, 2, [1, 2]),
             "dilation_rate": (1, 2, [2, 1]), "depth_multiplier": (1, 2, 3),
             "padding": ("valid", "same"), "data_format": DATA_FORMATS,
             "activation": ACTIVATIONS, "use_bias": (True, False), "regime": ELEMENTWISE},
    valid=_conv_valid, make=_conv_make(2), weights=_depthwise_weights,
    expect=_depthwise_expect,
    divergences=(*tf_activation_divergences(linear_part(reference.depthwise_conv),
                                             fused_on=(OPENVINO,)),
                 TF_DEPTHWISE_BIAS_LAST_AXIS, TF_ONEDNN_DEPTHWISE, OPENVINO_ONEDNN_DEPTHWISE,
                 XNNPACK_DEPTHWISE_SPREAD, XNNPACK_DEPTHWISE_TILE, BUILTIN_DEPTHWISE_TAIL),
    edge_cases=(
        # several channels and multipliers: the interleaved order c*M + m shows
        (_depthwise(2, depth_multiplier=3, kernel_size=[2, 3], padding="same", strides=[2, 1]),
         [(2, 4, 5, 3)]),
        (_depthwise(2, depth_multiplier=2, kernel_size=3, dilation_rate=[1, 2], padding="same",
                    data_format="channels_first"), [(1, 3, 4, 6)]),
        (_depthwise(2, depth_multiplier=2, kernel_size=3, padding="valid"), [(1, 3, 3, 2)]),
        # channels_first, the last output axis as long as C*M (TF_DEPTHWISE_BIAS_LAST_AXIS)
        (_depthwise(2, depth_multiplier=2, kernel_size=1, data_format="channels_first"),
         [(1, 2, 3, 4)]),
        # TensorFlow's oneDNN depthwise failure (TF_ONEDNN_DEPTHWISE)
        (_depthwise(2, depth_multiplier=3, kernel_size=3, strides=[1, 2], padding="same",
                    use_bias=False), [(1, 3, 2, 1)]),
        # strides and dilation > 1 together: Keras 3 computes it, tf_keras refuses it
        (_depthwise(2, depth_multiplier=2, kernel_size=3, strides=2, dilation_rate=2),
         [(2, 9, 8, 3)], ("keras3",)),
        (_depthwise(2, kernel_size=[2, 3], strides=[1, 2], dilation_rate=[2, 1],
                    padding="same"), [(1, 5, 6, 2)], ("keras3",)),
    ),
    # tf_keras returns uninitialised memory for a 'valid' kernel exactly one longer than the
    # input (as for Conv1D: README, "Known divergences"), and raises for a longer one or a
    # depth_multiplier of 0 (InvalidArgumentError from its kernels); the reference refuses
    # all three in both specs
    rejects=(
        Reject(_depthwise_config(2, kernel_size=[1, 6]), ((1, 4, 3, 1),),
               "a 'valid' kernel longer than the input"),
        Reject(_depthwise_config(2, kernel_size=[1, 4]), ((1, 4, 3, 1),),
               "a 'valid' kernel one longer than the input", ("keras3",)),
        Reject(_depthwise_config(2, depth_multiplier=0), ((1, 4, 3, 2),),
               "depth_multiplier must be positive"),
        Reject(_depthwise_config(2, padding="causal"), ((1, 4, 3, 2),), "causal padding"),
        Reject(_depthwise_config(2, kernel_size=[3, 0]), ((1, 4, 3, 2),), "a zero kernel size"),
        Reject(_depthwise_config(2, strides=2, dilation_rate=2), ((1, 9, 9, 2),),
               "strides and dilation > 1 (Keras 2)", ("keras2",)),
    ),
)


DEPTHWISE_CONV1D = LayerSpec(
    layer="DepthwiseConv1D", windowed=True,
    domains={"kernel_size": (1, 2, 3, 5), "strides": (1, 2, 3), "dilation_rate": (1, 2, 3),
             "depth_multiplier": (1, 2, 3), "padding": ("valid", "same"),
             "data_format": DATA_FORMATS, "activation": ACTIVATIONS,
             "use_bias": (True, False), "regime": ELEMENTWISE},
    valid=_conv_valid, make=_conv_make(1), weights=_depthwise_weights,
    expect=_depthwise_expect,
    divergences=(*tf_activation_divergences(linear_part(reference.depthwise_conv),
                                             fused_on=(OPENVINO,)),
                 TF_DEPTHWISE_BIAS_LAST_AXIS, TFLITE_RANK3_BIAS_ADD, XNNPACK_DEPTHWISE_SPREAD,
                 XNNPACK_DEPTHWISE_TILE, BUILTIN_DEPTHWISE_TAIL),
    edge_cases=(
        (_depthwise(1, depth_multiplier=3, kernel_size=5, padding="valid"), [(2, 5, 2)]),
        (_depthwise(1, depth_multiplier=2, kernel_size=3, padding="same", strides=4,
                    data_format="channels_first"), [(1, 3, 5)]),
        (_depthwise(1, depth_multiplier=2, kernel_size=1, data_format="channels_first"),
         [(2, 2, 4)]),
        (_depthwise(1, depth_multiplier=2, kernel_size=3, strides=3, dilation_rate=2),
         [(2, 12, 3)], ("keras3",)),
    ),
    rejects=(
        Reject(_depthwise_config(1, kernel_size=6), ((1, 4, 2),),
               "a 'valid' kernel longer than the input"),
        Reject(_depthwise_config(1, kernel_size=5), ((1, 4, 2),),
               "a 'valid' kernel one longer than the input", ("keras3",)),
        Reject(_depthwise_config(1, padding="causal"), ((1, 4, 2),), "causal padding"),
        Reject(_depthwise_config(1, strides=2, dilation_rate=2), ((1, 9, 2),),
               "strides and dilation > 1 (Keras 2)", ("keras2",)),
    ),
)
