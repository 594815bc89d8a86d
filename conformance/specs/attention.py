"""Specs of EinsumDense, MultiHeadAttention and ReversibleEmbedding (Keras 3 only).

Bounds, composed stage by stage through the tolerance model (conformance/tolerance.py), each
stage's error carried into the next one's magnitudes as SeparableConv2D's two sums are:

- EinsumDense: one sum per output element over the contracted letters (their sizes
  multiplied), plus the bias as one more term, then the activation (linear_then_activation).
- MultiHeadAttention (multi_head_attention_bounds): the three projections (Dq, Dk, Dv terms
  and the bias); the scores (key_dim terms, the query's and key's errors carried through the
  products, and 2 u for the float32 scale 1/sqrt(key_dim) and its product, whether Keras
  scales the query or the sum); the masked logits; the softmax (tolerance.softmax_bound; over
  several attention axes, Keras's exp(z - logsumexp) with its float32 logsumexp); the
  weighted sum of the values (S terms, S the attention positions); the output projection
  (num_heads * value_dim terms and the bias).
- ReversibleEmbedding: the lookup is exact; the reverse projection one sum of output_dim
  terms, then logit_soft_cap's division, tanh and product.

The value and key of MultiHeadAttention reach the layer as call arguments (`value=`,
`key=`), drawn in the case's regime: the query is the case's one input.
"""
import math

import numpy as np

import reference
from conformance import tolerance
from conformance.elements import error_ratio
from conformance.regimes import LONG_TERMS, REGIMES, Regime
from conformance.spec import Divergence, Expected, LayerSpec, Reject
from conformance.specs._engine_builtin import BUILTIN_CLAMPED_REVERSE
from conformance.specs._engine_conversion import TFLITE_RANK3_BIAS_ADD
from conformance.specs._engine_softmax import (LITERT_ATTENTION_SOFTMAX_NAN,
                                               ONNX_ATTENTION_MASK_SELECT)
from conformance.specs._engine_ops import (
    BUILTIN_CLAMP_EVIDENCE, BUILTIN_CLAMP_REASON, converter_constants,
)
from conformance.specs._engines import BUILTIN, FLT_MAX, clamp
from conformance.attention_bounds import call_arrays, multi_head_attention_bounds
from conformance.specs._common import (
    CONVERTED_FROM_TF_KERAS, TENSORFLOW, linear_part, linear_then_activation,
    tf_activation_divergences, through_activation,
)
from conformance.specs.embedding import LOOKUP_REGIMES, read_specials
from reference.activations import activation as get_activation
from reference.attention import (contracted_terms, einsum_dense_shapes, from_canonical,
                                 keras3_fused, split_equation)


def _long_terms(rng):
    return int(rng.integers(LONG_TERMS[0], LONG_TERMS[1] + 1))


def _size(rng, high=3):
    return int(rng.integers(1, high + 1))


# EinsumDense ----------------------------------------------------------------------------------

# equation -> (bias_axes, the input's rank): Dense as an einsum, a sequence, heads (as
# MultiHeadAttention's projections), two contracted letters, and both ellipses
EQUATIONS = {
    "ab,bc->ac": ("c", 2), "abc,cd->abd": ("d", 3), "abc,cde->abde": ("de", 3),
    "abcd,cde->abe": ("e", 4), "...b,bc->...c": ("c", 3), "ab...,bc->ac...": ("c", 3),
}


def _einsum_make(params, rng):
    """The contracted size (the last input letter; 2048-4096 in the long regime), the other
    axes 1-3; output_shape gives the kernel-only letters' sizes (1-3 units) and the input's
    where the input has the letter."""
    equation = params["equation"]
    bias_axes, rank = EQUATIONS[equation]
    given, kernel_letters, out, elided = split_equation(equation)
    contracted = _long_terms(rng) if params["regime"] == "long" else _size(rng, 5)
    shape = [_size(rng) for _ in range(rank)]
    shape[1 if elided == "right" else -1] = contracted      # the contracted letter b, c or d
    letters = out if elided == "left" else out[1:]          # what output_shape gives
    sizes = dict(zip(given, shape[-len(given):] if elided == "left" else shape))
    # a letter the input has gets its size, not None: both Kerases' compute_output_shape
    # leave a None unresolved ([2, None, 1] for an output of shape (2, 2, 1))
    output_shape = [sizes[d] if d in given else _size(rng) for d in letters]
    return {"equation": equation, "output_shape": output_shape,
            "bias_axes": bias_axes if params["use_bias"] else None,
            "activation": params["activation"]}, [tuple(shape)]


