"""Statistical checks of the random regularisation layers in training: GaussianNoise,
GaussianDropout and AlphaDropout (conformance/statistics.py dispatches to them).

Each check fails a correct candidate with probability at most FALSE_ALARM = 1e-6 per case;
the argument follows each check. The model of a correct candidate: its random draws are
independent, normal draws are float32 values within GENERATOR = 2^-16 (relative) of an exact
N(0, 1) sample (an erfinv or Box-Muller evaluated in float32 is within a few ulps; the tails a
float32 uniform cannot reach lie beyond 5 sigma and are left out of the argument), and
uniform draws lie on a grid of 2^-23 or finer, so that P(u < rate) is within GRID = 2^-20 of
rate (conformance/draws.py). Its arithmetic is float32 with round to nearest; results below
2^-126 may flush to zero.

gaussian_noise {"stddev"}: y = x + n, n ~ N(0, s^2), s = |stddev| rounded to float32 (within
u = 2^-24 relative). Non-finite x must come back as it is; a finite x gives a finite y. The
informative elements are the finite x with 2u|x| <= s / 16 (chosen on x alone, so their
noises stay independent N(0, s^2)); for them d = y - x, computed in float64, is the noise up
to its float32 roundings: |d - n| <= slack = 2u(|y| + |d|) + GENERATOR |d| + 2^-125 (the
product s * z, the sum x + n, the generator's error, a flushed subnormal). Then
normal_sample(d, slack, s) below.

gaussian_dropout {"rate"}: y = x * xi, xi ~ N(1, s^2), s = sqrt(rate / (1 - rate)) rounded to
float32. NaN x gives NaN; +-inf x gives +-inf or NaN (xi may be negative, or 0); a finite x
with |x| <= 2^100 gives a finite y. The informative elements are those with
2^-100 <= |x| <= 2^100; for them d = y / x - 1 is xi - 1 up to |d - (xi - 1)| <= slack =
4u(|y / x| + |d|) + GENERATOR |d| + 2^-125 / |x| (s * z, the sum with 1, the product with x,
the float64 division, a flushed product). Then normal_sample(d, slack, s).

normal_sample(d, slack, s): the n informative d_i are N(0, s^2) draws n_i, each within
slack_i; s is known within a factor 1 +- 2u. Three tests, each of false-alarm probability
FALSE_ALARM / 3 (a union bound gives FALSE_ALARM):
1. the mean: sum n_i ~ N(0, n s^2); the check fails when |sum d_i| - sum slack_i exceeds
   t s (1 + 2u) sqrt(n), t the normal quantile with P(|Z| > t) = FALSE_ALARM / 3 (t = 5.10);
2. the spread from above: sum n_i^2 = s^2 X, X ~ chi-square(n). Chernoff's bound
   P(X >= n(1 + e)) <= exp(-n/2 (e - ln(1 + e))) gives hi = 1 + e at FALSE_ALARM / 3; the
   check fails when sum max(|d_i| - slack_i, 0)^2 > hi n s^2 (1 + 2u)^2;
3. the spread from below: P(X <= n(1 - e)) <= exp(-n/2 (-e - ln(1 - e))) gives lo = 1 - e;
   the check fails when sum (|d_i| + slack_i)^2 < lo n s^2 (1 - 2u)^2.
The sums bracket the exact ones whatever the roundings, so a correct candidate fails only
when its draws fall in those tails. Fewer than MIN_SAMPLES informative elements: nothing is
tested (no case is that small). Noise ignored (d = 0), a wrong std (the variance in its
place, GaussianDropout's sqrt(rate) for sqrt(rate / (1 - rate))), noise of the wrong mean:
each moves the statistics out of the band; `miss_probability` bounds the chance that a given
wrong std passes (the cases' sizes are chosen with it: conformance/specs/noise.py).

alpha_dropout {"rate", "noise_shape"}: every element is K = a x + b where kept and
D = a ALPHA_P + b where dropped (reference.noise.alpha_dropout_affine's a and b), each within
6u(|a x| + |a ALPHA_P| + |b|) + 2^-125 (a, b and ALPHA_P rounded to float32, then up to four
float32 operations, in any association). NaN x gives NaN (kept, or dropped as
x * 0 + ALPHA_P) or D (dropped by a select); +-inf x gives itself (kept), NaN or D. A draw is
observed through a finite x whose K and D lie more than twice that bound apart (chosen on x
alone). One draw per element of the noise shape (None entries: x's length) decides every
element it covers: the observed ones must agree (draws.shared_draws). The number of
dropped observed draws is Binomial(m, p) with p within GRID of rate; the check fails when it
lies in a tail of exact binomial probability at most FALSE_ALARM / 2 on either side (computed
at rate - GRID below and rate + GRID above, the worst p): a false alarm at most FALSE_ALARM
(draws.binomial_count, the same test as Dropout's).
The values alone fail an AlphaDropout without its affine correction (x and ALPHA_P as they
are) or with the noise ignored (y = x), wherever x is not the map's fixed point b / (1 - a).
"""
import math

