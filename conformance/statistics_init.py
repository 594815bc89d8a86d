"""The check of a freshly initialized layer's weights: each must be a draw of the distribution
its initializer gives for its shape (reference/initializers.py describes them).

initializers {"weights": [{"name", "shape", "initializer", "distribution"}, ...]}: the
candidate's weights, in that order, must have exactly those shapes and finite values, and

exact: |got - expected| <= u |expected| (u = 2^-24: the float32 rounding of the expected
    value, gain * 1 or the constant; below 2^-126 the value may also flush to 0).
orthogonal: W reshaped to (rows, cols), with m x k = the longer and shorter side, must have
    orthonormal columns (rows >= cols: W^T W) or rows (W W^T), times gain:
    |(Gram - gain^2 I)[i, j]| <= gain^2 B, B = 2 g + g^2 + 6u + m 2^-52, g = k (LAMBDA sqrt(m)
    + 3) u. g bounds the distance of each computed column of a float32 Householder QR from an
    exactly orthonormal one: Higham (Accuracy and Stability, Thm 19.4) gives k reflections
    each perturbing a unit vector by an inner product and an update of length m, here with
    the probabilistic sqrt(m) growth of conformance/tolerance.py (LAMBDA = 6) in place of m,
    plus 3u for forming and applying the reflector; 6u covers gain and gain * q rounded to
    float32, m 2^-52 the float64 Gram. TensorFlow's float32 QR stays below 0.1 B (measured
    up to 4096 x 32, 1000 x 1000). No false alarm: it is a bound, not a test.
uniform, truncated_normal (bounded), normal: a correct candidate's values are taken to lie
    within s_i = 2G (|x_i - mu| + S) + 2u (|x_i| + |mu|) + 2^-125 of independent exact draws
    of the distribution (a coupling), G = 2^-16 the generator model of statistics_noise.py
    (a normal from Box-Muller or erfinv in float32; a uniform on a grid of 2^-23), S the
    scale (high - low; stddev; 16 stddev for the truncated normal, whose redraw at 2 stddev
    compares approximate values: a quantile coupling moves each draw by at most about 28 G
    stddev), 2u the affine map's rounding. Then, on the n values:
    - support (bounded kinds): low - s_i <= x_i <= high + s_i. Never fails a correct draw.
    - mean: bounded kinds: |mean(x) - mu| <= t + mean(s), t the smaller of Hoeffding's
      (width sqrt(ln(2 / a) / 2n)) and Bernstein's deviation (with the known variance) at
      probability a; normal: |sum(x - mean)| - sum(s) <= z sigma sqrt(n), P(|Z| > z) = a.
    - variance: bounded kinds: Y = (X - mu)^2 is bounded by max(high - mu, mu - low)^2, has
      the exact mean var and variance mu4 - var^2 (moments of the uniform, and of the
      truncated normal by the recursion m_k = (k-1) m_{k-2} + (a^{k-1} phi(a) - b^{k-1}
      phi(b)) / Z); |mean((x - mu)^2) - var| <= t + mean(s (2 |x - mu| + s)), t as above;
      normal: sum((x - mu)^2) / sigma^2 ~ chi-square(n), each side of statistics_noise's
      chi2_band at a / 2 (Chernoff), with the slack taken against the test.
    - KS: sup |F_n - F| <= e + f_max max(s), e = sqrt(ln(2 / a) / 2n): the DKW inequality
      with Massart's constant, P(sup |F_n - F| > e) <= 2 exp(-2 n e^2), holds for every n
      (no asymptotics); shifting each value by at most max(s) moves F by f_max max(s), f_max
      the largest density. F is exact (math.erfc for the normal CDFs).
    - reach (bounded kinds): some x_i must lie farther than c from mu, where
      P(|X - mu| < c)^n = a: P(no draw beyond c) = a exactly, and the slack is added to x.
      It catches initializers whose range is too narrow in few draws.
    A bounded weight has 4 tests, a normal one 3.

The false-alarm probability of a case is at most FALSE_ALARM = 1e-6: the shape, exact,
support and orthogonal tests never fail a correct candidate (within its rounding model), and
the K random weights (pieces counted separately) share 1e-6 by a union bound (Bonferroni):
each gets 1e-6 / K, split equally over its tests (a = 1e-6 / (4K) or 1e-6 / (3K)).
min_elements() gives, for planted faults, the fewest elements of the faulty weight that
fail the check with probability at least 1 - 1e-6 (each test's miss probability bounded
rigorously: the faulty draws' own Hoeffding/Bernstein/DKW tails, the reach and support
tests' exact ones). With one random weight in the case (with 10, in brackets):
    glorot_uniform on fan_in only, fan_in:fan_out 3:2 (96, 64): limit 0.913 of the right one:
        168 (193) elements, by reach; variance alone 3197, KS alone 16050
    the same, 2:3 (64, 96): limit 1.118 of it: 124 (124), by support; variance 2152, KS 10928
    he_normal without the truncation correction (stddev 0.880 of the right one): 435 (500),
        by reach; variance alone 3012, KS alone 29236
    orthogonal with unit-norm rows that are not orthogonal, an (u, 4u) LSTM recurrent
        kernel: u = 4, 64 elements (a bound on the chance that every inner product of
        disjoint row pairs falls within B)
A Dense(64) kernel on 96 inputs has 6144 elements: every fault above is caught there.

Keras 3's torch backend draws a truncated normal as the first of 4 normal draws inside
(-2, 2), and the first draw whatever it is when none is: a value beyond 2 stddev with
probability 0.0455^4 = 4.3e-6 per element. The support test fails it, rightly, on large
truncated-normal weights (about 1 - exp(-4.3e-6 n) of them: 2.5 % at n = 6144).
"""
import math

