"""Specs of the core layers: Dense, Activation, Dropout, Flatten, Reshape, Permute,
RepeatVector and Masking (Lambda and Input: lambda_input.py)."""
import itertools
import math

import numpy as np

import reference
from conformance import tolerance
from conformance.regimes import ELEMENTWISE, LONG_TERMS, REGIMES
from conformance.spec import Expected, LayerSpec, Reject
from conformance.specs._common import (
    daz_mask_divergence, exact_expect, linear_part, linear_then_activation,
    tf_activation_divergences,
    through_activation,
)
from conformance.specs._activation_bounds import activation_divergences
from conformance.specs._engine_float32 import ORT_DENSE_FLOAT32
from conformance.specs._engine_openvino import activation_divergence as openvino_activations
from conformance.specs._engine_ops import converter_constants, onnx_select
from reference.activations import KERAS2_NAMES, KERAS3_NAMES, NAMES

ACTIVATIONS = (None, *NAMES)
# Activation's and Dense's domain: every name Keras 3's activations.get knows, but glu (which
# halves the last axis where Activation's and Dense's compute_output_shape keep it: edge cases
# only, see below) and threshold (no defaults: Keras raises at the call, a Reject)
ALL_ACTIVATIONS = (None, *(n for n in KERAS3_NAMES if n not in ("glu", "threshold")))
# tf_keras knows only KERAS2_NAMES
ONLY_KERAS3 = tuple(("activation", n, ("keras3",)) for n in ALL_ACTIVATIONS[1:]
                    if n not in KERAS2_NAMES)
ALIASES = ("swish", "hard_swish")         # silu's and hard_silu's other names
# The regimes that show something of each further activation: its value (unit), saturation and
# overflow (large), cancellation near 0 (small), flushed subnormals (tiny), NaN and inf
# (special); the kinks at 0, +-1 and +-3 (ties) where it has some; an alias: unit and special
KINKED = frozenset({"relu6", "leaky_relu", "hard_silu", "hard_tanh", "hard_shrink",
                    "soft_shrink", "sparse_plus", "sparse_sigmoid", "sparsemax"})


def further_regime(name, regime):
    """Whether a further activation (not in NAMES) takes `regime` in Activation and Dense."""
    if name in ALIASES:
        return regime in ("unit", "special")
    return regime in ("unit", "large", "small", "tiny", "special") or (
        regime == "ties" and name in KINKED)
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
    name = params["activation"]
    if name not in ACTIVATIONS and not further_regime(name, params["regime"]):
        return False
    return params["regime"] != "long" or (
        params["rank"] == 2 and params["units"] <= 3
        and name in (None, "linear", "tanh", "softmax"))


def _dense_weights(config, shapes):
    units = config["units"]
    use_bias = config.get("use_bias", True)
    return [("kernel", (shapes[0][-1], units))] + ([("bias", (units,))] if use_bias else [])


def _dense_expect(case):
    x, = case.inputs
    y, bound, overflow = linear_then_activation(reference.dense, x, case.weights, case.config,
                                                terms=x.shape[-1] + len(case.weights) - 1,
                                                keras_spec=case.spec)
    return Expected([y], [bound], overflow=[overflow])


