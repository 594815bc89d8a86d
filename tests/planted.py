"""Planted faulty candidates: the reference with one fault each. The suite must catch every
fault in the right layer's cells and nowhere else."""
import os
import signal
import time

import numpy as np

import reference
from conformance.candidates import ReferenceCandidate
from reference.activations import activation
from reference.padding import as_tuple, pad_amounts, span


class Planted(ReferenceCandidate):
    """The reference, except for `layer`, where `faulty(case)` answers."""
    layer = None

    def __init__(self):
        super().__init__("keras3")
        self.name = f"planted-{type(self).__name__}"

    def run(self, case):
        return self.faulty(case) if case.layer == self.layer else self.correct(case)

    def correct(self, case):
        return ReferenceCandidate.run(self, case)


class CausalPaddingOnTheRight(Planted):
    """Conv1D "causal" padding added after the sequence instead of before it."""
    layer = "Conv1D"

    def faulty(self, case):
        config = dict(case.config)
        if config["padding"] != "causal":
            return self.correct(case)
        data_format = config.get("data_format", "channels_last")
        x = reference.layout.to_channels_last(np.asarray(case.inputs[0]), data_format)
        right = span(as_tuple(config["kernel_size"], 1, "k")[0],
                     as_tuple(config["dilation_rate"], 1, "d")[0]) - 1
        config.update(padding="valid", data_format="channels_last")
        y = reference.conv(np.pad(x, [(0, 0), (0, right), (0, 0)]), *case.weights, **config)
        return [reference.layout.from_channels_last(y, data_format)]


class AveragePoolingCountsPadding(Planted):
    """AveragePooling1D "same" divides by the full window, counting the padded zeros."""
    layer = "AveragePooling1D"

    def faulty(self, case):
        config = dict(case.config)
        if config["padding"] != "same":
            return self.correct(case)
        x = reference.layout.to_channels_last(np.asarray(case.inputs[0], np.float64),
                                              config["data_format"])
        pool = as_tuple(config["pool_size"], 1, "pool_size")[0]
        strides = pool if config["strides"] is None else as_tuple(config["strides"], 1, "s")[0]
        before, after = pad_amounts(x.shape[1], pool, strides, 1, "same")
        x = np.pad(x, [(0, 0), (before, after), (0, 0)])
        y = reference.average_pooling(x, **dict(config, padding="valid", data_format="channels_last"))
        return [reference.layout.from_channels_last(y, config["data_format"])]


class DenseWithoutBias(Planted):
    """Dense drops its bias."""
    layer = "Dense"

    def faulty(self, case):
        x, kernel = case.inputs[0], case.weights[0]
        return [reference.dense(x, kernel, **dict(case.config, use_bias=False))]


class PermuteZeroBased(Planted):
    """Permute reads dims as 0-based axes of the whole tensor, batch axis included."""
    layer = "Permute"

    def faulty(self, case):
        dims = case.config["dims"]
        x = np.asarray(case.inputs[0], np.float64)
        return [np.transpose(x, (*[d - 1 for d in dims], len(dims)))]


class DropoutAtInference(Planted):
    """Dropout drops (and rescales) even with training=False."""
    layer = "Dropout"

    def faulty(self, case):
        if case.call_kwargs.get("training"):
            return self.correct(case)
        rate = case.config["rate"]
        x = np.asarray(case.inputs[0], np.float64)
        keep = np.random.default_rng(0).random(x.shape) >= rate
        return [x * keep / (1.0 - rate) if rate < 1 else 0 * x]


class DenseOffInOneElement(Planted):
    """Dense off by a relative 1e-4 in its largest output element."""
    layer = "Dense"

    def faulty(self, case):
        y = np.array(self.correct(case)[0])
        index = np.unravel_index(np.argmax(np.abs(y)), y.shape)
        y[index] *= 1 + 1e-4
        return [y]


class CrashesOnFlatten(Planted):
    """The candidate's process dies (SIGSEGV) on Flatten."""
    layer = "Flatten"

    def faulty(self, case):
        os.kill(os.getpid(), signal.SIGSEGV)


class HangsOnReshape(Planted):
    """The candidate never answers on Reshape."""
    layer = "Reshape"

    def faulty(self, case):
        time.sleep(3600)


class NaNOnMasking(Planted):
    """Masking returns NaN everywhere."""
    layer = "Masking"

    def faulty(self, case):
        return [np.full(np.shape(case.inputs[0]), np.nan)]


class RaisesOnRepeatVector(Planted):
    """The candidate raises on RepeatVector."""
    layer = "RepeatVector"

    def faulty(self, case):
        raise RuntimeError("RepeatVector is not implemented in this engine")


