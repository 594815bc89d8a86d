"""Gradient bounds of the layers that act on each element alone: Activation, ReLU, LeakyReLU,
ELU, ThresholdedReLU, PReLU, Normalization and ActivityRegularization
(conformance/backward/__init__.py for the twins).

Each computes y = f(x) elementwise on its float32-exact input, so its backward pass is
dx = u * f'(x), one product per element, and no sum:
- a piecewise-linear f (ReLU, LeakyReLU, PReLU, ThresholdedReLU, ELU for x > 0, the
  Activation layer's relu, relu6, hard_sigmoid...) has a slope that is a float32 constant on
  each piece (or, for LeakyReLU and ReLU, the config's float64 slope, which an engine may
  use: u more), so dx is one rounded product: 2 u |dx|;
- a smooth f (the Activation layer's tanh, sigmoid, gelu...) goes through linear.py's
  through_derivative with z = x and z's bound 0 (x is exact): f' evaluated in float32 within
  16 u (|f'(x)| + 1), which covers a derivative computed from the output (1 - y^2,
  y (1 - y), TensorFlow's elu and selu from y + alpha), then the product. Where autodiff
  writes f' as x times a factor that cancels (mish: tanh(sp) + x (1 - tanh(sp)^2) sigmoid(x);
  silu: sigmoid(x) (1 + x (1 - sigmoid(x))); gelu, hard_silu) that factor's absolute error of
  a few u grows with |x|: 16 u (|f'(x)| + 1) (1 + |x|) (tf.keras's mish at x = 8.13 was off
  by 44 u of |u| where 16 u (|f'| + 1) allowed 32);
- ELU for x < 0: alpha exp(x), computed as alpha exp(x) or from the output, y + alpha, whose
  cancellation leaves an absolute error of a few u |alpha|: 16 u (|f'| + |alpha|), and the
  product;
- Normalization: dx = u / spread, or u * spread when inverted, spread = max(sqrt(variance),
  1e-7) in float32 (its sqrt within an ulp, the division or product one more): 3 u |dx|;
- ActivityRegularization: y = x, dx = u exactly (bound 0). Its loss is no output: the
  candidates differentiate sum(u * y) over the outputs (conformance/candidates/gradients.py),
  and Keras adds the activity loss to layer.losses, which a cotangent of the outputs does
  not reach, so the twin's cotangent covers y alone (u_loss = 0 in the reference's VJP); the
  loss's own gradient, (l1 sign(x) + 2 l2 x) / batch, is not judged.
- PReLU's alpha gradient sums u * min(x, 0) over the batch and the shared axes: a float32
  sum of products, tolerance.sum_bound with its magnitude (the same sum of |u min(x, 0)|)
  and its term count (the same sum of ones).

Kinks. The float32 comparisons of ReLU, LeakyReLU, PReLU, ELU and ThresholdedReLU read the
input itself against a float32 breakpoint, so only an input exactly on one (0, the
threshold, max_value, theta) has no derivative to approximate: that twin is outside the
scope. The Activation layer's activations may compare an intermediate instead (hard_sigmoid's
0.2 x + 0.5, hard_silu's x + 3), whose rounding moves a breakpoint by a few of its ulps: there
an input within KINK_ULPS u |kink| of a kink is outside the scope (a kink at 0 is compared
exactly: relu, relu6 and leaky_relu read x > 0 or max(x, 0)). selu's backward pass may pick
its piece from the output instead (TensorFlow's SeluGrad: outputs < 0), which is 0 for
|x| below about u: Activation("selu") at x = -1e-14 gives TensorFlow's slope scale, 1.05,
where the truth is scale * alpha, 1.76; there the margin is KINK_ULPS u (|kink| + 1).

sparsemax is not twinned: its gradient depends on a support found by a float32 sort and
cumulative sum, whose threshold's float32 error and stability are still to derive, and Keras
3's sparsemax forward is itself a known divergence on every backend (its threshold from the
sum of the running sums), so no oracle would vouch for such a twin.
"""
import numpy as np

import reference.backward as vjps
from conformance import tolerance
from conformance.backward.linear import PIECEWISE_LINEAR, through_derivative
from conformance.backward.softmax import activation_rows
from reference import activations as a
from reference.activations import _activation, sigmoid
from reference.advanced_activations import _float32
from reference.backward_misc import _sum_to
from reference.config import OutOfScope
from reference.model_layers import _f32

KINK_ULPS = 16.0         # the Activation layer: how far (in u |kink|) a kink may move
# activations whose derivative, as autodiff writes it, multiplies x by a factor that cancels
# (module docstring)
TIMES_X = (a.mish, a.silu, a.gelu, a.hard_silu)
# activations whose backward pass picks the piece from the float32 output, which rounds to 0
# on either side of a kink at 0 (module docstring)
OUTPUT_DECIDED = (a.selu,)


