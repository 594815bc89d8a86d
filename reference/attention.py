"""EinsumDense, MultiHeadAttention and ReversibleEmbedding (Keras 3; keras_hub's class of the
same name subclasses it without changes).

Weights, as in `layer.get_weights()`:
- EinsumDense: kernel (its shape follows the equation: einsum_dense_shapes), bias (when
  bias_axes is given).
- MultiHeadAttention: query kernel (Dq, N, key_dim), query bias (N, key_dim), key kernel
  (Dk, N, key_dim), key bias, value kernel (Dv, N, value_dim), value bias (N, value_dim), output
  kernel (N, value_dim, *output_shape), output bias (*output_shape); no biases without
  use_bias. output_shape defaults to (Dq,).
- ReversibleEmbedding: embeddings (input_dim, output_dim), then reverse_embeddings
  (output_dim, input_dim) when tie_weights is False.

Every einsum here runs NumPy's own loops (never optimize=, which may call BLAS), so inf and
NaN follow IEEE arithmetic term by term, 0 * inf included.
"""
import math
import re

import numpy as np

from reference.activations import activation as get_activation, softmax
from reference.config import OutOfScope, dtype_name, takes_config
from reference.core import linear_sum
from reference.embedding import embedding

# EinsumDense ----------------------------------------------------------------------------------

