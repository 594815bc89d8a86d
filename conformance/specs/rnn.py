"""Spec of RNN over one cell or a stack of mixed cells (the seeds' "Recurrent" base). The
cells, their weights and their bounds are those of specs/cells.py: an RNN's case is that
module's cell plan folded over time, with the RNN flags (return_sequences, return_state,
go_backwards, unroll, zero_output_for_mask, time_major), initial_state and a mask.
"""
import dataclasses

import numpy as np

import reference
from conformance.regimes import REGIMES
from conformance.spec import Divergence, Expected, LayerSpec, Reject
from conformance.specs._common import TENSORFLOW
from conformance.specs._engine_conversion import TF2ONNX_GEMM_LIST_ALPHA
from conformance.specs.bounded import fold_bounded
from conformance.specs.recurrent import (
    KERAS3_SCAN_REPEATS_INITIAL_H, LONG_STEPS, MASKS, TORCH_UNROLLED_MASK_FLIP, _rnn_valid,
    _steps_mask,
)
from reference.recurrent import CELLS, cell_configs
from conformance.specs.cells import (
    BOUNDED_ACTIVATIONS, KINDS, ONLY, TF_CELL_SOFTMAX, _activations,
    _bounded_stack, _cell_domains, _cell_weights, _exact, _plan, _serialized, _state_units,
    engine_cell_activations, tf_cell_exp_minus_one,
)


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
    return ((params["regime"] in ("unit", "tiny", "small", "ties")
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



def _last_output_not_zeroed(case):
    """zero_output_for_mask, the last output only, a mask, and some row whose last processed
    step is masked after a real one (before any, the output it keeps is still the zeros it
    starts from)."""
    mask = case.call_kwargs.get("mask")
    if (mask is None or not case.config.get("zero_output_for_mask")
            or case.config.get("return_sequences")):
        return False
    mask = np.asarray(mask)[:, ::-1] if case.config.get("go_backwards") else np.asarray(mask)
    return bool(np.any(~mask[:, -1] & mask.any(axis=1)))


OPENVINO_LAST_OUTPUT_NOT_ZEROED = Divergence(
    candidates=("keras-openvino",), when=_last_output_not_zeroed,
    reason="Keras 3 on OpenVINO zeroes the masked steps of the returned sequence "
           "(zero_output_for_mask) but not the last output: a row whose last step is masked "
           "returns its previous output where Keras on TensorFlow gives 0",
    evidence="keras/src/backend/openvino/rnn.py (Keras 3.15.1), _rnn_unrolled: last_output = "
             "select(mask_t, output, previous) and only the sequence's step is select(mask_t, "
             "output, 0) (lines 240-256); _rnn_loop the same (lines 415-431). openvino "
             "2026.4.1: RNN(LSTMCell, zero_output_for_mask=True, return_sequences=False), mask "
             "[[1, 1, 0, 0]] (RNN-147): [0.172, 1.28, -0.179] where tf.keras and the reference "
             "give 0; RNN-065, -089, -115 and -131 alike")

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
    divergences=(TF2ONNX_GEMM_LIST_ALPHA, SCAN_REPEATS_INITIAL_H, TF_CELL_SOFTMAX,
                 tf_cell_exp_minus_one(_rnn_expect),
                 *engine_cell_activations(_rnn_expect), OPENVINO_LAST_OUTPUT_NOT_ZEROED,
                 TORCH_UNROLLED_MASK_FLIP,
                 TF_UNROLLED_ZEROS_MIRRORED, JAX_UNROLLED_IGNORES_ZERO_OUTPUT,
                 TF_KERAS_UNROLLED_ZEROS_RAISE, JAX_STACK_PREVIOUS_OUTPUT),
    spec_values=(("time_major", True, ("keras2",)),),
)
