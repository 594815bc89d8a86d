"""Specs of the recurrent layers (SimpleRNN, GRU, LSTM).

Bounds: a recurrence compounds rounding over time, so the bound is carried through the loop
with the values, in the Bounded arithmetic of conformance/specs/bounded.py.
"""
import dataclasses

import numpy as np

import reference
from conformance.regimes import REGIMES
from conformance.spec import Divergence, Expected, LayerSpec
from conformance.specs._common import tf_exp_minus_one_in_recurrence
from conformance.specs._engine_activations import activations_in_recurrence
from conformance.specs._engine_conversion import TF2ONNX_GEMM_LIST_ALPHA
from conformance.specs.bounded import (
    Bounded, fold_bounded, gru_bounded, lstm_bounded, simple_rnn_bounded,
)
from conformance.specs.core import ACTIVATIONS
from reference.config import OutOfScope

# Cases -------------------------------------------------------------------------------------

GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}
STATES = {"SimpleRNN": 1, "GRU": 1, "LSTM": 2}
STEPS = {"SimpleRNN": (reference.simple_rnn, simple_rnn_bounded),
         "GRU": (reference.gru, gru_bounded), "LSTM": (reference.lstm, lstm_bounded)}
MASKS = (None, "right_padded", "scattered", "a_row_all_masked")
LONG_STEPS = (50, 80)
SQUASHING = (None, "tanh", "sigmoid", "hard_sigmoid", "softsign")


def _rnn_make(params, rng):
    """(batch, time, features): batch 1-3, time 1-6 (50-80 in the long regime), features 1-4;
    time_major (Keras 2) swaps the first two axes. A stateful layer gets two inputs of that
    shape: the inputs of two consecutive calls (_stateful_cases)."""
    config = {k: v for k, v in params.items()
              if k not in ("regime", "mask", "initial_state", "training")
              and not (k == "time_major" and not v)}
    steps = (int(rng.integers(*LONG_STEPS)) if params["regime"] == "long"
             else int(rng.integers(1, 7)))
    batch, features = int(rng.integers(1, 4)), int(rng.integers(1, 5))
    shape = (steps, batch, features) if params.get("time_major") else (batch, steps, features)
    return config, [shape] * (2 if params.get("stateful") else 1)


def _rnn_weights(layer):
    def weights(config, shapes):
        units, gates = config["units"], GATES[layer]
        features = shapes[0][-1]
        bias = []
        if config.get("use_bias", True):
            bias = [("bias", (2, gates * units) if layer == "GRU" and config.get(
                "reset_after", True) else (gates * units,))]
        return [("kernel", (features, gates * units)),
                ("recurrent_kernel", (units, gates * units))] + bias
    return weights


def _steps_mask(kind, batch, steps, rng):
    """(batch, steps) booleans, True = a real step. right_padded: each row a prefix of at
    least one step; scattered: any steps, the first often masked, at least one real step per
    row; a_row_all_masked: scattered, with the first row masked everywhere."""
    if kind == "right_padded":
        keep = rng.integers(1, steps + 1, size=batch)
        return np.arange(steps)[None, :] < keep[:, None]
    mask = rng.random((batch, steps)) < 0.6
    mask[np.arange(batch), rng.integers(0, steps, size=batch)] = True
    if kind == "a_row_all_masked":
        mask[0] = False
    return mask


def _rnn_call_kwargs(layer):
    def call_kwargs(params, shapes, rng):
        shape = shapes[0]
        batch, steps = (shape[1], shape[0]) if params.get("time_major") else shape[:2]
        kwargs = {"training": True} if params.get("training") else {}
        if params.get("mask"):
            kwargs["mask"] = _steps_mask(params["mask"], batch, steps, rng)
        if params.get("initial_state"):
            kwargs["initial_state"] = [
                rng.standard_normal((batch, params["units"])).astype(np.float32)
                for _ in range(STATES[layer])]
        return kwargs
    return call_kwargs


