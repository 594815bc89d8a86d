"""Planted faulty candidates: the reference with one fault each. The suite must catch every
fault in the right layer's cells and nowhere else."""
import os
import signal
import time

import numpy as np

import reference
from conformance.candidates import ReferenceCandidate
from reference.padding import pad_amounts, span


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
        x = case.inputs[0]
        right = span(config["kernel_size"], config["dilation_rate"]) - 1
        config["padding"] = "valid"
        return [reference.conv(np.pad(x, [(0, 0), (0, right), (0, 0)]), *case.weights, **config)]


class AveragePoolingCountsPadding(Planted):
    """AveragePooling1D "same" divides by the full window, counting the padded zeros."""
    layer = "AveragePooling1D"

    def faulty(self, case):
        config = dict(case.config)
        if config["padding"] != "same":
            return self.correct(case)
        x = reference.layout.to_channels_last(np.asarray(case.inputs[0], np.float64),
                                              config["data_format"])
        strides = config["strides"] or config["pool_size"]
        before, after = pad_amounts(x.shape[1], config["pool_size"], strides, 1, "same")
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
        return "no masks in this engine" if case.layer == "Lambda" and case.config["mask"] else True
