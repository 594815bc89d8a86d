"""Per-element error bounds derived from the computation, for a float32 candidate, or for the
precision a candidate declares (conformance/precision.py; `declaring` below).

A candidate computes in float32 on float32-exact inputs and weights, so its error comes from
rounding inside the computation only. The bounds below follow that computation:

- a sum of n products whose absolute values add up to S (the reference evaluated on |inputs|
  and |weights|) and whose value is y:
      |error| <= (LAMBDA * sqrt(n) + 1) * u * S  +  (n + 3) / 2 * u * |y|.
  The first term is the probabilistic bound of Higham and Mary (SIAM J. Sci. Comput. 41(5),
  2019): rounding errors of a float32 sum in any order (blocked, pairwise, fused multiply-add)
  grow like sqrt(n), not n, while they are independent, except with probability below
  2n exp(-LAMBDA^2 / 2). They are not independent when the terms repeat (constant or
  same-sign data): then every partial sum of the summation tree is about its share of y and
  the errors add up. Writing each partial sum as (its share of the n terms) * y plus the rest,
  the y part contributes at most u * |y| * (sum of the shares over the tree's nodes) <=
  u * |y| * (n + 1) / 2 (a sequential sum; a pairwise one gives log2 n), whatever the errors
  do, and rounding the n products adds u * |y| more: the second term. The rest fluctuates
  and stays in the first term. So constant data of any length is covered, and random data
  keeps its sqrt(n) bound: the worst-case n * u * S would let a relative 1e-4 error in a
  Dense(64) over 256 inputs pass.
- a monotone function f applied to z known within b: the error carried through is at most
  max(|f(z + b) - f(z)|, |f(z - b) - f(z)|), exact also at kinks (relu, hard_sigmoid); f's
  own evaluation adds ulps * u * (|f(z)| + scale), where scale covers cancellation in
  formulas such as alpha * (exp(z) - 1).
- data movement (reshape, transpose, max, masking) is exact: its bound is 0.
"""
import contextlib
import contextvars

import numpy as np

from conformance.precision import FLOAT32
from reference.config import OutOfScope

U32 = 2.0 ** -24                      # unit roundoff of float32
TINY32 = float(np.finfo(np.float32).tiny)   # results below this may flush to zero
# A vectorised float32 exp (Eigen's, in TensorFlow) may return 0 for results just above the
# smallest normal: tf.keras's softmax gave 0 where the exact value was 1.43e-38. Evaluations
# of exp-based functions allow this much absolute error.
EXP_FLUSH = 4.0 * TINY32
LAMBDA = 6.0

# The precision the bounds are derived for: float32 unless a candidate declares another. The
# functions below and the specs' bounds read it through unit(), tiny(), exp_flush() and
# overflow_threshold(); the statistical checks of random outputs stay float32's.
_DECLARED = contextvars.ContextVar("declared_precision", default=FLOAT32)


def declared():
    return _DECLARED.get()


@contextlib.contextmanager
def declaring(precision):
    """Bounds (and what elements.error_ratio admits) derived for `precision` inside."""
    token = _DECLARED.set(precision)
    try:
        yield precision
    finally:
        _DECLARED.reset(token)


def unit():
    """The declared unit roundoff of every operation's result (float32's 2^-24)."""
    return _DECLARED.get().u


def tiny():
    """The declared storage format's smallest normal number (float32's 2^-126): results below
    it may flush to zero."""
    return _DECLARED.get().tiny


def exp_flush():
    """EXP_FLUSH of the declared storage format."""
    return 4.0 * _DECLARED.get().tiny


def overflow_threshold():
    """Where round-to-nearest sends a result of the declared storage format to infinity."""
    return _DECLARED.get().overflow


