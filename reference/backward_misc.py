"""The backward pass of the other layers with something to differentiate: Embedding, the
advanced activations (PReLU, LeakyReLU, ELU, ThresholdedReLU) and ReLU, the noise and dropout
layers, the layers that only move values (Flatten, Reshape, Permute, RepeatVector, Cropping,
ZeroPadding, UpSampling) and LocallyConnected1D/2D.

Conventions as reference/backward_core.py: the forward's arguments (@takes_config), the
cotangent `u` keyword-only, (input gradient, weight gradients in get_weights() order); the
forward runs first, for its checks. Embedding's input is integer indices: it has no gradient,
and its VJP returns the table's alone, (dembeddings,).

Kinks: the piecewise activations have no derivative at their breakpoints (0 for LeakyReLU,
PReLU and ELU, theta for ThresholdedReLU, ReLU's threshold and max_value, where its output
may even jump); cases keep away from them. Here the derivative at a breakpoint is the one of
the comparison the forward writes (x > 0 takes the right-hand side), a convention. The noise
layers are the identity at inference; in training, with the draw given as the forward takes
it, each is affine in x and its slope is written out.
"""
import numpy as np

from reference.advanced_activations import (
    OMITTED, _float32, elu, leaky_relu, prelu, thresholded_relu,
)
from reference.backward_activations import activation_vjp, cotangent
from reference.config import takes_config
from reference.core import dropout, flatten, linear_sum, permute, repeat_vector, reshape
from reference.embedding import _indices, embedding
from reference.layout import from_channels_last, to_channels_last
from reference.local import locally_connected, position_kernels
from reference.model_layers import _f32, relu_layer
from reference.noise import (
    alpha_dropout, alpha_dropout_affine, gaussian_dropout, gaussian_dropout_stddev,
    gaussian_noise,
)
from reference.padding import as_tuple, per_axis_pairs
from reference.spatial import (
    cropping as cropping_layer, source_positions, upsampling, zero_padding,
)
from reference.windows import output_shape, windows


# ---- Embedding ---------------------------------------------------------------------------

@takes_config
def embedding_vjp(x, embeddings, *, u, input_dim, output_dim, mask_zero=False,
                  input_length=None, spec="keras3"):
    """y[b, ..., :] = embeddings[x[b, ...], :], so every lookup adds its cotangent to its row:

        dembeddings[i, :] = sum over the positions p with x[p] = i of u[p, :]

    (a repeated index accumulates: np.add.at; a row never looked up gets 0).
    Returns (dembeddings,): integer indices have no gradient."""
    y = embedding(x, embeddings, input_dim=input_dim, output_dim=output_dim,
                  mask_zero=mask_zero, input_length=input_length, spec=spec)
    u = cotangent(u, y)
    d_embeddings = np.zeros((input_dim, output_dim))
    np.add.at(d_embeddings, _indices(x, input_dim), u)
    return (d_embeddings,)


# ---- the advanced activations and ReLU ---------------------------------------------------