import numpy as np

from conformance.draws import FALSE_ALARM
from conformance.statistics_noise import GENERATOR, solve, chi2_band, normal_quantile
from conformance.tolerance import LAMBDA, TINY32, U32
from reference.initializers import distribution, truncated_normal

RANDOM = {"uniform": 4, "truncated_normal": 4, "normal": 3}   # tests per random weight
_erfc = np.frompyfunc(math.erfc, 1, 1)


def _phi_cdf(z):
    return 0.5 * np.asarray(_erfc(-np.asarray(z, np.float64) / math.sqrt(2)), np.float64)


def _phi(z):
    return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


class Law:
    """What the tests need of a distribution: mean mu, variance var, fourth central moment mu4,
    support [low, high] (None for the normal), scale S of the slack, largest density f_max,
    and the CDF."""

    def __init__(self, dist):
        kind = dist["kind"]
        if kind == "uniform":
            self.low, self.high = sorted((float(dist["low"]), float(dist["high"])))
            w = self.high - self.low
            self.mu, self.var, self.mu4 = (self.low + self.high) / 2, w * w / 12, w ** 4 / 80
            self.scale, self.f_max = w, 1 / w
            self.cdf = lambda t: np.clip((np.asarray(t) - self.low) / w, 0.0, 1.0)
        elif kind == "normal":
            m, s = float(dist["mean"]), abs(float(dist["stddev"]))
            self.low = self.high = None
            self.mu, self.var, self.sigma, self.scale = m, s * s, s, s
            self.f_max = 1 / (s * math.sqrt(2 * math.pi))
            self.cdf = lambda t: _phi_cdf((np.asarray(t) - m) / s)
        else:
            m, s = float(dist["mean"]), abs(float(dist["stddev"]))
            self.low, self.high = float(dist["low"]), float(dist["high"])
            a, b = (self.low - m) / s, (self.high - m) / s
            z = float(_phi_cdf(b) - _phi_cdf(a))
            raw = [1.0, (_phi(a) - _phi(b)) / z]
            for k in (2, 3, 4):
                raw.append((k - 1) * raw[k - 2] + (a ** (k - 1) * _phi(a)
                                                   - b ** (k - 1) * _phi(b)) / z)
            m1 = raw[1]
            self.mu, self.var = m + s * m1, s * s * (raw[2] - m1 * m1)
            self.mu4 = s ** 4 * (raw[4] - 4 * m1 * raw[3] + 6 * m1 ** 2 * raw[2] - 3 * m1 ** 4)
            self.scale = 16 * s
            self.f_max = _phi(min(max(0.0, a), b)) / (s * z)
            fa = float(_phi_cdf(a))
            self.cdf = lambda t: np.clip((_phi_cdf((np.asarray(t) - m) / s) - fa) / z, 0, 1)

    def slack(self, x):
        return 2 * GENERATOR * (np.abs(x - self.mu) + self.scale) \
            + 2 * U32 * (np.abs(x) + abs(self.mu)) + 2 * TINY32

    def reach(self, c):
        """P(|X - mu| < c)."""
        return float(self.cdf(self.mu + c) - self.cdf(self.mu - c))