def _einsum_weights(config, shapes):
    kernel, bias = einsum_dense_shapes(config["equation"], config.get("bias_axes"), shapes[0],
                                       config["output_shape"])
    return [("kernel", tuple(kernel))] + ([("bias", tuple(bias))] if bias is not None else [])


def _einsum_expect(case):
    x, = case.inputs
    reference.einsum_dense(x, *case.weights, **case.config, spec=case.spec)  # what Keras refuses
    terms = contracted_terms(case.config["equation"], x.shape, case.weights[0].shape)
    y, bound, overflow = linear_then_activation(
        reference.einsum_dense, x, case.weights, case.config,
        terms=terms + len(case.weights) - 1, keras_spec=case.spec)
    return Expected([y], [bound], overflow=[overflow])


def tensorflow_bias_add(z, bias):
    """z + bias as Keras 3 on TensorFlow adds them (exactly, in float64): its add() calls
    tf.nn.bias_add when the bias squeezes to a vector as long as z's axis 1 or last axis, and
    the vector then runs along z's last axis (if as long) or axis 1, wherever it lay."""
    long = [d for d in np.shape(bias) if d > 1]
    if len(long) == 1 and z.ndim > 1 and long[0] in (z.shape[1], z.shape[-1]):
        axis = z.ndim - 1 if z.shape[-1] == long[0] else 1
        return z + np.reshape(bias, [-1 if a == axis else 1 for a in range(z.ndim)])
    return z + bias


def _einsum_bias_as_bias_add(case):
    """Whether tensorflow_bias_add's answer leaves some element's bound (or its NaN)."""
    if case.spec != "keras3" or len(case.weights) < 2 or not case.expected:
        return False
    config = dict(case.config, bias_axes=None, activation=None)
    with np.errstate(invalid="ignore", over="ignore"):
        z = reference.einsum_dense(case.inputs[0], case.weights[0], **config, spec=case.spec)
        got = get_activation(case.config.get("activation"), case.spec)(
            tensorflow_bias_add(z, np.asarray(case.weights[1], np.float64)))
    return bool(np.any(error_ratio(case.expected[0], case.bounds[0], got) > 1))


TF_EINSUM_BIAS_ADD = Divergence(
    candidates=("tf.keras", "keras-tensorflow", *CONVERTED_FROM_TF_KERAS),
    when=_einsum_bias_as_bias_add,
    reason="Keras 3 on TensorFlow adds EinsumDense's bias as tf.nn.bias_add along the "
           "output's last axis or axis 1 whenever the bias squeezes to a vector that long, "
           "wherever the bias's own axis lies",
    evidence="keras/src/backend/tensorflow/numpy.py add() (Keras 3.15.1), the bias_add "
             "special case (the Add and Conv channels_first rows of the known divergences): "
             "EinsumDense('ab...,bc->ac...', output_shape=[2], bias_axes='c') has a bias of "
             "shape (2, 1); kernel ones((3, 2)), bias [[100], [200]], on [[[1, 2], [3, 4], "
             "[5, 6]]] tf.keras gives [[109, 212], [109, 212]], tf_keras and the reference "
             "[[109, 112], [209, 212]]. Fixture cases EinsumDense-023, -045 and -047 (keras3) "
             "fail on tf.keras by up to 0.65; keras-jax vouches for them")