DENSE = LayerSpec(
    layer="Dense",
    domains={"units": (1, 3, 8), "activation": ALL_ACTIVATIONS, "use_bias": (True, False),
             "rank": (2, 3, 4, 5), "regime": REGIMES},
    spec_values=ONLY_KERAS3,
    valid=_dense_valid, divergences=(*tf_activation_divergences(linear_part(reference.dense)),
                                     *activation_divergences(linear_part(reference.dense)),
                                     openvino_activations(linear_part(reference.dense)),
                                     ORT_DENSE_FLOAT32),
    make=_dense_make, weights=_dense_weights, expect=_dense_expect,
    edge_cases=(({"units": 64, "activation": None, "use_bias": True, "rank": 2,
                  "regime": "unit"}, [(2, 256)]),
                ({"units": 8, "activation": "softmax", "use_bias": True, "rank": 5,
                  "regime": "unit"}, [(1, 1, 1, 2, 33)]),
                ({"units": 1, "activation": None, "use_bias": False, "rank": 2,
                  "regime": "long"}, [(1, 4096)]),                    # one long dot product
                ({"units": 3, "activation": "exponential", "use_bias": True, "rank": 2,
                  "regime": "large"}, [(1, 1)]),                      # one input feature
                # glu: units / 2 outputs (Keras declares units: not drawn by the oracle tests)
                ({"units": 8, "activation": "glu", "use_bias": True, "rank": 2,
                  "regime": "unit"}, [(3, 5)], ("keras3",)),
                ({"units": 2, "activation": "glu", "use_bias": False, "rank": 3,
                  "regime": "special"}, [(4, 2, 3)], ("keras3",))),
    rejects=(Reject({"units": 0}, ((2, 3),), "units must be positive", ("keras3",)),
             Reject({"units": 2, "activation": "no_such_activation"}, ((2, 3),),
                    "unknown activation name"),
             Reject({"units": 3, "activation": "glu"}, ((2, 3),),
                    "glu halves an axis of odd length", ("keras3",)),
             Reject({"units": 2, "activation": "celu"}, ((2, 3),),
                    "tf_keras does not know celu", ("keras2",))),
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


def _activation_valid(params):
    """Long rows only for the sums (softmax, log_softmax); the further activations in their
    regimes (further_regime)."""
    name, regime = params["activation"], params["regime"]
    if regime == "long":
        return name in ("softmax", "log_softmax")
    return name in ACTIVATIONS or further_regime(name, regime)


ACTIVATION = LayerSpec(
    layer="Activation",
    domains={"activation": ALL_ACTIVATIONS, "rank": (2, 3, 4), "regime": REGIMES},
    spec_values=ONLY_KERAS3, valid=_activation_valid,
    make=_activation_make, inputs=_activation_inputs, expect=_activation_expect,
    divergences=(*tf_activation_divergences(lambda case: case.inputs[0], clamped_on=()),
                 *activation_divergences(lambda case: case.inputs[0]),
                 openvino_activations(lambda case: case.inputs[0])),
    edge_cases=(({"activation": "softmax", "rank": 2, "regime": "special"}, [(1, 1)]),
                ({"activation": "softmax", "rank": 2, "regime": "long"}, [(1, 4096)]),
                # rows of large logits, some 50 or more below their row's max: where a
                # softmax that drops a very negative logit (or skips the max shift) shows
                ({"activation": "softmax", "rank": 2, "regime": "large"}, [(3, 5)]),
                # glu halves the last axis; Keras's compute_output_shape keeps it, which the
                # oracle tests check, so glu is drawn here only (its values are vouched for)
                *(({"activation": "glu", "rank": rank, "regime": regime}, [shape], ("keras3",))
                  for rank, regime, shape in ((2, "unit", (3, 6)), (3, "large", (2, 2, 4)),
                                              (2, "special", (4, 8)), (4, "small", (2, 1, 2, 2))))),
    rejects=(Reject({"activation": "no_such_activation"}, ((2, 3),), "unknown activation name"),
             Reject({"activation": "glu"}, ((2, 3),), "glu halves an axis of odd length",
                    ("keras3",)),
             Reject({"activation": "threshold"}, ((2, 3),), "threshold has no default "
                    "threshold and default_value: Keras raises at the call", ("keras3",)),
             Reject({"activation": "keras_hub>gelu_approximate"}, ((2, 3),),
                    "Keras 3 reads an activation string in its own table only",
                    ("keras3",)),
             Reject({"activation": "sparsemax"}, ((2, 3),), "tf_keras does not know "
                    "sparsemax", ("keras2",))),
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



def _masking_expect(case):
    return Expected([reference.masking(case.inputs[0], **case.config, spec=case.spec)],
                    [tolerance.exact()],
                    mask=reference.masking_mask(case.inputs[0], **case.config, spec=case.spec))


# The deploy engines: LiteRT's converter writes mask_value=inf as FLT_MAX; tf2onnx writes Keras
# 3's where(mask, x, 0) as a product, tf_keras's mask multiplication (the keras2 branch)
MASKING_ENGINES = (converter_constants(_masking_expect), onnx_select(lambda case: [
    reference.masking(case.inputs[0], **case.config, spec="keras2")]))

MASKING = LayerSpec(
    layer="Masking",
    domains={"mask_value": (0.0, 1.0, -2.5), "regime": ELEMENTWISE},
    make=lambda params, rng: ({"mask_value": params["mask_value"]},
                              [(_batch(rng), int(rng.integers(1, 7)), int(rng.integers(1, 4)))]),
    inputs=_masking_inputs,
    divergences=(daz_mask_divergence(lambda case, x: reference.masking_mask(x, **case.config)),
                 *MASKING_ENGINES),
    edge_cases=(({"mask_value": 0.0, "regime": "unit"}, [(2, 8, 1)]),  # masked iff it is 0
                ({"mask_value": 1.0, "regime": "unit"}, [(1, 1, 3)]),  # a single step
                ({"mask_value": -2.5, "regime": "unit"}, [(3, 12, 2)]),  # many masked steps
                ({"mask_value": 0.1, "regime": "unit"}, [(2, 6, 2)]),   # 0.1 is not a float32
                # masked steps of infinities: 0 in Keras 3, inf * 0 = NaN in tf_keras
                ({"mask_value": float("inf"), "regime": "unit"}, [(2, 6, 2)])),
    expect=_masking_expect,
)
