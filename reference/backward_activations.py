"""The backward pass of the activations of reference/activations.py, and the cotangent check
every backward function shares.

activation_vjp(name, spec)(x, u) is the gradient of sum(u * act(x)) with respect to x, x the
activation's input (a layer's pre-activation), u of act(x)'s shape. An elementwise activation
gives u * act'(x), act' written once below (DERIVATIVES); softmax, log_softmax, glu and
sparsemax mix a row and have their own VJP (ROW_VJPS).

Where the derivative is not defined the truth is not defined either: cases keep away from
those points. kinks(name, spec) lists them for an elementwise activation (relu's 0, relu6's 0
and 6, hard_sigmoid's breakpoints, the jumps of hard_shrink); seams(name, spec) lists the
points where the formula changes but the derivative stays continuous (elu's 0), which a finite
difference must not straddle either; kink_distance(name, x, spec) is how far each element of
x lies from the nearest one (sparsemax: from its row's threshold tau, where an element enters
or leaves the support). At a kink itself this module returns the one-sided value of the
comparison the forward writes (relu'(0) = 0, as x > 0 gives), which is a convention, not a
truth.
"""
import math

import numpy as np

from reference import activations as a
from reference.activations import _activation, sigmoid, softmax, softplus, sparsemax

SQRT_2PI = math.sqrt(2.0 * math.pi)


def cotangent(u, y):
    """u as float64, checked to have the shape of the output y it weighs."""
    u = np.asarray(u, np.float64)
    if u.shape != np.shape(y):
        raise ValueError(f"the cotangent's shape {u.shape} is not the output's {np.shape(y)}")
    return u


def _indicator(condition):
    return condition.astype(np.float64)


def elu_derivative(x, alpha=1.0):
    """1 for x > 0, alpha * exp(x) otherwise (a kink at 0 unless alpha = 1)."""
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))


def celu_derivative(x, alpha=1.0):
    """1 for x > 0, exp(x / alpha) otherwise (continuous at 0: a seam)."""
    return np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0) / alpha))


def leaky_relu_derivative(x, negative_slope=0.2):
    """1 for x > 0, negative_slope otherwise."""
    return np.where(x > 0, 1.0, negative_slope)


def gelu_derivative(x):
    """Phi(x) + x phi(x), phi the standard normal density (the exact gelu, approximate=False,
    the only one a name gives)."""
    return 0.5 * a._erfc(-x * a.SQRT_HALF) + x * np.exp(-0.5 * x * x) / SQRT_2PI


def mish_derivative(x):
    """tanh(softplus(x)) + x (1 - tanh(softplus(x))^2) sigmoid(x)."""
    t = np.tanh(softplus(x))
    return t + x * (1.0 - t * t) * sigmoid(x)


def shrink_derivative(x, threshold=0.5):
    """hard_shrink and soft_shrink: 1 where |x| > threshold, 0 elsewhere (kinks at +-threshold;
    hard_shrink even jumps there)."""
    return _indicator(np.abs(x) > threshold)


DERIVATIVES = {
    a.linear: np.ones_like,
    a.relu: lambda x: _indicator(x > 0),
    a.tanh: lambda x: 1.0 - np.tanh(x) ** 2,
    a.sigmoid: lambda x: sigmoid(x) * sigmoid(-x),
    a.hard_sigmoid_keras3: lambda x: _indicator((x > -3) & (x < 3)) / 6.0,
    a.hard_sigmoid_keras2: lambda x: _indicator((x > -2.5) & (x < 2.5)) * 0.2,
    a.elu: elu_derivative,
    a.selu: lambda x: a.SELU_SCALE * elu_derivative(x, a.SELU_ALPHA),
    a.softplus: sigmoid,
    a.softsign: lambda x: 1.0 / (1.0 + np.abs(x)) ** 2,
    a.exponential: np.exp,
    a.gelu: gelu_derivative,
    a.mish: mish_derivative,
    a.relu6: lambda x: _indicator((x > 0) & (x < 6)),
    a.leaky_relu: leaky_relu_derivative,
    a.silu: lambda x: sigmoid(x) * (1.0 + x * sigmoid(-x)),
    a.hard_silu: lambda x: a.hard_sigmoid_keras3(x) + x * _indicator((x > -3) & (x < 3)) / 6.0,
    a.hard_tanh: lambda x: _indicator(np.abs(x) < 1),
    a.celu: celu_derivative,
    a.log_sigmoid: lambda x: sigmoid(-x),
    a.tanh_shrink: lambda x: np.tanh(x) ** 2,
    a.hard_shrink: shrink_derivative,
    a.soft_shrink: shrink_derivative,
    a.sparse_plus: lambda x: np.where(x <= -1, 0.0, np.where(x < 1, 0.5 * (x + 1.0), 1.0)),
    a.sparse_sigmoid: lambda x: _indicator(np.abs(x) < 1) * 0.5,
    a.squareplus: lambda x: 0.5 * (1.0 + x / np.hypot(x, 2.0)),     # b = 4: sqrt(b) = 2
}

