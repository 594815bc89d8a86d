"""Spec of ConvLSTM2D: the LSTM's gates over convolutions, folded over time.

Bounds: as for the recurrent layers (conformance/specs/recurrent.py), carried through the loop
in Bounded arithmetic; the step is reference/conv_lstm.py conv_lstm_step again, with each
convolution bounded like a matmul (bounded_conv): a float32 sum of kh*kw*C products (plus the
bias) per output element, its magnitude the convolution of |x| with |kernel|, plus the error
the input already carries passed through |kernel| (the convolution of that error with
|kernel|). Shapes stay small (rows, cols <= 5, time <= 4, filters <= 3); the long regime
makes the input convolution's sums long (1024 to 2048 products, one time step) with many
input channels.
"""
import dataclasses
import math

import numpy as np

import reference
from conformance import tolerance
from conformance.regimes import LONG_TERMS, REGIMES
from conformance.spec import Divergence, Expected, LayerSpec, Reject
from conformance.specs._common import tf_exp_minus_one_in_recurrence
from conformance.specs._engine_activations import activations_in_recurrence
from conformance.specs._engine_conversion import TFLITE_NCHW_SPACE_TO_BATCH
from conformance.specs._onednn import _onednn_width_one
from conformance.specs.conv import DATA_FORMATS
from conformance.specs.core import ACTIVATIONS
from conformance.specs.bounded import Bounded, fold_bounded, lstm_gates_bounded
from conformance.specs.recurrent import (
    KERAS3_SCAN_REPEATS_INITIAL_H, MASKS, TF_RECURRENT_SOFTMAX, TORCH_UNROLLED_MASK_FLIP,
    _layer_activations, _rnn_valid, _steps_mask,
)
from reference.conv_lstm import state_shape
from reference.padding import as_tuple, span


def bounded_conv(a, kernel, bias, config, **window):
    """reference.conv(a, kernel, bias) in Bounded arithmetic, in config's data_format, with the
    window's strides, padding and dilation_rate. The sum bound counts every tap (kh*kw*C
    products, + 1 for the bias), which over-counts at a "same" border. Where a is not finite
    its error is not carried: every output that reads it is inf or NaN itself."""
    kernel = np.asarray(kernel, np.float64)
    args = dict(filters=kernel.shape[-1], kernel_size=kernel.shape[:2],
                data_format=config.get("data_format", "channels_last"), **window)
    terms = math.prod(kernel.shape[:-1]) + (bias is not None)
    with np.errstate(invalid="ignore", over="ignore"):
        v = reference.conv(a.v, kernel, bias, use_bias=bias is not None, **args)
        magnitude = reference.conv(np.abs(a.v), np.abs(kernel),
                                   None if bias is None else np.abs(bias),
                                   use_bias=bias is not None, **args)
        error = np.where(np.isfinite(a.v), np.broadcast_to(a.e, np.shape(a.v)), 0.0)
        carried = reference.conv(error, np.abs(kernel), use_bias=False, **args)
    return Bounded(v, tolerance.sum_bound(magnitude, terms, v, products=True) + carried)


def conv_lstm_bounded(x, states, weights, config, spec):
    """reference.conv_lstm.conv_lstm_step in Bounded arithmetic."""
    kernel, recurrent_kernel, *bias = weights
    h, c = states
    z = (bounded_conv(x, kernel, bias[0] if bias else None, config,
                      strides=config.get("strides", 1), padding=config.get("padding", "valid"),
                      dilation_rate=config.get("dilation_rate", 1))
         + bounded_conv(h, recurrent_kernel, None, config, strides=1, padding="same",
                        dilation_rate=1))
    axis = 1 if config.get("data_format") == "channels_first" else -1
    gates = [Bounded(v, e) for v, e in zip(np.split(z.v, 4, axis=axis),
                                           np.split(np.broadcast_to(z.e, z.v.shape), 4,
                                                    axis=axis))]
    h, c = lstm_gates_bounded(*gates, c, config, spec)
    return h, [h, c]