class WrongShapeOnFlatten(Planted):
    """Flatten returns the input unflattened."""
    layer = "Flatten"

    def faulty(self, case):
        return [np.asarray(case.inputs[0], np.float64)]


class TwoOutputsOnActivation(Planted):
    """Activation returns its output twice."""
    layer = "Activation"

    def faulty(self, case):
        y = self.correct(case)[0]
        return [y, y]


class SkipsLambda(Planted):
    """Declares Lambda unsupported."""

    def supports(self, case):
        return True if case.layer != "Lambda" else "this engine has no Python callables"


class BrokenConstructor:
    """A candidate whose constructor raises."""
    name, spec = "broken", "keras3"

    def __init__(self):
        raise RuntimeError("no GPU driver found")


class SkipsLambdaWithMask(Planted):
    """Supports Lambda, except when the layer emits a mask."""

    def supports(self, case):
        return "no masks in this engine" if case.layer == "Lambda" and case.config.get("mask") else True


# Faults at the edges of the input regimes (conformance/regimes.py) -----------------------------

def _float32(x):
    return np.asarray(x, np.float32)


class SoftmaxWithoutMaxShift(Planted):
    """Activation softmax as exp(x) / sum(exp(x)) in float32, without subtracting the max."""
    layer = "Activation"

    def faulty(self, case):
        if case.config["activation"] != "softmax":
            return self.correct(case)
        with np.errstate(all="ignore"):
            e = np.exp(_float32(case.inputs[0]))
            return [e / np.sum(e, axis=-1, keepdims=True)]


class SoftplusLog1pExp(Planted):
    """Activation softplus as log(1 + exp(x)) in float32."""
    layer = "Activation"

    def faulty(self, case):
        if case.config["activation"] != "softplus":
            return self.correct(case)
        with np.errstate(all="ignore"):
            return [np.log(np.float32(1) + np.exp(_float32(case.inputs[0])))]


class ExponentialNaNOnOverflow(Planted):
    """Activation exponential returns NaN where float32 exp overflows."""
    layer = "Activation"

    def faulty(self, case):
        y = self.correct(case)[0]
        if case.config["activation"] != "exponential":
            return [y]
        with np.errstate(all="ignore"):
            y32 = np.exp(_float32(case.inputs[0]))
        return [np.where(np.isinf(y32) & ~np.isinf(_float32(case.inputs[0])), np.nan, y)]


class MaxPoolingPadsWithZero(Planted):
    """MaxPooling1D "same" pads its windows with 0 instead of ignoring the padding."""
    layer = "MaxPooling1D"

    def faulty(self, case):
        config = dict(case.config)
        if config["padding"] != "same":
            return self.correct(case)
        x = reference.layout.to_channels_last(np.asarray(case.inputs[0], np.float64),
                                              config["data_format"])
        pool = as_tuple(config["pool_size"], 1, "pool_size")[0]
        strides = pool if config["strides"] is None else as_tuple(config["strides"], 1, "s")[0]
        before, after = pad_amounts(x.shape[1], pool, strides, 1, "same")
        x = np.pad(x, [(0, 0), (before, after), (0, 0)])
        y = reference.max_pooling(x, **dict(config, padding="valid", data_format="channels_last"))
        return [reference.layout.from_channels_last(y, config["data_format"])]


class DenseFloat16Accumulation(Planted):
    """Dense computes its products and sums in float16."""
    layer = "Dense"

    def faulty(self, case):
        x = np.asarray(case.inputs[0], np.float16)
        kernel = np.asarray(case.weights[0], np.float16)
        with np.errstate(all="ignore"):
            z = np.zeros((*x.shape[:-1], kernel.shape[1]), np.float16)
            for i in range(kernel.shape[0]):
                z = (z + x[..., i:i + 1] * kernel[i]).astype(np.float16)
            if len(case.weights) > 1:
                z = (z + np.asarray(case.weights[1], np.float16)).astype(np.float16)
        f = reference.activation(case.config["activation"], case.spec)
        return [f(z.astype(np.float64))]


class SoftmaxDropsVeryNegativeLogit(Planted):
    """Activation softmax that, in a row whose first logit is very negative (50 or more below
    the row's max), answers 0 there and shares the rest equally: [0, 0.5, 0.5]."""
    layer = "Activation"

    def faulty(self, case):
        y = np.array(self.correct(case)[0])
        if case.config["activation"] != "softmax":
            return [y]
        x = np.asarray(case.inputs[0], np.float64)
        rows = (x[..., 0] <= np.max(x, axis=-1) - 50) & np.isfinite(np.max(x, axis=-1))
        if x.shape[-1] > 1:
            y[rows] = 1.0 / (x.shape[-1] - 1)
            y[..., 0][rows] = 0.0
        return [y]


