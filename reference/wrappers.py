"""Wrappers: TimeDistributed (one layer applied to every time slice) and Bidirectional (a
recurrent layer run forwards and backwards, the two outputs merged).

A wrapper's config holds its inner layer's config whole, as Keras writes it:
`{"layer": {"class_name": "Dense", "config": {...}, "module": ..., "registered_name": ...,
"build_config": ...}}`; only class_name and config matter. The inner layer is computed by its
own reference function (INNER), so nothing of Dense, Conv2D or the recurrent layers is written
twice.

Weights, as in `layer.get_weights()`:

- TimeDistributed: the inner layer's weights (Dense: kernel, bias; Conv2D: kernel, bias;
  LSTM: kernel, recurrent_kernel, bias), shared by every time slice.
- Bidirectional: the forward layer's weights, then the backward layer's (each the recurrent
  layout of reference/recurrent.py); with an explicit backward_layer the two may differ in
  use_bias, so the split follows each direction's config, not half of the list.
"""
import numpy as np

from reference.config import OutOfScope, takes_config
from reference.conv import conv
from reference.core import dense
from reference.recurrent import gru, lstm, simple_rnn

INNER = {"Dense": dense, "Conv2D": conv, "SimpleRNN": simple_rnn, "GRU": gru, "LSTM": lstm}
RECURRENT = ("SimpleRNN", "GRU", "LSTM")


def inner_layer(layer):
    """(class name, config) of a serialised inner layer: Keras 3's and tf_keras's
    {"class_name", "config", "module", "registered_name", "build_config"} (a compact config
    may give class_name and config only). OutOfScope for a class the suite does not wrap."""
    if not isinstance(layer, dict) or "class_name" not in layer:
        raise ValueError(f"`layer` must be a serialised Keras layer, got {layer!r}")
    name = layer["class_name"]
    if name not in INNER:
        raise OutOfScope(f"outside the scope: the suite wraps {', '.join(INNER)}, not {name}")
    return name, dict(layer.get("config") or {})


@takes_config
def time_distributed(x, *weights, mask=None, layer, spec="keras3"):
    """y[:, t] = inner(x[:, t]) for every time step t, with the inner layer's weights.

    x: (batch, time, ...), rank 3 or more. mask (batch, time, ...): a call argument handed
    to the inner layer slice by slice where it takes one (the recurrent layers: then
    (batch, time, inner steps), mask[:, t] being the inner layer's mask); Dense and Conv2D
    take none and ignore it, except that tf_keras refuses a mask for a layer that does not
    support masking (Conv2D: TypeError "does not support masking").
    """
    name, config = inner_layer(layer)
    if name in RECURRENT and config.get("return_state"):
        raise OutOfScope("outside the scope: a recurrent layer returning its states inside "
                         "TimeDistributed")
    x = np.asarray(x, np.float64)
    if x.ndim < 3:
        raise ValueError(f"TimeDistributed takes (batch, time, ...), got {x.shape}")
    kwargs = {}
    if mask is not None:
        mask = np.asarray(mask, bool)
        if mask.shape[:2] != x.shape[:2]:
            raise ValueError(f"mask {mask.shape} does not match (batch, time) {x.shape[:2]}")
        if name in RECURRENT:
            if mask.ndim != 3:      # Keras: IndexError in the RNN's mask handling
                raise ValueError(f"{name} inside TimeDistributed takes a mask (batch, time, "
                                 f"steps), got {mask.shape}")
        elif name == "Conv2D" and spec == "keras2":
            raise ValueError("tf_keras: Conv2D does not support masking, but was passed a mask")
    slices = []
    for t in range(x.shape[1]):
        if mask is not None and name in RECURRENT:
            kwargs = {"mask": mask[:, t]}
        out = INNER[name](x[:, t], *weights, **kwargs, **config, spec=spec)
        slices.append(out[0] if name in RECURRENT else out)
    return np.stack(slices, axis=1)


@takes_config
def time_distributed_mask(x, mask=None, *, layer, spec="keras3"):
    """The mask TimeDistributed emits for a call mask: Keras 3 passes it through as it is;
    tf_keras asks the inner layer, which passes it through, except a recurrent layer without
    return_sequences, which emits none: then (batch, time) = any over the remaining axes."""
    if mask is None:
        return None
    mask = np.asarray(mask, bool)
    name, config = inner_layer(layer)
    if spec == "keras2" and name in RECURRENT and not config.get("return_sequences", False):
        return mask.reshape(*mask.shape[:2], -1).any(axis=-1)
    return mask