EINSUM_DENSE = LayerSpec(
    layer="EinsumDense",
    domains={"equation": tuple(EQUATIONS), "use_bias": (True, False),
             "activation": (None, "relu", "tanh", "softmax"), "regime": REGIMES},
    valid=lambda p: p["regime"] != "long" or p["activation"] in (None, "tanh"),
    make=_einsum_make, weights=_einsum_weights, expect=_einsum_expect,
    divergences=(*tf_activation_divergences(linear_part(reference.einsum_dense)),
                 TF_EINSUM_BIAS_ADD, TFLITE_RANK3_BIAS_ADD),
    rejects=(Reject({"equation": "ab,bc", "output_shape": [2]}, ((2, 3),),
                    "not an equation (no ->)"),
             Reject({"equation": "ab,bc->ac", "output_shape": [2], "bias_axes": "x"},
                    ((2, 3),), "a bias letter the output lacks"),
             Reject({"equation": "abc,cd->abd", "output_shape": [5, 2]}, ((2, 3, 4),),
                    "output_shape gives the shared letter b size 5, the input 3")),
)


# MultiHeadAttention ---------------------------------------------------------------------------

# layout -> (the input's rank, attention_axes)
LAYOUTS = {"rank3": (3, None), "rank4": (4, None), "rank4_axis1": (4, [1]),
           "rank4_axis2": (4, [2])}
OUTPUT_SHAPES = {None: None, "int": 3, "tuple": [2, 3]}


def _mha_valid(params):
    rank, _ = LAYOUTS[params["layout"]]
    return rank == 3 or not params["causal"]


def _mha_make(params, rng):
    """Query (B, T.., Dq), value (B, S.., Dv), key (B, S.., Dk): B 1-2, each attention axis
    1-3 long, a shared non-attention axis 1-2; features 1-4.
    The keras2 config holds the shapes the layer is built for (tf_keras's from_config needs
    them; its get_config writes them), the batch left free."""
    rank, axes = LAYOUTS[params["layout"]]
    dq, dv, dk = _size(rng, 4), _size(rng, 4), _size(rng, 4)
    if params["built_for"] == "declared":
        dv = dq         # tf_keras's compute_output_shape refuses a value of other features
    batch = _size(rng, 2)
    if rank == 3:
        q, v = (batch, _size(rng), dq), (batch, _size(rng), dv)
    elif axes is None:
        q, v = (batch, _size(rng), _size(rng), dq), (batch, _size(rng), _size(rng), dv)
    else:
        shared = _size(rng, 2)
        if axes == [1]:
            q, v = (batch, _size(rng), shared, dq), (batch, _size(rng), shared, dv)
        else:
            q, v = (batch, shared, _size(rng), dq), (batch, shared, _size(rng), dv)
    k = (*v[:-1], dk if params["key"] else dv)
    config = {"num_heads": params["num_heads"], "key_dim": params["key_dim"],
              "value_dim": params["value_dim"], "dropout": params["dropout"],
              "use_bias": params["use_bias"], "output_shape": OUTPUT_SHAPES[params["output_shape"]],
              "attention_axes": axes}
    if params["built_for"] == "declared":
        config.update(query_shape=[None, *q[1:]], value_shape=[None, *v[1:]],
                      key_shape=[None, *k[1:]],
                      softmax_robust_masking=params["robust_masking"])
    return config, [q, v, k]


def _mha_inputs(config, shapes, regime):
    return [regime.values(shapes[0])]


def _mha_weights(config, shapes):
    (q, v, k), n = shapes, config["num_heads"]
    h, vd = config["key_dim"], config["value_dim"] or config["key_dim"]
    out = config.get("output_shape")
    out = (q[-1],) if out is None else (out,) if isinstance(out, int) else tuple(out)
    named = [("query", (q[-1], n, h), (n, h)), ("key", (k[-1], n, h), (n, h)),
             ("value", (v[-1], n, vd), (n, vd)), ("attention_output", (n, vd, *out), out)]
    bias = config.get("use_bias", True)
    return [w for name, kernel, b in named
            for w in [(f"{name}/kernel", kernel)] + ([(f"{name}/bias", b)] if bias else [])]