# (kinks, seams) of the elementwise activations, at the parameters a name gives
BREAKS = {
    a.relu: ((0.0,), ()), a.relu6: ((0.0, 6.0), ()), a.leaky_relu: ((0.0,), ()),
    a.hard_sigmoid_keras3: ((-3.0, 3.0), ()), a.hard_sigmoid_keras2: ((-2.5, 2.5), ()),
    a.hard_silu: ((-3.0, 3.0), ()), a.hard_tanh: ((-1.0, 1.0), ()),
    a.hard_shrink: ((-0.5, 0.5), ()), a.soft_shrink: ((-0.5, 0.5), ()),
    a.sparse_sigmoid: ((-1.0, 1.0), ()), a.selu: ((0.0,), ()),
    a.elu: ((), (0.0,)), a.celu: ((), (0.0,)), a.softsign: ((), (0.0,)),
    a.sparse_plus: ((), (-1.0, 1.0)),
}


def softmax_vjp(x, u, axis=-1):
    """s * (u - sum(u * s)) along `axis`, s = softmax(x)."""
    s = softmax(x, axis)
    return s * (u - np.sum(u * s, axis=axis, keepdims=True))


def log_softmax_vjp(x, u, axis=-1):
    """u - softmax(x) * sum(u) along `axis`."""
    return u - softmax(x, axis) * np.sum(u, axis=axis, keepdims=True)


def glu_vjp(x, u, axis=-1):
    """y = p * sigmoid(q), (p, q) the halves of x: dp = u sigmoid(q), dq = u p sigmoid'(q)."""
    p, q = np.split(x, 2, axis=axis)
    return np.concatenate([u * sigmoid(q), u * p * sigmoid(q) * sigmoid(-q)], axis=axis)


def sparsemax_vjp(x, u, axis=-1):
    """s * (u - sum(u * s) / sum(s)) along `axis`, s = 1 on the support (sparsemax(x) > 0):
    the Jacobian diag(s) - s s^T / |S| (Martins and Astudillo 2016). Undefined where an element
    sits exactly at its row's threshold tau (kink_distance)."""
    s = _indicator(sparsemax(x, axis) > 0)
    return s * (u - np.sum(u * s, axis=axis, keepdims=True) / np.sum(s, axis=axis, keepdims=True))


ROW_VJPS = {a.softmax: softmax_vjp, a.log_softmax: log_softmax_vjp, a.glu: glu_vjp,
            a.sparsemax: sparsemax_vjp}


def activation_vjp(name, spec="keras3"):
    """(x, u) -> the gradient of sum(u * act(x)) with respect to x, for the activation Keras
    means by `name` (None: linear; the names and the refusals of activations.activation)."""
    function = _activation(name, spec)

    def vjp(x, u):
        x = np.asarray(x, np.float64)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            if function in ROW_VJPS:
                return ROW_VJPS[function](x, cotangent(u, function(x)))
            return cotangent(u, x) * DERIVATIVES[function](x)
    return vjp


def kinks(name, spec="keras3"):
    """The inputs where the elementwise activation `name` has no derivative (a list, empty for
    the smooth ones). sparsemax's kinks depend on the whole row: see kink_distance."""
    return list(BREAKS.get(_activation(name, spec), ((), ()))[0])


def seams(name, spec="keras3"):
    """The inputs where the formula of `name` changes while its derivative stays continuous."""
    return list(BREAKS.get(_activation(name, spec), ((), ()))[1])


def kink_distance(name, x, spec="keras3", axis=-1):
    """Per element of x, the distance to the nearest kink or seam of `name` (inf if none);
    for sparsemax, |x - tau| with tau the threshold of the row along `axis`."""
    x = np.asarray(x, np.float64)
    function = _activation(name, spec)
    if function is a.sparsemax:
        s = _indicator(sparsemax(x, axis) > 0)
        tau = (np.sum(x * s, axis=axis, keepdims=True) - 1.0) / np.sum(s, axis=axis,
                                                                    keepdims=True)
        return np.abs(x - tau)
    points = kinks(name, spec) + seams(name, spec)
    return np.min([np.abs(x - p) for p in points], axis=0) if points else np.full(x.shape, np.inf)
