"""Gradient cases: a layer's backward pass judged against the reference's VJPs.

A covering case gets a gradient twin (gradient_twin) where its layer has a family below, its
regime is one where derivatives are defined (GRADIENT_REGIMES), its outputs are finite in
float32 and its family takes it (the family's `eligible`): the same call, its id with
"-grad-", params["contract"] = "gradient", and a cotangent u, one float32-exact N(0, 1) array
per output drawn from the twin's own seed. A candidate gives the gradients of
sum(u * outputs) with respect to the float inputs, then the trainable weights in
get_weights() order (observe()'s "gradients", conformance/candidates/gradients.py); the
expected ones are the reference's analytic VJPs (reference/backward.py, checked against
central differences by tests/test_reference_backward*.py), each element with a float32 bound
derived as the forward's are, from the tolerance model's sums. One module per family says how:

- linear.py: a sum of products, then an elementwise activation (Dense, the convolutions,
  locally connected, EinsumDense, MyLayer): the backward of a sum is a sum, counted by the
  same VJP on ones.
- routing.py: the cotangent routed, summed and at most scaled (pooling, the data-movement
  layers, the noise layers at inference, Masking, Identity, Rescaling): a sum of routed
  terms, counted by the same VJP on ones; max pooling's ties and Masking's masked steps
  (no derivative there) out of scope.
- merges.py: the merges and their functional forms on routing.py's bound (Multiply's k - 1
  products, Dot's sums of products, Maximum's ties out of scope).
- composite.py: SeparableConv2D's two chained sums; TimeDistributed and Sequential through
  their inner layers' families (handed down into composite.INNER below: a wrapper has twins
  once an inner layer of it has a family; Sequential's are the recurrent layers); Lambda's
  catalogue of functions.
- attention.py: MultiHeadAttention, stage by stage on the forward's stage bounds
  (conformance/attention_bounds.py); ReversibleEmbedding's lookup and reverse projection.
- elementwise.py: one product per element, u * f'(x) at a float32-exact x (Activation,
  ReLU, LeakyReLU, ELU, ThresholdedReLU, PReLU and its alpha's sum, Normalization,
  ActivityRegularization, whose loss is no output).
- softmax.py: the softmaxes, s * (u - sum(u * s)) over a row (the Softmax layer, masked too,
  and the Activation layer's softmax and log_softmax).
- normalization.py: BatchNormalization at inference and in training, LayerNormalization:
  the gradient through the statistics, term by term, in Bounded arithmetic.
- embedding.py: the table's gradient, a sum per row over the positions that read it.
- recurrent.py: SimpleRNN, GRU, LSTM, RNN, the cells and StackedRNNCells: backpropagation
  through time replayed in the forward's Bounded arithmetic, so the bound grows with the steps.
- bidirectional.py: Bidirectional, the merge's VJP (mul's factors carry the other direction's
  forward bound), then recurrent.py's walk for each direction on its own weights, dx added.
- cudnn.py: CuDNNGRU and CuDNNLSTM (keras2), recurrent.py's GRU and LSTM on the reoriented
  weights with b_W and b_R apart, the gradients permuted back to cuDNN's layout.
- conv_lstm.py: ConvLSTM2D, recurrent.py's LSTM walk with the convolutions' VJPs for the sums.

A training call (training=True) is twinned only for a layer whose family lists it in
TRAINING_LAYERS (BatchNormalization: its batch statistics are a function of x); a random one
(Dropout, the noise layers) is not.

Not yet twinned (their bounds are still to derive; their VJPs exist): an activation that mixes
a row (softmax, log_softmax, sparsemax) after a sum of products (Dense, the convolutions) or
inside a recurrence (Bidirectional's directions and ConvLSTM2D included), the Activation
layer's sparsemax (its support found by a float32 sort: elementwise.py), and Dot with
normalize=True (its backward runs through the norm's rsqrt); tf_keras's attention rows masked
everywhere are outside the scope (attention.py).
"""
from dataclasses import replace

import numpy as np

from conformance import contract
from conformance.backward import (
    attention, bidirectional, composite, conv_lstm, cudnn, elementwise, embedding, linear,
    merges, normalization, recurrent, routing, softmax,
)