def _mha_call_kwargs(params, shapes, rng):
    """value and key (a separate key where params["key"], else the value serves) drawn in
    the case's regime; the attention mask: "padding" (B, 1.., S..) hides some keys of each
    row, never all; "random" (B, T.., S..) hides about a third, and every key of batch 0's
    first query position (a row masked everywhere)."""
    regime = Regime(params["regime"], rng)
    q, v, k = shapes
    kwargs = {"value": regime.values(v)}
    if params["key"]:
        kwargs["key"] = regime.values(k)
    rank, axes = LAYOUTS[params["layout"]]
    axes = reference.attention.attention_axes_of(rank + 1, axes)
    t_dims, s_dims = [q[a] for a in axes], [v[a] for a in axes]
    if params["mask"] == "padding":
        keep = rng.random((q[0], *[1] * len(axes), *s_dims)) < 0.7
        flat = keep.reshape(q[0], -1)
        flat[np.arange(q[0]), rng.integers(flat.shape[1], size=q[0])] = True
        kwargs["attention_mask"] = flat.reshape(keep.shape)
    elif params["mask"] == "random":
        keep = rng.random((q[0], *t_dims, *s_dims)) < 0.67
        keep.reshape(q[0], math.prod(t_dims), -1)[0, 0] = False
        kwargs["attention_mask"] = keep
    if params["causal"]:
        kwargs["use_causal_mask"] = True
    if params["scores"]:
        kwargs["return_attention_scores"] = True
    return kwargs


def _stages(case):
    with np.errstate(invalid="ignore", over="ignore"):
        return reference.multi_head_attention(case.inputs[0], case.call_kwargs["value"],
                                              *case.weights, **call_arrays(case),
                                              **case.config, stages=True, spec=case.spec)


def _mha_expect(case):
    stages = _stages(case)
    bounds = multi_head_attention_bounds(case, stages)
    outputs = [stages["y"]] + ([stages["scores"]] if call_arrays(case)[
        "return_attention_scores"] else [])
    return Expected(outputs, bounds[:len(outputs)])


def _tf_softmax_rows(case):
    """TensorFlow's CPU softmax of a row of logits holding NaN or +inf beside finite or -inf
    ones gives 0 for those, where IEEE arithmetic gives NaN across the row: one attention
    axis (over several, Keras normalises with logsumexp, whose rule the reference follows)."""
    if case.params.get("regime") != "special":
        return False
    stages = _stages(case)
    special = np.isnan(stages["logits"]) | np.isposinf(stages["logits"])
    return len(stages["axes"]) == 1 and bool(np.any(special.any(axis=-1)
                                                    & (~special).any(axis=-1)))


def _projection_bias_as_bias_add(case):
    """Whether the layer, its three input projections adding their biases as Keras 3 on
    TensorFlow does (tensorflow_bias_add), leaves some element's bound. A gradient twin: once
    a projection differs at all (its gradients see the projections through the softmax's
    derivative, which a near-uniform softmax hides from the outputs: the small regime)."""
    if case.spec != "keras3" or not case.config.get("use_bias", True) or not case.expected:
        return False
    call = call_arrays(case)
    config = {k: v for k, v in case.config.items() if k in (
        "num_heads", "key_dim", "value_dim", "dropout", "use_bias", "output_shape",
        "attention_axes")}
    with np.errstate(invalid="ignore", over="ignore"):
        stages = reference.attention.attention_parts(
            case.inputs[0], case.call_kwargs["value"], case.weights, call["key"],
            call["attention_mask"], call["use_causal_mask"], call["return_attention_scores"],
            tensorflow_bias_add, **config, spec=case.spec)
    if case.params.get("contract") == "gradient":
        with np.errstate(invalid="ignore", over="ignore"):
            exact = reference.attention.attention_parts(
                case.inputs[0], case.call_kwargs["value"], case.weights, call["key"],
                call["attention_mask"], call["use_causal_mask"],
                call["return_attention_scores"], **config, spec=case.spec)
        return any(not np.array_equal(stages[p], exact[p], equal_nan=True) for p in "qkv")
    got = [stages["y"], stages["scores"]][:len(case.expected)]
    return any(np.any(error_ratio(e, b, g) > 1)
               for e, b, g in zip(case.expected, case.bounds, got))


