"""The backward pass of pooling: MaxPooling and AveragePooling in 1, 2 or 3 dimensions
(reference/pooling.py) and GlobalMaxPooling and GlobalAveragePooling (reference/spatial.py).

A pooled output is reduce(values) over its window's positions inside the input. Its gradient
goes back along the same windows(), each position of the window receiving its share
d reduce / d value of the output's gradient:

    mean_shares: 1 / n for each of the n positions the window covers inside the input (the
                 "same" windows at a border divide by their real positions, as the forward);
    max_shares:  1 for the arg-max, 0 elsewhere. Where two values of a window tie for the
                 maximum the derivative is not defined: cases keep ties out (tie_gap); here
                 the first in window order takes it all, a convention, not a truth.

Conventions as reference/backward_core.py: the forward's arguments, the cotangent `u`
keyword-only, a 1-tuple (dx,) in the input's layout; the forward runs first, for its checks.
"""
import numpy as np

from reference.backward_activations import cotangent
from reference.config import takes_config
from reference.layout import from_channels_last, to_channels_last
from reference.padding import as_tuple
from reference.pooling import average_pooling, max_pooling
from reference.spatial import global_average_pooling, global_max_pooling
from reference.windows import windows


def mean_shares(values):
    """d mean / d values along axis 0: 1 / n each."""
    return np.full(values.shape, 1.0 / values.shape[0])


def max_shares(values):
    """d max / d values along axis 0: 1 at the first arg-max, 0 elsewhere."""
    winner = np.argmax(values, axis=0)
    return (np.arange(values.shape[0]).reshape(-1, *(1,) * winner.ndim) == winner) * 1.0


def tie_gap(values):
    """The gap between the largest and the second largest of values along axis 0 (inf when
    there is one value): how far a max is from a tie."""
    if values.shape[0] < 2:
        return np.full(values.shape[1:], np.inf)
    top = -np.sort(-values, axis=0)
    return top[0] - top[1]


def _pool_windows(x, pool_size, strides, padding):
    """x (channels_last) and its pooling windows, pool_size and strides read as the forward."""
    rank = x.ndim - 2
    pool_size = as_tuple(pool_size, rank, "pool_size")
    strides = pool_size if strides is None else as_tuple(strides, rank, "strides")
    return windows(x.shape[1:-1], pool_size, strides, (1,) * rank, padding)


def _pool_vjp(x, y, u, shares, pool_size, strides, padding, data_format):
    """dx[b, *pos, c] = sum over the windows t holding pos of shares[pos][b, c] * g[b, *t, c]."""
    x = to_channels_last(np.asarray(x, np.float64), data_format)
    g = to_channels_last(cotangent(u, y), data_format)
    dx = np.zeros_like(x)
    for out, taps in _pool_windows(x, pool_size, strides, padding):
        values = np.stack([x[(slice(None), *pos)] for _, pos in taps])
        for (_, pos), share in zip(taps, shares(values)):
            dx[(slice(None), *pos)] += share * g[(slice(None), *out)]
    return (from_channels_last(dx, data_format),)


@takes_config
def max_pooling_vjp(x, *, u, pool_size=2, strides=None, padding="valid",
                    data_format="channels_last"):
    """dx[b, *p, c] = sum of g[b, *t, c] over the windows t whose maximum is x[b, *p, c]."""
    y = max_pooling(x, pool_size=pool_size, strides=strides, padding=padding,
                    data_format=data_format)
    return _pool_vjp(x, y, u, max_shares, pool_size, strides, padding, data_format)


@takes_config
def average_pooling_vjp(x, *, u, pool_size=2, strides=None, padding="valid",
                        data_format="channels_last"):
    """dx[b, *p, c] = sum over the windows t holding p of g[b, *t, c] / n(t), n(t) the number
    of the window's positions inside the input."""
    y = average_pooling(x, pool_size=pool_size, strides=strides, padding=padding,
                        data_format=data_format)
    return _pool_vjp(x, y, u, mean_shares, pool_size, strides, padding, data_format)


@takes_config
def max_pooling_gap(x, *, pool_size=2, strides=None, padding="valid",
                    data_format="channels_last"):
    """The smallest tie_gap over every window, batch and channel of max_pooling(x, ...): a case
    whose gap is well above the finite-difference step has a defined gradient."""
    x = to_channels_last(np.asarray(x, np.float64), data_format)
    return min(np.min(tie_gap(np.stack([x[(slice(None), *pos)] for _, pos in taps])))
               for _, taps in _pool_windows(x, pool_size, strides, padding))


def _global_vjp(x, y, u, shares, data_format, keepdims):
    """dx[b, *p, c] = shares[p][b, c] * g[b, c], the shares over every spatial position."""
    x = to_channels_last(np.asarray(x, np.float64), data_format)
    g = cotangent(u, y)
    g = to_channels_last(g, data_format) if keepdims else g
    g = g.reshape(x.shape[0], 1, x.shape[-1])
    values = np.moveaxis(x.reshape(x.shape[0], -1, x.shape[-1]), 1, 0)    # (P, batch, C)
    dx = np.moveaxis(shares(values), 0, 1) * g
    return (from_channels_last(dx.reshape(x.shape), data_format),)


@takes_config
def global_max_pooling_vjp(x, *, u, data_format="channels_last", keepdims=False):
    """dx[b, *p, c] = g[b, c] where x[b, *p, c] is the maximum over p, 0 elsewhere."""
    y = global_max_pooling(x, data_format=data_format, keepdims=keepdims)
    return _global_vjp(x, y, u, max_shares, data_format, keepdims)


@takes_config
def global_average_pooling_vjp(x, mask=None, *, u, data_format="channels_last",
                               keepdims=False, spec="keras3"):
    """dx[b, *p, c] = g[b, c] / P, P the number of spatial positions. With a mask (1D,
    (batch, steps)): dx[b, t, c] = m[b, t] * g[b, c] / sum_t m[b, t] (a row with every step
    masked has no gradient: NaN, as its forward)."""
    y = global_average_pooling(x, mask, data_format=data_format, keepdims=keepdims, spec=spec)
    if mask is None:
        return _global_vjp(x, y, u, mean_shares, data_format, keepdims)
    g = cotangent(u, y)
    g = to_channels_last(g, data_format) if keepdims else g[:, None, :]
    m = np.asarray(mask).astype(np.float64)[:, :, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = m * g / np.sum(m, axis=1, keepdims=True)
    return (from_channels_last(dx, data_format),)
