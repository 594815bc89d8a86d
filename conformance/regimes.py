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
special  ordinary values with NaN, +inf and -inf among them (at least one of each when the
         array has three elements or more).
ties     values from a small set holding the breakpoints of relu (0) and of both specs'
         hard_sigmoid (+-2.5, +-3): equal values where a layer picks one, and kinks.
long     the spec's shapes make reductions of thousands of terms; the data is constant,
         same-sign or N(0, 1) (the case's seed picks which, weights alike), so rounding errors
         that add up rather than cancel are reached.

A spec lists the regimes that can change its result (`regimes` in its domains); a layer that
only moves data, say, skips long.
"""
import numpy as np

REGIMES = ("unit", "large", "tiny", "offset", "special", "ties", "long")
ELEMENTWISE = REGIMES[:-1]          # every regime but long: for layers without a reduction
LONG_TERMS = (1024, 4096)           # the range of reduction lengths the long regime reaches
LONG_KINDS = ("constant", "same_sign", "normal")
TIE_VALUES = (-3.0, -2.5, -1.0, 0.0, 1.0, 2.5, 3.0)
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
    """Replace about a fifth of x (and at least one each of NaN, +inf, -inf when x has three
    elements or more) by special values, in place."""
    specials = np.array([np.nan, np.inf, -np.inf])
    where = np.flatnonzero(rng.random(x.size) < 0.2)
    x[where] = rng.choice(specials, where.size)
    if x.size >= 3:
        x[rng.choice(x.size, 3, replace=False)] = specials
