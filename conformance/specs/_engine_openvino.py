"""Keras 3 on OpenVINO (keras-openvino): its known divergences beyond those _engines.py,
_engine_activations.py and _engine_ops.py replay (elu, selu, softplus, NaN through fused
activations, max pooling, Maximum, oneDNN's convolutions). Each comes from how Keras's OpenVINO
backend (keras/src/backend/openvino/, Keras 3.15.1) writes an op, or from how OpenVINO's CPU
plugin (openvino 2026.4.1, x86-64 with AVX-512) runs it, and each predicate replays that on
the case and covers it where the replay lands beyond the bound (error_ratio > 1), unless its
docstring says otherwise:

- the activations the backend composes of other ops (celu, log_sigmoid, mish, soft_shrink) and
  its Gelu, in the Activation and Dense layers;
- LayerNormalization's variance, E[x^2] - E[x]^2 in float32;
- Softmax over several axes, where a NaN logit meets OpenVINO's ReduceMax (which skips NaN)
  and its fused exp (which gives +inf for NaN);
- an average pooling whose output is empty, which OpenVINO's shape inference refuses.
"""
import numpy as np

from conformance.elements import error_ratio
from conformance.spec import Divergence
from conformance.specs._engines import (
    OPENVINO, REPLAY_RATIO, _exp_minus_one, _softplus_openvino, f32,
)
from reference.model_layers import layer_norm_axes, masked_logits

VERSIONS = "Keras 3.15.1 on openvino 2026.4.1"


def _beyond(expected, bound, value):
    """Whether `value` lands beyond the bound of some element of `expected`."""
    with np.errstate(invalid="ignore"):
        ratios = error_ratio(expected, bound, np.asarray(value, np.float64))
    return bool(np.any(ratios > REPLAY_RATIO))


# The activations ------------------------------------------------------------------------------

# Below this float32 x OpenVINO's Gelu (erf) gives -0; above it, up to x = -6, it is off by up
# to this relative error per eighth of a unit (the worst over every float32 of the interval)
GELU_ZERO_FROM = -8.3743896484375
GELU_REL_ERROR = ((-8.25, 1.0), (-8.125, 0.34), (-8.0, 0.12), (-7.875, 0.044),
                  (-7.75, 0.016), (-7.625, 6.0e-3), (-7.5, 2.3e-3), (-7.375, 8.7e-4),
                  (-7.25, 3.4e-4), (-7.125, 1.4e-4), (-7.0, 5.4e-5), (-6.875, 2.2e-5),
                  (-6.75, 9.0e-6), (-6.625, 3.8e-6), (-6.5, 1.7e-6), (-6.375, 7.4e-7),
                  (-6.25, 3.5e-7), (-6.125, 1.8e-7), (-6.0, 1.1e-7))


def _gelu_slack(z, y):
    """How far OpenVINO's Gelu may land from y = gelu(z) where it is not replayed: the
    measured relative error of z's interval times |y|."""
    slack = np.zeros(np.shape(z))
    lower = GELU_ZERO_FROM
    for upper, relative in GELU_REL_ERROR:
        inside = (z > lower) & (z < upper)
        slack = np.where(inside, relative * np.abs(y), slack)
        lower = upper
    return slack


def _mish(z, shift):
    """x * tanh(softplus(x)) as Keras writes it, softplus being OpenVINO's log(1 + exp(x))."""
    x = f32(z)
    with np.errstate(invalid="ignore", over="ignore"):
        return (x * np.tanh(f32(_softplus_openvino(z, shift)))).astype(np.float64)


