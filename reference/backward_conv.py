"""The backward pass of the convolutions of reference/conv.py: conv (Conv1D/2D/3D, grouped),
depthwise_conv (DepthwiseConv1D/2D), separable_conv2d and conv_transpose.

The forward sums, over every output position t and kernel tap k of windows(), the tap's
product of the input at position pos(t, k) = t*strides + k*dilation_rate - pad with the kernel.
The backward walks the same windows() and sends each product's gradient back along it:

    dx[b, *pos, :]  += the tap's input gradient   (the transposed windowed sum)
    dkernel[*k]     += the tap's kernel gradient  (a sum over the batch and every position)

so the window geometry (padding, strides, dilation, causal) is the forward's, written once.
Conventions as reference/backward_core.py: the forward's arguments, the cotangent `u`
keyword-only, (input gradient, weight gradients in get_weights() order); the forward runs
first, for its checks and the pre-activation. The activation is differentiated in the
output's own layout (softmax along the last axis, as the forward applies it).
"""
import numpy as np

from reference.backward_activations import activation_vjp
from reference.config import takes_config
from reference.conv import (
    _window_args, conv, conv_transpose, depthwise, depthwise_conv, separable_conv2d,
)
from reference.core import linear_sum
from reference.layout import from_channels_last, to_channels_last
from reference.windows import scatters, windows


def grouped_sum_vjp(x, kernel, groups, g):
    """The VJP of grouped_sum (y[..., o] = sum_i x[..., gC/G + i] * kernel[i, o], o in group g):

        dx[..., gC/G + i] = sum_j g[..., gF/G + j] * kernel[i, gF/G + j]
        dkernel[i, gF/G + j] = sum over the leading axes of x[..., gC/G + i] * g[..., gF/G + j]

    x: (..., C); kernel: (C/G, F); g: (..., F). Returns (dx, dkernel)."""
    per_group = kernel.shape[0]
    xg = x.reshape(*x.shape[:-1], groups, per_group)                  # (..., G, C/G)
    gg = g.reshape(*g.shape[:-1], groups, -1)                          # (..., G, F/G)
    kg = kernel.reshape(per_group, groups, -1).transpose(1, 0, 2)      # (G, C/G, F/G)
    dx = np.einsum("...gj,gij->...gi", gg, kg).reshape(x.shape)
    dkg = np.einsum("rgi,rgj->gij", xg.reshape(-1, groups, per_group),
                    gg.reshape(-1, *gg.shape[-2:]))                    # (G, C/G, F/G)
    return dx, dkg.transpose(1, 0, 2).reshape(kernel.shape)


def windowed_sum_vjp(x, kernel, groups, strides, padding, dilation_rate, g):
    """The VJP of windowed_sum, over the same windows(): for every output t and tap k at input
    position pos, dx[:, pos] += the grouped input gradient of g[:, t] through kernel[k], and
    dkernel[k] += the grouped product of x[:, pos] with g[:, t] (batch summed).
    x: (batch, *spatial, C); kernel (*k, C/G, F); g: (batch, *out, F). Returns (dx, dkernel)."""
    rank = kernel.ndim - 2
    dx, dkernel = np.zeros_like(x), np.zeros_like(kernel)
    for out, taps in windows(x.shape[1:-1], kernel.shape[:rank], strides, dilation_rate,
                             padding):
        for tap, pos in taps:
            at = (slice(None), *pos)
            tap_dx, tap_dkernel = grouped_sum_vjp(x[at], kernel[tap], groups,
                                                  g[(slice(None), *out)])
            dx[at] += tap_dx
            dkernel[tap] += tap_dkernel
    return dx, dkernel


def _pre_activation_gradient(z, u, activation, spec, data_format):
    """g = dL/dz channels_last, for z the pre-activation in the output's layout."""
    return to_channels_last(activation_vjp(activation, spec)(z, u), data_format)


def _with_bias(grads, g, use_bias):
    """grads, then the bias gradient sum_{b, *t} g[b, *t, o] when use_bias."""
    return grads + (g.sum(axis=tuple(range(g.ndim - 1))),) if use_bias else grads