def _state_shape(config, x_shape):
    return state_shape(x_shape, config["filters"], config["kernel_size"],
                       config.get("strides", 1), config.get("padding", "valid"),
                       config.get("dilation_rate", 1),
                       config.get("data_format", "channels_last"))


def _expect(case):
    config, spec = case.config, case.spec
    x = np.asarray(case.inputs[0], np.float64)
    outputs = reference.conv_lstm2d(case.inputs[0], *case.weights, **case.call_kwargs,
                                    **config, spec=spec)
    shape = _state_shape(config, x.shape)
    initial = case.call_kwargs.get("initial_state") or [np.zeros(shape)] * 2
    states = [Bounded(np.asarray(s, np.float64), np.zeros(shape)) for s in initial]
    weights = [np.asarray(w, np.float64) for w in case.weights]
    with np.errstate(invalid="ignore", over="ignore"):
        sequence, final = fold_bounded(
            lambda x_t, s: conv_lstm_bounded(x_t, s, weights, config, spec), x, states,
            case.call_kwargs.get("mask"), config.get("go_backwards", False),
            config.get("zero_output_for_mask", False))
    first = sequence.e if config.get("return_sequences") else sequence.e[:, -1]
    bounds = [first] + ([np.broadcast_to(s.e, s.v.shape) for s in final]
                        if config.get("return_state") else [])
    return Expected(outputs, bounds)


def _weights(config, shapes):
    filters = config["filters"]
    kernel = as_tuple(config["kernel_size"], 2, "kernel_size")
    x = shapes[0]
    channels = x[2] if config.get("data_format") == "channels_first" else x[-1]
    bias = [("bias", (4 * filters,))] if config.get("use_bias", True) else []
    return [("kernel", (*kernel, channels, 4 * filters)),
            ("recurrent_kernel", (*kernel, filters, 4 * filters))] + bias


TIME = (1, 4)            # time steps
SIDE = 5                 # rows and cols up to this (or the window's span, for "valid")


