"""XNNPACK's (litert's) unipass depthwise convolution with a kernel of 6 taps (3x2 or 2x3):
its 9-tap microkernel reads 3 more pointers of the indirection buffer with zero weights, the
entries that follow the output pixel's own, so a NaN or an infinity there makes the output
NaN (_engine_ops.XNNPACK_DEPTHWISE_SPREAD is the same for 1x1 kernels, a 3-tap tile)."""
import numpy as np

from conformance.spec import Divergence
from conformance.specs._engines import XNNPACK
from reference.layout import to_channels_last
from reference.padding import as_tuple

TILE = 9            # the microkernel's taps for a kernel of 5 to 9 (measured for 6 only)


def _pads(size, kernel, stride, dilation, padding):
    """(output length, padding before) of one spatial axis, as TensorFlow pads."""
    span = (kernel - 1) * dilation + 1
    if padding == "same":
        out = -(-size // stride)
        return out, max((out - 1) * stride + span - size, 0) // 2
    return (size - span) // stride + 1, 0


def extra_reads(x, kernel, strides, dilation, padding):
    """Per output pixel and channel (N, OH, OW, C), whether one of the entries the 9-tap
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
            for entry in range(kh * kw, TILE):
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


def _six_tap_spread(case):
    """DepthwiseConv2D or SeparableConv2D with a 3x2 or 2x3 kernel on a non-finite input:
    some output the extra reads make NaN is a number in the reference."""
    config, x = case.config, case.inputs[0] if case.inputs else None
    if x is None or not case.expected or np.all(np.isfinite(x)) or np.ndim(x) != 4:
        return False
    kernel = as_tuple(config.get("kernel_size", 1), 2, "kernel_size")
    if kernel[0] * kernel[1] != 6:
        return False
    strides = as_tuple(config.get("strides", 1), 2, "strides")
    dilation = as_tuple(config.get("dilation_rate", 1), 2, "dilation_rate")
    if max(strides) > 1 and max(dilation) > 1:
        return False        # Keras 3 decomposes it (a dilated stride-1 kernel, a slice)
    data_format = config.get("data_format", "channels_last")
    x = to_channels_last(np.asarray(x, np.float64), data_format)
    extra = extra_reads(x, kernel, strides, dilation, config.get("padding", "valid"))
    expected = to_channels_last(np.asarray(case.expected[0], np.float64), data_format)
    if expected.shape[:3] != extra.shape[:3]:
        return False
    if case.layer == "SeparableConv2D":
        return bool(np.any(extra.any(axis=-1) & ~np.isnan(expected).all(axis=-1)))
    multiplier = config.get("depth_multiplier", 1)
    return bool(np.any(np.repeat(extra, multiplier, axis=-1) & ~np.isnan(expected)))


XNNPACK_DEPTHWISE_TILE = Divergence(
    candidates=(XNNPACK,), when=_six_tap_spread,
    reason="XNNPACK runs a depthwise kernel of 6 taps (3x2, 2x3) with its 9-tap microkernel, "
           "which reads the 3 indirection-buffer entries after the output pixel's own (the "
           "next column of the window, or the next output pixel's) with zero weights, so a "
           "NaN or infinite input there makes the output NaN",
    evidence="ai-edge-litert 2.3.0 (XNNPACK): DepthwiseConv2D with weights 1 and bias 0 on a "
             "(1, 7, 8, 1) input of ones with NaN at row 3, column 4: kernel (3, 2) gives NaN "
             "at output columns 2, 3, 4 of rows 1-3 (the reference: 3, 4), with strides (1, 2) "
             "columns 1, 2 (the reference: 2), with dilation (2, 1) the same columns; kernel "
             "(2, 3) NaN also at (2, 1) and (3, 0): the entries 6-8 after the pixel's block, "
             "column-major over kh rows; kernels (2, 2) and (3, 3) (4 and 9 taps) only where "
             "the reference is NaN. SeparableConv2D-005 (kernel [3, 2], dilation [2, 1]): "
             "NaN at output (0, 2) and (0, 3), whose extra column 4 and 5 hold -inf and inf")
