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
observed elements of one draw must agree (kept or dropped). The number K of dropped observed
draws, of m observed, is Binomial(m, p) with p within 2^-20 of rate (conformance/draws.py: a
uniform on a grid of 2^-23 or finer, compared with rate in float32); it must lie in
[k_lo, k_hi], k_lo the largest k with P(K < k) <= 5e-7 at p = rate - 2^-20 and k_hi the
smallest k with P(K > k) <= 5e-7 at p = rate + 2^-20 (exact binomial tails, summed pmf:
draws.binomial_band). A correct candidate fails a case with probability at most 1e-6 (each
tail at most 5e-7 for every p in the range). rate 1 drops everything.

recurrent_dropout {"layer", "spec", "config", "weights", "per_gate", "per_step"}: a SimpleRNN,
GRU or LSTM in training (conformance/specs/recurrent.py says how each Keras draws its masks).
A row of the batch draws, once per call, a keep bit per input feature and per unit of the
previous output (per gate and feature or unit where "per_gate"; the input's per time step and
feature where "per_step"), each dropped with its rate; its output is the layer's with x and h
multiplied by keep / (1 - rate). The cases are tiny (2 to 8 bits a row), so the check
enumerates every draw of a row: for each of the 2^bits patterns it computes the outputs and
their float32 bound (the recurrent bound, Bounded arithmetic; the cases' rate 0.5 makes
1 / (1 - rate) = 2 exact, so x * mask rounds nothing), and
1. every row must equal, within bound, its outputs under SOME pattern (a candidate that
   ignores dropout, or scales the kept values by anything but 1 / (1 - rate), matches none
   wherever the dropped or mis-scaled value reaches the output); this part never false-alarms
   on a correct candidate, whose true draw is always among the matching patterns;
2. the count: over the n = rows x bits bits, the true number of drops D is a sum of n
   independent Bernoulli(rate) bits, mean m = sum of the rates. Per row, the matching
   patterns' drop counts give D a range [lo, hi] that holds the true D; the check fails when
   hi < m - t or lo > m + t, t = sqrt(n ln(2 / 1e-6) / 2). By Hoeffding's inequality
   P(|D - m| >= t) <= 2 exp(-2 t^2 / n) = 1e-6: a correct candidate fails a case at most once
   in a million, whichever bits its outputs leave unidentified. A candidate that keeps
   every bit (scaled right: it matches the all-kept draw) has D in [0, few] and fails where
   m - t > few: the cases hold n >= 128 bits at rate 0.5 (m - t >= 33).
"""
import math

import numpy as np

import reference
from conformance.case import Outcome
from conformance.draws import FALSE_ALARM, binomial_count, shared_draws
from conformance.specs import recurrent
from conformance.statistics_noise import KINDS as NOISE_KINDS
from conformance.tolerance import TINY32, U32


def draws_shape(x, noise_shape):
    """The shape of the random draws: noise_shape with its None entries taken from x."""
    return [x.shape[a] if noise_shape is None or noise_shape[a] is None else noise_shape[a]
            for a in range(x.ndim)]


def check(spec, inputs, outputs):
    """The outcome of the statistical check `spec` on a candidate's outputs."""
    if spec.get("kind") not in KINDS:
        return Outcome("failed", f"unknown statistical check {spec.get('kind')!r}")
    return KINDS[spec["kind"]][0](inputs, outputs,
                                  **{k: v for k, v in spec.items() if k != "kind"})


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
    failed, draws, dropped = shared_draws(x.shape, draws_shape(x, noise_shape), known, y != 0,
                                          noise_shape)
    if failed:
        return failed
    return binomial_count(draws, dropped, rate) or Outcome("passed", "", 0.0)


def sample(spec, inputs, rng):
    """A correct random draw for the check `spec`: what the reference candidate returns."""
    return KINDS[spec["kind"]][1](inputs, rng=rng,
                                  **{k: v for k, v in spec.items() if k != "kind"})


def sample_dropout(inputs, rate, noise_shape, rng):
    """A correct random draw, for the reference candidate: keep each draw with probability
    1 - rate, broadcast along the shared axes, scale the kept by 1 / (1 - rate)."""
    x = np.asarray(inputs[0], np.float64)
    shape = draws_shape(x, noise_shape)
    keep = np.broadcast_to(rng.random(shape) >= rate, x.shape)
    with np.errstate(invalid="ignore"):
        return [reference.dropout(x, rate=rate, noise_shape=noise_shape, training=True,
                                  keep=keep)]


