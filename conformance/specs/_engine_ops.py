"""The deploy engines' known divergences outside the activations (those are _engines.py): how
their max pooling and Maximum treat NaN, TFLite's builtin kernels clamping an infinity to
FLT_MAX, the TFLite converter writing infinite constants as FLT_MAX, XNNPACK's 1x1 depthwise
kernel reading its neighbours, tf2onnx's select written as a product and its BiasAdd. Each
predicate replays the engine's arithmetic on the case and compares the replay with the
reference's answer, as the suite would judge it (error_ratio beyond 1), unless it says it
covers more."""
import dataclasses

import numpy as np

import reference
from conformance.elements import error_ratio
from conformance.spec import Divergence
from conformance.specs._engines import (
    BUILTIN, FLT_MAX, LITERT, ONNXRUNTIME, OPENVINO, XNNPACK, clamp,
)
from conformance.specs._onednn import TF_ONEDNN_CONV2D, TF_ONEDNN_DEPTHWISE
from reference import merge
from reference.config import OutOfScope
from reference.conv import depthwise
from reference.layout import from_channels_last, to_channels_last
from reference.padding import as_tuple

ENGINES = (*LITERT, ONNXRUNTIME, OPENVINO)


def differs(case, outputs):
    """Whether replayed outputs land beyond the bound of some element (or differ in shape)."""
    for expected, bound, got in zip(case.expected or [], case.bounds or [], outputs):
        got = np.asarray(got, np.float64)
        if got.shape != np.shape(expected):
            return True
        if np.any(error_ratio(expected, bound, got) > 1):
            return True
    return False


# Max pooling and Maximum on NaN -----------------------------------------------------------------

def nan_or_minus_inf_out(case):
    """Some output is NaN (a window holding NaN) or -inf (a window of -inf only)."""
    return any(np.isnan(e).any() or np.isneginf(e).any() for e in case.expected or [])


ENGINE_MAX_POOLING = Divergence(
    candidates=ENGINES, when=nan_or_minus_inf_out,
    reason="the deploy engines' max pooling (and global max pooling) does not give NaN for a "
           "window holding NaN: TFLite's builtin kernel and OpenVINO skip NaN starting from "
           "-FLT_MAX (a window of -inf gives -3.4028235e38), XNNPACK and onnxruntime keep or "
           "drop it by its place in the window",
    evidence="MaxPooling1D(2, 2) on [nan, 1 | 1, nan | nan, nan | -inf, -inf]: litert "
             "(XNNPACK) gives [-inf, 1, -inf, -inf], litert-builtin [1, 1, -3.4028235e38, "
             "-3.4028235e38], onnxruntime 1.32 [1, nan, nan, -inf], keras-openvino (openvino "
             "2026.4.1) [1, 1, -3.4028235e38, -3.4028235e38]; IEEE max, Keras on JAX, torch "
             "and NumPy and the reference give [nan, nan, nan, -inf]. TFLite's MaxPool starts "
             "from std::numeric_limits<float>::lowest() and takes std::max, which keeps the "
             "accumulator against NaN (tensorflow/lite/kernels/internal/reference/pooling.h); "
             "a pool of 1 runs that builtin kernel on litert too (MaxPooling1D-021: NaN gives "
             "-3.4028235e38). GlobalMaxPooling1D on the same rows: litert and litert-builtin "
             "[1, nan, nan, -inf], onnxruntime [nan, 1, nan, -inf], keras-openvino [1, 1, "
             "-3.4028235e38, -3.4028235e38]. Every failing max pooling case of the four "
             "engines holds a NaN window")


def _maximum_replay(case, keep_first):
    """Keras's Maximum folds max(output, x) over the inputs. TFLite's MAXIMUM is a > b ? a : b
    (the second operand wherever NaN is involved); OpenVINO's keeps the first."""
    arrays = merge.expand_ranks(case.inputs)
    out = arrays[0]
    with np.errstate(invalid="ignore"):
        for x in arrays[1:]:
            out = np.where(x > out, x, out) if keep_first else np.where(out > x, out, x)
    return [out]


def _maximum_differs(keep_first):
    def when(case):
        if not case.expected or all(np.all(np.isfinite(x)) for x in case.inputs):
            return False
        return differs(case, _maximum_replay(case, keep_first))
    return when


