"""LiteRT's Softmax over several axes on NaN and +inf: Keras's exp(x - logsumexp(x)) as the
converted graph computes it, replayed for litert (XNNPACK) and litert-builtin, in the Softmax
layer and in MultiHeadAttention over several attention axes; onnxruntime's masked Softmax, its
mask's tf.where written as a product, in the Softmax layer and in MultiHeadAttention
(conformance/specs/model_reductions.py wires the Softmax ones into Softmax, attention.py the
attention's into MultiHeadAttention)."""
import dataclasses

import numpy as np

from conformance.spec import Divergence
from conformance.specs._engine_ops import differs, onnx_select
from conformance.attention_bounds import call_arrays
from conformance.specs._engines import BUILTIN, LITERT, XNNPACK, clamp
from reference.attention import attention_parts, from_canonical, project_out
from reference.model_layers import MASKED_LOGIT, masked_logits, softmax_axes


def litert_logsumexp_softmax(engine, z, axes):
    """exp(z - logsumexp(z)) over `axes` of the (masked) logits z, as LiteRT runs Keras's
    Softmax over several axes (tf.reduce_logsumexp: its max replaced by 0 where not finite;
    REDUCE_MAX taken as giving NaN for a group holding NaN, skipping it gives the same on
    Softmax-030). XNNPACK's EXP gives 0 for NaN (a NaN logit, or inf - inf where a group
    holds +inf); the builtin SUB and ADD clamp to +-FLT_MAX, so +inf - logsumexp is FLT_MAX
    and its exp +inf. Either way a group holding NaN or +inf gives numbers where IEEE
    arithmetic gives NaN."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        def exp(v):
            return np.where(np.isnan(v), 0.0, np.exp(v)) if engine == XNNPACK else np.exp(v)

        def kernel(v):
            return clamp(v) if engine == BUILTIN else v
        m = np.max(z, axis=axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        lse = kernel(np.log(np.sum(exp(kernel(z - m)), axis=axes, keepdims=True)) + m)
        return exp(kernel(z - lse))


def _litert_softmax_axes_replay(engine, case):
    """Keras's Softmax over several axes on the masked logits, as LiteRT runs it
    (litert_logsumexp_softmax), the masked positions then 0."""
    axes = tuple(sorted(a % np.ndim(case.inputs[0]) for a in case.config["axis"]))
    mask = case.call_kwargs.get("mask")
    z = masked_logits(case.inputs[0], mask, case.spec, case.config.get("robust_masking", False))
    y = litert_logsumexp_softmax(engine, z, axes)
    return [y if mask is None else np.where(np.broadcast_to(mask, y.shape), y, 0.0)]


def _litert_softmax_axes(engine):
    def when(case):
        axis = case.config.get("axis")
        if not (isinstance(axis, list) and len(axis) > 1) or not case.expected:
            return False
        if np.isfinite(case.inputs[0]).all():
            return False
        return differs(case, _litert_softmax_axes_replay(engine, case))
    return when


LITERT_SOFTMAX_AXES_NAN = tuple(Divergence(
    candidates=(engine,), when=_litert_softmax_axes(engine),
    reason="Softmax over several axes is Keras's exp(x - logsumexp(x)), converted to "
           "SELECT_V2 (the mask), REDUCE_MAX, SUB, EQUAL, SELECT_V2 (the max where finite, "
           "else 0), SUB, EXP, SUM, LOG, ADD, SUB, EXP; " + (
               "XNNPACK's exp gives 0 for NaN, so a group holding NaN or +inf (inf - inf) "
               "gives 0 there" if engine == XNNPACK else
               "the builtin SUB and ADD clamp to +-FLT_MAX, so a group holding +inf gives "
               "+inf there (exp(FLT_MAX))") + ", where IEEE arithmetic gives NaN",
    evidence="keras/src/layers/activations/softmax.py call (Keras 3.15.1) and "
             "tf.math.reduce_logsumexp (its max replaced by 0 where not finite); "
             "ai-edge-litert 2.3.0: Softmax(axis=[1, 2]) on [[nan, -1e9], [-inf, -1e9]] "
             "(masked) and [[-2.58, 0.036], [-0, inf]] (Softmax-030): the reference gives NaN "
             "at the NaN and at the +inf, " + (
                 "litert (XNNPACK, exp(NaN) = 0) gives 0 at [1, 0, 0]" if engine == XNNPACK
                 else "litert-builtin gives +inf at [2, 1, 1]") + ", as the replay does")
    for engine in LITERT)


def _attention_config(case):
    return {k: v for k, v in case.config.items() if k in (
        "num_heads", "key_dim", "value_dim", "dropout", "output_shape", "attention_axes")}


def _attention_weights(case):
    """The case's weights with a bias of 0 for each kernel where use_bias is False, so a
    replay adds every bias (as an engine's rule may, the clamp all the same)."""
    weights = [np.asarray(w, np.float64) for w in case.weights]
    if not case.config.get("use_bias", True):
        weights = [w for kernel in weights for w in (kernel, np.zeros(kernel.shape[1:]))]
        weights[-1] = np.zeros(case.weights[-1].shape[2:])
    return weights


def _litert_attention_replay(engine, case):
    """MultiHeadAttention's outputs (and scores) as LiteRT computes them where Keras 3 runs its
    Softmax layer over several attention axes: that softmax as litert_logsumexp_softmax (the
    masked keys then 0); TFLite's builtin kernels also clamp each projection and the output
    projection to +-FLT_MAX (BUILTIN_PROJECTIONS_CLAMPED's rule, in attention.py). None
    where Keras runs a one-axis softmax or its fused attention."""
    config, weights = _attention_config(case), _attention_weights(case)
    if engine == BUILTIN:
        def add(p, b):
            return clamp(clamp(p) + b)
    else:
        add = np.add
    call = call_arrays(case)
    with np.errstate(invalid="ignore", over="ignore"):
        stages = attention_parts(case.inputs[0], case.call_kwargs["value"], weights,
                                 call["key"], call["attention_mask"], call["use_causal_mask"],
                                 call["return_attention_scores"], add, **config, use_bias=True,
                                 spec=case.spec)
        if len(stages["axes"]) < 2 or stages["fused"] or case.spec != "keras3":
            return None
        probs = litert_logsumexp_softmax(engine, stages["logits"], (-1,))
        probs = np.where(stages["mask"], probs, 0.0)
        o = np.einsum("...nts,...nsh->...nth", probs, stages["v"])
        attention = from_canonical(o, stages["attention"].shape, stages["axes"])
        y = add(project_out(attention, weights[-2]), weights[-1])
    return [y, probs.reshape(stages["scores"].shape)][:len(case.expected)]


def _litert_attention_softmax(engine):
    def when(case):
        if case.params.get("regime") not in ("special", "large") or not case.expected:
            return False
        replayed = _litert_attention_replay(engine, case)
        return replayed is not None and differs(case, replayed)
    return when


# MultiHeadAttention over several attention axes (a rank-4 or longer query) normalizes its
# scores with the same Softmax layer over several axes
LITERT_ATTENTION_SOFTMAX_NAN = tuple(dataclasses.replace(
    divergence, when=_litert_attention_softmax(divergence.candidates[0]),
    reason="MultiHeadAttention over several attention axes normalizes its scores with Keras's "
           "Softmax over several axes: " + divergence.reason,
    evidence=divergence.evidence + "; MultiHeadAttention(num_heads=2, key_dim=3, "
             "use_bias=False, dropout=0.5) on a query (2, 3, 2, 4), a key (2, 3, 2, 2) whose "
             "batch 0 holds NaN and a padding mask (MultiHeadAttention-live-1a8f95bc, found by "
             "the live property test): the reference gives NaN throughout batch 0, " + (
                 "litert gives 0 at [0, 0] and numbers at [0, 1, 0] (0.0267, 0.322, ...), "
                 "as the replay does" if divergence.candidates[0] == XNNPACK else
                 "litert-builtin keeps NaN there (its EXP gives NaN for NaN), as its replay "
                 "does"))
    for divergence in LITERT_SOFTMAX_AXES_NAN)


def _onnx_masked_softmax_replay(case):
    """Keras 3's masked Softmax, where(mask, x, -1e9) then where(mask, y, 0), with tf2onnx's
    Select as a product (_engine_ops.ONNX_SELECT_REASON): mask * x + (1 - mask) * -1e9 is NaN
    at a masked NaN or infinity, and a group (over the softmax axes) holding NaN or +inf is
    NaN throughout (onnxruntime's Softmax subtracts the group's max; over several axes
    TensorFlow's logsumexp replaces a non-finite max with 0 by a Select, a product too), the
    masked positions included (mask * y + (1 - mask) * 0). Elsewhere the reference's."""
    x = np.asarray(case.inputs[0], np.float64)
    keep = np.broadcast_to(np.asarray(case.call_kwargs["mask"], np.float64), x.shape)
    axes = tuple(softmax_axes(case.config.get("axis", -1), x.ndim))
    with np.errstate(invalid="ignore", over="ignore"):
        z = keep * x + (1.0 - keep) * MASKED_LOGIT
    bad = np.any(np.isnan(z) | np.isposinf(z), axis=axes, keepdims=True)
    return [np.where(np.broadcast_to(bad, x.shape), np.nan, case.expected[0])]


def _onnx_masked_softmax(case):
    if case.call_kwargs.get("mask") is None or case.spec != "keras3":
        return False
    return onnx_select(_onnx_masked_softmax_replay).when(case)


ONNX_SOFTMAX_MASK_SELECT = dataclasses.replace(onnx_select(_onnx_masked_softmax_replay),
                                               when=_onnx_masked_softmax)


def _onnx_attention_replay(case):
    """MultiHeadAttention's outputs (and scores) as onnxruntime computes Keras 3's masked
    Softmax of the attention logits (_onnx_masked_softmax_replay's rule): a group of logits
    over the keys that holds NaN or +inf after mask * x + (1 - mask) * -1e9, a masked NaN or
    infinity included, is NaN throughout; elsewhere the reference's probabilities."""
    weights = _attention_weights(case)
    call = call_arrays(case)
    with np.errstate(invalid="ignore", over="ignore"):
        stages = attention_parts(case.inputs[0], case.call_kwargs["value"], weights,
                                 call["key"], call["attention_mask"], call["use_causal_mask"],
                                 call["return_attention_scores"], **_attention_config(case),
                                 use_bias=True, spec=case.spec)
        keep = stages["mask"].astype(np.float64)
        raw = np.einsum("...nth,...nsh->...nts", stages["q"] * stages["scale"], stages["k"])
        z = keep * raw + (1.0 - keep) * MASKED_LOGIT
        bad = np.any(np.isnan(z) | np.isposinf(z), axis=-1, keepdims=True)
        probs = np.where(bad, np.nan, stages["probs"])
        o = np.einsum("...nts,...nsh->...nth", probs, stages["v"])
        attention = from_canonical(o, stages["attention"].shape, stages["axes"])
        y = project_out(attention, weights[-2]) + weights[-1]
    return [y, probs.reshape(stages["scores"].shape)][:len(case.expected)]


def _onnx_attention_mask(case):
    kw = case.call_kwargs
    if case.spec != "keras3" or not case.expected or (
            kw.get("attention_mask") is None and not kw.get("use_causal_mask", False)):
        return False
    arrays = [case.inputs[0], kw["value"], kw.get("key")]
    if all(np.all(np.isfinite(a)) for a in arrays if a is not None):
        return False
    return differs(case, _onnx_attention_replay(case))


ONNX_ATTENTION_MASK_SELECT = dataclasses.replace(
    ONNX_SOFTMAX_MASK_SELECT, when=_onnx_attention_mask,
    reason="MultiHeadAttention masks its logits with Keras 3's Softmax layer (or, fused, the "
           "same tf.where): " + ONNX_SOFTMAX_MASK_SELECT.reason,
    evidence=ONNX_SOFTMAX_MASK_SELECT.evidence + "; onnxruntime 1.32: MultiHeadAttention("
             "num_heads=2, key_dim=3, dropout=0.5, attention_axes=[2]) with "
             "return_attention_scores=True on a query (2, 2, 2, 4) holding +inf at [0, 0, 0, "
             "3] and a random attention mask that masks query position 0 of batch 0 "
             "(MultiHeadAttention-live-0000036b, found by the live property test): the "
             "reference's scores are 0 there and its output 0.1567 (the output bias), "
             "onnxruntime gives NaN at both, as the replay does")