def _activation_layer(case):
    """dx = u * act'(x); softmax and log_softmax: conformance/backward/softmax.py; glu:
    dp = u sigmoid(q), dq = (u p) sigmoid'(q), each as through_derivative gives it."""
    x, = case.inputs
    u = np.asarray(case.cotangent[0], np.float64)
    name, spec = case.config["activation"], case.spec
    function = _activation(name, spec)
    dx, = vjps.activation_layer_vjp(x, u=u, activation=name, spec=spec)
    x = np.asarray(x, np.float64)
    if function in (a.softmax, a.log_softmax):
        _, bound = activation_rows(function.__name__, x, u)
    elif function is a.glu:
        p, q = np.split(x, 2, axis=-1)
        _, dp_bound = through_derivative("softplus", spec, q, np.zeros_like(q), u)
        up = u * p
        dq, dq_bound = through_derivative("sigmoid", spec, q, np.zeros_like(q), up)
        carried = tolerance.unit() * np.abs(up) * np.abs(sigmoid(q) * sigmoid(-q))
        bound = np.concatenate([dp_bound, dq_bound + carried], axis=-1)
    else:
        for kink in vjps.kinks(name, spec):
            reach = abs(kink) + (function in OUTPUT_DECIDED)
            _refuse_kink(x, np.abs(x - kink) <= KINK_ULPS * tolerance.unit() * reach,
                         f"{name}'s kink {kink:g}")
        _, bound = through_derivative(name, spec, x, np.zeros_like(x), u)
        if function in PIECEWISE_LINEAR:      # a slope of float32 or of float64 (0.2, 1/6)
            bound = bound + tolerance.unit() * np.abs(dx)
        if function in TIMES_X:               # 16 u (|f'| + 1) (1 + |x|) in all
            slope = vjps.activation_vjp(name, spec)(x, np.ones_like(x))
            bound = bound + np.abs(u) * 16.0 * tolerance.unit() * (np.abs(slope) + 1) * np.abs(x)
    return [dx], [bound]


def _refuse_kink(x, near, where):
    if np.any(near):
        index = tuple(int(i) for i in np.argwhere(near)[0])
        raise OutOfScope(f"the derivative is not defined at {where}: the input "
                         f"{float(x[index]):.9g} at {index} is on it, or within the float32 "
                         f"rounding that may move it")


def _piecewise(dx, ulps=2.0):
    """One rounded product u * slope (module docstring)."""
    return ulps * tolerance.unit() * np.abs(dx) + tolerance.tiny()


def _relu(case):
    x, = case.inputs
    config = case.config
    _refuse_kink(x, x == float(_f32("threshold", config.get("threshold", 0.0))),
                 "ReLU's threshold")
    if config.get("max_value") is not None:
        _refuse_kink(x, x == float(_f32("max_value", config["max_value"])), "ReLU's max_value")
    dx, = vjps.relu_layer_vjp(x, u=case.cotangent[0], **config, spec=case.spec)
    return [dx], [_piecewise(dx)]


def _leaky_relu(case):
    x, = case.inputs
    _refuse_kink(x, x == 0, "LeakyReLU's 0")
    dx, = vjps.leaky_relu_vjp(x, u=case.cotangent[0], **case.config, spec=case.spec)
    return [dx], [_piecewise(dx)]


def _elu(case):
    x, = case.inputs
    alpha = float(_float32("alpha", case.config.get("alpha", 1.0)))
    if alpha != 1.0:
        _refuse_kink(x, x == 0, "ELU's 0 (alpha is not 1)")
    dx, = vjps.elu_vjp(x, u=case.cotangent[0], **case.config, spec=case.spec)
    x = np.asarray(x, np.float64)
    u = np.asarray(case.cotangent[0], np.float64)
    slope = np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))
    off = np.where(x > 0, 0.0, 16.0 * tolerance.unit() * (np.abs(slope) + abs(alpha)))
    return [dx], [np.abs(u) * off + _piecewise(dx, 1.0)]


def _thresholded_relu(case):
    x, = case.inputs
    theta = float(_float32("theta", case.config.get("theta", 1.0)))
    _refuse_kink(x, x == theta, "ThresholdedReLU's theta")
    dx, = vjps.thresholded_relu_vjp(x, u=case.cotangent[0], **case.config, spec=case.spec)
    return [dx], [tolerance.exact()]


def _prelu(case):
    x, = case.inputs
    alpha, = case.weights
    _refuse_kink(x, x == 0, "PReLU's 0")
    u = np.asarray(case.cotangent[0], np.float64)
    dx, d_alpha = vjps.prelu_vjp(x, alpha, u=u, **case.config, spec=case.spec)
    x = np.asarray(x, np.float64)
    shape = np.shape(alpha)
    with np.errstate(invalid="ignore", over="ignore"):
        magnitude = _sum_to(np.abs(u * np.minimum(x, 0.0)), shape)
        terms = _sum_to(np.ones_like(x), shape)
        alpha_bound = tolerance.sum_bound(magnitude, terms, d_alpha, products=True)
    return [dx, d_alpha], [_piecewise(dx), alpha_bound]


def _normalization(case):
    x, = case.inputs
    dx, = vjps.normalization_vjp(x, *case.weights, u=case.cotangent[0], **case.config,
                                 spec=case.spec)
    return [dx], [_piecewise(dx, 3.0)]


def _activity_regularization(case):
    """The twin's cotangent holds y's alone (the module docstring): u_loss = 0."""
    x, = case.inputs
    if len(case.cotangent) != 1:
        raise ValueError(f"an ActivityRegularization twin weighs its output alone, got "
                         f"{len(case.cotangent)} cotangents")
    dx, = vjps.activity_regularization_vjp(x, u=[case.cotangent[0], 0.0], **case.config)
    return [dx], [tolerance.exact()]


# layer -> its gradients and bounds (each a function of the twin)
LAYERS = {
    "Activation": _activation_layer,
    "ReLU": _relu,
    "LeakyReLU": _leaky_relu,
    "ELU": _elu,
    "ThresholdedReLU": _thresholded_relu,
    "PReLU": _prelu,
    "Normalization": _normalization,
    "ActivityRegularization": _activity_regularization,
}


def eligible(case):
    """Every case of these layers, but the Activation layer's sparsemax (module docstring)."""
    if case.layer != "Activation":
        return True
    try:
        return _activation(case.config.get("activation"), case.spec) is not a.sparsemax
    except ValueError:
        return False


def expected(case):
    """(the reference's gradients, their float32 bounds): dx, then PReLU's dalpha."""
    grads, bounds = LAYERS[case.layer](case)
    return [np.asarray(g, np.float64) for g in grads], bounds

