"""Per-element error bounds derived from the computation, for a float32 candidate.

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
import numpy as np

U32 = 2.0 ** -24                      # unit roundoff of float32
TINY32 = float(np.finfo(np.float32).tiny)   # results below this may flush to zero
# A vectorised float32 exp (Eigen's, in TensorFlow) may return 0 for results just above the
# smallest normal: tf.keras's softmax gave 0 where the exact value was 1.43e-38. Evaluations
# of exp-based functions allow this much absolute error.
EXP_FLUSH = 4.0 * TINY32
LAMBDA = 6.0


def sum_bound(magnitude, terms, value=0.0, u=U32):
    """Bound on a float32 sum of `terms` products whose absolute values add up to `magnitude`
    and whose exact value is `value` (the +1 covers rounding the result itself)."""
    magnitude = np.asarray(magnitude, np.float64)
    with np.errstate(invalid="ignore"):
        correlated = (terms + 3.0) / 2.0 * u * np.abs(np.asarray(value, np.float64))
    # an engine that flushes subnormals (FTZ/DAZ) may lose up to 2^-126 in each term and in
    # the result: (terms + 1) * TINY32, which only matters for results near the subnormals
    return (LAMBDA * np.sqrt(terms) + 1.0) * u * magnitude + correlated + (terms + 1) * TINY32


def monotone_bound(f, z, bound):
    """How far f(z') can be from f(z) for |z' - z| <= bound, f monotone. An infinite z is
    exact (a float32 sum is +-inf in any order when its terms hold that infinity and not the
    other), so it carries no error."""
    z, bound = np.asarray(z, np.float64), np.asarray(bound, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        fz = f(z)
        carried = np.maximum(np.abs(f(z + bound) - fz), np.abs(f(z - bound) - fz))
    return np.where(np.isinf(z), 0.0, carried)


def evaluation_bound(y, ulps, scale=0.0, u=U32):
    """Rounding of a function's own float32 evaluation: ulps * u * (|y| + scale)."""
    with np.errstate(invalid="ignore"):
        return ulps * u * (np.abs(np.asarray(y, np.float64)) + scale) + EXP_FLUSH


def softmax_bound(z, bound, axis=-1, u=U32):
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
    return carried + s * (4.0 + LAMBDA * np.sqrt(n) + 2.0) * u + EXP_FLUSH


F32_MAX = float(np.finfo(np.float32).max)
F32_OVERFLOW = 2.0 ** 128 - 2.0 ** 103   # round-to-nearest sends results this large to inf
# How an OutOfScope raised for the data, not the config, begins: float32 cannot determine the
# result (a recurrence overflowing float32). Another draw of the same parameters may not, and
# conformance.cases.fixture_cases draws again.
UNDETERMINED = "outside what float32 determines"


def exact():
    """Data movement: the candidate must return exactly the float32 inputs it was given."""
    return 0.0
