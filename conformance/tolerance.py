"""Per-element error bounds derived from the computation, for a float32 candidate.

A candidate computes in float32 on float32-exact inputs and weights, so its error comes from
rounding inside the computation only. The bounds below follow that computation:

- a sum of n products whose absolute values add up to S (the reference evaluated on |inputs|
  and |weights|): |error| <= (LAMBDA * sqrt(n) + 1) * u * S. This is the probabilistic bound of
  Higham and Mary (SIAM J. Sci. Comput. 41(5), 2019): rounding errors of a float32 sum in any
  order (blocked, pairwise, fused multiply-add) grow like sqrt(n), not n, except with
  probability below 2n exp(-LAMBDA^2 / 2). The worst-case bound n * u * S would let a relative
  1e-4 error in a Dense(64) over 256 inputs pass, so it is not used.
- a monotone function f applied to z known within b: the error carried through is at most
  max(|f(z + b) - f(z)|, |f(z - b) - f(z)|), exact also at kinks (relu, hard_sigmoid); f's
  own evaluation adds ulps * u * (|f(z)| + scale), where scale covers cancellation in
  formulas such as alpha * (exp(z) - 1).
- data movement (reshape, transpose, max, masking) is exact: its bound is 0.
"""
import numpy as np

U32 = 2.0 ** -24                      # unit roundoff of float32
TINY32 = float(np.finfo(np.float32).tiny)   # results below this may flush to zero
LAMBDA = 6.0


def sum_bound(magnitude, terms, u=U32):
    """Bound on a float32 sum of `terms` products whose absolute values add up to `magnitude`
    (the +1 covers rounding the result itself)."""
    return (LAMBDA * np.sqrt(terms) + 1.0) * u * np.asarray(magnitude, np.float64) + TINY32


def monotone_bound(f, z, bound):
    """How far f(z') can be from f(z) for |z' - z| <= bound, f monotone."""
    z, bound = np.asarray(z, np.float64), np.asarray(bound, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        fz = f(z)
        return np.maximum(np.abs(f(z + bound) - fz), np.abs(f(z - bound) - fz))


def evaluation_bound(y, ulps, scale=0.0, u=U32):
    """Rounding of a function's own float32 evaluation: ulps * u * (|y| + scale)."""
    return ulps * u * (np.abs(np.asarray(y, np.float64)) + scale) + TINY32


def softmax_bound(z, bound, axis=-1, u=U32):
    """Bound on float32 softmax(z') along `axis` for |z' - z| <= bound elementwise.

    Perturbing every z_j by at most B scales s_i by a factor within exp(+-2B), so the carried
    error is s_i * (exp(2B) - 1); B adds u * |z - max z| for the max subtraction. Evaluation:
    the exps (4 ulps), their sum of n positive terms and the division.
    """
    z = np.asarray(z, np.float64)
    n = z.shape[axis]
    shifted = z - np.max(z, axis=axis, keepdims=True)
    s = np.exp(shifted) / np.sum(np.exp(shifted), axis=axis, keepdims=True)
    b = np.max(np.asarray(bound) + u * np.abs(shifted), axis=axis, keepdims=True)
    return s * np.expm1(2.0 * b) + s * (4.0 + LAMBDA * np.sqrt(n) + 2.0) * u + TINY32


def exact():
    """Data movement: the candidate must return exactly the float32 inputs it was given."""
    return 0.0
