"""Specs of the pooling layers."""
import math

import numpy as np

import reference
from conformance import tolerance
from conformance.regimes import ELEMENTWISE, LONG_TERMS, REGIMES
from conformance.spec import Divergence, Expected, LayerSpec, Reject
from conformance.specs._backward_divergences import (
    TF_MAX_POOL3D_GRADIENT_TOLERANCE, TORCH_AVERAGE_SAME_GRADIENT,
)
from conformance.specs._common import TENSORFLOW
from conformance.specs._engine_openvino import EMPTY_POOL
from conformance.specs._engine_ops import ENGINE_MAX_POOLING, LITERT_AVERAGE_POOLING
from conformance.elements import error_ratio
from reference.layout import from_channels_last, to_channels_last
from reference.padding import as_tuple, pad_amounts
from reference.windows import output_shape, windows

DATA_FORMATS = ("channels_last", "channels_first")
POOLING_DOMAINS = {
    1: {"pool_size": (1, 2, 3, 4), "strides": (None, 1, 2, 3)},
    2: {"pool_size": (1, 2, 3, [2, 3], [3, 1]), "strides": (None, 1, 2, [1, 2], [3, 2])},
    3: {"pool_size": (1, 2, [2, 1, 3]), "strides": (None, 1, [1, 2, 1])},
}
# Average pooling sums: its long regime pools one window of LONG_POOL[rank] (2048 positions)
LONG_POOL = {1: LONG_TERMS[0], 2: [32, 64], 3: [8, 16, 16]}
EXTRA = {1: 10, 2: 5, 3: 3}        # spatial sizes reach the window's size plus this much


def _domains(rank, average):
    domains = {**POOLING_DOMAINS[rank], "padding": ("valid", "same"),
               "data_format": DATA_FORMATS, "regime": REGIMES if average else ELEMENTWISE}
    if average:
        domains["pool_size"] = (*domains["pool_size"], LONG_POOL[rank])
    return domains


def _long_pool_valid(rank):
    """The long regime, and only it, pools LONG_POOL[rank] positions, one window at a time."""
    def valid(params):
        if params["regime"] == "long" or params["pool_size"] == LONG_POOL[rank]:
            return (params["regime"] == "long" and params["pool_size"] == LONG_POOL[rank]
                    and params["strides"] is None)
        return True
    return valid


def _pooling_make(rank):
    """Config and input shape from params: each spatial size from the window's (at least, for
    "valid") to a few past it, so sizes are often not multiples of the strides."""
    def make(params, rng):
        pool = as_tuple(params["pool_size"], rank, "pool_size")
        spatial = []
        for size in pool:
            low = size if params["padding"] == "valid" else 1
            spatial.append(int(rng.integers(low, low + EXTRA[rank])))
        batch, channels = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        if params["regime"] == "long":
            batch = 1
        shape = ((batch, *spatial, channels) if params["data_format"] == "channels_last"
                 else (batch, channels, *spatial))
        return _pool_config(params), [shape]
    return make


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
        bound = tolerance.sum_bound(magnitude, terms, y, overflow="admit")
        count = _window_counts(x, case.config)
        sides = tolerance.overflow_sides(magnitude * count, y * count, bound * count)
    # a window sum that overflows part way is +-inf, divided: the same infinity
    return Expected([y], [bound],
                    overflow=[tolerance.overflow_alternative(tolerance.IDENTITY, y, sides)])


def _window_counts(x, config):
    """How many input positions each output's window covers (what average pooling divides
    by), shaped to broadcast against the output."""
    data_format = config.get("data_format", "channels_last")
    spatial = x.shape[2:] if data_format == "channels_first" else x.shape[1:-1]
    rank = len(spatial)
    pool = as_tuple(config["pool_size"], rank, "pool_size")
    strides = pool if config.get("strides") is None else as_tuple(config["strides"], rank,
                                                                     "strides")
    padding = config.get("padding", "valid")
    counts = np.zeros(output_shape(spatial, pool, strides, (1,) * rank, padding))
    for out, taps in windows(spatial, pool, strides, (1,) * rank, padding):
        counts[out] = len(taps)
    return counts[None, None] if data_format == "channels_first" else counts[None, ..., None]


def _same_padding(case):
    """(x channels_last, pool, strides, per-axis (before, after)) of a "same" pooling case."""
    config = case.config
    x = to_channels_last(np.asarray(case.inputs[0], np.float64),
                         config.get("data_format", "channels_last"))
    rank = x.ndim - 2
    pool = as_tuple(config["pool_size"], rank, "pool_size")
    strides = (pool if config.get("strides") is None
               else as_tuple(config["strides"], rank, "strides"))
    pads = [pad_amounts(n, p, st, 1, "same") for n, p, st in zip(x.shape[1:-1], pool, strides)]
    return x, pool, strides, pads


def _torch_replicates_border(case):
    """Keras's torch backend (3.15) pads a "same" input whose padding is asymmetric on some
    axis by repeating the border values (on every axis) and divides by the full window, where
    Keras means the padding to be ignored (divide by the real positions). The divergence
    covers the cases where that computation, done here on the case's inputs, lands outside
    the bound."""
    config = case.config
    if config.get("padding", "valid") != "same" or not case.expected:
        return False
    data_format = config.get("data_format", "channels_last")
    x, pool, strides, pads = _same_padding(case)
    if all(before == after for before, after in pads):
        return False         # symmetric padding: torch's own pooling ignores it correctly
    padded = np.pad(x, [(0, 0), *pads, (0, 0)], mode="edge")
    with np.errstate(invalid="ignore"):
        torch_like = reference.average_pooling(padded, pool_size=list(pool),
                                               strides=list(strides), padding="valid")
    torch_like = from_channels_last(torch_like, data_format)
    if torch_like.shape != case.expected[0].shape:
        return False
    return bool(np.any(error_ratio(case.expected[0], case.bounds[0] if case.bounds else 0.0,
                                   torch_like) > 1))


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


