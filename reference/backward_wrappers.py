"""The backward pass of the layers that call other layers (reference/wrappers.py,
reference/sequential.py): TimeDistributed, Bidirectional and Sequential. Each is written
through its inner layers' own VJPs (INNER_VJPS), so nothing of Dense, Conv2D, the recurrent
layers, Masking or Embedding is differentiated twice.

Conventions as reference/backward_recurrent.py: the forward's arguments (@takes_config: the
wrapper's complete get_config(), its inner layers' configs inside), the cotangent `u`
keyword-only (a list where the forward returns a list), and the gradients (input, initial
states where given, weights in get_weights() order). The forward runs first, for its checks.
"""
import numpy as np

from reference.backward_activations import cotangent
from reference.backward_conv import conv_vjp
from reference.backward_core import dense_vjp
from reference.backward_misc import embedding_vjp
from reference.backward_model_layers import masking_vjp
from reference.backward_recurrent import _cotangents, gru_vjp, lstm_vjp, simple_rnn_vjp
from reference.config import takes_config
from reference.sequential import sequential_calls
from reference.wrappers import (
    INNER, RECURRENT, bidirectional, directions, inner_layer, time_distributed, weight_count,
)

INNER_VJPS = {"Dense": dense_vjp, "Conv2D": conv_vjp, "SimpleRNN": simple_rnn_vjp,
              "GRU": gru_vjp, "LSTM": lstm_vjp}


def _added(total, grads):
    """Weight gradients summed over the calls that share the weights."""
    return list(grads) if total is None else [a + b for a, b in zip(total, grads)]


# ---- TimeDistributed ----------------------------------------------------------------------

@takes_config
def time_distributed_vjp(x, *weights, mask=None, u, layer, spec="keras3"):
    """y[:, t] = inner(x[:, t]) with shared weights, so per time step t

        dx[:, t], dW_t = inner_vjp(x[:, t], u[:, t])      (the slice's mask where it takes one)
        dW = sum_t dW_t

    Returns (dx, the inner layer's weight gradients)."""
    y = time_distributed(x, *weights, mask=mask, layer=layer, spec=spec)
    u = cotangent(u, y)
    name, config = inner_layer(layer)
    x = np.asarray(x, np.float64)
    dx, d_weights = np.zeros_like(x), None
    for t in range(x.shape[1]):
        if name in RECURRENT:
            step_mask = None if mask is None else np.asarray(mask, bool)[:, t]
            dx[:, t], *grads = INNER_VJPS[name](x[:, t], *weights, mask=step_mask,
                                                u=[u[:, t]], **config, spec=spec)
        else:
            dx[:, t], *grads = INNER_VJPS[name](x[:, t], *weights, u=u[:, t], **config,
                                                spec=spec)
        d_weights = _added(d_weights, grads)
    return (dx, *d_weights)


# ---- Bidirectional ------------------------------------------------------------------------

def merge_vjp(y, y_rev, u, merge_mode):
    """The VJP of wrappers.merge: (dy, dy_rev) for u the merged outputs' cotangents (a list:
    one array, two for merge_mode None):

        concat: u split along the last axis at y's width   sum: (u, u)   ave: (u/2, u/2)
        mul: (u * y_rev, u * y)                            None: (u[0], u[1])"""
    if merge_mode is None:
        return u[0], u[1]
    u, = u
    if merge_mode == "concat":
        return u[..., :y.shape[-1]], u[..., y.shape[-1]:]
    if merge_mode == "sum":
        return u, u
    if merge_mode == "mul":
        return u * y_rev, u * y
    return u / 2, u / 2                                         # "ave"


