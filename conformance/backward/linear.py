"""Gradient bounds of the layers that compute a sum of products, then an elementwise
activation (conformance/backward/__init__.py for the twins).

A layer of LAYERS computes z = L(x, W) (+ bias), a sum of products, then y = act(z): Dense,
the convolutions, locally connected, EinsumDense (the sum over its contracted letters; an
input letter summed alone is not among the spec's equations) and the seeds' MyLayer (x @ W). Its
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
"""
import numpy as np

import reference
import reference.backward as vjps
from conformance import tolerance
from conformance.backward.guards import near_kink
from reference.activations import _activation
from reference import activations as a

def _my_layer(x, kernel, *, activation=None, spec=None, **config):
    """The seeds' MyLayer, y = x @ kernel (no bias, no activation), as LAYERS calls it."""
    return reference.my_layer(x, kernel, **config)


def _my_layer_vjp(x, kernel, *, u, activation=None, spec=None, **config):
    return vjps.my_layer_vjp(x, kernel, u=u, **config)


# layer -> (its forward, the forward's VJP): a sum of products, then the config's activation
LAYERS = {
    "Dense": (reference.dense, vjps.dense_vjp),
    "Conv1D": (reference.conv, vjps.conv_vjp),
    "Conv2D": (reference.conv, vjps.conv_vjp),
    "Conv3D": (reference.conv, vjps.conv_vjp),
    "DepthwiseConv1D": (reference.depthwise_conv, vjps.depthwise_conv_vjp),
    "DepthwiseConv2D": (reference.depthwise_conv, vjps.depthwise_conv_vjp),
    "Conv2DTranspose": (reference.conv_transpose, vjps.conv_transpose_vjp),
    "LocallyConnected1D": (reference.locally_connected, vjps.locally_connected_vjp),
    "LocallyConnected2D": (reference.locally_connected, vjps.locally_connected_vjp),
    "EinsumDense": (reference.einsum_dense, vjps.einsum_dense_vjp),
    "MyLayer": (_my_layer, _my_layer_vjp),
}
# activations whose derivative is a constant on each piece: float32 gives it exactly
PIECEWISE_LINEAR = (a.linear, a.relu, a.relu6, a.leaky_relu, a.hard_sigmoid_keras3,
                    a.hard_sigmoid_keras2, a.hard_tanh, a.hard_shrink, a.soft_shrink,
                    a.sparse_sigmoid)
ROW_MIXING = (a.softmax, a.log_softmax, a.glu, a.sparsemax)


def eligible(case):
    """An elementwise activation: a row-mixing one (softmax) has its own backward."""
    try:
        return _activation(case.config.get("activation"), case.spec) not in ROW_MIXING
    except ValueError:
        return False


def expected(case):
    """(the reference's gradients, their float32 bounds) for a gradient case, one array per
    float input, then per trainable weight; OutOfScope where a derivative is not defined."""
    forward, vjp = LAYERS[case.layer]
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
        g, g_bound = through_derivative(name, spec, z, z_bound, np.asarray(u, np.float64))
        grads = vjp(x, *weights, u=u, **dict(config, spec=spec))
    return [np.asarray(v, np.float64) for v in grads], sums_bounds(
        vjp, [x, *weights], g, g_bound, grads, **linear)


def sums_bounds(vjp, arrays, g, g_bound, values, **linear):
    """The bounds of gradients that are float32 sums of products of g with the float32-exact
    `arrays` (vjp: a VJP linear in g, called with the `linear` config, no activation), g
    known within g_bound: the module docstring's magnitude, term count and carried error."""
    magnitudes = _absolute(arrays)
    ones = [np.ones(np.shape(w)) for w in arrays]
    with np.errstate(invalid="ignore", over="ignore"):
        magnitude = vjp(*magnitudes, u=np.abs(g), **linear)
        terms = vjp(*ones, u=np.ones_like(g), **linear)
        carried = vjp(*magnitudes, u=g_bound, **linear)
    return [tolerance.sum_bound(m, t, value, products=True) + c
            for m, t, value, c in zip(magnitude, terms, values, carried)]


def _absolute(arrays):
    return [np.abs(np.asarray(w, np.float64)) for w in arrays]


def through_derivative(name, spec, z, z_bound, u):
    """g = u * act'(z) and its float32 bound (the module docstring); OutOfScope where z lies
    within KINK_MARGIN of its bound from a kink."""
    # a seam (elu's 0) keeps the derivative continuous: only kinks count
    near_kink(name, spec, z, z_bound)
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