@takes_config
def conv_vjp(x, kernel, bias=None, *, u, filters, kernel_size, strides=1, padding="valid",
             data_format="channels_last", dilation_rate=1, groups=1, activation=None,
             use_bias=True, spec="keras3"):
    """For y = act(z), z[b, *t, o] = sum_{k, i} x[b, *pos(t, k), gC/G + i] * kernel[*k, i, o] + bias[o]
    and g = dL/dz:

        dx[b, *p, gC/G + i] = sum_{(t, k): pos(t, k) = p} sum_j g[b, *t, gF/G + j] * kernel[*k, i, gF/G + j]
        dkernel[*k, i, o] = sum_{b, t} x[b, *pos(t, k), gC/G + i] * g[b, *t, o]
        dbias[o] = sum_{b, t} g[b, *t, o]

    Returns (dx in the input's layout, dkernel, dbias), without dbias when use_bias is False.
    """
    z = conv(x, kernel, bias, filters=filters, kernel_size=kernel_size, strides=strides,
             padding=padding, data_format=data_format, dilation_rate=dilation_rate,
             groups=groups, activation=None, use_bias=use_bias, spec=spec)
    g = _pre_activation_gradient(z, u, activation, spec, data_format)
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    _, strides, dilation_rate = _window_args(filters, kernel_size, strides, dilation_rate,
                                             kernel.ndim - 2)
    dx, dkernel = windowed_sum_vjp(to_channels_last(x, data_format), kernel, groups, strides,
                                   padding, dilation_rate, g)
    return _with_bias((from_channels_last(dx, data_format), dkernel), g, use_bias)


def depthwise_vjp(x, depthwise_kernel, strides, padding, dilation_rate, g):
    """The VJP of depthwise: windowed_sum_vjp with C groups of one channel, the kernel
    gradient (*k, 1, C*M) read back as (*k, C, M) (output channel c*M + m)."""
    *size, channels, multiplier = depthwise_kernel.shape
    kernel = depthwise_kernel.reshape(*size, 1, channels * multiplier)
    dx, dkernel = windowed_sum_vjp(x, kernel, channels, strides, padding, dilation_rate, g)
    return dx, dkernel.reshape(depthwise_kernel.shape)


@takes_config
def depthwise_conv_vjp(x, depthwise_kernel, bias=None, *, u, kernel_size, strides=1,
                       padding="valid", depth_multiplier=1, data_format="channels_last",
                       dilation_rate=1, activation=None, use_bias=True, spec="keras3"):
    """g = dL/dz for z[b, *t, c*M + m] = sum_k x[b, *pos(t, k), c] * depthwise_kernel[*k, c, m] + bias[c*M + m]:

        dx[b, *p, c] = sum_{(t, k): pos(t, k) = p} sum_m g[b, *t, c*M + m] * depthwise_kernel[*k, c, m]
        ddepthwise_kernel[*k, c, m] = sum_{b, t} x[b, *pos(t, k), c] * g[b, *t, c*M + m]
        dbias[c*M + m] = sum_{b, t} g[b, *t, c*M + m]

    Returns (dx, ddepthwise_kernel, dbias), without dbias when use_bias is False.
    """
    z = depthwise_conv(x, depthwise_kernel, bias, kernel_size=kernel_size, strides=strides,
                       padding=padding, depth_multiplier=depth_multiplier,
                       data_format=data_format, dilation_rate=dilation_rate, activation=None,
                       use_bias=use_bias, spec=spec)
    g = _pre_activation_gradient(z, u, activation, spec, data_format)
    x = np.asarray(x, np.float64)
    depthwise_kernel = np.asarray(depthwise_kernel, np.float64)
    _, strides, dilation_rate = _window_args(None, kernel_size, strides, dilation_rate,
                                             depthwise_kernel.ndim - 2,
                                             strided_dilation=spec == "keras3")
    dx, dkernel = depthwise_vjp(to_channels_last(x, data_format), depthwise_kernel, strides,
                                padding, dilation_rate, g)
    return _with_bias((from_channels_last(dx, data_format), dkernel), g, use_bias)