# the regimes where a derivative is defined and float32 computes it: not NaN and inf
# (special), overflow (large), subnormals (tiny) or inputs on the kinks (ties)
GRADIENT_REGIMES = ("unit", "small", "offset", "long")
FAMILIES = (linear, routing, merges, composite, attention, elementwise, softmax, normalization,
            embedding, recurrent, bidirectional, cudnn, conv_lstm)
# layer -> its family module (expected(case) and eligible(case))
GRADIENT_LAYERS = {layer: family for family in FAMILIES for layer in family.LAYERS}
composite.INNER.update(GRADIENT_LAYERS)         # the wrappers' inner layers' families
# a wrapper none of whose inner layers has a family yet has no twins
GRADIENT_LAYERS = {layer: family for layer, family in GRADIENT_LAYERS.items()
                   if any(inner in GRADIENT_LAYERS
                          for inner in composite.WRAPS.get(layer, [layer]))}
# the layers whose training call (training=True) is deterministic and differentiated as one
# (a family's TRAINING_LAYERS: BatchNormalization's batch statistics); a random training call
# (Dropout, the noise layers) has no gradient twin
TRAINING_CALLS = frozenset(layer for family in FAMILIES
                           for layer in getattr(family, "TRAINING_LAYERS", ()))
FLOAT32_MAX = float(np.finfo(np.float32).max)
# A golden twin stores its cotangent and one gradient per input and weight: a case whose
# inputs, weights and outputs hold more elements than this gets none (`fits_a_fixture`), so
# that the fixtures stay compact (the 77 largest of 3,750 twins, all but 4 of the long regime,
# held 62% of the gradient data; 175 long-regime twins remain, and the oracle tests, which
# store nothing, draw long cases of any size)
MAX_TWIN_ELEMENTS = 8192


def takes_gradient(case):
    """Whether a covering case gets a gradient twin (the module docstring)."""
    family = GRADIENT_LAYERS.get(case.layer)
    if (family is None or case.out_of_scope or case.expected is None
            or case.params.get("regime") not in GRADIENT_REGIMES or case.params.get("contract")
            or (case.call_kwargs.get("training") and case.layer not in TRAINING_CALLS)
            or case.check is not None):
        return False
    if not all(np.all(np.abs(y) < FLOAT32_MAX) for y in case.expected):
        return False            # an output float32 cannot hold: no gradient to speak of
    if any(np.size(y) == 0 for y in case.expected):
        # an empty output has no cotangent to weigh (and TensorFlow's gradient of an empty
        # Conv2DTranspose gives dx the output's shape: not pursued yet)
        return False
    return family.eligible(case)


def fits_a_fixture(case):
    """Whether a case's gradient twin is small enough to store (MAX_TWIN_ELEMENTS)."""
    return sum(np.size(a) for a in (*case.inputs, *case.weights, *case.expected)) \
        <= MAX_TWIN_ELEMENTS


def gradient_twin(case, seed):
    """The gradient twin of a covering case: its call, with a cotangent drawn from `seed`."""
    rng = np.random.default_rng(seed)
    cotangent = [rng.standard_normal(np.shape(y)).astype(np.float32) for y in case.expected]
    return replace(case, id=case.id.replace(f"{case.layer}-", f"{case.layer}-grad-", 1),
                   params={**case.params, "contract": "gradient"}, cotangent=cotangent,
                   expected=None, bounds=None, observed=None, overflow=None,
                   expected_mask=None, expected_dtypes=None, check=None)


def expected_gradients(case):
    """(the reference's gradients, their float32 bounds) for a gradient case, one array per
    float input, then per trainable weight; OutOfScope where a derivative is not defined."""
    return GRADIENT_LAYERS[case.layer].expected(case)


def expect(spec, case):
    """contract.expect(spec, case) (the spec's Expected, with what a common-parameter case
    adds), and for a gradient twin its expected gradients and their bounds as the observed
    "gradients"."""
    expected = contract.expect(spec, case)
    if case.params.get("contract") != "gradient":
        return expected
    return replace(expected, observed={**(expected.observed or {}),
                                       "gradients": expected_gradients(case)})
