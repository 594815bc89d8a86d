"""Specs of the recurrent cells as layers of their own (SimpleRNNCell, GRUCell, LSTMCell: one
step), of StackedRNNCells (one step of a stack of mixed cells) and of RNN over one cell or a
stack of them (the seeds' "Recurrent" base).

A cell's case: inputs [x (batch, features)], call_kwargs {"states": [h] or [h, c]}, outputs
[output, *new_states]. A stack's states, and RNN's initial_state and returned states, are each
cell's states in turn, flat (Keras nests them per cell; the adapter nests them). Weights: each
cell's [kernel, recurrent_kernel, bias] in turn.

Bounds: the cells' steps in Bounded arithmetic from specs/recurrent.py, stacked, and folded
over time by its fold_bounded (a cell's one step is a fold over one time step, so the same
float32-range checks apply).
"""
import dataclasses
import json

import numpy as np

import reference
from conformance.cases import seed_of
from conformance.regimes import LONG_TERMS, REGIMES, Regime
from conformance.spec import Divergence, Expected, LayerSpec, Reject
from conformance.specs._common import TENSORFLOW
from conformance.specs.core import ACTIVATIONS
from conformance.specs.recurrent import (
    KERAS3_SCAN_REPEATS_INITIAL_H, LONG_STEPS, MASKS, SQUASHING, TORCH_UNROLLED_MASK_FLIP,
    Bounded, _rnn_valid, _steps_mask, fold_bounded, gru_bounded, lstm_bounded,
    simple_rnn_bounded,
)
from reference.recurrent import CELLS, cell_configs

KINDS = ("SimpleRNNCell", "GRUCell", "LSTMCell")
GATES = {"SimpleRNNCell": 1, "GRUCell": 3, "LSTMCell": 4}
BOUNDED = {"SimpleRNNCell": simple_rnn_bounded, "GRUCell": gru_bounded,
           "LSTMCell": lstm_bounded}
# the parameters each cell kind takes, with the value a cell without it behaves as
ONLY = {"recurrent_activation": (("GRUCell", "LSTMCell"), "sigmoid"),
        "reset_after": (("GRUCell",), True), "unit_forget_bias": (("LSTMCell",), True),
        "implementation": (("GRUCell", "LSTMCell"), 2)}
CELL_KEYS = ("units", "activation", "recurrent_activation", "use_bias", "reset_after",
             "unit_forget_bias", "implementation", "dropout", "recurrent_dropout")


def _cell_domains(kinds):
    """The cell parameters that some kind in `kinds` takes."""
    domains = {"units": (1, 3), "activation": ACTIVATIONS,
               "recurrent_activation": ACTIVATIONS, "use_bias": (True, False),
               "reset_after": (True, False), "unit_forget_bias": (True, False),
               "implementation": (1, 2), "dropout": (0.0, 0.5), "recurrent_dropout": (0.0, 0.5)}
    return {k: v for k, v in domains.items()
            if k not in ONLY or any(kind in ONLY[k][0] for kind in kinds)}


def _inner_config(kind, params, units):
    """A cell's constructor arguments from the case's params (those its kind takes)."""
    return {k: (units if k == "units" else params[k]) for k in CELL_KEYS
            if k in params and (k not in ONLY or kind in ONLY[k][0])}


def _serialized(kind, params, units):
    """A cell as RNN's and StackedRNNCells' configs hold it (Keras 3 needs "module")."""
    return {"module": "keras.layers", "class_name": kind,
            "config": _inner_config(kind, params, units), "registered_name": None}


def _plan(params):
    """The cells of the case: [(kind, units)]. A stack holds the three kinds, in an order and
    with units (the last cell's: params["units"]) drawn from the params themselves, so that
    make() and call_kwargs() agree on the states' shapes."""
    kind = params.get("cell", "stacked")
    if kind != "stacked":
        return [(kind, params["units"])]
    rng = np.random.default_rng(seed_of(json.dumps(params, sort_keys=True)))
    kinds = [KINDS[i] for i in rng.permutation(3)]
    return [(k, int(rng.integers(1, 4))) for k in kinds[:-1]] + [(kinds[-1], params["units"])]


def _state_units(plan):
    return [units for kind, units in plan for _ in range(CELLS[kind][1])]


