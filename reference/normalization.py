"""BatchNormalization and ActivityRegularization.

BatchNormalization's weights, in get_weights() order (both Kerases): gamma (C,) when scale,
beta (C,) when center, moving_mean (C,), moving_variance (C,); C = x.shape[axis]. The
statistics of a training call are taken over every axis but `axis`:

    mean = sum(x) / n,   variance = sum((x - mean)^2) / n        (biased: what normalizes)
    y    = (x - mean) / sqrt(variance + epsilon) * gamma + beta
    moving_mean'     = moving_mean * momentum + mean * (1 - momentum)
    moving_variance' = moving_variance * momentum + variance' * (1 - momentum)

variance' is the biased variance, except in tf_keras's fused path (rank 4, axis 1 or 3,
fused not False), where TensorFlow's FusedBatchNormV3 folds the unbiased variance
sum((x - mean)^2) / max(n - 1, 1) into the moving average (`exponential_avg_factor`, and
`_bessels_correction_test_only = True` leaves it so: tf_keras
src/layers/normalization/batch_normalization.py lines 896-1000). At inference (or with
trainable=False) y uses moving_mean and moving_variance and the weights stay as they are.
"""
import numpy as np

from reference.config import OutOfScope, takes_config


def feature_axis(axis, rank):
    """The feature axis as a non-negative int; ValueError where Keras refuses it."""
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise OutOfScope(f"outside the scope: BatchNormalization over several axes {axis}")
        axis = axis[0]
    if isinstance(axis, bool) or not isinstance(axis, int) or not -rank <= axis < rank:
        raise ValueError(f"axis {axis!r} is out of range for an input of rank {rank}")
    return axis % rank


def fused_path(axis, rank, fused, spec):
    """Whether tf_keras runs its fused kernel: rank 4 with axis 1 or 3 unless fused=False."""
    return spec == "keras2" and fused is not False and rank == 4 and axis in (1, 3)


def split_weights(weights, center, scale, channels):
    """(gamma, beta, moving_mean, moving_variance) from get_weights(); gamma 1 and beta 0
    where the layer has none."""
    weights = [np.asarray(w, np.float64) for w in weights]
    if len(weights) != 2 + center + scale or any(w.shape != (channels,) for w in weights):
        raise ValueError(f"BatchNormalization(center={center}, scale={scale}) takes "
                         f"{2 + center + scale} weights of shape ({channels},), got "
                         f"{[w.shape for w in weights]}")
    gamma = weights.pop(0) if scale else np.ones(channels)
    beta = weights.pop(0) if center else np.zeros(channels)
    return gamma, beta, weights[0], weights[1]


def batch_statistics(x, axis):
    """(mean, biased variance, n) over every axis of x but `axis` (two passes)."""
    axes = tuple(i for i in range(x.ndim) if i != axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    with np.errstate(invalid="ignore", over="ignore"):
        mean = np.mean(x, axis=axes)
        variance = np.mean((x - mean.reshape(shape)) ** 2, axis=axes)
    return mean, variance, x.size // x.shape[axis]


@takes_config
def batch_normalization(x, *weights, axis=-1, momentum=0.99, epsilon=1e-3, center=True,
                        scale=True, training=False, trainable=True, synchronized=False,
                        renorm=False, renorm_clipping=None, renorm_momentum=0.99, fused=None,
                        virtual_batch_size=None, spec="keras3"):
    """[y, weights after the call (get_weights() order)]; see the module docstring.

    x: (batch, ...) of rank 2 or more; y has x's shape.
    """
    if renorm or synchronized or virtual_batch_size is not None:
        raise OutOfScope("outside the scope: BatchNormalization with renorm, synchronized or "
                         "virtual_batch_size")
    if fused is not None and spec != "keras2":
        raise ValueError("Keras 3's BatchNormalization takes no `fused` argument")
    x = np.asarray(x, np.float64)
    rank = x.ndim
    if spec == "keras2" and fused is not False and rank == 4 and axis == -4:
        raise ValueError("tf_keras's fused BatchNormalization takes axis 1 or 3 on a rank-4 "
                         "input: axis -4 (the batch axis) is refused")
    axis = feature_axis(axis, rank)
    gamma, beta, moving_mean, moving_variance = split_weights(weights, center, scale, x.shape[axis])
    shape = [1] * rank
    shape[axis] = -1
    if training and trainable:
        mean, variance, n = batch_statistics(x, axis)
        folded = variance * n / max(n - 1, 1) if fused_path(axis, rank, fused, spec) else variance
        moving_mean = moving_mean * momentum + mean * (1.0 - momentum)
        moving_variance = moving_variance * momentum + folded * (1.0 - momentum)
    else:
        mean, variance = moving_mean, moving_variance
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        y = ((x - mean.reshape(shape)) / np.sqrt(variance.reshape(shape) + epsilon)
             * gamma.reshape(shape) + beta.reshape(shape))
    after = [gamma] * scale + [beta] * center + [moving_mean, moving_variance]
    return [y, after]


@takes_config
def activity_regularization(x, *, l1=0.0, l2=0.0):
    """[x unchanged, the loss it adds]: (l1 * sum|x| + l2 * sum x^2) / batch, the sums over
    every element; a term whose factor is 0 is left out (a NaN input then adds no NaN). Both
    Kerases divide by the batch size (keras/src/layers/layer.py `__call__`, the activity
    regularizer's `divide_no_nan(loss, batch_size)`; tf_keras base_layer.py
    `_handle_activity_regularization`)."""
    for name, value in (("l1", l1), ("l2", l2)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"`{name}` must be a number, got {value!r}")
    x = np.asarray(x, np.float64)
    loss = 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        if l1:
            loss = loss + l1 * np.sum(np.abs(x))
        if l2:
            loss = loss + l2 * np.sum(x * x)
    return [x, loss / x.shape[0] if x.shape[0] else 0.0]
