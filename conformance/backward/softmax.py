"""Gradient bounds of the softmaxes, which mix a row: the Softmax layer (one axis or several,
with a mask), and the Activation layer's softmax and log_softmax (their row helpers are
here; conformance/backward/elementwise.py dispatches to them).

softmax. s = softmax(z) over the axes A (n elements), and the backward pass of every backend
computes dz = s * (u - t), t = sum_A(u * s) (TensorFlow's SoftmaxGrad, torch's
_softmax_backward_data, JAX's custom_jvp), or, over several axes, the autodiff of
exp(z - logsumexp(z)): dz_i = y_i u_i - s_i t, y and s two float32 evaluations of the same
softmax. Both are these pieces, each carried as a float32 error:
- s within e_s of its value, per element: the forward's own bound (tolerance.softmax_bound
  over one axis, model_reductions.logsumexp_softmax_bound over several);
- t a float32 sum of n products u_j s_j: tolerance.sum_bound(sum_A |u| s, n, t), plus the
  error of s carried through it, e_t = ... + sum_A |u| e_s;
- the difference and the product: dz' - dz = ds (u - t) - s dt - ds dt, so
      |dz' - dz| <= e_s (|u| + |t|) + s e_t + e_s e_t + u (s + e_s)(|u| + |t|) + u |dz|,
  the rounding term covering either order (s (u - t), or s u - s t).
A logit masked by the layer gets no gradient (Keras 3 selects -1e9 where the mask is False,
tf_keras with robust_masking too): dz there is exactly 0, as the reference says. tf_keras
without robust_masking adds -1e9 in float32 instead, through which TensorFlow's autodiff
passes the gradient as through the identity; a masked logit beside a kept one has s = 0
there (exp(-1e9)), so its gradient is 0 either way, but a group masked throughout is the
softmax of logits that keep no digit of x (x + -1e9 rounds to a multiple of 64): a
function of x constant between its float32 steps, which TensorFlow differentiates as the
identity. The truth there is not settled (the reference gives 0): such a twin is outside the
scope.

log_softmax. dz = u - s * sum_A(u) (TensorFlow's LogSoftmaxGrad, exp of the output times the
sum): |error| <= e_s |sum u| + s e_sum + e_s e_sum + u (|u| + (s + e_s) |sum u|) + u |dz|,
e_sum = tolerance.sum_bound(sum_A |u|, n, sum u).
"""
import math

import numpy as np

import reference.backward as vjps
from conformance import tolerance
from conformance.specs import model_reductions
from reference.activations import softmax
from reference.config import OutOfScope
from reference.model_layers import logsumexp_softmax, masked_logits, softmax_axes

LAYERS = {"Softmax": vjps.softmax_layer_vjp}


def eligible(case):
    """Every Softmax case the common conditions take (conformance/backward/__init__.py)."""
    return True


def expected(case):
    """(the reference's gradient, its bound) for a Softmax twin: dx only (the mask is a
    boolean input)."""
    x = np.asarray(case.inputs[0], np.float64)
    mask = case.call_kwargs.get("mask")
    u = np.asarray(case.cotangent[0], np.float64)
    robust = bool(case.config.get("robust_masking", False))
    axes = softmax_axes(case.config.get("axis", -1), x.ndim)
    if mask is not None and case.spec == "keras2" and not robust:
        kept = np.any(np.broadcast_to(mask, x.shape), axis=tuple(axes))
        if not np.all(kept):
            raise OutOfScope("outside the scope: a Softmax group masked throughout in tf_keras "
                             "without robust_masking, whose logits x + -1e9 keep no digit of x "
                             "(float32 steps of 64): constant in x, while TensorFlow "
                             "differentiates the addition as the identity")
    dx, = vjps.softmax_layer_vjp(x, mask, u=u, **case.config, spec=case.spec)
    z = masked_logits(x, mask, case.spec, robust)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if len(axes) == 1:
            s = softmax(z, axis=axes[0])
            e_s = tolerance.softmax_bound(z, 0.0, axis=axes[0])
        else:
            s = logsumexp_softmax(z, axes)
            e_s = model_reductions.logsumexp_softmax_bound(z, axes, s)
    if mask is not None and case.spec == "keras3":
        u = np.where(mask, u, 0.0)          # the masked outputs are set to 0: u reaches nothing
    _, bound = softmax_gradient(s, e_s, u, tuple(axes))
    if mask is not None:
        bound = np.where(np.broadcast_to(mask, x.shape), bound, 0.0)     # exactly 0
    return [dx], [bound]


def softmax_gradient(s, e_s, u, axes):
    """(dz, its bound) for dz = s * (u - sum_axes(u * s)), s within e_s (module docstring)."""
    U = tolerance.unit()
    n = math.prod(np.shape(s)[a] for a in axes)
    with np.errstate(invalid="ignore", over="ignore"):
        t = np.sum(u * s, axis=axes, keepdims=True)
        e_t = (tolerance.sum_bound(np.sum(np.abs(u) * s, axis=axes, keepdims=True), n, t)
               + np.sum(np.abs(u) * e_s, axis=axes, keepdims=True))
        dz = s * (u - t)
        spread = np.abs(u) + np.abs(t)
        bound = (e_s * spread + s * e_t + e_s * e_t + U * (s + e_s) * spread + U * np.abs(dz)
                 + tolerance.tiny())
    return dz, bound


def log_softmax_gradient(s, e_s, u, axes):
    """(dz, its bound) for dz = u - s * sum_axes(u), s within e_s (module docstring)."""
    U = tolerance.unit()
    n = math.prod(np.shape(s)[a] for a in axes)
    with np.errstate(invalid="ignore", over="ignore"):
        total = np.sum(u, axis=axes, keepdims=True)
        e_sum = tolerance.sum_bound(np.sum(np.abs(u), axis=axes, keepdims=True), n, total)
        dz = u - s * total
        bound = (e_s * np.abs(total) + s * e_sum + e_s * e_sum
                 + U * (np.abs(u) + (s + e_s) * np.abs(total)) + U * np.abs(dz)
                 + tolerance.tiny())
    return dz, bound


def activation_rows(function_name, x, u):
    """(dz, bound) of the Activation layer's softmax or log_softmax (over the last axis) at
    its float32-exact input x."""
    x = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        s = softmax(x, axis=-1)
        e_s = tolerance.softmax_bound(x, 0.0, axis=-1)
    rows = log_softmax_gradient if function_name == "log_softmax" else softmax_gradient
    return rows(s, e_s, np.asarray(u, np.float64), (x.ndim - 1,))


