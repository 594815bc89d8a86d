"""Specs of the wrappers: TimeDistributed and Bidirectional.

Neither adds a tolerance of its own where it only moves data. Their bounds come from the
wrapped layer's spec: TimeDistributed's inner layer is asked about the input with batch and
time merged (batch * time rows, exactly what every slice computes, row by row), and each of
Bidirectional's directions is asked as a case of its recurrent layer. Bidirectional then adds
the merge's own float32 rounding, in the Bounded arithmetic of specs/recurrent.py:
concat is exact; sum e1 + e2 + u|y|; mul |a| e2 + |b| e1 + e1 e2 + u|y|; ave the sum's bound
halved, plus u|y|. The wrapped layers' known divergences reach the wrappers: each is checked
on the inner case(s), with its own predicate.
"""
import numpy as np

import reference
from conformance.case import Case
from conformance.regimes import REGIMES
from conformance.spec import Divergence, Expected, LayerSpec, Reject
from conformance.specs import conv as conv_specs, core as core_specs, recurrent
from conformance.specs.core import ACTIVATIONS
from conformance.specs.bounded import Bounded
from conformance.specs.recurrent import MASKS, STATES
from reference.config import OutOfScope
from reference.wrappers import RECURRENT, directions, inner_layer, weight_count

NOT_LONG = tuple(r for r in REGIMES if r != "long")


def serialised(name, config):
    """An inner layer as a wrapper's config holds it (Keras 3 finds a class by its module)."""
    return {"module": "keras.layers", "class_name": name, "config": config}


def _inner_spec(name):
    """The wrapped layer's spec (imported modules, so this works while the registry is still
    being discovered)."""
    return {"Dense": core_specs.DENSE, "Conv2D": conv_specs.CONV2D,
            "SimpleRNN": recurrent.SIMPLE_RNN, "GRU": recurrent.GRU, "LSTM": recurrent.LSTM}[name]


def _with_values(spec, case):
    """`case` with the inner spec's expected outputs and bounds (the divergence predicates
    read the expected shapes)."""
    expected = spec.expect(case)
    case.expected, case.bounds = list(expected.outputs), list(expected.bounds)
    return case


# TimeDistributed ------------------------------------------------------------------------------

def _td_make(params, rng):
    """(batch, time, ...): batch 1-3, time 1-4. Dense: slices (batch, features 1-4), or 1024
    to 4096 features in the long regime; Conv2D: images up to 5 x 5 with 1-3 channels and a
    kernel of 1-3 per axis; LSTM: slices (batch, steps 1-4, features 1-3)."""
    name = params["layer"]
    batch, time = int(rng.integers(1, 4)), int(rng.integers(1, 5))
    inner = {"units": params["units"], "activation": params["activation"],
             "use_bias": params["use_bias"]}
    if name == "Dense":
        features = (int(rng.integers(1024, 4097)) if params["regime"] == "long"
                    else int(rng.integers(1, 5)))
        shape = (batch, time, features)
    elif name == "Conv2D":
        kernel = [int(k) for k in rng.integers(1, 4, size=2)]
        inner = {"filters": inner.pop("units"), **inner, "kernel_size": kernel,
                 "strides": params["strides"], "padding": params["padding"],
                 "data_format": params["data_format"]}
        image = [int(rng.integers(k if params["padding"] == "valid" else 1, 6)) for k in kernel]
        channels = int(rng.integers(1, 4))
        shape = ((batch, time, *image, channels) if params["data_format"] == "channels_last"
                 else (batch, time, channels, *image))
    else:
        inner["return_sequences"] = params["return_sequences"]
        shape = (batch, time, int(rng.integers(1, 5)), int(rng.integers(1, 4)))
    return {"layer": serialised(name, inner)}, [shape]


def _td_weights(config, shapes):
    name, inner = inner_layer(config["layer"])
    return _inner_spec(name).weights(inner, [(shapes[0][0], *shapes[0][2:])])


