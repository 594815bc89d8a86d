"""Planted faulty backward passes: the reference, with one fault in the gradients it gives
for one layer's gradient twins (conformance/backward/); its outputs stay right."""
import numpy as np

import reference
import reference.backward as vjps
from reference.backward_pooling import _pool_vjp
from reference.normalization import (
    batch_statistics, broadcast_shape, feature_axes, split_weights, weight_shape,
)
from tests.planted import Planted


class PlantedGradient(Planted):
    """The reference, except the gradients of `layer`'s twins: wrong(case, gradients)."""

    def faulty(self, case):
        return self.correct(case)

    def observe(self, case):
        seen = super().observe(case)
        if case.layer == self.layer and "gradients" in seen:
            seen["gradients"] = self.wrong(case, [np.asarray(g) for g in seen["gradients"]])
        return seen


class DenseBiasGradientOfOneRow(PlantedGradient):
    """Dense's bias gradient forgets the sum over the batch: the first row's g = u * act'(z)
    alone (the kernel's and the input's gradients stay right)."""
    layer = "Dense"

    def wrong(self, case, gradients):
        if not case.config.get("use_bias", True):
            return gradients
        u = np.zeros_like(np.asarray(case.cotangent[0], np.float64))
        u.reshape(-1, u.shape[-1])[0] = np.asarray(case.cotangent[0]).reshape(-1, u.shape[-1])[0]
        first = vjps.dense_vjp(case.inputs[0], *case.weights, u=u,
                               **dict(case.config, spec=case.spec))
        return gradients[:-1] + [first[-1]]


class Conv2DKernelGradientFlipped(PlantedGradient):
    """Conv2D's kernel gradient with the kernel's spatial axes flipped (a correlation written
    as a convolution)."""
    layer = "Conv2D"

    def wrong(self, case, gradients):
        gradients[1] = gradients[1][::-1, ::-1]
        return gradients


class MaxPoolingGradientToTheWholeWindow(PlantedGradient):
    """MaxPooling2D's input gradient sends each output's cotangent to every position of its
    window (inside the input), not to the window's arg-max alone: the windows' sum where
    their maximum was meant."""
    layer = "MaxPooling2D"

    def wrong(self, case, gradients):
        config = {"pool_size": 2, "strides": None, "padding": "valid",
                  "data_format": "channels_last", **case.config}
        x = case.inputs[0]
        y = reference.max_pooling(x, **config)
        return [_pool_vjp(x, y, case.cotangent[0], np.ones_like, config["pool_size"],
                          config["strides"], config["padding"], config["data_format"])[0]]


class SeparableDepthwiseGradientFlipped(PlantedGradient):
    """SeparableConv2D's depthwise kernel gradient with its spatial axes flipped (the chain's
    second stage, through dd = g P^T, written as a convolution)."""
    layer = "SeparableConv2D"

    def wrong(self, case, gradients):
        gradients[1] = gradients[1][::-1, ::-1]
        return gradients


class AttentionOutputBiasGradientOfOneRow(PlantedGradient):
    """MultiHeadAttention's output-projection bias gradient forgets the sum over the batch
    and the query positions: the first row's cotangent alone."""
    layer = "MultiHeadAttention"

    def wrong(self, case, gradients):
        if not case.config.get("use_bias", True):
            return gradients
        u = np.asarray(case.cotangent[0], np.float64)
        rows = u.reshape(int(np.prod(np.shape(case.inputs[0])[:-1])), -1)
        gradients[-1] = rows[0].reshape(np.shape(gradients[-1]))
        return gradients


class BatchNormalizationTrainingWithoutStatistics(PlantedGradient):
    """BatchNormalization in training ignores the gradient through the batch mean and
    variance: dx = u * gamma / s with the batch's s, as if the statistics were constants (the
    weights' gradients stay right)."""
    layer = "BatchNormalization"

    def wrong(self, case, gradients):
        if not case.call_kwargs.get("training"):
            return gradients
        x = np.asarray(case.inputs[0], np.float64)
        config = case.config
        axes = feature_axes(config.get("axis", -1), x.ndim)
        shape, view = weight_shape(axes, x.shape), broadcast_shape(axes, x.shape)
        gamma = split_weights(case.weights, config.get("center", True),
                              config.get("scale", True), shape)[0].reshape(view)
        _, variance, _ = batch_statistics(x, axes)
        u = np.asarray(case.cotangent[0], np.float64)
        return [u * gamma / np.sqrt(variance + config.get("epsilon", 1e-3))] + gradients[1:]


class EmbeddingGradientOverwritten(PlantedGradient):
    """Embedding's table gradient assigns each position's cotangent to its row rather than
    adding it: a row read more than once keeps one position's u alone."""
    layer = "Embedding"

    def wrong(self, case, gradients):
        rows = np.asarray(case.inputs[0]).reshape(-1)
        u = np.asarray(case.cotangent[0], np.float64)
        table = np.zeros_like(gradients[0])
        table[rows] = u.reshape(rows.size, -1)         # one write per row is kept
        return [table]


class LSTMTruncatedToTheLastStep(PlantedGradient):
    """LSTM's backpropagation truncated to the last processed step: the gradients are the
    reference's VJP of that step alone (a one-step LSTM from the states the step enters, its
    mask column, the cotangents of its output and of the final states), so every other step's
    dx is 0, the initial states get nothing and the weights only that step's share. A
    one-step sequence is left right."""
    layer = "LSTM"

    def wrong(self, case, gradients):
        config, kwargs = dict(case.config, spec=case.spec), dict(case.call_kwargs)
        x, mask = np.asarray(case.inputs[0], np.float64), kwargs.get("mask")
        time_major = config.pop("time_major", False)
        if time_major:
            x = np.swapaxes(x, 0, 1)
        if x.shape[1] == 1:
            return gradients
        # the states entering the last processed step: the forward over the steps before it
        backwards = config.get("go_backwards", False)
        last = 0 if backwards else x.shape[1] - 1
        before = slice(1, None) if backwards else slice(None, -1)
        states = kwargs.get("initial_state") or [np.zeros((x.shape[0], config["units"]))] * 2
        _, *entering = reference.lstm(
            x[:, before], *case.weights, mask=None if mask is None else mask[:, before],
            initial_state=states, **dict(config, return_state=True, return_sequences=False))
        u = [np.asarray(w, np.float64) for w in case.cotangent]
        if config.get("return_sequences"):
            u[0] = (np.swapaxes(u[0], 0, 1) if time_major else u[0])[:, -1:]
        one = vjps.lstm_vjp(x[:, last:last + 1], *case.weights,
                            mask=None if mask is None else mask[:, last:last + 1],
                            initial_state=entering, u=u, **config)
        dx = np.zeros_like(x)
        dx[:, last] = one[0][:, 0]
        dx = np.swapaxes(dx, 0, 1) if time_major else dx
        initial = [np.zeros(np.shape(s)) for s in kwargs.get("initial_state") or []]
        return [dx, *initial, *one[3:]]
