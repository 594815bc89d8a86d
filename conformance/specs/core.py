"""Specs of the core layers: Dense, Activation, Dropout, Flatten, Reshape, Permute,
RepeatVector, Lambda, Masking and Input."""
import itertools
import math
import os

import numpy as np

import reference
from conformance import lambdas, tolerance
from conformance.regimes import ELEMENTWISE, LONG_TERMS, REGIMES
from conformance.spec import Divergence, Expected, LayerSpec, Reject
from conformance.specs._common import (
    daz_mask_divergence, exact_expect, linear_part, linear_then_activation, tf_softmax_divergence,
    through_activation,
)
from reference.activations import NAMES
from reference.config import dtype_name

ACTIVATIONS = (None, *NAMES)
# Layers that only move data: a regime can change their result only by special values or
# subnormals that an engine mangles on the way (NaN canonicalised, subnormals flushed).
DATA_MOVEMENT_REGIMES = ("unit", "tiny", "special")


def _long_terms(rng):
    return int(rng.integers(LONG_TERMS[0], LONG_TERMS[1] + 1))


def _batch(rng):
    return int(rng.integers(1, 4))


def _dims(rng, count, low=1, high=4):
    return tuple(int(d) for d in rng.integers(low, high + 1, size=count))


# Dense ----------------------------------------------------------------------------------------

def _dense_make(params, rng):
    features = _long_terms(rng) if params["regime"] == "long" else int(rng.integers(1, 7))
    shape = (_batch(rng), *_dims(rng, params["rank"] - 2, 1, 3), features)
    return {"units": params["units"], "activation": params["activation"],
            "use_bias": params["use_bias"]}, [shape]


def _dense_valid(params):
    """Long reductions (thousands of input features) are kept small elsewhere: rank 2, at most
    3 units, and the activations that show a sum's error plainly (none, saturating, softmax)."""
    return params["regime"] != "long" or (
        params["rank"] == 2 and params["units"] <= 3
        and params["activation"] in (None, "linear", "tanh", "softmax"))


def _dense_weights(config, shapes):
    units = config["units"]
    use_bias = config.get("use_bias", True)
    return [("kernel", (shapes[0][-1], units))] + ([("bias", (units,))] if use_bias else [])


def _dense_expect(case):
    x, = case.inputs
    y, bound = linear_then_activation(reference.dense, x, case.weights, case.config,
                                      terms=x.shape[-1] + len(case.weights) - 1,
                                      keras_spec=case.spec)
    return Expected([y], [bound])


DENSE = LayerSpec(
    layer="Dense",
    domains={"units": (1, 3, 8), "activation": ACTIVATIONS, "use_bias": (True, False),
             "rank": (2, 3, 4, 5), "regime": REGIMES},
    valid=_dense_valid, divergences=(tf_softmax_divergence(linear_part(reference.dense)),),
    make=_dense_make, weights=_dense_weights, expect=_dense_expect,
    edge_cases=(({"units": 64, "activation": None, "use_bias": True, "rank": 2,
                  "regime": "unit"}, [(2, 256)]),
                ({"units": 8, "activation": "softmax", "use_bias": True, "rank": 5,
                  "regime": "unit"}, [(1, 1, 1, 2, 33)]),
                ({"units": 1, "activation": None, "use_bias": False, "rank": 2,
                  "regime": "long"}, [(1, 4096)]),                    # one long dot product
                ({"units": 3, "activation": "exponential", "use_bias": True, "rank": 2,
                  "regime": "large"}, [(1, 1)])),                     # one input feature
    rejects=(Reject({"units": 0}, ((2, 3),), "units must be positive", ("keras3",)),
             Reject({"units": 2, "activation": "no_such_activation"}, ((2, 3),),
                    "unknown activation name")),
)


# Activation -----------------------------------------------------------------------------------

def _activation_make(params, rng):
    if params["regime"] == "long":            # softmax's sum over thousands of logits
        return {"activation": params["activation"]}, [
            (1, *(1,) * (params["rank"] - 2), _long_terms(rng))]
    return {"activation": params["activation"]}, [(_batch(rng), *_dims(rng, params["rank"] - 1))]


def _activation_inputs(config, shapes, regime):
    """Unit inputs N(0, 9), wide enough to reach saturation and kinks (hard_sigmoid's +-3);
    the large regime adds magnitudes up to 1e38."""
    return [regime.values(s, scale=3.0, huge=True) for s in shapes]