def deviation(n, variance, bound, width, alpha):
    """t with P(|mean - E| >= t) <= alpha for the mean of n independent variables lying in an
    interval of `width`, of `variance`, each within `bound` of its expectation: the smaller
    of Hoeffding's t = width sqrt(L / 2n) and Bernstein's (n t^2 = L (2 variance + 2 bound
    t / 3)), L = ln(2 / alpha)."""
    big_l = math.log(2 / alpha)
    hoeffding = width * math.sqrt(big_l / (2 * n))
    bernstein = (big_l * bound / 3 + math.sqrt((big_l * bound / 3) ** 2
                                               + 2 * n * variance * big_l)) / n
    return min(hoeffding, bernstein)


def dkw(n, alpha):
    """e with P(sup |F_n - F| > e) <= alpha (Dvoretzky-Kiefer-Wolfowitz, Massart's constant)."""
    return math.sqrt(math.log(2 / alpha) / (2 * n))


def ks_distance(x, cdf):
    """sup_t |F_n(t) - F(t)| of the values x against the CDF."""
    x = np.sort(x)
    f, n = cdf(x), x.size
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - f), np.max(f - (i - 1) / n)))


def reach_radius(law, n, alpha):
    """The c with P(|X - mu| < c)^n = alpha: n correct draws all lie within c of mu with
    probability alpha."""
    half = max(law.high - law.mu, law.mu - law.low)
    return solve(law.reach, alpha ** (1 / n), 0.0, half)


def orthogonal_bound(m, k):
    """B of the module docstring, for a float32 orthonormal m x k (m >= k) from Householder QR."""
    g = k * (LAMBDA * math.sqrt(m) + 3) * U32
    return 2 * g + g * g + 6 * U32 + m * 2.0 ** -52


# The check ----------------------------------------------------------------------------------

def _units(specs, weights):
    """[(name, dist, values as float64)] with each piece of a "pieces" weight on its own."""
    out = []
    for spec, w in zip(specs, weights):
        dist, x = spec["distribution"], np.asarray(w, np.float64)
        if dist["kind"] != "pieces":
            out.append((f"{spec['name']} {tuple(spec['shape'])}", dist, spec, x))
            continue
        axis = dist["axis"] % x.ndim
        for start, stop, piece in dist["pieces"]:
            part = np.take(x, np.arange(start, stop), axis=axis)
            out.append((f"{spec['name']}[{start}:{stop}] {part.shape}", piece, spec, part))
    return out


def check_weights(check, weights):
    """None when every weight is consistent with its distribution, else a one-line message
    naming the weight, the test and the figures (module docstring)."""
    specs = check["weights"]
    if len(weights) != len(specs):
        return (f"expected {len(specs)} weights ({', '.join(s['name'] for s in specs)}), got "
                f"{len(weights)}")
    for spec, w in zip(specs, weights):
        if tuple(np.shape(w)) != tuple(spec["shape"]):
            return f"{spec['name']}: shape {tuple(np.shape(w))}, expected {tuple(spec['shape'])}"
        x = np.asarray(w, np.float64)
        if not np.all(np.isfinite(x)):
            where = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
            return f"{spec['name']} {x.shape}: element {where} is {x[where]}, not finite"
    units = _units(specs, weights)
    random = sum(1 for _, dist, _, _ in units if dist["kind"] in RANDOM)
    for name, dist, spec, x in units:
        share = FALSE_ALARM / max(random, 1) / RANDOM.get(dist["kind"], 1)
        failed = judge(dist, x, share)
        if failed:
            return f"{name}: {failed} for {_label(spec, dist)}"
    return None


def _label(spec, dist):
    fans = (f" (fan_in {dist['fan_in']}, fan_out {dist['fan_out']})" if "fan_in" in dist
            else "")
    return f"{spec['initializer']}{fans}"


