"""Gradient bounds of BatchNormalization (at inference and in training) and LayerNormalization
(conformance/backward/__init__.py for the twins).

Both compute y = xhat * gamma + beta, xhat = (x - mean) r, r = 1 / sqrt(variance + epsilon),
with a = u * gamma. At inference (BatchNormalization's moving statistics, float32 weights:
exact) dx = a r. With statistics over the axes A (n elements; a training call's batch, or
LayerNormalization's axes) the gradient flows through them too:

    dx = T1 - T2 - T3,   T1 = a r,   T2 = r mean_A(a),   T3 = r^3 d P,
    d = x - mean,   P = mean_A(a d)

(reference/backward_normalization.py's standardize_vjp, written out). Every backend computes
these three terms, whatever its order: TensorFlow and JAX differentiate
x * inv + (beta - mean * inv), inv = gamma * rsqrt(variance + epsilon), so that T2 is
inv * sum(u) / n, and T3 is the variance's gradient, -1/2 r^3 gamma (sum(u x) - mean sum(u)),
times 2 (x - mean) / n; torch differentiates (x - mean) * inv + beta; the fused kernels
(tf_keras, torch's layer_norm) compute the standardized form. So the bound carries each
piece's float32 error (conformance/specs/bounded.py's Bounded: a value and its bound, every
product rounded, cross terms kept):
- mean and variance as the forward computes them (conformance/specs/normalization.py
  statistics_bound: two passes, e_mean and e_var; 0 for the moving statistics);
- r within r * rho, rho = sqrt(D / (D - e_var)) - 1 + INV_ULPS u, D = variance + epsilon
  (normalized_bound's spread, and the rsqrt's own ulps, epsilon rounded to float32); T3's
  r^3 takes it three times through the products;
- d within e_mean + u (|x| + |mean|): the difference where it is taken, or the cancellation of
  x * inv and mean * inv, of sum(u x) and mean * sum(u), where it is not;
- the means over A: float32 sums of n products, tolerance.sum_bound with P's magnitude
  sum_A |a| (|x| + |mean|) (again the cancelling form), plus the elements' carried errors;
- the two subtractions, in either order: u (|T1| + |T2| + |T3|).
LayerNormalization's rms_scaling (Keras 3): y = x r gamma, the variance still about the mean,
so T2 = 0 and P = mean_A(a x) (magnitude sum_A |a x|).

The weights' gradients sum over the axes they are broadcast along (a training call's A for
BatchNormalization, the axes not normalized for LayerNormalization): dgamma = sum u d r
(rms_scaling: u x r), dbeta = sum u, each element's error carried as above, the sum with
tolerance.sum_bound (magnitude sum |u| (|x| + |mean|) r, the cancelling form's; term count
the same sum of ones).

A float32 variance whose error may reach half of variance + epsilon leaves r undetermined: such
a twin is outside the scope (never met in the regimes the twins take).
"""
import math

import numpy as np

import reference.backward as vjps
from conformance import tolerance
from conformance.specs import normalization as normalization_specs
from conformance.specs.bounded import Bounded
from reference.backward_normalization import weight_gradient
from reference.config import OutOfScope
from reference.model_layers import layer_norm_axes, layer_norm_weight_shape
from reference.normalization import broadcast_shape, feature_axes, split_weights, weight_shape

LAYERS = {"BatchNormalization": vjps.batch_normalization_vjp,
          "LayerNormalization": vjps.layer_normalization_vjp}
# layers whose training call is deterministic and is differentiated as one: the batch
# statistics are a function of x (conformance/candidates/gradients.py)
TRAINING_LAYERS = ("BatchNormalization",)


def eligible(case):
    """Every case the common conditions take (a training call included, TRAINING_LAYERS)."""
    return True


def expected(case):
    """(the reference's gradients, their float32 bounds): dx, then dgamma and dbeta where the
    layer has them."""
    if case.layer == "BatchNormalization":
        return _batch_normalization(case)
    return _layer_normalization(case)


def _batch_normalization(case):
    x = np.asarray(case.inputs[0], np.float64)
    u = np.asarray(case.cotangent[0], np.float64)
    config = case.config
    training = bool(case.call_kwargs.get("training")) and config.get("trainable", True)
    grads = vjps.batch_normalization_vjp(x, *case.weights, u=u, **config, training=training,
                                         spec=case.spec)
    axes = feature_axes(config.get("axis", -1), x.ndim)
    center, scale = config.get("center", True), config.get("scale", True)
    shape, view = weight_shape(axes, x.shape), broadcast_shape(axes, x.shape)
    gamma, _, moving_mean, moving_variance = (
        w.reshape(view) for w in split_weights(case.weights, center, scale, shape))
    reduced = tuple(i for i in range(x.ndim) if i not in axes)
    if training:
        mean, variance, _, e_mean, e_var = normalization_specs.statistics_bound(x, axes)
    else:
        mean, variance, e_mean, e_var = moving_mean, moving_variance, 0.0, 0.0
    r = _inverse_spread(variance, e_var, config.get("epsilon", 1e-3))
    d = _deviation(x, mean, e_mean)
    bounds = [_input_bound(u, gamma, x, mean, r, d, reduced if training else None)]
    if scale:
        bounds.append(_weight_bound(Bounded(u, 0.0) * d * r,
                                    np.abs(u) * _reach(x, mean) * r.v, shape, view))
    if center:
        bounds.append(_weight_bound(Bounded(u, 0.0), np.abs(u), shape, view))
    return [np.asarray(g, np.float64) for g in grads], bounds


