"""What the deploy engines (README, "Deploy engines") compute for a layer's activation where
they part from IEEE float32 arithmetic and from the reference, replayed in NumPy for their
known divergences: the activations as their kernels or converted graphs evaluate them (on
LiteRT also the further activations the converter composes of EXP, LOG and LOGISTIC: celu,
log_sigmoid, mish, silu, glu, and XNNPACK's GELU), with
TFLite's builtin kernels' clamp to float32's finite range before them; inside a recurrence,
the spec's own Bounded run replayed with the engine's activations (_engine_runs.py). The
engines' other divergences (pooling, merges, constants, tf2onnx's select) are _engine_ops.py's,
and _engine_activations.py builds the activations' Divergences from these replays.

Each replay was measured on the engine (tensorflow 2.21 converter, ai-edge-litert 2.3.0,
tf2onnx 1.17 with onnxruntime 1.32, openvino 2026.4.1 under Keras 3.15.1, x86-64 CPU); the
evidence strings say where and with which numbers. A replay gives the engine's value where it
is a formula (log(exp(z) + 1) in float32), and an allowance where it is an approximation whose
error the suite cannot replay without the engine's own coefficients (onnxruntime's sigmoid).
"""

import numpy as np

from conformance.elements import error_ratio
from conformance.specs._engine_float32 import xnnpack_log
from conformance.specs._engine_onnx import (
    ORT_SIGMOID_TIMES_X, onnxruntime_activation, ort_sigmoid, ort_sigmoid_slack,
)
from conformance.specs._onednn_soft_relu import soft_relu_onednn
from conformance.tolerance import overflow_threshold
from reference.activations import SELU_ALPHA, SELU_SCALE, activation as reference_activation

FLT_MAX = float(np.finfo(np.float32).max)

# The LiteRT interpreter with its default delegate (XNNPACK takes the ops it supports) and with
# TFLite's builtin kernels alone (conformance/candidates/litert.py)
XNNPACK, BUILTIN = "litert", "litert-builtin"
LITERT = (XNNPACK, BUILTIN)
ONNXRUNTIME, OPENVINO = "onnxruntime", "keras-openvino"

# XNNPACK's exp overflows from log(2) * 127.5 on (float32's own exp only past log(FLT_MAX) =
# 88.7228) and flushes a result below 2^-126 to 0; measured on 200001 points of [-100, 100]
XNNPACK_EXP_OVERFLOW = 88.3767
# ... and its error grows with |z| (range reduction by one float32 ln 2): 32 ulps at |z| = 88,
# 14.6 at 30, 4.3 at 10, 1 within [-1, 1]
XNNPACK_EXP_ULPS_PER_UNIT = 0.37
# XNNPACK's sigmoid is NaN for many |z| in [1.2e27, 2.35e38] (1e30 in every lane; 1.3e27,
# 1.7e27 and 3e38 give 1): its range reduction breaks down there
XNNPACK_SIGMOID_NAN = (1.2e27, 2.4e38)
# XNNPACK's GELU (the converter keeps Keras's gelu as one GELU op) gives -0 from x = -5.1639
# down (exact there -6.3e-7), and above that, up to x = -1, is off by up to this relative
# error per interval (quarters of a unit to -3, then [-3, -2) and [-2, -1); the worst over
# 300001 points of [-15, 15], a step of 1e-4); 1.5e-7 elsewhere. The builtin GELU is within 1.5e-7 down to x = -14.2 (subnormal results)
XNNPACK_GELU_ZERO_FROM = -5.1639
XNNPACK_GELU_REL_ERROR = ((-5.0, 1.0), (-4.75, 0.34), (-4.5, 0.10), (-4.25, 0.029),
                          (-4.0, 0.0102), (-3.75, 2.7e-3), (-3.5, 1.2e-3), (-3.25, 4.4e-4),
                          (-3.0, 1.3e-4), (-2.0, 6.5e-5), (-1.0, 3.7e-6))
# An allowance is the kernel's largest error over a region; at a given point it is mostly far
# smaller (onnxruntime's sigmoid: Activation-054 passes at 0.96 of its bound where the
# allowance is 10 bounds; XNNPACK's gelu: Dense-049 passes at 0.23 where it is 1.3 bounds,
# Activation-013 fails at 12.2 where it is 35.5), so a case is covered where the allowance
# exceeds the bound this many times (per engine, or per engine and activation)
ALLOWANCE_FACTOR = {ONNXRUNTIME: 16.0, (XNNPACK, "gelu"): 16.0}
# A replay covers a case where it lands beyond the bound (the engine's own rounding of the
# activation's input moves it by less than the bound's part for that rounding)
REPLAY_RATIO = 1.0