def _cell_weights(plan, features, configs):
    """[(name, shape)] of each cell in turn: kernel (n, g*u), recurrent_kernel (u, g*u),
    bias ((2, 3u) for a GRU with reset_after, else (g*u,))."""
    weights = []
    for (kind, units), config in zip(plan, configs):
        gates = GATES[kind] * units
        weights += [("kernel", (features, gates)), ("recurrent_kernel", (units, gates))]
        if config.get("use_bias", True):
            weights.append(("bias", (2, gates) if kind == "GRUCell"
                            and config.get("reset_after", True) else (gates,)))
        features = units
    return weights


def _bounded_stack(cells, weights, spec):
    """The stack's step in Bounded arithmetic (reference.recurrent._stack): each cell's
    Bounded step on the previous cell's Bounded output."""
    parts, weights = [], [np.asarray(w, np.float64) for w in weights]
    for class_name, config in cells:
        count = 3 if config.get("use_bias", True) else 2
        parts.append((BOUNDED[class_name], config, weights[:count], CELLS[class_name][1]))
        weights = weights[count:]

    def step(x, states):
        new_states = []
        for bounded, config, cell_weights, state_count in parts:
            x, cell_states = bounded(x, states[:state_count], cell_weights, config, spec)
            states, new_states = states[state_count:], new_states + cell_states
        return x, new_states
    return step


def _exact(values):
    return [Bounded(np.asarray(v, np.float64), np.zeros(np.shape(v))) for v in values]


def _case_cells(case):
    """(class name, config) of each cell a case's layer holds."""
    config = case.config
    if "cell" in config:
        return cell_configs(config["cell"])
    if "cells" in config:
        return cell_configs(list(config["cells"]))
    return [(case.layer, config)]


# One step: the cells and StackedRNNCells -----------------------------------------------------

# SQUASHING of specs/recurrent.py holds None (linear), which is not bounded: linear on a special
# value returns an infinity (Float32Overflow), so these specs keep to the bounded ones
BOUNDED_ACTIVATIONS = tuple(a for a in SQUASHING if a is not None)


def _activations(params):
    return {params.get("activation"), params.get("recurrent_activation", "sigmoid")}


def _step_valid(params):
    """One step cannot overflow through a recurrence, so unbounded activations meet large and
    offset inputs (exponential excepted: exp(300) overflows); special values and long sums
    keep to bounded activations (an infinite activation is undetermined downstream)."""
    if params["regime"] in ("unit", "tiny", "ties"):
        return True
    if params["regime"] in ("large", "offset"):
        return "exponential" not in _activations(params)
    return _activations(params) <= set(BOUNDED_ACTIVATIONS)


def _step_make(params, rng):
    """x (batch, features): batch 1-3, features 1-4 (1024-4096 in the long regime)."""
    plan = _plan(params)
    batch = int(rng.integers(1, 4))
    features = (int(rng.integers(*LONG_TERMS)) if params["regime"] == "long"
                else int(rng.integers(1, 5)))
    if params.get("cell", "stacked") == "stacked":
        config = {"cells": [_serialized(kind, params, units) for kind, units in plan]}
    else:
        config = _inner_config(plan[0][0], params, plan[0][1])
    return config, [(batch, features)]


def _step_weights(config, shapes):
    if "cells" in config:
        cells = cell_configs(list(config["cells"]))
        plan = [(kind, c["units"]) for kind, c in cells]
        return _cell_weights(plan, shapes[0][-1], [c for _, c in cells])
    raise AssertionError("a cell spec has its own weights function")


def _single_weights(kind):
    def weights(config, shapes):
        return _cell_weights([(kind, config["units"])], shapes[0][-1], [config])
    return weights


def _step_call_kwargs(params, shapes, rng):
    """The states, drawn in the case's regime (a step sees any state a caller hands it)."""
    regime = Regime(params["regime"], rng)
    return {"states": [regime.values((shapes[0][0], units))
                       for units in _state_units(_plan(params))]}


def _step_expect(function):
    def expect(case):
        config, spec = case.config, case.spec
        outputs = function(case.inputs[0], *case.weights, **case.call_kwargs, **config,
                           spec=spec)
        cells = _case_cells(case)
        step = _bounded_stack(cells, case.weights, spec)
        states = case.call_kwargs["states"]
        count = sum(CELLS[kind][1] for kind, _ in cells)
        x = np.asarray(case.inputs[0], np.float64)[:, None]
        with np.errstate(invalid="ignore", over="ignore"):
            sequence, final = fold_bounded(step, x, _exact(states[:count]), None, False, False)
        return Expected(outputs, [sequence.e[:, 0]] + [np.broadcast_to(s.e, s.v.shape)
                                                       for s in final])
    return expect