def _td_call_kwargs(params, shapes, rng):
    """A mask over (batch, time) for Dense and Conv2D; for an LSTM, which reads its own
    steps' mask, (batch, time, steps): each slice a mask of the recurrent spec's kind."""
    if not params["mask"]:
        return {}
    batch, time = shapes[0][:2]
    if params["layer"] == "LSTM":
        steps = shapes[0][2]
        rows = recurrent._steps_mask(params["mask"], batch * time, steps, rng)
        return {"mask": rows.reshape(batch, time, steps)}
    return {"mask": recurrent._steps_mask(params["mask"], batch, time, rng)}


def _td_inner_case(case):
    """The inner layer's case on the input with batch and time merged: (batch * time, ...)."""
    name, inner = inner_layer(case.config["layer"])
    x = np.asarray(case.inputs[0])
    kwargs = {}
    mask = case.call_kwargs.get("mask")
    if mask is not None and name in RECURRENT:
        kwargs["mask"] = np.asarray(mask).reshape(x.shape[0] * x.shape[1], *np.shape(mask)[2:])
    return name, Case(id=f"{case.id}/inner", layer=name, spec=case.spec,
                      params={"regime": case.params.get("regime", "unit")}, config=inner,
                      inputs=[x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])],
                      weights=list(case.weights), call_kwargs=kwargs)


def _td_expect(case):
    x = case.inputs[0]
    y = reference.time_distributed(x, *case.weights, **case.call_kwargs, **case.config,
                                   spec=case.spec)
    name, inner = _td_inner_case(case)
    expected = _inner_spec(name).expect(inner)
    merged, bound = expected.outputs[0], expected.bounds[0]
    if not np.array_equal(y, np.reshape(merged, y.shape), equal_nan=True):
        raise AssertionError("TimeDistributed: the slices differ from the merged batch")
    mask = reference.time_distributed_mask(x, case.call_kwargs.get("mask"), **case.config,
                                           spec=case.spec)
    return Expected([y], [np.broadcast_to(bound, np.shape(merged)).reshape(y.shape)], mask=mask)


def _td_valid(params):
    """padding, data_format and strides are Conv2D's, return_sequences the LSTM's: the other
    layers ignore them (so that drawn params stay valid). The long regime is Dense's (the
    only long sum here: a slice of thousands of features), with its activations; an LSTM in
    large, offset or special inputs keeps to squashing activations (specs/recurrent.py).
    Conv2D takes no mask here: tf_keras refuses it (a Reject), Keras 3 ignores it (an edge
    case)."""
    name = params["layer"]
    if name == "Conv2D" and params["mask"]:
        return False
    if params["regime"] == "long":
        return name == "Dense" and params["activation"] in (None, "linear", "tanh", "softmax")
    return name != "LSTM" or recurrent._rnn_valid(params)


def _inner_divergence(wrapper, name, divergence, inner_cases):
    """A divergence of the wrapped layer `name`, where it reaches the wrapper: its own
    predicate on the inner case(s) that inner_cases(case) gives (none where the reference
    has no answer: a recurrence overflowing float32)."""
    def when(case):
        if case.config["layer"].get("class_name") != name:
            return False
        try:
            return any(divergence.when(c) for c in inner_cases(case))
        except OutOfScope:
            return False
    return Divergence(candidates=divergence.candidates, when=when,
                      reason=f"inside {wrapper}: {divergence.reason}",
                      evidence=divergence.evidence)


def _last_case(inner_cases):
    """inner_cases, computed once for the case last asked about: every inner divergence of a
    wrapper asks for the same case's inner cases in turn (their reference runs are most of
    what a wrapper's divergence predicates cost)."""
    last = [None, None]

    def memo(case):
        if last[0] is not case:
            try:
                last[1] = (True, inner_cases(case))
            except OutOfScope as exc:
                last[1] = (False, exc)
            last[0] = case
        ok, value = last[1]
        if not ok:
            raise value
        return value
    return memo