def sum_bound(magnitude, terms, value=0.0, u=None, overflow="decline", products=False):
    """Bound on a float32 sum of `terms` products whose absolute values add up to `magnitude`
    and whose exact value is `value` (the +1 covers rounding the result itself); u: the
    declared precision's unless given. products=True: a matmul's or a convolution's products,
    whose operands a declared tf32 rounds first: (2 o + o^2) * magnitude more, o = 2^-11.

    Where the sum can overflow part way (overflow_sides), its float32 result depends on the
    evaluation order: with overflow="decline" (the default) the case is outside what float32
    determines (OutOfScope); with overflow="admit" the caller admits the infinity of
    overflow_sides' sign, and only a sum whose positive and negative terms both overflow
    is declined."""
    u = unit() if u is None else u
    magnitude = np.asarray(magnitude, np.float64)
    with np.errstate(invalid="ignore"):
        correlated = (terms + 3.0) / 2.0 * u * np.abs(np.asarray(value, np.float64))
    # an engine that flushes subnormals (FTZ/DAZ) may lose up to 2^-126 in each term and in
    # the result: (terms + 1) * TINY32, which only matters for results near the subnormals
    bound = (LAMBDA * np.sqrt(terms) + 1.0) * u * magnitude + correlated + (terms + 1) * tiny()
    operands = _DECLARED.get().operands
    if products and operands:
        bound = bound + (2.0 * operands + operands * operands) * magnitude
    sides = overflow_sides(magnitude, value, bound)
    if overflow != "decline" or not np.any(sides):
        return bound
    with np.errstate(invalid="ignore"):
        # where the exact value is itself beyond the range, every order gives its infinity,
        # which compare.py admits: determined
        part_way = (sides != 0) & (np.abs(np.asarray(value, np.float64)) + bound
                                   < overflow_threshold())
    if np.any(part_way):
        index = tuple(int(i) for i in np.argwhere(part_way)[0])
        name = declared().storage or "float32"
        raise OutOfScope(f"{UNDETERMINED}: a {name} sum whose terms' magnitudes add up to "
                         f"{float(np.broadcast_to(magnitude, sides.shape)[index]):.4g}, "
                         f"beyond {name}'s range, can overflow part way (element {index})")
    return bound


