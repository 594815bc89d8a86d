"""Planted faulty BatchNormalization candidates: the reference with one fault each, with
observe(), so that the moving statistics after a training call are judged as well as the
outputs (tests/planted.py has the other layers' faults). They target the keras3 spec."""
import numpy as np

from conformance.candidates import ReferenceCandidate
from reference.normalization import batch_statistics, feature_axis, split_weights
from tests.planted import Planted


def faulty_batch_normalization(case, *, epsilon_outside=False, batch_at_inference=False,
                               momentum_flipped=False, unbiased_variance=False):
    """([y], weights after the call) of Keras 3's BatchNormalization with the named fault:
    epsilon_outside: y = (x - mean) / (sqrt(variance) + epsilon) * gamma + beta;
    batch_at_inference: inference normalizes with the batch's statistics (and moves nothing);
    momentum_flipped: moving' = moving * (1 - momentum) + batch * momentum;
    unbiased_variance: the moving variance takes the unbiased batch variance (n - 1) where
    Keras 3 takes the biased one (n)."""
    config = case.config
    x = np.asarray(case.inputs[0], np.float64)
    axis = feature_axis(config.get("axis", -1), x.ndim)
    center, scale = config.get("center", True), config.get("scale", True)
    momentum, epsilon = config.get("momentum", 0.99), config.get("epsilon", 1e-3)
    gamma, beta, moving_mean, moving_variance = split_weights(case.weights, center, scale,
                                                              x.shape[axis])
    training = bool(case.call_kwargs.get("training")) and config.get("trainable", True)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        mean, variance, n = batch_statistics(x, axis)
        if training:
            folded = variance * n / max(n - 1, 1) if unbiased_variance else variance
            keep = 1 - momentum if momentum_flipped else momentum
            moving_mean = moving_mean * keep + mean * (1 - keep)
            moving_variance = moving_variance * keep + folded * (1 - keep)
        elif not batch_at_inference:
            mean, variance = moving_mean, moving_variance
        shape = [1] * x.ndim
        shape[axis] = -1
        mean, variance = mean.reshape(shape), variance.reshape(shape)
        scaled = (np.sqrt(variance) + epsilon if epsilon_outside
                  else np.sqrt(variance + epsilon))
        y = (x - mean) / scaled * gamma.reshape(shape) + beta.reshape(shape)
    return [y], [gamma] * scale + [beta] * center + [moving_mean, moving_variance]


class _BatchNormalizationFault(Planted):
    layer = "BatchNormalization"
    fault = {}

    def faulty(self, case):
        return faulty_batch_normalization(case, **self.fault)[0]

    def observe(self, case):
        if case.layer != self.layer:
            return ReferenceCandidate.observe(self, case)
        outputs, weights = faulty_batch_normalization(case, **self.fault)
        return {"outputs": outputs, "weights": weights}


class EpsilonOutsideTheSquareRoot(_BatchNormalizationFault):
    """y = (x - mean) / (sqrt(variance) + epsilon) * gamma + beta."""
    fault = {"epsilon_outside": True}


class InferenceWithBatchStatistics(_BatchNormalizationFault):
    """At inference the layer normalizes with the batch's own mean and variance."""
    fault = {"batch_at_inference": True}


class MomentumFlipped(_BatchNormalizationFault):
    """moving' = moving * (1 - momentum) + batch * momentum (PyTorch's convention read as
    Keras's)."""
    fault = {"momentum_flipped": True}


class UnbiasedMovingVariance(_BatchNormalizationFault):
    """The moving variance takes the unbiased batch variance, sum / (n - 1), where Keras 3
    takes the biased one, sum / n (tf_keras's fused kernel does this; Keras 3 never)."""
    fault = {"unbiased_variance": True}


class WithoutObserve(ReferenceCandidate):
    """The reference without observe(): a candidate that cannot show weights or losses."""
    observe = None

    def __init__(self):
        super().__init__("keras3")
        self.name = "reference-without-observe"