def f32(x):
    return np.asarray(x, np.float64).astype(np.float32)


def clamp(x):
    """TFLite's builtin float kernels with no fused activation (CONV_2D, CONV_3D,
    FULLY_CONNECTED, ADD, SUB, MUL, DIV, AVERAGE_POOL_2D, MAX_POOL_2D, TRANSPOSE_CONV...)
    clamp their output to [lowest, max] of float32: an infinity, or a value that float32
    rounds to one, comes out as +-FLT_MAX and NaN stays NaN
    (tensorflow/lite/kernels/kernel_util.h CalculateActivationRange for kTfLiteActNone, and
    ActivationFunctionWithMinMax in kernels/internal/common.h)."""
    x = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(x) >= overflow_threshold(), np.sign(x) * FLT_MAX, x)


def _exp(z, engine, shift=0, rounded=False):
    """float32 exp(z) as the engine's EXP evaluates it: XNNPACK's gives 0 for NaN, overflows
    early and flushes tiny results; the builtin kernel is float32's exp. shift (-1, 0, 1)
    moves it to the edge of the kernel's error: one ulp, XNNPACK's 1 + 0.37 |z| ulps.
    rounded: start from exp(z) rounded once to float32 (NumPy's float32 exp may be 1 ulp
    further off: exp(-0.011019838) gives 0.98904073 for 0.989040658, where XNNPACK's
    celu gives exp(x) - 1 = -0.010959327)."""
    z = f32(z)
    with np.errstate(over="ignore", invalid="ignore"):
        e = f32(np.exp(z.astype(np.float64))) if rounded else np.exp(z)
        if engine == XNNPACK:
            e = f32(e * (1.0 + shift * (1 + XNNPACK_EXP_ULPS_PER_UNIT * np.abs(z)) * 2.0 ** -23))
        elif shift:
            e = np.nextafter(e, np.float32(shift * np.inf))
    if engine == XNNPACK:
        e = np.where(np.isnan(z), np.float32(0), e)
        e = np.where(z >= XNNPACK_EXP_OVERFLOW, np.float32(np.inf), e)
        e = np.where(e < np.float32(2.0 ** -126), np.float32(0), e)
    return e


def _softplus(z, engine, shift=0):
    """The converter writes softplus as log(exp(z) + 1) (EXP, ADD, LOG), evaluated in float32:
    1 + exp(z) rounds to 1 below z = -16.6 (so 0 there, and few digits above), and exp
    overflows to inf for large z; TFLite's builtin ADD clamps that inf to FLT_MAX, so the
    builtin kernels give log(FLT_MAX) = 88.7228394 for every z beyond it. XNNPACK's LOG is
    its own (xnnpack_log: up to 2^-23 absolute off near 1, so 2e-5 relative at 0.005)."""
    with np.errstate(over="ignore", invalid="ignore"):
        s = _exp(z, engine, shift) + np.float32(1)
        if engine == BUILTIN:
            s = f32(clamp(s))
            return np.log(s).astype(np.float64)
        return xnnpack_log(s).astype(np.float64)


def _selu(z, engine, shift=0):
    """The converter writes selu as select(z > 0, scale * z, scale * alpha * (exp(z) - 1))
    (GREATER, MUL, EXP, SUB, MUL, SELECT), in float32: exp(z) - 1 cancels near 0, XNNPACK's
    exp(NaN) = 0 makes selu(NaN) = -scale * alpha = -1.7581, and the builtin MUL clamps
    scale * inf to FLT_MAX."""
    z32 = f32(z)
    with np.errstate(over="ignore", invalid="ignore"):
        negative = np.float32(SELU_SCALE * SELU_ALPHA) * (_exp(z32, engine, shift)
                                                           - np.float32(1))
        positive = np.float32(SELU_SCALE) * z32
    if engine == BUILTIN:
        positive = clamp(positive)
    return np.where(z32 > 0, positive, negative).astype(np.float64)


