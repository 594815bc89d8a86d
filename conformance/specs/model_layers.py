"""Specs of elementwise layers real models are made of: ReLU, Identity, Rescaling and
Normalization (its mean and variance in the config, or adapted: weights); Softmax and
LayerNormalization: model_reductions.py.

Each bounds a float32 engine's own evaluation of one element, plus what reading a subnormal
input as zero changes (advanced_activations.elementwise_bound)."""
import numpy as np

import reference
from conformance import tolerance
from conformance.regimes import ELEMENTWISE
from conformance.elements import error_ratio
from conformance.spec import Divergence, Expected, LayerSpec, Reject
from conformance.specs._engine_builtin import BUILTIN_RELU_MINIMUM
from conformance.specs._engine_conversion import (TFLITE_CONVERTED, rank3_nchw_bias_add,
                                                  reaches_the_converter)
from conformance.specs._engine_ops import (BUILTIN_CLAMPED_REPLAY, ONNXRUNTIME, differs,
                                           keras3_sum_on_onnx, onnx_select)
from conformance.specs.advanced_activations import elementwise_bound

DATA_MOVEMENT_REGIMES = ("unit", "tiny", "special")


def _shape(rng, rank, low=1, high=4):
    return (int(rng.integers(1, 4)), *(int(d) for d in rng.integers(low, high + 1, rank - 1)))


# ReLU -----------------------------------------------------------------------------------------

def _relu_threshold_as_product(case):
    """Keras 3's relu with a threshold keeps x as where(x > threshold, x, 0) (keras/src/
    activations/activations.py ReLU.static_call): as a product, NaN where x is NaN or -inf
    (0 * x), and max_value's Clip and the negative part's Sub keep that NaN."""
    y = np.asarray(case.expected[0], np.float64)
    if case.config.get("threshold", 0.0) == 0:
        return [y]
    x = np.asarray(case.inputs[0], np.float64)
    return [np.where(np.isnan(x) | np.isneginf(x), np.nan, y)]


ONNX_RELU_THRESHOLD_SELECT = onnx_select(_relu_threshold_as_product)


def _relu_make(params, rng):
    config = {k: params[k] for k in ("max_value", "negative_slope", "threshold")}
    return config, [_shape(rng, params["rank"])]


def _relu_expect(case):
    """The positive part is a select or a clip (exact); the negative part -a * fl(t - x)
    rounds twice, and an engine may multiply by the config's float64 slope (u more): 3 ulps
    of |y|."""
    y, bound = elementwise_bound(
        lambda x: reference.relu_layer(x, **case.config, spec=case.spec), case.inputs[0], 3)
    return Expected([y], [bound])