LITERT_MAXIMUM = Divergence(
    candidates=LITERT, when=_maximum_differs(keep_first=False),
    reason="TFLite's MAXIMUM is a > b ? a : b: where NaN meets a number it gives the second "
           "operand, so Maximum gives NaN only where the last input is NaN",
    evidence="tensorflow/lite/kernels/maximum_minimum.cc MaximumOp (el1 > el2 ? el1 : el2); "
             "ai-edge-litert 2.3.0, both resolvers: Maximum() on [nan, 1, nan, inf, -inf] and "
             "[1, nan, nan, nan, nan] gives [1, nan, nan, nan, nan]; the reference (IEEE, "
             "Keras on JAX, torch and NumPy) gives NaN in all five. The replay folds the rule "
             "over Keras's order of inputs")

OPENVINO_MAXIMUM = Divergence(
    candidates=(OPENVINO,), when=_maximum_differs(keep_first=True),
    reason="OpenVINO's Maximum keeps the first operand where NaN meets a number, so Keras's "
           "Maximum gives NaN only where the first input is NaN",
    evidence="openvino 2026.4.1 under Keras 3.15.1: Maximum() on [nan, 1, nan, inf, -inf] and "
             "[1, nan, nan, nan, nan] gives [nan, 1, nan, inf, -inf]; the reference gives NaN "
             "in all five")


# TFLite's builtin kernels clamp their output to [-FLT_MAX, FLT_MAX] --------------------------

def _clamped_fold(case):
    """Add, Subtract, Multiply and Average as the builtin ADD, SUB and MUL kernels compute them,
    each clamping (Average divides by a MUL with 1 / n: the converter's reciprocal)."""
    layer = case.layer.lower()
    arrays = merge.expand_ranks(case.inputs)
    with np.errstate(invalid="ignore", over="ignore"):
        if layer == "subtract":
            return [clamp(arrays[0] - arrays[1])]
        out = arrays[0]
        for x in arrays[1:]:
            out = clamp(out * x if layer == "multiply" else out + x)
        if layer == "average":
            out = clamp(out * np.float32(1 / len(arrays)))
    return [out]


def _clamped_fold_differs(case):
    if not case.expected or case.params.get("regime") not in ("special", "large"):
        return False
    return differs(case, _clamped_fold(case))


BUILTIN_CLAMP_REASON = (
    "TFLite's builtin kernels clamp every float result to float32's finite range, so an "
    "infinity (an infinite input, or a float32 overflow) comes out as +-FLT_MAX = "
    "+-3.4028235e38, and a later sum of two clamped infinities is finite or an infinity "
    "where IEEE arithmetic gives NaN")
BUILTIN_CLAMP_EVIDENCE = (
    "tensorflow/lite/kernels/kernel_util.h CalculateActivationRange gives [lowest(), max()] "
    "for kTfLiteActNone, and the float kernels (ADD, SUB, MUL, CONV_2D, FULLY_CONNECTED, "
    "AVERAGE_POOL_2D...) apply it with ActivationFunctionWithMinMax "
    "(tensorflow/lite/kernels/internal/common.h). ai-edge-litert 2.3.0 with "
    "BUILTIN_WITHOUT_DEFAULT_DELEGATES: Add on [inf, -inf, 3e38] and [-inf, inf, 3e38] gives "
    "[nan, nan, 3.4028235e38]; Multiply on [inf] and [-inf] gives -3.4028235e38; "
    "Average of five inputs holding inf gives 6.80564693e37 = FLT_MAX / 5 (Average-026); "
    "Multiply in the large regime gives 3.4028235e38 for 1.55e42 (Multiply-001). XNNPACK "
    "(litert) runs these without the clamp")

BUILTIN_CLAMPED_MERGE = Divergence(
    candidates=(BUILTIN,), when=_clamped_fold_differs,
    reason=BUILTIN_CLAMP_REASON, evidence=BUILTIN_CLAMP_EVIDENCE)


def infinite_out(case):
    """Some output is +-inf (where the layer's last kernel, clamping, gives +-FLT_MAX)."""
    return any(np.isinf(e).any() for e in case.expected or [])


