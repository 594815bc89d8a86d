"""The backward pass of reference/attention.py: EinsumDense, MultiHeadAttention and
ReversibleEmbedding (both directions).

Conventions as reference/backward_core.py: the forward's arguments (@takes_config: the
layer's complete get_config(); the call's arrays and flags as the forward takes them), the
cotangent `u` keyword-only, (input gradients, weight gradients in get_weights() order); the
forward runs first, for its checks and its stages.

Masks are held fixed: a masked attention score or logit gets no gradient (the forward replaces
it by a constant, or, in tf_keras, by the float32 sum score + -1e9, whose derivative is 0
away from the rounding's steps). Over several attention axes the forward rounds the
logsumexp to float32 (several_axes_softmax); the VJP here is the exact softmax's over the
flattened attention positions, as a float32 Keras differentiates it (finite differences
cannot see through that rounding: the tests use one attention axis).
"""
import string

import numpy as np

from reference.activations import softmax
from reference.backward_activations import activation_vjp, cotangent
from reference.backward_misc import _sum_to, embedding_vjp
from reference.backward_recurrent import _cotangents, arguments
from reference.attention import (
    canonical, einsum_dense, from_canonical, multi_head_attention, reversible_embedding,
    split_equation,
)
from reference.config import takes_config
from reference.core import linear_sum


# ---- EinsumDense -------------------------------------------------------------------------

def spelled_equation(equation, rank):
    """(input, kernel, output) letters of the equation with its ellipsis spelled out in
    fresh letters for an input of `rank` (NumPy's einsum sums no ellipsis away)."""
    given, kernel, out, elided = split_equation(equation)
    used = set(given + kernel + out)
    fresh = "".join([c for c in string.ascii_letters if c not in used][:rank - len(given)])
    if elided == "left":
        return fresh + given, kernel, fresh + out
    if elided == "right":
        return given + fresh, kernel, out + fresh
    return given, kernel, out


@takes_config
def einsum_dense_vjp(x, kernel=None, bias=None, *, u, equation, output_shape, bias_axes=None,
                     activation=None, spec="keras3"):
    """z = einsum(equation, x, kernel) + bias, y = act(z); g = dL/dz = activation_vjp(z, u).
    With X, K, Z the letters of x, kernel and z:

        dkernel[K] = sum over the letters not in K of x[X] * g[Z]
        dx[X] = sum over the letters not in X of g[Z] * kernel[K]
               (an input letter in neither Z nor K was summed alone: dx is constant along it)
        dbias = g summed over the axes the bias was broadcast along

    Returns (dx, dkernel, dbias), without dbias when there is no bias."""
    z = einsum_dense(x, kernel, bias, equation=equation, output_shape=output_shape,
                     bias_axes=bias_axes, activation=None, spec=spec)
    g = activation_vjp(activation, spec)(z, u)
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    given, kernel_letters, out = spelled_equation(equation, x.ndim)
    d_kernel = np.einsum(f"{given},{out}->{kernel_letters}", x, g)
    present = "".join(c for c in given if c in out or c in kernel_letters)
    dx = np.einsum(f"{out},{kernel_letters}->{present}", g, kernel)
    dx = np.broadcast_to(dx.reshape([x.shape[i] if c in present else 1
                                     for i, c in enumerate(given)]), x.shape).copy()
    return (dx, d_kernel) + (() if bias is None else (_sum_to(g, np.shape(bias)),))


# ---- MultiHeadAttention ------------------------------------------------------------------

def project_vjp(x, kernel, dp):
    """The VJP of attention.project, p[.., n, h] = sum_d x[.., d] kernel[d, n, h] + bias[n, h]:
    dx[.., d] = sum_{n,h} dp[.., n, h] kernel[d, n, h], dkernel[d, n, h] = sum_.. x[.., d]
    dp[.., n, h], dbias[n, h] = sum_.. dp[.., n, h]. Returns (dx, dkernel, dbias)."""
    rows_x, rows_dp = x.reshape(-1, x.shape[-1]), dp.reshape(-1, *dp.shape[-2:])
    return (np.einsum("...nh,dnh->...d", dp, kernel),
            np.einsum("rd,rnh->dnh", rows_x, rows_dp), rows_dp.sum(axis=0))


def attention_core_vjp(parts, d_probs_extra, d_o, spec):
    """The VJP of the attention proper (attention_parts), canonical layout: for
    o = p v, p = softmax(z) (Keras 3's Softmax layer: then 0 where masked), z = s where the
    mask keeps, s = (q / sqrt(H)) k^T:

        dp = do v^T (+ the scores' own cotangent),  dv = p^T do
        dz = p~ * (dp - sum_j dp p~),  p~ = softmax(z)     (dp zeroed where the layer zeroes p)
        ds = dz where kept, 0 where masked
        dq = ds k / sqrt(H),  dk = ds^T q / sqrt(H)

    Returns (dq, dk, dv), canonical."""
    probs, mask, scale = parts["probs"], parts["mask"], parts["scale"]
    d_probs = np.einsum("...nth,...nsh->...nts", d_o, parts["v"]) + d_probs_extra
    d_v = np.einsum("...nts,...nth->...nsh", probs, d_o)
    if spec == "keras3" and not parts["fused"]:
        d_probs = np.where(mask, d_probs, 0.0)
    s = softmax(parts["logits"], axis=-1)
    d_scores = np.where(mask, s * (d_probs - np.sum(d_probs * s, axis=-1, keepdims=True)), 0.0)
    d_q = scale * np.einsum("...nts,...nsh->...nth", d_scores, parts["k"])
    d_k = scale * np.einsum("...nts,...nth->...nsh", d_scores, parts["q"])
    return d_q, d_k, d_v


