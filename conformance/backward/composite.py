"""Gradient bounds of the layers built of other computations (conformance/backward/__init__.py
for the twins): SeparableConv2D's two chained sums, TimeDistributed and Sequential through
their inner layers, and Lambda's catalogue of functions (conformance/lambdas.py).

SeparableConv2D: z = d @ P + bias, d = D(x; K) the depthwise sum (kh*kw products per
element), P the pointwise kernel (C*M products per element), y = act(z). Every backend runs
the two stages apart (TensorFlow's separable_conv2d is a depthwise then a 1x1 conv2d; Keras
3 on JAX and torch call depthwise_conv then conv), so its backward is the chain of the two:

    g  = u * act'(z)                    z known within the forward's bound e_z: the larger
                                        of the staged and the fused sum's (as the forward's
                                        spec, conv.py's _separable_expect), g within e_g
                                        (linear.through_derivative)
    dbias[o] = sum_rows g[., o]         a sum of N terms (N = batch * positions)
    dP[i, o] = sum_rows d[., i] g[., o] d is the forward's float32 intermediate, within
                                        e1 = the depthwise sum's bound: N products of two
                                        inexact factors, the carried error
                                        sum(e1 |g| + |d| e_g + e1 e_g)
    dd[., i] = sum_o g[., o] P[i, o]    F products (F filters): within e_dd, its sum's
                                        bound plus e_g carried through |P|
    dx, dK = D's VJP on dd              each element a sum of the products of dd with K (dx)
                                        or with x (dK), counted by the same VJP on ones;
                                        e_dd carried through |K| or |x|.

Each sum's magnitude takes its inexact operand as |value| + its bound (the float32 operand
can be that large), as the forward's staged bound does.

TimeDistributed(Dense) and TimeDistributed(Conv2D): Keras folds time into the batch and calls
the inner layer once (and where it loops over time, the weight gradient sums the same products
in another order, which tolerance.sum_bound admits): the twin is the inner layer's
(linear.py) on the folded input and cotangent, its input gradient unfolded. TimeDistributed
(LSTM) is the recurrent family's twin on the folded input and its steps' mask.

Sequential (the spec's models: Masking or Embedding, then a recurrent layer): the last
layer's twin (its family's) on the input and mask its predecessors hand it, then the chain
back: Masking passes the gradient where it keeps a step and gives 0 where it masks (exact);
an Embedding's table gradient sums, per index, the gradients of the positions that read it:
tolerance.sum_bound over that many terms, each within its bound, plus those bounds summed.
The inner layers' families reach this module through INNER (handed down by the package,
which imports every family): a wrapper has twins once one of its inner layers has a family.

Lambda: y = f(x, **arguments) for a function of the catalogue, whose gradient is a product of
at most three float32 factors (affine: u * scale; head: u * scale on the first two features,
0 elsewhere, exactly; square: 2 * x * scale * u, the doubling exact): each rounding adds
u |dx| and may flush a subnormal result (2^-126). The scale reaches float32 rounded, so its
own rounding, |dx| |scale32 - scale| / |scale|, is carried too.
"""
from dataclasses import replace

import numpy as np

import reference.backward as vjps
from conformance import lambdas, tolerance
from conformance.backward import linear
from reference.conv import depthwise
from reference.backward_conv import depthwise_vjp
from reference.backward_model_layers import LAMBDA_MODULE
from reference.config import OutOfScope
from reference.layout import from_channels_last, to_channels_last
from reference.padding import as_tuple
from reference.core import masking_mask
from reference.sequential import sequential_calls
from reference.wrappers import inner_layer

# the layers each wrapper calls; their families (layer -> family module) are handed down by
# conformance/backward/__init__.py into INNER once every family is loaded (the recurrent
# family is a sibling module this one cannot import without a cycle through the package)
WRAPS = {"TimeDistributed": ("Dense", "Conv2D", "LSTM"), "Sequential": ("SimpleRNN", "GRU", "LSTM")}
INNER = {}
# how many float32 roundings each catalogue function's gradient takes (module docstring)
LAMBDA_ROUNDINGS = {"affine": 1, "head": 1, "square": 2}


def eligible(case):
    """TimeDistributed: an inner layer with a family that takes the folded case; Lambda: a
    function of the catalogue; SeparableConv2D: linear.eligible (an elementwise activation)."""
    try:
        if case.layer in WRAPS:
            inner = _folded(case) if case.layer == "TimeDistributed" else _last_call(case)[0]
            family = INNER.get(inner.layer)
            return family is not None and family.eligible(inner)
        if case.layer == "Lambda":
            function = lambdas.resolve_lambda_config(case.config)["function"]
            return (getattr(function, "__module__", None) == LAMBDA_MODULE
                    and function.__name__ in LAMBDA_ROUNDINGS)
    except OutOfScope:
        return False
    return linear.eligible(case)