@takes_config
def separable_conv2d_vjp(x, depthwise_kernel, pointwise_kernel, bias=None, *, u, filters,
                         kernel_size, strides=1, padding="valid", data_format="channels_last",
                         dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
                         spec="keras3"):
    """z = d @ pointwise_kernel[0, 0] + bias, d = depthwise(x); g = dL/dz. Then
    dd = g @ pointwise_kernel[0, 0]^T, dpointwise_kernel[0, 0, i, o] = sum_{b, t} d[b, *t, i] g[b, *t, o],
    and dx, ddepthwise_kernel = depthwise_vjp(dd).
    Returns (dx, ddepthwise_kernel, dpointwise_kernel, dbias), without dbias when not use_bias.
    """
    z = separable_conv2d(x, depthwise_kernel, pointwise_kernel, bias, filters=filters,
                         kernel_size=kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         depth_multiplier=depth_multiplier, activation=None,
                         use_bias=use_bias, spec=spec)
    g = _pre_activation_gradient(z, u, activation, spec, data_format)
    x = to_channels_last(np.asarray(x, np.float64), data_format)
    depthwise_kernel = np.asarray(depthwise_kernel, np.float64)
    pointwise = np.asarray(pointwise_kernel, np.float64)[0, 0]
    _, strides, dilation_rate = _window_args(filters, kernel_size, strides, dilation_rate, 2)
    d = depthwise(x, depthwise_kernel, strides, padding, dilation_rate)
    rows_d, rows_g = d.reshape(-1, d.shape[-1]), g.reshape(-1, filters)
    dpointwise = linear_sum(rows_d.T, rows_g)[None, None]
    dx, ddepthwise = depthwise_vjp(x, depthwise_kernel, strides, padding, dilation_rate,
                                   linear_sum(g, pointwise.T))
    return _with_bias((from_channels_last(dx, data_format), ddepthwise, dpointwise), g,
                      use_bias)


@takes_config
def conv_transpose_vjp(x, kernel, bias=None, *, u, filters, kernel_size, strides=1,
                       padding="valid", output_padding=None, data_format="channels_last",
                       dilation_rate=1, activation=None, use_bias=True, spec="keras3"):
    """For z[b, *(t*strides + k*dilation_rate - crop), o] += x[b, *t, c] * kernel[*k, o, c] (+ bias[o])
    and g = dL/dz, over the forward's scatters():

        dx[b, *t, c] = sum_{k: out(t, k) inside} sum_o g[b, *out(t, k), o] * kernel[*k, o, c]
        dkernel[*k, o, c] = sum_{b, t} g[b, *out(t, k), o] * x[b, *t, c]
        dbias[o] = sum over b and every output position of g[b, ..., o]

    Returns (dx, dkernel, dbias), without dbias when use_bias is False.
    """
    z = conv_transpose(x, kernel, bias, filters=filters, kernel_size=kernel_size,
                       strides=strides, padding=padding, output_padding=output_padding,
                       data_format=data_format, dilation_rate=dilation_rate, activation=None,
                       use_bias=use_bias, spec=spec)
    g = _pre_activation_gradient(z, u, activation, spec, data_format)
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    rank = kernel.ndim - 2
    kernel_size, strides, dilation_rate = _window_args(filters, kernel_size, strides,
                                                       dilation_rate, rank)
    if output_padding is not None and isinstance(output_padding, int):
        output_padding = (output_padding,) * rank
    x = to_channels_last(x, data_format)
    dx, dkernel = np.zeros_like(x), np.zeros_like(kernel)
    for pos, taps in scatters(x.shape[1:-1], kernel_size, strides, dilation_rate, padding,
                              output_padding):
        for tap, out in taps:
            at, g_out = (slice(None), *pos), g[(slice(None), *out)]
            dx[at] += linear_sum(g_out, kernel[tap])
            dkernel[tap] += linear_sum(g_out.T, x[at])
    return _with_bias((from_channels_last(dx, data_format), dkernel), g, use_bias)
