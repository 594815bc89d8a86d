"""Padding amounts and output lengths of windowed layers (convolution and pooling), per axis.

A window of `size` taps spaced `dilation` apart spans (size - 1) * dilation + 1 positions.
"""
import math

PADDINGS = ("valid", "same", "causal")


def span(size, dilation=1):
    return (size - 1) * dilation + 1


def output_length(length, size, stride, dilation, padding):
    """valid: ceil((L - span + 1) / stride); same and causal: ceil(L / stride)."""
    if padding == "valid":
        return max(0, math.ceil((length - span(size, dilation) + 1) / stride))
    if padding in ("same", "causal"):
        return math.ceil(length / stride)
    raise ValueError(f"Invalid padding {padding!r}: expected one of {PADDINGS}")


def pad_amounts(length, size, stride, dilation, padding):
    """(before, after): zeros added at each end so the windows give `output_length` outputs.

    same: the total is split with the smaller half before. causal: span - 1 zeros before, so
    output[t] sees input[t * stride - span + 1 .. t * stride] and never a later one.
    """
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return span(size, dilation) - 1, 0
    out = output_length(length, size, stride, dilation, padding)
    total = max((out - 1) * stride + span(size, dilation) - length, 0)
    return total // 2, total - total // 2


def transposed_output_length(length, size, stride, dilation, padding, output_padding=None):
    """Output length of a transposed convolution (Keras's deconv_output_length).

    Without output_padding: valid L * stride + max(span - stride, 0), same L * stride. With it:
    (L - 1) * stride + span - 2 * pad + output_padding, pad = span // 2 for same, 0 for valid.
    """
    k = span(size, dilation)
    if padding not in ("valid", "same"):
        raise ValueError(f"Invalid padding {padding!r}: expected 'valid' or 'same'")
    if output_padding is None:
        return length * stride + max(k - stride, 0) if padding == "valid" else length * stride
    pad = k // 2 if padding == "same" else 0
    return (length - 1) * stride + k - 2 * pad + output_padding


def transposed_crop(length, out_length, size, stride, dilation, padding):
    """How many leading positions of the full scatter (L - 1) * stride + span a transposed
    convolution drops: the 'before' padding of the convolution it transposes, which maps
    out_length positions back onto length (0 for valid; for same, the smaller half)."""
    if padding == "valid":
        return 0
    return max((length - 1) * stride + span(size, dilation) - out_length, 0) // 2


def as_tuple(value, rank, name):
    """An int or a sequence of `rank` positive ints, as a tuple of `rank` ints."""
    values = (value,) * rank if isinstance(value, int) else tuple(value)
    if len(values) != rank or not all(isinstance(v, int) and v > 0 for v in values):
        raise ValueError(f"`{name}` must be a positive int or {rank} positive ints, got {value!r}")
    return values


def per_axis_pairs(value, rank, name):
    """Keras's forms of a per-axis (before, after) amount, as `rank` pairs of ints >= 0:
    an int (the same everywhere); for rank 1, a pair (before, after); for rank 2 and 3, `rank`
    ints (symmetric per axis) or `rank` pairs."""
    def bad():
        return ValueError(f"`{name}` must be an int, {rank} ints or {rank} pairs of ints >= 0, "
                          f"got {value!r}")
    if isinstance(value, int) and not isinstance(value, bool):
        pairs = ((value, value),) * rank
    else:
        items = list(value)
        flat = all(isinstance(v, int) and not isinstance(v, bool) for v in items)
        if rank == 1 and flat and len(items) == 2:
            pairs = ((items[0], items[1]),)
        elif rank > 1 and flat and len(items) == rank:
            pairs = tuple((v, v) for v in items)
        elif len(items) == rank and all(isinstance(v, (list, tuple)) and len(v) == 2 and all(
                isinstance(w, int) and not isinstance(w, bool) for w in v) for v in items):
            pairs = tuple(tuple(v) for v in items)
        else:
            raise bad()
    if any(v < 0 for pair in pairs for v in pair):
        raise bad()
    return pairs
