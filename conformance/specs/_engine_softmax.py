"""LiteRT's Softmax over several axes on NaN and +inf: Keras's exp(x - logsumexp(x)) as the
converted graph computes it, replayed for litert (XNNPACK) and litert-builtin; onnxruntime's
masked Softmax, its mask's tf.where written as a product (conformance/specs/model_reductions.py
wires both into Softmax)."""
import dataclasses

import numpy as np

from conformance.spec import Divergence
from conformance.specs._engine_ops import differs, onnx_select
from conformance.specs._engines import BUILTIN, LITERT, XNNPACK, clamp
from reference.model_layers import MASKED_LOGIT, masked_logits, softmax_axes


def _litert_softmax_axes_replay(engine, case):
    """Keras's Softmax over several axes, exp(z - logsumexp(z)) on the masked logits z, as
    LiteRT runs the converted graph (tf.reduce_logsumexp: its max replaced by 0 where not
    finite; REDUCE_MAX taken as giving NaN for a group holding NaN, skipping it gives the same
    on Softmax-030). XNNPACK's EXP gives 0 for NaN (a NaN logit, or inf - inf where a group
    holds +inf); the builtin SUB and ADD clamp to +-FLT_MAX, so +inf - logsumexp is FLT_MAX
    and its exp +inf. Either way a group holding NaN or +inf gives numbers where IEEE
    arithmetic gives NaN."""
    axes = tuple(sorted(a % np.ndim(case.inputs[0]) for a in case.config["axis"]))
    mask = case.call_kwargs.get("mask")
    z = masked_logits(case.inputs[0], mask, case.spec, case.config.get("robust_masking", False))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        def exp(v):
            return np.where(np.isnan(v), 0.0, np.exp(v)) if engine == XNNPACK else np.exp(v)

        def kernel(v):
            return clamp(v) if engine == BUILTIN else v
        m = np.max(z, axis=axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        lse = kernel(np.log(np.sum(exp(kernel(z - m)), axis=axes, keepdims=True)) + m)
        y = exp(kernel(z - lse))
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
