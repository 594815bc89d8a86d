"""The backward pass of the core layers with something to differentiate: Dense and Activation.

Each `<layer>_vjp` takes the forward's arguments as the forward does (@takes_config: the
layer's complete get_config()), plus the cotangent `u` (keyword-only, the output's shape), and
returns the gradient of sum(u * y) with respect to each input, then each weight in
get_weights() order, float64. The forward runs first: it checks the config, in one place, and
gives the pre-activation.
"""
import numpy as np

from reference.backward_activations import activation_vjp
from reference.config import takes_config
from reference.core import dense, linear_sum


@takes_config
def dense_vjp(x, kernel, bias=None, *, u, units, activation=None, use_bias=True,
              spec="keras3"):
    """z = x @ kernel + bias, y = act(z); g = dL/dz = activation_vjp(z, u). Then

        dx[..., i] = sum_j g[..., j] * kernel[i, j]
        dkernel[i, j] = sum_r x[r, i] * g[r, j]     r over every leading index (batch, ...)
        dbias[j] = sum_r g[r, j]

    Returns (dx, dkernel, dbias), without dbias when use_bias is False.
    """
    z = dense(x, kernel, bias, units=units, activation=None, use_bias=use_bias, spec=spec)
    g = activation_vjp(activation, spec)(z, u)
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    rows_x, rows_g = x.reshape(-1, x.shape[-1]), g.reshape(-1, units)
    grads = (linear_sum(g, kernel.T), linear_sum(rows_x.T, rows_g))
    return grads + (rows_g.sum(axis=0),) if use_bias else grads


@takes_config
def activation_layer_vjp(x, *, u, activation, spec="keras3"):
    """dx = activation_vjp(x, u): u * act'(x) elementwise, softmax's along the last axis."""
    return (activation_vjp(activation, spec)(x, u),)