def expected(case):
    """(the reference's gradients, their float32 bounds), per LAYERS' layer."""
    return LAYERS[case.layer](case)


# SeparableConv2D --------------------------------------------------------------------------

def _separable(case):
    x, (kernel, pointwise, *bias) = case.inputs[0], case.weights
    config, spec = case.config, case.spec
    data_format = config.get("data_format", "channels_last")
    strides = as_tuple(config.get("strides", 1), 2, "strides")
    dilation = as_tuple(config.get("dilation_rate", 1), 2, "dilation_rate")
    padding = config.get("padding", "valid")
    kernel, p = np.asarray(kernel, np.float64), np.asarray(pointwise, np.float64)[0, 0]
    bias = [np.asarray(b, np.float64) for b in bias]
    u, = case.cotangent
    with np.errstate(invalid="ignore", over="ignore"):
        grads = vjps.separable_conv2d_vjp(x, *case.weights, u=u, **dict(config, spec=spec))
        xc = to_channels_last(np.asarray(x, np.float64), data_format)
        ax, ak, ap = np.abs(xc), np.abs(kernel), np.abs(p)

        def depthwise_of(a, k):
            return depthwise(a, k, strides, padding, dilation)

        def depthwise_back(a, k, g):
            return depthwise_vjp(a, k, strides, padding, dilation, g)

        # the forward: d within e1, z within e_z (the larger of the staged and fused bounds)
        taps, sums = kernel.shape[0] * kernel.shape[1], p.shape[0] + len(bias)
        d, d_magnitude = depthwise_of(xc, kernel), depthwise_of(ax, ak)
        e1 = tolerance.sum_bound(d_magnitude, taps, d, products=True)
        z = d @ p + sum(bias)
        fused = tolerance.sum_bound(d_magnitude @ ap + sum(np.abs(b) for b in bias),
                                    taps * sums, z, products=True)
        staged = tolerance.sum_bound((np.abs(d) + e1) @ ap + sum(np.abs(b) for b in bias),
                                     sums, z, products=True) + e1 @ ap
        g, e_g = linear.through_derivative(
            config.get("activation"), spec, z, np.maximum(fused, staged),
            to_channels_last(np.asarray(u, np.float64), data_format))
        # the backward, stage by stage
        rows_d, rows_e1 = d.reshape(-1, d.shape[-1]), e1.reshape(-1, d.shape[-1])
        rows_g, rows_eg = g.reshape(-1, g.shape[-1]), e_g.reshape(-1, g.shape[-1])
        n = rows_g.shape[0]
        e_pointwise = tolerance.sum_bound(
            (np.abs(rows_d) + rows_e1).T @ (np.abs(rows_g) + rows_eg), n, rows_d.T @ rows_g,
            products=True) + rows_e1.T @ np.abs(rows_g) + np.abs(rows_d).T @ rows_eg \
            + rows_e1.T @ rows_eg
        dd = g @ p.T
        e_dd = tolerance.sum_bound(np.abs(g) @ ap.T, p.shape[1], dd, products=True) + e_g @ ap.T
        magnitude = depthwise_back(ax, ak, np.abs(dd) + e_dd)
        terms = depthwise_back(np.ones_like(xc), np.ones_like(kernel), np.ones_like(dd))
        carried = depthwise_back(ax, ak, e_dd)
        e_x, e_kernel = [tolerance.sum_bound(m, t, v, products=True) + c for m, t, v, c in
                        zip(magnitude, terms, depthwise_back(xc, kernel, dd), carried)]
        bounds = [from_channels_last(e_x, data_format), e_kernel, e_pointwise[None, None]]
        if bias:
            bounds.append(tolerance.sum_bound(np.sum(np.abs(rows_g), axis=0), n,
                                              np.sum(rows_g, axis=0)) + np.sum(rows_eg, axis=0))
    return [np.asarray(v, np.float64) for v in grads], bounds


# TimeDistributed --------------------------------------------------------------------------

