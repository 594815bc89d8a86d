"""The N-d windows behind convolution and pooling (1D, 2D and 3D alike): windows() walks them
output position by position, tap_boxes() the same windows kernel tap by kernel tap (every
output position at once: the convolution's sum); scatters(), their transpose, is behind the
transposed convolution.

Arrays are channels_last: (batch, *spatial, channels). For output position t and kernel tap k
the input position is, per axis, t * stride + k * dilation - pad_before; taps that land in the
padding are left out (they add zero to a convolution and are ignored by pooling).
"""
import numpy as np

from reference.padding import (
    output_length, pad_amounts, transposed_crop, transposed_output_length,
)


def output_shape(in_shape, size, strides, dilation, padding):
    return tuple(output_length(in_shape[a], size[a], strides[a], dilation[a], padding)
                 for a in range(len(in_shape)))


def windows(in_shape, size, strides, dilation, padding):
    """Yield (out_position, taps) for every output position; taps lists (kernel_tap, in_position)
    for the taps that fall inside the unpadded input, in kernel order."""
    before = [pad_amounts(in_shape[a], size[a], strides[a], dilation[a], padding)[0]
              for a in range(len(in_shape))]
    for out in np.ndindex(*output_shape(in_shape, size, strides, dilation, padding)):
        taps = []
        for tap in np.ndindex(*size):
            pos = tuple(out[a] * strides[a] + tap[a] * dilation[a] - before[a]
                        for a in range(len(in_shape)))
            if all(0 <= pos[a] < in_shape[a] for a in range(len(in_shape))):
                taps.append((tap, pos))
        yield out, taps


def tap_boxes(in_shape, size, strides, dilation, padding):
    """windows() turned inside out: yield (kernel_tap, out_box, in_box) for every kernel tap,
    in kernel order, that some output position reads inside the unpadded input. out_box is
    the box of those output positions (a slice per axis); in_box, the input positions they
    read with this tap, in the same order (a strided slice per axis). Output t reads tap k
    at t * stride + k * dilation - pad_before: a run of consecutive t per axis lands inside."""
    rank = len(in_shape)
    out_shape = output_shape(in_shape, size, strides, dilation, padding)
    before = [pad_amounts(in_shape[a], size[a], strides[a], dilation[a], padding)[0]
              for a in range(rank)]
    for tap in np.ndindex(*size):
        out_box, in_box = [], []
        for a in range(rank):
            offset = tap[a] * dilation[a] - before[a]
            first = max(0, -(offset // strides[a]))                   # ceil(-offset / stride)
            last = min(out_shape[a], (in_shape[a] - 1 - offset) // strides[a] + 1)
            out_box.append(slice(first, last))
            start = first * strides[a] + offset
            in_box.append(slice(start, start + (last - first - 1) * strides[a] + 1,
                                strides[a]))
        if all(box.start < box.stop for box in out_box):
            yield tap, tuple(out_box), tuple(in_box)


def transposed_output_shape(in_shape, size, strides, dilation, padding, output_padding):
    return tuple(transposed_output_length(in_shape[a], size[a], strides[a], dilation[a], padding,
                                          None if output_padding is None else output_padding[a])
                 for a in range(len(in_shape)))


def scatters(in_shape, size, strides, dilation, padding, output_padding):
    """The transpose of windows(): yield (in_position, taps) for every input position; taps
    lists (kernel_tap, out_position) for the taps that land inside the output, where
    out_position = in_position * stride + tap * dilation - crop per axis."""
    out_shape = transposed_output_shape(in_shape, size, strides, dilation, padding,
                                        output_padding)
    crop = [transposed_crop(in_shape[a], out_shape[a], size[a], strides[a], dilation[a], padding)
            for a in range(len(in_shape))]
    for pos in np.ndindex(*in_shape):
        taps = []
        for tap in np.ndindex(*size):
            out = tuple(pos[a] * strides[a] + tap[a] * dilation[a] - crop[a]
                        for a in range(len(in_shape)))
            if all(0 <= out[a] < out_shape[a] for a in range(len(in_shape))):
                taps.append((tap, out))
        yield pos, taps