# BatchNormalization (MUL, ADD), Lambda's arithmetic, MyLayer (FULLY_CONNECTED): the last
# kernel clamps, so an infinite output is FLT_MAX (BatchNormalization-043: -3.4028235e38 for
# -inf; Lambda-013, 0.5 * x**2 of inf: 1.70141173e38)
BUILTIN_CLAMPED_OUTPUT = Divergence(
    candidates=(BUILTIN,), when=infinite_out,
    reason=BUILTIN_CLAMP_REASON, evidence=BUILTIN_CLAMP_EVIDENCE)


def _clamped_output_differs(case):
    """The reference's outputs clamped to +-FLT_MAX (the layer's last builtin kernel clamps)
    land beyond the bound: an infinite output, or a finite one beyond float32's range
    (Normalization-016: -1.43e39 gives -3.4028235e38)."""
    with np.errstate(invalid="ignore"):
        return bool(case.expected) and differs(case, [clamp(e) for e in case.expected])


# ReLU, Rescaling and Normalization (ReLU-022, Rescaling-005, Normalization-042: +-inf gives
# +-3.4028235e38 on litert-builtin; litert runs them on XNNPACK without the clamp)
BUILTIN_CLAMPED_REPLAY = Divergence(
    candidates=(BUILTIN,), when=_clamped_output_differs,
    reason=BUILTIN_CLAMP_REASON, evidence=BUILTIN_CLAMP_EVIDENCE)


def _average_pooling_replay(engine, case):
    """AVERAGE_POOL_2D: the builtin kernel clamps; XNNPACK's (a pool larger than 1) clamps its
    result with max(x, -inf), which turns NaN into -inf."""
    y = np.asarray(case.expected[0], np.float64)
    pool = np.atleast_1d(case.config.get("pool_size"))
    if engine == BUILTIN or np.all(pool == 1):
        return [clamp(y)]
    return [np.where(np.isnan(y), -np.inf, y)]


def _average_pooling_differs(engine):
    def when(case):
        if not case.expected or case.params.get("regime") != "special":
            return False
        return differs(case, _average_pooling_replay(engine, case))
    return when


LITERT_AVERAGE_POOLING = tuple(Divergence(
    candidates=(engine,), when=_average_pooling_differs(engine),
    reason=("XNNPACK's average pooling gives -inf for a window whose mean is NaN (a NaN, or "
            "inf beside -inf); a pool of 1 runs TFLite's builtin kernel, which clamps an "
            "infinity to +-FLT_MAX" if engine == XNNPACK else BUILTIN_CLAMP_REASON),
    evidence=("ai-edge-litert 2.3.0 (XNNPACK): AveragePooling1D(2, 2) on [nan, 1 | 1, nan | "
              "inf, -inf | inf, 1] gives [-inf, -inf, -inf, inf], litert-builtin [nan, nan, "
              "nan, 3.4028235e38]; onnxruntime and the reference [nan, nan, nan, inf]. XNNPACK "
              "clamps with max(x, output_min) in SIMD (maxps keeps its second operand, -inf, "
              "against NaN); AveragePooling1D(1, 3) on -inf gives -3.4028235e38 "
              "(AveragePooling1D-006)" if engine == XNNPACK else BUILTIN_CLAMP_EVIDENCE))
    for engine in LITERT)


# The TFLite converter writes an infinite constant as FLT_MAX ----------------------------------

def _clamped_constants(case):
    """The case with every +-inf of its weights and of its config's numbers as +-FLT_MAX (NaN
    kept), or None where it has none."""
    weights = [clamp(w) if np.asarray(w).dtype.kind == "f" else w for w in case.weights]
    config = {k: (float(clamp(v)) if isinstance(v, float) else v) for k, v in case.config.items()}
    changed = config != case.config or any(
        np.asarray(w).dtype.kind == "f" and np.isinf(w).any() for w in case.weights)
    return dataclasses.replace(case, weights=weights, config=config) if changed else None


