"""Checks for layers whose training output is random: what must hold of any correct draw.

A fixture case carries such a check as {"kind": ..., parameters} in place of expected values,
so an implementation in any language can apply it:

dropout {"rate", "noise_shape"}: every output element is 0 or x / (1 - rate), within
(2 + rate / (1 - rate)) u relative (the division and the product, and rate rounded to float32
before 1 - rate, which that subtraction amplifies by rate / (1 - rate));
the pattern of zeros is constant along each axis where noise_shape is 1; and the number of
dropped draws (one per element of the broadcast noise shape) is within 5 binomial standard
deviations, plus 1, of rate * draws.
"""
import math

import numpy as np

import reference
from conformance.case import Outcome
from conformance.tolerance import U32


def draws_shape(x, noise_shape):
    """The shape of the random draws: noise_shape with its None entries taken from x."""
    return [x.shape[a] if noise_shape is None or noise_shape[a] is None else noise_shape[a]
            for a in range(x.ndim)]


def check(spec, inputs, outputs):
    """The outcome of the statistical check `spec` on a candidate's outputs."""
    kinds = {"dropout": dropout}
    if spec.get("kind") not in kinds:
        return Outcome("failed", f"unknown statistical check {spec.get('kind')!r}")
    return kinds[spec["kind"]](inputs, outputs, **{k: v for k, v in spec.items() if k != "kind"})


def dropout(inputs, outputs, rate, noise_shape=None):
    x = np.asarray(inputs[0], np.float64)
    if len(outputs) != 1 or np.shape(outputs[0]) != x.shape:
        return Outcome("failed", f"expected one output of shape {x.shape}")
    y = np.asarray(outputs[0], np.float64)
    kept = y != 0
    scaled = reference.dropout(x, rate=rate, noise_shape=noise_shape, training=True, keep=kept)
    error = np.where(kept, np.abs(y - scaled), 0.0)
    bound = (2 + rate / (1 - rate)) * U32 * np.abs(scaled)
    ratio = np.where(error == 0, 0.0, error / np.maximum(bound, 1e-300))
    if np.any(np.isnan(y)) or ratio.max(initial=0) > 1:
        index = tuple(int(i) for i in np.unravel_index(np.argmax(np.where(np.isnan(y), np.inf, ratio)), y.shape))
        return Outcome("failed", f"output {index} is {y[index]:.9g}: neither 0 nor x / (1 - rate) "
                                 f"= {scaled[index]:.9g}", float(ratio.max()))
    shape = draws_shape(x, noise_shape)
    for axis, size in enumerate(shape):
        if size == 1 and np.any(kept != kept.take([0], axis=axis)):
            return Outcome("failed", f"the dropped pattern varies along axis {axis}, where "
                                     f"noise_shape {noise_shape} shares one draw")
    draws = math.prod(shape)
    dropped = draws - int(np.count_nonzero(kept[tuple(slice(0, s) for s in shape)]))
    spread = 5 * math.sqrt(draws * rate * (1 - rate)) + 1
    if abs(dropped - rate * draws) > spread:
        return Outcome("failed", f"{dropped} of {draws} draws dropped; rate {rate} expects "
                                 f"{rate * draws:.1f} +- {spread:.1f}", float(ratio.max(initial=0)))
    return Outcome("passed", "", float(ratio.max(initial=0)))


def sample(spec, inputs, rng):
    """A correct random draw for the check `spec`: what the reference candidate returns."""
    return {"dropout": sample_dropout}[spec["kind"]](
        inputs, rng=rng, **{k: v for k, v in spec.items() if k != "kind"})


def sample_dropout(inputs, rate, noise_shape, rng):
    """A correct random draw, for the reference candidate: keep each draw with probability
    1 - rate, broadcast along the shared axes, scale the kept by 1 / (1 - rate)."""
    x = np.asarray(inputs[0], np.float64)
    shape = draws_shape(x, noise_shape)
    keep = np.broadcast_to(rng.random(shape) >= rate, x.shape)
    return [reference.dropout(x, rate=rate, noise_shape=noise_shape, training=True, keep=keep)]