def judge(dist, x, alpha):
    """None, or what is wrong with the values x (finite, float64) as a draw of dist; alpha is
    each random test's false-alarm probability."""
    kind = dist["kind"]
    if x.size == 0:
        return None
    if kind == "exact":
        return _exact(np.broadcast_to(np.asarray(dist["values"], np.float64), x.shape), x)
    if kind == "orthogonal":
        return _orthogonal(dist, x)
    degenerate = (dist["low"] == dist["high"]) if kind == "uniform" else dist["stddev"] == 0
    if degenerate:
        return _exact(np.full(x.shape, float(dist.get("low", dist.get("mean")))), x)
    if kind not in RANDOM:
        return f"unknown distribution kind {kind!r}"
    law, x = Law(dist), x.ravel()
    s = law.slack(x)
    if law.low is not None:
        outside = (x < law.low - s) | (x > law.high + s)
        if outside.any():
            i = int(np.argmax(outside))
            return (f"value {x[i]:.9g} at flat index {i} outside [{law.low:.9g}, "
                    f"{law.high:.9g}] (float32 slack {s[i]:.2g})")
    tests = (_mean, _variance, _ks) + ((_reach,) if law.low is not None else ())
    for test in tests:
        failed = test(law, x, s, alpha)
        if failed:
            return failed
    return None


def _exact(expected, x):
    error = np.abs(x - expected)
    bound = U32 * np.abs(expected) + np.where(np.abs(expected) < TINY32, TINY32, 0.0)
    if np.all(error <= bound):
        return None
    where = tuple(int(i) for i in np.unravel_index(np.argmax(error - bound), x.shape))
    return (f"element {where} is {x[where]:.9g}, expected {expected[where]:.9g} within "
            f"{bound[where]:.3g} (its float32 rounding)")


def _orthogonal(dist, x):
    w = x.reshape(dist["rows"], dist["cols"])
    side = "columns" if w.shape[0] >= w.shape[1] else "rows"
    w = w if side == "columns" else w.T
    m, k = w.shape
    gram, target = w.T @ w, dist["gain"] ** 2
    error = np.abs(gram - target * np.eye(k))
    bound = target * orthogonal_bound(m, k)
    if np.all(error <= bound):
        return None
    i, j = np.unravel_index(np.argmax(error), error.shape)
    product = "W^T W" if side == "columns" else "W W^T"
    return (f"{side} not orthonormal: ({product})[{i}, {j}] = {gram[i, j]:.6g}, expected "
            f"{target * (i == j):.6g} within {bound:.3g} (float32 Householder QR of a {m} x "
            f"{k} matrix, gain {dist['gain']:g})")


def _mean(law, x, s, alpha):
    n, got = x.size, float(np.mean(x))
    if law.low is None:
        z = normal_quantile(alpha) * law.sigma * (1 + 2 * U32)
        total = abs(math.fsum(x - law.mu)) - math.fsum(s)
        if total <= z * math.sqrt(n):
            return None
        within = z / math.sqrt(n) + float(np.mean(s))
        how = "exact normal"
    else:
        half = max(law.high - law.mu, law.mu - law.low)
        within = deviation(n, law.var, half, law.high - law.low, alpha) + float(np.mean(s))
        if abs(got - law.mu) <= within:
            return None
        how = "Hoeffding/Bernstein"
    return (f"mean {got:.6g} of {n} values, allowed [{law.mu - within:.6g}, "
            f"{law.mu + within:.6g}] ({how}, false alarm <= {alpha:.2g})")


def _variance(law, x, s, alpha):
    n, d = x.size, np.abs(x - law.mu)
    got = float(np.mean(d * d))
    if law.low is None:
        lo, hi = chi2_band(n, alpha / 2)
        least = math.fsum(np.maximum(d - s, 0.0) ** 2) / n
        most = math.fsum((d + s) ** 2) / n
        low, high = lo * law.var * (1 - 2 * U32) ** 2, hi * law.var * (1 + 2 * U32) ** 2
        if least <= high and most >= low:
            return None
        how = "chi-square"
    else:
        top = max(law.high - law.mu, law.mu - law.low) ** 2
        t = deviation(n, law.mu4 - law.var ** 2, max(law.var, top - law.var), top, alpha)
        slack = float(np.mean(s * (2 * d + s)))
        low, high = law.var - t - slack, law.var + t + slack
        if low <= got <= high:
            return None
        how = "Hoeffding/Bernstein"
    return (f"variance {got:.6g} of {n} values about {law.mu:.6g}, allowed [{low:.6g}, "
            f"{high:.6g}] ({how}, false alarm <= {alpha:.2g})")