def multi_head_attention_vjp(query, value, *weights, key=None, attention_mask=None,
                             use_causal_mask=False, return_attention_scores=False,
                             training=None, u, **config):
    """The chain of multi_head_attention's formula, last stage first (g = u's weight):

        dWo[n, h, f] = sum_.. o[.., n, h] u[.., f],  dbo = sum_.. u,
        do[.., n, h] = sum_f u[.., f] Wo[n, h, f]
        dq, dk, dv = attention_core_vjp(do)          (the mask and the softmax)
        dquery, dWq, dbq = project_vjp(query, Wq, dq)    (and key, value alike)

    u: y's cotangent, or [y's, the attention scores'] with return_attention_scores. Returns
    (dquery, dvalue, dkey when key is given (else its gradient is in dvalue: key = value),
    then the weight gradients in get_weights() order: Wq, bq, Wk, bk, Wv, bv, Wo, bo, without
    the biases when use_bias is False). attention_mask is a boolean input: no gradient."""
    call = dict(key=key, attention_mask=attention_mask, use_causal_mask=use_causal_mask,
                return_attention_scores=return_attention_scores, training=training)
    parts = multi_head_attention(query, value, *weights, **call, **config, stages=True)
    args = arguments(multi_head_attention, config)
    if return_attention_scores:
        u_y, u_scores = _cotangents(u, [parts["y"], parts["scores"]])
        d_probs_extra = u_scores.reshape(parts["probs"].shape)
    else:
        u_y, d_probs_extra = cotangent(u, parts["y"]), 0.0
    weights = [np.asarray(w, np.float64) for w in weights]
    wq, wk, wv, wo = weights[::2] if args["use_bias"] else weights
    query, value = np.asarray(query, np.float64), np.asarray(value, np.float64)
    key_array = value if key is None else np.asarray(key, np.float64)
    attention, axes = parts["attention"], parts["axes"]
    flat_wo = wo.reshape(*wo.shape[:2], -1)
    rows_u = u_y.reshape(-1, flat_wo.shape[-1])
    d_wo = np.einsum("rnh,rf->nhf", attention.reshape(-1, *wo.shape[:2]), rows_u)
    d_attention = np.einsum("rf,nhf->rnh", rows_u, flat_wo).reshape(attention.shape)
    d_q, d_k, d_v = attention_core_vjp(parts, d_probs_extra, canonical(d_attention, axes),
                                       args["spec"])
    heads = (args["num_heads"], args["key_dim"])
    value_dim = args["key_dim"] if args["value_dim"] is None else args["value_dim"]
    dquery, dwq, dbq = project_vjp(query, wq, from_canonical(
        d_q, query.shape[:-1] + heads, axes))
    dkey, dwk, dbk = project_vjp(key_array, wk, from_canonical(
        d_k, key_array.shape[:-1] + heads, axes))
    dvalue, dwv, dbv = project_vjp(value, wv, from_canonical(
        d_v, value.shape[:-1] + (args["num_heads"], value_dim), axes))
    inputs = (dquery, dvalue + dkey) if key is None else (dquery, dvalue, dkey)
    d_out = (d_wo.reshape(wo.shape), rows_u.sum(axis=0).reshape(wo.shape[2:]))
    if args["use_bias"]:
        return (*inputs, dwq, dbq, dwk, dbk, dwv, dbv, *d_out)
    return (*inputs, dwq, dwk, dwv, d_out[0])


# ---- ReversibleEmbedding -----------------------------------------------------------------

@takes_config
def reversible_embedding_vjp(x, embeddings, reverse_embeddings=None, *, u, input_dim,
                             output_dim, tie_weights=True, mask_zero=False, reverse_dtype=None,
                             logit_soft_cap=None, reverse=False, spec="keras3"):
    """reverse=False: the lookup's VJP (backward_misc.embedding_vjp: a repeated index
    accumulates), reverse_embeddings unused (0). reverse=True: z = x @ W, W = embeddings.T
    (tied) or reverse_embeddings, y = tanh(z / c) c with logit_soft_cap c (else y = z):

        dz = u (1 - tanh(z / c)^2)   (dz = u without a cap)
        dx = dz W^T,  dW = sum_.. x^T dz  (tied: dembeddings = dW^T)

    Returns (dembeddings, [dreverse_embeddings]) for the lookup (indices have no gradient),
    (dx, dembeddings, [dreverse_embeddings]) in reverse; [..] when tie_weights is False."""
    y = reversible_embedding(x, embeddings, reverse_embeddings, input_dim=input_dim,
                             output_dim=output_dim, tie_weights=tie_weights,
                             mask_zero=mask_zero, reverse_dtype=reverse_dtype,
                             logit_soft_cap=logit_soft_cap, reverse=reverse, spec=spec)
    u = cotangent(u, y)
    unused = () if tie_weights else (np.zeros(np.shape(reverse_embeddings)),)
    if not reverse:
        return embedding_vjp(x, embeddings, u=u, input_dim=input_dim, output_dim=output_dim,
                             mask_zero=mask_zero, spec=spec) + unused
    x = np.asarray(x, np.float64)
    w = (np.asarray(embeddings, np.float64).T if tie_weights
         else np.asarray(reverse_embeddings, np.float64))
    z = linear_sum(x, w)
    dz = u if logit_soft_cap is None else u * (1.0 - np.tanh(z / logit_soft_cap) ** 2)
    dw = linear_sum(x.reshape(-1, output_dim).T, dz.reshape(-1, input_dim))
    if tie_weights:
        return linear_sum(dz, w.T), dw.T
    return linear_sum(dz, w.T), np.zeros(np.shape(embeddings)), dw
