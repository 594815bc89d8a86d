"""Planted faulty candidates for the depthwise and grouped convolutions: the reference with one
fault per layer. DepthwiseConv2D's multiplier outputs grouped by multiplier instead of
interleaved per channel; Conv2D's groups taken as interleaved channels instead of contiguous
blocks. The two sit in different layers, so GroupingFaults carries both and one run of the
suite checks them."""
import numpy as np

import reference
from reference.activations import activation
from reference.conv import depthwise
from reference.layout import from_channels_last, to_channels_last
from reference.padding import as_tuple
from tests.planted import Planted


def depthwise_grouped_order(x, depthwise_kernel, bias=None, **config):
    """DepthwiseConv2D/1D writing input channel c's output m at m*C + c (grouped by
    multiplier) instead of Keras's c*M + m; the bias is added by output position as before.
    The same as the reference wherever C = 1 or M = 1."""
    data_format = config.get("data_format", "channels_last")
    x = to_channels_last(np.asarray(x, np.float64), data_format)
    depthwise_kernel = np.asarray(depthwise_kernel, np.float64)
    rank = depthwise_kernel.ndim - 2
    channels, multiplier = depthwise_kernel.shape[-2:]
    with np.errstate(invalid="ignore", over="ignore"):
        d = depthwise(x, depthwise_kernel, as_tuple(config.get("strides", 1), rank, "strides"),
                      config.get("padding", "valid"),
                      as_tuple(config.get("dilation_rate", 1), rank, "dilation_rate"))
        d = d.reshape(*d.shape[:-1], channels, multiplier)
        d = np.swapaxes(d, -1, -2).reshape(*d.shape[:-2], channels * multiplier)  # m*C + c
        if bias is not None:
            d = d + np.asarray(bias, np.float64)
        return activation(config.get("activation"))(from_channels_last(d, data_format))


def interleaved_groups(channels, groups):
    """The input channel each position of a contiguous group reads when the groups are taken
    as interleaved: group g's i-th channel is channel i*groups + g, not g*(C/groups) + i."""
    per_group = channels // groups
    return [i * groups + g for g in range(groups) for i in range(per_group)]


def conv_interleaved_groups(x, kernel, bias=None, **config):
    """Conv1D/2D/3D whose group g reads channels g, g + G, g + 2G, ... (G = groups) instead of
    the contiguous block g*C/G ... (g+1)*C/G - 1. The same as the reference wherever
    groups = 1 or groups = channels (one channel per group)."""
    x = np.asarray(x, np.float64)
    axis = 1 if config.get("data_format") == "channels_first" else -1
    order = interleaved_groups(x.shape[axis], config.get("groups", 1))
    with np.errstate(invalid="ignore", over="ignore"):
        return reference.conv(np.take(x, order, axis=axis), kernel, bias, **config)


class GroupingFaults(Planted):
    """DepthwiseConv2D's outputs in grouped order (depthwise_grouped_order); Conv2D's groups
    interleaved (conv_interleaved_groups)."""
    FAULTY = ("DepthwiseConv2D", "Conv2D")

    def run(self, case):
        if case.layer == "DepthwiseConv2D":
            return [depthwise_grouped_order(case.inputs[0], *case.weights, **case.config)]
        if case.layer == "Conv2D":
            return [conv_interleaved_groups(case.inputs[0], *case.weights, **case.config)]
        return self.correct(case)
