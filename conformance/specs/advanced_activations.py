"""Specs of the advanced activation layers: LeakyReLU, PReLU, ELU and ThresholdedReLU (Keras 2
only). Each layer is elementwise, so a float32 engine's error is its own evaluation of one
element (a product, or an exp), plus what reading a subnormal input as zero changes (TensorFlow
and XLA on CPU do: `flushed`)."""
import numpy as np

import reference
from conformance import tolerance
from conformance.elements import error_ratio
from conformance.regimes import ELEMENTWISE
from conformance.spec import Divergence, Expected, LayerSpec, Reject
from conformance.specs._common import ACTIVATION_ULPS, flushed, tf_exp_minus_one_divergence
from conformance.specs._engine_ops import ONNX_ELU_SELECT
from conformance.specs._engine_activations import elu_layer_divergence
from reference.advanced_activations import LEAKY_RELU_DEFAULT, prelu_alpha_shape


def _shape(rng, rank):
    return (int(rng.integers(1, 4)), *(int(d) for d in rng.integers(1, 5, size=rank - 1)))


def _inputs(config, shapes, regime):
    """The regime's draws; the large regime adds magnitudes up to 1e38 (a slope > 1 overflows)."""
    return [regime.values(s, huge=True) for s in shapes]


def _quiet():
    return np.errstate(over="ignore", invalid="ignore", under="ignore")


def elementwise_bound(f, x, ulps, scale=0.0):
    """(f(x), bound) for an elementwise f whose float32 evaluation rounds within
    ulps * u * (|f(x)| + scale), read by an engine that may take a subnormal input as 0:
    that adds |f(x) - f(flushed(x))| (an infinite or NaN f(x) is exact: its bound is unused)."""
    x = np.asarray(x, np.float64)
    with _quiet():
        y = f(x)
        daz = np.abs(f(flushed(x)) - y)
    daz = np.where(np.isfinite(daz), daz, 0.0)
    return y, ulps * tolerance.unit() * (np.abs(y) + scale) + daz


def _visibly_differs(expected, bound, got):
    """Whether `got` fails the comparison somewhere (conformance/compare.py's rules)."""
    return bool(np.any(error_ratio(expected, bound, got) > 1))


# LeakyReLU ------------------------------------------------------------------------------------

def _leaky_make(params, rng):
    config = {} if params["slope"] is None else {params["name"]: params["slope"]}
    return config, [_shape(rng, params["rank"])]


def leaky_slope(config):
    """The float32 slope a LeakyReLU config means (alpha wins over negative_slope, as in
    Keras 3; both default to 0.3)."""
    slope = config.get("alpha", config.get("negative_slope", LEAKY_RELU_DEFAULT))
    return float(np.float32(slope))


def _leaky_expect(case):
    """One product per element, u * |y|, and as much again for the slope: an engine may
    multiply by the config's float64 slope (0.2 is no float32) rather than its float32."""
    y, bound = elementwise_bound(
        lambda x: reference.leaky_relu(x, **case.config, spec=case.spec), case.inputs[0], 2)
    return Expected([y], [bound])


def _numpy_backend_leaky_relu_differs(case):
    """Keras 3's NumPy backend computes np.maximum(x, slope * x): right only for slopes in
    [0, 1] on finite inputs; it differs where the reference's bound shows it."""
    x = np.asarray(case.inputs[0], np.float64)
    expected = _leaky_expect(case)
    with _quiet():
        got = np.maximum(x, leaky_slope(case.config) * x)
    return _visibly_differs(expected.outputs[0], expected.bounds[0], got)