def converter_constants(expect):
    """LiteRT's divergence where a weight or a number of the config is infinite: the spec's
    expect() on the case with them written as FLT_MAX lands beyond the bound."""
    def when(case):
        clamped = _clamped_constants(case) if case.expected else None
        if clamped is None:
            return False
        try:
            return differs(case, expect(clamped).outputs)
        except OutOfScope:
            return False
    return Divergence(
        candidates=LITERT, when=when,
        reason="the TFLite converter writes an infinite constant (a weight, Masking's "
               "mask_value) as +-FLT_MAX = +-3.4028235e38: an Embedding row of inf reads "
               "3.4028235e38, and Masking(inf) masks no step of infinities",
        evidence="tensorflow 2.21 TFLiteConverter.from_keras_model: Embedding-007's table "
                 "[1.499, 1.558, 1.357, nan, -0.798, -inf, ..., inf] is stored in the "
                 "flatbuffer as [1.499, 1.558, 1.357, nan, -0.798, -3.4028235e38, ..., "
                 "3.4028235e38] (the GATHER's constant, read back from the interpreter), and "
                 "Masking(mask_value=inf)'s NOT_EQUAL compares with the constant "
                 "3.4028235e38, so a step of infinities is kept (Masking-025: inf where the "
                 "reference gives 0), with XNNPACK and with the builtin kernels alike. "
                 "tensorflow/tensorflow#45312 and #124150: a division by a constant zero "
                 "gives FLT_MAX after conversion")


# XNNPACK's 1x1 depthwise kernel reads the next two pixels ------------------------------------

def _spread(nonfinite):
    """Pixels (flattened over batch and space, NHWC) that XNNPACK's 1x1 depthwise kernel makes
    NaN: those followed within two pixels by a non-finite input (times a zero weight)."""
    out = nonfinite.copy()
    out[:-1] |= nonfinite[1:]
    out[:-2] |= nonfinite[2:]
    return out


def _channels_last_pixels(x, data_format):
    x = np.asarray(x, np.float64)
    if data_format == "channels_first":
        x = np.moveaxis(x, 1, -1)
    return x.reshape(-1, x.shape[-1])


def _xnnpack_depthwise_spread(case):
    """Conv1D/Conv2D with one input channel, one filter and a 1x1 kernel, DepthwiseConv1D/2D
    or SeparableConv2D with a 1x1 kernel and depth_multiplier 1, strides 1 (XNNPACK then runs
    a 1x1 depthwise stage): some output pixel the replay makes NaN is not NaN in the
    reference (a DepthwiseConv's channel by channel)."""
    config, x = case.config, case.inputs[0] if case.inputs else None
    if x is None or not case.expected or np.all(np.isfinite(x)):
        return False
    if np.any(np.asarray(config.get("kernel_size", 1)) != 1) or np.any(
            np.asarray(config.get("strides", 1)) != 1):
        return False
    data_format = config.get("data_format", "channels_last")
    pixels = _channels_last_pixels(x, data_format)
    filters = config.get("filters")
    if case.layer in ("DepthwiseConv1D", "DepthwiseConv2D"):
        if config.get("depth_multiplier", 1) != 1:
            return False
        nan = _spread(~np.isfinite(pixels))             # each channel on its own
        expected = _channels_last_pixels(case.expected[0], data_format)
        return bool(np.any(nan & ~np.isnan(expected)))
    if case.layer == "SeparableConv2D":
        if config.get("depth_multiplier", 1) != 1:
            return False
        nan = _spread(~np.isfinite(pixels)).any(axis=1)
        if pixels.shape[1] == 1 and filters == 1:      # the pointwise stage is 1x1 x 1 too
            nan = _spread(nan)
    elif pixels.shape[1] == 1 and filters == 1 and config.get("groups", 1) == 1:
        nan = _spread(~np.isfinite(pixels[:, 0]))
    else:
        return False
    expected = _channels_last_pixels(case.expected[0], data_format)
    return bool(np.any(nan & ~np.isnan(expected).all(axis=1)))


