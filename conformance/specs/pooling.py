"""Specs of the pooling layers."""
import math

import numpy as np

import reference
from conformance import tolerance
from conformance.spec import Divergence, Expected, LayerSpec, Reject
from reference.layout import to_channels_last
from reference.padding import as_tuple, pad_amounts

POOLING_DOMAINS_1D = {"pool_size": (1, 2, 3, 4), "strides": (None, 1, 2, 3),
                      "padding": ("valid", "same"),
                      "data_format": ("channels_last", "channels_first")}


def _pooling1d_make(params, rng):
    steps = int(rng.integers(params["pool_size"] if params["padding"] == "valid" else 1, 10))
    batch, channels = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    shape = (batch, steps, channels) if params["data_format"] == "channels_last" else (
        batch, channels, steps)
    return dict(params), [shape]


def _max_expect(case):
    """Max pooling picks one of its inputs: exact."""
    return Expected([reference.max_pooling(case.inputs[0], **case.config)], [tolerance.exact()])


def _average_expect(case):
    """A sum of at most prod(pool_size) inputs, then a division: the mean of |x| over the same
    window bounds every partial sum."""
    x = case.inputs[0]
    terms = math.prod(as_tuple(case.config["pool_size"], x.ndim - 2, "pool_size"))
    magnitude = reference.average_pooling(np.abs(x), **case.config)
    return Expected([reference.average_pooling(x, **case.config)],
                    [tolerance.sum_bound(magnitude, terms)])


def _torch_replicates_border(case):
    """Keras's torch backend (3.15) pads an asymmetric "same" window by repeating the border
    value and divides by the full window. That differs from Keras's meaning (padding ignored,
    divide by the real positions) once a window holds 2+ real values and 1+ padded ones: an
    odd total padding, pool_size >= 3 and length >= 2 on some axis."""
    config = case.config
    if config["padding"] != "same":
        return False
    x = to_channels_last(case.inputs[0], config["data_format"])
    rank = x.ndim - 2
    pool = as_tuple(config["pool_size"], rank, "pool_size")
    strides = pool if config["strides"] is None else as_tuple(config["strides"], rank, "strides")
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


def _pool1d(**overrides):
    return {"pool_size": 2, "strides": None, "padding": "valid",
            "data_format": "channels_last", **overrides}


def _pooling1d_spec(layer, expect, divergences=()):
    return LayerSpec(divergences=divergences,
        layer=layer, domains=POOLING_DOMAINS_1D,
        make=_pooling1d_make, expect=expect,
        edge_cases=(
            (_pool1d(pool_size=4, padding="same", strides=1), [(2, 3, 2)]),   # window > input
            (_pool1d(pool_size=3, padding="same", strides=2), [(1, 1, 3)]),   # one step
            (_pool1d(pool_size=4, padding="same", strides=3), [(2, 10, 1)]),  # uneven border
        ),
        rejects=(Reject(_pool1d(padding="causal"), ((1, 6, 2),), "pooling has no causal padding"),),
    )


MAX_POOLING_1D = _pooling1d_spec("MaxPooling1D", _max_expect)
AVERAGE_POOLING_1D = _pooling1d_spec("AveragePooling1D", _average_expect, (TORCH_AVERAGE_SAME,))
