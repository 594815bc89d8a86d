"""The backward pass of the layers of reference/model_layers.py and reference/core.py that
backward_core and backward_misc leave: Softmax (axis, mask), Masking, Identity, Rescaling,
Normalization, Lambda (the catalogue of conformance/lambdas.py) and the seeds' custom MyLayer
(reference/custom.py).

Conventions as reference/backward_core.py: the forward's arguments (@takes_config), the
cotangent `u` keyword-only, (input gradient, weight gradients in get_weights() order); the
forward runs first, for its checks. Rescaling's scale and offset and Normalization's mean and
variance are config or non-trainable weights: only the input has a gradient.

Masks are held fixed, as Keras's autodiff holds them (a mask has no gradient): Masking's
dx = u where the step is kept and 0 where it is masked, although with mask_value 0 the
function itself is y = x near a masked step; Softmax's masked logits get no gradient. tf_keras
without robust_masking rounds the masked Softmax's logits to float32 (x + adder in float32):
the rounding is taken as the identity here (derivative 1), as a float32 Keras differentiates
it; finite differences cannot see through it, so the tests keep to the other paths.
"""
import numpy as np

from reference.activations import softmax
from reference.backward_activations import cotangent
from reference.backward_misc import _sum_to
from reference.config import OutOfScope, takes_config
from reference.core import lambda_layer, linear_sum, masking, masking_mask
from reference.custom import my_layer
from reference.model_layers import (
    OMITTED, _f32, identity, logsumexp_softmax, masked_logits, normalization,
    normalization_statistics, rescaling, softmax_axes, softmax_layer,
)


# ---- Softmax -----------------------------------------------------------------------------

@takes_config
def softmax_layer_vjp(x, mask=None, *, u, axis=-1, robust_masking=OMITTED, spec="keras3"):
    """s = softmax of the masked logits z over the axes A; Keras 3 then zeroes the masked
    outputs (u there reaches nothing). The softmax's VJP over A, then the mask's:

        dz = s * (u - sum_A(u * s)),   dx = dz where the mask keeps, 0 where it masks

    Returns (dx,): the mask is a boolean input, with no gradient."""
    y = softmax_layer(x, mask, axis=axis, robust_masking=robust_masking, spec=spec)
    u = cotangent(u, y)
    x = np.asarray(x, np.float64)
    axes = softmax_axes(axis, x.ndim)
    robust = False if robust_masking is OMITTED else bool(robust_masking)
    z = masked_logits(x, mask, spec, robust)
    s = softmax(z, axis=axes[0]) if len(axes) == 1 else logsumexp_softmax(z, axes)
    if mask is not None and spec == "keras3":
        u = np.where(mask, u, 0.0)
    dz = s * (u - np.sum(u * s, axis=tuple(axes), keepdims=True))
    return (dz if mask is None else np.where(mask, dz, 0.0),)


# ---- the layers that pass or rescale values ----------------------------------------------

@takes_config
def masking_vjp(x, *, u, mask_value=0.0, spec="keras3"):
    """y[b, t, :] = x[b, t, :] where the step is kept (masking_mask), else 0:

        dx[b, t, :] = u[b, t, :] where kept, 0 where masked      (the mask held fixed)"""
    u = cotangent(u, masking(x, mask_value=mask_value, spec=spec))
    keep = masking_mask(x, mask_value=mask_value)[..., None]
    return (np.where(keep, u, 0.0),)


@takes_config
def identity_vjp(x, *, u, spec="keras3"):
    """y = x: dx = u."""
    return (cotangent(u, identity(x, spec=spec)),)


@takes_config
def rescaling_vjp(x, *, u, scale, offset=0.0, spec="keras3"):
    """y = x * scale + offset (float32 scale, broadcast): dx = u * scale, summed back over
    the axes x was broadcast along. Returns (dx,): scale and offset are config."""
    u = cotangent(u, rescaling(x, scale=scale, offset=offset, spec=spec))
    return (_sum_to(u * _f32("scale", scale), np.shape(x)),)


@takes_config
def normalization_vjp(x, *weights, u, axis=-1, mean=None, variance=None, invert=False,
                      spec="keras3"):
    """y = (x - mean) / spread, or with invert mean + x * spread, spread =
    max(sqrt(variance), 1e-7) broadcast over the axes not kept:

        dx = u / spread,   or with invert   dx = u * spread

    Returns (dx,): mean, variance and count are config or non-trainable weights."""
    u = cotangent(u, normalization(x, *weights, axis=axis, mean=mean, variance=variance,
                                   invert=invert, spec=spec))
    _, spread = normalization_statistics(np.shape(x), weights, axis, mean, variance, spec)
    return (u * spread if invert else u / spread,)


# ---- Lambda ------------------------------------------------------------------------------

def _affine_vjp(x, u, scale=1.0, shift=0.0):
    """affine(x) = x * scale + shift: dx = u * scale."""
    return u * scale


def _square_vjp(x, u, scale=1.0):
    """square(x) = x * x * scale: dx = 2 x scale u."""
    return 2.0 * x * scale * u


def _head_vjp(x, u, scale=1.0):
    """head(x) = x[..., :2] * scale: dx[..., :2] = u * scale, 0 on the other features."""
    dx = np.zeros_like(x)
    dx[..., :2] = u * scale
    return dx


# conformance/lambdas.py's catalogue (the functions a Lambda case may name), by name
LAMBDA_VJPS = {"affine": _affine_vjp, "square": _square_vjp, "head": _head_vjp}
LAMBDA_MODULE = "conformance.lambdas"


@takes_config
def lambda_layer_vjp(x, *, u, function, output_shape=None, mask=None, arguments=None):
    """y = function(x, **arguments) for a function of the catalogue (LAMBDA_VJPS: affine,
    square, head); its VJP written out there. output_shape and mask do not change y.
    Returns (dx,); OutOfScope for any other function."""
    y = lambda_layer(x, function=function, output_shape=output_shape, mask=mask,
                     arguments=arguments)
    name = getattr(function, "__name__", None)
    if name not in LAMBDA_VJPS or getattr(function, "__module__", None) != LAMBDA_MODULE:
        raise OutOfScope(f"outside the scope: the gradient of Lambda {function!r} (the "
                         f"catalogue of {LAMBDA_MODULE}: {', '.join(LAMBDA_VJPS)})")
    u = cotangent(u, y)
    return (LAMBDA_VJPS[name](np.asarray(x, np.float64), u, **(arguments or {})),)


# ---- MyLayer -----------------------------------------------------------------------------

@takes_config
def my_layer_vjp(x, kernel, *, u, output_dim):
    """y = x @ kernel: dx[b, i] = sum_j u[b, j] kernel[i, j], dkernel[i, j] = sum_b x[b, i]
    u[b, j]. Returns (dx, dkernel)."""
    u = cotangent(u, my_layer(x, kernel, output_dim=output_dim))
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    return linear_sum(u, kernel.T), linear_sum(x.T, u)
