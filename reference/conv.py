"""Convolutions: conv (Conv1D, Conv2D, Conv3D, grouped or not: one function, the rank taken
from the kernel), depthwise_conv (DepthwiseConv1D, DepthwiseConv2D: conv with one group per
channel), separable_conv2d (a depthwise convolution, then a 1x1 one) and conv_transpose
(Conv2DTranspose: the transpose of conv, each input position scattering the kernel). One
window loop, windowed_sum, serves the first three."""
import numpy as np

from reference.activations import activation as get_activation
from reference.config import takes_config
from reference.core import linear_sum
from reference.layout import from_channels_last, to_channels_last
from reference.padding import as_tuple
from reference.windows import output_shape, scatters, tap_boxes, transposed_output_shape


def _window_args(filters, kernel_size, strides, dilation_rate, rank, strided_dilation=False):
    """filters checked (None: a layer without them), and kernel_size, strides and
    dilation_rate as `rank` ints each; Keras refuses strides > 1 together with
    dilation_rate > 1 unless `strided_dilation` (Keras 3's depthwise convolutions)."""
    if filters is not None and (not isinstance(filters, int) or filters <= 0):
        raise ValueError(f"`filters` must be a positive int, got {filters!r}")
    kernel_size = as_tuple(kernel_size, rank, "kernel_size")
    strides = as_tuple(strides, rank, "strides")
    dilation_rate = as_tuple(dilation_rate, rank, "dilation_rate")
    if max(strides) > 1 and max(dilation_rate) > 1 and not strided_dilation:
        raise ValueError("strides > 1 is not supported together with dilation_rate > 1")
    return kernel_size, strides, dilation_rate


def grouped_sum(x, kernel, groups=1):
    """y[..., g*F/G + j] = sum_i x[..., g*C/G + i] * kernel[i, g*F/G + j]

    x: (..., C); kernel: (C/G, F), G = groups. The channels and the F outputs are split into
    G contiguous groups; group g's outputs read only group g's channels (groups=1: every
    output reads every channel, linear_sum). Term by term in float64, as linear_sum.
    """
    per_group = kernel.shape[0]
    xg = x.reshape(*x.shape[:-1], groups, per_group)                 # (..., G, C/G)
    kg = kernel.reshape(per_group, groups, -1).transpose(1, 0, 2)     # (G, C/G, F/G)
    return np.sum(xg[..., :, :, None] * kg, axis=-2).reshape(*x.shape[:-1], kernel.shape[1])


def windowed_sum(x, kernel, groups, strides, padding, dilation_rate):
    """y[b, *t, o] = sum_{k, i} x[b, *(t*strides + k*dilation_rate - pad), g*C/G + i] * kernel[*k, i, o]

    with g = o // (F/G), G = groups: the one window loop of conv, grouped conv and the
    depthwise convolution. x: (batch, *spatial, C), channels_last; kernel: (*k, C/G, F).
    """
    rank = kernel.ndim - 2
    size = kernel.shape[:rank]
    spatial = x.shape[1:-1]
    out_shape = output_shape(spatial, size, strides, dilation_rate, padding)
    if min(out_shape) <= 0:
        raise ValueError(f"a 'valid' window spanning {size} taps (dilation {dilation_rate}) "
                         f"does not fit the input {spatial}: empty output")
    # tap by tap in kernel order, every output position at once: each output adds its taps in
    # the order a loop over windows() would, position by position
    y = np.zeros((x.shape[0], *out_shape, kernel.shape[-1]))
    for tap, out_box, in_box in tap_boxes(spatial, size, strides, dilation_rate, padding):
        y[(slice(None), *out_box)] += grouped_sum(x[(slice(None), *in_box)], kernel[tap], groups)
    return y