def _layer_normalization(case):
    x = np.asarray(case.inputs[0], np.float64)
    u = np.asarray(case.cotangent[0], np.float64)
    config = case.config
    grads = vjps.layer_normalization_vjp(x, *case.weights, u=u, **config, spec=case.spec)
    rms = bool(config.get("rms_scaling", False))
    axes, _ = layer_norm_axes(config.get("axis", -1), x.ndim, case.spec)
    axes = tuple(axes)
    shape = layer_norm_weight_shape(config.get("axis", -1), x.shape, case.spec)
    view = shape if len(shape) == x.ndim else tuple(
        d if i in axes else 1 for i, d in enumerate(x.shape))
    has_gamma = bool(config.get("scale", True) or rms)
    gamma = np.asarray(case.weights[0], np.float64).reshape(view) if has_gamma else 1.0
    kept = tuple(i for i in range(x.ndim) if i not in axes)
    mean, variance, _, e_mean, e_var = normalization_specs.statistics_bound(x, kept)
    r = _inverse_spread(variance, e_var, config.get("epsilon", 1e-3))
    d = _deviation(x, mean, e_mean)
    bounds = [_input_bound(u, gamma, x, mean, r, d, axes, rms)]
    if rms:
        ux = Bounded(u * x, tolerance.unit() * np.abs(u * x))
        bounds.append(_weight_bound(ux * r, np.abs(u * x) * r.v, shape, view))
        return [np.asarray(g, np.float64) for g in grads], bounds
    if has_gamma:
        bounds.append(_weight_bound(Bounded(u, 0.0) * d * r,
                                    np.abs(u) * _reach(x, mean) * r.v, shape, view))
    if config.get("center", True):
        bounds.append(_weight_bound(Bounded(u, 0.0), np.abs(u), shape, view))
    return [np.asarray(g, np.float64) for g in grads], bounds


def _reach(x, mean):
    """|x| + |mean|: the magnitude of x - mean where a backend does not take the difference."""
    return np.abs(x) + np.abs(mean)


def _inverse_spread(variance, e_var, epsilon):
    """r = 1 / sqrt(variance + epsilon) as Bounded, within r * rho (module docstring)."""
    U, TINY = tolerance.unit(), tolerance.tiny()
    denominator = variance + epsilon
    if np.any(~(e_var < denominator / 2)):
        raise OutOfScope(f"{tolerance.UNDETERMINED}: a float32 variance whose error may reach "
                         f"half of variance + epsilon leaves 1 / sqrt(variance + epsilon) "
                         f"undetermined")
    spread = np.sqrt(denominator / np.maximum(denominator - e_var, TINY)) - 1.0
    r = 1.0 / np.sqrt(denominator)
    return Bounded(r, r * (spread + normalization_specs.INV_ULPS * U))


def _deviation(x, mean, e_mean):
    """d = x - mean as Bounded, within e_mean + u (|x| + |mean|) (module docstring)."""
    return Bounded(x - mean, e_mean + tolerance.unit() * _reach(x, mean))


def _mean(b, axes, magnitude):
    """The mean over `axes` of Bounded b (kept as axes of 1): a float32 sum of n terms whose
    magnitude is `magnitude`, each term's error carried, then the division."""
    n = math.prod(np.shape(b.v)[a] for a in axes)
    total = np.sum(b.v, axis=axes, keepdims=True)
    error = (tolerance.sum_bound(np.sum(magnitude, axis=axes, keepdims=True), n, total)
             + np.sum(np.broadcast_to(b.e, np.shape(b.v)), axis=axes, keepdims=True))
    value = total / n
    return Bounded(value, error / n + tolerance.unit() * np.abs(value) + tolerance.tiny())


def _input_bound(u, gamma, x, mean, r, d, axes, rms=False):
    """dx's bound: T1 at inference (axes None), T1 - T2 - T3 with statistics over `axes`."""
    U = tolerance.unit()
    a = Bounded(u, 0.0) * gamma
    t1 = a * r
    if axes is None:
        return np.broadcast_to(t1.e, np.shape(x))
    if rms:
        p = _mean(a * Bounded(x, 0.0), axes, np.abs(a.v * x))
        t2 = Bounded(np.zeros_like(t1.v), 0.0)
    else:
        p = _mean(a * d, axes, np.abs(a.v) * _reach(x, mean))
        t2 = r * _mean(a, axes, np.abs(a.v))
    t3 = r * r * r * d * p
    dx = t1.e + t2.e + t3.e + U * (np.abs(t1.v) + np.abs(t2.v) + np.abs(t3.v))
    return np.broadcast_to(dx, np.shape(x))


def _weight_bound(g, magnitude, shape, view):
    """The bound of a weight's gradient sum(g) over the axes it is broadcast along (the
    reference's weight_gradient): sum_bound of the sum, plus the terms' carried errors."""
    g_shape = np.shape(magnitude)
    value = weight_gradient(np.broadcast_to(g.v, g_shape), shape, view)
    terms = weight_gradient(np.ones(g_shape), shape, view)
    carried = weight_gradient(np.broadcast_to(g.e, g_shape), shape, view)
    return (tolerance.sum_bound(weight_gradient(magnitude, shape, view), terms, value,
                                products=True) + carried)




