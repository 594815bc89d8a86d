"""What the statistical checks of dropping layers share (conformance/statistics.py's Dropout,
statistics_noise.py's AlphaDropout; this module imports neither): the false-alarm probability
of a check, the model of a correct candidate's uniform draws, which draw covers which element,
and the exact binomial tails of the number of draws dropped.

A correct candidate keeps or drops with independent uniform draws on a grid of 2^-23 or finer,
compared with rate rounded to float32, so that P(drop) = P(u < rate) is within GRID = 2^-20
of rate. The number of dropped draws among m observed is then Binomial(m, p), p within GRID
of rate, and binomial_band(m, rate - GRID, rate + GRID, FALSE_ALARM / 2) bounds both tails.
"""
import math

import numpy as np

from conformance.case import Outcome

FALSE_ALARM = 1e-6          # a check's probability of failing a correct candidate, per case
GRID = 2.0 ** -20           # |P(u < rate) - rate| for a correct candidate's uniform draws


def shared_draws(x_shape, shape, observed, kept, noise_shape):
    """(a failed Outcome or None, observed draws, dropped draws) of one random draw per element
    of `shape` broadcast to x_shape: the `observed` elements' `kept` flags of one draw must
    agree."""
    draw = np.broadcast_to(np.arange(math.prod(shape)).reshape(shape), x_shape)[observed]
    kept = np.asarray(kept)[observed]
    seen = np.bincount(draw, minlength=math.prod(shape))
    kept_count = np.bincount(draw, weights=kept, minlength=math.prod(shape))
    mixed = np.flatnonzero((kept_count > 0) & (kept_count < seen))
    if mixed.size:
        where = tuple(int(i) for i in np.unravel_index(mixed[0], shape))
        return (Outcome("failed", f"the elements of one random draw (noise-shape index {where}) "
                                  f"are partly kept and partly dropped; noise_shape {noise_shape} "
                                  f"shares one draw along its axes of size 1"), 0, 0)
    return (None, int(np.count_nonzero(seen)),
            int(np.count_nonzero((seen > 0) & (kept_count == 0))))


def _log_pmf(n, k, p):
    if p <= 0 or p >= 1:
        return 0.0 if k == (0 if p <= 0 else n) else -math.inf
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
            + k * math.log(p) + (n - k) * math.log1p(-p))


def binomial_band(n, p_low, p_high, alpha):
    """(k_low, k_high): P(K < k_low) <= alpha for K ~ Binomial(n, p_low) and P(K > k_high)
    <= alpha for K ~ Binomial(n, p_high), exactly (summed pmf); k_low the largest and k_high
    the smallest such k, so that a K outside [k_low, k_high] lies in a tail of probability at
    most alpha for every p in [p_low, p_high]."""
    k_low, tail = 0, 0.0
    while k_low <= n:
        tail += math.exp(_log_pmf(n, k_low, p_low))
        if tail > alpha:
            break
        k_low += 1
    k_high, tail = n, 0.0
    while k_high >= 0:
        tail += math.exp(_log_pmf(n, k_high, p_high))
        if tail > alpha:
            break
        k_high -= 1
    return k_low, k_high


def binomial_count(draws, dropped, rate):
    """The count test of a dropping layer's draws: a failed Outcome when `dropped` of `draws`
    observed draws lies outside binomial_band(draws, rate - GRID, rate + GRID,
    FALSE_ALARM / 2) (each tail at most FALSE_ALARM / 2: a false alarm at most FALSE_ALARM),
    else None."""
    k_low, k_high = binomial_band(draws, max(rate - GRID, 0.0), min(rate + GRID, 1.0),
                                  FALSE_ALARM / 2)
    if not k_low <= dropped <= k_high:
        return Outcome("failed", f"{dropped} of {draws} observed draws dropped; rate {rate} "
                                 f"expects {k_low} to {k_high} (exact binomial tails, false "
                                 f"alarm <= {FALSE_ALARM:g})")
    return None