def _make(params, rng):
    """(batch, time, rows, cols, channels) (channels_first: channels before rows): time 1-4,
    rows and cols up to 5 (from the window's span for "valid", from 1 for "same"), batch
    1-3, channels 1-3; the long regime: one step, batch 1, rows and cols the span or one more,
    and 1024 to 2048 products per input-convolution sum (channels = that / (kh * kw))."""
    config = {k: v for k, v in params.items() if k not in ("regime", "mask", "initial_state")}
    kernel = as_tuple(params["kernel_size"], 2, "kernel_size")
    reach = [span(k, d) for k, d in zip(kernel, as_tuple(params["dilation_rate"], 2,
                                                         "dilation_rate"))]
    steps = int(rng.integers(TIME[0], TIME[1] + 1))
    if params["regime"] == "long":
        # the lower half of the long range and one time step: each of its products has a
        # weight of its own (4 filters' worth), and the fixtures must stay small
        terms = int(rng.integers(LONG_TERMS[0], 2 * LONG_TERMS[0] + 1))
        steps, batch, channels = 1, 1, -(-terms // math.prod(kernel))
        spatial = [r + int(rng.integers(0, 2)) for r in reach]
    else:
        batch, channels = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        spatial = [int(rng.integers(r if params["padding"] == "valid" else 1,
                                    max(r, SIDE) + 1)) for r in reach]
    if params["data_format"] == "channels_first":
        return config, [(batch, steps, channels, *spatial)]
    return config, [(batch, steps, *spatial, channels)]


def _call_kwargs(params, shapes, rng):
    """A mask (batch, time) of the recurrent specs' kinds, and [h, c] of the state's shape."""
    batch, steps = shapes[0][:2]
    kwargs = {}
    if params.get("mask"):
        kwargs["mask"] = _steps_mask(params["mask"], batch, steps, rng)
    if params.get("initial_state"):
        shape = _state_shape(params, shapes[0])
        kwargs["initial_state"] = [rng.standard_normal(shape).astype(np.float32)
                                   for _ in range(2)]
    return kwargs


def _largest(value):
    return value if isinstance(value, int) else max(value)


def _valid(params):
    """Keras forbids strides > 1 with dilation_rate > 1; the recurrent specs' rule for the
    regimes (unbounded activations only in unit, tiny and ties: elsewhere they overflow
    float32 inside the recurrence)."""
    return (not (_largest(params["strides"]) > 1 and _largest(params["dilation_rate"]) > 1)
            and _rnn_valid(params))


def _onednn_input_conv(case):
    """TensorFlow's oneDNN Conv2D failure (conformance/specs/conv.py TF_ONEDNN_CONV2D) on the
    input convolution of one time step: one input channel, strides (1, s > 1), an output one
    column wide, batch 2 or more. The recurrent convolution has stride 1 and stays clear."""
    if not case.inputs or np.ndim(case.inputs[0]) != 5:
        return False
    step = dataclasses.replace(case, inputs=[case.inputs[0][:, 0]],
                               expected=(case.expected or [])[:1])     # the output's width
    return _onednn_width_one(step)


TF_ONEDNN_INPUT_CONV = Divergence(
    candidates=("tf.keras", "tf_keras", "keras-tensorflow", "keras-torch"),
    when=_onednn_input_conv,
    reason="oneDNN's Conv2D on CPU (TensorFlow's default where it is enabled, PyTorch's for a "
           "channels_last input) returns wrong values for one input channel, strides "
           "(1, s > 1) and an output one column wide, batch 2 or more: ConvLSTM2D's input "
           "convolution inherits it (a covering predicate, as for Conv2D)",
    evidence="as for Conv2D (README, Known divergences; conformance/specs/conv.py "
             "TF_ONEDNN_CONV2D): tf.nn.conv2d on x (2, 5, 3, 1), k (3, 3, 1, 3), strides "
             "[1, 1, 2, 1], 'VALID' wrong in 20 of 20 draws with oneDNN, right with "
             "TF_ENABLE_ONEDNN_OPTS=0; ConvLSTM2D's cell calls the same Conv2D op per step "
             "(keras/src/layers/rnn/conv_lstm.py input_conv, tf_keras base_conv_lstm.py "
             "input_conv). Not reproduced on a CPU without AVX-512: TensorFlow 2.21 with "
             "TF_ENABLE_ONEDNN_OPTS=1 (that conv2d right in 5 of 5 draws) and keras-torch "
             "(ConvLSTM2D on (2, 2, 5, 3, 1), kernel 3, strides (1, 2), 'valid': right in 10 "
             "of 10) compute these shapes right there, and the cases xpass")


def _masked_scan(case):
    """A mask, not unrolled (Keras 3's JAX and NumPy scan), where (batch, 1) does not
    broadcast to the state's shape (the scan raises), or where it does and the rows' masks
    differ at some step (row b's mask then lands on column b of every row)."""
    mask = case.call_kwargs.get("mask")
    if mask is None or case.config.get("unroll") or not case.inputs:
        return False
    state = _state_shape(case.config, np.shape(case.inputs[0]))
    try:
        same = np.broadcast_shapes((state[0], 1), state) == tuple(state)
    except ValueError:
        same = False
    return not same or bool(np.any(mask.any(axis=0) != mask.all(axis=0)))


KERAS3_SCAN_MASK_BROADCAST = Divergence(
    candidates=("keras-jax", "keras-numpy"), when=_masked_scan,
    reason="Keras 3 on JAX and NumPy, not unrolled, mask an image state with a (batch, 1) "
           "array, which broadcasts against its last two axes (columns, filters) instead of "
           "the batch: wrong values at masked steps where the shapes happen to broadcast, a "
           "TypeError from lax.scan (ValueError in NumPy) where they do not",
    evidence="keras/src/backend/jax/rnn.py lines 152-176 and numpy/rnn.py lines 148-172 "
             "(Keras 3.15.1): is_masked = all(~mask_t, axis=-1, keepdims=True) is (batch, 1) "
             "and where(is_masked, s, ns) takes the state s (batch, rows, cols, F) as is; the "
             "unrolled path tiles the mask to the state's shape (_expand_mask). "
             "ConvLSTM2D(1, 1, return_sequences=True, activation='linear', "
             "recurrent_activation='linear'), kernel 1, recurrent kernel 0.5, on "
             "arange(1, 9).reshape(2, 2, 1, 2, 1) / 8 with mask [[True, False], [True, True]]: "
             "keras-jax gives row 0, step 1 [0.00195, 0.147] and row 1 [0.244, 2.60]; unroll=True, "
             "tf.keras and the reference give [0.00195, 0.0156] and [1.380, 2.601]. "
             "ConvLSTM2D(3, 1) on (2, 2, 3, 1, 1) with a mask raises 'scan body function carry "
             "input and carry output must have equal types'")



def _masked_any_unroll(case):
    """_masked_scan's shapes and masks, unrolled or not: Keras 3 on OpenVINO runs every
    ConvLSTM2D unrolled and masks its states there with the same (batch, 1) array."""
    return _masked_scan(dataclasses.replace(case, config=dict(case.config, unroll=False)))


OPENVINO_MASK_BROADCAST = Divergence(
    candidates=("keras-openvino",), when=_masked_any_unroll,
    reason="Keras 3 on OpenVINO masks an image state with a (batch, 1) array, which broadcasts "
           "against its last two axes (columns, filters) instead of the batch: wrong values at "
           "masked steps, or a state and output of another shape (columns as many as the "
           "batch) where the shapes broadcast, an error where they do not",
    evidence="keras/src/backend/openvino/rnn.py (Keras 3.15.1): the (batch, time) mask gets a "
             "trailing axis (lines 104-114) and, on the unrolled path that a static time axis "
             "takes (OpenVINO's TensorIterator cannot hold a Convolution), each step's (batch, "
             "1) slice selects every state with ov_opset.select (lines 221-246), which "
             "broadcasts numpy-style. openvino 2026.4.1: ConvLSTM2D-052 returns shape "
             "(3, 1, 3, 1) where (3, 1, 1, 1) is expected; ConvLSTM2D-149 (rows masked "
             "differently) gives 0.747 where the reference gives 0. The predicate covers 57 of "
             "the 66 failing ConvLSTM2D cases of keras-openvino and one passing case")


OPENVINO_ONEDNN_INPUT_CONV = dataclasses.replace(
    TF_ONEDNN_INPUT_CONV, candidates=("keras-openvino",),
    reason=TF_ONEDNN_INPUT_CONV.reason + "; OpenVINO's CPU plugin runs the same oneDNN "
                                         "convolution",
    evidence=TF_ONEDNN_INPUT_CONV.evidence + "; openvino 2026.4.1 under Keras 3.15.1: "
             "ConvLSTM2D-186 (one input channel, strides (1, 2), no mask) gives 0.188 where "
             "the reference gives -0.00388, and ConvLSTM2D-144 is off alike")

def _params(**overrides):
    """Edge-case params: a small ConvLSTM2D in the unit regime."""
    base = {"filters": 2, "kernel_size": 3, "strides": 1, "padding": "same",
            "dilation_rate": 1, "data_format": "channels_last", "activation": "tanh",
            "recurrent_activation": "sigmoid", "use_bias": True, "unit_forget_bias": True,
            "return_sequences": True, "return_state": True, "go_backwards": False,
            "mask": None, "initial_state": False, "unroll": False, "dropout": 0.0,
            "recurrent_dropout": 0.0, "regime": "unit"}
    return {**base, **overrides}


def _config(**overrides):
    return {k: v for k, v in _params(**overrides).items()
            if k not in ("regime", "mask", "initial_state", "unroll")}


CONV_LSTM2D = LayerSpec(
    layer="ConvLSTM2D", windowed=True,
    domains={"filters": (1, 3), "kernel_size": (1, 2, 3, [3, 2]), "strides": (1, 2, [1, 2]),
             "padding": ("valid", "same"), "dilation_rate": (1, 2, [2, 1]),
             "data_format": DATA_FORMATS, "activation": ACTIVATIONS,
             "recurrent_activation": ACTIVATIONS, "use_bias": (True, False),
             "unit_forget_bias": (True, False), "return_sequences": (False, True),
             "return_state": (False, True), "go_backwards": (False, True), "mask": MASKS,
             "initial_state": (False, True), "unroll": (False, True),
             "dropout": (0.0, 0.5), "recurrent_dropout": (0.0, 0.5), "regime": REGIMES},
    spec_values=(("unroll", True, ("keras3",)),),       # tf_keras: TypeError
    make=_make, weights=_weights, call_kwargs=_call_kwargs, expect=_expect, valid=_valid,
    # Not TF_BIAS_ADD_LAST_AXIS: Keras 3's cell adds its bias with `conv_out += bias`, a
    # tf.Tensor's own add, not keras.ops.add (keras/src/layers/rnn/conv_lstm.py input_conv):
    # with oneDNN (TF_ENABLE_ONEDNN_OPTS=1), tf.keras's ConvLSTM2D(2, 1, data_format=
    # "channels_first") on (1, 2, 3, 4, 2) agrees with the reference within 1.2e-7 where
    # Conv2D on the same step is off by its bias (100). The edge case below keeps that shape.
    divergences=(TFLITE_NCHW_SPACE_TO_BATCH, KERAS3_SCAN_MASK_BROADCAST, OPENVINO_MASK_BROADCAST,
                 OPENVINO_ONEDNN_INPUT_CONV, KERAS3_SCAN_REPEATS_INITIAL_H,
                 TF_RECURRENT_SOFTMAX, TORCH_UNROLLED_MASK_FLIP, TF_ONEDNN_INPUT_CONV,
                 tf_exp_minus_one_in_recurrence(_layer_activations, _expect),
                 *activations_in_recurrence(_layer_activations, _expect)),
    edge_cases=(
        # "same" with an even kernel: the extra row and column go after, in both convolutions
        (_params(kernel_size=[2, 4], strides=[1, 2]), [(1, 3, 5, 6, 2)]),
        # "valid", strided: the state is smaller than the input; the recurrent conv keeps it
        (_params(kernel_size=2, strides=2, padding="valid", mask="scattered",
                 initial_state=True), [(2, 4, 5, 4, 1)]),
        # dilated input convolution (the recurrent one is not dilated)
        (_params(kernel_size=3, dilation_rate=2, padding="valid"), [(1, 2, 5, 5, 2)]),
        # one output pixel, go_backwards
        (_params(kernel_size=3, padding="valid", go_backwards=True), [(2, 3, 3, 3, 1)]),
        # channels_first, softmax along the columns, a stride longer than the input
        (_params(data_format="channels_first", activation="softmax", kernel_size=2,
                 strides=[2, 1]), [(2, 3, 2, 1, 3)]),
        # channels_first, the last output axis as long as the filters (Conv2D's bias bug
        # shape; ConvLSTM2D adds its bias right)
        (_params(kernel_size=1, data_format="channels_first"), [(1, 2, 3, 4, 2)]),
        # the oneDNN failure's shape on the input convolution (TF_ONEDNN_INPUT_CONV)
        (_params(kernel_size=3, strides=[1, 2], padding="valid", use_bias=False),
         [(2, 2, 5, 3, 1)]),
        # tf_keras reads time_major and ignores it (reference/conv_lstm.py)
        (_params(time_major=True, return_state=False), [(2, 3, 4, 4, 1)], ("keras2",)),
    ),
    rejects=(
        Reject(_config(strides=[1, 2], dilation_rate=[2, 1]), ((1, 2, 8, 8, 1),),
               "strides and dilation > 1 on different axes"),
        Reject(_config(padding="causal"), ((1, 2, 4, 4, 1),), "causal padding"),
        Reject(_config(filters=0), ((1, 2, 4, 4, 1),), "filters must be positive"),
        # tf_keras returns an empty output here ((1, 4, 0, 2)); the reference refuses it in
        # both specs, as for Conv1D
        Reject(_config(kernel_size=[1, 4], padding="valid"), ((1, 2, 4, 3, 1),),
               "a 'valid' kernel wider than the input", ("keras3",)),
        Reject({**_config(), "unroll": True}, ((1, 2, 4, 4, 1),),
               "unroll (Keras 2 cannot unroll a convolutional RNN)", ("keras2",)),
    ),
)