TF_PROJECTION_BIAS_ADD = Divergence(
    candidates=("tf.keras", "keras-tensorflow", *CONVERTED_FROM_TF_KERAS),
    when=_projection_bias_as_bias_add,
    reason="Keras 3 on TensorFlow adds a projection's bias (num_heads, key_dim) as "
           "tf.nn.bias_add along the projection's axis 1 when the bias squeezes to a vector "
           "that long (key_dim or value_dim 1, num_heads as long as the first attention "
           "axis), not along the heads",
    evidence="keras/src/backend/tensorflow/numpy.py add() (Keras 3.15.1), the bias_add "
             "special case, inside the query/key/value EinsumDense: MultiHeadAttention"
             "(num_heads=2, key_dim=1) on a query (1, 2, 3, 1) gave a query projection off by "
             "up to 1.74 from the reference's (found by the live property test, ties regime; "
             "the output off by 0.94 where its bound was 1.7e-5); tf_keras agrees with the "
             "reference. Its gradient twins: MultiHeadAttention(num_heads=2, key_dim=1) on a "
             "query (2, 2, 2, 2), small regime (the live property test, seed 16660): the "
             "outputs within their bounds (ratio 0.29), the key kernel's gradient "
             "[-1.64e-9, -4.69e-10, -7.22e-8, 6.87e-9] on tf.keras where the reference and "
             "keras-torch give [3.47e-9, -2.00e-10, 4.84e-7, 5.89e-10]")


def _projections_clamped(case):
    """Whether the layer as TFLite's builtin kernels run it leaves some element's bound: each
    projection (FULLY_CONNECTED or MUL, then the bias's ADD) and the output projection clamp
    to +-FLT_MAX, so an infinite value or key reaches the attention as FLT_MAX (a weight of 0
    times it is 0, not NaN); the scores' BATCH_MATMUL and the softmax do not clamp. The
    outputs of a row of logits beyond float32's range (inf in float32, a number in the
    replay) are not judged."""
    if case.params.get("regime") not in ("special", "large") or not case.expected:
        return False
    config = {k: v for k, v in case.config.items() if k in (
        "num_heads", "key_dim", "value_dim", "dropout", "output_shape", "attention_axes")}
    weights = list(case.weights)
    if not case.config.get("use_bias", True):     # no bias: add 0 (the clamp all the same)
        weights = [w for kernel in weights for w in (kernel, np.zeros(np.shape(kernel)[1:]))]
        weights[-1] = np.zeros(np.shape(case.weights[-1])[2:])
    call = call_arrays(case)
    with np.errstate(invalid="ignore", over="ignore"):
        stages = reference.attention.attention_parts(
            case.inputs[0], case.call_kwargs["value"], weights, call["key"],
            call["attention_mask"], call["use_causal_mask"], call["return_attention_scores"],
            lambda p, b: clamp(clamp(p) + b), **config, use_bias=True, spec=case.spec)
        logits = stages["logits"]
        row = np.any(np.isfinite(logits) & (np.abs(logits) > FLT_MAX), axis=-1, keepdims=True)
    o = np.broadcast_to(row, stages["o"].shape)
    attention = from_canonical(o, stages["attention"].shape, stages["axes"]).any(axis=(-2, -1))
    y = stages["y"]
    skip = [np.broadcast_to(attention.reshape(attention.shape + (1,) * (y.ndim - attention.ndim)),
                            y.shape),
            np.broadcast_to(row, stages["probs"].shape).reshape(stages["scores"].shape)]
    got = [clamp(y), stages["scores"]]
    return any(np.any((error_ratio(e, b, g) > 1) & ~s)
               for e, b, g, s in zip(case.expected, case.bounds, got, skip))


BUILTIN_PROJECTIONS_CLAMPED = Divergence(
    candidates=(BUILTIN,), when=_projections_clamped, reason=BUILTIN_CLAMP_REASON,
    evidence=BUILTIN_CLAMP_EVIDENCE + "; MultiHeadAttention-009: the value projection of inf "
             "is 3.4028235e38, a masked weight 0 times it 0, and the output the output "
             "projection's bias (-0.8178413) where the reference's 0 * inf gives NaN")