@_last_case
def _td_inner_cases(case):
    name, inner = _td_inner_case(case)
    return [_with_values(_inner_spec(name), inner)]


def _td_divergences():
    found = []
    for name in ("Dense", "Conv2D", "LSTM"):
        for d in _inner_spec(name).divergences:
            found.append(_inner_divergence("TimeDistributed", name, d, _td_inner_cases))
    return tuple(found)


def _td_edge(layer, **overrides):
    base = {"layer": layer, "units": 2, "activation": None, "use_bias": True,
            "padding": "valid", "data_format": "channels_last", "strides": 1,
            "return_sequences": True, "mask": None, "regime": "unit"}
    return {**base, **overrides}


def _lstm_config(**extra):
    return {"layer": serialised("LSTM", {"units": 2, **extra})}


TIME_DISTRIBUTED = LayerSpec(
    layer="TimeDistributed",
    domains={"layer": ("Dense", "Conv2D", "LSTM"), "units": (1, 3),
             "activation": ACTIVATIONS, "use_bias": (True, False),
             "padding": ("valid", "same"), "data_format": ("channels_last", "channels_first"),
             "strides": (1, 2), "return_sequences": (False, True),
             "mask": (None, "scattered", "a_row_all_masked"), "regime": REGIMES},
    valid=_td_valid, make=_td_make, weights=_td_weights, call_kwargs=_td_call_kwargs,
    expect=_td_expect, divergences=_td_divergences(),
    edge_cases=(
        (_td_edge("Conv2D", mask="scattered"), None, ("keras3",)),   # Keras 3 ignores it
        (_td_edge("Dense", mask="a_row_all_masked"), [(2, 1, 3)]),       # one time step
        (_td_edge("LSTM", mask="scattered", return_sequences=False), [(3, 4, 1, 2)]),
    ),
    rejects=(
        Reject({"layer": serialised("Dense", {"units": 2})}, ((2, 3),),
               "an input without a time axis (rank 2)"),
        Reject(_lstm_config(), ((2, 3, 4, 2),),
               "a (batch, time) mask for an LSTM, which reads (batch, time, steps): "
               "IndexError in both Kerases", call_kwargs={"mask": np.ones((2, 3), bool)}),
        Reject({"layer": serialised("Conv2D", {"filters": 2, "kernel_size": 1})},
               ((2, 3, 2, 2, 1),), "tf_keras: Conv2D does not support masking (TypeError)",
               ("keras2",), call_kwargs={"mask": np.ones((2, 3), bool)}),
    ),
)


# Bidirectional --------------------------------------------------------------------------------

def _bi_inner(params):
    return {"units": params["units"], "activation": params["activation"],
            "use_bias": params["use_bias"], "return_sequences": params["return_sequences"],
            "return_state": params["return_state"], "unroll": params["unroll"],
            "go_backwards": params["go_backwards"]}


def _bi_make(params, rng):
    """(batch 1-3, time 1-4, features 1-3). An explicit backward layer: go_backwards set,
    another activation (tanh, or softsign for a tanh layer: squashing either way) and the
    other use_bias, so that the two directions' weights differ in number."""
    name, inner = params["layer"], _bi_inner(params)
    config = {"layer": serialised(name, inner), "merge_mode": params["merge_mode"]}
    if params["backward_layer"] == "explicit":
        config["backward_layer"] = serialised(name, dict(
            inner, go_backwards=not inner["go_backwards"],
            activation="softsign" if inner["activation"] == "tanh" else "tanh",
            use_bias=not inner["use_bias"]))
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 4)))
    return config, [shape]


def _bi_directions(config, spec):
    return directions(config["layer"], config.get("backward_layer"), spec)


def _bi_weights(config, shapes):
    # how many weights each direction has does not depend on the spec (tf_keras also builds
    # the layers Keras 3 refuses)
    name, forward, backward = _bi_directions(config, "keras2")
    weights = recurrent._rnn_weights(name)
    return weights(forward, shapes) + weights(backward, shapes)


