"""LocallyConnected1D and LocallyConnected2D (Keras 2 only): a "valid" convolution whose kernel
is different at every output position. One function for both ranks, the rank taken from the
input.

What makes these layers hard to port is not the arithmetic but the weights: tf_keras stores the
kernel in one of three layouts, chosen by `implementation`, and adds a channels_first bias by
reshaping it. `position_kernels` turns each layout into one kernel per output position,
w[t] of shape (*kernel_size, in_channels, filters); the loop is then conv's.
"""
import itertools

import numpy as np

from reference.activations import activation as get_activation
from reference.config import OutOfScope, takes_config
from reference.core import linear_sum
from reference.layout import from_channels_last, to_channels_last
from reference.padding import as_tuple
from reference.windows import output_shape, windows


def position_kernels(kernel, implementation, data_format, in_shape, channels, out_shape,
                     kernel_size, strides, filters):
    """w[*t] = the (*kernel_size, in_channels, filters) kernel of output position t.

    implementation 1: kernel (prod(out_shape), prod(kernel_size) * C, F). Row: the output
        position, flattened row-major. Middle axis: the window flattened as (*k, c) for
        channels_last but as (c, *k) for channels_first (the input slice's own order).
    implementation 2: a dense kernel over every input position, masked to each window:
        channels_last (*in_shape, C, *out_shape, F); channels_first (C, *in_shape, F, *out_shape).
    implementation 3: a vector holding the nonzeros of a (prod(out)*F, prod(in)*C) matrix in
        sorted (row, column) order. Row = output index flattened as (*t, f), column = input
        index as (*p, c) (channels_first: (f, *t) and (c, *p)).
    """
    rank = len(kernel_size)
    w = np.zeros((*out_shape, *kernel_size, channels, filters))
    first = data_format == "channels_first"
    if implementation == 3:                    # rank of each (row, column) in sorted order
        entries = []
        for t in np.ndindex(*out_shape):
            for k in np.ndindex(*kernel_size):
                p = tuple(t[a] * strides[a] + k[a] for a in range(rank))
                for c, f in itertools.product(range(channels), range(filters)):
                    row = np.ravel_multi_index((f, *t) if first else (*t, f),
                                               (filters, *out_shape) if first else (*out_shape, filters))
                    col = np.ravel_multi_index((c, *p) if first else (*p, c),
                                               (channels, *in_shape) if first else (*in_shape, channels))
                    entries.append((row, col, t, k, c, f))
        for j, (_, _, t, k, c, f) in enumerate(sorted(entries, key=lambda e: e[:2])):
            w[(*t, *k, c, f)] = kernel[j]
        return w
    for t in np.ndindex(*out_shape):
        row = np.ravel_multi_index(t, out_shape)
        for k in np.ndindex(*kernel_size):
            p = tuple(t[a] * strides[a] + k[a] for a in range(rank))
            for c in range(channels):
                if implementation == 1:
                    col = np.ravel_multi_index((c, *k) if first else (*k, c),
                                               (channels, *kernel_size) if first
                                               else (*kernel_size, channels))
                    w[(*t, *k, c)] = kernel[row, col]
                elif first:
                    w[(*t, *k, c)] = kernel[(c, *p, slice(None), *t)]
                else:
                    w[(*t, *k, c)] = kernel[(*p, c, *t)]
    return w


@takes_config
def locally_connected(x, kernel, bias=None, *, filters, kernel_size, strides=1,
                      padding="valid", data_format="channels_last", activation=None,
                      use_bias=True, implementation=1, spec="keras2"):
    """y[b, *t, f] = act(sum_{k, c} x[b, *(t*strides + k), c] * w[*t][*k, c, f] + bias[*t, f])

    x: (batch, *spatial, C) (channels_first: (batch, C, *spatial)), spatial of rank 1 or 2;
    kernel: in the layout of `implementation` (position_kernels above); bias:
    (*out_shape, filters). Output length per axis: (L - kernel) // stride + 1 ("valid").
    channels_first: tf_keras adds the bias reshaped, not transposed, to (filters, *out_shape):
    bias element number f * prod(out_shape) + ravel(t), read in memory order, goes to filter f at
    position t. Weights trained in tf_keras carry that meaning.
    """
    if spec != "keras2":
        raise ValueError("LocallyConnected layers exist in Keras 2 (tf_keras) only")
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    rank = x.ndim - 2
    if rank not in (1, 2):
        raise ValueError(f"LocallyConnected1D/2D take inputs of rank 3 or 4, got {x.ndim}")
    if padding != "valid":
        raise OutOfScope(f"outside the scope: padding={padding!r} (the seeds document 'valid')")
    if implementation not in (1, 2, 3):
        raise ValueError(f"Unrecognized implementation mode: {implementation!r}")
    if not isinstance(filters, int) or filters <= 0:
        raise ValueError(f"`filters` must be a positive int, got {filters!r}")
    kernel_size = as_tuple(kernel_size, rank, "kernel_size")
    strides = as_tuple(strides, rank, "strides")
    if use_bias != (bias is not None):
        raise ValueError("a bias must be given exactly when use_bias is True")
    x = to_channels_last(x, data_format)
    in_shape, channels = x.shape[1:-1], x.shape[-1]
    out_shape = output_shape(in_shape, kernel_size, strides, (1,) * rank, "valid")
    if min(out_shape) <= 0:
        raise ValueError(f"a kernel of {kernel_size} does not fit the input {in_shape}: "
                         f"empty output")
    w = position_kernels(kernel, implementation, data_format, in_shape, channels, out_shape,
                         kernel_size, strides, filters)
    y = np.zeros((x.shape[0], *out_shape, filters))
    for out, taps in windows(in_shape, kernel_size, strides, (1,) * rank, "valid"):
        for tap, pos in taps:
            y[(slice(None), *out)] += linear_sum(x[(slice(None), *pos)], w[out][tap])
    if use_bias:
        bias = np.asarray(bias, np.float64)
        if data_format == "channels_first":     # the reshape described above
            bias = np.moveaxis(bias.reshape(filters, *out_shape), 0, -1)
        y = y + bias
    return get_activation(activation, spec)(from_channels_last(y, data_format))