def bounded_call(layer, x, weights, config, spec, mask=None, states=None):
    """One call of the layer in Bounded arithmetic: (the outputs as [Bounded], the final
    states as [Bounded]). x as the case holds it (time_major swapped here); states: the
    initial states as Bounded (zeros, exact, by default)."""
    _, bounded = STEPS[layer]
    x = np.asarray(x, np.float64)
    if config.get("time_major"):
        x = np.swapaxes(x, 0, 1)
    if states is None:
        zeros = np.zeros((x.shape[0], config["units"]))
        states = [Bounded(zeros, zeros) for _ in range(STATES[layer])]
    weights = [np.asarray(w, np.float64) for w in weights]
    with np.errstate(invalid="ignore", over="ignore"):
        sequence, final = fold_bounded(
            lambda x_t, s: bounded(x_t, s, weights, config, spec), x, states, mask,
            config.get("go_backwards", False), config.get("zero_output_for_mask", False))
    if config.get("return_sequences"):
        first = sequence
        if config.get("time_major"):
            first = Bounded(np.swapaxes(first.v, 0, 1), np.swapaxes(first.e, 0, 1))
    else:
        first = Bounded(sequence.v[:, -1], sequence.e[:, -1])
    final = [Bounded(s.v, np.broadcast_to(s.e, s.v.shape)) for s in final]
    return [first, *final] if config.get("return_state") else [first], final


def _rnn_expect(layer):
    plain, _ = STEPS[layer]

    def expect(case):
        config, spec, kwargs = case.config, case.spec, dict(case.call_kwargs)
        training = kwargs.pop("training", False)
        if training and _dropout_rates(config):
            return Expected([], [], check=dropout_check(layer, case))
        if config.get("stateful"):
            outputs = reference.recurrent.stateful_calls(plain, case.inputs, *case.weights,
                                                         **kwargs, **config, spec=spec)
        else:
            outputs = plain(case.inputs[0], *case.weights, **kwargs, **config, spec=spec)
        initial = kwargs.get("initial_state")
        states = None if initial is None else [
            Bounded(np.asarray(s, np.float64), np.zeros(np.shape(s))) for s in initial]
        bounds = []
        for x in case.inputs if config.get("stateful") else case.inputs[:1]:
            returned, states = bounded_call(layer, x, case.weights, config, spec,
                                            kwargs.get("mask"), states)
            bounds += [b.e for b in returned]
        return Expected(outputs, bounds)
    return expect


# Dropout in training ------------------------------------------------------------------------
#
# The output is random, so a training case carries a check (conformance/statistics.py,
# "recurrent_dropout") instead of values. How each Keras draws its masks, per call (the same
# masks at every time step, but for tf_keras's fused path below): an input mask over the
# features (batch, n) and a recurrent mask over the units (batch, u), each 0 or 1 / (1 - rate).
# - SimpleRNN: one of each (keras/src/layers/rnn/simple_rnn.py, tf_keras simple_rnn.py).
# - LSTM, GRU in Keras 3: recurrent_dropout > 0 forces implementation 1, which draws one mask
#   per gate (dropout_mask_count 4 or 3, lstm.py/gru.py __init__); implementation 2 draws one
#   input mask for all gates. (implementation=1 with dropout > 0 and recurrent_dropout = 0
#   raises in training on every backend: the cuDNN-path code broadcasts the list of 4 masks,
#   lstm.py inner_loop; no case holds it.)
# - LSTM, GRU in tf_keras: recurrent_dropout > 0 forces implementation 1 (one mask per gate);
#   otherwise, where the fused kernel may run (tanh, sigmoid, a bias, not unrolled, and
#   reset_after for GRU: _could_use_gpu_kernel), the layer multiplies its whole input by
#   dropout_mask[0], drawn over the input's shape (batch, time, n): one draw per time step,
#   for all gates (tf_keras lstm.py line 650, gru.py line 823); elsewhere the cell: one mask
#   per gate with implementation 1, one with implementation 2, shared by the time steps.

def _dropout_rates(config):
    """(input rate, recurrent rate) where some dropout applies (0 < rate < 1), else ()."""
    rates = (config.get("dropout", 0.0), config.get("recurrent_dropout", 0.0))
    return rates if any(0 < r < 1 for r in rates) else ()


def _fused_keras2(layer, config, keras_spec):
    """tf_keras's LSTM or GRU taking its fused path (_could_use_gpu_kernel)."""
    return (keras_spec == "keras2" and layer != "SimpleRNN"
            and config.get("activation", "tanh") == "tanh"
            and config.get("recurrent_activation", "sigmoid") == "sigmoid"
            and config.get("recurrent_dropout", 0.0) == 0
            and config.get("use_bias", True) and not config.get("unroll")
            and (layer == "LSTM" or config.get("reset_after", True)))


