"""Specs of tf_keras's CuDNNGRU and CuDNNLSTM (Keras 2 only; reference/cudnn.py).

The oracle. tf_keras runs these layers on a GPU only. Where TensorFlow sees none (CI), the
tf_keras candidate says so in supports(), and the oracle runs the case's oracle_equivalent:
the layer a CuDNN one equals, GRU(reset_after=True) or LSTM with tanh and sigmoid, on the
weights of reference.cudnn.keras_weights (each gate's kernel and recurrent block reoriented;
the GRU's bias as the rows b_W, b_R; the LSTM's as b_W + b_R, rounded to float32 as tf_keras's
own conversion rounds it, which the bound below allows for). The fixture records
"oracle_via". On a GPU the real layer is the oracle. tests/test_cudnn.py tests the mapping
itself: against the weight shapes of a real CuDNN layer, against tf_keras's own conversion of
CuDNN weights (hdf5_format._convert_rnn_weights), and against cuDNN's formulas written out on
the flat parameter vector tf_keras hands to cuDNN.

Bounds: the recurrent specs' Bounded cells carried through time (conformance/specs/
recurrent.py), on the mapped weights (a permutation: exact). gru_bounded with reset_after
keeps cuDNN's two bias vectors apart already (b_W in the input sum, b_R in the recurrent
one); the LSTM step below keeps them apart too, so the bound covers a float32 evaluation of
(W x + b_W) + (R h + b_R), and the mapped LSTM whose b_W + b_R is rounded (u |b_W + b_R| <=
u (|b_W| + |b_R|), inside the sums' bounds).
"""
import dataclasses

import numpy as np

import reference
from conformance.regimes import REGIMES
from conformance.spec import Divergence, Expected, LayerSpec, Reject
from conformance.specs.bounded import (
    Bounded, fold_bounded, gru_bounded, lstm_gates_bounded, matmul,
)
from conformance.specs.recurrent import _rnn_call_kwargs, _rnn_make
from reference.backward_cudnn import cudnn_weights_vjp
from reference.cudnn import keras_weights

GATES = {"CuDNNGRU": 3, "CuDNNLSTM": 4}
EQUIVALENT = {"CuDNNGRU": "GRU", "CuDNNLSTM": "LSTM"}


def _weights(layer):
    def weights(config, shapes):
        units, gates = config["units"], GATES[layer]
        return [("kernel", (shapes[0][-1], gates * units)),
                ("recurrent_kernel", (units, gates * units)), ("bias", (2 * gates * units,))]
    return weights


def gru_bounded_cudnn(x, states, weights, spec):
    """gru_bounded (reset_after=True) on keras_weights: b_W in the input sum, b_R in the
    recurrent one, as cuDNN adds them."""
    kernel, recurrent_kernel, input_bias, recurrent_bias = weights
    return gru_bounded(x, states, [kernel, recurrent_kernel,
                                   np.stack([input_bias, recurrent_bias])],
                       {"reset_after": True}, spec)


def lstm_bounded_cudnn(x, states, weights, spec):
    """lstm_bounded with cuDNN's two bias vectors kept apart:
    z = (x @ kernel + b_W) + (h @ recurrent_kernel + b_R), then the LSTM's gates."""
    kernel, recurrent_kernel, input_bias, recurrent_bias = weights
    h, c = states
    z = matmul(x, kernel, input_bias) + matmul(h, recurrent_kernel, recurrent_bias)
    h, c = lstm_gates_bounded(*z.split(4), c, {}, spec)
    return h, [h, c]


def _expect(layer):
    plain = {"CuDNNGRU": reference.cudnn_gru, "CuDNNLSTM": reference.cudnn_lstm}[layer]
    bounded = {"CuDNNGRU": gru_bounded_cudnn, "CuDNNLSTM": lstm_bounded_cudnn}[layer]
    state_count = 1 if layer == "CuDNNGRU" else 2

    def expect(case):
        config, spec = case.config, case.spec
        outputs = plain(case.inputs[0], *case.weights, **case.call_kwargs, **config, spec=spec)
        weights = keras_weights(*[np.asarray(w, np.float64) for w in case.weights],
                                GATES[layer])
        x = np.asarray(case.inputs[0], np.float64)
        if config.get("time_major"):
            x = np.swapaxes(x, 0, 1)
        zeros = np.zeros((x.shape[0], config["units"]))
        initial = case.call_kwargs.get("initial_state")
        initial = [zeros] * state_count if initial is None else initial
        states = [Bounded(np.asarray(s, np.float64), zeros) for s in initial]
        with np.errstate(invalid="ignore", over="ignore"):
            sequence, final = fold_bounded(lambda x_t, s: bounded(x_t, s, weights, spec), x,
                                           states, None, config.get("go_backwards", False),
                                           False)
        first = sequence.e if config.get("return_sequences") else sequence.e[:, -1]
        if config.get("time_major") and config.get("return_sequences"):
            first = np.swapaxes(first, 0, 1)
        bounds = [first] + ([np.broadcast_to(s.e, s.v.shape) for s in final]
                            if config.get("return_state") else [])
        return Expected(outputs, bounds)
    return expect