def _jax_fused_value_dim(case):
    """Keras 3's fused path (keras3_fused: a rank-3 query, no dropout, no scores returned)
    with value_dim other than key_dim."""
    config = case.config
    value_dim = config.get("value_dim")
    return (case.spec == "keras3" and value_dim is not None
            and value_dim != config.get("key_dim")
            and keras3_fused(np.ndim(case.inputs[0]), config.get("dropout", 0.0),
                             bool(case.call_kwargs.get("return_attention_scores"))))


JAX_FUSED_VALUE_DIM = Divergence(
    candidates=("keras-jax",), when=_jax_fused_value_dim,
    reason="Keras 3 on JAX raises in its fused attention when value_dim differs from key_dim: "
           "its XLA fallback reshapes the attention output to the query's shape",
    evidence="keras/src/backend/jax/nn.py dot_product_attention (Keras 3.15.1), the XLA "
             "fallback: `output_shape = query.shape` ... `jnp.reshape(encoded, "
             "output_shape)`. MultiHeadAttention(num_heads=2, key_dim=3, value_dim=2) on "
             "query (2, 1, 2), value (2, 1, 3), key (2, 1, 4) raises TypeError 'cannot reshape "
             "array of shape (2, 1, 2, 1, 2) (size 8) into shape (2, 1, 2, 3)' (found by the "
             "live property test); with return_attention_scores=True (the einsum path) it "
             "computes, as tf.keras and keras-torch do")


MULTI_HEAD_ATTENTION = LayerSpec(
    layer="MultiHeadAttention",
    domains={"num_heads": (1, 2), "key_dim": (1, 3), "value_dim": (None, 2),
             "use_bias": (True, False), "output_shape": tuple(OUTPUT_SHAPES),
             "layout": tuple(LAYOUTS), "key": (False, True),
             "mask": (None, "padding", "random"), "causal": (False, True),
             "scores": (False, True), "dropout": (0.0, 0.5),
             "built_for": ("declared", "undeclared"), "robust_masking": (False, True),
             # not long: a projection of thousands of constant or same-sign terms gives
             # logits of 1e6 and more, known within 1e2 or more, and the softmax's bound is
             # then vacuous (1e34 on an output of 34, measured): it would check nothing
             "regime": tuple(r for r in REGIMES if r != "long")},
    # tf_keras's from_config needs the shapes the layer was built for (its get_config writes
    # them) and it has softmax_robust_masking; Keras 3 refuses both keys
    spec_values=(("built_for", "undeclared", ("keras3",)), ("built_for", "declared", ("keras2",)),
                 ("robust_masking", True, ("keras2",))),
    valid=_mha_valid, make=_mha_make, inputs=_mha_inputs, weights=_mha_weights,
    call_kwargs=_mha_call_kwargs, expect=_mha_expect,
    divergences=(TF_PROJECTION_BIAS_ADD, JAX_FUSED_VALUE_DIM, TFLITE_RANK3_BIAS_ADD,
                 BUILTIN_PROJECTIONS_CLAMPED, *LITERT_ATTENTION_SOFTMAX_NAN,
                 ONNX_ATTENTION_MASK_SELECT, Divergence(
        candidates=TENSORFLOW, when=_tf_softmax_rows,
        reason="TensorFlow's CPU softmax of a row of attention logits holding NaN or +inf "
               "beside finite or -inf ones gives 0 for those, where IEEE arithmetic (and "
               "Keras on JAX, torch and NumPy) gives NaN across the row",
        evidence="tf.keras and tf_keras 2.21 on CPU: softmax([nan, 1, 2]) and "
                 "softmax([inf, 1, 2]) give [nan, 0, 0] (the Activation row of the known "
                 "divergences); the attention softmax is the same kernel"),),
    rejects=(Reject({"num_heads": 0, "key_dim": 2}, ((1, 2, 3),), "num_heads must be positive",
                    inputs=(np.zeros((1, 2, 3), np.float32),),
                    call_kwargs={"value": np.zeros((1, 2, 3), np.float32)}),
             Reject({"num_heads": 2, "key_dim": 0}, ((1, 2, 3),), "key_dim must be positive",
                    inputs=(np.zeros((1, 2, 3), np.float32),),
                    call_kwargs={"value": np.zeros((1, 2, 3), np.float32)})),
)