def _softmax_beside_special_values(case):
    """softmax as an activation of some cell, with an inf or NaN among the inputs or states."""
    arrays = [*case.inputs, *case.call_kwargs.get("states", []),
              *case.call_kwargs.get("initial_state", [])]
    return (any("softmax" in (c.get("activation"), c.get("recurrent_activation"))
                for _, c in _case_cells(case))
            and not all(np.all(np.isfinite(a)) for a in arrays))


TF_CELL_SOFTMAX = Divergence(
    candidates=TENSORFLOW, when=_softmax_beside_special_values,
    reason="TensorFlow's CPU softmax gives [nan, 0, 0] for a row holding NaN or +inf (IEEE: "
           "all NaN); inside a cell the row is the units of a step (a covering predicate: "
           "softmax as either activation of any cell, any non-finite input or state)",
    evidence="as for Activation('softmax') and SimpleRNN (README, Known divergences): "
             "softmax([nan, 1, 2]) is [nan, 0, 0] on tf.keras and tf_keras 2.21 CPU")

STEP_REJECTS = {
    "SimpleRNNCell": (
        Reject({"units": 0}, ((1, 2),), "units must be positive",
               call_kwargs={"states": [np.zeros((1, 0), np.float32)]}),
        Reject({"units": 2}, ((1, 2),), "a state of the wrong width (3 for 2 units)",
               call_kwargs={"states": [np.zeros((1, 3), np.float32)]}),
        Reject({"units": 2}, ((2, 2),), "a state of the wrong batch",
               call_kwargs={"states": [np.zeros((3, 2), np.float32)]}),
    ),
    "GRUCell": (
        Reject({"units": 0}, ((1, 2),), "units must be positive",
               call_kwargs={"states": [np.zeros((1, 0), np.float32)]}),
        Reject({"units": 2}, ((1, 2),), "a state of the wrong width (3 for 2 units)",
               call_kwargs={"states": [np.zeros((1, 3), np.float32)]}),
    ),
    "LSTMCell": (
        Reject({"units": 0}, ((1, 2),), "units must be positive",
               call_kwargs={"states": [np.zeros((1, 0), np.float32)] * 2}),
        Reject({"units": 2}, ((1, 2),), "one state where the LSTM takes [h, c]",
               call_kwargs={"states": [np.zeros((1, 2), np.float32)]}),
        Reject({"units": 2}, ((1, 2),), "a c state of the wrong width",
               call_kwargs={"states": [np.zeros((1, 2), np.float32),
                                       np.zeros((1, 3), np.float32)]}),
    ),
}


def _cell_spec(kind):
    domains = {**_cell_domains((kind,)), "regime": REGIMES}
    function = {"SimpleRNNCell": reference.simple_rnn_cell, "GRUCell": reference.gru_cell,
                "LSTMCell": reference.lstm_cell}[kind]
    return LayerSpec(
        layer=kind, domains=domains,
        make=lambda params, rng: _step_make({**params, "cell": kind}, rng),
        weights=_single_weights(kind),
        call_kwargs=lambda params, shapes, rng: _step_call_kwargs(
            {**params, "cell": kind}, shapes, rng),
        expect=_step_expect(function), valid=_step_valid, rejects=STEP_REJECTS[kind],
        divergences=(TF_CELL_SOFTMAX,))


SIMPLE_RNN_CELL = _cell_spec("SimpleRNNCell")
GRU_CELL = _cell_spec("GRUCell")
LSTM_CELL = _cell_spec("LSTMCell")

_SRNN2 = {"module": "keras.layers", "class_name": "SimpleRNNCell", "config": {"units": 2},
          "registered_name": None}
STACKED_RNN_CELLS = LayerSpec(
    layer="StackedRNNCells", domains={**_cell_domains(KINDS), "regime": REGIMES},
    make=_step_make, weights=_step_weights, call_kwargs=_step_call_kwargs,
    expect=_step_expect(reference.stacked_rnn_cells), valid=_step_valid,
    rejects=(
        Reject({"cells": [_SRNN2, _SRNN2]}, ((1, 2),), "a state of the wrong width",
               call_kwargs={"states": [np.zeros((1, 2), np.float32),
                                       np.zeros((1, 3), np.float32)]}),
    ),
    divergences=(TF_CELL_SOFTMAX,))


# RNN over a cell or a stack ------------------------------------------------------------------