# Keras's three forms: "ab,bc->ac", "...b,bc->...c" (left elided) and "ab...,bc->ac..."
_FORMS = ((r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", None),
          (r"\.\.\.([a-zA-Z]+),([a-zA-Z]+)->\.\.\.([a-zA-Z]+)", "left"),
          (r"([a-zA-Z]{2,})\.\.\.,([a-zA-Z]+)->([a-zA-Z]+)\.\.\.", "right"))


def split_equation(equation):
    """(input letters, kernel letters, output letters, where the ellipsis is: None, "left" or
    "right"), or ValueError for an equation outside Keras's three forms."""
    for pattern, elided in _FORMS:
        found = re.fullmatch(pattern, equation) if isinstance(equation, str) else None
        if found:
            return (*found.groups(), elided)
    raise ValueError(f"Invalid einsum equation {equation!r}: EinsumDense takes [X],[Y]->[Z], "
                     f"...[X],[Y]->...[Z] or [X]...,[Y]->[Z]...")


def einsum_dense_shapes(equation, bias_axes, input_shape, output_shape):
    """(kernel shape, bias shape or None) of EinsumDense on `input_shape`.

    output_shape gives the sizes of the output's letters, the first (batch) letter left out
    unless the ellipsis comes first; None entries take the input's size. A kernel letter gets
    its size from the output where the output holds it, else from the input. The bias runs
    from the first letter of bias_axes to the end of the output, 1 on the letters not in
    bias_axes (and on the axes a right-hand ellipsis stands for)."""
    given, kernel_letters, out, elided = split_equation(equation)
    input_shape = list(input_shape)
    extra = len(input_shape) - len(given)
    if extra < 0 or (extra and elided is None):
        raise ValueError(f"{equation!r} does not fit an input of rank {len(input_shape)}")
    declared = [output_shape] if isinstance(output_shape, int) else list(output_shape)
    if elided == "left":
        sizes = dict(zip(given, input_shape[extra:]))
        if len(declared) != len(out):
            raise ValueError(f"output_shape {output_shape!r} does not give the letters {out!r}")
        out_sizes = dict(zip(out, declared))
    else:
        sizes = dict(zip(given, input_shape[:len(given)]))
        if len(declared) != len(out) - 1:
            raise ValueError(f"output_shape {output_shape!r} does not give the letters "
                             f"{out[1:]!r} (after the batch letter)")
        out_sizes = dict(zip(out, [input_shape[0]] + declared))
    for letter, size in out_sizes.items():
        if letter in sizes and size is not None and size != sizes[letter]:
            raise ValueError(f"output_shape gives {letter!r} size {size}, "
                             f"the input {sizes[letter]}")
        if letter not in sizes and letter not in kernel_letters:
            raise ValueError(f"output letter {letter!r} is in neither the input nor the kernel")
        out_sizes[letter] = sizes.get(letter) if size is None else size
    kernel = []
    for letter in kernel_letters:
        if letter not in out_sizes and letter not in sizes:
            raise ValueError(f"kernel letter {letter!r} is in neither the input nor the output")
        kernel.append(out_sizes[letter] if letter in out_sizes else sizes[letter])
    bias = None
    if bias_axes is not None:
        if not bias_axes or any(letter not in out for letter in bias_axes):
            raise ValueError(f"bias_axes {bias_axes!r} must be letters of the output {out!r}")
        first = min(out.index(letter) for letter in bias_axes)
        bias = [out_sizes[c] if c in bias_axes else 1 for c in out[first:]]
        bias += [1] * (extra if elided == "right" else 0)
    return kernel, bias


def contracted_terms(equation, input_shape, kernel_shape):
    """How many products each output element of the equation sums: the product of the sizes
    of the letters that the input or the kernel holds and the output does not."""
    given, kernel_letters, out, elided = split_equation(equation)
    extra = len(input_shape) - len(given)
    sizes = dict(zip(given, input_shape[extra:] if elided == "left" else input_shape))
    sizes.update(zip(kernel_letters, kernel_shape))
    return math.prod(size for letter, size in sizes.items() if letter not in out)


@takes_config
def einsum_dense(x, kernel=None, bias=None, *, equation, output_shape, bias_axes=None,
                 activation=None, spec="keras3"):
    """y = act(einsum(equation, x, kernel) + bias)

    Each output element sums, over the letters the output leaves out, the products of x and
    kernel at the letters' values: "abc,cde->abde" is y[a, b, d, e] = sum_c x[a, b, c] *
    kernel[c, d, e]. The bias (einsum_dense_shapes) broadcasts against the output's trailing
    axes. Shapes: kernel and bias as einsum_dense_shapes(equation, bias_axes, x.shape,
    output_shape) gives them.
    """
    x = np.asarray(x, np.float64)
    kernel_shape, bias_shape = einsum_dense_shapes(equation, bias_axes, x.shape, output_shape)
    if kernel is None or np.shape(kernel) != tuple(kernel_shape):
        raise ValueError(f"kernel of shape {np.shape(kernel)} for {equation!r} on {x.shape}: "
                         f"expected {tuple(kernel_shape)}")
    if (bias is None) != (bias_shape is None) or (
            bias is not None and np.shape(bias) != tuple(bias_shape)):
        raise ValueError(f"bias of shape {np.shape(bias)} with bias_axes {bias_axes!r}: "
                         f"expected {bias_shape}")
    with np.errstate(invalid="ignore", over="ignore"):
        y = np.einsum(equation, x, np.asarray(kernel, np.float64))
        if bias is not None:
            y = y + np.asarray(bias, np.float64)
        return get_activation(activation, spec)(y)


# MultiHeadAttention ---------------------------------------------------------------------------

# What a masked score becomes before the softmax (the Softmax layer's mask, or the fused
# dot_product_attention's):
KERAS3_MASKED = -1e9        # keras/src/layers/activations/softmax.py: where(mask, x, -1e9)
# keras/src/backend/tensorflow/nn.py _apply_masks: where(mask, x, -0.7 * 3.38953e38), float32
KERAS3_FUSED_MASKED = float(np.float32(3.38953e38 * -0.7))
KERAS2_ADDER = -1e9         # tf_keras Softmax: x + (1 - mask) * -1e9, in float32


def project(x, kernel, bias=None, add=np.add):
    """The input projections: p[..., n, h] = sum_d x[..., d] * kernel[d, n, h] + bias[n, h].
    add: how the bias is added (a replay of another engine's rule; NumPy's broadcast)."""
    p = np.einsum("...d,dnh->...nh", x, kernel)
    return p if bias is None else add(p, bias)


def project_out(o, kernel, bias=None):
    """The output projection: y[..., f] = sum_{n,h} o[..., n, h] * kernel[n, h, f] + bias[f]
    (f standing for the axes of output_shape)."""
    tail = kernel.shape[2:]
    flat = kernel.reshape(kernel.shape[0], kernel.shape[1], -1)
    y = np.einsum("...nh,nhf->...f", o, flat).reshape(*o.shape[:-2], *tail)
    return y if bias is None else y + bias


def canonical(p, axes):
    """A projected tensor (B, a_1.., a_m, N, H) as (G.., N, T, H): the batch and the
    non-attention axes (G) first, the heads, then the attention `axes` flattened (T)."""
    r = p.ndim
    batch = [i for i in range(r - 2) if i not in axes]
    moved = np.transpose(p, batch + [r - 2] + list(axes) + [r - 1])
    g = moved.shape[:len(batch)]
    return moved.reshape(*g, p.shape[r - 2], -1, p.shape[-1])


def attention_axes_of(rank, attention_axes):
    """The attention axes of a projected tensor of `rank` (the input's rank + 1), as Keras
    resolves them: all between the batch and the heads by default; a negative axis counts
    from rank - 1."""
    if attention_axes is None:
        return tuple(range(1, rank - 2))
    axes = (attention_axes,) if isinstance(attention_axes, int) else tuple(attention_axes)
    axes = tuple(a if a >= 0 else rank - 1 + a for a in axes)
    if not axes or any(not 1 <= a < rank - 2 for a in axes) or len(set(axes)) != len(axes):
        raise ValueError(f"attention_axes {attention_axes!r} must be distinct axes between the "
                         f"batch and the features of a rank-{rank - 1} input")
    return axes


def combined_mask(scores_shape, query_shape, value_shape, axes, attention_mask,
                  use_causal_mask):
    """The boolean mask over the scores (G.., N, T, S), True where a key is attended to: the
    attention_mask (B, Tq.., Sk.., or anything that broadcasts there) AND the causal mask
    (query position i sees keys j <= i). Keras expands the attention_mask with new axes just
    before its query axes until it has the scores' rank (the non-attention axes and the
    heads), then broadcasts it."""
    mask = np.ones((1,) * len(scores_shape), bool)
    t_dims = [query_shape[a] for a in axes]
    s_dims = [value_shape[a] for a in axes]
    full = (*scores_shape[:-2], *t_dims, *s_dims)          # Keras's score layout
    if attention_mask is not None:
        m = np.asarray(attention_mask).astype(bool)
        while m.ndim < len(full):
            at = m.ndim - 2 * len(axes)
            m = np.expand_dims(m, at)
        mask = np.broadcast_to(m, full).reshape(scores_shape)
    if use_causal_mask:
        t, s = scores_shape[-2], scores_shape[-1]
        mask = mask & (np.arange(t)[:, None] >= np.arange(s)[None, :])
    return np.broadcast_to(mask, scores_shape)


def masked_logits(scores, mask, spec, fused, robust):
    """The softmax's input, as each Keras masks the scores (fused: Keras 3's
    dot_product_attention path; robust: tf_keras's softmax_robust_masking)."""
    if spec == "keras3":
        return np.where(mask, scores, KERAS3_FUSED_MASKED if fused else KERAS3_MASKED)
    if robust:
        return np.where(mask, scores, KERAS2_ADDER)
    with np.errstate(invalid="ignore", over="ignore"):
        # tf_keras adds -1e9 in float32, which decides a row masked everywhere: scores within
        # 32 of each other all become -1e9 there, and the row is uniform
        added = (scores + KERAS2_ADDER).astype(np.float32).astype(np.float64)
    return np.where(mask, scores, added)


def several_axes_softmax(z):
    """p = exp(z - L), L = logsumexp(z) along the last axis rounded to float32: how both
    Kerases normalise over several attention axes (the Softmax layer with a tuple axis). The
    rounding of L decides a row masked everywhere, whose scores all lie near -1e9 (float32's
    spacing there is 64): L rounds to -1e9, log(n) is lost, and every p is 1 (tf_keras; Keras 3
    then zeroes the row). L is max + log(sum(exp(z - max))) with the max taken as 0 where it
    is not finite, as TensorFlow's reduce_logsumexp, JAX's and SciPy's logsumexp take it: a
    row holding +inf (and no NaN) gives NaN there and 0 elsewhere (model_layers.
    logsumexp_softmax, the Softmax layer's own)."""
    top = np.max(z, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    lse = top + np.log(np.sum(np.exp(z - top), axis=-1, keepdims=True))
    return np.exp(z - lse.astype(np.float32).astype(np.float64))


def keras3_fused(query_rank, dropout, return_attention_scores):
    """Whether Keras 3 runs ops.dot_product_attention (a row masked everywhere is uniform
    there) rather than its own einsum and Softmax layer (where such a row is 0):
    keras/src/layers/attention/multi_head_attention.py, _compute_attention."""
    return query_rank == 3 and dropout == 0 and not return_attention_scores


def attention_parts(query, value, weights, key=None, attention_mask=None,
                    use_causal_mask=False, return_attention_scores=False, bias_add=np.add, *,
                    num_heads,
                    key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                    attention_axes=None, softmax_robust_masking=False, spec="keras3"):
    """Every stage of the layer (multi_head_attention gives the formula), as a dict:
    q, k, v (canonical: G.., N, T or S, H), scale, mask, logits, probs (G.., N, T, S),
    o (canonical, G.., N, T, value_dim), attention (the layer's layout before the output
    projection), y, scores (Keras's layout), fused. bias_add: how the input projections add
    their biases (NumPy's broadcast; a replay of another engine's rule)."""
    query, value = np.asarray(query, np.float64), np.asarray(value, np.float64)
    key = value if key is None else np.asarray(key, np.float64)
    value_dim = key_dim if value_dim is None else value_dim
    weights = [np.asarray(w, np.float64) for w in weights]
    if use_bias:
        wq, bq, wk, bk, wv, bv, wo, bo = weights
    else:
        (wq, wk, wv, wo), bq, bk, bv, bo = weights, None, None, None, None
    if value.shape[1:-1] != key.shape[1:-1]:
        raise ValueError(f"value {value.shape} and key {key.shape} differ before the last axis")
    axes = attention_axes_of(query.ndim + 1, attention_axes)
    if use_causal_mask and query.ndim != 3:
        raise OutOfScope("outside the scope: use_causal_mask on an input of rank "
                         f"{query.ndim} (Keras builds its causal mask from axis 1 only)")
    with np.errstate(invalid="ignore", over="ignore"):
        q, k, v = (project(query, wq, bq, bias_add), project(key, wk, bk, bias_add),
                   project(value, wv, bv, bias_add))
        scale = 1.0 / math.sqrt(key_dim)
        qc, kc, vc = canonical(q, axes), canonical(k, axes), canonical(v, axes)
        scores = np.einsum("...nth,...nsh->...nts", qc * scale, kc)
        mask = combined_mask(scores.shape, query.shape, value.shape, axes, attention_mask,
                             use_causal_mask)
        fused = spec == "keras3" and keras3_fused(query.ndim, dropout, return_attention_scores)
        logits = masked_logits(scores, mask, spec, fused, softmax_robust_masking)
        probs = softmax(logits, axis=-1) if len(axes) == 1 else several_axes_softmax(logits)
        if spec == "keras3" and not fused:
            probs = np.where(mask, probs, 0.0)       # the Softmax layer zeroes masked keys
        o = np.einsum("...nts,...nsh->...nth", probs, vc)
        attention = from_canonical(o, q.shape[:-1] + (value_dim,), axes)
        y = project_out(attention, wo, bo)
    t_dims = [query.shape[a] for a in axes]
    s_dims = [value.shape[a] for a in axes]
    return {"q": qc, "k": kc, "v": vc, "scale": scale, "mask": mask, "logits": logits,
            "probs": probs, "o": o, "attention": attention, "y": y, "fused": fused,
            "axes": axes,
            "scores": probs.reshape(*probs.shape[:-2], *t_dims, *s_dims)}


def from_canonical(o, shape, axes):
    """canonical()'s inverse: (G.., N, T, H) back to `shape` (B, a_1.., a_m, N, H)."""
    r = len(shape)
    batch = [i for i in range(r - 2) if i not in axes]
    order = batch + [r - 2] + list(axes) + [r - 1]
    moved = o.reshape([shape[i] for i in order])
    return np.transpose(moved, np.argsort(order))


@takes_config
def multi_head_attention(query, value, *weights, key=None, attention_mask=None,
                         use_causal_mask=False, return_attention_scores=False, training=None,
                         num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                         output_shape=None, attention_axes=None, use_gate=False,
                         sliding_window=None, seed=None, query_shape=None, key_shape=None,
                         value_shape=None, softmax_robust_masking=False, stages=False,
                         spec="keras3"):
    """Multi-head dot-product attention, at inference (dropout then does nothing).

    query (B, T.., Dq), value (B, S.., Dv), key (B, S.., Dk; default: value); the axes between
    the batch and the features are attention axes (attention_axes) or further batch axes,
    which query and value share. With N = num_heads, H = key_dim, V = value_dim:

        q[.., n, h] = sum_d query[.., d] * Wq[d, n, h] + bq[n, h]      (Dq terms)
        k[.., n, h] = sum_d key[.., d]   * Wk[d, n, h] + bk[n, h]      (Dk terms)
        v[.., n, h] = sum_d value[.., d] * Wv[d, n, h] + bv[n, h]      (Dv terms)
        s[n, t, j]  = sum_h (q[t, n, h] / sqrt(H)) * k[j, n, h]        (H terms)
        z[n, t, j]  = s where mask[t, j], else the masked value (masked_logits)
        p[n, t, :]  = softmax(z[n, t, :]) over all attention positions j
                      (over several attention axes: several_axes_softmax; Keras 3's
                      Softmax layer then sets p = 0 where masked)
        o[t, n, h]  = sum_j p[n, t, j] * v[j, n, h]                    (S terms)
        y[t, f]     = sum_{n,h} o[t, n, h] * Wo[n, h, f] + bo[f]       (N * V terms)

    mask is attention_mask AND (with use_causal_mask) j <= t. A row masked everywhere: Keras
    3's Softmax layer gives p = 0 (y = bo); its fused path (rank-3 inputs, dropout 0, no
    attention scores) and tf_keras give a uniform p (tf_keras: after adding -1e9 in float32).
    Returns y, or (y, p in Keras's layout (B, non-attention axes.., N, T.., S..)) with
    return_attention_scores. query_shape, key_shape and value_shape (tf_keras's config) only
    declare the shapes the layer was built for. stages=True: the dict of every stage
    (attention_parts), from which conformance/specs/attention.py derives the bounds.
    """
    if not isinstance(num_heads, int) or isinstance(num_heads, bool) or num_heads <= 0:
        raise ValueError(f"`num_heads` must be a positive int, got {num_heads!r}")
    if not isinstance(key_dim, int) or isinstance(key_dim, bool) or key_dim <= 0:
        raise ValueError(f"`key_dim` must be a positive int, got {key_dim!r}")
    if value_dim is not None and (not isinstance(value_dim, int) or value_dim <= 0):
        raise ValueError(f"`value_dim` must be a positive int or None, got {value_dim!r}")
    if use_gate:
        raise OutOfScope("outside the scope: use_gate=True (a sigmoid gate on the heads)")
    if sliding_window is not None:
        raise OutOfScope(f"outside the scope: sliding_window={sliding_window!r}")
    if training and dropout > 0:
        raise OutOfScope("outside the scope: dropout in training (random attention weights)")
    if output_shape is not None and not isinstance(output_shape, (int, list, tuple)):
        raise ValueError(f"`output_shape` must be an int, a list or a tuple: {output_shape!r}")
    query = np.asarray(query, np.float64)
    value_dim = key_dim if value_dim is None else value_dim
    shapes = {"query": query.shape, "value": np.shape(value),
              "key": np.shape(value if key is None else key)}
    for name, declared in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
        if declared is not None and any(d is not None and d != n for d, n in
                                        zip(declared, shapes[name])):
            raise ValueError(f"{name} of shape {shapes[name]} for a layer built for {declared}")
    out = ((output_shape,) if isinstance(output_shape, int) else tuple(output_shape)
           ) if output_shape else (query.shape[-1],)
    expected = [(query.shape[-1], num_heads, key_dim), (shapes["key"][-1], num_heads, key_dim),
                (shapes["value"][-1], num_heads, value_dim), (num_heads, value_dim, *out)]
    kernels = list(weights[::2] if use_bias else weights)
    if len(weights) != 4 * (1 + bool(use_bias)) or [w.shape for w in map(np.asarray, kernels)
                                                     ] != expected:
        raise ValueError(f"MultiHeadAttention weights {[np.shape(w) for w in weights]}: "
                         f"expected kernels {expected}" + (" with biases" if use_bias else ""))
    parts = attention_parts(query, value, weights, key, attention_mask, use_causal_mask,
                            return_attention_scores, num_heads=num_heads, key_dim=key_dim,
                            value_dim=value_dim, dropout=dropout, use_bias=use_bias,
                            output_shape=output_shape, attention_axes=attention_axes,
                            softmax_robust_masking=softmax_robust_masking, spec=spec)
    if stages:
        return parts
    return (parts["y"], parts["scores"]) if return_attention_scores else parts["y"]


# ReversibleEmbedding --------------------------------------------------------------------------

@takes_config
def reversible_embedding(x, embeddings, reverse_embeddings=None, *, input_dim, output_dim,
                         tie_weights=True, mask_zero=False, reverse_dtype=None,
                         logit_soft_cap=None, reverse=False, spec="keras3"):
    """reverse=False: the Embedding lookup, y[b, ..] = embeddings[x[b, ..]] (reference.embedding).
    reverse=True: logits z[.., j] = sum_i x[.., i] * W[i, j] with W = embeddings.T (tied) or
    reverse_embeddings (output_dim, input_dim); with logit_soft_cap c, y = tanh(z / c) * c.
    x: (batch, .., output_dim) floats in reverse, indices otherwise. The layer emits no mask
    (its compute_mask gives None, even with mask_zero)."""
    if dtype_name(reverse_dtype) not in (None, "float32"):
        raise OutOfScope(f"outside the scope: reverse_dtype={reverse_dtype!r}")
    if tie_weights != (reverse_embeddings is None):
        raise ValueError("reverse_embeddings are a weight exactly when tie_weights is False")
    if not reverse:
        return embedding(x, embeddings, input_dim=input_dim, output_dim=output_dim,
                         mask_zero=mask_zero, spec=spec)
    embedding(np.zeros((1,), np.int32), embeddings, input_dim=input_dim,
              output_dim=output_dim)                        # checks the dims and the table
    kernel = np.asarray(embeddings, np.float64).T if tie_weights else np.asarray(
        reverse_embeddings, np.float64)
    x = np.asarray(x, np.float64)
    if kernel.shape != (output_dim, input_dim) or x.shape[-1] != output_dim:
        raise ValueError(f"reverse projection of {x.shape} by {kernel.shape}: expected "
                         f"(.., {output_dim}) by ({output_dim}, {input_dim})")
    with np.errstate(invalid="ignore", over="ignore"):
        z = linear_sum(x, kernel)
        return z if logit_soft_cap is None else np.tanh(z / logit_soft_cap) * logit_soft_cap