def _bi_call_kwargs(params, shapes, rng):
    batch, steps = shapes[0][:2]
    kwargs = {}
    if params["mask"]:
        kwargs["mask"] = recurrent._steps_mask(params["mask"], batch, steps, rng)
    if params["initial_state"]:
        kwargs["initial_state"] = [
            rng.standard_normal((batch, params["units"])).astype(np.float32)
            for _ in range(2 * STATES[params["layer"]])]
    return kwargs


def direction_cases(case):
    """The forward and the backward layer's cases: each direction's config (go_backwards,
    zero_output_for_mask forced as Keras does), weights and half of the initial states."""
    name, forward, backward = _bi_directions(case.config, case.spec)
    split = weight_count(forward)
    initial = case.call_kwargs.get("initial_state")
    cases = []
    for k, (config, weights) in enumerate(((forward, case.weights[:split]),
                                           (backward, case.weights[split:]))):
        kwargs = {}
        if case.call_kwargs.get("mask") is not None:
            kwargs["mask"] = case.call_kwargs["mask"]
        if initial is not None:
            half = len(initial) // 2
            kwargs["initial_state"] = list(initial[:half] if k == 0 else initial[half:])
        cases.append(Case(id=f"{case.id}/{('forward', 'backward')[k]}", layer=name,
                          spec=case.spec, params={"regime": case.params.get("regime", "unit")},
                          config=config, inputs=list(case.inputs), weights=list(weights),
                          call_kwargs=kwargs))
    return cases


def merge_bounded(y, y_rev, merge_mode):
    """reference.wrappers.merge in Bounded arithmetic."""
    if merge_mode == "concat":
        return [Bounded(np.concatenate([y.v, y_rev.v], axis=-1),
                        np.concatenate([y.e, y_rev.e], axis=-1))]
    if merge_mode == "sum":
        return [y + y_rev]
    if merge_mode == "mul":
        return [y * y_rev]
    if merge_mode == "ave":
        return [(y + y_rev) * 0.5]          # the halving is exact; its u|y| covers a subnormal
    return [y, y_rev]


def _bi_expect(case):
    outputs = reference.bidirectional(case.inputs[0], *case.weights, **case.call_kwargs,
                                      **case.config, spec=case.spec)
    forward, backward = [_inner_spec(c.layer).expect(c) for c in direction_cases(case)]
    y = Bounded(*(np.broadcast_to(a, np.shape(forward.outputs[0]))
                  for a in (forward.outputs[0], forward.bounds[0])))
    y_rev = Bounded(*(np.broadcast_to(a, np.shape(backward.outputs[0]))
                      for a in (backward.outputs[0], backward.bounds[0])))
    if case.config["layer"]["config"].get("return_sequences", False):
        axis = 0 if case.config["layer"]["config"].get("time_major") else 1
        y_rev = Bounded(np.flip(y_rev.v, axis), np.flip(y_rev.e, axis))
    with np.errstate(invalid="ignore", over="ignore"):
        merged = merge_bounded(y, y_rev, case.config.get("merge_mode", "concat"))
    values = [m.v for m in merged] + list(forward.outputs[1:]) + list(backward.outputs[1:])
    if len(values) != len(outputs) or not all(
            np.array_equal(a, b, equal_nan=True) for a, b in zip(values, outputs)):
        raise AssertionError("Bidirectional: the merged directions differ from the reference")
    bounds = [m.e for m in merged] + list(forward.bounds[1:]) + list(backward.bounds[1:])
    mask = reference.bidirectional_mask(case.inputs[0], case.call_kwargs.get("mask"),
                                        **case.config, spec=case.spec)
    return Expected(outputs, bounds, mask=mask)


