"""Zero padding, cropping, upsampling and global pooling in 1, 2 or 3 spatial dimensions (the
rank taken from the input). Arrays are moved to channels_last inside and back at the end."""
import numpy as np

from reference.config import takes_config
from reference.layout import from_channels_last, to_channels_last
from reference.padding import as_tuple, per_axis_pairs


@takes_config
def zero_padding(x, *, padding=1, data_format="channels_last"):
    """y = x with padding[a] = (before, after) zeros added along spatial axis a.
    x: (batch, *spatial, channels) (channels_first: (batch, channels, *spatial))."""
    x = to_channels_last(np.asarray(x, np.float64), data_format)
    pairs = per_axis_pairs(padding, x.ndim - 2, "padding")
    return from_channels_last(np.pad(x, [(0, 0), *pairs, (0, 0)]), data_format)


@takes_config
def cropping(x, *, cropping, data_format="channels_last", spec="keras3"):
    """y[b, *t, c] = x[b, *(t + start), c]: cropping[a] = (start, end) positions removed from
    each end of spatial axis a. Keras refuses a cropping that leaves no position, except
    tf_keras's Cropping3D, which returns an empty output."""
    x = to_channels_last(np.asarray(x, np.float64), data_format)
    rank = x.ndim - 2
    pairs = per_axis_pairs(cropping, rank, "cropping")
    for size, (start, end) in zip(x.shape[1:-1], pairs):
        if start + end >= size and not (spec == "keras2" and rank == 3):
            raise ValueError(f"cropping {pairs} leaves nothing of the input {x.shape[1:-1]}")
    kept = tuple(slice(start, max(start, size - end))
                 for size, (start, end) in zip(x.shape[1:-1], pairs))
    return from_channels_last(x[(slice(None), *kept)], data_format)


@takes_config
def upsampling(x, *, size=2, data_format="channels_last", interpolation="nearest"):
    """y of spatial size (size[a] * n[a]) per axis a.

    nearest: y[b, *t, c] = x[b, *(t // size), c].
    bilinear (2D): each output position t maps to the input coordinate
    (t + 0.5) / size - 0.5 (half-pixel centres), clamped to [0, n - 1]; y interpolates
    linearly between the two nearest inputs along each axis (an output that falls on an
    input position is that input).
    """
    x = to_channels_last(np.asarray(x, np.float64), data_format)
    rank = x.ndim - 2
    size = as_tuple(size, rank, "size")
    if interpolation == "nearest":
        for axis, s in enumerate(size):
            x = np.repeat(x, s, axis=axis + 1)
        return from_channels_last(x, data_format)
    if interpolation != "bilinear" or rank != 2:
        raise ValueError(f"interpolation {interpolation!r} is not one of 'nearest' and "
                         f"'bilinear' (2D)")
    for axis, s in enumerate(size):
        x = _linear_along(x, axis + 1, s)
    return from_channels_last(x, data_format)


def source_positions(n, scale):
    """(low, high, weight) of the n * scale outputs of linear upsampling along an axis of n
    inputs: output t reads the input coordinate (t + 0.5) / scale - 0.5 (half-pixel centres),
    clamped to [0, n - 1], between inputs low and high = low + 1 (clamped)."""
    where = np.clip((np.arange(n * scale) + 0.5) / scale - 0.5, 0, n - 1)
    low = np.floor(where).astype(int)
    return low, np.minimum(low + 1, n - 1), where - low


def _linear_along(x, axis, scale):
    """Linear interpolation of x along `axis` to `scale` times its length."""
    low, high, weight = source_positions(x.shape[axis], scale)
    weight = weight.reshape([-1 if a == axis else 1 for a in range(x.ndim)])
    below, above = np.take(x, low, axis=axis), np.take(x, high, axis=axis)
    with np.errstate(invalid="ignore"):
        mixed = below * (1 - weight) + above * weight
    # at an input position (weight 0) the output is that input, whatever its neighbour holds
    return np.where(weight == 0, below, mixed)


def _global(x, reduce, data_format, keepdims):
    x = to_channels_last(np.asarray(x, np.float64), data_format)
    axes = tuple(range(1, x.ndim - 1))
    y = reduce(x, axis=axes, keepdims=keepdims)
    return from_channels_last(y, data_format) if keepdims else y


@takes_config
def global_max_pooling(x, *, data_format="channels_last", keepdims=False):
    """y[b, c] = max over every spatial position of x[b, *t, c] (NaN if one is NaN);
    keepdims keeps the spatial axes, of size 1."""
    return _global(x, np.max, data_format, keepdims)


@takes_config
def global_average_pooling(x, mask=None, *, data_format="channels_last", keepdims=False,
                           spec="keras3"):
    """y[b, c] = mean over every spatial position of x[b, *t, c]; keepdims keeps the spatial
    axes, of size 1.

    With a mask (GlobalAveragePooling1D; (batch, steps), True = keep): the mean of the kept
    steps, y[b, c] = sum_t m[b, t] ? x[b, t, c] : 0 / sum_t m[b, t]; a row with every step
    masked is 0 / 0 = NaN. Keras 3 leaves masked steps out (where); Keras 2 multiplies them by
    0, so there a masked inf or NaN still makes NaN.
    """
    if mask is None:
        return _global(x, np.mean, data_format, keepdims)
    x = to_channels_last(np.asarray(x, np.float64), data_format)
    mask = np.asarray(mask)
    if x.ndim != 3 or mask.shape != x.shape[:2]:
        raise ValueError(f"a mask of shape {mask.shape} does not fit steps of {x.shape[:2]}")
    m = mask.astype(np.float64)[:, :, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        kept = x * m if spec == "keras2" else np.where(m > 0, x, 0.0)
        y = np.sum(kept, axis=1, keepdims=keepdims) / np.sum(m, axis=1, keepdims=keepdims)
    return from_channels_last(y, data_format) if keepdims else y