import numpy as np

from conformance.case import Outcome
from conformance.draws import FALSE_ALARM, binomial_count, shared_draws
from conformance.tolerance import TINY32, U32
from reference.noise import (
    ALPHA_P, alpha_dropout, alpha_dropout_affine, gaussian_dropout, gaussian_dropout_stddev,
    gaussian_noise, noise_shape_of,
)

GENERATOR = 2.0 ** -16
MIN_SAMPLES = 100
_LARGE = 2.0 ** 100


# Tail bounds ----------------------------------------------------------------------------------

def solve(f, target, low, high):
    """The x in [low, high] with f(x) = target, f increasing (bisection to float precision)."""
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if f(mid) < target else (low, mid)
    return high


def normal_quantile(alpha):
    """t with P(|Z| > t) = alpha, Z ~ N(0, 1)."""
    return solve(lambda t: -math.erfc(t / math.sqrt(2)), -alpha, 0.0, 40.0)


def chi2_band(n, alpha):
    """(lo, hi): P(X <= lo n) <= alpha and P(X >= hi n) <= alpha for X ~ chi-square(n), from
    Chernoff's bounds (module docstring). lo is 0 where no e < 1 reaches alpha."""
    target = math.log(1 / alpha)
    up = solve(lambda e: n / 2 * (e - math.log1p(e)), target, 0.0, 1e6)
    down_f = lambda e: n / 2 * (-e - math.log1p(-e))
    down = solve(down_f, target, 0.0, 1.0 - 1e-16) if down_f(1 - 1e-16) > target else 1.0
    return 1.0 - down, 1.0 + up


def miss_probability(n, ratio, alpha=FALSE_ALARM / 3):
    """A bound on the chance that normal_sample passes n exact draws of N(0, ratio * s^2) as
    N(0, s^2) (the slack left out): Chernoff's bound of the spread test's band."""
    lo, hi = chi2_band(n, alpha)
    if ratio < 1:
        e = lo / ratio - 1
        return 1.0 if e <= 0 else math.exp(-n / 2 * (e - math.log1p(e)))
    e = 1 - hi / ratio
    return 1.0 if e <= 0 else math.exp(-n / 2 * (-e - math.log1p(-e)))


# The checks -----------------------------------------------------------------------------------

def _one_output(inputs, outputs):
    x = np.asarray(inputs[0], np.float64)
    if len(outputs) != 1 or np.shape(outputs[0]) != x.shape:
        return x, None
    return x, np.asarray(outputs[0], np.float64)


def _wrong(allowed, x, y, what):
    """A failed Outcome naming the first element outside `allowed`, or None."""
    if allowed.all():
        return None
    index = tuple(int(i) for i in np.argwhere(~allowed)[0])
    return Outcome("failed", f"output {index} is {y[index]:.9g} for input {x[index]:.9g}: "
                             f"expected {what}")


def normal_sample(d, slack, s, what):
    """The three tests of the module docstring on draws d (each within slack) of N(0, s^2)."""
    n = d.size
    if n < MIN_SAMPLES:
        return Outcome("passed", "", 0.0)
    t = normal_quantile(FALSE_ALARM / 3)
    wide, narrow = s * (1 + 2 * U32), s * (1 - 2 * U32)
    total, total_slack = math.fsum(d), math.fsum(slack)
    if abs(total) - total_slack > t * wide * math.sqrt(n):
        within = (t * wide * math.sqrt(n) + total_slack) / n
        return Outcome("failed", f"{what}: the mean of {n} draws is {total / n:.4g}; 0 expected "
                                 f"within {within:.3g} (false alarm <= {FALSE_ALARM / 3:.2g})")
    lo, hi = chi2_band(n, FALSE_ALARM / 3)
    least = math.fsum(np.maximum(np.abs(d) - slack, 0.0) ** 2)
    most = math.fsum((np.abs(d) + slack) ** 2)
    if least > hi * n * wide ** 2 or most < lo * n * narrow ** 2:
        return Outcome("failed", f"{what}: the std of {n} draws is "
                                 f"{math.sqrt(math.fsum(d ** 2) / n):.4g}; {s:.6g} expected, "
                                 f"within [{s * math.sqrt(lo):.4g}, {s * math.sqrt(hi):.4g}] "
                                 f"(chi-square, false alarm <= {2 * FALSE_ALARM / 3:.2g})")
    return Outcome("passed", "", 0.0)


