"""MultiHeadAttention's bounds, stage by stage (conformance/specs/attention.py's docstring
gives the stages): each stage's error is carried through the next one's products and into
its magnitudes, as SeparableConv2D's two sums are. The forward's spec reads the output's and
the scores' bounds; the gradient twins (conformance/backward/attention.py) every stage's."""
import math

import numpy as np

from conformance import tolerance
from reference.attention import KERAS2_ADDER, canonical, from_canonical, project, project_out


def call_arrays(case):
    kw = case.call_kwargs
    return dict(key=kw.get("key"), attention_mask=kw.get("attention_mask"),
                use_causal_mask=kw.get("use_causal_mask", False),
                return_attention_scores=kw.get("return_attention_scores", False))


def _f32(x):
    return np.asarray(x, np.float64).astype(np.float32).astype(np.float64)


def _projection_bound(x, kernel, bias, value):
    """A projection's bound: a sum of D products and the bias."""
    magnitude = project(np.abs(x), np.abs(kernel), None if bias is None else np.abs(bias))
    return tolerance.sum_bound(magnitude, x.shape[-1] + (bias is not None), value,
                               products=True)


def multi_head_attention_bounds(case, stages):
    """[bound of y, bound of the attention scores], stage by stage (module docstring)."""
    bounds = stage_bounds(case, stages)
    return [bounds["y"], bounds["probs"].reshape(stages["scores"].shape)]


def stage_bounds(case, stages):
    """The float32 bound of every stage of attention_parts: {"q", "k", "v" (canonical),
    "probs", "attention", "y"}."""
    u = tolerance.unit()
    config, call = case.config, call_arrays(case)
    with np.errstate(invalid="ignore", over="ignore"):
        query = np.asarray(case.inputs[0], np.float64)
        value = np.asarray(case.call_kwargs["value"], np.float64)
        key = value if call["key"] is None else np.asarray(call["key"], np.float64)
        w = [np.asarray(a, np.float64) for a in case.weights]
        wq, bq, wk, bk, wv, bv, wo, bo = w if config.get("use_bias", True) else (
            w[0], None, w[1], None, w[2], None, w[3], None)
        axes = stages["axes"]
        errors = [canonical(_projection_bound(x, kernel, bias, project(x, kernel, bias)), axes)
                  for x, kernel, bias in ((query, wq, bq), (key, wk, bk), (value, wv, bv))]
        eq, ek, ev = errors
        q, k, v, c = stages["q"], stages["k"], stages["v"], stages["scale"]
        aq, ak = np.abs(q), np.abs(k)
        carried = c * (np.einsum("...nth,...nsh->...nts", eq, ak)
                       + np.einsum("...nth,...nsh->...nts", aq, ek)
                       + np.einsum("...nth,...nsh->...nts", eq, ek))
        magnitude = c * np.einsum("...nth,...nsh->...nts", aq + eq, ak + ek)
        scores = np.einsum("...nth,...nsh->...nts", q * c, k)
        e_scores = carried + tolerance.sum_bound(magnitude, k.shape[-1], scores,
                                                 products=True) + 2 * u * magnitude
        mask, logits, probs = stages["mask"], stages["logits"], stages["probs"]
        e_logits = np.where(mask, e_scores, _masked_logit_bound(case, scores, e_scores))
        if len(axes) == 1:
            e_probs = tolerance.softmax_bound(logits, e_logits)
        else:
            e_probs = _several_axes_bound(logits, e_logits, probs, u)
        if case.spec == "keras3" and not stages["fused"]:
            e_probs = np.where(mask, e_probs, 0.0)       # zeroed by the Softmax layer
        av = np.abs(v)
        carried = (np.einsum("...nts,...nsh->...nth", e_probs, av)
                   + np.einsum("...nts,...nsh->...nth", probs, ev)
                   + np.einsum("...nts,...nsh->...nth", e_probs, ev))
        magnitude = np.einsum("...nts,...nsh->...nth", probs + e_probs, av + ev)
        e_o = carried + tolerance.sum_bound(magnitude, v.shape[-2], stages["o"])
        attention = stages["attention"]
        e_att = from_canonical(e_o, attention.shape, axes)
        carried = project_out(e_att, np.abs(wo))
        magnitude = project_out(np.abs(attention) + e_att, np.abs(wo),
                                None if bo is None else np.abs(bo))
        e_y = carried + tolerance.sum_bound(magnitude, wo.shape[0] * wo.shape[1]
                                            + (bo is not None), stages["y"], products=True)
    return {"q": eq, "k": ek, "v": ev, "probs": e_probs, "attention": e_att, "y": e_y}


def _masked_logit_bound(case, scores, e_scores):
    """A masked logit's bound. Keras 3 and tf_keras's robust masking put a constant there:
    exact. tf_keras adds -1e9 in float32: the result lies between the float32 roundings of
    s - e - 1e9 and s + e - 1e9 (rounding is monotone), which are often one and the same."""
    if case.spec == "keras3" or case.config.get("softmax_robust_masking"):
        return 0.0
    adder = KERAS2_ADDER
    middle = _f32(scores + adder)
    return np.maximum(middle - _f32(scores - e_scores + adder),
                      _f32(scores + e_scores + adder) - middle)


def _lse(z):
    top = np.max(z, axis=-1, keepdims=True)
    return top + np.log(np.sum(np.exp(z - top), axis=-1, keepdims=True))


def _several_axes_bound(z, b, p, u):
    """Bound on exp(z' - L') for logits z' within b of z, L' = logsumexp(z') in float32.
    L' lies between the float32 roundings of logsumexp(z -+ b) moved by the logsumexp's own
    evaluation (the exps' 4 ulps and the sum of n terms, (n + 4) u; log's 2 ulps of log n; the
    subtraction of the maximum, u |z_j - max| weighed by each share), so it is off the
    reference's L by at most D; z' - L' then rounds (u |z - L|) and exp adds 4 ulps:
    p' = p e^d with |d| <= b + u |z - L| + D."""
    n = z.shape[-1]
    shares = p / np.sum(p, axis=-1, keepdims=True)
    spread = np.sum(np.where(shares == 0, 0.0, shares * np.abs(
        z - np.max(z, axis=-1, keepdims=True))), axis=-1, keepdims=True)
    own = (n + 4 + 2 * math.log(n)) * u + u * spread
    bb = np.where(np.isfinite(b), b, 0.0)
    lse = _f32(_lse(z))
    low, high = _f32(_lse(z - bb) - own), _f32(_lse(z + bb) + own)
    shift = np.maximum(lse - low, high - lse)
    d = b + u * np.abs(z - lse) + shift
    return np.where(p == 0, 0.0, p * np.expm1(d)) + 4 * u * p + tolerance.exp_flush()