def _activation_expect(case):
    x = np.asarray(case.inputs[0], np.float64)
    y = reference.activation_layer(x, **case.config, spec=case.spec)
    y_again, bound = through_activation(case.config["activation"], x, 0.0, case.spec)
    assert np.array_equal(y, y_again, equal_nan=True)
    return Expected([y], [bound])


ACTIVATION = LayerSpec(
    layer="Activation",
    domains={"activation": ACTIVATIONS, "rank": (2, 3, 4), "regime": REGIMES},
    valid=lambda p: p["regime"] != "long" or p["activation"] == "softmax",   # the only sum
    make=_activation_make, inputs=_activation_inputs, expect=_activation_expect,
    divergences=(tf_softmax_divergence(lambda case: case.inputs[0]),),
    edge_cases=(({"activation": "softmax", "rank": 2, "regime": "special"}, [(1, 1)]),
                ({"activation": "softmax", "rank": 2, "regime": "long"}, [(1, 4096)])),
    rejects=(Reject({"activation": "no_such_activation"}, ((2, 3),), "unknown activation name"),),
)


# Dropout --------------------------------------------------------------------------------------

def _dropout_make(params, rng):
    """In training the output is random: enough elements (and draws) for its statistics."""
    if params["training"]:
        shape = (int(rng.integers(4, 9)), int(rng.integers(20, 41)), int(rng.integers(8, 17)))
    else:
        shape = (_batch(rng), *_dims(rng, 2, 1, 5))
    noise_shape = {None: None, "shared_over_time": [shape[0], 1, shape[2]]}[params["noise_shape"]]
    return {"rate": params["rate"], "noise_shape": noise_shape, "seed": params["seed"]}, [shape]


def _dropout_expect(case):
    """Inference: the input, exactly. Training: random, so a statistical check of the draw
    (conformance/statistics.py: each element 0 or x / (1 - rate), zeros shared along the
    noise_shape's 1-axes, the count of drops binomial)."""
    x, training = case.inputs[0], case.call_kwargs.get("training", False)
    if not training:
        return Expected([reference.dropout(x, **case.config, training=False, spec=case.spec)],
                        [tolerance.exact()])
    with np.errstate(invalid="ignore", over="ignore"):       # rejects what Keras rejects
        reference.dropout(x, **case.config, training=True, keep=np.ones(np.shape(x), bool),
                          spec=case.spec)
    return Expected([], [], check={"kind": "dropout", "rate": case.config["rate"],
                                  "noise_shape": case.config.get("noise_shape")})


DROPOUT = LayerSpec(
    layer="Dropout",
    domains={"rate": (0.0, 0.25, 0.5, 0.9), "noise_shape": (None, "shared_over_time"),
             "seed": (None, 1337), "training": (False, True), "regime": ELEMENTWISE},
    make=_dropout_make, call_kwargs=lambda params, shapes, rng: {"training": params["training"]},
    expect=_dropout_expect,
    edge_cases=(({"rate": 1.0, "noise_shape": None, "seed": None, "training": False,
                  "regime": "unit"}, [(1, 1, 1)]),
                ({"rate": 1.0, "noise_shape": None, "seed": 1337, "training": True,
                  "regime": "unit"}, None, ("keras3",)),        # tf_keras refuses it
                ({"rate": 0.0, "noise_shape": "shared_over_time", "seed": None,
                  "training": True, "regime": "special"}, None)),
    rejects=(Reject({"rate": 1.5}, ((2, 3),), "rate must lie in [0, 1]"),
             Reject({"rate": 1.0}, ((2, 3),), "tf_keras refuses rate 1 in training",
                    ("keras2",), call_kwargs={"training": True})),
)


# Flatten, Reshape, Permute, RepeatVector ------------------------------------------------------

FLATTEN = LayerSpec(
    layer="Flatten",
    domains={"data_format": ("channels_last", "channels_first"), "rank": (2, 3, 4, 5),
             "regime": DATA_MOVEMENT_REGIMES},
    make=lambda params, rng: ({"data_format": params["data_format"]},
                              [(_batch(rng), *_dims(rng, params["rank"] - 1))]),
    expect=exact_expect(reference.flatten),
    edge_cases=(({"data_format": "channels_first", "rank": 5, "regime": "unit"},
                 [(1, 1, 1, 1, 1)]),),
    rejects=(Reject({"data_format": "channels_middle"}, ((2, 3, 4),), "unknown data_format"),),
)


def _reshape_make(params, rng):
    target = list(_dims(rng, params["out_rank"]))
    size = math.prod(target)
    source = [size] if rng.integers(2) else list(reversed(target))
    if params["minus_one"] is not None and params["minus_one"] < len(target):
        target[params["minus_one"]] = -1
    return {"target_shape": target}, [(_batch(rng), *source)]


