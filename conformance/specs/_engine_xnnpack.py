"""XNNPACK's (litert's) unipass depthwise convolution runs a kernel of T taps with the
microkernel of the next tile size up, 3, 4 or 9 taps: a kernel of 2 taps (1x2, 2x1) reads one
more pointer of the indirection buffer with a zero weight, one of 5 to 8 taps (3x2, 2x3, a
Conv1D's 1x5 to 1x8) reads 9 - T more, the entries that follow the output pixel's own, so a
NaN or an infinity there makes the output NaN (_engine_ops.XNNPACK_DEPTHWISE_SPREAD is the
same for 1x1 kernels, a 3-tap tile). XNNPACK runs that depthwise stage for DepthwiseConv1D/2D,
SeparableConv2D's first step, and a Conv1D or Conv2D whose groups are its input channels and
its filters (one channel and one filter a group)."""
import numpy as np

from conformance.spec import Divergence
from conformance.specs._engines import XNNPACK
from reference.layout import to_channels_last
from reference.padding import as_tuple


def tile(taps):
    """The taps of the microkernel a depthwise kernel of `taps` runs on (measured for 1 to 8
    taps on Conv1D, DepthwiseConv1D/2D and grouped Conv2D kernels); None past 9."""
    return 3 if taps <= 3 else 4 if taps == 4 else 9 if taps <= 9 else None


