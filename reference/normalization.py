"""BatchNormalization and ActivityRegularization.

BatchNormalization normalizes over the feature axes listed in `axis` (an int; tf_keras also
takes a list) and takes its statistics over every other axis. Weights, in get_weights()
order (both Kerases): gamma when scale, beta when center, moving_mean, moving_variance, all of
one shape: (C,), C = x.shape[axis], for one axis; for several axes (tf_keras only), x's shape
with 1 on every axis not listed, e.g. (1, C1, 1, C3) for axis [1, 3] on a rank-4 input
(tf_keras src/layers/normalization/batch_normalization.py `build`, lines 412-420). A
training call:

    mean = sum(x) / n,   variance = sum((x - mean)^2) / n        (biased: what normalizes)
    y    = (x - mean) / sqrt(variance + epsilon) * gamma + beta
    moving_mean'     = moving_mean * momentum + mean * (1 - momentum)
    moving_variance' = moving_variance * momentum + variance' * (1 - momentum)

n is the product of the axes not listed. variance' is the biased variance, except in
tf_keras's fused path (one axis: rank 4 axis 1 or 3, rank 5 axis 1 or 4; fused not False),
where TensorFlow's FusedBatchNormV3 folds the unbiased variance sum((x - mean)^2) /
max(n - 1, 1) into the moving average (`exponential_avg_factor`, and
`_bessels_correction_test_only = True` leaves it so: tf_keras
src/layers/normalization/batch_normalization.py lines 896-1000). At inference (or with
trainable=False) y uses moving_mean and moving_variance and the weights stay as they are.

Keras 3 refuses a list axis, even of one element (`self.axis = int(axis)` in `__init__`,
keras/src/layers/normalization/batch_normalization.py line 182, Keras 3.15.1: TypeError).
tf_keras resolves a list's negative axes and refuses one out of range, a repeated axis and an
empty list (`tf_utils.validate_axis`, `_raise_if_fused_cannot_be_used`); a list of one axis
is that axis.
"""
import math

import numpy as np

from reference.config import OutOfScope, takes_config


def feature_axes(axis, rank):
    """The listed axes (an int, or a list or tuple of them) as a sorted tuple of non-negative
    ints; ValueError for what tf_keras refuses: an axis out of range, one listed twice (-1
    and rank - 1 included), an empty list. Keras 3 refuses every list (batch_normalization)."""
    listed = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    for a in listed:
        if isinstance(a, bool) or not isinstance(a, int) or not -rank <= a < rank:
            raise ValueError(f"axis {axis!r} is out of range for an input of rank {rank}")
    axes = sorted(a % rank for a in listed)
    if not axes or len(set(axes)) != len(axes):
        raise ValueError(f"axis {axis!r} lists no axis or one axis twice (rank {rank})")
    return tuple(axes)


def broadcast_shape(axes, shape):
    """x's shape with 1 on every axis not in `axes`: the statistics and weights against x."""
    return tuple(d if i in axes else 1 for i, d in enumerate(shape))


def weight_shape(axes, shape):
    """The shape of every weight: (C,) for one axis; broadcast_shape for several (tf_keras)."""
    return (shape[axes[0]],) if len(axes) == 1 else broadcast_shape(axes, shape)


def fused_path(axis, rank, fused, spec):
    """Whether tf_keras runs its fused kernel; ValueError where it refuses the config.

    The kernel takes one axis, written -4, -3, -1, 1, 3 or 4 (`_raise_if_fused_cannot_be_used`,
    at construction), that lands on axis 1 or 3 of a rank-4 input or 1 or 4 of a rank-5 one
    (`build`). With fused=None (the default) the layer falls back to its unfused path
    elsewhere, except where the axis passes the first check and lands on a rank-4 input's
    batch axis (-4: "Unsupported axis"); fused=True is refused wherever the kernel cannot run,
    except a rank-5 input on another axis, which runs unfused."""
    if spec != "keras2" or fused is False:
        return False
    listed = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    first_check = len(listed) == 1 and listed[0] in (-4, -3, -1, 1, 3, 4)
    if first_check and listed[0] % rank in {4: (1, 3), 5: (1, 4)}.get(rank, ()):
        return True
    if fused is None and not (first_check and rank == 4) or first_check and rank == 5:
        return False
    raise ValueError(f"tf_keras's fused BatchNormalization cannot take axis {axis!r} on a "
                     f"rank-{rank} input (fused={fused})")


