"""Gradient cases: a layer's backward pass judged against the reference's VJPs.

A covering case gets a gradient twin (gradient_twin) where its layer is in LINEAR, its regime
is one where derivatives are defined (GRADIENT_REGIMES), its outputs are finite in float32 and
its activation is elementwise: the
same call, its id with "-grad-", params["contract"] = "gradient", and a cotangent u, one
float32-exact N(0, 1) array per output drawn from the twin's own seed. A candidate gives the
gradients of sum(u * outputs) with respect to the float inputs, then the trainable weights in
get_weights() order (observe()'s "gradients", conformance/candidates/gradients.py); the
expected ones are the reference's analytic VJPs (reference/backward.py, checked against
central differences by tests/test_reference_backward*.py), each element with a float32
bound derived as the forward's are, from the tolerance model's sums:

A layer of LINEAR computes z = L(x, W) (+ bias), a sum of products, then y = act(z). Its
backward pass computes g = u * act'(z), then each gradient as a sum of products of g with x or
W: dx = L_x^T(g; W), dW = L_W^T(g; x), dbias = the sum of g over the batch and positions
(every one of them the VJP of L, linear in g). So each gradient element is a float32 sum,
bounded by tolerance.sum_bound with
- its magnitude: the same VJP on |x|, |W| and |g| (no activation);
- its number of terms: the same VJP on arrays of ones, which counts, per element, the products
  it sums (a "same" convolution's border reads fewer taps; a kernel gradient sums over the
  batch and every position);
and, carried through the same sums (the VJP on |x|, |W| and the bound of g), the error of g
itself: a float32 z is off by the forward's bound e_z (sum_bound of the forward's sum), so
act'(z) by at most max |act'(z +- e_z) - act'(z)| (twice that, for the curvature between the
ends), plus act''s own float32 evaluation, 16 u (|act'(z)| + 1) (1 - tanh(z)^2 and
sigmoid(z) * (1 - sigmoid(z)) cancel: an absolute error of a few u), none for an activation
whose derivative is constant on each piece (relu, hard_sigmoid: exact), and the rounding of
the product u * act'(z). A z within 4 e_z of a kink of the activation (relu's 0) has no
defined derivative for float32 to approximate: the twin is outside the scope (skipped with
that reason), never judged.

Not yet twinned (their bounds are still to derive; their VJPs exist): the recurrent layers,
the normalizations, pooling, the merges, Embedding, attention, and activations that mix a row
(softmax, log_softmax, sparsemax).
"""
from dataclasses import replace

import numpy as np

import reference
import reference.backward as vjps
from conformance import tolerance
from reference.activations import _activation
from reference import activations as a
from reference.config import OutOfScope

# layer -> (its forward, the forward's VJP): a sum of products, then the config's activation
LINEAR = {
    "Dense": (reference.dense, vjps.dense_vjp),
    "Conv1D": (reference.conv, vjps.conv_vjp),
    "Conv2D": (reference.conv, vjps.conv_vjp),
    "Conv3D": (reference.conv, vjps.conv_vjp),
    "DepthwiseConv1D": (reference.depthwise_conv, vjps.depthwise_conv_vjp),
    "DepthwiseConv2D": (reference.depthwise_conv, vjps.depthwise_conv_vjp),
    "Conv2DTranspose": (reference.conv_transpose, vjps.conv_transpose_vjp),
    "LocallyConnected1D": (reference.locally_connected, vjps.locally_connected_vjp),
    "LocallyConnected2D": (reference.locally_connected, vjps.locally_connected_vjp),
}
# the regimes where a derivative is defined and float32 computes it: not NaN and inf
# (special), overflow (large), subnormals (tiny) or inputs on the kinks (ties)
GRADIENT_REGIMES = ("unit", "small", "offset", "long")
# activations whose derivative is a constant on each piece: float32 gives it exactly
PIECEWISE_LINEAR = (a.linear, a.relu, a.relu6, a.leaky_relu, a.hard_sigmoid_keras3,
                    a.hard_sigmoid_keras2, a.hard_tanh, a.hard_shrink, a.soft_shrink,
                    a.sparse_sigmoid)
ROW_MIXING = (a.softmax, a.log_softmax, a.glu, a.sparsemax)
FLOAT32_MAX = float(np.finfo(np.float32).max)
KINK_MARGIN = 4.0          # a z nearer a kink than this many times its bound is not judged


