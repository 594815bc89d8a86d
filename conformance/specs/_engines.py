"""What the deploy engines (README, "Deploy engines") compute for a layer's activation where
they part from IEEE float32 arithmetic and from the reference, replayed in NumPy for their
known divergences: the activations as their kernels or converted graphs evaluate them, with
TFLite's builtin kernels' clamp to float32's finite range before them; inside a recurrence,
the spec's own Bounded run replayed with the engine's activations (off_in_run). The engines'
other divergences (pooling, merges, constants, tf2onnx's select) are _engine_ops.py's, and
_engine_activations.py builds the activations' Divergences from these replays.

Each replay was measured on the engine (tensorflow 2.21 converter, ai-edge-litert 2.3.0,
tf2onnx 1.17 with onnxruntime 1.32, openvino 2026.4.1 under Keras 3.15.1, x86-64 CPU); the
evidence strings say where and with which numbers. A replay gives the engine's value where it
is a formula (log(exp(z) + 1) in float32), and an allowance where it is an approximation whose
error the suite cannot replay without the engine's own coefficients (onnxruntime's sigmoid).
"""
import contextvars

import numpy as np

from conformance.elements import error_ratio
from conformance.tolerance import overflow_threshold
from reference.activations import SELU_ALPHA, SELU_SCALE, activation as reference_activation
from reference.config import OutOfScope

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
# onnxruntime's Sigmoid (MLAS MlasComputeLogistic, a rational approximation): absolute error
# up to 1.66e-7 over [-25, 25] (2,000,001 points), and 0 for z below -15.83 at the earliest
# (every z below -18)
ORT_SIGMOID_ABS_ERROR = 1.7e-7
ORT_SIGMOID_ZERO_BELOW = -15.8
ORT_SIGMOID_ZERO_FROM = -18.0
# An allowance is the kernel's largest error over a region; at a given point it is mostly far
# smaller (onnxruntime's sigmoid: Activation-054 passes at 0.96 of its bound where the
# allowance is 10 bounds), so a case is covered where the allowance exceeds the bound this
# many times
ALLOWANCE_FACTOR = {ONNXRUNTIME: 16.0}
# A replay covers a case where it lands beyond the bound (the engine's own rounding of the
# activation's input moves it by less than the bound's part for that rounding)
REPLAY_RATIO = 1.0
# OpenVINO's softplus fused into a convolution is oneDNN's soft_relu post-op
# (jit_uni_eltwise_injector soft_relu_compute_vector_fwd): n ln 2 + ln(2^-n + p(r)), with
# x = n ln 2 + r, p a degree-5 polynomial for exp(r) and ln taken from frexp and a degree-8
# polynomial. Its two terms cancel for x < 0, so its error is absolute, about |x| 2^-24
# (7.63e-6 at x = -87: Conv2DTranspose-025; 2.6e-7 at x = -5.2: Conv2D-034). The table
# words are oneDNN's; _soft_relu_onednn gives openvino 2026.4.1's fused value bit for bit on
# 200001 points of [-100, 100] (Conv1D and DepthwiseConv1D with a kernel of 1)
ONEDNN_WORDS = {"log2ef": 0x3fb8aa3b, "ln_flt_max": 0x42b17218, "ln_flt_min": 0xc2aeac50,
                "ln2": 0x3f317218}
ONEDNN_EXP_POL = (0x3f7ffffb, 0x3efffee3, 0x3e2aad40, 0x3d2b9d0d, 0x3c07cfce)
ONEDNN_LOG1P_POL = (0xb2b4637d, 0x3f7fff8e, 0xbf001759, 0x3ea70608, 0xbea3d7bf, 0xbe361d04,
                    0xbfa8f1e6, 0xbfe1e812, 0xbfc4d30e)


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