def overflow_sides(magnitude, value, bound=0.0):
    """Where a float32 sum can overflow part way although its exact value is in range, per
    element: +1 where its positive terms add up beyond float32's range (an evaluation order
    that adds them first reaches +inf, and +inf stays), -1 where its negative terms do, 0
    elsewhere. The positive terms add up to (magnitude + value) / 2 and the negative ones to
    (magnitude - value) / 2; `bound` covers the rounding of the partial sums. A sum of
    non-finite terms is IEEE's (the reference's) and is not counted. Where both add up beyond
    the range, an order can reach +inf, -inf or NaN (inf - inf), and the float32 result is not
    determined: OutOfScope, as for a recurrence that overflows."""
    magnitude = np.asarray(magnitude, np.float64)
    value = np.broadcast_to(np.asarray(value, np.float64), magnitude.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        if np.all(np.maximum(magnitude, np.abs(value)) + np.abs(bound) < overflow_threshold()):
            # the usual case: neither side reaches the range ((magnitude +- value) / 2 is at
            # most the larger of the two)
            return np.zeros(np.broadcast_shapes(magnitude.shape, np.shape(bound)), int)
        finite = np.isfinite(magnitude) & np.isfinite(value)
        positive = np.where(finite, (magnitude + value) / 2 + bound, 0.0) >= overflow_threshold()
        negative = np.where(finite, (magnitude - value) / 2 + bound, 0.0) >= overflow_threshold()
    if np.any(positive & negative):
        index = tuple(int(i) for i in np.argwhere(positive & negative)[0])
        name = declared().storage or "float32"
        raise OutOfScope(f"{UNDETERMINED}: a {name} sum whose positive terms and negative "
                         f"terms both add up beyond {name}'s range (magnitude "
                         f"{float(magnitude[index]):.4g}, value {float(value[index]):.4g} at "
                         f"element {index}) can give +inf, -inf or NaN by evaluation order")
    return np.where(positive, 1, np.where(negative, -1, 0))


def IDENTITY(z):
    """overflow_alternative's f for a sum followed by a division (a mean): the infinity stays."""
    return z


def overflow_alternative(f, z, sides):
    """The value an element takes where the sum z feeding f overflows part way: f evaluated
    (in IEEE float64, on the whole array, so that softmax sees the row) on z with each such
    sum replaced by the infinity of its side; elsewhere f(z) itself. None where no sum can
    overflow part way."""
    if not np.any(sides):
        return None
    z = np.asarray(z, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        return f(np.where(sides > 0, np.inf, np.where(sides < 0, -np.inf, z)))


def monotone_bound(f, z, bound):
    """How far f(z') can be from f(z) for |z' - z| <= bound, f monotone. An infinite z is
    exact (a float32 sum is +-inf in any order when its terms hold that infinity and not the
    other), so it carries no error."""
    z, bound = np.asarray(z, np.float64), np.asarray(bound, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        fz = f(z)
        carried = np.maximum(np.abs(f(z + bound) - fz), np.abs(f(z - bound) - fz))
    return np.where(np.isinf(z), 0.0, carried)


def evaluation_bound(y, ulps, scale=0.0, u=None):
    """Rounding of a function's own float32 evaluation: ulps * u * (|y| + scale)."""
    u = unit() if u is None else u
    with np.errstate(invalid="ignore"):
        return ulps * u * (np.abs(np.asarray(y, np.float64)) + scale) + exp_flush()


def softmax_bound(z, bound, axis=-1, u=None):
    """Bound on float32 softmax(z') along `axis` for |z'_j - z_j| <= b_j, per element.

    b_j is the given bound plus u * |z_j - max z| for the max subtraction. With
    s'_i = s_i e^(d_i) / sum_j s_j e^(d_j) and |d_j| <= b_j:
        s_i e^(-b_i - A) <= s'_i <= s_i e^(b_i + A'),
        A = log sum_j s_j e^(b_j),  A' = -log sum_j s_j e^(-b_j),
    so the carried error is s_i * expm1(b_i + max(A, A')). A weighs each b_j by its s_j: a
    very negative (or -inf) logit loosens nothing, since its share is (nearly) 0. Evaluation:
    the exps (4 ulps), their sum of n positive terms and the division. Rows holding NaN or
    +inf give NaN (expected NaN, which only NaN matches).
    """
    u = unit() if u is None else u
    z = np.asarray(z, np.float64)
    n = z.shape[axis]
    with np.errstate(invalid="ignore", over="ignore"):
        shifted = z - np.max(z, axis=axis, keepdims=True)
        e = np.exp(shifted)
        s = e / np.sum(e, axis=axis, keepdims=True)
        b = np.asarray(bound, np.float64) + u * np.where(np.isfinite(shifted),
                                                         np.abs(shifted), 0.0)
        share_up = np.where(s == 0, 0.0, s * np.exp(b))
        share_down = np.where(s == 0, 0.0, s * np.exp(-b))
        spread = np.maximum(np.log(np.sum(share_up, axis=axis, keepdims=True)),
                            -np.log(np.sum(share_down, axis=axis, keepdims=True)))
        carried = np.where(s == 0, 0.0, s * np.expm1(b + spread))
    return carried + s * (4.0 + LAMBDA * np.sqrt(n) + 2.0) * u + exp_flush()


F32_MAX = float(np.finfo(np.float32).max)
F32_OVERFLOW = 2.0 ** 128 - 2.0 ** 103   # round-to-nearest sends results this large to inf
# How an OutOfScope raised for the data, not the config, begins: float32 cannot determine the
# result (a recurrence overflowing float32). Another draw of the same parameters may not, and
# conformance.cases.fixture_cases draws again.
UNDETERMINED = "outside what float32 determines"


def exact():
    """Data movement: the candidate must return exactly the float32 inputs it was given."""
    return 0.0
