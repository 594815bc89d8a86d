"""Specs of the recurrent cells as layers of their own (SimpleRNNCell, GRUCell, LSTMCell: one
step) and of StackedRNNCells (one step of a stack of mixed cells); RNN over one cell or a stack
of them (the seeds' "Recurrent" base) is specs/rnn.py, on the helpers here.

A cell's case: inputs [x (batch, features)], call_kwargs {"states": [h] or [h, c]}, outputs
[output, *new_states]. A stack's states, and RNN's initial_state and returned states, are each
cell's states in turn, flat (Keras nests them per cell; the adapter nests them). Weights: each
cell's [kernel, recurrent_kernel, bias] in turn.

Bounds: the cells' steps in Bounded arithmetic from specs/recurrent.py, stacked, and folded
over time by its fold_bounded (a cell's one step is a fold over one time step, so the same
float32-range checks apply).
"""
import json

import numpy as np

import reference
from conformance.case import seed_of
from conformance.regimes import LONG_TERMS, REGIMES, Regime
from conformance.spec import Divergence, Expected, LayerSpec, Reject
from conformance.specs._common import TENSORFLOW, tf_exp_minus_one_in_recurrence
from conformance.specs._engine_ops import BUILTIN_CLAMPED_OUTPUT
from conformance.specs._engine_activations import activations_in_recurrence
from conformance.specs.core import ACTIVATIONS
from conformance.specs.bounded import (
    Bounded, fold_bounded, gru_bounded, lstm_bounded, simple_rnn_bounded,
)
from conformance.specs.recurrent import SQUASHING
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
    if params["regime"] in ("unit", "tiny", "small", "ties"):
        return True
    if params["regime"] in ("large", "offset"):
        return "exponential" not in _activations(params)
    return _activations(params) <= set(BOUNDED_ACTIVATIONS)


def _step_make(params, rng):
    """x (batch, features): batch 1-3, features 1-4; in the long regime batch 1 and 1024-2048
    features (the lower half of the long range: each feature has a weight per gate and unit,
    and the fixtures must stay small)."""
    plan = _plan(params)
    batch = int(rng.integers(1, 4))
    features = int(rng.integers(1, 5))
    if params["regime"] == "long":
        batch, features = 1, int(rng.integers(LONG_TERMS[0], 2 * LONG_TERMS[0] + 1))
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

def _cell_activations(case):
    return [a for _, c in _case_cells(case)
            for a in (c.get("activation"), c.get("recurrent_activation"))]


def tf_cell_exp_minus_one(expect):
    """TensorFlow's elu near 0 at some step of a cell, a stack or RNN over them (expect: the
    spec's)."""
    return tf_exp_minus_one_in_recurrence(_cell_activations, expect)


def engine_cell_activations(expect):
    """The deploy engines' activation kernels at some step of a cell, a stack or RNN over
    them (expect: the spec's)."""
    return activations_in_recurrence(_cell_activations, expect)

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
        divergences=(TF_CELL_SOFTMAX, tf_cell_exp_minus_one(_step_expect(function)),
                     *engine_cell_activations(_step_expect(function)), BUILTIN_CLAMPED_OUTPUT))


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
    divergences=(TF_CELL_SOFTMAX,
                 tf_cell_exp_minus_one(_step_expect(reference.stacked_rnn_cells)),
                 *engine_cell_activations(_step_expect(reference.stacked_rnn_cells)),
                 BUILTIN_CLAMPED_OUTPUT))