def _rnn_valid_cells(params):
    """Outside the unit, tiny and ties regimes, bounded activations only (an unbounded one
    overflows float32 inside the recurrence: Float32Overflow); a time_major input takes no
    mask (as _rnn_valid); a single cell only with the parameters its kind takes (at their
    default otherwise). Unrolled, backwards, zero_output_for_mask with a mask: no engine
    computes it as Keras's own loop does (TensorFlow mirrors the zeros, JAX and NumPy ignore
    zero_output_for_mask, torch raises: the divergences below), so no oracle can vouch."""
    kind = params["cell"]
    if (params["unroll"] and params["go_backwards"] and params["zero_output_for_mask"]
            and params["mask"]):
        return False
    return ((params["regime"] in ("unit", "tiny", "ties")
             or _activations(params) <= set(BOUNDED_ACTIVATIONS))
            and _rnn_valid(params) and (kind == "stacked" or all(
        kind in kinds or params[k] == default for k, (kinds, default) in ONLY.items())))


RNN_FLAGS = ("return_sequences", "return_state", "go_backwards", "unroll",
             "zero_output_for_mask", "time_major")


def _rnn_make(params, rng):
    """(batch, time, features): batch 1-3, time 1-6 (50-80 in the long regime), features 1-4;
    time_major (Keras 2) swaps the first two axes. The cell: one serialized cell, or a
    StackedRNNCells of the three kinds (what get_config() writes for RNN(cell=[...]))."""
    plan = _plan(params)
    cells = [_serialized(kind, params, units) for kind, units in plan]
    cell = cells[0] if params["cell"] != "stacked" else {
        "module": "keras.layers", "class_name": "StackedRNNCells", "config": {"cells": cells},
        "registered_name": None}
    config = {"cell": cell, **{k: params[k] for k in RNN_FLAGS
                               if k in params and not (k == "time_major" and not params[k])}}
    steps = (int(rng.integers(*LONG_STEPS)) if params["regime"] == "long"
             else int(rng.integers(1, 7)))
    batch, features = int(rng.integers(1, 4)), int(rng.integers(1, 5))
    shape = (steps, batch, features) if params.get("time_major") else (batch, steps, features)
    return config, [shape]


def _rnn_weights(config, shapes):
    cells = cell_configs(config["cell"])
    return _cell_weights([(kind, c["units"]) for kind, c in cells], shapes[0][-1],
                         [c for _, c in cells])


def _rnn_call_kwargs(params, shapes, rng):
    shape = shapes[0]
    batch, steps = (shape[1], shape[0]) if params.get("time_major") else shape[:2]
    kwargs = {}
    if params.get("mask"):
        kwargs["mask"] = _steps_mask(params["mask"], batch, steps, rng)
    if params.get("initial_state"):
        kwargs["initial_state"] = [rng.standard_normal((batch, units)).astype(np.float32)
                                   for units in _state_units(_plan(params))]
    return kwargs


def _rnn_expect(case):
    config, spec = case.config, case.spec
    outputs = reference.rnn(case.inputs[0], *case.weights, **case.call_kwargs, **config,
                            spec=spec)
    cells = cell_configs(config["cell"])
    x = np.asarray(case.inputs[0], np.float64)
    if config.get("time_major"):
        x = np.swapaxes(x, 0, 1)
    initial = case.call_kwargs.get("initial_state")
    if initial is None:
        initial = [np.zeros((x.shape[0], c["units"])) for kind, c in cells
                   for _ in range(CELLS[kind][1])]
    with np.errstate(invalid="ignore", over="ignore"):
        sequence, final = fold_bounded(
            _bounded_stack(cells, case.weights, spec), x, _exact(initial),
            case.call_kwargs.get("mask"), config.get("go_backwards", False),
            config.get("zero_output_for_mask", False))
    first = sequence.e if config.get("return_sequences") else sequence.e[:, -1]
    if config.get("time_major") and config.get("return_sequences"):
        first = np.swapaxes(first, 0, 1)
    bounds = [first] + ([np.broadcast_to(s.e, s.v.shape) for s in final]
                        if config.get("return_state") else [])
    return Expected(outputs, bounds)


def _zeroed_unrolled(case):
    """unroll, zero_output_for_mask and a mask: the Keras loops written out step by step."""
    config = case.config
    return bool(config.get("unroll") and config.get("zero_output_for_mask")
                and case.call_kwargs.get("mask") is not None)