@takes_config
def conv(x, kernel, bias=None, *, filters, kernel_size, strides=1, padding="valid",
         data_format="channels_last", dilation_rate=1, groups=1, activation=None,
         use_bias=True, spec="keras3"):
    """y[b, *t, o] = act(sum_{k, i} x[b, *(t*strides + k*dilation_rate - pad), g*C/G + i] * kernel[*k, i, o] + bias[o])

    g = o // (filters/G), G = groups: the C input channels and the filters split into G
    contiguous groups, and group g's filters see only group g's channels (windowed_sum).
    x: (batch, *spatial, C) (channels_first: (batch, C, *spatial));
    kernel: (*kernel_size, C/groups, filters); bias: (filters,) when use_bias.
    Output length per axis: valid ceil((L - span + 1) / s), same and causal ceil(L / s),
    span = (kernel - 1) * dilation + 1. causal (1D only) puts all padding before the start.
    """
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    rank = kernel.ndim - 2
    kernel_size, strides, dilation_rate = _window_args(filters, kernel_size, strides,
                                                       dilation_rate, rank)
    if padding not in ("valid", "same") and not (padding == "causal" and rank == 1):
        raise ValueError(f"Invalid padding {padding!r} for a {rank}D convolution")
    if not isinstance(groups, int) or isinstance(groups, bool) or groups <= 0:
        raise ValueError(f"The number of groups must be a positive integer, got {groups!r}")
    if filters % groups:
        raise ValueError(f"The number of filters must be evenly divisible by the number of "
                         f"groups: groups={groups}, filters={filters}")
    if kernel.shape[:rank] != kernel_size or kernel.shape[-1] != filters:
        raise ValueError(f"kernel shape {kernel.shape} does not match kernel_size "
                         f"{kernel_size} and filters {filters}")
    if use_bias != (bias is not None):
        raise ValueError("a bias must be given exactly when use_bias is True")

    x = to_channels_last(x, data_format)
    if x.shape[-1] % groups:
        raise ValueError(f"The number of input channels must be evenly divisible by the "
                         f"number of groups: groups={groups}, {x.shape[-1]} input channels")
    if x.shape[-1] // groups != kernel.shape[-2]:
        raise ValueError(f"input has {x.shape[-1]} channels in {groups} groups, the kernel "
                         f"expects {kernel.shape[-2]} per group")
    y = windowed_sum(x, kernel, groups, strides, padding, dilation_rate)
    if use_bias:
        y = y + np.asarray(bias, np.float64)
    # Keras applies the activation in the output's own layout: with channels_first, softmax
    # runs along the last (spatial) axis.
    return get_activation(activation, spec)(from_channels_last(y, data_format))


def depthwise(x, depthwise_kernel, strides, padding, dilation_rate):
    """d[b, *t, c*M + m] = sum_k x[b, *(t*strides + k*dilation_rate - pad), c] * depthwise_kernel[*k, c, m]

    Each input channel c is convolved on its own with M = depth_multiplier kernels; its M
    outputs sit next to each other (channel c*M + m, "interleaved"), as Keras orders them.
    x is channels_last: (batch, *spatial, C); depthwise_kernel: (*kernel_size, C, M).
    It is the grouped convolution with C groups of one channel and M filters each: filter
    c*M + m of the kernel (*kernel_size, 1, C*M) is depthwise_kernel[*k, c, m].
    """
    *size, channels, multiplier = depthwise_kernel.shape
    kernel = depthwise_kernel.reshape(*size, 1, channels * multiplier)      # index c * M + m
    return windowed_sum(x, kernel, channels, strides, padding, dilation_rate)


@takes_config
def depthwise_conv(x, depthwise_kernel, bias=None, *, kernel_size, strides=1, padding="valid",
                   depth_multiplier=1, data_format="channels_last", dilation_rate=1,
                   activation=None, use_bias=True, spec="keras3"):
    """y[b, *t, c*M + m] = act(depthwise(x)[b, *t, c*M + m] + bias[c*M + m])

    DepthwiseConv1D and DepthwiseConv2D (the rank taken from the kernel); depthwise above,
    M = depth_multiplier. x: (batch, *spatial, C) (channels_first: (batch, C, *spatial));
    depthwise_kernel: (*kernel_size, C, M); bias: (C*M,) when use_bias. Output size per axis
    as for conv. Keras 3 computes strides > 1 together with dilation_rate > 1; Keras 2
    refuses it.
    """
    x = np.asarray(x, np.float64)
    depthwise_kernel = np.asarray(depthwise_kernel, np.float64)
    rank = depthwise_kernel.ndim - 2
    kernel_size, strides, dilation_rate = _window_args(None, kernel_size, strides, dilation_rate,
                                                       rank, strided_dilation=spec == "keras3")
    x, channels = _depthwise_input(x, depthwise_kernel, kernel_size, depth_multiplier,
                                   padding, data_format)
    if use_bias != (bias is not None):
        raise ValueError("a bias must be given exactly when use_bias is True")
    y = depthwise(x, depthwise_kernel, strides, padding, dilation_rate)
    if use_bias:
        y = y + np.asarray(bias, np.float64)
    return get_activation(activation, spec)(from_channels_last(y, data_format))


def _depthwise_input(x, depthwise_kernel, kernel_size, depth_multiplier, padding, data_format):
    """(x channels_last, its channels C) after the checks a depthwise step makes as Keras
    does: a positive int depth_multiplier M, "valid" or "same", a kernel (*kernel_size, C, M)."""
    if not isinstance(depth_multiplier, int) or depth_multiplier <= 0:
        raise ValueError(f"`depth_multiplier` must be a positive int, got {depth_multiplier!r}")
    if padding not in ("valid", "same"):
        raise ValueError(f"Invalid padding {padding!r} for a depthwise convolution")
    x = to_channels_last(x, data_format)
    channels = x.shape[-1]
    if depthwise_kernel.shape != (*kernel_size, channels, depth_multiplier):
        raise ValueError(f"depthwise kernel shape {depthwise_kernel.shape} does not match "
                         f"kernel_size {kernel_size}, {channels} channels and depth_multiplier "
                         f"{depth_multiplier}")
    return x, channels