def split_weights(weights, center, scale, shape):
    """(gamma, beta, moving_mean, moving_variance) from get_weights(), each of `shape`;
    gamma 1 and beta 0 where the layer has none."""
    weights = [np.asarray(w, np.float64) for w in weights]
    if len(weights) != 2 + center + scale or any(w.shape != tuple(shape) for w in weights):
        raise ValueError(f"BatchNormalization(center={center}, scale={scale}) takes "
                         f"{2 + center + scale} weights of shape {tuple(shape)}, got "
                         f"{[w.shape for w in weights]}")
    gamma = weights.pop(0) if scale else np.ones(shape)
    beta = weights.pop(0) if center else np.zeros(shape)
    return gamma, beta, weights[0], weights[1]


def batch_statistics(x, axes):
    """(mean, biased variance, n) over every axis of x not in `axes` (two passes), kept as
    axes of length 1 so that they broadcast against x; n = the product of those axes."""
    reduced = tuple(i for i in range(x.ndim) if i not in axes)
    with np.errstate(invalid="ignore", over="ignore"):
        mean = np.mean(x, axis=reduced, keepdims=True)
        variance = np.mean((x - mean) ** 2, axis=reduced, keepdims=True)
    return mean, variance, math.prod(x.shape[i] for i in reduced)


@takes_config
def batch_normalization(x, *weights, axis=-1, momentum=0.99, epsilon=1e-3, center=True,
                        scale=True, training=False, trainable=True, synchronized=False,
                        renorm=False, renorm_clipping=None, renorm_momentum=0.99, fused=None,
                        virtual_batch_size=None, spec="keras3"):
    """[y, weights after the call (get_weights() order)]; see the module docstring.

    x: (batch, ...) of rank 2 or more; y has x's shape; each weight weight_shape(axes, x.shape)
    with axes = feature_axes(axis, x.ndim); spec "keras2" is tf_keras (list axes, fused).
    """
    if renorm or synchronized or virtual_batch_size is not None:
        raise OutOfScope("outside the scope: BatchNormalization with renorm, synchronized or "
                         "virtual_batch_size")
    if spec != "keras2" and (fused is not None or isinstance(axis, (list, tuple))):
        raise ValueError("Keras 3's BatchNormalization takes an int axis and no `fused` "
                         f"argument, got axis={axis!r}, fused={fused!r}")
    x = np.asarray(x, np.float64)
    axes = feature_axes(axis, x.ndim)
    fused_kernel = fused_path(axis, x.ndim, fused, spec)
    shape = weight_shape(axes, x.shape)
    gamma, beta, moving_mean, moving_variance = (
        w.reshape(broadcast_shape(axes, x.shape))
        for w in split_weights(weights, center, scale, shape))
    if training and trainable:
        mean, variance, n = batch_statistics(x, axes)
        folded = variance * n / max(n - 1, 1) if fused_kernel else variance
        moving_mean = moving_mean * momentum + mean * (1.0 - momentum)
        moving_variance = moving_variance * momentum + folded * (1.0 - momentum)
    else:
        mean, variance = moving_mean, moving_variance
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        y = (x - mean) / np.sqrt(variance + epsilon) * gamma + beta
    after = [gamma] * scale + [beta] * center + [moving_mean, moving_variance]
    return [y, [w.reshape(shape) for w in after]]


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
