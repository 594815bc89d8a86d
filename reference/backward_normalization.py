"""The backward pass of the normalizations: BatchNormalization at inference and in training,
LayerNormalization (reference/model_layers.py) and ActivityRegularization.

Both normalizations compute y = xhat * gamma + beta, xhat = (x - mean) / s,
s = sqrt(variance + epsilon). BatchNormalization at inference (or trainable=False) takes
mean and variance from its moving statistics: constants, so dx = u gamma / s. In training it
takes them over the batch (every axis not in `axis`), as LayerNormalization takes them over
`axis`: then mean and variance depend on x, and the gradient flows through them too
(standardize_vjp, the standard formula). gamma's and beta's gradients sum u xhat and u over
the axes they are broadcast along. The moving statistics are not trained (no gradient).

Conventions as reference/backward_core.py: the forward's arguments (@takes_config), the
cotangent `u` keyword-only, (dx, dgamma when scale, dbeta when center). BatchNormalization's
forward returns [y, the weights after the call]: u is the cotangent of y alone (the moving
statistics' update is an assignment, not an output to differentiate).
"""
import math

import numpy as np

from reference.backward_activations import cotangent
from reference.config import takes_config
from reference.model_layers import (
    OMITTED, layer_norm_axes, layer_norm_weight_shape, layer_normalization, layer_statistics,
)
from reference.normalization import (
    activity_regularization, batch_normalization, batch_statistics, broadcast_shape,
    feature_axes, split_weights, weight_shape,
)


def standardize_vjp(x, mean, variance, epsilon, d_xhat, axes):
    """The VJP of xhat = (x - mean) / s, s = sqrt(variance + epsilon), mean and biased
    variance taken over `axes` (n elements each):

        dx = (d_xhat - mean(d_xhat) - xhat * mean(d_xhat * xhat)) / s      (means over axes)

    the first term the direct path, the second through the mean, the third through the
    variance. Returns (xhat, dx)."""
    s = np.sqrt(variance + epsilon)
    xhat = (x - mean) / s
    dx = (d_xhat - np.mean(d_xhat, axis=axes, keepdims=True)
          - xhat * np.mean(d_xhat * xhat, axis=axes, keepdims=True)) / s
    return xhat, dx


def weight_gradient(g, shape, view):
    """The gradient of a weight of `shape`, reshaped (C order) to `view` and broadcast against
    x: g (x's shape) summed over the axes where view is 1, reshaped back to `shape`."""
    stretched = tuple(a for a in range(g.ndim) if view[a] == 1 and g.shape[a] != 1)
    return np.sum(g, axis=stretched, keepdims=True).reshape(shape)


@takes_config
def batch_normalization_vjp(x, *weights, u, axis=-1, momentum=0.99, epsilon=1e-3, center=True,
                            scale=True, training=False, trainable=True, synchronized=False,
                            renorm=False, renorm_clipping=None, renorm_momentum=0.99,
                            fused=None, virtual_batch_size=None, spec="keras3"):
    """y[b, ..., c, ...] = xhat * gamma[c] + beta[c]; with R the axes not in `axis`,

        inference:  xhat = (x - moving_mean) / s, s = sqrt(moving_variance + epsilon),
                    dx = u gamma / s
        training:   xhat over the batch statistics, dx = standardize_vjp(u gamma) over R
        dgamma[c] = sum_R u xhat,   dbeta[c] = sum_R u

    Returns (dx, dgamma when scale, dbeta when center); u is y's cotangent."""
    y, _ = batch_normalization(
        x, *weights, axis=axis, momentum=momentum, epsilon=epsilon, center=center, scale=scale,
        training=training, trainable=trainable, synchronized=synchronized, renorm=renorm,
        renorm_clipping=renorm_clipping, renorm_momentum=renorm_momentum, fused=fused,
        virtual_batch_size=virtual_batch_size, spec=spec)
    u = cotangent(u, y)
    x = np.asarray(x, np.float64)
    axes = feature_axes(axis, x.ndim)
    shape, view = weight_shape(axes, x.shape), broadcast_shape(axes, x.shape)
    reduced = tuple(i for i in range(x.ndim) if i not in axes)
    gamma, _, moving_mean, moving_variance = (
        w.reshape(view) for w in split_weights(weights, center, scale, shape))
    if training and trainable:
        mean, variance, _ = batch_statistics(x, axes)
        xhat, dx = standardize_vjp(x, mean, variance, epsilon, u * gamma, reduced)
    else:
        s = np.sqrt(moving_variance + epsilon)
        xhat, dx = (x - moving_mean) / s, u * gamma / s
    grads = (dx,) + (weight_gradient(u * xhat, shape, view),) * scale
    return grads + (weight_gradient(u, shape, view),) * center