# ReversibleEmbedding --------------------------------------------------------------------------

def _reversible_valid(params):
    return (params["reverse"] or (params["regime"] in LOOKUP_REGIMES
                                  and params["logit_soft_cap"] is None)) and (
        params["regime"] != "special" or params["input_dim"] * params["output_dim"] >= 4)


def _reversible_make(params, rng):
    """Indices (batch, 1-4) for the lookup; in reverse, vectors (batch, 1-3, output_dim);
    the long regime makes output_dim 2048-4096 (the reverse projection's sum)."""
    output_dim = _long_terms(rng) if params["regime"] == "long" else params["output_dim"]
    config = {"input_dim": params["input_dim"], "output_dim": output_dim,
              "tie_weights": params["tie_weights"], "mask_zero": params["mask_zero"],
              "logit_soft_cap": params["logit_soft_cap"]}
    batch = _size(rng)
    shape = (batch, _size(rng), output_dim) if params["reverse"] else (batch, _size(rng, 4))
    return config, [shape]


def _reversible_weights(config, shapes):
    table = [("embeddings", (config["input_dim"], config["output_dim"]))]
    return table + ([] if config.get("tie_weights", True) else
                    [("reverse_embeddings", (config["output_dim"], config["input_dim"]))])


def _reversible_arrays(params, config, shapes, regime):
    """The lookup: indices over the whole table (the last row at least once), the table
    drawn in the regime, each special value read in the special regime. The reverse: vectors
    in the regime, the weights N(0, 0.25)."""
    rng, n = regime.rng, config["input_dim"]
    weights = [regime.weights(shape, 0.5) for _, shape in _reversible_weights(config, shapes)]
    if params["reverse"]:
        return [regime.values(shapes[0])], weights
    x = rng.integers(0, n, size=shapes[0])
    x[-1].flat[rng.integers(x[-1].size)] = n - 1
    weights[0] = regime.values(weights[0].shape)
    if regime.name == "special":
        read_specials(x, weights[0], rng)
    return [x.astype(np.int32)], weights


def _reversible_expect(case):
    x, config = case.inputs[0], case.config
    if not case.call_kwargs.get("reverse"):
        return Expected([reference.reversible_embedding(x, *case.weights, **config,
                                                        spec=case.spec)], [tolerance.exact()])
    cap = config.get("logit_soft_cap")
    linear = dict(config, logit_soft_cap=None)
    with np.errstate(invalid="ignore", over="ignore"):
        y = reference.reversible_embedding(x, *case.weights, **config, reverse=True,
                                           spec=case.spec)
        z = reference.reversible_embedding(x, *case.weights, **linear, reverse=True)
        magnitude = reference.reversible_embedding(np.abs(x), *map(np.abs, case.weights),
                                                   **linear, reverse=True)
        bound = tolerance.sum_bound(magnitude, x.shape[-1], z, products=True)
        if cap is not None:
            u = tolerance.unit()
            w = z / cap
            t, bound_t = through_activation("tanh", w, bound / abs(cap) + u * np.abs(w),
                                            case.spec)
            bound = bound_t * abs(cap) + u * np.abs(y)
    return Expected([y], [bound])


REVERSIBLE_EMBEDDING = LayerSpec(
    layer="ReversibleEmbedding", keras_specs=("keras3",),
    domains={"input_dim": (1, 3, 50), "output_dim": (1, 4), "tie_weights": (True, False),
             "mask_zero": (False, True), "reverse": (False, True),
             "logit_soft_cap": (None, 2.5), "regime": REGIMES},
    valid=_reversible_valid, make=_reversible_make, weights=_reversible_weights,
    arrays=_reversible_arrays, expect=_reversible_expect,
    call_kwargs=lambda params, shapes, rng: {"reverse": params["reverse"]},
    divergences=(converter_constants(_reversible_expect), BUILTIN_CLAMPED_REVERSE),
    rejects=(Reject({"input_dim": 0, "output_dim": 2}, ((1, 3),), "input_dim must be positive",
                    inputs=(np.zeros((1, 3), np.int32),)),),
)
