"""Specs of the pooling layers."""
import math

import numpy as np

import reference
from conformance import tolerance
from conformance.spec import Expected, LayerSpec, Reject
from reference.padding import as_tuple

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


def _pool1d(**overrides):
    return {"pool_size": 2, "strides": None, "padding": "valid",
            "data_format": "channels_last", **overrides}


def _pooling1d_spec(layer, expect):
    return LayerSpec(
        layer=layer, family="pooling", domains=POOLING_DOMAINS_1D,
        make=_pooling1d_make, expect=expect,
        edge_cases=(
            (_pool1d(pool_size=4, padding="same", strides=1), [(2, 3, 2)]),   # window > input
            (_pool1d(pool_size=3, padding="same", strides=2), [(1, 1, 3)]),   # one step
            (_pool1d(pool_size=4, padding="same", strides=3), [(2, 10, 1)]),  # uneven border
        ),
        rejects=(Reject(_pool1d(padding="causal"), ((1, 6, 2),), "pooling has no causal padding"),),
    )


MAX_POOLING_1D = _pooling1d_spec("MaxPooling1D", _max_expect)
AVERAGE_POOLING_1D = _pooling1d_spec("AveragePooling1D", _average_expect)