@takes_config
def layer_normalization_vjp(x, *weights, u, axis=-1, epsilon=1e-3, center=True, scale=True,
                            rms_scaling=OMITTED, spec="keras3"):
    """y = xhat * gamma + beta, xhat standardized over `axis` (A, n elements), gamma and beta
    placed by layer_norm_axes (a C-order reshape to x's rank):

        dx = standardize_vjp(u gamma) over A,  dgamma = sum_{not A} u xhat,  dbeta = sum_{not A} u

    rms_scaling (Keras 3): y = x / s * gamma, s = sqrt(variance + epsilon), the variance
    still about the mean: with a = u gamma,
        dx = a / s - (x - mean) * sum_A(a x) / (n s^3),   dgamma = sum_{not A} u x / s.
    Returns (dx, dgamma when scale or rms_scaling, dbeta when center and not rms_scaling)."""
    y = layer_normalization(x, *weights, axis=axis, epsilon=epsilon, center=center,
                            scale=scale, rms_scaling=rms_scaling, spec=spec)
    u = cotangent(u, y)
    rms = rms_scaling is not OMITTED and bool(rms_scaling)
    x = np.asarray(x, np.float64)
    axes, _ = layer_norm_axes(axis, x.ndim, spec)
    shape = layer_norm_weight_shape(axis, x.shape, spec)
    # the forward's placement: a weight of x's rank as it is, any other reshaped to view
    view = shape if len(shape) == x.ndim else tuple(
        d if i in axes else 1 for i, d in enumerate(x.shape))
    has_gamma = bool(scale or rms)
    gamma = np.asarray(weights[0], np.float64).reshape(view) if has_gamma else 1.0
    mean, variance = layer_statistics(x, axes)
    axes = tuple(axes)
    if rms:
        s = np.sqrt(variance + epsilon)
        a = u * gamma
        n = math.prod(x.shape[i] for i in axes)
        dx = a / s - (x - mean) * np.sum(a * x, axis=axes, keepdims=True) / (n * s ** 3)
        return dx, weight_gradient(u * x / s, shape, view)
    xhat, dx = standardize_vjp(x, mean, variance, epsilon, u * gamma, axes)
    grads = (dx,) + (weight_gradient(u * xhat, shape, view),) * has_gamma
    return grads + (weight_gradient(u, shape, view),) * bool(center)


@takes_config
def activity_regularization_vjp(x, *, u, l1=0.0, l2=0.0):
    """[y, loss] = [x, (l1 sum|x| + l2 sum x^2) / batch]; u = [u_y, u_loss] (u_loss a scalar):

        dx = u_y + u_loss (l1 sign(x) + 2 l2 x) / batch

    (|x| has a kink at 0 when l1 != 0: cases keep x away from 0). Returns (dx,)."""
    y, loss = activity_regularization(x, l1=l1, l2=l2)
    if not isinstance(u, (list, tuple)) or len(u) != 2:
        raise ValueError("the cotangent must be a list of 2: the output's and the loss's")
    u_y, u_loss = cotangent(u[0], y), cotangent(u[1], loss)
    x = np.asarray(x, np.float64)
    if x.shape[0] == 0:
        return (u_y,)
    return (u_y + u_loss * (l1 * np.sign(x) + 2.0 * l2 * x) / x.shape[0],)