def _zeros_mirrored(case):
    """Unrolled, backwards, zero_output_for_mask, the sequence returned and a mask that is not
    its own mirror image: where TensorFlow's unrolled loop puts the zeros elsewhere."""
    mask = case.call_kwargs.get("mask")
    return bool(_zeroed_unrolled(case) and case.config.get("go_backwards")
                and case.config.get("return_sequences")
                and np.any(np.asarray(mask) != np.asarray(mask)[:, ::-1]))


TF_UNROLLED_ZEROS_MIRRORED = Divergence(
    candidates=TENSORFLOW, when=_zeros_mirrored,
    reason="TensorFlow's unrolled RNN loop with zero_output_for_mask and go_backwards zeroes "
           "the returned sequence (in processing order) where the mask, in time order, is "
           "False: the zeros land at the mirrored steps; its while_loop (unroll=False) zeroes "
           "the masked steps themselves, as the reference does",
    evidence="keras/src/backend/tensorflow/rnn.py (Keras 3.15.1), unroll branch: outputs = "
             "tf.stack(successive_outputs) in processing order, then tf.where(_expand_mask("
             "mask, outputs, fixed_dim=2), outputs, 0) with the mask not reversed (mask_list "
             "was); tf_keras/src/backend.py rnn() has the same lines. RNN(SimpleRNNCell(1, "
             "activation='linear', use_bias=False), go_backwards=True, zero_output_for_mask="
             "True, return_sequences=True), kernel 1, recurrent kernel 0, on [1, 2, 3] with "
             "mask [False, True, True]: unroll=False gives [3, 2, 0] on tf.keras and "
             "tf_keras, unroll=True gives [0, 2, 2]")


def _last_output_zeroed_unrolled(case):
    """Unrolled, zero_output_for_mask, a mask, the last output only, more than one step."""
    mask = case.call_kwargs.get("mask")
    return bool(_zeroed_unrolled(case) and not case.config.get("return_sequences")
                and np.shape(mask)[1] > 1)


TF_KERAS_UNROLLED_ZEROS_RAISE = Divergence(
    candidates=("tf_keras",), when=_last_output_zeroed_unrolled,
    reason="tf_keras raises ValueError for unroll=True, zero_output_for_mask=True, a mask and "
           "return_sequences=False (over more than one step)",
    evidence="tf_keras/src/backend.py rnn() (tf_keras 2.21), unroll branch: outputs is the "
             "stacked last output (1, batch, units); tf.where(_expand_mask(mask, outputs, "
             "fixed_dim=2), ...) broadcasts it to (time, batch, units), and set_shape then "
             "raises \"Tensor's shape (2, 3, 1) is not compatible with supplied shape (1, 3, 1)\" "
             "(LSTMCell, 2 steps, batch 3); Keras 3 never reads "
             "those outputs, and keras-torch runs the case")


def _zeros_skipped(case):
    """Unrolled with zero_output_for_mask, a masked step that shows in the output."""
    if not _zeroed_unrolled(case):
        return False
    mask = np.asarray(case.call_kwargs["mask"])
    if case.config.get("return_sequences"):
        return bool((~mask).any())
    last = mask[:, 0] if case.config.get("go_backwards") else mask[:, -1]
    return bool((~last).any())


JAX_UNROLLED_IGNORES_ZERO_OUTPUT = Divergence(
    candidates=("keras-jax", "keras-numpy"), when=_zeros_skipped,
    reason="Keras 3 on JAX and NumPy ignore zero_output_for_mask when unrolled: a masked step "
           "repeats the previous output (0 only before the first real step) instead of 0",
    evidence="keras/src/backend/jax/rnn.py and numpy/rnn.py (Keras 3.15.1): the unroll branch "
             "with a mask never reads zero_output_for_mask (only the lax.scan branch does); "
             "the TensorFlow and torch backends zero the masked outputs there. "
             "RNN(SimpleRNNCell(1, activation='linear', use_bias=False), unroll=True, "
             "zero_output_for_mask=True, return_sequences=True), kernel 1, recurrent kernel "
             "0, on [1, 2, 3] with mask [True, False, False]: keras-jax gives [1, 1, 1], the "
             "reference [1, 0, 0]")


# Keras 3 on JAX and NumPy: the SimpleRNN/GRU/LSTM divergence, where the masked output is not
# zeroed anyway (zero_output_for_mask, a flag of RNN's own, zeroes it on every backend)
SCAN_REPEATS_INITIAL_H = dataclasses.replace(
    KERAS3_SCAN_REPEATS_INITIAL_H,
    when=lambda case: (KERAS3_SCAN_REPEATS_INITIAL_H.when(case)
                       and not case.config.get("zero_output_for_mask")))