def _torch_native_padding_too_small(case):
    """A 3D "same" pool whose padding is symmetric on every axis (torch pads natively) while
    some spatial size is smaller than the pool (torch's avg_pool1d and avg_pool2d accept it)."""
    config = case.config
    if config.get("padding", "valid") != "same":
        return False
    x, pool, _, pads = _same_padding(case)
    return (x.ndim == 5 and all(before == after for before, after in pads)
            and any(n < p for n, p in zip(x.shape[1:-1], pool)))


TORCH_SMALL_INPUT_SAME = Divergence(
    candidates=("keras-torch",), when=_torch_native_padding_too_small,
    reason="torch refuses a 'same' pool with symmetric padding when the input is smaller than "
           "the pool on some axis, checking the size before its own padding",
    evidence="keras-torch 3.15.1 (torch 2.13): AveragePooling3D([2, 1, 3], padding='same') on "
             "shape (1, 2, 3, 1, 3) raises RuntimeError 'input image (T: 2 H: 3 W: 1) smaller "
             "than kernel size (kT: 2 kH: 1 kW: 3)'; keras-jax and tf.keras return shape "
             "(1, 1, 3, 1, 3)")


def _pool(**overrides):
    return {"pool_size": 2, "strides": None, "padding": "valid",
            "data_format": "channels_last", "regime": "unit", **overrides}


EDGE_CASES = {
    1: ((_pool(pool_size=4, padding="same", strides=1), [(2, 3, 2)]),   # window > input
        (_pool(pool_size=3, padding="same", strides=2), [(1, 1, 3)]),   # one step
        (_pool(pool_size=4, padding="same", strides=3), [(2, 10, 1)]),  # uneven border
        (_pool(pool_size=2, strides=5), [(1, 3, 2)]),                   # stride > input
        (_pool(pool_size=3, padding="same", strides=3, regime="special"), [(2, 7, 2)])),
    2: ((_pool(pool_size=[3, 2], padding="same", strides=[2, 3]), [(1, 4, 7, 2)]),
        (_pool(pool_size=4, padding="same", strides=1), [(2, 3, 2, 1)]),  # window > input
        (_pool(pool_size=[2, 1], strides=[5, 1]), [(1, 3, 2, 2)]),        # stride > input
        (_pool(pool_size=3, padding="same", strides=2, data_format="channels_first"),
         [(1, 2, 5, 4)])),
    3: ((_pool(pool_size=[2, 3, 2], padding="same", strides=[1, 2, 3]), [(1, 3, 4, 5, 2)]),
        (_pool(pool_size=3, padding="same", strides=2, data_format="channels_first"),
         [(1, 1, 2, 3, 4)])),
}


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

def _max_pooling(rank):
    empty = _pool(pool_size=5 if rank == 1 else [5] + [1] * (rank - 1))
    return LayerSpec(
        layer=f"MaxPooling{rank}D", windowed=True, domains=_domains(rank, average=False),
        make=_pooling_make(rank), expect=_max_expect, edge_cases=EDGE_CASES[rank],
        divergences=(TF_MAX_POOLING_SKIPS_NAN, ENGINE_MAX_POOLING,
                     *((TF_MAX_POOL3D_GRADIENT_TOLERANCE,) if rank == 3 else ())),
        rejects=(Reject(_pool_config(_pool(padding="causal")), ((1,) + (6,) * rank + (2,),),
                        "pooling has no causal padding"),
                 Reject(_pool_config(empty), ((1,) + (3,) * rank + (2,),),
                        "a 'valid' pool longer than the input (TensorFlow's kernel aborts)")))


def _average_pooling(rank):
    empty = _pool(pool_size=5 if rank == 1 else [5] + [1] * (rank - 1))
    return LayerSpec(
        layer=f"AveragePooling{rank}D", windowed=True, domains=_domains(rank, average=True),
        valid=_long_pool_valid(rank), make=_pooling_make(rank), expect=_average_expect,
        divergences=(TORCH_AVERAGE_SAME, TORCH_AVERAGE_SAME_GRADIENT, TORCH_EMPTY_POOL,
                     TORCH_SMALL_INPUT_SAME,
                     *LITERT_AVERAGE_POOLING, EMPTY_POOL),
        edge_cases=EDGE_CASES[rank] + (
            (empty, [(1,) + (3,) * rank + (2,)]),   # a 'valid' pool longer than the input: empty
        ),
        rejects=(Reject(_pool_config(_pool(padding="causal")), ((1,) + (6,) * rank + (2,),),
                        "pooling has no causal padding"),))


MAX_POOLING_1D, MAX_POOLING_2D, MAX_POOLING_3D = (_max_pooling(r) for r in (1, 2, 3))
AVERAGE_POOLING_1D, AVERAGE_POOLING_2D, AVERAGE_POOLING_3D = (
    _average_pooling(r) for r in (1, 2, 3))
