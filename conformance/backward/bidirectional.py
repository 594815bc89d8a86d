"""Gradient bounds of Bidirectional (conformance/backward/__init__.py for the twins): a forward
and a backward recurrent layer on the same x, their first outputs merged
(reference/backward_wrappers.py, bidirectional_vjp).

Bidirectional's backward is the merge's VJP, then each direction's own backpropagation
through time on its own weights, then the two input gradients added:

    merge         y_m = merge(y, y_rev)             its VJP (dy, dy_rev) from u
    directions    (dx_f, dh0_f, dW_f) = VJP_f(dy, u's forward states' share)
                  (dx_b, dh0_b, dW_b) = VJP_b(dy_rev, u's backward states' share)
    input         dx = dx_f + dx_b

Each direction's VJP is the recurrent family's (recurrent.py: the walk over the steps in the
forward's Bounded arithmetic), on the direction's case (its config with go_backwards and the
zero_output_for_mask Keras forces, its weights, its half of the initial states, the call's
mask), handed a Bounded cotangent: what the merge gives it, within its bound. The merge's VJP:

- concat: u split at y's width; sum: u to both; None: u[0] and u[1]: routed, exact (bound 0);
- ave (y + y_rev) / 2: u / 2 to both, a halving, exact but for a subnormal: Bounded's u |v|
  + 2^-126, as the forward's merge_bounded counts it;
- mul y * y_rev: dy = u * y_rev and dy_rev = u * y, products of the exact u with the other
  direction's float32 output, which the backend computed in its forward pass, so within that
  output's forward bound e: |dy32 - dy| <= |u| e_rev + u |dy| + 2^-126 (Bounded's product),
  and e_rev is the backward direction's forward replay (bounded.py's fold, as the forward
  spec bounds it; y_rev reversed back to processing order with return_sequences, as the
  backend's gradient is).
The direction's walk then carries that bound: dy enters as the given cotangent of its last
output (or of every step's) with e, and every product and sum after it takes e in as it takes
the carried error of dh (recurrent.py's plus, through, matmul).
dx = dx_f + dx_b is one float32 addition: e_f + e_b + u |dx| + 2^-126 (plus: exact where one
of them is an exact zero). The initial states' and weights' gradients are each direction's
alone (nothing else reads them): their bounds are the direction's.
"""
from dataclasses import replace

import numpy as np

import reference.backward as vjps
from conformance.backward import recurrent
from conformance.backward.guards import replayed
from conformance.specs import wrappers as wrappers_spec
from reference.config import OutOfScope

LAYERS = ("Bidirectional",)


def direction_cases(case):
    """The forward and the backward layer's gradient cases (no cotangent yet): each
    direction's case of the forward spec (conformance/specs/wrappers.py: its config, weights,
    half of the initial states and the call's mask)."""
    return [replace(c, params=case.params) for c in wrappers_spec.direction_cases(case)]


def eligible(case):
    """Both directions eligible for the recurrent family (not stateful, no row-mixing
    activation)."""
    try:
        return all(recurrent.eligible(c) for c in direction_cases(case))
    except (ValueError, OutOfScope):
        return False


def forward_output(case):
    """A direction's first output in Bounded arithmetic as its forward computes it (the
    sequence in processing order with return_sequences, else the last step's output)."""
    f = recurrent.FORWARD
    stack, x, mask, states, args = recurrent.prepared(case, f)
    with np.errstate(invalid="ignore", over="ignore"):
        stacked, _ = f.fold(stack.step, x, states, mask, args["go_backwards"],
                            args["zero_output_for_mask"])
    if not args["return_sequences"]:
        return f.Bounded(stacked.v[:, -1], np.broadcast_to(stacked.e, stacked.v.shape)[:, -1])
    e = np.broadcast_to(stacked.e, stacked.v.shape)
    if args["time_major"]:
        return f.Bounded(np.swapaxes(stacked.v, 0, 1), np.swapaxes(e, 0, 1))
    return f.Bounded(stacked.v, e)


def merge_vjp(u, y, y_rev, merge_mode, f):
    """(dy, dy_rev) Bounded, y and y_rev (the same time order) Bounded: the module
    docstring's merge VJP."""
    if merge_mode is None:
        return u[0], u[1]
    u, = u
    if merge_mode == "concat":
        width = y.v.shape[-1]
        return (f.Bounded(u.v[..., :width], u.e[..., :width]),
                f.Bounded(u.v[..., width:], u.e[..., width:]))
    if merge_mode == "sum":
        return u, u
    if merge_mode == "mul":
        return u * y_rev, u * y
    half = u * 0.5                                                  # "ave"
    return half, half


def _flip(b, axis, f):
    return f.Bounded(np.flip(b.v, axis), np.flip(b.e, axis))


def expected(case):
    """(the reference's gradients, their float32 bounds): dx, the initial states' gradients
    (the forward layer's, then the backward layer's), the forward layer's weights', then the
    backward layer's; OutOfScope where a derivative is not defined or a bound is not finite."""
    f = recurrent.FORWARD
    merge_mode = case.config.get("merge_mode", "concat")
    kwargs = {k: v for k, v in case.call_kwargs.items() if k != "training"}
    with np.errstate(invalid="ignore", over="ignore"):
        grads = vjps.bidirectional_vjp(case.inputs[0], *case.weights, u=case.cotangent,
                                       **kwargs, **case.config, spec=case.spec)
        forward, backward = direction_cases(case)
        u = [f.Bounded(np.asarray(w, np.float64), np.zeros(np.shape(w)))
             for w in case.cotangent]
        y, y_rev = forward_output(forward), forward_output(backward)
        sequences = forward.config.get("return_sequences", False)
        axis = 0 if forward.config.get("time_major", False) else 1
        if sequences:
            y_rev = _flip(y_rev, axis, f)           # time order, as the merge reads it
        merged = 2 if merge_mode is None else 1
        dy, dy_rev = merge_vjp(u[:merged], y, y_rev, merge_mode, f)
        if sequences:
            dy_rev = _flip(dy_rev, axis, f)         # the backward layer's processing order
        states = 0 if not forward.config.get("return_state") else (len(u) - merged) // 2
        gf = recurrent.replay(forward, [dy, *u[merged:merged + states]])
        gb = recurrent.replay(backward, [dy_rev, *u[merged + states:]])
        count = (0 if case.call_kwargs.get("initial_state") is None
                 else len(case.call_kwargs["initial_state"]) // 2)
        dx = recurrent.plus(gf[0], gb[0], f)
        bounded = [dx, *gf[1:1 + count], *gb[1:1 + count], *gf[1 + count:], *gb[1 + count:]]
    return replayed(case, grads, [b.v for b in bounded],
                    [np.broadcast_to(b.e, np.shape(b.v)) for b in bounded])
