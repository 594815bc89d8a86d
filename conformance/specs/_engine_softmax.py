"""LiteRT's Softmax over several axes on NaN and +inf: Keras's exp(x - logsumexp(x)) as the
converted graph computes it, replayed for litert (XNNPACK) and litert-builtin (conformance/
specs/model_reductions.py wires it into Softmax)."""
import numpy as np

from conformance.spec import Divergence
from conformance.specs._engine_ops import differs
from conformance.specs._engines import BUILTIN, LITERT, XNNPACK, clamp
from reference.model_layers import masked_logits


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