def directions(layer, backward_layer=None, spec="keras3"):
    """(class name, forward config, backward config) of a Bidirectional layer. Without an
    explicit backward_layer, the backward one is the layer's config with go_backwards set
    (Keras 3: True, so a layer already going backwards is refused) or flipped (tf_keras).
    Both directions output 0 at masked steps when they return sequences (Keras forces
    zero_output_for_mask = return_sequences on them)."""
    name, forward = inner_layer(layer)
    if name not in RECURRENT:
        raise OutOfScope(f"outside the scope: Bidirectional over {name}")
    if backward_layer is None:
        backward = dict(forward, go_backwards=(True if spec == "keras3"
                                                else not forward.get("go_backwards", False)))
    else:
        backward_name, backward = inner_layer(backward_layer)
        if backward_name not in RECURRENT:
            raise OutOfScope(f"outside the scope: a {backward_name} backward layer")
    if forward.get("go_backwards", False) == backward.get("go_backwards", False):
        raise ValueError("Forward layer and backward layer should have different "
                         "`go_backwards` value")
    for key in ("stateful", "return_sequences", "return_state"):
        if forward.get(key, False) != backward.get(key, False):
            raise ValueError(f"forward and backward layers differ in {key!r}")
    for config in (forward, backward):
        config["zero_output_for_mask"] = config.get("return_sequences", False)
    return name, forward, backward


def weight_count(config):
    """How many weights a recurrent layer has: kernel, recurrent_kernel and, with use_bias,
    bias."""
    return 2 + bool(config.get("use_bias", True))


def merge(y, y_rev, merge_mode):
    """The two directions' outputs merged: concat along the last axis, sum, mul, ave
    ((y + y_rev) / 2), or None: both, apart."""
    if merge_mode == "concat":
        return [np.concatenate([y, y_rev], axis=-1)]
    with np.errstate(invalid="ignore", over="ignore"):
        if merge_mode == "sum":
            return [y + y_rev]
        if merge_mode == "mul":
            return [y * y_rev]
        if merge_mode == "ave":
            return [(y + y_rev) / 2]
    if merge_mode is None:
        return [y, y_rev]
    raise ValueError(f"Invalid merge mode {merge_mode!r}: one of sum, mul, ave, concat, None")


@takes_config
def bidirectional(x, *weights, mask=None, initial_state=None, layer, merge_mode="concat",
                  backward_layer=None, spec="keras3"):
    """The forward layer and the backward layer (go_backwards) on the same x, merged:
    [merge(y, y_rev), *forward states, *backward states] (merge_mode None: [y, y_rev, ...]).

    With return_sequences the backward layer's sequence, which comes in processing order, is
    reversed back to time order (time axis 0 with tf_keras's time_major) before merging, so
    y_rev[:, t] is the backward direction's output at step t. initial_state: the forward
    layer's states, then the backward layer's (the first half of the list, the second half).
    mask: handed to both directions.
    """
    if merge_mode not in ("sum", "mul", "ave", "concat", None):
        raise ValueError(f"Invalid merge mode {merge_mode!r}: one of sum, mul, ave, concat, "
                         f"None")
    name, forward, backward = directions(layer, backward_layer, spec)
    split = weight_count(forward)
    if len(weights) != split + weight_count(backward):
        raise ValueError(f"{len(weights)} weights, expected the forward layer's {split} and "
                         f"the backward layer's {weight_count(backward)}")
    states = [None, None]
    if initial_state is not None:
        if len(initial_state) % 2:
            raise ValueError("a Bidirectional initial_state holds both directions' states")
        half = len(initial_state) // 2
        states = [list(initial_state[:half]), list(initial_state[half:])]
    y, *forward_states = INNER[name](x, *weights[:split], mask=mask, initial_state=states[0],
                                     **forward, spec=spec)
    y_rev, *backward_states = INNER[name](x, *weights[split:], mask=mask,
                                          initial_state=states[1], **backward, spec=spec)
    if forward.get("return_sequences", False):
        y_rev = np.flip(y_rev, axis=0 if forward.get("time_major", False) else 1)
    return [*merge(y, y_rev, merge_mode), *forward_states, *backward_states]


@takes_config
def bidirectional_mask(x, mask=None, *, layer, merge_mode="concat", backward_layer=None,
                       spec="keras3"):
    """The mask Bidirectional emits on its (first) output: the call's mask when the layers
    return sequences, else none. (Keras gives merge_mode None the same mask on both outputs,
    and None on the states.)"""
    _, forward, _ = directions(layer, backward_layer, spec)
    return None if mask is None or not forward.get("return_sequences", False) else mask