def dropout_check(layer, case):
    """The statistical check of a training case: what the check needs, JSON only.
    per_gate: one mask per gate; per_step: the input mask drawn per time step."""
    if set(case.call_kwargs) - {"training"} or case.config.get("time_major"):
        raise OutOfScope("a training case with a mask, initial states or time_major: the "
                         "dropout check takes the plain batch-major call only")
    config, spec = case.config, case.spec
    fused = _fused_keras2(layer, config, spec)
    per_gate = layer != "SimpleRNN" and (config.get("recurrent_dropout", 0.0) > 0 or (
        not fused and config.get("implementation", 2) == 1))
    return {"kind": "recurrent_dropout", "layer": layer, "spec": spec, "config": config,
            "weights": [np.asarray(w).tolist() for w in case.weights],
            "per_gate": per_gate, "per_step": fused}


def dropout_bits(check, x_shape):
    """The rate of each bit of one row's draw: the input mask's (gates or 1, n) bits, or
    (time, n) drawn per time step, then the recurrent mask's (gates or 1, u), for the masks
    that apply."""
    config, copies = check["config"], GATES[check["layer"]] if check["per_gate"] else 1
    rate, recurrent_rate = config.get("dropout", 0.0), config.get("recurrent_dropout", 0.0)
    inputs = (x_shape[1] if check["per_step"] else copies) * x_shape[-1]
    return np.array([rate] * (inputs if 0 < rate < 1 else 0)
                    + [recurrent_rate] * (copies * config["units"]
                                          if 0 < recurrent_rate < 1 else 0))


def under_dropout(check, weights, x, bits):
    """(x, weights) computing, without dropout, the layer on rows x (batch, time, n) that
    all drew `bits` (dropout_bits order): a mask per time step multiplies x itself, a mask
    shared by the steps scales the kernels' rows (reference.recurrent.dropout_weights)."""
    config, layer = check["config"], check["layer"]
    gates, copies = GATES[layer], GATES[layer] if check["per_gate"] else 1
    rate, recurrent_rate = config.get("dropout", 0.0), config.get("recurrent_dropout", 0.0)
    x, bits = np.asarray(x, np.float64), np.asarray(bits, bool)
    input_keep = np.ones((gates, x.shape[-1]), bool)
    if 0 < rate < 1:
        size = (x.shape[1] if check["per_step"] else copies) * x.shape[-1]
        part, bits = bits[:size], bits[size:]
        if check["per_step"]:
            x = x * part.reshape(x.shape[1:]) / (1 - rate)
        else:
            input_keep = np.broadcast_to(part.reshape(copies, -1), input_keep.shape)
    recurrent_keep = np.ones((gates, config["units"]), bool)
    if 0 < recurrent_rate < 1:
        recurrent_keep = np.broadcast_to(bits.reshape(copies, -1), recurrent_keep.shape)
    kernel, recurrent_kernel = reference.recurrent.dropout_weights(
        weights[0], weights[1], input_keep, recurrent_keep, gates=gates,
        dropout=0.0 if check["per_step"] else rate, recurrent_dropout=recurrent_rate)
    return x, [kernel, recurrent_kernel, *weights[2:]]


def _rnn_valid(params):
    """Long sequences and large, offset or special inputs keep to squashing activations: an
    unbounded one (exp, relu, linear, ...) overflows float32 inside the recurrence there, and
    the float32 result is then undetermined (Float32Overflow). A time_major input takes no
    mask (its layout is not the batch-major one Keras documents for masks)."""
    squashing = (params.get("activation") in SQUASHING
                 and params.get("recurrent_activation", "sigmoid") in SQUASHING)
    return ((params["regime"] in ("unit", "tiny", "small", "ties") or squashing)
            and not (params.get("time_major") and params.get("mask")))


def _leads_with_a_masked_step(case):
    """A mask, an initial state (or a stateful layer's second call, which starts from the
    first call's states) and the first processed step of some row masked (where Keras 3 on
    JAX and NumPy repeat the initial h instead of 0), outside unroll."""
    mask, config = case.call_kwargs.get("mask"), case.config
    initial = "initial_state" in case.call_kwargs or config.get("stateful")
    if mask is None or not initial or config.get("unroll"):
        return False
    first = mask[:, -1] if config.get("go_backwards") else mask[:, 0]
    if config.get("return_sequences"):
        return bool((~first).any())
    return bool((~mask.any(axis=1)).any())


KERAS3_SCAN_REPEATS_INITIAL_H = Divergence(
    candidates=("keras-jax", "keras-numpy"), when=_leads_with_a_masked_step,
    reason="Keras 3 on JAX and NumPy output the initial state's h at masked steps before a "
           "row's first real step (and for a row masked everywhere); TensorFlow, tf_keras "
           "and torch output 0 there",
    evidence="keras/src/backend/jax/rnn.py and numpy/rnn.py (Keras 3.15.1), not unrolled: "
             "the masked output is states[0]; keras/src/backend/tensorflow/rnn.py starts "
             "prev_output at zeros (flat_zero_output), as tf_keras does. SimpleRNN(2, "
             "return_sequences=True) with mask [[False, True, True], [False, False, False]] "
             "and initial_state 0.5 gives [0, 0] first on tf.keras and keras-torch, "
             "[0.5, 0.5] on keras-jax and keras-numpy; the all-masked row gives 0 vs 0.5")


