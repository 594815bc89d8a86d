"""Planted faulty candidates for MultiHeadAttention: the reference with one fault each.

- UnscaledScores: the scores q . k without the 1 / sqrt(key_dim) scale (no fault where
  key_dim is 1).
- CausalSeesNext / CausalSkipsSelf: the causal mask shifted by one, so that query position i
  sees key i + 1 too, or no longer sees key i (position 0 then sees nothing)."""
import math

import numpy as np

import reference
from tests.planted import Planted


def _call(case):
    kw = case.call_kwargs
    return dict(key=kw.get("key"), attention_mask=kw.get("attention_mask"),
                use_causal_mask=kw.get("use_causal_mask", False),
                return_attention_scores=kw.get("return_attention_scores", False))


def attention(case, weights=None, **call):
    """The reference's outputs of the case, with other weights or call arguments."""
    arguments = {**_call(case), **call}
    with np.errstate(invalid="ignore", over="ignore"):
        out = reference.multi_head_attention(
            case.inputs[0], case.call_kwargs["value"],
            *(case.weights if weights is None else weights), **arguments, **case.config,
            spec=case.spec)
    return list(out) if arguments["return_attention_scores"] else [out]


def unscaled(case):
    """Scores without 1 / sqrt(key_dim): the query projection (kernel and bias) multiplied
    by sqrt(key_dim), which the scale then brings back to q . k."""
    root = math.sqrt(case.config["key_dim"])
    weights = [np.asarray(w, np.float64) for w in case.weights]
    weights[0] = weights[0] * root
    if case.config.get("use_bias", True):
        weights[1] = weights[1] * root
    return attention(case, weights)


def shifted_causal(case, shift):
    """The causal mask j <= i + shift in place of j <= i (shift 1: i sees the next key too;
    shift -1: i no longer sees itself), combined with the case's attention mask."""
    if not _call(case)["use_causal_mask"]:
        return attention(case)
    t = np.shape(case.inputs[0])[1]
    s = np.shape(case.call_kwargs["value"])[1]
    causal = np.arange(s)[None, :] <= np.arange(t)[:, None] + shift
    given = _call(case)["attention_mask"]
    mask = causal[None] if given is None else np.asarray(given, bool) & causal[None]
    return attention(case, attention_mask=np.broadcast_to(mask, (np.shape(case.inputs[0])[0],
                                                                 t, s)),
                     use_causal_mask=False)


class UnscaledScores(Planted):
    """MultiHeadAttention without the 1 / sqrt(key_dim) scale of its scores."""
    layer = "MultiHeadAttention"

    def faulty(self, case):
        return unscaled(case)


class CausalSeesNext(Planted):
    """MultiHeadAttention's causal mask one too wide: position i sees key i + 1."""
    layer = "MultiHeadAttention"

    def faulty(self, case):
        return shifted_causal(case, 1)


class CausalSkipsSelf(Planted):
    """MultiHeadAttention's causal mask one too narrow: position i does not see key i."""
    layer = "MultiHeadAttention"

    def faulty(self, case):
        return shifted_causal(case, -1)