def _patterns(bits):
    """Every boolean pattern of `bits` keep bits, (2^bits, bits)."""
    return (np.arange(2 ** bits)[:, None] >> np.arange(bits)[None, :] & 1).astype(bool)


def recurrent_dropout(inputs, outputs, **check):
    return judge_recurrent_dropout(every_draw(check, inputs), outputs)


def every_draw(check, inputs):
    """(rates of the bits, every pattern of a row's bits, and for each pattern the layer's
    outputs as Bounded, all rows drawing that pattern)."""
    x = np.asarray(inputs[0], np.float64)
    rates = recurrent.dropout_bits(check, x.shape)
    patterns = _patterns(rates.size)
    expected = []
    for bits in patterns:
        x_under, weights = recurrent.under_dropout(check, check["weights"], x, bits)
        expected.append(recurrent.bounded_call(check["layer"], x_under, weights,
                                               check["config"], check["spec"])[0])
    return rates, patterns, expected


def judge_recurrent_dropout(draws, outputs):
    """The recurrent_dropout check of `outputs` against every_draw's patterns."""
    rates, patterns, expected = draws
    got = [np.asarray(g, np.float64) for g in outputs]
    if len(got) != len(expected[0]) or any(g.shape != e.v.shape
                                           for g, e in zip(got, expected[0])):
        return Outcome("failed", f"expected {len(expected[0])} outputs of shapes "
                                 f"{[e.v.shape for e in expected[0]]}, got "
                                 f"{[g.shape for g in got]}")
    rows = got[0].shape[0]
    ratio = np.zeros((len(patterns), rows))
    for k, outputs_k in enumerate(expected):
        for g, e in zip(got, outputs_k):
            with np.errstate(invalid="ignore", divide="ignore"):
                error = np.abs(g - e.v)
                r = np.where(error == 0, 0.0, error / e.e)
            r = np.where(np.isnan(r), np.inf, r).reshape(rows, -1).max(axis=1)
            ratio[k] = np.maximum(ratio[k], r)
    fits = ratio <= 1
    lost = np.flatnonzero(~fits.any(axis=0))
    if lost.size:
        row = int(lost[0])
        best = int(np.argmin(ratio[:, row]))
        return Outcome("failed", f"row {row} matches no dropout draw: its nearest, keep bits "
                                 f"{patterns[best].astype(int).tolist()}, is off by "
                                 f"{ratio[best, row]:.3g} times the bound ({lost.size} of "
                                 f"{rows} rows match none)", float(ratio[best, row]))
    drops = np.sum(~patterns, axis=1)
    low = int(sum(drops[fits[:, r]].min() for r in range(rows)))
    high = int(sum(drops[fits[:, r]].max() for r in range(rows)))
    n, mean = rows * rates.size, rows * float(rates.sum())
    t = math.sqrt(n * math.log(2 / FALSE_ALARM) / 2)
    if high < mean - t or low > mean + t:
        return Outcome("failed", f"between {low} and {high} of {n} dropout bits dropped; the "
                                 f"rates expect {mean:.1f} +- {t:.1f} (Hoeffding, false alarm "
                                 f"<= {FALSE_ALARM:g})")
    return Outcome("passed", "", 0.0)


def sample_recurrent_dropout(inputs, rng, **check):
    """A correct draw: each row keeps each bit with probability 1 - rate, and computes the
    reference under it (specs.recurrent.under_dropout)."""
    x = np.asarray(inputs[0], np.float64)
    rates = recurrent.dropout_bits(check, x.shape)
    keep = rng.random((x.shape[0], rates.size)) >= rates
    plain, _ = recurrent.STEPS[check["layer"]]
    rows = []
    for r in range(x.shape[0]):
        x_row, weights = recurrent.under_dropout(check, check["weights"], x[r:r + 1], keep[r])
        rows.append(plain(x_row, *weights, **check["config"], spec=check["spec"]))
    return [np.concatenate(parts, axis=0) for parts in zip(*rows)]


# kind -> (check, sampler): the random regularisation layers' come from statistics_noise
KINDS = {"dropout": (dropout, sample_dropout),
         "recurrent_dropout": (recurrent_dropout, sample_recurrent_dropout), **NOISE_KINDS}