@takes_config
def separable_conv2d(x, depthwise_kernel, pointwise_kernel, bias=None, *, filters, kernel_size,
                     strides=1, padding="valid", data_format="channels_last", dilation_rate=1,
                     depth_multiplier=1, activation=None, use_bias=True, spec="keras3"):
    """y[b, i, j, o] = act(sum_{c, m} d[b, i, j, c*M + m] * pointwise_kernel[0, 0, c*M + m, o] + bias[o])

    with d = depthwise(x) above (M = depth_multiplier). x: (batch, H, W, C) (channels_first:
    (batch, C, H, W)); depthwise_kernel: (kh, kw, C, M); pointwise_kernel: (1, 1, C*M, filters);
    bias: (filters,) when use_bias. Output size per axis as for conv.
    """
    x = np.asarray(x, np.float64)
    depthwise_kernel = np.asarray(depthwise_kernel, np.float64)
    pointwise_kernel = np.asarray(pointwise_kernel, np.float64)
    kernel_size, strides, dilation_rate = _window_args(filters, kernel_size, strides,
                                                       dilation_rate, 2)
    x, channels = _depthwise_input(x, depthwise_kernel, kernel_size, depth_multiplier,
                                   padding, data_format)
    if pointwise_kernel.shape != (1, 1, channels * depth_multiplier, filters):
        raise ValueError(f"pointwise kernel shape {pointwise_kernel.shape}, expected "
                         f"{(1, 1, channels * depth_multiplier, filters)}")
    if use_bias != (bias is not None):
        raise ValueError("a bias must be given exactly when use_bias is True")
    d = depthwise(x, depthwise_kernel, strides, padding, dilation_rate)
    y = linear_sum(d, pointwise_kernel[0, 0])
    if use_bias:
        y = y + np.asarray(bias, np.float64)
    return get_activation(activation, spec)(from_channels_last(y, data_format))


@takes_config
def conv_transpose(x, kernel, bias=None, *, filters, kernel_size, strides=1, padding="valid",
                   output_padding=None, data_format="channels_last", dilation_rate=1,
                   activation=None, use_bias=True, spec="keras3"):
    """y[b, *(t*strides + k*dilation_rate - crop), o] += x[b, *t, c] * kernel[*k, o, c], then act(y + bias[o])

    The transpose of conv: every input position t scatters the kernel into the output. Note
    the kernel's layout, (*kernel_size, filters, in_channels): outputs before inputs.
    x: (batch, *spatial, in_channels) (channels_first: (batch, in_channels, *spatial)).
    Output length per axis (reference/padding.py transposed_output_length): valid
    L*s + max(span - s, 0), same L*s; with output_padding (L-1)*s + span - 2*pad + output_padding
    (pad = span // 2 for same). crop = the smaller half of what same drops, 0 for valid;
    output positions that no tap reaches (output_padding with valid) hold the bias alone.
    """
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    rank = kernel.ndim - 2
    kernel_size, strides, dilation_rate = _window_args(filters, kernel_size, strides,
                                                       dilation_rate, rank)
    if padding not in ("valid", "same"):
        raise ValueError(f"Invalid padding {padding!r} for a transposed convolution")
    if spec == "keras2" and len(set(dilation_rate)) > 1:
        raise ValueError(f"Keras 2 needs one dilation rate on every axis, got {dilation_rate}")
    if output_padding is not None:
        output_padding = (output_padding,) * rank if isinstance(output_padding, int) \
            else tuple(output_padding)
        if len(output_padding) != rank or not all(0 <= p < s for p, s in
                                                  zip(output_padding, strides)):
            raise ValueError(f"`output_padding` must be >= 0 and strictly less than `strides` "
                             f"on every axis, got {output_padding} with strides {strides}")
    if kernel.shape[:rank] != kernel_size or kernel.shape[-2] != filters:
        raise ValueError(f"kernel shape {kernel.shape} does not match kernel_size "
                         f"{kernel_size} and filters {filters}")
    if use_bias != (bias is not None):
        raise ValueError("a bias must be given exactly when use_bias is True")
    x = to_channels_last(x, data_format)
    if x.shape[-1] != kernel.shape[-1]:
        raise ValueError(f"input has {x.shape[-1]} channels, the kernel expects {kernel.shape[-1]}")
    spatial = x.shape[1:-1]
    out_shape = transposed_output_shape(spatial, kernel_size, strides, dilation_rate, padding,
                                        output_padding)
    y = np.zeros((x.shape[0], *out_shape, filters))
    for pos, taps in scatters(spatial, kernel_size, strides, dilation_rate, padding,
                              output_padding):
        for tap, out in taps:
            y[(slice(None), *out)] += linear_sum(x[(slice(None), *pos)], kernel[tap].T)
    if use_bias:
        y = y + np.asarray(bias, np.float64)
    return get_activation(activation, spec)(from_channels_last(y, data_format))