def _softmax_over_special_values(case):
    """softmax as an activation, with an inf or NaN among the inputs."""
    return ("softmax" in (case.config.get("activation"), case.config.get("recurrent_activation"))
            and case.inputs
            and not np.all(np.isfinite(case.inputs[0])))


TF_RECURRENT_SOFTMAX = Divergence(
    candidates=("tf.keras", "tf_keras", "keras-tensorflow"), when=_softmax_over_special_values,
    reason="TensorFlow's CPU softmax gives [nan, 0, 0] for a row holding NaN or +inf (IEEE: "
           "all NaN); inside a recurrence the row is the units of a step (a covering "
           "predicate: softmax as either activation, any non-finite input)",
    evidence="as for Activation('softmax') (README, Known divergences): softmax([nan, 1, 2]) "
             "is [nan, 0, 0] on tf.keras and tf_keras 2.21 CPU; SimpleRNN(3, "
             "activation='softmax') in the special regime returns 0 where the reference "
             "carries NaN")


def _layer_activations(case):
    return case.config.get("activation"), case.config.get("recurrent_activation")


# SimpleRNN, GRU and LSTM (and their cases inside Bidirectional and TimeDistributed)
TF_RECURRENT_EXP_MINUS_ONE = tf_exp_minus_one_in_recurrence(
    _layer_activations, lambda case: _rnn_expect(case.layer)(case))
ENGINE_RECURRENT_ACTIVATIONS = activations_in_recurrence(
    _layer_activations, lambda case: _rnn_expect(case.layer)(case))


def _unrolled_backwards_with_a_mask(case):
    config = case.config
    return bool(config.get("unroll") and config.get("go_backwards")
                and case.call_kwargs.get("mask") is not None)


TORCH_UNROLLED_MASK_FLIP = Divergence(
    candidates=("keras-torch",), when=_unrolled_backwards_with_a_mask,
    reason="Keras 3 on torch raises AttributeError ('tuple' object has no attribute "
           "'shape') for unroll=True, go_backwards=True and a mask",
    evidence="keras/src/backend/torch/rnn.py lines 93-95 (Keras 3.15.1): mask_list = "
             "torch.unbind(mask) is a tuple, then torch.flip(mask_list, dims=mask_list.shape) "
             "reads its .shape; SimpleRNN(2, unroll=True, go_backwards=True) on (2, 3, 2) "
             "with any mask raises; without go_backwards or unroll it runs")


def _simple_rnn_activity_regularized(case):
    return case.layer == "SimpleRNN" and case.config.get("activity_regularizer") is not None


def _as_rnn_of_its_cell(case):
    """The SimpleRNN case as RNN(SimpleRNNCell(...)), the activity regularizer on the RNN,
    which keeps it: the same weights, outputs and losses."""
    rnn_keys = {"return_sequences", "return_state", "go_backwards", "stateful", "unroll",
                "activity_regularizer", "name", "trainable", "dtype", "time_major",
                "zero_output_for_mask"}
    cell = {k: v for k, v in case.config.items() if k not in rnn_keys}
    config = {k: v for k, v in case.config.items() if k in rnn_keys}
    config["cell"] = {"class_name": "SimpleRNNCell", "config": cell, "module": "keras.layers",
                      "registered_name": None}
    return (dataclasses.replace(case, layer="RNN", config=config),
            "RNN(SimpleRNNCell(...), activity_regularizer=...)")


KERAS3_SIMPLE_RNN_DROPS_ACTIVITY_REGULARIZER = Divergence(
    candidates=("tf.keras", "keras-tensorflow", "keras-jax", "keras-torch", "keras-numpy"),
    when=_simple_rnn_activity_regularized,
    reason="Keras 3's SimpleRNN takes activity_regularizer and drops it: it adds no activity "
           "loss, and its get_config() writes activity_regularizer None (GRU and LSTM, and "
           "tf_keras's SimpleRNN, add it)",
    evidence="keras/src/layers/rnn/simple_rnn.py (Keras 3.15.1): SimpleRNN.__init__ takes "
             "activity_regularizer=None and passes it neither to SimpleRNNCell nor to "
             "super().__init__ (gru.py and lstm.py pass activity_regularizer=... to "
             "super().__init__); SimpleRNN(4, activity_regularizer='l1') on ones((2, 3, 5)) "
             "leaves layer.losses == [] on tf.keras 2.21 and Keras 3 on JAX, torch and NumPy; "
             "GRU(4, activity_regularizer='l1') adds 0.01 * sum|y| / 2",
    equivalent=_as_rnn_of_its_cell)
