"""Specs of the pooling layers."""
import math

import numpy as np

import reference
from conformance import tolerance
from conformance.regimes import ELEMENTWISE, LONG_TERMS, REGIMES
from conformance.spec import Divergence, Expected, LayerSpec, Reject
from conformance.specs._common import TENSORFLOW
from reference.layout import to_channels_last
from reference.padding import as_tuple, pad_amounts

POOLING_DOMAINS_1D = {"pool_size": (1, 2, 3, 4), "strides": (None, 1, 2, 3),
                      "padding": ("valid", "same"),
                      "data_format": ("channels_last", "channels_first"),
                      "regime": ELEMENTWISE}
LONG_POOL = LONG_TERMS[0]
# Average pooling sums: its long regime pools LONG_POOL steps at once (strides None)
AVERAGE_DOMAINS_1D = {**POOLING_DOMAINS_1D, "pool_size": (1, 2, 3, 4, LONG_POOL),
                      "regime": REGIMES}


def _long_pool_valid(params):
    """The long regime, and only it, pools LONG_POOL steps, one window at a time."""
    if params["regime"] == "long" or params["pool_size"] == LONG_POOL:
        return (params["regime"] == "long" and params["pool_size"] == LONG_POOL
                and params["strides"] is None)
    return True


def _pooling1d_make(params, rng):
    low = params["pool_size"] if params["padding"] == "valid" else 1
    steps = int(rng.integers(low, low + 10))
    batch, channels = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    if params["regime"] == "long":
        batch = 1
    shape = (batch, steps, channels) if params["data_format"] == "channels_last" else (
        batch, channels, steps)
    return _pool_config(params), [shape]


def _max_expect(case):
    """Max pooling picks one of its inputs: exact."""
    return Expected([reference.max_pooling(case.inputs[0], **case.config)], [tolerance.exact()])


def _average_expect(case):
    """A sum of at most prod(pool_size) inputs, then a division: the mean of |x| over the same
    window bounds every partial sum."""
    x = case.inputs[0]
    terms = math.prod(as_tuple(case.config["pool_size"], x.ndim - 2, "pool_size"))
    with np.errstate(invalid="ignore"):
        y = reference.average_pooling(x, **case.config)
        magnitude = reference.average_pooling(np.abs(x), **case.config)
    return Expected([y], [tolerance.sum_bound(magnitude, terms, y)])


def _torch_replicates_border(case):
    """Keras's torch backend (3.15) pads an asymmetric "same" window by repeating the border
    value and divides by the full window. That differs from Keras's meaning (padding ignored,
    divide by the real positions) once a window holds 2+ real values and 1+ padded ones: an
    odd total padding, pool_size >= 3 and length >= 2 on some axis."""
    config = case.config
    if config.get("padding", "valid") != "same":
        return False
    x = to_channels_last(case.inputs[0], config.get("data_format", "channels_last"))
    rank = x.ndim - 2
    pool = as_tuple(config["pool_size"], rank, "pool_size")
    strides = (pool if config.get("strides") is None
               else as_tuple(config["strides"], rank, "strides"))
    for axis, length in enumerate(x.shape[1:-1]):
        before, after = pad_amounts(length, pool[axis], strides[axis], 1, "same")
        if before != after and pool[axis] >= 3 and length >= 2:
            return True
    return False


TORCH_AVERAGE_SAME = Divergence(
    candidates=("keras-torch",), when=_torch_replicates_border,
    reason="torch backend pads asymmetric 'same' average-pooling windows by replicating the "
           "border and divides by the full window",
    evidence="keras-team/keras#19721 (averagePooling2D calculates wrongly with torch backend); "
             "fixed upstream by keras-team/keras#23233, not in Keras 3.15.1: "
             "keras/src/backend/torch/nn.py _apply_same_padding uses mode='replicate'. "
             "Example: AveragePooling1D(4, 1, 'same') on [1, 2, 4] gives [2, 2.75, 3.5]; "
             "TensorFlow and JAX give [7/3, 7/3, 3]")


def _empty_output(case):
    return any(np.size(e) == 0 for e in case.expected or [])


TORCH_EMPTY_POOL = Divergence(
    candidates=("keras-torch",), when=_empty_output,
    reason="torch refuses a 'valid' average pool longer than the input, where Keras on "
           "TensorFlow and JAX returns an empty output",
    evidence="keras-torch 3.15.1 (torch 2.13): AveragePooling1D(5) on shape (1, 3, 2) raises "
             "RuntimeError 'Given input size: (2x1x3). Calculated output size: (2x1x0). Output "
             "size is too small'; tf.keras and keras-jax return shape (1, 0, 2)")


def _pool1d(**overrides):
    return {"pool_size": 2, "strides": None, "padding": "valid",
            "data_format": "channels_last", "regime": "unit", **overrides}


EDGE_CASES_1D = (
    (_pool1d(pool_size=4, padding="same", strides=1), [(2, 3, 2)]),   # window > input
    (_pool1d(pool_size=3, padding="same", strides=2), [(1, 1, 3)]),   # one step
    (_pool1d(pool_size=4, padding="same", strides=3), [(2, 10, 1)]),  # uneven border
    (_pool1d(pool_size=2, strides=5), [(1, 3, 2)]),                   # stride > input
    (_pool1d(pool_size=3, padding="same", strides=3, regime="special"), [(2, 7, 2)]),
)


def _pool_config(params, **overrides):
    return {k: v for k, v in {**params, **overrides}.items() if k != "regime"}


def _window_with_nan_or_all_minus_inf(case):
    return any(np.isnan(e).any() or np.isneginf(e).any() for e in case.expected or [])


TF_MAX_POOLING_SKIPS_NAN = Divergence(
    candidates=TENSORFLOW, when=_window_with_nan_or_all_minus_inf,
    reason="TensorFlow's CPU max pooling skips NaN (and gives -3.4e38 for a window of -inf) "
           "where IEEE max, and Keras's JAX, torch and NumPy backends, give NaN",
    evidence="tf.keras and tf_keras 2.21 on CPU: MaxPooling1D(2, 2) on [NaN, 1, 2, NaN] gives "
             "[1, 2] and MaxPooling1D(1, padding='same') on [-inf, 1] gives [-3.4028235e38, 1]; "
             "keras-jax, keras-torch and keras-numpy give [NaN, NaN] and [-inf, 1]")

MAX_POOLING_1D = LayerSpec(
    layer="MaxPooling1D", domains=POOLING_DOMAINS_1D, make=_pooling1d_make,
    expect=_max_expect, edge_cases=EDGE_CASES_1D, divergences=(TF_MAX_POOLING_SKIPS_NAN,),
    rejects=(Reject(_pool_config(_pool1d(padding="causal")), ((1, 6, 2),),
                    "pooling has no causal padding"),
             Reject(_pool_config(_pool1d(pool_size=5)), ((1, 3, 2),),
                    "a 'valid' pool longer than the input (TensorFlow's kernel aborts)")),
)

AVERAGE_POOLING_1D = LayerSpec(
    layer="AveragePooling1D", domains=AVERAGE_DOMAINS_1D, valid=_long_pool_valid,
    make=_pooling1d_make, expect=_average_expect,
    divergences=(TORCH_AVERAGE_SAME, TORCH_EMPTY_POOL),
    edge_cases=EDGE_CASES_1D + (
        (_pool1d(pool_size=5), [(1, 3, 2)]),      # a 'valid' pool longer than the input: empty
    ),
    rejects=(Reject(_pool_config(_pool1d(padding="causal")), ((1, 6, 2),),
                    "pooling has no causal padding"),),
)