def _ks(law, x, s, alpha):
    n = x.size
    got, allowed = ks_distance(x, law.cdf), dkw(n, alpha) + law.f_max * float(np.max(s))
    if got <= allowed:
        return None
    return (f"Kolmogorov-Smirnov distance {got:.4g} of {n} values from the exact CDF, allowed "
            f"{allowed:.4g} (DKW, false alarm <= {alpha:.2g})")


def _reach(law, x, s, alpha):
    n = x.size
    got = float(np.max(np.abs(x - law.mu) + s))
    if n * math.log(max(law.reach(got), 1e-300)) >= math.log(alpha):
        return None
    return (f"no value of {n} lies farther than {got:.6g} from {law.mu:.6g}; correct draws "
            f"go beyond {reach_radius(law, n, alpha):.6g} except with probability {alpha:.2g} "
            f"(range too narrow)")


# Planted faults, and how many elements catch them --------------------------------------------

def _glorot_fan_in(ratio):
    """glorot_uniform drawn with n = fan_in (the limit sqrt(3 / fan_in)), fans in `ratio`."""
    def make(j, rng):
        shape = (ratio[0] * j, ratio[1] * j)
        limit = math.sqrt(3.0 / shape[0])
        return (distribution("GlorotUniform", {}, shape),
                rng.uniform(-limit, limit, shape))
    return make


def _he_uncorrected(j, rng):
    """he_normal without the truncation correction: stddev sqrt(2 / fan_in), truncated at 2."""
    shape = (j, j)
    s = math.sqrt(2.0 / j)
    z = rng.standard_normal(shape)
    while np.any(np.abs(z) > 2):
        z[np.abs(z) > 2] = rng.standard_normal(int(np.sum(np.abs(z) > 2)))
    return distribution("HeNormal", {}, shape), s * z


def _orthogonal_unit_rows(j, rng):
    """An LSTM recurrent kernel (j, 4j) with rows of unit norm that are not orthogonal."""
    w = rng.standard_normal((j, 4 * j))
    return distribution("Orthogonal", {}, (j, 4 * j)), w / np.linalg.norm(w, axis=1,
                                                                         keepdims=True)


# name -> (a function (j, rng) -> (correct distribution, faulty float64 draw) of a weight that
# grows with j, the number of elements at j)
FAULTS = {
    "glorot_uniform on fan_in only, fan_in:fan_out 3:2 (e.g. 96, 64)":
        (_glorot_fan_in((3, 2)), lambda j: 6 * j * j),
    "glorot_uniform on fan_in only, fan_in:fan_out 2:3 (e.g. 64, 96)":
        (_glorot_fan_in((2, 3)), lambda j: 6 * j * j),
    "he_normal without the truncation correction": (_he_uncorrected, lambda j: j * j),
    "orthogonal with unit rows, not orthogonal (LSTM recurrent kernel (u, 4u))":
        (_orthogonal_unit_rows, lambda j: 4 * j * j),
}


def ks_between(good, bad):
    """A lower bound on sup |F - G| of two laws centred alike: its largest value on a grid."""
    half = good.high - good.mu
    grid = np.linspace(good.mu - 1.5 * half, good.mu + 1.5 * half, 20001)
    return float(np.max(np.abs(good.cdf(grid) - bad.cdf(grid))))