# the same layer code on Keras 3's OpenVINO backend (its own Divergence keeps the other
# candidates' known-failures files as they are)
OPENVINO_SIMPLE_RNN_DROPS_ACTIVITY_REGULARIZER = dataclasses.replace(
    KERAS3_SIMPLE_RNN_DROPS_ACTIVITY_REGULARIZER, candidates=("keras-openvino",),
    evidence=KERAS3_SIMPLE_RNN_DROPS_ACTIVITY_REGULARIZER.evidence + "; Keras 3.15.1 on "
             "OpenVINO (openvino 2026.4.1) drops it alike: SimpleRNN-regularizer-024 to -027 "
             "return 3 losses where 4 are expected")


# Edge cases: two consecutive calls of a stateful layer, and dropout in training -------------

def _stateful_cases(layer):
    """Stateful: two calls (the case's two inputs), after reset_states(); the outputs are the
    first call's, then the second's. Plain, and with a mask, go_backwards and the states."""
    plain = {"units": 2, "stateful": True, "return_sequences": True, "regime": "unit"}
    masked = {"units": 2, "stateful": True, "return_state": True, "go_backwards": True,
              "mask": "scattered", "regime": "unit"}
    return ((plain, [(2, 3, 2)] * 2), (masked, [(3, 4, 2)] * 2))


def _training_cases(layer):
    """Dropout in training, tiny per row (the check enumerates every draw of a row: 2 to 8
    bits) and many rows (128 to 144 draws per case, for the count). Rate 0.5: the mask's
    1 / (1 - rate) = 2 is exact in float32, so x * mask @ K rounds as x @ (mask * K) does."""
    common = {"return_sequences": True, "regime": "unit", "training": True}
    both = {**common, "units": 1, "dropout": 0.5, "recurrent_dropout": 0.5}
    inputs_only = {**common, "units": 2, "dropout": 0.5}
    if layer == "SimpleRNN":
        return ((both, [(64, 4, 1)]), ({**inputs_only, "units": 1}, [(64, 4, 2)]))
    rows = {"LSTM": 16, "GRU": 24}[layer]          # 4 or 3 gates x 2 bits per row
    return ((both, [(rows, 4, 1)]), ({**inputs_only, "implementation": 2}, [(64, 4, 2)]))


def _rnn(layer, extra):
    domains = {"units": (1, 3), "activation": ACTIVATIONS, **extra,
               "use_bias": (True, False), "return_sequences": (False, True),
               "return_state": (False, True), "go_backwards": (False, True),
               "mask": MASKS, "initial_state": (False, True), "unroll": (False, True),
               "dropout": (0.0, 0.5), "recurrent_dropout": (0.0, 0.5), "regime": REGIMES}
    return LayerSpec(
        layer=layer, domains=domains, make=_rnn_make, weights=_rnn_weights(layer),
        call_kwargs=_rnn_call_kwargs(layer), expect=_rnn_expect(layer), valid=_rnn_valid,
        divergences=(TF2ONNX_GEMM_LIST_ALPHA, KERAS3_SCAN_REPEATS_INITIAL_H,
                     TF_RECURRENT_SOFTMAX,
                     TORCH_UNROLLED_MASK_FLIP, TF_RECURRENT_EXP_MINUS_ONE,
                     *ENGINE_RECURRENT_ACTIVATIONS,
                     KERAS3_SIMPLE_RNN_DROPS_ACTIVITY_REGULARIZER,
                     OPENVINO_SIMPLE_RNN_DROPS_ACTIVITY_REGULARIZER),
        spec_values=(("time_major", True, ("keras2",)),),
        edge_cases=_stateful_cases(layer) + _training_cases(layer),
    )


SIMPLE_RNN = _rnn("SimpleRNN", {})
LSTM = _rnn("LSTM", {"recurrent_activation": ACTIVATIONS, "unit_forget_bias": (True, False),
                     "implementation": (1, 2), "time_major": (False, True)})
GRU = _rnn("GRU", {"recurrent_activation": ACTIVATIONS, "reset_after": (True, False),
                   "implementation": (1, 2), "time_major": (False, True)})
