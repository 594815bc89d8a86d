"""Input regimes: the kinds of values where float32 implementations break. Every spec draws
its inputs (and its weights, where that matters) in a named regime, a parameter of its cases
like any other, so the matrix and the report show it.

unit     N(0, 1) (times the spec's scale): the ordinary case.
large    |x| in [30, 300], random signs: float32 exp overflows (exp(89) > 3.4e38), tanh,
         sigmoid and softsign saturate, sums of large terms cancel. Elementwise layers may ask
         for a few huge values too (up to 1e38), where x * x and exp overflow.
tiny     signed zeros, subnormals (below 2^-126) and small normals: flush-to-zero, underflow.
offset   one large mean (+-1e2 to +-1e4) with unit spread: cancellation in sums, differences,
         and softmax of nearly equal large logits.
special  ordinary values with NaN, +inf, -inf and -0.0 among them: about a fifth of the
         elements, and at least one of each in every array of four elements or more (the case
         builder grows the batch of a smaller input to four elements; conformance/cases.py).
ties     values from a small set holding the breakpoints of relu (0) and of both specs'
         hard_sigmoid (+-2.5, +-3): equal values where a layer picks one, and kinks.
small    magnitudes log-uniform over 1e-30 .. 1e-2, both signs: where exp(x) - 1 in place of
         expm1(x), log(1 + x) in place of log1p(x), or a difference of nearly equal terms loses
         every digit, while every value is a normal float32 (the subnormals are `tiny`'s).
long     the spec's shapes make reductions of thousands of terms; the data is constant,
         same-sign or N(0, 1) (the case's seed picks which, weights alike), so rounding errors
         that add up rather than cancel are reached.

A spec lists the regimes that can change its result (`regimes` in its domains); a layer that
only moves data, say, skips long.
"""
import math

import numpy as np

REGIMES = ("unit", "large", "tiny", "small", "offset", "special", "ties", "long")
ELEMENTWISE = REGIMES[:-1]          # every regime but long: for layers without a reduction
LONG_TERMS = (1024, 4096)           # the range of reduction lengths the long regime reaches
LONG_KINDS = ("constant", "same_sign", "normal")
TIE_VALUES = (-3.0, -2.5, -1.0, 0.0, 1.0, 2.5, 3.0)
SMALL_RANGE = (1e-30, 1e-2)         # the small regime's magnitudes, log-uniform
SPECIAL_VALUES = (np.nan, np.inf, -np.inf, -0.0)  # every special-regime array holds each
SPECIAL_NAMES = ("NaN", "+inf", "-inf", "-0.0")
SMALLEST_SUBNORMAL = 2.0 ** -149
TINY_NORMAL = 2.0 ** -126


class Regime:
    """The draws of one case in one regime: inputs with `values`, weights with `weights`.
    The long regime's kind (constant, same-sign, normal) is drawn once, for both."""

    def __init__(self, name, rng):
        if name not in REGIMES:
            raise ValueError(f"unknown regime {name!r}: expected one of {REGIMES}")
        self.name, self.rng = name, rng
        self.kind = LONG_KINDS[int(rng.integers(len(LONG_KINDS)))] if name == "long" else None

    def values(self, shape, scale=1.0, huge=False):
        """float32 inputs of `shape` in this regime (`scale` stretches the unit regime;
        `huge` adds magnitudes up to 1e38 to the large regime, for elementwise layers)."""
        rng, size = self.rng, int(np.prod(shape))
        if self.name == "unit":
            x = rng.standard_normal(size) * scale
        elif self.name == "large":
            x = _signs(rng, size) * 10.0 ** rng.uniform(1.5, 2.5, size)
            if huge:
                many = rng.random(size) < 0.2
                x[many] = _signs(rng, int(many.sum())) * 10.0 ** rng.uniform(19, 38, many.sum())
        elif self.name == "tiny":
            x = _tiny(rng, size)
        elif self.name == "small":
            low, high = np.log10(SMALL_RANGE)
            x = _signs(rng, size) * 10.0 ** rng.uniform(low, high, size)
        elif self.name == "offset":
            mean = float(_signs(rng, 1)[0] * 10.0 ** rng.uniform(2, 4))
            x = mean + rng.standard_normal(size)
        elif self.name == "special":
            x = rng.standard_normal(size) * scale
            _sprinkle_specials(rng, x)
        elif self.name == "ties":
            x = rng.choice(TIE_VALUES, size)
        else:
            x = self._long(size, scale)
        return x.astype(np.float32).reshape(shape)

    def weights(self, shape, scale):
        """float32 weights: N(0, scale^2), except in the long regime, where they follow the
        data's kind (constant products make the rounding errors of a sum correlate)."""
        if self.name == "long":
            return self._long(int(np.prod(shape)), scale).astype(np.float32).reshape(shape)
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    def _long(self, size, scale):
        if self.kind == "constant":
            return np.full(size, abs(self.rng.standard_normal()) * scale + 0.1)
        if self.kind == "same_sign":
            return np.abs(self.rng.standard_normal(size)) * scale
        return self.rng.standard_normal(size) * scale


def _signs(rng, size):
    return np.where(rng.random(size) < 0.5, -1.0, 1.0)


def _tiny(rng, size):
    """A mix of +0, -0, subnormals and normals just above the subnormal range."""
    kind = rng.integers(0, 4, size)
    subnormal = SMALLEST_SUBNORMAL * 2.0 ** rng.uniform(0, 22, size)
    small = TINY_NORMAL * 2.0 ** rng.uniform(0, 20, size)
    x = np.select([kind == 0, kind == 1, kind == 2], [np.zeros(size), subnormal, small],
                  -subnormal)
    x[kind == 0] *= _signs(rng, int((kind == 0).sum()))          # +0 and -0
    return x * np.where(kind == 2, _signs(rng, size), 1.0)


def _sprinkle_specials(rng, x):
    """Replace about a fifth of x by special values, in place, and at least one each of NaN,
    +inf, -inf and -0.0 (as many of them as fit, in a random order, when x has fewer than
    four elements)."""
    specials = np.array(SPECIAL_VALUES)
    where = np.flatnonzero(rng.random(x.size) < 0.2)
    x[where] = rng.choice(specials, where.size)
    fit = min(x.size, len(specials))
    x[rng.choice(x.size, fit, replace=False)] = rng.permutation(specials)[:fit]


def special_kinds(x):
    """Which of SPECIAL_VALUES an array holds, as booleans in their order (NaN, +inf, -inf,
    -0.0)."""
    return tuple(bool(where.any()) for where in special_positions(x))


def special_positions(x):
    """One boolean array per special value (NaN, +inf, -inf, -0.0): where x holds it."""
    x = np.asarray(x, np.float64)
    return [np.isnan(x), np.isposinf(x), np.isneginf(x), (x == 0) & np.signbit(x)]


def grown_for_specials(shapes):
    """Input shapes whose batch (axis 0) is grown, where needed, so that every input holds
    at least len(SPECIAL_VALUES) elements: the special regime puts each special value in
    every input. An input with an empty axis besides the batch holds nothing and is left."""
    need = len(SPECIAL_VALUES)
    short = [s for s in shapes if len(s) and 0 < math.prod(s) < need]
    if not short:
        return [tuple(s) for s in shapes]
    batch = max(-(-need // math.prod(s[1:])) for s in short)
    return [(max(batch, s[0]), *s[1:]) if len(s) else tuple(s) for s in shapes]
