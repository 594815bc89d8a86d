"""Planted faulty BatchNormalization candidates: the reference with one fault each, with
observe(), so that the moving statistics after a training call are judged as well as the
outputs (tests/planted.py has the other layers' faults). They target the keras3 spec, except
the faults of tf_keras's list axes (Keras 3 refuses a list axis), which target keras2."""
import numpy as np

from conformance.candidates import ReferenceCandidate
from reference.normalization import (batch_statistics, broadcast_shape, feature_axes, fused_path,
                                     split_weights, weight_shape)
from tests.planted import Planted


def listed_axes(config, rank):
    """The config's axes in the order the list gives them, non-negative."""
    axis = config.get("axis", -1)
    return [a % rank for a in (axis if isinstance(axis, list) else [axis])]


def in_list_order(weight, listed, shape):
    """A weight of a list axis read as an array over the listed axes in the list's order
    (e.g. (C3, C1) for axis [3, 1]) where tf_keras lays it out in the axes' order (1, C1, 1,
    C3), then laid back on x's axes: the same values, scrambled wherever the list is not
    ascending."""
    read = weight.reshape([shape[a] for a in listed])
    return np.transpose(read, np.argsort(listed)).reshape(broadcast_shape(listed, shape))


def faulty_batch_normalization(case, *, epsilon_outside=False, batch_at_inference=False,
                               momentum_flipped=False, unbiased_variance=False,
                               first_listed_axis=False, list_order=False):
    """([y], weights after the call) of the case's BatchNormalization (Keras 3's, or tf_keras's
    for a keras2 case) with the named fault:
    epsilon_outside: y = (x - mean) / (sqrt(variance) + epsilon) * gamma + beta;
    batch_at_inference: inference normalizes with the batch's statistics (and moves nothing);
    momentum_flipped: moving' = moving * (1 - momentum) + batch * momentum;
    unbiased_variance: the moving variance takes the unbiased batch variance (n - 1) where
    Keras 3 takes the biased one (n);
    first_listed_axis: a list axis's batch statistics are taken over every axis but the first
    one listed (the other listed axes reduced too);
    list_order: gamma and beta of a list axis are read in the list's order (in_list_order)."""
    config = case.config
    x = np.asarray(case.inputs[0], np.float64)
    listed = listed_axes(config, x.ndim)
    axes = feature_axes(config.get("axis", -1), x.ndim)
    center, scale = config.get("center", True), config.get("scale", True)
    momentum, epsilon = config.get("momentum", 0.99), config.get("epsilon", 1e-3)
    fused = fused_path(config.get("axis", -1), x.ndim, config.get("fused"), case.spec)
    shape, view = weight_shape(axes, x.shape), broadcast_shape(axes, x.shape)
    weights = split_weights(case.weights, center, scale, shape)
    gamma, beta, moving_mean, moving_variance = (w.reshape(view) for w in weights)
    if list_order and len(listed) > 1:
        gamma, beta = (in_list_order(w, listed, x.shape) for w in (gamma, beta))
    training = bool(case.call_kwargs.get("training")) and config.get("trainable", True)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        mean, variance, n = batch_statistics(x, listed[:1] if first_listed_axis else axes)
        if training:
            folded = variance * n / max(n - 1, 1) if unbiased_variance or fused else variance
            keep = 1 - momentum if momentum_flipped else momentum
            moving_mean = moving_mean * keep + mean * (1 - keep)
            moving_variance = moving_variance * keep + folded * (1 - keep)
        elif not batch_at_inference:
            mean, variance = moving_mean, moving_variance
        scaled = (np.sqrt(variance) + epsilon if epsilon_outside
                  else np.sqrt(variance + epsilon))
        y = (x - mean) / scaled * gamma + beta
    after = [weights[0]] * scale + [weights[1]] * center + [moving_mean, moving_variance]
    return [y], [w.reshape(shape) for w in after]


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


class _ListAxisFault(_BatchNormalizationFault):
    """A fault of tf_keras's list axes: the candidate answers the keras2 spec."""

    def __init__(self):
        ReferenceCandidate.__init__(self, "keras2")
        self.name = f"planted-{type(self).__name__}"


class StatisticsOverTheFirstListedAxis(_ListAxisFault):
    """A list axis's batch statistics are taken over every axis but the first one listed, as
    if `axis` were that one (the other listed axes are reduced too)."""
    fault = {"first_listed_axis": True}


class GammaBetaInListOrder(_ListAxisFault):
    """gamma and beta of a list axis are read in the list's order ((C3, C1) for axis [3, 1])
    where tf_keras lays them out in the axes' order ((1, C1, 1, C3))."""
    fault = {"list_order": True}


class WithoutObserve(ReferenceCandidate):
    """The reference without observe(): a candidate that cannot show weights or losses."""
    observe = None

    def __init__(self):
        super().__init__("keras3")
        self.name = "reference-without-observe"
