"""Gradient bounds of the merge layers (Add, Subtract, Multiply, Average, Maximum,
Concatenate, Dot) and their functional forms (add, subtract, ...: the same layer, built and
called; conformance/specs/merge.py), on routing.py's bound: each gradient element is a
float32 sum of T terms whose absolute values add up to M, each term with its own relative
rounding (routing.routed_bound).

An input broadcast along some axes gets the broadcast gradient summed back over them
(reference.backward_merge.unbroadcast): T counts what is summed, the same VJP on ones.

- Add, Subtract (dx_2 = -u), Concatenate (dx_i: u's slice): routed copies, exact where
  nothing is summed back.
- Maximum: u goes to the largest input, per element. Ties have no derivative: a case where
  two inputs tie for the maximum at some element (tie_gap of the broadcast inputs is 0) is
  out of scope; as for max pooling, float32 compares float32 inputs exactly, so any gap
  above 0 orders them as float64 does.
- Average: u / n routed as Add's, each term 2u (a division, or a rounded 1 / n times u).
- Multiply of k inputs: dx_i = u * prod_{j != i} x_j, k - 1 products (autodiff multiplies
  the cotangent along the forward's chain of products, each partial product rounded once):
  relative (1 + u)^(k - 1) - 1 of M, M the same VJP on |x| and |u|. A partial product may
  underflow (the small regime's factors reach 1e-30) and flush to 0, losing at most
  2^-126 times the factors still to come: (k - 1) 2^-126 times the same VJP on max(1, |x|)
  and max(1, |u|) covers every order.
- Dot (normalize=False): dx[b, i, k] = sum_j u[b, i, j] z[b, j, k], a sum of products as
  linear.py's: tolerance.sum_bound(the VJP on |x|, |z| and |u|, the VJP on ones, dx,
  products=True). normalize=True is not twinned: its backward runs through the norm's
  rsqrt (dx = (g - n sum(g n)) / ||x||, which float32 reaches by the chain rule through
  x * rsqrt(sum x^2)), nonlinear arithmetic of its own whose cancellation needs its own
  derivation, not a routed sum.

Inputs with a NaN or an infinity are not eligible (none in the gradient regimes).
"""
import numpy as np

import reference.backward as vjps
from conformance import tolerance
from conformance.backward.routing import (
    cotangent, in_scope, routed, routed_bound, units, vjp_of, without_ties,
)
from reference.merge import broadcast_inputs


def _maximum_gap(case):
    """The smallest gap between the largest input and the runner-up, per element."""
    return float(np.min(vjps.tie_gap(np.stack(broadcast_inputs(case.inputs)))))


def _summed_back(case):
    """How many elements of u reach each input element: Add's VJP on ones."""
    return vjp_of(vjps.add_vjp, case, *case.inputs, u=np.ones_like(cotangent(case)))


def _multiply(case):
    """Multiply's gradients and bounds (module docstring)."""
    u, k = cotangent(case), len(case.inputs)
    inputs = [np.asarray(x, np.float64) for x in case.inputs]
    values = vjp_of(vjps.multiply_vjp, case, *inputs, u=u)
    magnitudes = vjp_of(vjps.multiply_vjp, case, *[np.abs(x) for x in inputs], u=np.abs(u))
    terms = _summed_back(case)
    later = vjp_of(vjps.multiply_vjp, case, *[np.maximum(1.0, np.abs(x)) for x in inputs],
                   u=np.maximum(1.0, np.abs(u)))
    relative = (1.0 + tolerance.unit()) ** (k - 1) - 1.0
    return values, [routed_bound(v, m, t, relative) + (k - 1) * tolerance.tiny() * f
                    for v, m, t, f in zip(values, magnitudes, terms, later)]


def _dot(case):
    """Dot's gradients and bounds: sums of products (module docstring)."""
    x, z = (np.asarray(v, np.float64) for v in case.inputs)
    u = cotangent(case)
    values = vjp_of(vjps.dot_vjp, case, x, z, u=u)
    magnitudes = vjp_of(vjps.dot_vjp, case, np.abs(x), np.abs(z), u=np.abs(u))
    terms = vjp_of(vjps.dot_vjp, case, np.ones_like(x), np.ones_like(z), u=np.ones_like(u))
    return values, [tolerance.sum_bound(m, t, v, products=True)
                    for v, m, t in zip(values, magnitudes, terms)]


_FORMS = {
    "Add": routed(vjps.add_vjp),
    "Subtract": routed(vjps.subtract_vjp),
    "Multiply": _multiply,
    "Average": routed(vjps.average_vjp, units(2), _summed_back),
    "Maximum": without_ties(_maximum_gap, "the inputs at an element")(routed(vjps.maximum_vjp)),
    "Concatenate": routed(vjps.concatenate_vjp),
    "Dot": _dot,
}
# layer -> expected(case): each layer and its functional form (add, subtract, ...)
LAYERS = {**_FORMS, **{name.lower(): form for name, form in _FORMS.items()}}


def eligible(case):
    """Finite inputs, no tie for Maximum, Dot without normalize (module docstring)."""
    if case.layer.lower() == "dot" and case.config.get("normalize"):
        return False
    return in_scope(LAYERS, case)


def expected(case):
    """(the reference's gradients, their float32 bounds), one per input; OutOfScope at a
    tie of Maximum."""
    return LAYERS[case.layer](case)