XNNPACK_DEPTHWISE_SPREAD = Divergence(
    candidates=(XNNPACK,), when=_xnnpack_depthwise_spread,
    reason="XNNPACK's 1x1 depthwise convolution (Conv1D and Conv2D with one input channel and "
           "one filter, DepthwiseConv1D/2D with a kernel of 1 and depth_multiplier 1, "
           "SeparableConv2D's 1x1 depthwise step) reads the next two pixels with zero weights, "
           "so a NaN or infinite input makes the two outputs before it NaN (in its channel)",
    evidence="ai-edge-litert 2.3.0 (XNNPACK): Conv2D(1, 1) with kernel 1 and bias 0 on "
             "arange(20).reshape(1, 5, 4, 1) / 10 with NaN (or inf) at pixel 9 gives NaN at "
             "pixels 7, 8 and 9, at every pixel p tried (20 and 40 pixels: p - 2, p - 1, p); "
             "with 2, 3, 4 or 8 input channels, or 2 or 3 filters, only pixel 9; "
             "SeparableConv2D with a 1x1 kernel and 3 channels: 7, 8, 9, and with one channel "
             "and one filter 5 to 9 (both steps); DepthwiseConv2D(1) with weights 1 and bias 0 "
             "on the same pixels with 1 or 3 channels, NaN in channel 1 of pixel 9: NaN at "
             "pixels 7, 8 and 9 of channel 1 only (DepthwiseConv1D-053, -056, DepthwiseConv2D"
             "-053, -056 fail so). The builtin kernels (litert-builtin) give "
             "NaN at pixel 9 only, as the reference does")


# tf2onnx writes tf.where as a product ---------------------------------------------------------

ONNX_SELECT_REASON = (
    "tf2onnx converts TensorFlow's Select (tf.where) into cond * x + (1 - cond) * y with Mul "
    "and Add rather than ONNX's Where, so an infinity or NaN in the branch not taken makes "
    "the result NaN (inf * 0): a masked step, Masking's masked values, ELU's other branch, "
    "ReLU's threshold (where(x > threshold, x, 0): NaN for NaN and -inf), Softmax's mask "
    "(where(mask, x, -1e9) before and where(mask, y, 0) after: NaN for a masked NaN or "
    "infinity, across its group and at the masked positions)")
ONNX_SELECT_EVIDENCE = (
    "tf2onnx 1.17 tf2onnx/onnx_opset/controlflow.py (Select, SelectV2: the Mul/Add form, "
    "faster than Where, unless it sees a NaN-handling pattern; onnx/tensorflow-onnx#1199, "
    "#1988, #2035); onnxruntime 1.32: ReLU(threshold=1, max_value=1) gives NaN for NaN "
    "(ReLU-008) and ReLU(threshold=2.5, negative_slope=1.5) NaN for -inf (ReLU-016), where "
    "the reference gives 0 and -inf; Softmax with a mask gives NaN at masked positions and "
    "across a group whose masked logits hold NaN or an infinity (Softmax-021: every logit "
    "[-0, -inf, nan, inf] masked, the reference 0, 0, 0, 0); Masking(mask_value=inf) gives NaN for a masked step "
    "of infinities where the reference gives 0 (Masking-025); ELU(alpha=-1) on inf gives NaN "
    "(Keras 3 on TensorFlow writes ELU with alpha != 1 as tf.where(x > 0, elu(x), alpha * "
    "elu(x)), keras/src/backend/tensorflow/nn.py elu); GRU(mask with a step of NaN) gives "
    "NaN where the reference keeps the previous output (GRU-137)")


def onnx_select(replay):
    """onnxruntime's divergence where replay(case) (the layer with its tf.where written as a
    product) lands beyond the bound."""
    def when(case):
        if not case.expected or all(np.all(np.isfinite(x)) for x in case.inputs):
            return False
        return differs(case, replay(case))
    return Divergence(candidates=(ONNXRUNTIME,), when=when, reason=ONNX_SELECT_REASON,
                      evidence=ONNX_SELECT_EVIDENCE)


def _elu_as_product(case):
    alpha = case.config.get("alpha", 1.0)
    y = np.asarray(case.expected[0], np.float64)
    if alpha == 1.0:
        return [y]
    x = np.asarray(case.inputs[0], np.float64)
    return [np.where(np.isposinf(x), np.nan, y)]      # inf * 1 + (alpha * inf) * 0


ONNX_ELU_SELECT = onnx_select(_elu_as_product)


def keras3_sum_on_onnx(inputs):
    """Keras 3 on TensorFlow adds an input with one axis longer than 1 as tf.nn.bias_add
    (specs/merge.py _keras3_tensorflow_sum); tf2onnx writes BiasAdd as Add and reshapes the
    bias to (C, 1, ...) for NCHW only when it is a constant, so a merge's input added along
    axis 1 broadcasts along the last axis instead."""
    arrays = merge.expand_ranks(inputs)
    total = arrays[0]
    for x in arrays[1:]:
        long = [d for d in x.shape if d > 1]
        if len(long) == 1 and long[0] in (total.shape[1], total.shape[-1]):
            total = total + x.reshape(-1)           # NHWC, or NCHW read as NHWC
        else:
            total = total + x
    return total