def _bi_valid(params):
    """The recurrent layers' rule (specs/recurrent.py), and no unroll with both a mask and
    return_sequences: there the directions must output 0 at masked steps (Keras forces
    zero_output_for_mask), and no Keras backend does it as documented, so no oracle can vouch
    for such a case. TensorFlow's unrolled loop (Keras 3 and tf_keras alike) zeroes the
    backward direction's outputs, which are in processing order, with the mask in time order;
    Keras 3 on JAX and NumPy ignore zero_output_for_mask when unrolled; on torch the backward
    direction raises (TORCH_UNROLLED_MASK_FLIP). Bidirectional(SimpleRNN(1, linear, weights
    1, no bias, return_sequences=True, unroll=True), merge_mode=None) on [1, 2, 3] with mask
    [True, True, False]: not unrolled every backend gives forward [1, 3, 0] and backward
    [3, 2, 0]; unrolled, tf.keras gives backward [0, 2, 0] (keras/src/backend/tensorflow/
    rnn.py, `if zero_output_for_mask:` after the unrolled loop: `_expand_mask(mask, outputs)`
    with the unreversed mask) and keras-jax forward [1, 3, 3] (keras/src/backend/jax/rnn.py:
    the unrolled branch never reads zero_output_for_mask)."""
    return (params["regime"] != "long" and recurrent._rnn_valid(params)
            and not (params["unroll"] and params["mask"] and params["return_sequences"]))


@_last_case
def _bi_inner_cases(case):
    return [_with_values(_inner_spec(c.layer), c) for c in direction_cases(case)]


def _repeats_initial_h(case):
    """specs/recurrent.py's predicate, except where the direction outputs 0 at masked steps
    (zero_output_for_mask, which Bidirectional forces with return_sequences): then Keras 3 on
    JAX and NumPy output 0 there too (keras/src/backend/jax/rnn.py, `if zero_output_for_mask`)."""
    return (recurrent.KERAS3_SCAN_REPEATS_INITIAL_H.when(case)
            and not case.config.get("zero_output_for_mask"))


def _bi_divergences():
    found = []
    for d in recurrent.LSTM.divergences:       # SimpleRNN, GRU and LSTM share them
        if d is recurrent.KERAS3_SCAN_REPEATS_INITIAL_H:
            d = Divergence(d.candidates, _repeats_initial_h, d.reason, d.evidence)
        for name in RECURRENT:
            found.append(_inner_divergence("Bidirectional", name, d, _bi_inner_cases))
    return tuple(found)


def _bi_config(name="LSTM", **extra):
    return {"layer": serialised(name, {"units": 2, **extra})}


BIDIRECTIONAL = LayerSpec(
    layer="Bidirectional",
    domains={"layer": RECURRENT, "units": (1, 3), "activation": ACTIVATIONS,
             "use_bias": (True, False), "merge_mode": ("concat", "sum", "mul", "ave", None),
             "return_sequences": (False, True), "return_state": (False, True),
             "backward_layer": (None, "explicit"), "mask": MASKS,
             "initial_state": (False, True), "unroll": (False, True),
             "go_backwards": (False, True), "regime": NOT_LONG},
    spec_values=(("go_backwards", True, ("keras2",)),),
    valid=_bi_valid, make=_bi_make, weights=_bi_weights, call_kwargs=_bi_call_kwargs,
    expect=_bi_expect, divergences=_bi_divergences(),
    rejects=(
        Reject({**_bi_config(), "merge_mode": "max"}, ((2, 3, 2),), "unknown merge_mode"),
        Reject(_bi_config(go_backwards=True), ((2, 3, 2),),
               "Keras 3 sets the backward copy's go_backwards to True: both directions go "
               "backwards", ("keras3",)),
        Reject({**_bi_config(return_sequences=True),
                "backward_layer": serialised("LSTM", {"units": 2, "go_backwards": True})},
               ((2, 3, 2),), "an explicit backward layer with another return_sequences"),
        Reject({**_bi_config(), "backward_layer": serialised("LSTM", {"units": 2})},
               ((2, 3, 2),), "an explicit backward layer that does not go backwards"),
    ),
)