def _softsign_builtin(z):
    """softsign as the converter writes it, z / (|z| + 1) (ABS, ADD, DIV), with the builtin
    kernels' clamps: softsign(+-inf) is inf / FLT_MAX = inf, clamped to +-FLT_MAX."""
    z = np.asarray(z, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        return clamp(f32(z) / f32(clamp(np.abs(z) + 1.0))).astype(np.float64)


def _celu(z, engine, shift=0):
    """The converter writes celu (alpha 1) as relu(z) + (exp(min(z, 0)) - 1) (RELU, MINIMUM,
    EXP, SUB, ADD) in float32: exp(z) - 1 cancels near 0 (celu(-1e-11) = 0); the builtin ADD
    clamps celu(inf) to FLT_MAX. NaN stays NaN (relu keeps it)."""
    z32 = f32(z)
    with np.errstate(over="ignore", invalid="ignore"):
        negative = _exp(np.clip(z32, np.float32(-200), np.float32(0)), engine, shift,
                        rounded=True) - np.float32(1)
        out = (np.maximum(z32, np.float32(0)) + negative).astype(np.float64)
    if engine == BUILTIN:
        out = clamp(out)
    return np.where(np.isnan(z32), np.nan, out)


def _mish(z, engine, shift=0):
    """mish as the converter writes it, z * tanh(softplus(z)) (EXP, ADD, LOG, TANH, MUL), with
    its softplus (_softplus: 0 below z = -16.6, so mish -0 there); the builtin MUL clamps."""
    z32 = f32(z)
    with np.errstate(over="ignore", invalid="ignore"):
        out = (z32 * np.tanh(f32(_softplus(z, engine, shift)))).astype(np.float64)
    return clamp(out) if engine == BUILTIN else out


def _gelu_xnnpack(z, y):
    """XNNPACK's GELU where it is replayed: -0 from XNNPACK_GELU_ZERO_FROM down."""
    return np.where(np.isfinite(z) & (f32(z) <= np.float32(XNNPACK_GELU_ZERO_FROM)), -0.0, y)


def _gelu_slack(z, y):
    """How far XNNPACK's GELU may land from y = gelu(z) above its zero: the measured relative
    error of z's interval times |y|."""
    slack = np.zeros(np.shape(z))
    lower = XNNPACK_GELU_ZERO_FROM
    for upper, relative in XNNPACK_GELU_REL_ERROR:
        slack = np.where((z > lower) & (z < upper), relative * np.abs(y), slack)
        lower = upper
    return slack


# Activations the converter ends in a clamping builtin kernel (silu and swish: LOGISTIC, MUL;
# tanh_shrink: TANH, SUB; soft_shrink: SELECT of x - 0.5 and x + 0.5, SUB and ADD), so an
# infinite value comes out as +-FLT_MAX (Activation-155, -018, -186, -172 on litert-builtin)
BUILTIN_CLAMPED_LAST = ("silu", "swish", "tanh_shrink", "soft_shrink")


def _squareplus_builtin(z, b=4.0):
    """squareplus as the converter writes it, (z + sqrt(z^2 + b)) / 2 (SQUARE, ADD, SQRT, ADD,
    MUL), each builtin kernel clamping: squareplus(+-inf) = +-1.7014117e38 = +-FLT_MAX / 2
    (the reference: inf and NaN)."""
    z32 = f32(z)
    with np.errstate(over="ignore", invalid="ignore"):
        root = np.sqrt(f32(clamp(f32(clamp(z32 * z32)) + np.float32(b))))
        return clamp(f32(clamp(z32 + root)) * np.float32(0.5))


def litert_activation(engine, name, z, shift=0):
    """What the converted graph gives for activation `name` of float32 z on `engine`, where a
    known divergence lies (None where the engine computes it as the reference does); shift:
    its exp at the edge of its error (_exp)."""
    if name == "selu":
        return _selu(z, engine, shift)
    if name == "softplus":
        return _softplus(z, engine, shift)
    if name == "celu":
        return _celu(z, engine, shift)
    if name == "log_sigmoid":       # NEG, EXP, ADD, LOG, NEG: -softplus(-z) as written
        return -_softplus(-np.asarray(z, np.float64), engine, shift)
    if name == "mish":
        return _mish(z, engine, shift)
    if name == "gelu" and engine == XNNPACK:
        return _gelu_xnnpack(z, reference_activation("gelu")(np.asarray(z, np.float64)))
    if name == "squareplus" and engine == BUILTIN:
        return _squareplus_builtin(z)
    if name in BUILTIN_CLAMPED_LAST and engine == BUILTIN:
        return clamp(reference_activation(name)(np.asarray(z, np.float64)))
    if name == "softsign" and engine == BUILTIN:
        return _softsign_builtin(z)
    if name == "exponential" and engine == XNNPACK:
        return _exp(z, engine).astype(np.float64)
    return None


def allowance(engine, name, z, y, fused=False):
    """Per element, how far the engine's kernel may land from the exact y = f(z) where it is an
    approximation the suite does not replay (0 elsewhere); inf where it may give NaN."""
    z = np.asarray(z, np.float64)
    y = np.asarray(y, np.float64)
    slack = np.zeros(np.broadcast(z, y).shape)
    with np.errstate(invalid="ignore", over="ignore"):
        if engine == XNNPACK and name == "exponential":
            slack = np.abs(y) * XNNPACK_EXP_ULPS_PER_UNIT * np.abs(z) * 2.0 ** -23
        elif engine == XNNPACK and name in ("sigmoid", "silu", "swish"):   # LOGISTIC, MUL
            lo, hi = XNNPACK_SIGMOID_NAN
            slack = np.where((np.abs(z) >= lo) & (np.abs(z) <= hi), np.inf, 0.0)
        elif engine == XNNPACK and name == "gelu":
            slack = _gelu_slack(z, y)
        elif engine == ONNXRUNTIME and name == "sigmoid":
            slack = ort_sigmoid_slack(z, y)
        elif engine == ONNXRUNTIME and name in ORT_SIGMOID_TIMES_X:       # Sigmoid, Mul
            slack = np.abs(z) * ort_sigmoid_slack(z, reference_activation("sigmoid")(z))
    return np.where(np.isfinite(z) & np.isfinite(y) & ~np.isnan(slack), slack, 0.0)


def _softplus_openvino(z, shift=0):
    """OpenVINO's SoftPlus: log(1 + exp(z)) in float32 (0 below z = -16.6, 1.3e-3 relative
    error at -10), exact above 20."""
    z = np.asarray(z, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        naive = np.log(_exp(z, OPENVINO, shift) + np.float32(1)).astype(np.float64)
        return np.where(z > 20, np.logaddexp(0.0, z), naive)


# OpenVINO's convolutions run their activation as a fused oneDNN post-op, which maps a NaN
# input to a number: relu to 0, hard_sigmoid (a clip) to 1, exponential to inf; the same
# activations as separate ops keep NaN, except hard_sigmoid, whose Clamp gives 1 there too
OPENVINO_NAN = {"relu": 0.0, "hard_sigmoid": 1.0, "exponential": np.inf}


def _exp_minus_one(z, alpha, scale, engine, shift):
    """scale * z for z > 0, else scale * alpha * (exp(z) - 1), in float32 as written: exp(z)
    rounds to 1 near 0 and the difference cancels (OpenVINO's Elu and Selu)."""
    z32 = f32(z)
    with np.errstate(over="ignore", invalid="ignore"):
        negative = np.float32(scale * alpha) * (_exp(z32, engine, shift) - np.float32(1))
    return np.where(z32 > 0, np.float32(scale) * z32, negative).astype(np.float64)


def _openvino_activation(name, z, y, fused, shift=0, alpha=1.0):
    """OpenVINO's value of activation `name` (y = the reference's) at z, or None."""
    if name == "softplus":
        return soft_relu_onednn(z) if fused else _softplus_openvino(z, shift)
    if name == "elu":
        return _exp_minus_one(z, alpha, 1.0, OPENVINO, shift)
    if name == "selu":
        return _exp_minus_one(z, SELU_ALPHA, SELU_SCALE, OPENVINO, shift)
    if name in OPENVINO_NAN and (fused or name == "hard_sigmoid"):
        return np.where(np.isnan(z), OPENVINO_NAN[name], y)
    if name == "softmax" and fused:
        # the fused softmax gives a row holding NaN or +inf beside other logits NaN there and
        # 0 elsewhere, as TensorFlow's CPU kernel does (IEEE: NaN across the row)
        special = np.isnan(z) | np.isposinf(z)
        mixed = special.any(axis=-1, keepdims=True) & (~special).any(axis=-1, keepdims=True)
        return np.where(mixed, np.where(special, np.nan, 0.0), y)
    return None


def replay(engine, name, z, keras_spec="keras3", clamped=False, fused=False, shift=0,
           alpha=1.0):
    """The engine's value of activation `name` at z (float64), or None where it is the
    reference's. clamped: z comes out of a TFLite kernel that clamps (the builtin kernels);
    fused: the activation is fused into the convolution before it (OpenVINO); shift: the
    engine's exp at the edge of its error (_exp); alpha: the ELU layer's."""
    z = np.asarray(z, np.float64)
    f = reference_activation(name, keras_spec)
    if isinstance(name, dict):
        name = name.get("config")
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if engine in LITERT:
            if clamped:
                z = clamp(z)
            value = litert_activation(engine, name, z, shift)
            if value is None and clamped:
                value = f(z)
            return value
        if engine == ONNXRUNTIME:
            return onnxruntime_activation(name, z, f)
        if engine == OPENVINO:
            return _openvino_activation(name, z, f(z), fused, shift, alpha)
    return None


def off(engine, name, z, y, bound, keras_spec="keras3", clamped=False, fused=False,
        alpha=1.0):
    """Whether the engine's activation `name` of z lands beyond the bound of some element of
    y = f(z): its replay does with its exp at either edge of its error and in between (so
    that the replay's own rounding does not decide), or its allowance exceeds the bound."""
    if isinstance(name, dict):
        name = name.get("config")
    if not np.size(y):
        return False
    if name == "glu" and engine in LITERT:
        return _glu_off(engine, z, y, bound)
    if name == "glu" and engine == ONNXRUNTIME:
        return _glu_off_onnxruntime(z, y, bound)
    if np.shape(z) != np.shape(y):      # glu halves an axis: no elementwise replay to run
        return False
    name = "linear" if name is None else name
    ratios = [error_ratio(y, bound, value) for value in (
        replay(engine, name, z, keras_spec, clamped, fused, shift, alpha)
        for shift in (-1, 0, 1))
        if value is not None]
    return bool(ratios and np.any(np.minimum.reduce(ratios) > REPLAY_RATIO)) or off_by_allowance(
        engine, name, z, y, bound, fused)


def _glu_off(engine, z, y, bound):
    """glu(z) = a * sigmoid(b), a and b the halves of z's last axis, as the converter writes it
    (SPLIT, LOGISTIC, MUL): XNNPACK's sigmoid may be NaN where |b| lies in
    XNNPACK_SIGMOID_NAN; the builtin MUL clamps an infinite product to +-FLT_MAX."""
    y = np.asarray(y, np.float64)
    if engine == BUILTIN:
        return bool(np.any(error_ratio(y, bound, clamp(y)) > REPLAY_RATIO))
    z = np.asarray(z, np.float64)
    if z.shape[-1] != 2 * y.shape[-1]:
        return False
    b = z[..., y.shape[-1]:]
    lo, hi = XNNPACK_SIGMOID_NAN
    with np.errstate(invalid="ignore"):
        return bool(np.any((np.abs(b) >= lo) & (np.abs(b) <= hi) & ~np.isnan(y)))


def _glu_off_onnxruntime(z, y, bound):
    """glu(z) = a * sigmoid(b) (Split, Sigmoid, Mul) with onnxruntime's Sigmoid: its replay
    (0 below ORT_SIGMOID_ZERO_FROM) lands beyond the bound, or |a| times its allowance exceeds
    ALLOWANCE_FACTOR bounds."""
    z, y = np.asarray(z, np.float64), np.asarray(y, np.float64)
    if z.shape[-1] != 2 * y.shape[-1]:
        return False
    a, b = z[..., :y.shape[-1]], z[..., y.shape[-1]:]
    with np.errstate(invalid="ignore", over="ignore"):
        sigmoid = reference_activation("sigmoid")(b)
        if np.any(error_ratio(y, bound, a * ort_sigmoid(b, sigmoid)) > REPLAY_RATIO):
            return True
        slack = np.abs(a) * ort_sigmoid_slack(b, sigmoid)
    slack = np.where(np.isfinite(slack) & np.isfinite(y), slack, 0.0)
    return bool(np.any(slack > ALLOWANCE_FACTOR[ONNXRUNTIME] * np.broadcast_to(bound, y.shape)))


def off_by_allowance(engine, name, z, y, bound, fused=False):
    """off() by the allowance alone (the part a replay cannot carry through a recurrence)."""
    if isinstance(name, dict):
        name = name.get("config")
    slack = allowance(engine, name, z, y, fused)
    bound = np.broadcast_to(np.asarray(bound, np.float64), np.shape(slack))
    factor = ALLOWANCE_FACTOR.get((engine, name), ALLOWANCE_FACTOR.get(engine, 1.0))
    return bool(np.any(slack > factor * bound))
