"""Gradient bounds of MultiHeadAttention and ReversibleEmbedding (conformance/backward/__init__.py
for the twins), stage by stage: each backward stage is a float32 sum of products whose
operands are known within bounds (the forward's stages, conformance/attention_bounds.py, or
the backward's previous stage), bounded by `contraction`:

    a sum of n products a_i b_i, a known within e_a and b within e_b:
    sum_bound((|a| + e_a) . (|b| + e_b), n, value) + e_a . |b| + |a| . e_b + e_a . e_b

(n counted by the same contraction on ones: a masked or causal row sums as many terms as
Keras does, zeros included).

MultiHeadAttention (reference/attention.py's formula; canonical layout, u the output's
cotangent, exact):

    dWo = sum_rows attention u, dbo = sum_rows u     attention within the forward's e_att
    do  = u Wo^T                                     N*V... F products of exact operands
    dp  = do v^T (+ the scores' cotangent)           V products; v within the forward's e_v;
                                                     zeroed where Keras 3's Softmax layer
                                                     zeroes p
    dv  = p^T do                                     T products; p within e_p
    sigma = sum_j dp_j s_j,  dz = s (dp - sigma)     s = softmax(logits), within e_p (and the
                                                     several-axes softmax's distance to it):
                                                     dz is bounded for both ways backends
                                                     evaluate it, s (dp - sigma) and
                                                     s dp - s sigma, whose error is the larger:
                                                     e_s (|dp| + |sigma|) + |s| (e_dp + e_sigma)
                                                     + u (|s dp| + |s sigma| + |dz|)
    ds  = dz where the mask keeps, 0 where it masks  (exact)
    dq  = c ds k,  dk = ds^T (c q)                   S or T products; c = 1/sqrt(key_dim) in
                                                     float32 and its product, whether Keras
                                                     scales q or the sum: 2 u of the magnitude
    dquery = dq Wq^T, dWq = sum_rows query dq, dbq = sum_rows dq (and key, value alike;
    a key given by the value adds its two gradients: one more rounding).

The value and key are call arguments (the query is the case's input): their gradients follow
the query's (conformance/candidates/gradients.py). Not the large or special regimes (none of
the gradient regimes): a saturated softmax's bound would be vacuous.

ReversibleEmbedding: the lookup's gradient sums the cotangent's rows of the positions that
read each index (a sum of that many terms, no products); the reverse projection z = x W is
linear.py's sum of products, its soft cap y = c tanh(z / c) an activation whose derivative
1 - tanh(z / c)^2 is carried as linear.through_derivative carries tanh's (z / c within
e_z / c + u |z / c|), with two more roundings (u * c, then / c).
"""
import numpy as np

import reference
import reference.backward as vjps
from conformance import tolerance
from conformance.attention_bounds import call_arrays, stage_bounds
from conformance.backward import linear
from reference.activations import softmax
from reference.attention import canonical, from_canonical, multi_head_attention
from reference.config import OutOfScope


def eligible(case):
    return True


def expected(case):
    return LAYERS[case.layer](case)