RESHAPE = LayerSpec(
    layer="Reshape",
    domains={"out_rank": (1, 2, 3), "minus_one": (None, 0, 1, 2),
             "regime": DATA_MOVEMENT_REGIMES},
    valid=lambda p: p["minus_one"] is None or p["minus_one"] < p["out_rank"],
    make=_reshape_make, expect=exact_expect(reference.reshape),
    rejects=(Reject({"target_shape": [-1, -1]}, ((2, 6),), "two unknown sizes"),
             Reject({"target_shape": [5]}, ((2, 6),), "6 entries do not fit 5")),
)

PERMUTATIONS = tuple(list(p) for rank in (1, 2, 3)
                     for p in itertools.permutations(range(1, rank + 1)))

PERMUTE = LayerSpec(
    layer="Permute",
    domains={"dims": PERMUTATIONS, "regime": DATA_MOVEMENT_REGIMES},
    make=lambda params, rng: ({"dims": params["dims"]},
                              [(_batch(rng), *_dims(rng, len(params["dims"]), 1, 4))]),
    expect=exact_expect(reference.permute),
    rejects=(Reject({"dims": [1, 1]}, ((2, 3, 4),), "not a permutation"),
             Reject({"dims": [0, 1]}, ((2, 3, 4),), "0-based dims")),
)

REPEAT_VECTOR = LayerSpec(
    layer="RepeatVector",
    domains={"n": (1, 2, 5), "regime": DATA_MOVEMENT_REGIMES},
    make=lambda params, rng: ({"n": params["n"]}, [(_batch(rng), int(rng.integers(1, 6)))]),
    expect=exact_expect(reference.repeat_vector),
    edge_cases=(({"n": 10000, "regime": "unit"}, [(1, 2)]),            # a huge repeat count
                ({"n": 0, "regime": "unit"}, [(2, 3)], ("keras2",))),  # tf_keras: empty
    rejects=(Reject({"n": 2}, ((2, 3, 4),), "input of rank 3"),
             Reject({"n": 0}, ((2, 3),), "Keras 3 refuses n = 0", ("keras3",))),
)


# Lambda ---------------------------------------------------------------------------------------

def _lambda_make(params, rng):
    shape = (_batch(rng), *_dims(rng, int(rng.integers(1, 3)) - 1), int(rng.integers(2, 5)))
    function = params["function"]
    out_shape = lambdas.SHAPE_FUNCTIONS[lambdas.SHAPE_OF[function]](shape)[1:]
    output_shape = {None: None, "tuple": list(out_shape),
                    "callable": lambdas.SHAPE_OF[function]}[params["output_shape"]]
    arguments = {None: None, "scale": {"scale": 0.5}}[params["arguments"]]
    return {"function": function, "output_shape": output_shape, "mask": params["mask"],
            "arguments": arguments}, [shape]


def _lambda_expect(case):
    x, = case.inputs
    config = lambdas.resolve_lambda_config(case.config)
    function = config["function"]
    arguments = config.get("arguments") or {}
    y = reference.lambda_layer(x, **config)
    # Each catalogue function is at most two roundings (a product, then a sum or product);
    # the function of |x| with |arguments| bounds every intermediate.
    with np.errstate(over="ignore", invalid="ignore"):
        magnitude = function(np.abs(np.asarray(x, np.float64)),
                             **{k: abs(v) for k, v in arguments.items()})
    mask = reference.core.lambda_mask(x, mask=config.get("mask"))
    # Keras runs the function as written on float32 tensors: where an intermediate overflows
    # (x * x beyond 3.4e38 in x * x * 0.5), the float32 answer is that infinity, although the
    # exact result is finite. IEEE float32 arithmetic on the same expression locates those
    # elements; everywhere else the float64 value stands.
    with np.errstate(over="ignore", invalid="ignore"):
        as_written = np.asarray(function(np.asarray(x, np.float32), **{
            k: np.float32(v) for k, v in arguments.items()}), np.float64)
    y = np.where(np.isinf(as_written) & np.isfinite(y), as_written, y)
    return Expected([y], [tolerance.evaluation_bound(magnitude, 2)], mask=mask)