def _exp(z, engine, shift=0):
    """float32 exp(z) as the engine's EXP evaluates it: XNNPACK's gives 0 for NaN, overflows
    early and flushes tiny results; the builtin kernel is float32's exp. shift (-1, 0, 1)
    moves it to the edge of the kernel's error: one ulp, XNNPACK's 1 + 0.37 |z| ulps."""
    z = f32(z)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(z)
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
    builtin kernels give log(FLT_MAX) = 88.7228394 for every z beyond it."""
    with np.errstate(over="ignore", invalid="ignore"):
        s = _exp(z, engine, shift) + np.float32(1)
        if engine == BUILTIN:
            s = f32(clamp(s))
        return np.log(s).astype(np.float64)


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


def litert_activation(engine, name, z, shift=0):
    """What the converted graph gives for activation `name` of float32 z on `engine`, where a
    known divergence lies (None where the engine computes it as the reference does); shift:
    its exp at the edge of its error (_exp)."""
    if name == "selu":
        return _selu(z, engine, shift)
    if name == "softplus":
        return _softplus(z, engine, shift)
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
        elif engine == XNNPACK and name == "sigmoid":
            lo, hi = XNNPACK_SIGMOID_NAN
            slack = np.where((np.abs(z) >= lo) & (np.abs(z) <= hi), np.inf, 0.0)
        elif engine == ONNXRUNTIME and name == "sigmoid":
            slack = np.where(z < ORT_SIGMOID_ZERO_BELOW, np.maximum(y, ORT_SIGMOID_ABS_ERROR),
                             ORT_SIGMOID_ABS_ERROR)
            slack = np.where(z < ORT_SIGMOID_ZERO_FROM, 0.0, slack)     # replayed: 0
    return np.where(np.isfinite(z) & np.isfinite(y) & ~np.isnan(slack), slack, 0.0)


def _word(bits):
    return np.array([bits], np.uint32).view(np.float32)[0]


def _fma(a, b, c):
    """float32 a * b + c rounded once (the product of two float32 is exact in float64)."""
    return (a.astype(np.float64) * b.astype(np.float64) + np.float64(c)).astype(np.float32)


def _soft_relu_onednn(z):
    """oneDNN's JIT soft_relu on float32 z, step by step (ONEDNN_WORDS above): exp(r) by its
    polynomial, 2^-(n-1) built in the exponent bits, (2^-(n-1) + 2 exp(r)) / 2 split by frexp
    into 2^E m, then E ln 2 + log1p(m - 1) + n ln 2; z itself above ln(FLT_MAX)."""
    log2ef, ln_max, ln_min, ln2 = (_word(ONEDNN_WORDS[k]) for k in
                                   ("log2ef", "ln_flt_max", "ln_flt_min", "ln2"))
    x = f32(z)
    with np.errstate(invalid="ignore", over="ignore"):
        s = np.maximum(np.minimum(x, ln_max), ln_min)
        n = np.floor((s * log2ef).astype(np.float32) + np.float32(0.5)).astype(np.float32)
        n_ln2 = (n * ln2).astype(np.float32)
        r = (s - n_ln2).astype(np.float32)
        p = np.full_like(r, _word(ONEDNN_EXP_POL[-1]))
        for word in (*ONEDNN_EXP_POL[-2::-1], 0x3f800000):
            p = _fma(p, r, _word(word))
        biased = np.clip(np.rint(1 - n).astype(np.int64) + 127, 0, 255).astype(np.uint32)
        v = (((p * np.float32(2)).astype(np.float32) + (biased << np.uint32(23)).view(np.float32))
             .astype(np.float32) / np.float32(2)).astype(np.float32)
        bits = v.view(np.uint32)
        e = (bits >> np.uint32(23)).astype(np.float32) - np.float32(126)
        m = ((bits & np.uint32(0x807fffff)) | np.float32(0.5).view(np.uint32)).view(np.float32)
        m = (m - np.float32(1)).astype(np.float32)
        q = np.full_like(m, _word(ONEDNN_LOG1P_POL[-1]))
        for word in ONEDNN_LOG1P_POL[-2::-1]:
            q = _fma(q, m, _word(word))
        out = (((e * ln2).astype(np.float32) + q).astype(np.float32) + n_ln2).astype(np.float32)
    return np.where(x > ln_max, x, out).astype(np.float64)


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
        return _soft_relu_onednn(z) if fused else _softplus_openvino(z, shift)
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
        if engine == ONNXRUNTIME and name == "sigmoid":
            return np.where(z < ORT_SIGMOID_ZERO_FROM, 0.0, f(z))
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
    if np.shape(z) != np.shape(y):      # glu halves an axis: no elementwise replay to run
        return False
    name = "linear" if name is None else name
    ratios = [error_ratio(y, bound, value) for value in (
        replay(engine, name, z, keras_spec, clamped, fused, shift, alpha)
        for shift in (-1, 0, 1))
        if value is not None]
    return bool(ratios and np.any(np.minimum.reduce(ratios) > REPLAY_RATIO)) or _off_allowance(
        engine, name, z, y, bound, fused)


def _off_allowance(engine, name, z, y, bound, fused=False):
    """off() by the allowance alone (the part a replay cannot carry through a recurrence)."""
    if isinstance(name, dict):
        name = name.get("config")
    slack = allowance(engine, name, z, y, fused)
    bound = np.broadcast_to(np.asarray(bound, np.float64), np.shape(slack))
    return bool(np.any(slack > ALLOWANCE_FACTOR.get(engine, 1.0) * bound))


# A recurrence is run twice through the spec's own Bounded arithmetic (conformance/specs/
# bounded.py): as the reference computes it, and with each activation replaced by the engine's
# replay. While a dict is set here, _common.through_activation hands every activation it
# evaluates to `watch` (which checks the allowance and gives back the value the run goes on
# with), and bounded.fold_bounded hands its results to `record`.
_RUN = contextvars.ContextVar("engine_run", default=None)


def watch(name, z, y, bound, keras_spec):
    """(y, bound), or the engine's replay of y while an engine run is set (with a bound of 0
    where the replay is a number and the reference's NaN has none)."""
    run = _RUN.get()
    if run is None or not run["activations"]:
        return y, bound
    if run["replay"]:
        value = replay(run["engine"], name, z, keras_spec, run["clamped"], shift=run["shift"])
        if value is None:
            return y, bound
        value = np.broadcast_to(value, np.shape(y))
        run["overflows"] |= bool(np.any(np.isinf(value) & np.isfinite(y)))
        bound = np.broadcast_to(bound, np.shape(y))
        return value, np.where(np.isnan(bound) & ~np.isnan(value), 0.0, bound)
    if not run["off"]:
        run["off"] = _off_allowance(run["engine"], name, z, y, bound)
    return y, bound