def contraction(subscripts, a, e_a, b, e_b):
    """(value, bound, magnitude) of the float32 sum of products np.einsum(subscripts, a, b),
    a and b known within e_a and e_b (the module docstring)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    e_a, e_b = np.broadcast_to(e_a, a.shape), np.broadcast_to(e_b, b.shape)

    def of(x, y):
        return np.einsum(subscripts, x, y)
    value, magnitude = of(a, b), of(np.abs(a) + e_a, np.abs(b) + e_b)
    terms = of(np.ones(a.shape), np.ones(b.shape))
    carried = of(e_a, np.abs(b)) + of(np.abs(a), e_b) + of(e_a, e_b)
    return value, tolerance.sum_bound(magnitude, terms, value, products=True) + carried, \
        magnitude


def _row_sum(rows, e_rows):
    """The bound of sum_rows of `rows` (R, ...) within e_rows: a sum of R terms."""
    return tolerance.sum_bound(np.sum(np.abs(rows) + e_rows, axis=0), rows.shape[0],
                               np.sum(rows, axis=0)) + np.sum(e_rows, axis=0)


# MultiHeadAttention -----------------------------------------------------------------------

def _projection_back(x, kernel, dp, e_dp, use_bias):
    """Bounds of (dx, dkernel[, dbias]) of a projection p = x kernel + bias, dp within e_dp."""
    rows_x = x.reshape(-1, x.shape[-1])
    rows_dp, rows_e = dp.reshape(-1, *dp.shape[-2:]), e_dp.reshape(-1, *dp.shape[-2:])
    bounds = [contraction("...nh,dnh->...d", dp, e_dp, kernel, 0.0)[1],
              contraction("rd,rnh->dnh", rows_x, 0.0, rows_dp, rows_e)[1]]
    return bounds + ([_row_sum(rows_dp, rows_e)] if use_bias else [])


def _rounded_rows(case, stages):
    """OutOfScope for a row masked everywhere whose logits tf_keras rounds (without
    softmax_robust_masking it adds -1e9 in float32, reference.attention.masked_logits): the
    row's logits are then float32(s - 1e9), a step function of the scores s, whose derivative
    the reference takes as 0 (reference/backward_attention.py) while autodiff differentiates
    the addition (derivative 1, as reference/backward_model_layers.py takes the Softmax
    layer's same rounding): which is the truth is a convention, not settled here."""
    if case.spec != "keras2" or case.config.get("softmax_robust_masking"):
        return
    masked = ~np.any(np.broadcast_to(stages["mask"], stages["logits"].shape), axis=-1)
    if np.any(masked):
        raise OutOfScope("outside the scope: a row of attention logits masked everywhere, "
                         "which tf_keras rounds to float32(score - 1e9): the derivative of "
                         "that rounding (0, or 1 as autodiff takes it) is a convention")


def _multi_head_attention(case):
    u = tolerance.unit()
    config, call, spec = case.config, call_arrays(case), case.spec
    query = np.asarray(case.inputs[0], np.float64)
    value = np.asarray(case.call_kwargs["value"], np.float64)
    key = value if call["key"] is None else np.asarray(call["key"], np.float64)
    weights = [np.asarray(w, np.float64) for w in case.weights]
    use_bias = config.get("use_bias", True)
    wq, wk, wv, wo = weights[::2] if use_bias else weights
    with np.errstate(invalid="ignore", over="ignore"):
        grads = vjps.multi_head_attention_vjp(
            query, value, *case.weights, **call, **config, spec=spec,
            u=case.cotangent if call["return_attention_scores"] else case.cotangent[0])
        stages = multi_head_attention(query, value, *case.weights, **call, **config,
                                      stages=True, spec=spec)
        _rounded_rows(case, stages)
        errors = stage_bounds(case, stages)
        axes, c = stages["axes"], stages["scale"]
        u_y = np.asarray(case.cotangent[0], np.float64)
        # the output projection
        attention, e_att = stages["attention"], errors["attention"]
        flat_wo = wo.reshape(*wo.shape[:2], -1)
        rows_u = u_y.reshape(-1, flat_wo.shape[-1])
        rows_att = attention.reshape(-1, *wo.shape[:2])
        e_wo = contraction("rnh,rf->nhf", rows_att, e_att.reshape(rows_att.shape), rows_u,
                           0.0)[1].reshape(wo.shape)
        e_bo = _row_sum(rows_u, 0.0).reshape(wo.shape[2:])
        d_att, e_datt, _ = contraction("rf,nhf->rnh", rows_u, 0.0, flat_wo, 0.0)
        d_o = canonical(d_att.reshape(attention.shape), axes)
        e_do = canonical(e_datt.reshape(attention.shape), axes)
        # the weighted sum of the values
        v, e_v, probs, e_p = stages["v"], errors["v"], stages["probs"], errors["probs"]
        d_p, e_dp, _ = contraction("...nth,...nsh->...nts", d_o, e_do, v, e_v)
        if call["return_attention_scores"]:
            d_p = d_p + np.asarray(case.cotangent[1], np.float64).reshape(d_p.shape)
            e_dp = e_dp + u * np.abs(d_p) + tolerance.tiny()
        mask = np.broadcast_to(stages["mask"], d_p.shape)
        if spec == "keras3" and not stages["fused"]:
            d_p, e_dp = np.where(mask, d_p, 0.0), np.where(mask, e_dp, 0.0)
        d_v, e_dv, _ = contraction("...nts,...nth->...nsh", probs, e_p, d_o, e_do)
        # the softmax and the mask
        s = softmax(stages["logits"], axis=-1)
        e_s = e_p + np.abs(s - probs)
        sigma, e_sigma, _ = contraction("...s,...s->...", d_p, e_dp, s, e_s)
        sigma, e_sigma = sigma[..., None], e_sigma[..., None]
        d_z = s * (d_p - sigma)
        e_dz = (e_s * (np.abs(d_p) + np.abs(sigma)) + (np.abs(s) + e_s) * (e_dp + e_sigma)
                + u * (np.abs(s * d_p) + np.abs(s * sigma) + np.abs(d_z)) + 3 * tolerance.tiny())
        d_s, e_ds = np.where(mask, d_z, 0.0), np.where(mask, e_dz, 0.0)
        # the scores: c q k^T
        q, k, e_q, e_k = stages["q"], stages["k"], errors["q"], errors["k"]
        d_q, e_dq, m_dq = contraction("...nts,...nsh->...nth", d_s, e_ds, k, e_k)
        d_q, e_dq = c * d_q, c * e_dq + 2 * u * c * m_dq
        d_k, e_dk, m_dk = contraction("...nts,...nth->...nsh", d_s, e_ds, c * q,
                                      c * e_q + 2 * u * c * np.abs(q))
        e_dk = e_dk + 2 * u * m_dk
        # the input projections
        heads = (config["num_heads"], config["key_dim"])
        q_shape, k_shape = query.shape[:-1] + heads, key.shape[:-1] + heads
        b_query = _projection_back(query, wq, from_canonical(d_q, q_shape, axes),
                                   from_canonical(e_dq, q_shape, axes), use_bias)
        b_key = _projection_back(key, wk, from_canonical(d_k, k_shape, axes),
                                 from_canonical(e_dk, k_shape, axes), use_bias)
        value_dim = config.get("value_dim") or config["key_dim"]
        v_shape = value.shape[:-1] + (config["num_heads"], value_dim)
        b_value = _projection_back(value, wv, from_canonical(d_v, v_shape, axes),
                                   from_canonical(e_dv, v_shape, axes), use_bias)
    if call["key"] is None:         # the value serves as the key: its two gradients added
        inputs = [b_query[0], b_value[0] + b_key[0] + u * np.abs(grads[1])]
    else:
        inputs = [b_query[0], b_value[0], b_key[0]]
    bounds = inputs + b_query[1:] + b_key[1:] + b_value[1:] + [e_wo] + ([e_bo] if use_bias
                                                                        else [])
    return [np.asarray(g, np.float64) for g in grads], bounds


# ReversibleEmbedding ----------------------------------------------------------------------

def _reversible_embedding(case):
    x, weights, config, spec = case.inputs[0], case.weights, case.config, case.spec
    u, = case.cotangent
    reverse = bool(case.call_kwargs.get("reverse"))
    linear_config = dict(config, logit_soft_cap=None, reverse=reverse, spec=spec)
    with np.errstate(invalid="ignore", over="ignore"):
        grads = vjps.reversible_embedding_vjp(x, *weights, u=u, **config, reverse=reverse,
                                              spec=spec)
        if not reverse:          # sums of the cotangent's rows, counted on ones
            def lookup(w):
                return vjps.reversible_embedding_vjp(x, *weights, u=w, **linear_config)
            bounds = [tolerance.sum_bound(m, t, v) for m, t, v in
                      zip(lookup(np.abs(u)), lookup(np.ones(np.shape(u))), grads)]
            return [np.asarray(g, np.float64) for g in grads], bounds
        g, e_g = np.asarray(u, np.float64), np.zeros(np.shape(u))
        cap = config.get("logit_soft_cap")
        if cap is not None:
            magnitudes = [np.abs(np.asarray(a, np.float64)) for a in (x, *weights)]
            ones = [np.ones(np.shape(a)) for a in (x, *weights)]

            def forward(*arrays):
                return reference.reversible_embedding(*arrays, **linear_config)
            z = forward(x, *weights)
            e_z = tolerance.sum_bound(forward(*magnitudes), forward(*ones), z, products=True)
            w = z / cap
            g, e_g = linear.through_derivative("tanh", spec, w, e_z / abs(cap)
                                               + tolerance.unit() * np.abs(w), g)
            e_g = e_g + 2 * tolerance.unit() * np.abs(g)

        def projection_vjp(*arrays, u):
            return vjps.reversible_embedding_vjp(*arrays, u=u, **linear_config)
        bounds = linear.sums_bounds(projection_vjp, [x, *weights], g, e_g, grads)
    return [np.asarray(v, np.float64) for v in grads], bounds


LAYERS = {"MultiHeadAttention": _multi_head_attention,
          "ReversibleEmbedding": _reversible_embedding}