def _folded(case):
    """The inner layer's gradient case on the input with batch and time merged: (batch * time,
    ...), its cotangent folded alike (a mask changes nothing a Dense or Conv2D computes)."""
    name, config = inner_layer(case.config["layer"])
    x = np.asarray(case.inputs[0])
    cotangent = None if case.cotangent is None else [
        np.reshape(u, (-1, *np.shape(u)[2:])) for u in case.cotangent]
    mask = case.call_kwargs.get("mask")         # an LSTM's own steps' mask, folded alike
    kwargs = {} if mask is None or name not in WRAPS["Sequential"] else {
        "mask": np.reshape(mask, (-1, *np.shape(mask)[2:]))}
    return replace(case, layer=name, config=config, call_kwargs=kwargs, cotangent=cotangent,
                   inputs=[x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])])


def _time_distributed(case):
    inner = _folded(case)
    grads, bounds = INNER[inner.layer].expected(inner)
    shape = np.shape(case.inputs[0])
    with np.errstate(invalid="ignore", over="ignore"):
        truth = vjps.time_distributed_vjp(case.inputs[0], *case.weights, u=case.cotangent[0],
                                          **case.call_kwargs, **case.config, spec=case.spec)
    folded = [np.reshape(grads[0], shape)] + list(grads[1:])
    scale = max([np.max(np.abs(t), initial=0.0) for t in truth] + [1.0])
    if len(folded) != len(truth) or not all(
            np.allclose(a, b, rtol=1e-9, atol=1e-12 * scale) for a, b in zip(folded, truth)):
        raise AssertionError("TimeDistributed: the folded gradients differ from the slices'")
    return list(truth), [np.reshape(bounds[0], shape)] + list(bounds[1:])


# Sequential -------------------------------------------------------------------------------

def _last_call(case):
    """(the model's last layer as a gradient case of its own, the calls before it): the input
    and mask its predecessors hand it (reference.sequential's layer calls), its weights,
    config and the model's cotangent."""
    calls = sequential_calls(case.inputs[0], case.weights, case.config["layers"], case.spec)
    *before, last = calls
    inner = replace(case, layer=last.class_name, config=last.config, inputs=[last.inputs],
                    weights=list(last.weights),
                    call_kwargs={} if last.mask is None else {"mask": last.mask})
    return inner, before


def _sequential(case):
    """The last layer's family, then the chain back through Masking and Embedding (the
    module docstring); InputLayer passes the gradient on."""
    inner, before = _last_call(case)
    grads, bounds = INNER[inner.layer].expected(inner)
    d, e = grads[0], bounds[0]
    chained = []
    with np.errstate(invalid="ignore", over="ignore"):
        for call in reversed(before):
            if call.class_name == "Masking":
                keep = masking_mask(call.inputs, **call.config, spec=case.spec)[..., None]
                d, e = np.where(keep, d, 0.0), np.where(keep, e, 0.0)
            elif call.class_name == "Embedding":
                def table(w):
                    return vjps.embedding_vjp(call.inputs, *call.weights, u=w, **call.config,
                                              spec=case.spec)[0]
                chained = [tolerance.sum_bound(table(np.abs(d) + e), table(np.ones_like(d)),
                                               table(d)) + table(e)] + chained
                d = None
                break
        first = [] if d is None else [e]
        truth = vjps.sequential_vjp(case.inputs[0], *case.weights, u=case.cotangent,
                                    **case.config, spec=case.spec)
    # the chain's bounds are of the model's own gradients: as many, the last layer's weights'
    # and the input's (where it has one) the same values
    found = first + chained + list(bounds[1:])
    scale = max([np.max(np.abs(t), initial=0.0) for t in truth] + [1.0])
    same = [(a, b) for a, b in zip(grads[1:], truth[len(truth) - len(grads) + 1:])]
    same += [] if d is None else [(d, truth[0])]
    if len(found) != len(truth) or not all(
            np.allclose(a, b, rtol=1e-9, atol=1e-12 * scale) for a, b in same):
        raise AssertionError("Sequential: the chained gradients differ from the model's")
    return [np.asarray(t, np.float64) for t in truth], found


# Lambda -----------------------------------------------------------------------------------

def _lambda(case):
    config = lambdas.resolve_lambda_config(case.config)
    x, (u,) = case.inputs[0], case.cotangent
    dx, = vjps.lambda_layer_vjp(x, u=u, **config)
    scale = float((config.get("arguments") or {}).get("scale", 1.0))
    rounded = abs(float(np.float32(scale)) - scale) / abs(scale) if scale else 0.0
    roundings = LAMBDA_ROUNDINGS[config["function"].__name__]
    bound = (roundings * tolerance.unit() + rounded) * np.abs(dx) + roundings * tolerance.tiny()
    return [dx], [np.where(dx == 0, 0.0, bound)]


LAYERS = {"SeparableConv2D": _separable, "TimeDistributed": _time_distributed,
          "Sequential": _sequential, "Lambda": _lambda}
