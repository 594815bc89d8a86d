"""Checks for layers whose training output is random: what must hold of any correct draw.

A fixture case carries such a check as {"kind": ..., parameters} in place of expected values,
so an implementation in any language can apply it:

dropout {"rate", "noise_shape"}: one random draw per element of the noise shape (noise_shape
with its None entries taken from x) decides, for the elements it covers, whether they are kept
(y = x / (1 - rate), within (2 + rate / (1 - rate)) u relative: the division and the product,
and rate rounded to float32 before 1 - rate, which that subtraction amplifies by
rate / (1 - rate)) or dropped (y = 0). An element whose x is 0 gives 0 either way, and one
whose x is inf or NaN may also give NaN when dropped (0 * inf in tf_keras), and one whose |x|
is below 2^-126 may come back flushed to zero: such elements say nothing about their draw. A
draw is observed when it covers a finite x of at least 2^-126 in magnitude; all the
observed elements of one draw must agree (kept or dropped), and the number of dropped
observed draws must lie within 5 binomial standard deviations, plus 1, of rate * observed
draws (a false alarm about once in 1.7 million cases). rate 1 drops everything.
"""
import math

import numpy as np

import reference
from conformance.case import Outcome
from conformance.tolerance import TINY32, U32


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
    scale = 0.0 if rate >= 1 else 1.0 / (1.0 - rate)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = x * scale if rate < 1 else np.zeros_like(x)
        error = np.abs(y - scaled)
        bound = (2 + rate / max(1 - rate, 1e-300)) * U32 * np.abs(scaled)
        kept_ok = (error <= bound) | (np.isnan(y) & np.isnan(scaled)) | (y == scaled)
    known = np.isfinite(x) & (np.abs(x) >= TINY32)
    allowed = ((y == 0) | kept_ok | (~np.isfinite(x) & np.isnan(y))
               | (np.abs(x) < TINY32) & (np.abs(y) < TINY32))
    if not allowed.all():
        index = tuple(int(i) for i in np.argwhere(~allowed)[0])
        return Outcome("failed", f"output {index} is {y[index]:.9g}: neither 0 nor x / (1 - rate) "
                                 f"= {scaled[index]:.9g}")
    shape = draws_shape(x, noise_shape)
    draw = np.broadcast_to(np.arange(math.prod(shape)).reshape(shape), x.shape)[known]
    kept = (y != 0)[known]
    observed = np.bincount(draw, minlength=math.prod(shape))
    kept_count = np.bincount(draw, weights=kept, minlength=math.prod(shape))
    mixed = np.flatnonzero((kept_count > 0) & (kept_count < observed))
    if mixed.size:
        where = tuple(int(i) for i in np.unravel_index(mixed[0], shape))
        return Outcome("failed", f"the elements of one random draw (noise-shape index {where}) "
                                 f"are partly kept and partly dropped; noise_shape {noise_shape} "
                                 f"shares one draw along its axes of size 1")
    draws = int(np.count_nonzero(observed))
    dropped = int(np.count_nonzero((observed > 0) & (kept_count == 0)))
    spread = 5 * math.sqrt(draws * rate * (1 - rate)) + 1
    if abs(dropped - rate * draws) > spread:
        return Outcome("failed", f"{dropped} of {draws} observed draws dropped; rate {rate} "
                                 f"expects {rate * draws:.1f} +- {spread:.1f}")
    return Outcome("passed", "", 0.0)


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
    with np.errstate(invalid="ignore"):
        return [reference.dropout(x, rate=rate, noise_shape=noise_shape, training=True,
                                  keep=keep)]