LEAKY_RELU = LayerSpec(
    layer="LeakyReLU",
    domains={"slope": (None, 0.0, 0.2, 1.0, 2.5, -0.5), "name": ("negative_slope", "alpha"),
             "rank": (2, 3, 4), "regime": ELEMENTWISE},
    spec_values=(("slope", -0.5, ("keras2",)), ("name", "negative_slope", ("keras3",))),
    make=_leaky_make, inputs=_inputs, expect=_leaky_expect,
    # slope 0 at -inf: NaN in Keras 3 (0 * -inf), 0 in tf_keras (relu)
    edge_cases=(({"slope": 0.0, "name": "alpha", "rank": 2, "regime": "special"}, [(1, 7)]),),
    divergences=(Divergence(
        candidates=("keras-numpy",), when=_numpy_backend_leaky_relu_differs,
        reason="Keras 3's NumPy backend computes leaky_relu as np.maximum(x, slope * x), which "
               "is min(x, slope * x) for a slope > 1 and NaN at +inf for slope 0",
        evidence="keras/src/backend/numpy/nn.py lines 110-112 (Keras 3.15.1): `return "
                 "np.maximum(x, np.array(negative_slope, x.dtype) * x)`. "
                 "LeakyReLU(negative_slope=2.5) on [-2, 3] gives [-2, 7.5] on keras-numpy and "
                 "[-5, 3] on tf.keras, keras-jax and keras-torch; negative_slope=0 on +inf gives "
                 "NaN (max(inf, 0 * inf)) where the others give inf"),),
    rejects=(Reject({"negative_slope": -0.5}, ((2, 3),), "Keras 3 refuses a negative slope",
                    ("keras3",)),
             Reject({"alpha": -0.5}, ((2, 3),), "Keras 3 refuses a negative slope under the "
                    "Keras 2 name too", ("keras3",)),
             Reject({"alpha": None}, ((2, 3),), "a slope of None"),
             Reject({"negative_slope": 0.5}, ((2, 3),), "tf_keras has no negative_slope "
                    "(TypeError 'Keyword argument not understood')", ("keras2",))),
)


# PReLU ----------------------------------------------------------------------------------------

SHARED_AXES = (None, [], 1, [1], [2], [3], [1, 2], [1, 3], [2, 3], [1, 2, 3])


def _axes(shared_axes):
    if shared_axes is None:
        return []
    return list(shared_axes) if isinstance(shared_axes, list) else [shared_axes]


def _prelu_make(params, rng):
    return {"shared_axes": params["shared_axes"]}, [_shape(rng, params["rank"])]


def _prelu_weights(config, shapes):
    return [("alpha", prelu_alpha_shape(shapes[0], config.get("shared_axes")))]


def _prelu_arrays(params, config, shapes, regime):
    """Inputs of the regime; alpha N(0, 1) with about a sixth of it 0 (0 * -inf is NaN) and a
    sixth large (1e1 to 1e3, either sign: with huge inputs the product overflows)."""
    x = _inputs(config, shapes, regime)
    (_, shape), = _prelu_weights(config, shapes)
    rng = regime.rng
    alpha = rng.standard_normal(shape)
    kind = rng.random(shape)
    alpha[kind < 1 / 6] = 0.0
    large = kind > 5 / 6
    alpha[large] = np.sign(alpha[large]) * 10.0 ** rng.uniform(1, 3, int(large.sum()))
    return x, [alpha.astype(np.float32)]


def _prelu_expect(case):
    """One product per element (x < 0: alpha * x; x > 0: x - alpha * 0, exact)."""
    x, = case.inputs
    prelu_alpha_shape(np.shape(x), case.config.get("shared_axes"))   # refuses what Keras does
    y, bound = elementwise_bound(
        lambda v: reference.prelu(v, *case.weights, **case.config, spec=case.spec), x, 1)
    return Expected([y], [bound])