def _onnx_bias_add_differs(case):
    """Beyond the bound, or no sum: a bias read along the last axis does not broadcast."""
    if case.spec != "keras3" or not case.expected:
        return False
    with np.errstate(invalid="ignore", over="ignore"):
        try:
            total = keras3_sum_on_onnx(case.inputs)
        except ValueError:
            return True
        if case.layer.lower() == "average":
            total = total / len(case.inputs)
    return differs(case, [total])


ONNX_BIAS_ADD_NCHW = Divergence(
    candidates=(ONNXRUNTIME,), when=_onnx_bias_add_differs,
    reason="tf2onnx writes TensorFlow's BiasAdd as an ONNX Add and moves an NCHW bias to axis "
           "1 only when it is a constant; Keras 3 on TensorFlow adds a merge's input with one "
           "axis longer than 1 as such a bias (tf.nn.bias_add, NCHW when that axis is axis "
           "1), so onnxruntime adds it along the last axis (a different shape where that axis "
           "is 1; where it is neither 1 nor as long, onnxruntime refuses the model: an error)",
    evidence="tf2onnx 1.17 tf2onnx/onnx_opset/nn.py BiasAdd.version_7: for NCHW the bias is "
             "reshaped to [C, 1, ...] only if node.inputs[1].type == 'Const'; onnxruntime "
             "1.32: Average of four (1, 4, 1) gives shape (1, 4, 4) (Average-011; tf.keras: "
             "(1, 4, 1)). Add-live-000357cb: (1, 1, 1), (1, 4, 2), (1, 4, 1), ...: the sum "
             "(1, 4, 2) plus (1, 4, 1) is Add((1, 4, 2), (4,)), which onnxruntime refuses: "
             "\"Op (Add) [ShapeInferenceError] Incompatible dimensions\"")


# XNNPACK normalizes a vector of flushed squares to NaN ----------------------------------------

def _xnnpack_zero_norm(case):
    """Dot(normalize=True) where some vector's float32 sum of squares, each square below
    2^-126 flushed to 0 (XNNPACK runs with denormals flushed), is 0 or below 2^-126: the
    outputs reading it are NaN on XNNPACK, a number in the reference."""
    if not case.config.get("normalize") or not case.expected:
        return False
    ranks = tuple(np.ndim(x) for x in case.inputs)
    for x, axis in zip(case.inputs, merge.dot_axes(case.config["axes"], ranks)):
        with np.errstate(under="ignore", over="ignore", invalid="ignore"):
            squares = np.asarray(x, np.float32).astype(np.float64) ** 2
        squares = np.where(squares < 2.0 ** -126, 0.0, squares)
        if np.any(np.sum(squares, axis=axis) < 2.0 ** -126):
            return True
    return False


XNNPACK_ZERO_NORM = Divergence(
    candidates=(XNNPACK,), when=_xnnpack_zero_norm,
    reason="XNNPACK flushes squares below 2^-126 to 0, and the converted l2 normalization "
           "(SQUARE, SUM, RSQRT, MINIMUM, MUL) then gives NaN for a vector whose sum of "
           "squares is 0, where Keras floors it at epsilon (the reference gives x / 1e-6 "
           "and a tiny cosine)",
    evidence="ai-edge-litert 2.3.0: Dot(axes=1, normalize=True) on rows [1e-30, 2e-30], "
             "[0, 0], [1e-20, 1e-20], [3e-19, 0], [1e-23, 1e-23] against [1, 2]: litert "
             "(XNNPACK) gives [nan, nan, nan, 1.34e-12, nan], litert-builtin [2.24e-23, 0, "
             "1.34e-13, 1.34e-12, 1.34e-16] as the reference does; the squares of 1e-20 "
             "(1e-40) are subnormal")


# The convolutions' settings of _engines.activation_divergences --------------------------------