def _miss_bounded(good, bad, n, alpha, distance):
    """{test: an upper bound on the probability that n exact draws of the law `bad` pass that
    test of the law `good`} for the bounded kinds (the two centred at 0; distance is
    ks_between(good, bad))."""
    half, bad_half = good.high - good.mu, bad.high - bad.mu
    s_max = float(good.slack(np.array([good.mu + max(half, bad_half)]))[0])
    misses, edge = {}, half + s_max
    misses["support"] = bad.reach(edge) ** n if bad_half > edge else 1.0
    widest = good.reach(bad_half + 2 * s_max)         # the reach test's figure, at most
    misses["reach"] = 0.0 if n * math.log(max(widest, 1e-300)) < math.log(alpha) else 1.0
    top = half ** 2
    t = deviation(n, good.mu4 - good.var ** 2, max(good.var, top - good.var), top, alpha)
    gap = abs(bad.var - good.var) - t - 2 * s_max * (2 * max(half, bad_half) + s_max)
    misses["variance"] = 1.0 if gap <= 0 else min(
        math.exp(-2 * n * gap ** 2 / bad_half ** 4),
        math.exp(-n * gap ** 2 / (2 * (bad.mu4 - bad.var ** 2 + bad_half ** 2 * gap / 3))))
    gap = distance - dkw(n, alpha) - good.f_max * s_max
    misses["KS"] = 1.0 if gap <= 0 else min(1.0, 2 * math.exp(-2 * n * gap ** 2))
    return misses


def _miss_orthogonal(u):
    """P(the unit rows of an (u, 4u) normal matrix pass): disjoint pairs of rows are
    independent, and the inner product of two has the density of a coordinate of a uniform
    unit vector in R^m, m = 4u, at most c_m = Gamma(m/2) / (sqrt(pi) Gamma((m-1)/2)):
    P(|<a, b>| <= B) <= 2 B c_m, so P(pass) <= (2 B c_m)^(u // 2)."""
    m = 4 * u
    c = math.exp(math.lgamma(m / 2) - math.lgamma((m - 1) / 2)) / math.sqrt(math.pi)
    return min(1.0, 2 * orthogonal_bound(m, u) * c) ** (u // 2)


def _fault_laws(name):
    """(correct, faulty) distributions of a bounded fault; its tests depend on the number of
    elements only (scaling the fans scales both laws alike)."""
    if name.startswith("glorot"):
        shape = (3, 2) if "3:2" in name else (2, 3)
        limit = math.sqrt(3.0 / shape[0])
        return (distribution("GlorotUniform", {}, shape),
                {"kind": "uniform", "low": -limit, "high": limit})
    return distribution("HeNormal", {}, (2, 2)), truncated_normal(0.0, 1.0)


def _smallest(caught):
    """The smallest n >= 1 with caught(n), caught monotone (doubling, then bisection)."""
    high = 1
    while not caught(high):
        high *= 2
    low = high // 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if caught(mid) else (mid, high)
    return high


def min_elements(random_weights=1, target=FALSE_ALARM, by_test=False):
    """{fault: (elements, test)}: the fewest elements of the faulty weight at which it fails
    the check with probability at least 1 - target, and the test that catches it, in a case
    of `random_weights` random weights (which sets each test's share of the false alarm).
    More elements catch it too. Orthogonal: elements of the (u, 4u) kernel, the smallest u.
    by_test: {fault: {test: elements}} for each test on its own."""
    out = {}
    for name, (_, count) in FAULTS.items():
        if name.startswith("orthogonal"):
            u = _smallest(lambda j: _miss_orthogonal(j) <= target)
            out[name] = {"orthogonal": count(u)} if by_test else (count(u), "orthogonal")
            continue
        correct, faulty = _fault_laws(name)
        alpha = FALSE_ALARM / random_weights / RANDOM[correct["kind"]]
        good, bad = Law(correct), Law(faulty)
        distance, tests = ks_between(good, bad), {}
        for test in ("support", "reach", "variance", "KS"):
            def caught(n):
                return _miss_bounded(good, bad, n, alpha, distance)[test] <= target
            if caught(1 << 24):
                tests[test] = _smallest(caught)
        best = min(tests, key=tests.get)
        out[name] = tests if by_test else (tests[best], best)
    return out


def planted(name, elements, rng):
    """(check, weights) of one faulty weight of FAULTS[name] with at least `elements`
    elements, float32."""
    make, count = FAULTS[name]
    j = 1
    while count(j) < elements:
        j += 1
    dist, w = make(j, rng)
    w = np.asarray(w, np.float32)
    return ({"kind": "initializers", "weights": [{"name": "kernel", "shape": list(w.shape),
                                                   "initializer": name.split()[0],
                                                   "distribution": dist}]}, [w])