def _oracle_equivalent(layer):
    """The case as a call of tf_keras's GRU(reset_after=True) or LSTM, tanh and sigmoid, on
    keras_weights of its float32 weights (the LSTM's b_W + b_R rounded to float32)."""
    target = EQUIVALENT[layer]

    def equivalent(case):
        kernel, recurrent_kernel, input_bias, recurrent_bias = keras_weights(
            *case.weights, GATES[layer])
        if target == "GRU":
            bias, extra = np.stack([input_bias, recurrent_bias]), {"reset_after": True}
            how = ("tf_keras GRU(reset_after=True, tanh, sigmoid) on the CuDNNGRU weights "
                   "mapped (reference.cudnn.keras_weights: gate blocks reoriented, bias rows "
                   "b_W, b_R)")
        else:
            bias, extra = input_bias + recurrent_bias, {}
            how = ("tf_keras LSTM(tanh, sigmoid) on the CuDNNLSTM weights mapped "
                   "(reference.cudnn.keras_weights: gate blocks reoriented, bias b_W + b_R)")
        config = {**case.config, "activation": "tanh", "recurrent_activation": "sigmoid",
                  "use_bias": True, **extra}
        return dataclasses.replace(case, layer=target, config=config,
                                   weights=[kernel, recurrent_kernel, bias]), how
    return equivalent


def cudnn_gradients(case, gradients):
    """The gradients of the case's equivalent (Keras's orientation: dx, d initial states,
    dkernel, drecurrent_kernel, dbias of shape (2, gates * units) or, for the oracle's LSTM,
    (gates * units,) for b_W + b_R) in cuDNN's layout (cudnn_weights_vjp; the LSTM's single
    bias gradient copied to both halves). Applied to bounds as well: a permutation."""
    *first, d_kernel, d_recurrent, d_bias = gradients
    gates, units = GATES[case.layer], case.config["units"]
    d_kernel, d_recurrent = cudnn_weights_vjp(np.asarray(d_kernel), np.asarray(d_recurrent),
                                              gates, np.shape(case.weights[0])[0], units)
    d_bias = np.asarray(d_bias)
    d_bias = d_bias.reshape(-1) if d_bias.ndim == 2 else np.concatenate([d_bias, d_bias])
    return [*first, d_kernel, d_recurrent, d_bias]


def _time_major_backwards(case):
    """time_major and go_backwards, on more than one step or row (a covering predicate)."""
    time, batch = np.shape(case.inputs[0])[:2]
    return bool(case.config.get("time_major") and case.config.get("go_backwards")
                and (time > 1 or batch > 1))


TF_KERAS_CUDNN_REVERSES_THE_BATCH = Divergence(
    candidates=("tf_keras",), when=_time_major_backwards,
    reason="tf_keras's CuDNN layers with time_major=True and go_backwards=True reverse the "
           "batch axis instead of time, so they process the sequence forwards with the rows "
           "in reverse order (on a GPU; without one tf_keras does not run these layers)",
    evidence="tf_keras/src/layers/rnn/base_cudnn_rnn.py line 103 (tf_keras 2.21): "
             "`inputs = backend.reverse(inputs, 1)` whatever time_major says, and "
             "_process_batch takes time-major inputs as they are. CuDNNGRU(2, "
             "time_major=True, go_backwards=True) on the (time 3, batch 2, 1) input "
             "[[0, 1], [2, 3], [4, 5]] hands cuDNN [[1, 0], [3, 2], [5, 4]] (seen on a CPU by "
             "replacing _process_batch); tf_keras's GRU and LSTM reverse the time axis")


def _cudnn(layer, extra):
    domains = {"units": (1, 3), **extra, "return_sequences": (False, True),
               "return_state": (False, True), "go_backwards": (False, True),
               "initial_state": (False, True), "time_major": (False, True), "regime": REGIMES}
    return LayerSpec(
        layer=layer, domains=domains, make=_rnn_make, weights=_weights(layer),
        call_kwargs=_rnn_call_kwargs(EQUIVALENT[layer]), expect=_expect(layer),
        keras_specs=("keras2",), oracle_equivalent=_oracle_equivalent(layer),
        oracle_gradients=cudnn_gradients,
        divergences=(TF_KERAS_CUDNN_REVERSES_THE_BATCH,),
        rejects=(Reject({"units": 2}, ((2, 3, 2),), "tf_keras: 'Masking is not supported for "
                        "CuDNN RNNs.' (base_cudnn_rnn.py, call)", keras_specs=("keras2",),
                        call_kwargs={"mask": np.array([[True, True, False]] * 2)}),),
        # features 4 and units 3: each gate block's reshape to cuDNN's (units, features)
        # matrix differs from its transpose (with one feature or one unit it does not)
        edge_cases=(({"units": 3, **{k: v[0] for k, v in extra.items()},
                      "return_sequences": True, "return_state": True, "go_backwards": False,
                      "initial_state": True, "time_major": False, "regime": "unit"},
                     [(2, 5, 4)]),),
    )


CUDNN_GRU = _cudnn("CuDNNGRU", {})
CUDNN_LSTM = _cudnn("CuDNNLSTM", {"unit_forget_bias": (True, False)})
