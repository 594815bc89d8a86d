"""TFLite's builtin kernels (litert-builtin) where they part from IEEE arithmetic beyond the
clamp of _engines.clamp: DEPTHWISE_CONV_2D stores the tail of each output row one value at
a time with std::max(min, std::min(max, acc)), which turns NaN into the top of its
activation range, and MINIMUM is el1 < el2 ? el1 : el2, which turns NaN into the other
operand (ReLU's clip to max_value). Each replayed in NumPy on the case."""
import dataclasses

import numpy as np

from conformance.elements import error_ratio
from conformance.spec import Divergence
from conformance.specs._engine_ops import BUILTIN_CLAMP_EVIDENCE, BUILTIN_CLAMPED_REPLAY
from conformance.specs._engines import BUILTIN, FLT_MAX, clamp, off
from reference.conv import depthwise
from reference.layout import from_channels_last, to_channels_last
from reference.padding import as_tuple

# DEPTHWISE_CONV_2D's accumulator: kAccBufferMaxSize floats, as many whole output pixels of a
# row as fit (tensorflow/lite/kernels/internal/optimized/depthwiseconv_float.h)
ACC_BUFFER = 4832


def scalar_tail(shape):
    """Which values of a DEPTHWISE_CONV_2D output (N, H, W, D) the kernel stores one by one:
    per output row and accumulator chunk, the last (pixels * D) % 4 values (the rest go
    through the 16- and 4-wide vmaxq_f32/vminq_f32 loops, which x86 builds run with
    NEON_2_SSE's minps/maxps and which keep NaN)."""
    _, _, width, depth = shape
    pixels = max(ACC_BUFFER // depth, 1)
    row = np.zeros(width * depth, bool)
    for start in range(0, width, pixels):
        stop = min(width, start + pixels)
        tail = (stop - start) * depth % 4
        row[stop * depth - tail:stop * depth] = True
    return np.broadcast_to(row.reshape(width, depth), shape)


def builtin_depthwise(z):
    """DEPTHWISE_CONV_2D's output (no fused activation) for the exact sums z (N, H, W, D):
    clamped to +-FLT_MAX, and NaN in the scalar tail +FLT_MAX. A fused activation clamps
    NaN there to its own top instead (RELU6: 6), which the activation of +FLT_MAX gives."""
    z = clamp(z)
    return np.where(scalar_tail(z.shape) & np.isnan(z), FLT_MAX, z)


def _decomposed(case):
    """Keras 3 runs strides and dilation > 1 together as a dilated stride-1 convolution and a
    slice (its rows are then not the output's): not replayed."""
    config = case.config
    return (np.any(np.asarray(config.get("strides", 1)) > 1)
            and np.any(np.asarray(config.get("dilation_rate", 1)) > 1))


def depthwise_logits(logits_of):
    """logits_of for litert-builtin of a DepthwiseConv1D/2D whose exact activation input is
    logits_of(case): builtin_depthwise on it, a 1-D one as a row of height 1."""
    def logits(case):
        z = logits_of(case)
        if _decomposed(case):
            return z
        data_format = case.config.get("data_format", "channels_last")
        last = to_channels_last(np.asarray(z, np.float64), data_format)
        rows = last if last.ndim == 4 else last[:, None]
        return from_channels_last(builtin_depthwise(rows).reshape(last.shape), data_format)
    return logits


def separable_logits(case):
    """SeparableConv2D's activation input as TFLite's builtin kernels compute it: the
    DEPTHWISE_CONV_2D output (builtin_depthwise: clamped, NaN in its scalar tail +FLT_MAX)
    goes into the pointwise CONV_2D, so two infinities of opposite signs meet as finite
    numbers there instead of giving NaN."""
    config = case.config
    data_format = config.get("data_format", "channels_last")
    depthwise_kernel, pointwise_kernel, *bias = (np.asarray(w, np.float64) for w in case.weights)
    x = to_channels_last(np.asarray(case.inputs[0], np.float64), data_format)
    with np.errstate(invalid="ignore", over="ignore"):
        d = depthwise(x, depthwise_kernel, as_tuple(config.get("strides", 1), 2, "strides"),
                      config.get("padding", "valid"),
                      as_tuple(config.get("dilation_rate", 1), 2, "dilation_rate"))
        d = clamp(d) if _decomposed(case) else builtin_depthwise(d)
        z = np.tensordot(d, pointwise_kernel[0, 0], axes=(-1, 0))
        if bias:
            z = z + bias[0]
    return from_channels_last(z, data_format)


DEPTHWISE_TAIL_REASON = (
    "TFLite's builtin DEPTHWISE_CONV_2D stores the last (W * channels) % 4 values of each "
    "output row one by one as max(min, min(max, acc)) with std::min and std::max, which "
    "gives the top of the range for NaN: +FLT_MAX (6 with a fused relu6, so hard_sigmoid "
    "gives 1), where the rest of the row keeps NaN")
DEPTHWISE_TAIL_EVIDENCE = (
    "tensorflow/lite/kernels/internal/optimized/depthwiseconv_float.h DepthwiseConv, 'Handle "
    "leftover values, one by one': acc = std::max(output_activation_min, "
    "std::min(output_activation_max, acc)) (std::min(max, NaN) returns max); the 16- and "
    "4-wide loops before it use vminq_f32/vmaxq_f32 (NEON_2_SSE minps/maxps on x86, which "
    "return the NaN). ai-edge-litert 2.3.0 with BUILTIN_WITHOUT_DEFAULT_DELEGATES, "
    "DepthwiseConv2D(1) with weights 1 on NaN everywhere: an output (1, 2, 5, 3) gives NaN "
    "in the first 12 values of each row and 3.4028235e38 in the last 3, (2, 1, 7, 1) 4 NaN "
    "then 3, (1, 2, 9, 1) 8 then 1, (1, 1, 3, 2) with depth_multiplier 2 NaN in all 12; "
    "activation relu6 gives 6 there, kernel 3 and 4 threads the same. DepthwiseConv1D-005 "
    "and DepthwiseConv2D-005 (hard_sigmoid: the converter fuses relu6 into the kernel) give "
    "1 for NaN, DepthwiseConv2D-059 (tanh) and -062 (sigmoid) 1, DepthwiseConv1D-082 "
    "(exponential) inf, SeparableConv2D-017 (DEPTHWISE_CONV_2D gives 3.4028235e38 in all "
    "four values, CONV_2D -2.19e38, elu -1)")


def depthwise_tail_divergence(logits_of, tail_logits_of):
    """litert-builtin's divergence where the scalar tail of DEPTHWISE_CONV_2D turns a NaN of
    the layer's activation input into +FLT_MAX: tail_logits_of(case) (the engine's activation
    input) has a number where logits_of(case) (the exact one) is NaN, and the activation of
    it lands beyond the bound (_engines.off, the builtin kernels' clamp included)."""
    def when(case):
        if not case.expected or np.all(np.isfinite(case.inputs[0])):
            return False
        with np.errstate(invalid="ignore", over="ignore"):
            exact, tail = logits_of(case), tail_logits_of(case)
        if np.shape(exact) != np.shape(tail) or not np.any(np.isnan(exact) & ~np.isnan(tail)):
            return False
        return off(BUILTIN, case.config.get("activation"), tail, case.expected[0],
                   case.bounds[0], case.spec, clamped=True)
    return Divergence(candidates=(BUILTIN,), when=when, reason=DEPTHWISE_TAIL_REASON,
                      evidence=DEPTHWISE_TAIL_EVIDENCE)


MINIMUM_REASON = (
    "TFLite's builtin MINIMUM is el1 < el2 ? el1 : el2, so ReLU's clip to max_value "
    "(MINIMUM, then RELU) gives max_value for NaN where IEEE arithmetic gives NaN")
MINIMUM_EVIDENCE = (
    "tensorflow/lite/kernels/maximum_minimum.cc MinimumOp (el1 < el2 ? el1 : el2); "
    "keras/src/activations/activations.py ReLU.static_call clips with max_value other than 6 "
    "(relu6 otherwise) after relu, or after where(x > threshold, x, 0), which gives 0 for "
    "NaN. ai-edge-litert 2.3.0: ReLU(max_value=0) on [nan, inf, -inf, 2, 7, -1] is RELU, "
    "MINIMUM, RELU and gives [0, 0, 0, 0, 0, 0] on litert-builtin, [nan, 0, 0, 0, 0, 0] on "
    "litert (XNNPACK) and in the reference (ReLU-022); max_value=1 gives 1 for NaN; "
    "max_value=6 is RELU6, NaN for NaN; with negative_slope 0.1 the SUB of the negative "
    "part keeps NaN")


def _relu_minimum_replay(case):
    """ReLU's output with TFLite's MINIMUM: NaN where the input is NaN becomes max_value when
    Keras clips (max_value other than 6, or a threshold) and adds no negative part."""
    config = case.config
    max_value, slope = config.get("max_value"), config.get("negative_slope", 0.0)
    y = np.asarray(case.expected[0], np.float64)
    clips = max_value is not None and (max_value != 6 or config.get("threshold", 0.0) != 0)
    if not clips or slope:
        return y
    x = np.asarray(case.inputs[0], np.float64)
    return np.where(np.isnan(x) & np.isnan(y), float(np.float32(max_value)), y)


def _relu_minimum_differs(case):
    if not case.expected or not np.isnan(case.inputs[0]).any():
        return False
    return bool(np.any(error_ratio(case.expected[0], case.bounds[0],
                                   _relu_minimum_replay(case)) > 1))


BUILTIN_RELU_MINIMUM = Divergence(candidates=(BUILTIN,), when=_relu_minimum_differs,
                                  reason=MINIMUM_REASON, evidence=MINIMUM_EVIDENCE)


# The reverse projection is one FULLY_CONNECTED (its soft cap a TANH between two MULs), which
# the builtin kernels clamp: an infinite logit is +-FLT_MAX on litert-builtin (the lookup, a
# GATHER, does not clamp: an infinite table row there is converter_constants')
BUILTIN_CLAMPED_REVERSE = dataclasses.replace(
    BUILTIN_CLAMPED_REPLAY,
    when=lambda case: bool(case.call_kwargs.get("reverse")) and BUILTIN_CLAMPED_REPLAY.when(case),
    evidence=BUILTIN_CLAMP_EVIDENCE + "; ReversibleEmbedding(3, 4, tie_weights=False) called "
             "with reverse=True converts to one FULLY_CONNECTED: on [inf, 1, 1, 1] with a "
             "reverse kernel of 0.5 litert-builtin gives 3.4028235e38 in every logit, litert "
             "(XNNPACK) inf; ReversibleEmbedding-live-00000d0e (found by the live property "
             "test) gives +-3.4028235e38 where the reference gives +-inf")