class AveragePooling2DCountsPadding(Planted):
    """AveragePooling2D "same" divides by the full window, counting the padded zeros."""
    layer = "AveragePooling2D"

    def faulty(self, case):
        config = dict(case.config)
        if config["padding"] != "same":
            return self.correct(case)
        x = reference.layout.to_channels_last(np.asarray(case.inputs[0], np.float64),
                                              config["data_format"])
        pool = as_tuple(config["pool_size"], 2, "pool_size")
        strides = pool if config["strides"] is None else as_tuple(config["strides"], 2, "s")
        pads = [pad_amounts(n, p, s, 1, "same") for n, p, s in zip(x.shape[1:3], pool, strides)]
        x = np.pad(x, [(0, 0), *pads, (0, 0)])
        y = reference.average_pooling(x, **dict(config, padding="valid",
                                                data_format="channels_last"))
        return [reference.layout.from_channels_last(y, config["data_format"])]


class Cropping3DAxesReversed(Planted):
    """Cropping3D applies the per-axis croppings in reverse axis order."""
    layer = "Cropping3D"

    def faulty(self, case):
        pairs = reference.padding.per_axis_pairs(case.config["cropping"], 3, "cropping")
        config = dict(case.config, cropping=[list(p) for p in reversed(pairs)])
        try:
            return [reference.cropping(case.inputs[0], **config)]
        except ValueError:              # the reversed cropping removes everything
            return [np.zeros((0,))]


class BilinearWithoutHalfPixelCentres(Planted):
    """UpSampling2D bilinear maps output t to input t / size (no half-pixel centres)."""
    layer = "UpSampling2D"

    def faulty(self, case):
        config = case.config
        if config["interpolation"] != "bilinear":
            return self.correct(case)
        x = reference.layout.to_channels_last(np.asarray(case.inputs[0], np.float64),
                                              config["data_format"])
        for axis, s in enumerate(as_tuple(config["size"], 2, "size")):
            n = x.shape[axis + 1]
            where = np.minimum(np.arange(n * s) / s, n - 1)
            low = np.floor(where).astype(int)
            high = np.minimum(low + 1, n - 1)
            w = (where - low).reshape([-1 if a == axis + 1 else 1 for a in range(x.ndim)])
            with np.errstate(invalid="ignore"):
                x = np.take(x, low, axis=axis + 1) * (1 - w) + np.take(x, high, axis=axis + 1) * w
        return [reference.layout.from_channels_last(x, config["data_format"])]


class Conv3DDilationIgnoredOnOneAxis(Planted):
    """Conv3D ignores the dilation of its second spatial axis."""
    layer = "Conv3D"

    def faulty(self, case):
        dilation = list(as_tuple(case.config["dilation_rate"], 3, "dilation_rate"))
        if dilation[1] == 1:
            return self.correct(case)
        dilation[1] = 1
        try:
            return [reference.conv(case.inputs[0], *case.weights,
                                   **dict(case.config, dilation_rate=dilation))]
        except ValueError:
            return [np.zeros((0,))]


class MaxPooling2DReadsChannelsFirstAsLast(Planted):
    """MaxPooling2D pools a channels_first input as if it were channels_last."""
    layer = "MaxPooling2D"

    def faulty(self, case):
        if case.config["data_format"] != "channels_first":
            return self.correct(case)
        try:
            return [reference.max_pooling(case.inputs[0], **dict(
                case.config, data_format="channels_last"))]
        except ValueError:
            return [np.zeros((0,))]


class Conv2DSamePadsTheExtraRowFirst(Planted):
    """Conv2D "same" with an odd padding total puts the extra row (column) before the input
    instead of after it."""
    layer = "Conv2D"

    def faulty(self, case):
        config = dict(case.config)
        if config["padding"] != "same":
            return self.correct(case)
        data_format = config.get("data_format", "channels_last")
        x = reference.layout.to_channels_last(np.asarray(case.inputs[0]), data_format)
        kernel = as_tuple(config["kernel_size"], 2, "k")
        strides = as_tuple(config["strides"], 2, "s")
        dilation = as_tuple(config["dilation_rate"], 2, "d")
        pads = [pad_amounts(x.shape[1 + a], kernel[a], strides[a], dilation[a], "same")[::-1]
                for a in range(2)]
        x = np.pad(x, [(0, 0), *pads, (0, 0)])
        # the activation after the layout goes back: softmax runs over the last axis of the
        # layer's own output (the width, channels_first)
        z = reference.conv(x, *case.weights, **dict(config, padding="valid", activation=None,
                                                    data_format="channels_last"))
        z = reference.layout.from_channels_last(z, data_format)
        return [activation(config.get("activation"), case.spec)(z)]