def takes_gradient(case):
    """Whether a covering case gets a gradient twin (the module docstring)."""
    if (case.layer not in LINEAR or case.out_of_scope or case.expected is None
            or case.params.get("regime") not in GRADIENT_REGIMES or case.params.get("contract")
            or case.call_kwargs.get("training") or case.check is not None):
        return False
    if not all(np.all(np.abs(y) < FLOAT32_MAX) for y in case.expected):
        return False            # an output float32 cannot hold: no gradient to speak of
    if any(np.size(y) == 0 for y in case.expected):
        # an empty output has no cotangent to weigh (and TensorFlow's gradient of an empty
        # Conv2DTranspose gives dx the output's shape: not pursued yet)
        return False
    try:
        return _activation(case.config.get("activation"), case.spec) not in ROW_MIXING
    except ValueError:
        return False


def gradient_twin(case, seed):
    """The gradient twin of a covering case: its call, with a cotangent drawn from `seed`."""
    rng = np.random.default_rng(seed)
    cotangent = [rng.standard_normal(np.shape(y)).astype(np.float32) for y in case.expected]
    return replace(case, id=case.id.replace(f"{case.layer}-", f"{case.layer}-grad-", 1),
                   params={**case.params, "contract": "gradient"}, cotangent=cotangent,
                   expected=None, bounds=None, observed=None, overflow=None,
                   expected_mask=None, expected_dtypes=None, check=None)


def expected_gradients(case):
    """(the reference's gradients, their float32 bounds) for a gradient case, one array per
    float input, then per trainable weight; OutOfScope where a derivative is not defined."""
    forward, vjp = LINEAR[case.layer]
    x, weights, config = case.inputs[0], case.weights, case.config
    u, = case.cotangent
    name, spec = config.get("activation"), case.spec
    linear = dict(config, activation=None, spec=spec)
    magnitudes = _absolute([x, *weights])
    ones = [np.ones(np.shape(w)) for w in [x, *weights]]
    with np.errstate(invalid="ignore", over="ignore"):
        z = forward(x, *weights, **linear)
        z_bound = tolerance.sum_bound(forward(*magnitudes, **linear), forward(*ones, **linear),
                                      z, products=True)
        g, g_bound = _through_derivative(name, spec, z, z_bound, np.asarray(u, np.float64))
        grads = vjp(x, *weights, u=u, **dict(config, spec=spec))
        magnitude = vjp(*magnitudes, u=np.abs(g), **linear)
        terms = vjp(*ones, u=np.ones_like(g), **linear)
        carried = vjp(*magnitudes, u=g_bound, **linear)
    bounds = [tolerance.sum_bound(m, t, value, products=True) + c
              for m, t, value, c in zip(magnitude, terms, grads, carried)]
    return [np.asarray(v, np.float64) for v in grads], bounds


def _absolute(arrays):
    return [np.abs(np.asarray(w, np.float64)) for w in arrays]


def _through_derivative(name, spec, z, z_bound, u):
    """g = u * act'(z) and its float32 bound (the module docstring); OutOfScope where z lies
    within KINK_MARGIN of its bound from a kink."""
    # a seam (elu's 0) keeps the derivative continuous: only kinks count
    near = np.zeros(z.shape, bool)
    for kink in vjps.kinks(name, spec):
        near |= np.abs(z - kink) <= KINK_MARGIN * z_bound
    if np.any(near):
        index = tuple(int(i) for i in np.argwhere(near)[0])
        raise OutOfScope(f"the derivative is not defined near {name}'s kink: the "
                         f"pre-activation {float(z[index]):.3g} at {index} lies within "
                         f"{KINK_MARGIN:g} times its float32 bound of it")
    derivative = vjps.activation_vjp(name, spec)
    ones = np.ones_like(z)
    slope = derivative(z, ones)
    if _activation(name, spec) in PIECEWISE_LINEAR:
        off = np.zeros_like(z)
    else:
        moved = np.maximum(np.abs(derivative(z + z_bound, ones) - slope),
                           np.abs(derivative(z - z_bound, ones) - slope))
        off = 2.0 * moved + 16.0 * tolerance.unit() * (np.abs(slope) + 1.0)
    g = u * slope
    return g, np.abs(u) * off + tolerance.unit() * np.abs(g)