LAMBDA = LayerSpec(
    layer="Lambda",
    domains={"function": tuple(lambdas.FUNCTIONS), "output_shape": (None, "tuple", "callable"),
             "mask": (None, "first_feature_positive"), "arguments": (None, "scale"),
             "regime": ELEMENTWISE},
    make=_lambda_make, expect=_lambda_expect,
    divergences=(daz_mask_divergence(lambda case, x: reference.core.lambda_mask(
        x, mask=lambdas.resolve_lambda_config(case.config).get("mask"))),),
    inputs=lambda config, shapes, regime: [regime.values(s, huge=True) for s in shapes],
)


# Masking --------------------------------------------------------------------------------------

def _masking_inputs(config, shapes, regime):
    """Data of the regime in which some time steps equal mask_value in every feature (masked)
    and some in one feature only (not masked)."""
    x = regime.values(shapes[0])
    value = np.float32(config["mask_value"])
    steps = regime.rng.random(x.shape[:2])
    x[steps < 0.35] = value
    partly = (steps >= 0.35) & (steps < 0.5)
    x[..., 0][partly] = value
    return [x]


MASKING = LayerSpec(
    layer="Masking",
    domains={"mask_value": (0.0, 1.0, -2.5), "regime": ELEMENTWISE},
    make=lambda params, rng: ({"mask_value": params["mask_value"]},
                              [(_batch(rng), int(rng.integers(1, 7)), int(rng.integers(1, 4)))]),
    inputs=_masking_inputs,
    divergences=(daz_mask_divergence(lambda case, x: reference.masking_mask(x, **case.config)),),
    edge_cases=(({"mask_value": 0.0, "regime": "unit"}, [(2, 8, 1)]),  # masked iff it is 0
                ({"mask_value": 1.0, "regime": "unit"}, [(1, 1, 3)]),  # a single step
                ({"mask_value": -2.5, "regime": "unit"}, [(3, 12, 2)]),  # many masked steps
                ({"mask_value": 0.1, "regime": "unit"}, [(2, 6, 2)]),   # 0.1 is not a float32
                # masked steps of infinities: 0 in Keras 3, inf * 0 = NaN in tf_keras
                ({"mask_value": float("inf"), "regime": "unit"}, [(2, 6, 2)])),
    expect=lambda case: Expected(
        [reference.masking(case.inputs[0], **case.config, spec=case.spec)], [tolerance.exact()],
        mask=reference.masking_mask(case.inputs[0], **case.config, spec=case.spec)),
)


# Input ----------------------------------------------------------------------------------------

def _input_make(params, rng):
    """shape + batch_size, or the same as one batch_shape (batch axis included)."""
    shape = _dims(rng, params["rank"])
    data_shape = (_batch(rng) if params["batch_size"] is None else params["batch_size"], *shape)
    if params["form"] == "batch_shape":
        config = {"batch_shape": [params["batch_size"], *shape]}
    else:
        config = {"shape": list(shape), "batch_size": params["batch_size"]}
    return {**config, "dtype": params["dtype"], "name": params["name"]}, [data_shape]


def _input_inputs(config, shapes, regime):
    if config["dtype"] == "int32":
        return [regime.rng.integers(-100, 100, size=shapes[0]).astype(np.int32)]
    return [regime.values(shapes[0]).astype(config["dtype"])]


JAX_WITHOUT_X64 = Divergence(
    candidates=("keras-jax",),
    when=lambda case: case.params["dtype"] == "float64"
    and os.environ.get("JAX_ENABLE_X64", "0").lower() in ("0", "false", ""),
    reason="JAX truncates float64 to float32 unless jax_enable_x64 is set (JAX_ENABLE_X64=1)",
    evidence="https://docs.jax.dev/en/latest/default_dtypes.html; keras-team/keras#18482 "
             "(float64 is kept on every backend except JAX); jax-ml/jax#1333. With "
             "JAX_ENABLE_X64=1 the keras-jax Input returns float64")

INPUT = LayerSpec(
    divergences=(JAX_WITHOUT_X64,),
    layer="InputLayer",
    domains={"form": ("shape", "batch_shape"), "rank": (1, 2, 3), "batch_size": (None, 2),
             "dtype": ("float32", "float64", "int32"), "name": (None, "features"),
             "regime": DATA_MOVEMENT_REGIMES},
    valid=lambda p: p["dtype"] != "int32" or p["regime"] == "unit",
    make=_input_make, inputs=_input_inputs,
    rejects=(Reject({"shape": [3], "batch_shape": [None, 3], "dtype": "float32"}, ((2, 3),),
                    "shape and batch_shape together"),),
    expect=lambda case: Expected([reference.input_layer(case.inputs[0], **case.config)],
                                 [tolerance.exact()],
                                 dtypes=[dtype_name(case.config.get("dtype")) or "float32"]),
)