def _stack_masked_with_initial_state(case):
    """A stack of cells, a mask and an initial state, not unrolled, no zero_output_for_mask
    (covering: the output is wrong wherever a masked step shows, and of the first cell's
    width whatever the mask)."""
    config = case.config
    return bool(len(cell_configs(config["cell"])) > 1
                and case.call_kwargs.get("mask") is not None
                and "initial_state" in case.call_kwargs
                and not config.get("unroll") and not config.get("zero_output_for_mask"))


JAX_STACK_PREVIOUS_OUTPUT = Divergence(
    candidates=("keras-jax", "keras-numpy"), when=_stack_masked_with_initial_state,
    reason="Keras 3 on JAX and NumPy take the first cell's h as a stack's previous output at "
           "masked steps when the initial state holds the first cell's state as a tensor "
           "(the structure of StackedRNNCells.state_size, [h1, [h2, c2], h3]): the masked "
           "output is the wrong cell's state, and the output takes the first cell's width",
    evidence="keras/src/backend/jax/rnn.py and numpy/rnn.py (Keras 3.15.1), lax.scan branch: "
             "output_tm1 = states[0], replaced by states[-1][0] only when states[0] is nested "
             "(Keras's own zero initial state nests each cell's states in a list, so without "
             "an initial state the cases pass); jnp.where(is_masked, output_tm1, output_t) "
             "then broadcasts. Seen on the fixtures while writing the spec: a stack ending in a "
             "1-unit cell, every step real, came back with output shape (1, 2) where (1, 1) "
             "is expected; a right-padded mask gave 1.0 where tf.keras, keras-torch and the "
             "reference give -0.094")


def _cell(kind, **config):
    return {"module": "keras.layers", "class_name": kind, "config": config,
            "registered_name": None}


RNN_REJECTS = (
    Reject({"cell": _cell("LSTMCell", units=2)}, ((1, 3, 2),),
           "one initial state where the LSTM cell takes [h, c]",
           call_kwargs={"initial_state": [np.zeros((1, 2), np.float32)]}),
    Reject({"cell": _cell("SimpleRNNCell", units=2)}, ((1, 3, 2),),
           "two initial states where the SimpleRNN cell takes [h]",
           call_kwargs={"initial_state": [np.zeros((1, 2), np.float32)] * 2}),
    Reject({"cell": _cell("GRUCell", units=2)}, ((1, 3, 2),),
           "an initial state of the wrong width (3 for 2 units)",
           call_kwargs={"initial_state": [np.zeros((1, 3), np.float32)]}),
    Reject({"cell": _cell("SimpleRNNCell", units=2)}, ((2, 3, 2),),
           "an initial state of the wrong batch",
           call_kwargs={"initial_state": [np.zeros((3, 2), np.float32)]}),
    Reject({"cell": _cell("SimpleRNNCell", units=2)}, ((3, 2),), "an input without time axis"),
    Reject({"cell": _cell("LSTMCell")}, ((1, 3, 2),), "a cell without units"),
    Reject({"cell": _cell("GRUCell", units=0)}, ((1, 3, 2),), "a cell with units 0"),
    Reject({"cell": {"module": "keras.layers", "class_name": "StackedRNNCells",
                     "config": {"cells": []}, "registered_name": None}}, ((1, 3, 2),),
           "an empty stack of cells (tf_keras runs it: its input passes through)",
           keras_specs=("keras3",)),
)

RNN = LayerSpec(
    layer="RNN",
    domains={"cell": (*KINDS, "stacked"), **_cell_domains(KINDS),
             "return_sequences": (False, True), "return_state": (False, True),
             "go_backwards": (False, True), "mask": MASKS, "initial_state": (False, True),
             "unroll": (False, True), "zero_output_for_mask": (False, True),
             "time_major": (False, True), "regime": REGIMES},
    make=_rnn_make, weights=_rnn_weights, call_kwargs=_rnn_call_kwargs, expect=_rnn_expect,
    valid=_rnn_valid_cells, rejects=RNN_REJECTS,
    divergences=(SCAN_REPEATS_INITIAL_H, TF_CELL_SOFTMAX, TORCH_UNROLLED_MASK_FLIP,
                 TF_UNROLLED_ZEROS_MIRRORED, JAX_UNROLLED_IGNORES_ZERO_OUTPUT,
                 TF_KERAS_UNROLLED_ZEROS_RAISE, JAX_STACK_PREVIOUS_OUTPUT),
    spec_values=(("time_major", True, ("keras2",)),),
)