def _numpy_leaky_path_differs(case):
    """ReLU with a negative_slope, no max_value and threshold 0 is Keras's leaky_relu
    (keras/src/activations/activations.py ReLU.static_call), which Keras 3's NumPy backend
    computes as np.maximum(x, slope * x): min(x, slope * x) for a slope > 1."""
    config = case.config
    slope = config.get("negative_slope", 0.0)
    if not slope or config.get("max_value") is not None or config.get("threshold", 0.0) \
            or not case.expected:
        return False
    x = np.asarray(case.inputs[0], np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        got = np.maximum(x, np.float64(np.float32(slope)) * x)
    return bool(np.any(error_ratio(case.expected[0], case.bounds[0], got) > 1))


NUMPY_LEAKY_RELU = Divergence(
    candidates=("keras-numpy",), when=_numpy_leaky_path_differs,
    reason="Keras 3's NumPy backend computes leaky_relu as np.maximum(x, slope * x), which is "
           "min(x, slope * x) for a slope > 1; ReLU with a negative_slope and neither "
           "max_value nor threshold is that leaky_relu",
    evidence="keras/src/activations/activations.py ReLU.static_call (Keras 3.15.1) returns "
             "backend.nn.leaky_relu(x, negative_slope) when max_value is None and threshold "
             "is 0; keras/src/backend/numpy/nn.py lines 110-112: np.maximum(x, slope * x) (the "
             "LeakyReLU row of the known divergences). ReLU(negative_slope=1.5) on 281.39 "
             "gives 422.09 on keras-numpy (ReLU-004), 281.39 elsewhere")


RELU = LayerSpec(
    layer="ReLU",
    domains={"max_value": (None, 0.0, 1.0, 6.0), "negative_slope": (0.0, 0.1, 1.5),
             "threshold": (0.0, 1.0, 2.5), "rank": (2, 3), "regime": ELEMENTWISE},
    make=_relu_make, expect=_relu_expect, divergences=(NUMPY_LEAKY_RELU, BUILTIN_CLAMPED_REPLAY,
                                                        ONNX_RELU_THRESHOLD_SELECT,
                                                        BUILTIN_RELU_MINIMUM),
    # inputs N(0, 9), and up to 1e38 in the large regime: past every threshold and max_value;
    # the ties regime puts values on 0, 1, 2.5 and 3 (x == threshold gives 0, x == max_value m)
    inputs=lambda config, shapes, regime: [regime.values(s, scale=3.0, huge=True)
                                           for s in shapes],
    edge_cases=(({"max_value": 2.5, "negative_slope": 0.1, "threshold": 1.0, "rank": 2,
                  "regime": "special"}, [(2, 6)]),
                ({"max_value": None, "negative_slope": 0.0, "threshold": 2.5, "rank": 2,
                  "regime": "ties"}, [(3, 7)])),
    rejects=(Reject({"max_value": -1.0}, ((2, 3),), "max_value must be >= 0"),
             Reject({"negative_slope": -0.1}, ((2, 3),), "negative_slope must be >= 0"),
             Reject({"threshold": -1.0}, ((2, 3),), "threshold must be >= 0"),
             Reject({"threshold": None}, ((2, 3),), "threshold None")),
)


# Identity -------------------------------------------------------------------------------------

IDENTITY = LayerSpec(
    layer="Identity",
    domains={"rank": (2, 3, 4), "regime": DATA_MOVEMENT_REGIMES},
    make=lambda params, rng: ({}, [_shape(rng, params["rank"])]),
    expect=lambda case: Expected([reference.identity(case.inputs[0], **case.config,
                                                     spec=case.spec)], [tolerance.exact()]),
    edge_cases=(({"rank": 2, "regime": "unit"}, [(1, 1)]),),
)


# Rescaling ------------------------------------------------------------------------------------

PER_CHANNEL = "per_channel"       # a list of float32-inexact values, one per last-axis channel


def _rescaling_value(value, channels, rng, spread):
    if value != PER_CHANNEL:
        return value
    return [float(v) for v in np.round(rng.standard_normal(channels) * spread, 3)]


def _rescaling_make(params, rng):
    shape = _shape(rng, params["rank"])
    return {"scale": _rescaling_value(params["scale"], shape[-1], rng, 1.0),
            "offset": _rescaling_value(params["offset"], shape[-1], rng, 10.0)}, [shape]


def _rescaling_expect(case):
    """x * s rounds (u |x s|), and so does the sum (u |y|); an engine may take the config's
    float64 scale and offset, not their float32 (u |x s| + u |o| more)."""
    s = np.abs(np.asarray(case.config["scale"], np.float64))
    o = np.abs(np.asarray(case.config.get("offset", 0.0), np.float64))
    x = np.asarray(case.inputs[0], np.float64)
    y, bound = elementwise_bound(
        lambda v: reference.rescaling(v, **case.config, spec=case.spec), x, 1)
    with np.errstate(invalid="ignore", over="ignore"):
        extra = tolerance.unit() * (2 * np.abs(x) * s + o)
    return Expected([y], [bound + np.where(np.isfinite(extra), extra, 0.0)])


RESCALING = LayerSpec(
    layer="Rescaling",
    domains={"scale": (1 / 255, 1.0, -0.5, 2.0, PER_CHANNEL),
             "offset": (0.0, -1.0, 127.5, PER_CHANNEL), "rank": (2, 3, 4),
             "regime": ELEMENTWISE},
    make=_rescaling_make, expect=_rescaling_expect,
    inputs=lambda config, shapes, regime: [regime.values(s, huge=True) for s in shapes],
    divergences=(BUILTIN_CLAMPED_REPLAY,),
    rejects=(Reject({"scale": [1.0, 2.0]}, ((2, 3),), "a scale per channel of another length "
                    "than the input's last axis"),),
)


# Normalization --------------------------------------------------------------------------------

NORMALIZATION_AXES = (-1, None, 1, [1, 2], [-2, -1], [1, 3])


def _kept(axis, rank):
    listed = [] if axis is None else [axis] if isinstance(axis, int) else axis
    return sorted(a % rank for a in listed)


def _normalization_valid(params):
    """The axes in range and not the batch axis; statistics in the config of a shape that
    broadcasts (a scalar, one per kept position, or the last kept axis's); adapted statistics
    (weights) have the kept axes' shape exactly, "per_axis" (() for axis=None)."""
    axis, rank = params["axis"], params["rank"]
    listed = [] if axis is None else [axis] if isinstance(axis, int) else axis
    in_range = all(-rank < a < rank for a in listed) and all(a % rank for a in listed)
    if params["statistics"] == "weights":
        return in_range and params["stats"] == "per_axis"
    shaped = params["stats"] == "scalar" or (params["stats"] == "trailing"
                                             and len(listed) >= 2) or (
        params["stats"] == "per_axis" and listed)
    return in_range and shaped


def _statistics(regime, shape, rng):
    """mean N(0, 1) (in the offset regime +-1e2 to +-1e4, where the data lies); variance
    log-uniform over 1e-16 .. 1e4 with about a fifth 0 (sqrt below 1e-7: the epsilon takes
    over); float32."""
    mean = rng.standard_normal(shape)
    if regime == "offset":
        mean = np.where(rng.random(shape) < 0.5, -1, 1) * 10.0 ** rng.uniform(2, 4, shape)
    variance = np.where(rng.random(shape) < 0.2, 0.0, 10.0 ** rng.uniform(-16, 4, shape))
    return np.asarray(mean, np.float32), np.asarray(variance, np.float32)


def _normalization_make(params, rng):
    """The statistics (_statistics) in the config, of the "stats" shape; adapted ("weights"):
    mean and variance None in the config, drawn as weights by _normalization_arrays."""
    shape = _shape(rng, params["rank"])
    config = {"axis": params["axis"], "mean": None, "variance": None,
              "invert": params["invert"]}
    if params["statistics"] == "weights":
        return config, [shape]
    kept = [shape[a] for a in _kept(params["axis"], params["rank"])]
    stats = {"scalar": (), "per_axis": tuple(kept), "trailing": tuple(kept[-1:])}[params["stats"]]
    mean, variance = _statistics(params["regime"], stats, rng)
    as_config = (lambda a: float(a)) if not stats else (lambda a: a.tolist())
    return dict(config, mean=as_config(mean), variance=as_config(variance)), [shape]


def _normalization_weights(config, shapes):
    """An adapted layer's mean and variance (the kept axes' sizes) and count (); none when the
    config gives the statistics."""
    if config.get("mean") is not None:
        return []
    sizes = tuple(shapes[0][a] for a in _kept(config.get("axis", -1), len(shapes[0])))
    return [("mean", sizes), ("variance", sizes), ("count", ())]


def _normalization_inputs(config, shapes, regime, mean=None):
    """The regime's draws; in the offset regime the mean (the config's, or an adapted layer's
    first weight) plus N(0, 1), so that x - mean cancels. An adapted layer of a model
    (conformance/models.py draws its inputs from the config alone) gets the regime's own."""
    x = regime.values(shapes[0], huge=True)
    mean = config.get("mean") if mean is None else mean
    if regime.name == "offset" and mean is not None:
        rank = len(shapes[0])
        kept = _kept(config.get("axis", -1), rank)
        sizes = [shapes[0][a] for a in kept]
        view = [d if i in kept else 1 for i, d in enumerate(shapes[0])]
        mean = (np.asarray(mean, np.float64) * np.ones(sizes)).reshape(view)
        x = (mean + regime.rng.standard_normal(shapes[0])).astype(np.float32)
    return [x]


def _normalization_arrays(params, config, shapes, regime):
    """_normalization_inputs, after an adapted layer's weights: _statistics of the kept axes'
    sizes and a count (adapt()'s number of samples, not read by the call)."""
    if config.get("mean") is not None:
        return _normalization_inputs(config, shapes, regime), []
    sizes = _normalization_weights(config, shapes)[0][1]
    mean, variance = _statistics(regime.name, sizes, regime.rng)
    weights = [mean, variance, np.asarray(regime.rng.integers(1, 10 ** 6), np.int64)]
    return _normalization_inputs(config, shapes, regime, mean), weights


def _normalization_expect(case):
    """Not inverted: x - mean, sqrt, max and the division round once each (u |y|, sqrt one
    ulp more): 4 ulps of |y|. Inverted: mean + x * spread: sqrt and the product 2 ulps of
    |x * spread| (3: an engine's sqrt may be an ulp off), the sum u |y|."""
    config, x, weights = case.config, np.asarray(case.inputs[0], np.float64), case.weights

    def normalization(v, config=config, weights=weights):
        return reference.normalization(v, *weights, **config, spec=case.spec)

    if not config.get("invert", False):
        y, bound = elementwise_bound(normalization, x, 4)
        return Expected([y], [bound])
    y, bound = elementwise_bound(normalization, x, 1)
    with np.errstate(invalid="ignore", over="ignore"):
        product = np.abs(_inverted_terms(case)[1])
        extra = np.where(np.isfinite(product), 3 * tolerance.unit() * product, 0.0)
    return Expected([y], [bound + extra])


def _inverted_terms(case):
    """The two terms of an inverted Normalization as Keras 3 adds them (normalization.py call:
    add(mean, x * spread)): the mean in the layer's broadcast shape (the input's lengths on
    the kept axes, 1 elsewhere) and x * spread, in float64."""
    config, weights = case.config, case.weights
    x = np.asarray(case.inputs[0], np.float64)
    if config.get("mean") is None:         # adapted: the mean is the first weight
        zero_config, zero_weights = config, [np.zeros(np.shape(weights[0])), *weights[1:]]
    else:
        zero_config = dict(config, mean=np.zeros(np.shape(config["mean"])).tolist())
        zero_weights = weights
    kept = _kept(config.get("axis", -1), x.ndim)
    mean_shape = tuple(d if i in kept else 1 for i, d in enumerate(x.shape))
    with np.errstate(invalid="ignore", over="ignore"):
        mean = reference.normalization(np.zeros(mean_shape), *weights, **config, spec=case.spec)
        return mean, reference.normalization(x, *zero_weights, **zero_config, spec=case.spec)


def _inverted_bias_add(case):
    """The (mean, x * spread) shapes where Keras 3 on TensorFlow adds them as a BiasAdd."""
    if not case.config.get("invert") or not reaches_the_converter(case) or not case.expected:
        return None
    return tuple(np.shape(term) for term in _inverted_terms(case))


def _tflite_inverted_fails(case):
    shapes = _inverted_bias_add(case)
    return shapes is not None and rank3_nchw_bias_add(*shapes)


def _onnx_inverted_differs(case):
    """Beyond the bound, or of another shape: x * spread added along the last axis."""
    if case.spec != "keras3" or _inverted_bias_add(case) is None:
        return False
    with np.errstate(invalid="ignore", over="ignore"):
        try:
            return differs(case, [keras3_sum_on_onnx(list(_inverted_terms(case)))])
        except ValueError:          # no sum: onnxruntime refuses the model
            return True


INVERTED_AS_BIAS_ADD = ("Keras 3 on TensorFlow computes Normalization(invert=True) as add(mean, "
                        "x * spread) (keras/src/layers/preprocessing/normalization.py), and its "
                        "add() makes that tf.nn.bias_add(mean, squeeze(x * spread), "
                        "data_format='NCHW') where the input squeezes to one axis, the kept "
                        "axis 1 (a batch of one), and not to the last (the BiasAdd rows of "
                        "Add and Average): ")
TFLITE_INVERTED_NORMALIZATION = Divergence(
    candidates=TFLITE_CONVERTED, when=_tflite_inverted_fails,
    reason=INVERTED_AS_BIAS_ADD + "on a rank-3 input the TFLite converter cannot convert that "
           "BiasAdd ('tf.Transpose' op x should be of the same rank with y): an error",
    evidence="Normalization(axis=1, mean=-0.248, variance=1.2e-15, invert=True) on (1, 4, 1): "
             "\"conversion failed: ConverterError: 'tf.Transpose' op x should be of the same "
             "rank with y, got x of rank 3, and y of rank 4\" on litert and litert-builtin "
             "(TensorFlow 2.21's converter); tf.keras computes it right; on (1, 4, 1, 1) it "
             "converts and passes. Found by the live property test (a batch of one)")
ONNX_INVERTED_NORMALIZATION = Divergence(
    candidates=(ONNXRUNTIME,), when=_onnx_inverted_differs,
    reason=INVERTED_AS_BIAS_ADD + "tf2onnx writes that BiasAdd as an ONNX Add without moving "
           "the (not constant) bias to axis 1, so onnxruntime adds x * spread along the last "
           "axis: another shape where that axis is 1",
    evidence="tf2onnx 1.17 onnx_opset/nn.py BiasAdd.version_7 (an NCHW bias reshaped to "
             "[C, 1, ...] only if it is a Const); onnxruntime 1.32: Normalization(axis=1, "
             "mean=-2.03, variance=358.7, invert=True) on (1, 4, 1, 1) gives shape (1, 4, 1, 4) "
             "(Normalization-live-00007f52, found by the live property test), on (1, 4, 1) "
             "(1, 4, 4); tf.keras gives the input's shape")


NORMALIZATION = LayerSpec(
    layer="Normalization",
    domains={"axis": NORMALIZATION_AXES, "rank": (2, 3, 4),
             "stats": ("scalar", "per_axis", "trailing"), "statistics": ("config", "weights"),
             "invert": (False, True), "regime": ELEMENTWISE},
    valid=_normalization_valid, make=_normalization_make, weights=_normalization_weights,
    arrays=_normalization_arrays, inputs=_normalization_inputs, expect=_normalization_expect,
    divergences=(BUILTIN_CLAMPED_REPLAY, TFLITE_INVERTED_NORMALIZATION,
                 ONNX_INVERTED_NORMALIZATION),
    edge_cases=(({"axis": -1, "rank": 2, "stats": "per_axis", "statistics": "config",
                  "invert": False, "regime": "special"}, None),   # make's shape fits the mean
                # EfficientNet's: adapted, channels last, an image
                ({"axis": -1, "rank": 4, "stats": "per_axis", "statistics": "weights",
                  "invert": False, "regime": "unit"}, [(2, 5, 5, 3)])),
    rejects=(Reject({"axis": -1, "mean": [1.0, 2.0]}, ((2, 2),), "a mean without a variance"),
             Reject({"axis": -1, "mean": [1.0, 2.0], "variance": [1.0]}, ((2, 2),),
                    "Keras 3: mean and variance of different shapes", ("keras3",)),
             Reject({"axis": 3, "mean": 0.0, "variance": 1.0}, ((2, 3, 4),),
                    "axis out of range for the input's rank"),
             Reject({"axis": -1, "mean": [[1.0, 2.0]], "variance": [[1.0, 1.0]]}, ((2, 2),),
                    "Keras 3: a mean of higher rank than the number of kept axes",
                    ("keras3",))),
)