PRELU = LayerSpec(
    layer="PReLU",
    domains={"rank": (2, 3, 4), "shared_axes": SHARED_AXES, "regime": ELEMENTWISE},
    valid=lambda p: all(a < p["rank"] for a in _axes(p["shared_axes"])),
    make=_prelu_make, weights=_prelu_weights, arrays=_prelu_arrays, expect=_prelu_expect,
    edge_cases=(({"rank": 4, "shared_axes": [1, 2, 3], "regime": "special"}, [(3, 1, 1, 1)]),
                ({"rank": 3, "shared_axes": [1], "regime": "unit"}, [(1, 7, 1)])),
    rejects=(Reject({"shared_axes": [3]}, ((2, 3, 4),), "shared axis 3 of a rank-3 input "
                    "(IndexError in Keras's build)"),),
)


# ELU ------------------------------------------------------------------------------------------

def _elu_inputs(config, shapes, regime):
    """The regime's draws; in the unit regime a quarter of the values are negatives near 0
    (-2^-30 to -2^-10), where exp(x) - 1 cancels (TensorFlow's kernel) and expm1 does not."""
    x = _inputs(config, shapes, regime)[0]
    if regime.name == "unit":
        near = regime.rng.random(x.shape) < 0.25
        x[near] = -(2.0 ** -regime.rng.uniform(10, 30, int(near.sum())))
    return [x]


def _elu_expect(case):
    """alpha * expm1(x) for x < 0: within 8 ulps of |y| (ACTIVATION_ULPS's elu; relative,
    so exp(x) - 1 evaluated as written fails near 0: TensorFlow's kernel, a known divergence),
    plus TensorFlow's flushed exp near the smallest normal (tolerance.EXP_FLUSH)."""
    def f(x):
        return reference.elu(x, **case.config, spec=case.spec)
    f(np.zeros(1))                                                  # refuses what Keras does
    y, bound = elementwise_bound(f, case.inputs[0], *ACTIVATION_ULPS["elu"])
    return Expected([y], [bound + tolerance.exp_flush()])


ELU = LayerSpec(
    layer="ELU",
    domains={"alpha": (None, 0.0, 0.5, 1.0, 2.5, -1.0), "rank": (2, 3, 4),
             "regime": ELEMENTWISE},
    make=lambda params, rng: ({} if params["alpha"] is None else {"alpha": params["alpha"]},
                              [_shape(rng, params["rank"])]),
    inputs=_elu_inputs, expect=_elu_expect,
    divergences=(tf_exp_minus_one_divergence(
        lambda case: case.inputs[0],
        lambda case: ("elu", float(np.float32(case.config.get("alpha", 1.0))))),
                 ONNX_ELU_SELECT, elu_layer_divergence()),
    rejects=(Reject({"alpha": None}, ((2, 3),), "alpha None (tf_keras in the constructor, "
                    "Keras 3 at the call)"),),
)


# ThresholdedReLU (Keras 2) --------------------------------------------------------------------

def _thresholded_inputs(config, shapes, regime):
    """The regime's draws; in the ties regime a third of the values are theta itself (as the
    float32 tf_keras compares with), where x > theta is false."""
    x = _inputs(config, shapes, regime)[0]
    if regime.name == "ties":
        x[regime.rng.random(x.shape) < 1 / 3] = np.float32(config.get("theta", 1.0))
    return [x]


THRESHOLDED_RELU = LayerSpec(
    layer="ThresholdedReLU", keras_specs=("keras2",),
    domains={"theta": (None, 0.0, 0.1, 1.0, 2.5), "rank": (2, 3, 4), "regime": ELEMENTWISE},
    make=lambda params, rng: ({} if params["theta"] is None else {"theta": params["theta"]},
                              [_shape(rng, params["rank"])]),
    inputs=_thresholded_inputs,
    # x times 0 or 1: exact (a subnormal x > 0 read as 0 gives 0, which counts as x)
    expect=lambda case: Expected(
        [reference.thresholded_relu(case.inputs[0], **case.config, spec=case.spec)],
        [tolerance.exact()]),
    rejects=(Reject({"theta": -1.0}, ((2, 3),), "theta must be >= 0", ("keras2",)),
             Reject({"theta": None}, ((2, 3),), "theta None", ("keras2",))),
)
