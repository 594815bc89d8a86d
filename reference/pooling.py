"""Max and average pooling in 1, 2 or 3 spatial dimensions (the rank taken from the input)."""
import numpy as np

from reference.config import takes_config
from reference.layout import from_channels_last, to_channels_last
from reference.padding import as_tuple
from reference.windows import output_shape, windows


def _pool(x, reduce, pool_size, strides, padding, data_format, empty_ok):
    x = to_channels_last(np.asarray(x, np.float64), data_format)
    rank = x.ndim - 2
    pool_size = as_tuple(pool_size, rank, "pool_size")
    strides = pool_size if strides is None else as_tuple(strides, rank, "strides")
    if padding not in ("valid", "same"):
        raise ValueError(f"Invalid padding {padding!r} for pooling: expected 'valid' or 'same'")
    spatial = x.shape[1:-1]
    dilation = (1,) * rank
    out_shape = output_shape(spatial, pool_size, strides, dilation, padding)
    if min(out_shape) <= 0 and not empty_ok:
        raise ValueError(f"a 'valid' pool of {pool_size} does not fit the input {spatial}")
    y = np.zeros((x.shape[0], *out_shape, x.shape[-1]))
    for out, taps in windows(spatial, pool_size, strides, dilation, padding):
        values = np.stack([x[(slice(None), *pos)] for _, pos in taps])
        y[(slice(None), *out)] = reduce(values, axis=0)
    return from_channels_last(y, data_format)


@takes_config
def max_pooling(x, *, pool_size=2, strides=None, padding="valid", data_format="channels_last"):
    """y[b, *t, c] = max over the window's positions inside the input of x[b, *pos, c]

    Window start per axis: t * strides - pad_before (strides None means pool_size); positions
    in the "same" padding are ignored, never taken as 0. A window holding a NaN gives NaN
    (IEEE max; TensorFlow's CPU kernel skips NaN instead, a known divergence). A "valid" pool
    longer than the input is refused (TensorFlow's kernel aborts on it).
    """
    return _pool(x, np.max, pool_size, strides, padding, data_format, empty_ok=False)


@takes_config
def average_pooling(x, *, pool_size=2, strides=None, padding="valid",
                    data_format="channels_last"):
    """y[b, *t, c] = mean over the window's positions inside the input of x[b, *pos, c]

    With "same" padding, a window that overlaps the border divides by the number of real
    positions it covers, not by the full pool size. A "valid" pool longer than the input gives
    an empty output (Keras accepts it).
    """
    return _pool(x, np.mean, pool_size, strides, padding, data_format, empty_ok=True)