class Conv2DTransposeShiftedByOnePixel(Planted):
    """Conv2DTranspose output shifted down by one row (rolled along the first spatial axis)."""
    layer = "Conv2DTranspose"

    def faulty(self, case):
        y, = self.correct(case)
        axis = 2 if case.config.get("data_format") == "channels_first" else 1
        return [np.roll(y, 1, axis=axis)]


class Conv2DTransposeIgnoresOutputPadding(Planted):
    """Conv2DTranspose computes as if output_padding were None."""
    layer = "Conv2DTranspose"

    def faulty(self, case):
        return [reference.conv_transpose(case.inputs[0], *case.weights,
                                         **dict(case.config, output_padding=None))]


class SeparableConv2DGroupsChannels(Planted):
    """SeparableConv2D orders the depthwise outputs grouped by multiplier (m * C + c) instead
    of interleaved (c * M + m) before the pointwise step."""
    layer = "SeparableConv2D"

    def faulty(self, case):
        depthwise, pointwise, *bias = case.weights
        channels, multiplier = depthwise.shape[2:]
        grouped = np.arange(channels * multiplier).reshape(multiplier, channels).T.ravel()
        # the pointwise row the faulty port applies to depthwise output c * M + m is m * C + c
        return [reference.separable_conv2d(case.inputs[0], depthwise, pointwise[:, :, grouped],
                                           *bias, **case.config)]


class GlobalAveragePooling1DIgnoresMask(Planted):
    """GlobalAveragePooling1D averages every step, masked or not."""
    layer = "GlobalAveragePooling1D"

    def faulty(self, case):
        return [reference.global_average_pooling(case.inputs[0], **case.config)]


class LocallyConnectedBiasTransposed(Planted):
    """LocallyConnected1D adds a channels_first bias transposed ((L, F) -> (F, L)) where
    tf_keras reshapes it."""
    layer = "LocallyConnected1D"

    def __init__(self):
        ReferenceCandidate.__init__(self, "keras2")
        self.name = "planted-LocallyConnectedBiasTransposed"

    def faulty(self, case):
        config = case.config
        if config["data_format"] != "channels_first" or not config["use_bias"]:
            return self.correct(case)
        kernel, bias = case.weights
        filters, length = bias.shape[1], bias.shape[0]
        # the reference reads bias.reshape(F, L); hand it the array whose reshape is bias.T
        return [reference.locally_connected(case.inputs[0], kernel,
                                            bias.T.reshape(length, filters), **config)]


def _training_or_stateful(case):
    """A random output (training) or two calls (stateful): these faults are planted in the
    plain single call only (tests/planted_recurrent.py plants faults in the others)."""
    return bool(case.call_kwargs.get("training") or case.config.get("stateful"))


def _swap_blocks(w, units, a, b):
    """w with its gate column blocks a and b swapped (last axis, blocks of `units`)."""
    w = np.array(w)
    first, second = w[..., a * units:(a + 1) * units].copy(), w[..., b * units:(b + 1) * units].copy()
    w[..., a * units:(a + 1) * units], w[..., b * units:(b + 1) * units] = second, first
    return w


class LSTMGatesICFO(Planted):
    """LSTM reads its gate blocks in the order i, c, f, o (Keras: i, f, c, o)."""
    layer = "LSTM"

    def faulty(self, case):
        if _training_or_stateful(case):
            return self.correct(case)
        units = case.config["units"]
        weights = [_swap_blocks(w, units, 1, 2) for w in case.weights]
        return reference.lstm(case.inputs[0], *weights, **case.call_kwargs, **case.config)


class GoBackwardsNotReversed(Planted):
    """SimpleRNN with go_backwards returns its sequence in time order, not processing order."""
    layer = "SimpleRNN"

    def faulty(self, case):
        outputs = self.correct(case)
        if case.config.get("go_backwards") and case.config.get("return_sequences"):
            outputs[0] = np.flip(outputs[0], axis=1)
        return outputs


class GRUResetBeforeMatmul(Planted):
    """GRU with reset_after=True applies the reset gate before the recurrent matmul (the
    reset_after=False formula, both bias rows added)."""
    layer = "GRU"

    def faulty(self, case):
        if not case.config.get("reset_after", True) or _training_or_stateful(case):
            return self.correct(case)
        kernel, recurrent_kernel, *bias = case.weights
        config = dict(case.config, reset_after=False)
        merged = [bias[0][0] + bias[0][1]] if bias else []
        return reference.gru(case.inputs[0], kernel, recurrent_kernel, *merged,
                             **case.call_kwargs, **config)