def _sum_to(g, shape):
    """g summed over its leading axes beyond len(shape) and over the axes where shape is 1:
    the gradient of a weight of `shape` broadcast against g."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    stretched = tuple(a for a in range(g.ndim) if shape[a] == 1 and g.shape[a] != 1)
    return g.sum(axis=stretched, keepdims=True)


@takes_config
def prelu_vjp(x, alpha, *, u, shared_axes=None, spec="keras3"):
    """y = relu(x) - alpha * relu(-x), alpha broadcast over the batch and the shared axes:

        dx = u where x > 0, u * alpha where x < 0
        dalpha[j] = sum over the batch and the shared axes of u * min(x, 0)

    Returns (dx, dalpha)."""
    y = prelu(x, alpha, shared_axes=shared_axes, spec=spec)
    u = cotangent(u, y)
    x, alpha = np.asarray(x, np.float64), np.asarray(alpha, np.float64)
    return (u * np.where(x > 0, 1.0, alpha), _sum_to(u * np.minimum(x, 0.0), alpha.shape))


@takes_config
def leaky_relu_vjp(x, *, u, negative_slope=OMITTED, alpha=OMITTED, spec="keras3"):
    """y = x where x > 0, slope * x elsewhere: dx = u where x > 0, u * slope elsewhere. The
    slope is the one the forward reads from its arguments (-y at x = -1: exact, as the
    float32 slope times -1)."""
    given = {k: v for k, v in (("negative_slope", negative_slope), ("alpha", alpha))
             if v is not OMITTED}
    y = leaky_relu(x, **given, spec=spec)
    u = cotangent(u, y)
    slope = -float(leaky_relu(np.array(-1.0), **given, spec=spec))
    return (u * np.where(np.asarray(x, np.float64) > 0, 1.0, slope),)


@takes_config
def elu_vjp(x, *, u, alpha=1.0, spec="keras3"):
    """y = x where x > 0, alpha (exp(x) - 1) elsewhere (alpha a float32):
    dx = u where x > 0, u * alpha exp(x) elsewhere. A kink at 0 unless alpha = 1."""
    y = elu(x, alpha=alpha, spec=spec)
    u = cotangent(u, y)
    x = np.asarray(x, np.float64)
    return (u * np.where(x > 0, 1.0, _float32("alpha", alpha) * np.exp(np.minimum(x, 0.0))),)


@takes_config
def thresholded_relu_vjp(x, *, u, theta=1.0, spec="keras2"):
    """y = x * (x > theta): dx = u where x > theta, 0 elsewhere (the output jumps at theta,
    theta a float32)."""
    y = thresholded_relu(x, theta=theta, spec=spec)
    u = cotangent(u, y)
    return (u * (np.asarray(x, np.float64) > _float32("theta", theta)),)


@takes_config
def relu_layer_vjp(x, *, u, max_value=None, negative_slope=0.0, threshold=0.0, spec="keras3"):
    """ReLU(max_value m, negative_slope a, threshold t), all float32 (model_layers.relu_layer):
    y = p - a relu(t - x), p = x where x > t else 0, clipped to [0, m]; the leaky form
    (a != 0, no m, t == 0) is the same function. So

        dx = u * ([x > t and (no m or x < m)] + a [x < t])

    kinks at t and m (at t > 0 the output jumps)."""
    y = relu_layer(x, max_value=max_value, negative_slope=negative_slope, threshold=threshold,
                   spec=spec)
    u = cotangent(u, y)
    x = np.asarray(x, np.float64)
    a, t = float(_f32("negative_slope", negative_slope)), float(_f32("threshold", threshold))
    passes = x > t
    if max_value is not None:
        passes = passes & (x < float(_f32("max_value", max_value)))
    return (u * (passes + a * (x < t)),)


# ---- the dropout and noise layers ----------------------------------------------------------

@takes_config
def dropout_vjp(x, *, u, rate, noise_shape=None, seed=None, training=False, keep=None,
                spec="keras3"):
    """Inference (or rate 0): y = x, dx = u. Training: y = where(keep, x / (1 - rate), 0),
    dx = where(keep, u / (1 - rate), 0); rate 1 drops everything, dx = 0."""
    y = dropout(x, rate=rate, noise_shape=noise_shape, seed=seed, training=training, keep=keep,
                spec=spec)
    u = cotangent(u, y)
    if not training or rate == 0:
        return (u,)
    if rate == 1:
        return (np.zeros_like(u),)
    return (np.where(np.asarray(keep, bool), u / (1.0 - rate), 0.0),)


@takes_config
def gaussian_noise_vjp(x, *, u, stddev, seed=None, training=False, noise=None, spec="keras3"):
    """y = x (inference) or x + stddev * noise (training): dx = u either way."""
    y = gaussian_noise(x, stddev=stddev, seed=seed, training=training, noise=noise, spec=spec)
    return (cotangent(u, y),)


@takes_config
def gaussian_dropout_vjp(x, *, u, rate, seed=None, training=False, noise=None, spec="keras3"):
    """Inference (or rate outside (0, 1)): dx = u. Training: y = x (1 + sigma noise),
    sigma = sqrt(rate / (1 - rate)): dx = u (1 + sigma noise)."""
    y = gaussian_dropout(x, rate=rate, seed=seed, training=training, noise=noise, spec=spec)
    u = cotangent(u, y)
    if not training or not 0 < rate < 1:
        return (u,)
    noise = np.broadcast_to(np.asarray(noise, np.float64), u.shape)
    return (u * (1.0 + gaussian_dropout_stddev(rate) * noise),)


@takes_config
def alpha_dropout_vjp(x, *, u, rate, noise_shape=None, seed=None, training=False, keep=None,
                      spec="keras3"):
    """Inference (or rate outside (0, 1)): dx = u. Training: y = a x + b where keep, a constant
    where dropped (alpha_dropout_affine's a): dx = where(keep, a u, 0)."""
    y = alpha_dropout(x, rate=rate, noise_shape=noise_shape, seed=seed, training=training,
                      keep=keep, spec=spec)
    u = cotangent(u, y)
    if not training or not 0 < rate < 1:
        return (u,)
    a, _ = alpha_dropout_affine(rate)
    return (np.where(np.broadcast_to(np.asarray(keep), u.shape).astype(bool), a * u, 0.0),)


# ---- the layers that move values -----------------------------------------------------------

@takes_config
def flatten_vjp(x, *, u, data_format="channels_last"):
    """The forward moves channels_first to channels_last and reads row-major: dx is u read back
    into the channels_last shape, then moved to x's layout."""
    y = flatten(x, data_format=data_format)
    u = cotangent(u, y)
    x = np.asarray(x, np.float64)
    if x.ndim <= 2:
        return (u.reshape(x.shape),)
    return (from_channels_last(u.reshape(to_channels_last(x, data_format).shape), data_format),)


@takes_config
def reshape_vjp(x, *, u, target_shape):
    """dx = u reshaped to x's shape (a reshape keeps the row-major order)."""
    return (cotangent(u, reshape(x, target_shape=target_shape)).reshape(np.shape(x)),)


@takes_config
def permute_vjp(x, *, u, dims):
    """y = transpose(x, (0, *dims)): dx = transpose(u, the inverse permutation)."""
    u = cotangent(u, permute(x, dims=dims))
    return (np.transpose(u, np.argsort((0, *dims))),)


@takes_config
def repeat_vector_vjp(x, *, u, n, spec="keras3"):
    """y[b, i, f] = x[b, f] for each of the n steps i: dx[b, f] = sum_i u[b, i, f]."""
    u = cotangent(u, repeat_vector(x, n=n, spec=spec))
    return (u.sum(axis=1),)


@takes_config
def cropping_vjp(x, *, u, cropping, data_format="channels_last", spec="keras3"):
    """y[b, *t, c] = x[b, *(t + start), c]: dx is u at the kept positions, 0 on the cropped."""
    u = cotangent(u, cropping_layer(x, cropping=cropping, data_format=data_format, spec=spec))
    x = to_channels_last(np.asarray(x, np.float64), data_format)
    pairs = per_axis_pairs(cropping, x.ndim - 2, "cropping")
    kept = tuple(slice(start, max(start, size - end))
                 for size, (start, end) in zip(x.shape[1:-1], pairs))
    dx = np.zeros_like(x)
    dx[(slice(None), *kept)] = to_channels_last(u, data_format)
    return (from_channels_last(dx, data_format),)


@takes_config
def zero_padding_vjp(x, *, u, padding=1, data_format="channels_last"):
    """y = x with (before, after) zeros per spatial axis: dx = u without the padding."""
    u = to_channels_last(cotangent(u, zero_padding(x, padding=padding, data_format=data_format)),
                         data_format)
    pairs = per_axis_pairs(padding, u.ndim - 2, "padding")
    kept = tuple(slice(before, size - after)
                 for size, (before, after) in zip(u.shape[1:-1], pairs))
    return (from_channels_last(u[(slice(None), *kept)], data_format),)


def _linear_along_vjp(g, axis, length, scale):
    """The transpose of spatial._linear_along (output t = (1 - w_t) x[low_t] + w_t x[high_t]):
    dx[p] = sum over the outputs t of g[t] ((1 - w_t) [low_t = p] + w_t [high_t = p])."""
    low, high, weight = source_positions(length, scale)
    g = np.moveaxis(g, axis, 0)
    weight = weight.reshape(-1, *(1,) * (g.ndim - 1))
    dx = np.zeros((length, *g.shape[1:]))
    np.add.at(dx, low, g * (1 - weight))
    np.add.at(dx, high, g * weight)
    return np.moveaxis(dx, 0, axis)


@takes_config
def upsampling_vjp(x, *, u, size=2, data_format="channels_last", interpolation="nearest"):
    """nearest: y[b, *t, c] = x[b, *(t // size), c], so dx[b, *p, c] is the sum of u over the
    size[0] x size[1] x ... block of p. bilinear (2D): the transpose of each axis's linear
    interpolation, the axes in reverse order (_linear_along_vjp)."""
    y = upsampling(x, size=size, data_format=data_format, interpolation=interpolation)
    g = to_channels_last(cotangent(u, y), data_format)
    x = to_channels_last(np.asarray(x, np.float64), data_format)
    size = as_tuple(size, x.ndim - 2, "size")
    for axis in range(len(size), 0, -1):
        n, s = x.shape[axis], size[axis - 1]
        if interpolation == "nearest":
            g = g.reshape(*g.shape[:axis], n, s, *g.shape[axis + 1:]).sum(axis=axis + 1)
        else:
            g = _linear_along_vjp(g, axis, n, s)
    return (from_channels_last(g, data_format),)


# ---- LocallyConnected1D/2D -----------------------------------------------------------------

@takes_config
def locally_connected_vjp(x, kernel, bias=None, *, u, filters, kernel_size, strides=1,
                          padding="valid", data_format="channels_last", activation=None,
                          use_bias=True, implementation=1, spec="keras2"):
    """z[b, *t, f] = sum_{k, c} x[b, *(t*strides + k), c] * w[*t][*k, c, f] + bias[*t, f],
    w = position_kernels(kernel); g = dL/dz. Over the forward's windows():

        dx[b, *p, c] = sum_{(t, k): t*strides + k = p} sum_f g[b, *t, f] * w[*t][*k, c, f]
        dw[*t][*k, c, f] = sum_b x[b, *(t*strides + k), c] * g[b, *t, f]
        dbias[*t, f] = sum_b g[b, *t, f]   (channels_first: read back through the forward's
                                           reshape of the bias)

    position_kernels only gathers kernel entries (each w entry reads one, or is 0), so dkernel
    scatters dw back: applied to the kernel's element numbers (1, 2, ...; 0 = none), the same
    function says which entry each w entry read (np.add.at, implementation 1, 2 or 3 alike).
    Returns (dx, dkernel, dbias), without dbias when use_bias is False."""
    z = locally_connected(x, kernel, bias, filters=filters, kernel_size=kernel_size,
                          strides=strides, padding=padding, data_format=data_format,
                          activation=None, use_bias=use_bias, implementation=implementation,
                          spec=spec)
    g = to_channels_last(activation_vjp(activation, spec)(z, u), data_format)
    x = to_channels_last(np.asarray(x, np.float64), data_format)
    kernel = np.asarray(kernel, np.float64)
    rank = x.ndim - 2
    kernel_size, strides = as_tuple(kernel_size, rank, "kernel_size"), \
        as_tuple(strides, rank, "strides")
    in_shape, channels = x.shape[1:-1], x.shape[-1]
    out_shape = output_shape(in_shape, kernel_size, strides, (1,) * rank, "valid")
    layout = (implementation, data_format, in_shape, channels, out_shape, kernel_size,
              strides, filters)
    w = position_kernels(kernel, *layout)
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for out, taps in windows(in_shape, kernel_size, strides, (1,) * rank, "valid"):
        g_out = g[(slice(None), *out)]
        for tap, pos in taps:
            at = (slice(None), *pos)
            dx[at] += linear_sum(g_out, w[out][tap].T)
            dw[out][tap] += linear_sum(x[at].T, g_out)
    source = position_kernels(np.arange(1.0, kernel.size + 1).reshape(kernel.shape), *layout)
    read = source > 0
    dkernel = np.zeros(kernel.size)
    np.add.at(dkernel, source[read].astype(int) - 1, dw[read])
    grads = (from_channels_last(dx, data_format), dkernel.reshape(kernel.shape))
    if not use_bias:
        return grads
    dbias = g.sum(axis=0)                                          # (*out_shape, filters)
    if data_format == "channels_first":
        dbias = np.moveaxis(dbias, -1, 0)
    return grads + (dbias.reshape(np.shape(bias)),)