def kernel_output(v):
    """A matrix product's value v in a Bounded run, as the engine of a replayed run leaves it:
    TFLite's builtin FULLY_CONNECTED clamps it, so an infinite x @ kernel is FLT_MAX before
    the sum with h @ recurrent_kernel, and inf + -inf is 0 there, not NaN (SimpleRNNCell-076
    gives softsign(0) = 0 where the reference has NaN). The cell's own sums and products
    are not clamped in the replay: a replay whose state reaches FLT_MAX overflows and says
    nothing."""
    run = _RUN.get()
    if run is not None and run["replay"] and run["clamped"]:
        return clamp(v)
    return v


def select(keep, a, b):
    """where(keep, a, b) of a masked step in a Bounded run; in onnxruntime's replayed run
    keep * a + (1 - keep) * b, as tf2onnx writes TensorFlow's Select (a NaN or infinity in
    the branch not taken gives NaN)."""
    run = _RUN.get()
    if run is not None and run["replay"] and run["select"]:
        keep = np.asarray(keep, np.float64)
        with np.errstate(invalid="ignore"):
            return keep * a + (1.0 - keep) * b
    return np.where(keep, a, b)


def record(*bounded):
    run = _RUN.get()
    if run is not None:
        run["folds"].append([(np.asarray(b.v, np.float64),
                              np.broadcast_to(np.asarray(b.e, np.float64), np.shape(b.v)))
                             for b in bounded])


def _run(expect, case, run):
    run.update(folds=[], off=False, overflows=False)
    token = _RUN.set(run)
    try:
        expect(case)
    finally:
        _RUN.reset(token)
    return run


def off_in_run(engine, expect, case, clamped=False, activations=True, select=False):
    """Whether the recurrence of expect(case), run with the engine's activations in place of
    the reference's (activations) or its masked steps selected by a product (select, as
    onnxruntime's), ends beyond the bound of some output or final state (every time step
    where the layer returns sequences) with its exp at either edge of its error and in
    between, or some step's activation has an allowance beyond its bound."""
    parts = {"engine": engine, "clamped": clamped, "activations": activations, "select": select}
    try:
        reference = _run(expect, case, dict(parts, replay=False, shift=0))
    except OutOfScope:
        return False
    if reference["off"]:
        return True
    last = not case.config.get("return_sequences")
    smallest = None          # each output's least error ratio over the shifts replayed so far
    for shift in (-1, 0, 1):
        replayed = dict(parts, replay=True, shift=shift)
        try:
            _run(expect, case, replayed)
        except OutOfScope:
            # the replay overflows: where the engine's own activation gave the infinity
            # (XNNPACK's softplus of 88.4) that is the divergence; where a later sum
            # overflowed, the engine's kernels may clamp or overflow otherwise
            return replayed["overflows"]
        ratios = []
        for fold, again in zip(reference["folds"], replayed["folds"]):
            for index, ((v, e), (w, _)) in enumerate(zip(fold, again)):
                if index == 0 and last:
                    v, e, w = v[:, -1], e[:, -1], w[:, -1]
                ratios.append(error_ratio(v, e, w))
        smallest = ratios if smallest is None else list(map(np.minimum, smallest, ratios))
        if not any(bool(np.any(r > REPLAY_RATIO)) for r in smallest):
            return False     # within bound at every edge so far: the other edges cannot cover it
    return True