def _replay(name, z, y, shift):
    """OpenVINO's value of activation `name` at z (y: the reference's), or None."""
    z = np.asarray(z, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        if name == "celu":          # max(x, 0) + min(exp(x) - 1, 0) for alpha 1
            return _exp_minus_one(z, 1.0, 1.0, OPENVINO, shift)
        if name == "log_sigmoid":   # -softplus(-x)
            return -_softplus_openvino(-z, shift)
        if name == "mish":
            return _mish(z, shift)
        if name == "soft_shrink":   # sign(x) * max(|x| - 0.5, 0): NaN stays NaN
            return np.where(np.isnan(z), np.nan, y)
        if name == "gelu":
            return np.where(np.isfinite(z) & (f32(z) <= np.float32(GELU_ZERO_FROM)), 0.0, y)
    return None


ACTIVATION_NAMES = ("celu", "log_sigmoid", "mish", "soft_shrink", "gelu")


def _activation_off(logits_of):
    def when(case):
        name = case.config.get("activation")
        if name not in ACTIVATION_NAMES or not case.expected:
            return False
        z = np.asarray(logits_of(case), np.float64)
        y, bound = case.expected[0], case.bounds[0]
        if np.shape(z) != np.shape(y):
            return False
        off = [_beyond(y, bound, _replay(name, z, y, shift)) for shift in (-1, 0, 1)]
        if all(off):
            return True
        if name == "gelu":
            bound = np.broadcast_to(np.asarray(bound, np.float64), np.shape(y))
            return bool(np.any(_gelu_slack(z, np.asarray(y, np.float64)) > bound))
        return False
    return when


def activation_divergence(logits_of):
    """The divergence of the activations Keras's OpenVINO backend composes, for the Activation
    and Dense layers (logits_of(case): the activation's input)."""
    return Divergence(
        candidates=(OPENVINO,), when=_activation_off(logits_of),
        reason="Keras's OpenVINO backend composes some activations of ops whose float32 "
               "rounding cancels: celu as max(x, 0) + min(exp(x) - 1, 0) (0 for x near 0), "
               "log_sigmoid as -softplus(-x) and mish as x * tanh(softplus(x)) with "
               "softplus as log(1 + exp(x)) (log_sigmoid -0 above x = 16.6, mish -0 below "
               "-16.6, few digits where exp is small), soft_shrink as sign(x) * max(|x| - "
               "0.5, 0) (NaN for NaN where "
               "Keras's where gives 0); OpenVINO's Gelu gives -0 below x = -8.374 and loses "
               "digits from x = -6",
        evidence="keras/src/backend/openvino/nn.py (Keras 3.15.1) celu lines 26-40, "
                 "soft_shrink lines 63-73, log_sigmoid lines 102-107, gelu lines 156-161; "
                 "mish is keras/src/activations/activations.py Mish.static_call, x * "
                 "tanh(softplus(x)). " + VERSIONS + ", Activation layer on 200001 points of "
                 "[-100, 100]: celu(-0.001) = -0.00099951 (exact -0.0009995, 86 ulps), "
                 "log_sigmoid(65.85) = -0 (exact -2.5e-29), mish(-16.68) = -0 (exact "
                 "-9.5e-7), each equal within 3 ulps to the formula in float32 with "
                 "OpenVINO's softplus; soft_shrink(NaN) = NaN; gelu on every float32 of "
                 "[-9, -4]: -0 from -8.3743896 (exact there -2.2e-16), relative error 0.044 "
                 "at -7.9, 5.4e-5 at -7.0, below 1.1e-7 from -6. Fixture cases: "
                 "Activation-069 and -157 (celu), -027 and -077 (log_sigmoid), -014 and -057 "
                 "(mish), -172 (soft_shrink), Dense-077 (gelu of -11.5: -0 for -6.3e-30), "
                 "Dense-085, Dense-181")


# LayerNormalization ---------------------------------------------------------------------------

def _layer_norm_one_pass(case):
    """Keras's _layer_normalization on OpenVINO in float32: mean and E[x^2] by ReduceMean,
    variance E[x^2] - mean^2 (moments; numpy.var alike for rms_scaling), then x * inv +
    (beta - mean * inv) with inv = gamma / sqrt(variance + epsilon), or x * inv * gamma."""
    config = case.config
    x = f32(case.inputs[0])
    axes, _ = layer_norm_axes(config.get("axis", -1), x.ndim, case.spec)
    axes = tuple(sorted(axes))
    rms = config.get("rms_scaling", False)
    names = (["gamma"] * bool(config.get("scale", True) or rms)
             + ["beta"] * bool(config.get("center", True) and not rms))
    view = tuple(d if i in axes else 1 for i, d in enumerate(x.shape))
    named = {n: f32(w).reshape(view) for n, w in zip(names, case.weights)}
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        mean = np.mean(x, axis=axes, keepdims=True, dtype=np.float32)
        square = np.mean(x * x, axis=axes, keepdims=True, dtype=np.float32)
        variance = square - mean * mean
        inv = np.float32(1) / np.sqrt(variance + np.float32(config.get("epsilon", 1e-3)))
        if rms:
            y = x * inv
            return y * named["gamma"] if "gamma" in named else y
        if "gamma" in named:
            inv = inv * named["gamma"]
        shift = -mean * inv + named["beta"] if "beta" in named else -mean * inv
        return x * inv + shift


LAYER_NORM_ONE_PASS = Divergence(
    candidates=(OPENVINO,),
    when=lambda case: bool(case.expected) and _beyond(case.expected[0], case.bounds[0],
                                                      _layer_norm_one_pass(case)),
    reason="Keras 3 on OpenVINO computes LayerNormalization's variance in one pass, E[x^2] - "
           "E[x]^2 in float32 (rms_scaling's numpy.var too), which cancels where a group's "
           "mean is large against its spread (offset regime)",
    evidence="keras/src/backend/openvino/nn.py moments lines 1008-1021 and numpy.py var lines "
             "5121-5132 (Keras 3.15.1: 'It is faster but less numerically stable'), reached "
             "from keras/src/ops/nn.py _layer_normalization. " + VERSIONS + ": "
             "LayerNormalization-034 (axis [1, 2], offset) gives -13.01 where the reference "
             "gives 0.103, -012 (rms_scaling) 47512 for 3677.7; the float32 replay gives "
             "the engine's error ratio to 4 digits on -004, -016, -029, -034 and -037")


# Softmax over several axes --------------------------------------------------------------------

def _softmax_axes_replay(case):
    """Keras's Softmax over several axes, exp(x - logsumexp(x)), as OpenVINO runs it: the
    masked logits set to -1e9; ReduceMax skips NaN; logsumexp's max m is replaced by 0 when
    not finite; the Select, Subtract and Exp are fused into one kernel whose exp gives +inf
    for NaN (so does the outer exp); masked positions then 0."""
    axes = tuple(sorted(a % np.ndim(case.inputs[0]) for a in case.config["axis"]))
    x = np.asarray(case.inputs[0], np.float64)
    mask = case.call_kwargs.get("mask")
    if mask is not None:
        x = masked_logits(x, mask)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        def exp(v):
            return np.where(np.isnan(v), np.inf, np.exp(v))
        finite = np.where(np.isnan(x), -np.inf, x)
        m = np.max(finite, axis=axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        lse = np.log(np.sum(exp(x - m), axis=axes, keepdims=True)) + m
        y = exp(x - lse)
    return y if mask is None else np.where(np.broadcast_to(mask, y.shape), y, 0.0)


def _softmax_axes_nan(case):
    """Several axes and a NaN or infinite logit (elsewhere the replay is IEEE's)."""
    axis = case.config.get("axis")
    if not (isinstance(axis, list) and len(axis) > 1) or not case.expected:
        return False
    if np.isfinite(case.inputs[0]).all():
        return False
    return _beyond(case.expected[0], case.bounds[0], _softmax_axes_replay(case))


SOFTMAX_AXES_NAN = Divergence(
    candidates=(OPENVINO,), when=_softmax_axes_nan,
    reason="Softmax over several axes is Keras's exp(x - logsumexp(x)); on OpenVINO "
           "logsumexp's ReduceMax skips NaN and its fused exp gives +inf for NaN, so a "
           "group holding NaN or +inf gives +inf there and 0 elsewhere, where IEEE "
           "arithmetic gives NaN across the group",
    evidence="keras/src/layers/activations/softmax.py call and keras/src/backend/openvino/"
             "math.py logsumexp lines 202-224 (Keras 3.15.1). " + VERSIONS + ": "
             "max([nan, 1, -1e9]) = 1; exp(x - where(isfinite(m), m, 0)) on x = [nan, "
             "-1e9, -inf, -1e9], m = -1e9 gives [inf, 1, 0, 1] (exp(x - max(x)) alone "
             "keeps NaN); Softmax(axis=[1, 2]) on [[nan, inf], [-inf, -0.626]] with mask "
             "[[True, False]] gives [[inf, 0], [0, 0]], the reference [[nan, 0], [nan, 0]] "
             "(Softmax-030); unmasked, [[inf, 1], [2, 3]] and [[nan, 1], [2, 3]] give [[inf, "
             "0], [0, 0]], and the replay gives OpenVINO's answer on these and on a group of "
             "NaN only (+inf throughout)")


# Average pooling with an empty output ---------------------------------------------------------

EMPTY_POOL = Divergence(
    candidates=(OPENVINO,),
    when=lambda case: any(0 in np.shape(e) for e in case.expected or []),
    reason="OpenVINO's pooling shape inference refuses a window longer than the padded input "
           "('valid', pool longer than the input), where Keras on TensorFlow and JAX return "
           "an empty output",
    evidence="openvino src/core/shape_inference/include/pooling_shape_inference_util.hpp "
             "(valid_dilated_kernel_with_dim): 'Kernel after dilation has size (dim: 5) "
             "larger than the data shape after padding'; " + VERSIONS + ": "
             "AveragePooling1D-035 (pool 5 on 3 steps), AveragePooling2D-042, "
             "AveragePooling3D-025 and their round trips raise it. The Pooling op's "
             "specification (docs.openvino.ai, pooling shape rules) states no such limit")