def _separable_logits_clamped(case):
    """SeparableConv2D's activation input as TFLite's builtin kernels compute it: the
    DEPTHWISE_CONV_2D output is clamped to +-FLT_MAX before the pointwise CONV_2D, so two
    infinities of opposite signs meet as finite numbers there instead of giving NaN. (Its
    3x3 kernel with depth_multiplier 1 also turns NaN into +FLT_MAX, as CONV_3D does: not
    replayed, no failing case needs it and 1x1 kernels keep NaN.)"""
    config = case.config
    data_format = config.get("data_format", "channels_last")
    depthwise_kernel, pointwise_kernel, *bias = (np.asarray(w, np.float64) for w in case.weights)
    x = to_channels_last(np.asarray(case.inputs[0], np.float64), data_format)
    with np.errstate(invalid="ignore", over="ignore"):
        d = clamp(depthwise(x, depthwise_kernel, as_tuple(config.get("strides", 1), 2, "strides"),
                            config.get("padding", "valid"),
                            as_tuple(config.get("dilation_rate", 1), 2, "dilation_rate")))
        z = np.tensordot(d, pointwise_kernel[0, 0], axes=(-1, 0))
        if bias:
            z = z + bias[0]
    return from_channels_last(z, data_format)


def _conv3d_nan_as_max(case):
    """Conv3D's activation input as TFLite's CONV_3D gives it: its clamp turns NaN into
    +FLT_MAX (Conv3D(1, 1), kernel 0.5, on [nan, 1, -inf, inf] gives [3.4028235e38, 0.5,
    -3.4028235e38, 3.4028235e38] on litert and litert-builtin alike)."""
    with np.errstate(invalid="ignore", over="ignore"):
        z = reference.conv(case.inputs[0], *case.weights,
                           **dict(case.config, activation=None, spec=case.spec))
    return np.where(np.isnan(z), FLT_MAX, z)


# TFLite's builtin kernels clamp a convolution's output before its activation, OpenVINO fuses
# the activation into the convolution; XNNPACK (litert) runs 1-D and 2-D convolutions without
# the clamp, has no Conv3D (CONV_3D clamps NaN to +FLT_MAX too), and leaves a "same"
# Conv2DTranspose to the builtin TRANSPOSE_CONV (Conv2DTranspose-007 on litert: 3.4028235e38
# for inf; the "valid" Conv2DTranspose-015, -037, -067 keep inf)
CONV_ENGINES = {"clamped_on": (BUILTIN,), "fused_on": (OPENVINO,)}
SEPARABLE_ENGINES = dict(CONV_ENGINES, logits_on={BUILTIN: _separable_logits_clamped})
CONV3D_ENGINES = {"clamped_on": LITERT, "fused_on": (OPENVINO,),
                  "logits_on": {XNNPACK: _conv3d_nan_as_max, BUILTIN: _conv3d_nan_as_max}}
TRANSPOSE_ENGINES = {"clamped_on": {XNNPACK: lambda case: case.config.get("padding") == "same",
                                    BUILTIN: lambda case: True},
                     "fused_on": (OPENVINO,)}


# OpenVINO's CPU plugin runs convolutions on oneDNN, as TensorFlow does ------------------------

ONEDNN_EVIDENCE = (
    "; openvino 2026.4.1 under Keras 3.15.1 (its CPU plugin computes convolutions with "
    "oneDNN): Conv2D-097 (Conv2D(2, 3), strides (1, 2), one input channel, batch 2, an output "
    "one column wide) gives [-0.849, -0.0194] where the reference gives [-1.177, 0.518]; "
    "SeparableConv2D-092 (depth_multiplier 3, strides (1, 2)) gives 0.255 for 1.295")
OPENVINO_ONEDNN_CONV2D = dataclasses.replace(
    TF_ONEDNN_CONV2D, candidates=(OPENVINO,),
    reason=TF_ONEDNN_CONV2D.reason + "; OpenVINO's CPU plugin runs the same oneDNN convolution",
    evidence=TF_ONEDNN_CONV2D.evidence + ONEDNN_EVIDENCE)
OPENVINO_ONEDNN_DEPTHWISE = dataclasses.replace(
    TF_ONEDNN_DEPTHWISE, candidates=(OPENVINO,),
    reason=TF_ONEDNN_DEPTHWISE.reason + "; OpenVINO's CPU plugin runs the same oneDNN kernel",
    evidence=TF_ONEDNN_DEPTHWISE.evidence + ONEDNN_EVIDENCE)