def check_gaussian_noise(inputs, outputs, stddev):
    x, y = _one_output(inputs, outputs)
    if y is None:
        return Outcome("failed", f"expected one output of shape {x.shape}")
    finite = np.isfinite(x)
    with np.errstate(invalid="ignore"):
        allowed = np.where(finite, np.isfinite(y), (y == x) | np.isnan(x) & np.isnan(y))
    failed = _wrong(allowed, x, y, "the input itself where it is not finite, a finite value "
                                   "where it is")
    if failed:
        return failed
    s = abs(stddev)
    used = finite & (2 * U32 * np.abs(x) <= s / 16)
    d = y[used] - x[used]
    slack = 2 * U32 * (np.abs(y[used]) + np.abs(d)) + GENERATOR * np.abs(d) + 2 * TINY32
    return normal_sample(d, slack, s, f"the noise y - x (stddev {stddev})")


def check_gaussian_dropout(inputs, outputs, rate):
    x, y = _one_output(inputs, outputs)
    if y is None:
        return Outcome("failed", f"expected one output of shape {x.shape}")
    bounded = np.isfinite(x) & (np.abs(x) <= _LARGE)
    allowed = np.where(bounded, np.isfinite(y),
                       np.where(np.isnan(x), np.isnan(y), ~np.isfinite(y)))
    allowed |= np.isfinite(x) & ~bounded          # beyond 2^100: x * xi may overflow
    failed = _wrong(allowed, x, y, "x times a finite factor (NaN stays NaN, inf gives inf or "
                                   "NaN)")
    if failed:
        return failed
    used = bounded & (np.abs(x) >= 1 / _LARGE)
    ratio = y[used] / x[used]
    d = ratio - 1
    slack = (4 * U32 * (np.abs(ratio) + np.abs(d)) + GENERATOR * np.abs(d)
             + 2 * TINY32 / np.abs(x[used]))
    return normal_sample(d, slack, gaussian_dropout_stddev(rate),
                         f"the factor y / x - 1 (rate {rate}, std sqrt(rate / (1 - rate)))")


def check_alpha_dropout(inputs, outputs, rate, noise_shape=None):
    x, y = _one_output(inputs, outputs)
    if y is None:
        return Outcome("failed", f"expected one output of shape {x.shape}")
    a, b = alpha_dropout_affine(rate)
    dropped_value = a * ALPHA_P + b
    finite = np.isfinite(x)
    with np.errstate(invalid="ignore", over="ignore"):
        kept_value = np.where(finite, a * x + b, x)
        bound = 6 * U32 * (np.abs(np.where(finite, a * x, 0)) + abs(a * ALPHA_P) + abs(b)) \
            + 2 * TINY32
        kept = np.abs(y - kept_value) <= bound
        dropped = np.abs(y - dropped_value) <= bound
        allowed = np.where(finite, kept | dropped,
                           dropped | np.isnan(y) | (y == x))
    failed = _wrong(allowed, x, y, f"a * x + b = {a:.9g} * x + {b:.9g} (kept) or "
                                   f"a * ALPHA_P + b = {dropped_value:.9g} (dropped)")
    if failed:
        return failed
    with np.errstate(invalid="ignore", over="ignore"):
        observed = finite & (np.abs(kept_value - dropped_value) > 2 * bound)
    shape = noise_shape_of(x.shape, noise_shape)
    failed, draws, drops = shared_draws(x.shape, shape, observed, kept, noise_shape)
    if failed:
        return failed
    return binomial_count(draws, drops, rate) or Outcome("passed", "", 0.0)


# Correct draws, for the reference candidate ---------------------------------------------------

def sample_gaussian_noise(inputs, rng, stddev):
    x = np.asarray(inputs[0], np.float64)
    with np.errstate(invalid="ignore"):
        return [gaussian_noise(x, stddev=stddev, training=True, spec="keras2",
                               noise=rng.standard_normal(x.shape))]


def sample_gaussian_dropout(inputs, rng, rate):
    x = np.asarray(inputs[0], np.float64)
    with np.errstate(invalid="ignore"):
        return [gaussian_dropout(x, rate=rate, training=True, spec="keras2",
                                 noise=rng.standard_normal(x.shape))]


def sample_alpha_dropout(inputs, rng, rate, noise_shape=None):
    x = np.asarray(inputs[0], np.float64)
    keep = rng.random(noise_shape_of(x.shape, noise_shape)) >= rate
    return [alpha_dropout(x, rate=rate, noise_shape=noise_shape, training=True, keep=keep)]


KINDS = {"gaussian_noise": (check_gaussian_noise, sample_gaussian_noise),
         "gaussian_dropout": (check_gaussian_dropout, sample_gaussian_dropout),
         "alpha_dropout": (check_alpha_dropout, sample_alpha_dropout)}