@takes_config
def bidirectional_vjp(x, *weights, mask=None, initial_state=None, u, layer,
                      merge_mode="concat", backward_layer=None, spec="keras3"):
    """[merge(y, y_rev), *forward states, *backward states]: merge_vjp gives dy and dy_rev
    (dy_rev reversed back to the backward layer's processing order with return_sequences),
    then each direction's own VJP with its states' cotangents:

        dx = dx_forward + dx_backward

    Returns (dx, d initial states if given (the forward layer's, then the backward layer's),
    the forward layer's weight gradients, then the backward layer's)."""
    outputs = bidirectional(x, *weights, mask=mask, initial_state=initial_state, layer=layer,
                            merge_mode=merge_mode, backward_layer=backward_layer, spec=spec)
    u = _cotangents(u, outputs)
    name, forward, backward = directions(layer, backward_layer, spec)
    split = weight_count(forward)
    states = [None, None]
    if initial_state is not None:
        half = len(initial_state) // 2
        states = [list(initial_state[:half]), list(initial_state[half:])]
    y, *forward_states = INNER[name](x, *weights[:split], mask=mask, initial_state=states[0],
                                     **forward, spec=spec)
    y_rev, *_ = INNER[name](x, *weights[split:], mask=mask, initial_state=states[1],
                            **backward, spec=spec)
    time_axis = 0 if forward.get("time_major", False) else 1
    sequences = forward.get("return_sequences", False)
    merged = 2 if merge_mode is None else 1
    dy, dy_rev = merge_vjp(y, np.flip(y_rev, time_axis) if sequences else y_rev,
                           u[:merged], merge_mode)
    if sequences:
        dy_rev = np.flip(dy_rev, time_axis)
    d_forward_states = u[merged:merged + len(forward_states)]
    d_backward_states = u[merged + len(forward_states):]
    gf = INNER_VJPS[name](x, *weights[:split], mask=mask, initial_state=states[0],
                          u=[dy, *d_forward_states], **forward, spec=spec)
    gb = INNER_VJPS[name](x, *weights[split:], mask=mask, initial_state=states[1],
                          u=[dy_rev, *d_backward_states], **backward, spec=spec)
    count = 0 if initial_state is None else len(states[0])
    return (gf[0] + gb[0], *gf[1:1 + count], *gb[1:1 + count], *gf[1 + count:],
            *gb[1 + count:])


# ---- Sequential ---------------------------------------------------------------------------

def _call_vjp(call, u, spec):
    """(d input or None, weight gradients) of one layer call of sequential_calls, u its
    outputs' cotangents: the layer's VJP with the mask it was handed. InputLayer's float32
    cast is taken as the identity (derivative 1); an Embedding's indices have no gradient."""
    name, config = call.class_name, call.config
    if name == "InputLayer":
        return u[0], []
    if name == "Masking":
        return masking_vjp(call.inputs, u=u[0], **config, spec=spec)[0], []
    if name == "Embedding":
        return None, list(embedding_vjp(call.inputs, *call.weights, u=u[0], **config,
                                        spec=spec))
    dx, *grads = INNER_VJPS[name](call.inputs, *call.weights, mask=call.mask, u=u, **config,
                                  spec=spec)
    return dx, grads


@takes_config
def sequential_vjp(x, *weights, u, layers, build_input_shape=None, spec="keras3"):
    """The chain rule through the model's layer calls (sequential_calls), last to first: each
    layer's VJP, with the mask it was handed, takes the cotangent of its outputs and gives
    its input's, the previous layer's outputs'. u: one cotangent per array the last layer
    returns. Returns (dx, each layer's weight gradients in turn); without dx when the model
    starts with an Embedding (integer indices)."""
    calls = sequential_calls(x, weights, layers, spec)
    u = _cotangents(u, calls[-1].outputs)
    d_weights = []
    for call in reversed(calls):
        if u[0] is None:
            if call.weights:
                raise ValueError(f"no gradient reaches {call.class_name} (indices after it)")
            continue
        d_input, grads = _call_vjp(call, u, spec)
        d_weights = grads + d_weights
        u = [d_input]
    return tuple(([] if u[0] is None else [u[0]]) + d_weights)
