"""Gradient bounds of tf_keras's CuDNNGRU and CuDNNLSTM (Keras 2 only; conformance/backward/
__init__.py for the twins; reference/backward_cudnn.py for the VJPs).

A CuDNN layer is Keras's GRU(reset_after=True) or LSTM, tanh and sigmoid, on the weights of
reference.cudnn.keras_weights: each gate block of the kernel and the recurrent kernel
reoriented (a permutation of the values, exact) and the biases b_W, b_R. cuDNN adds them
apart, to each product (x K + b_W) + (h R + b_R), so the twin's bound is the recurrent
family's backpropagation through time (recurrent.py) on that layer, with the bias kept as its
two rows b_W, b_R for both: the GRU's reset_after does so already; for the LSTM, the Bounded
cell adds b_W to the input sum and b_R to the recurrent one, and sums the bias's gradient
per row, each row's over batch * steps terms as cuDNN sums db_W and db_R (equal values, each
within that sum's bound). The oracle without a GPU runs the layer of the same computation
on the mapped weights, with b_W + b_R rounded to float32 (specs/cudnn.py): its z then carries
one more rounding, u |b_W + b_R| <= u (|b_W| + |b_R|), inside the two sums' bounds (their
magnitudes hold |b_W| and |b_R|), and its bias gradient is copied to both halves (the spec's
oracle_gradients, specs/cudnn.py's cudnn_gradients): the same values as the two rows.

The gradients then go back to cuDNN's layout by reference.backward_cudnn.cudnn_weights_vjp,
a permutation of the entries: the bounds move with their values (the same permutation on
the bound arrays). The bias's (2, gates * units) rows read as cuDNN's flat (b_W, b_R).
"""
from dataclasses import replace

import numpy as np

import reference.backward as vjps
from conformance.backward import recurrent
from conformance.backward.guards import replayed
from conformance.specs.cudnn import GATES, cudnn_gradients
from reference.cudnn import keras_weights

EQUIVALENT = {"CuDNNGRU": "GRU", "CuDNNLSTM": "LSTM"}
VJPS = {"CuDNNGRU": vjps.cudnn_gru_vjp, "CuDNNLSTM": vjps.cudnn_lstm_vjp}
LAYERS = tuple(GATES)


def equivalent(case):
    """The recurrent layer's case of the same computation: GRU(reset_after=True) or LSTM,
    tanh and sigmoid, on keras_weights, the bias as its two rows (b_W, b_R)."""
    kernel, recurrent_kernel, input_bias, recurrent_bias = keras_weights(
        *(np.asarray(w, np.float64) for w in case.weights), GATES[case.layer])
    config = {**case.config, "activation": "tanh", "recurrent_activation": "sigmoid",
              "use_bias": True}
    if case.layer == "CuDNNGRU":
        config["reset_after"] = True
    return replace(case, layer=EQUIVALENT[case.layer], config=config,
                   weights=[kernel, recurrent_kernel, np.stack([input_bias, recurrent_bias])])


def eligible(case):
    """Not stateful (recurrent.eligible)."""
    return not case.config.get("stateful")


def expected(case):
    """(the reference's gradients, their float32 bounds): dx, the initial states' gradients
    where given, dkernel, drecurrent_kernel, dbias in cuDNN's layout; OutOfScope where a
    bound is not finite or a value may overflow."""
    kwargs = {k: v for k, v in case.call_kwargs.items() if k != "training"}
    u = [np.asarray(w, np.float64) for w in case.cotangent]
    with np.errstate(invalid="ignore", over="ignore"):
        grads = VJPS[case.layer](case.inputs[0], *case.weights, u=u, **kwargs, **case.config,
                                 spec=case.spec)
        bounded = recurrent.replay(equivalent(case))
    bounds = cudnn_gradients(case, [np.broadcast_to(b.e, np.shape(b.v)) for b in bounded])
    return replayed(case, grads, cudnn_gradients(case, [b.v for b in bounded]), bounds)