def _pads(size, kernel, stride, dilation, padding):
    """(output length, padding before) of one spatial axis, as TensorFlow pads."""
    span = (kernel - 1) * dilation + 1
    if padding == "same":
        out = -(-size // stride)
        return out, max((out - 1) * stride + span - size, 0) // 2
    return (size - span) // stride + 1, 0


def extra_reads(x, kernel, strides, dilation, padding):
    """Per output pixel and channel (N, OH, OW, C), whether one of the entries the tile's
    microkernel reads past the pixel's kh * kw (zero weights) is a non-finite input. The
    indirection buffer holds, per output row, the kernel's columns of kh pointers, one
    output pixel every step columns (step = min(stride, kw) with dilation 1, else kw), the
    rows one after the other (xnnpack src/indirection.c, xnn_indirection_init_dwconv2d);
    entries past the last row of an image are not followed (not measured)."""
    n, height, width, _ = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilation
    oh, top = _pads(height, kh, sh, dh, padding)
    ow, left = _pads(width, kw, sw, dw, padding)
    step = min(sw, kw) if dw == 1 else kw
    row_entries = kh * kw + (ow - 1) * step * kh
    bad = ~np.isfinite(x)
    out = np.zeros((n, oh, ow, x.shape[-1]), bool)
    for y in range(oh):
        for ox in range(ow):
            for entry in range(kh * kw, tile(kh * kw)):
                at = ox * step * kh + entry
                yy = y + at // row_entries
                if yy >= oh:
                    continue
                at %= row_entries
                column, ky = divmod(at, kh)
                if dw == 1 and sw <= kw:
                    col = column
                else:
                    col = (column // kw) * sw + (column % kw) * dw
                row, col = yy * sh + ky * dh - top, col - left
                if 0 <= row < height and 0 <= col < width:
                    out[:, y, ox] |= bad[:, row, col]
    return out


def _depthwise_stage(case):
    """(x as NHWC, kernel, strides, dilation) of the depthwise stage XNNPACK runs for the
    case (a 1-D layer as one row), or None where it runs none of more than one tap."""
    config, x = case.config, np.asarray(case.inputs[0], np.float64)
    rank = x.ndim - 2
    if rank not in (1, 2):
        return None
    if case.layer in ("Conv1D", "Conv2D") and not (
            config.get("groups", 1) == config["filters"] == x.shape[
                1 if config.get("data_format") == "channels_first" else -1]):
        return None
    kernel, strides, dilation = (as_tuple(config.get(name, 1), rank, name)
                                 for name in ("kernel_size", "strides", "dilation_rate"))
    if max(strides) > 1 and max(dilation) > 1:
        return None         # Keras 3 decomposes it (a dilated stride-1 kernel, a slice)
    x = to_channels_last(x, config.get("data_format", "channels_last"))
    if rank == 1:
        return x[:, None], (1, *kernel), (1, *strides), (1, *dilation)
    return x, kernel, strides, dilation


def _tile_spread(case):
    """Some output the extra reads make NaN is a number in the reference: a kernel of 2 or of
    5 to 8 taps (6 for any depth_multiplier, the others with depth_multiplier 1: with 2, a
    2-tap kernel reads nothing more), on a non-finite input."""
    config = case.config
    if not case.inputs or not case.expected or np.all(np.isfinite(case.inputs[0])):
        return False
    stage = _depthwise_stage(case)
    if stage is None:
        return False
    x, kernel, strides, dilation = stage
    taps, multiplier = kernel[0] * kernel[1], config.get("depth_multiplier", 1)
    if taps == 1 or tile(taps) in (None, taps) or (taps != 6 and multiplier != 1):
        return False
    extra = extra_reads(x, kernel, strides, dilation, config.get("padding", "valid"))
    expected = to_channels_last(np.asarray(case.expected[0], np.float64),
                                config.get("data_format", "channels_last"))
    expected = expected[:, None] if expected.ndim == 3 else expected
    if expected.shape[:3] != extra.shape[:3]:
        return False
    if case.layer == "SeparableConv2D":
        return bool(np.any(extra.any(axis=-1) & ~np.isnan(expected).all(axis=-1)))
    return bool(np.any(np.repeat(extra, multiplier, axis=-1) & ~np.isnan(expected)))


XNNPACK_DEPTHWISE_TILE = Divergence(
    candidates=(XNNPACK,), when=_tile_spread,
    reason="XNNPACK runs a depthwise kernel of 2 taps (1x2, 2x1) with its 3-tap microkernel "
           "and one of 5 to 8 taps (3x2, 2x3, 1x5 to 1x8) with its 9-tap one, which reads the "
           "indirection-buffer entries after the output pixel's own (the next column of the "
           "window, or the next output pixel's) with zero weights, so a NaN or infinite input "
           "there makes the output NaN: DepthwiseConv1D/2D, SeparableConv2D, and a Conv1D or "
           "Conv2D with as many groups as input channels and filters",
    evidence="ai-edge-litert 2.3.0 (XNNPACK): DepthwiseConv2D with weights 1 and bias 0 on a "
             "(1, 7, 8, 1) input of ones with NaN at row 3, column 4: kernel (3, 2) gives NaN "
             "at output columns 2, 3, 4 of rows 1-3 (the reference: 3, 4), with strides (1, 2) "
             "columns 1, 2 (the reference: 2), with dilation (2, 1) the same columns; kernel "
             "(2, 3) NaN also at (2, 1) and (3, 0): the entries 6-8 after the pixel's block, "
             "column-major over kh rows; kernels (2, 2) and (3, 3) (4 and 9 taps) only where "
             "the reference is NaN. SeparableConv2D-005 (kernel [3, 2], dilation [2, 1]): "
             "NaN at output (0, 2) and (0, 3), whose extra column 4 and 5 hold -inf and inf. "
             "Conv1D(2, k, groups=2) with weights 1 on (1, W, 2) ones, NaN at step p of channel "
             "0: k = 2 NaN also at output p - 2 (strides 2: one more, dilation 2: p - 1, "
             "'same' alike), k = 5 and 7 at p - 6 and p - 5, k = 8 at p - 7, k = 3 and 4 none, "
             "all in channel 0 only; DepthwiseConv1D(2) and (5), DepthwiseConv2D and grouped "
             "Conv2D with kernel (1, 2) and (2, 1) alike; DepthwiseConv1D(2, depth_multiplier=2) "
             "and Conv1D(4, 2, groups=2) read nothing more; extra_reads gives each of these "
             "patterns. Conv1D-live-000637ba (groups 2, 2 channels, 2 filters, kernel 2, the "
             "special regime) found it: NaN at (0, 1, 1), the reference 0.824")
