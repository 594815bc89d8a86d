"""Divergences in the backward pass (the gradient twins of conformance/backward/): where a
backend's gradients, not its outputs, part from the reference's VJPs."""
import numpy as np

from conformance.elements import error_ratio
from conformance.spec import Divergence
from reference.backward_pooling import _pool_vjp, average_pooling_vjp
from reference.layout import from_channels_last, to_channels_last
from reference.padding import as_tuple, pad_amounts
from reference.pooling import max_pooling


def _torch_weight_gradient_layout(case):
    """A Conv2D or Conv2DTranspose gradient twin that keras-torch cannot differentiate: a
    batch of one in channels_last, and a kernel whose torch layout leads with an axis of 1
    before an axis longer than 1 (Conv2D: one filter over several input channels, torch's
    (out, in, kh, kw); Conv2DTranspose: one input channel into several filters, torch's (in,
    out, kh, kw)); the kernel's last axis is that leading one in both Keras layouts. A kernel
    of more than one tap, and an undilated Conv2D: torch runs the others otherwise."""
    if case.params.get("contract") != "gradient" or case.layer not in ("Conv2D", "Conv2DTranspose"):
        return False
    if case.config.get("data_format", "channels_last") != "channels_last":
        return False
    kernel = case.weights[0].shape
    if case.layer == "Conv2D" and as_tuple(case.config.get("dilation_rate", 1), 2, "d") != (1, 1):
        return False            # a dilated Conv2D runs torch's slow_conv_dilated2d: no check
    return (case.inputs[0].shape[0] == 1 and kernel[-1] == 1 and kernel[-2] > 1
            and kernel[0] * kernel[1] > 1)      # a 1x1 kernel runs as a matrix product


TORCH_WEIGHT_GRADIENT_LAYOUT = Divergence(
    candidates=("keras-torch",), when=_torch_weight_gradient_layout,
    reason="torch 2.13's CPU convolution backward refuses the permuted kernel Keras hands it "
           "when its torch layout leads with an axis of 1 (RuntimeError: slow_conv2d: "
           "grad_weight must be contiguous; for the transposed convolution, grad_weight needs "
           "to be contiguous), on a batch of one read from channels_last",
    evidence="torch 2.13.0+cpu, no Keras: x = randn(1, 3, 4, 3).permute(0, 3, 1, 2), w = "
             "randn(3, 3, 3, 1, requires_grad=True); conv2d(x, w.permute(3, 2, 0, 1)) then "
             "autograd.grad raises 'slow_conv2d: grad_weight must be contiguous'; with a batch "
             "of 2, two filters, one input channel, a 1x1 kernel, dilation 2 or a contiguous NCHW x "
             "it does not. "
             "conv_transpose2d(x of shape (1, 1, 5, 1) from NHWC, randn(3, 2, 2, 1)."
             "permute(3, 2, 0, 1), stride 2) raises 'grad_weight needs to be contiguous'; a "
             "batch of 2, or 2 input channels, do not. Gradient twins Conv2D-grad-030, -042, "
             "-061 and Conv2DTranspose-grad-094")


def _onednn_transposed_input_gradient(case):
    """A Conv2DTranspose gradient twin whose input gradient TensorFlow computes with the
    oneDNN Conv2D of TF_ONEDNN_CONV2D's shapes: dx = conv2d(u, kernel, strides), u of
    `filters` channels, so one filter, strides (1, s > 1) and an input one column wide."""
    if case.params.get("contract") != "gradient" or case.layer != "Conv2DTranspose":
        return False
    config = case.config
    x = case.inputs[0]
    width = x.shape[-1] if config.get("data_format") == "channels_first" else x.shape[-2]
    strides = as_tuple(config.get("strides", 1), 2, "strides")
    return config["filters"] == 1 and strides[0] == 1 and strides[1] > 1 and width == 1


TF_ONEDNN_TRANSPOSED_INPUT_GRADIENT = Divergence(
    candidates=("tf.keras", "tf_keras", "keras-tensorflow"),
    when=_onednn_transposed_input_gradient,
    reason="the input gradient of Conv2DTranspose is a Conv2D of the cotangent (one channel "
           "per filter) with the layer's strides, and TensorFlow runs it with oneDNN's Conv2D, "
           "wrong on one input channel, strides (1, s > 1) and an output one column wide (the "
           "forward pass's TF_ONEDNN_CONV2D)",
    evidence="the oracle test test_reference_gradients_match_oracle[Conv2DTranspose-keras2]: "
             "tf_keras 2.21, Conv2DTranspose(1, 2, strides=(1, 3), padding='valid') on an input "
             "one column wide: dx off by 3 where the bound is 1.3e-6 (ratio 2.3e6) while the "
             "outputs and the kernel gradient agree; keras-jax and keras-torch agree with the "
             "reference on every Conv2DTranspose gradient twin of the fixtures")


# TensorFlow's CPU MaxPool3DGrad takes "is the maximum" as |x - max| < 1e-5 (an absolute
# tolerance, in float32): tensorflow/core/kernels/pooling_ops_3d.cc,
# LaunchMaxPooling3dGradOp<CPUDevice, T>
TF_MAX_POOL3D_CLOSE = np.float32(1e-5)


def _within_tensorflow_tolerance(values):
    """Each window's shares as that kernel gives them: 1 for every value within 1e-5 of the
    window's maximum (the difference rounded to float32), 0 elsewhere."""
    values = values.astype(np.float32)
    return (np.abs(values - values.max(axis=0)) < TF_MAX_POOL3D_CLOSE) * 1.0


def tensorflow_max_pool3d_gradient(case):
    """The input gradient TensorFlow's CPU kernel gives a MaxPooling3D twin (float64)."""
    config = {"pool_size": 2, "strides": None, "padding": "valid",
              "data_format": "channels_last", **case.config}
    x = case.inputs[0]
    y = max_pooling(x, **config)
    return _pool_vjp(x, y, case.cotangent[0], _within_tensorflow_tolerance,
                     config["pool_size"], config["strides"], config["padding"],
                     config["data_format"])[0]


def _tensorflow_max_pool3d_tolerance(case):
    """A MaxPooling3D gradient twin where that gradient lands outside the bound: some window
    holds a value other than its maximum within 1e-5 of it (the small regime's values, all
    below 1e-2, often do)."""
    if case.params.get("contract") != "gradient" or case.layer != "MaxPooling3D":
        return False
    if not case.observed or "gradients" not in case.observed:
        return False
    (expected,), (bound,) = case.observed["gradients"]
    return bool(np.any(error_ratio(expected, bound, tensorflow_max_pool3d_gradient(case)) > 1))


TF_MAX_POOL3D_GRADIENT_TOLERANCE = Divergence(
    candidates=("tf.keras", "tf_keras", "keras-tensorflow"),
    when=_tensorflow_max_pool3d_tolerance,
    reason="TensorFlow's CPU MaxPool3DGrad sends a window's gradient to every value within "
           "1e-5 (absolute) of the window's maximum, not to the maximum alone",
    evidence="tensorflow/core/kernels/pooling_ops_3d.cc, LaunchMaxPooling3dGradOp<CPUDevice>: "
             "select_slice = ((tensor_in_slice - tensor_out_slice.broadcast(bcast)).abs() < "
             "tensor_in_slice.constant(1e-5)).select(out_backprop, 0). TensorFlow 2.21 CPU: "
             "the gradient of tf.nn.max_pool3d(x, [2, 1, 1], [2, 1, 1], 'VALID') on "
             "x = [1e-7, 3e-6] (shape (1, 2, 1, 1, 1)) with cotangent 1 is [1, 1], where the "
             "maximum's alone is [0, 1] (and [1e-5, 2e-5] gives [0, 1]); MaxPool (2D) routes "
             "[1e-20, 1e-14, 4e-14, 3e-21] to the maximum alone. Found by the oracle test "
             "test_reference_gradients_match_oracle[MaxPooling3D-keras3] and [-keras2] in "
             "the small regime (pool 2 on a (1, 4, 3, 3, 1) input: 13 elements off by 0.126 "
             "where the bound is 0)")


def torch_same_average_gradient(case):
    """The input gradient keras-torch gives an AveragePooling twin with "same" padding that is
    asymmetric on some axis: Keras's torch backend pads every axis by repeating the border
    values, then averages over full windows, so the gradient is the "valid" average pooling's
    on the padded input, each padded position's share folded back onto the border value it
    copies (float64)."""
    config = case.config
    data_format = config.get("data_format", "channels_last")
    x = to_channels_last(np.asarray(case.inputs[0], np.float64), data_format)
    u = to_channels_last(np.asarray(case.cotangent[0], np.float64), data_format)
    rank = x.ndim - 2
    pool = as_tuple(config["pool_size"], rank, "pool_size")
    strides = pool if config.get("strides") is None else as_tuple(config["strides"], rank, "s")
    pads = [pad_amounts(n, p, s, 1, "same") for n, p, s in zip(x.shape[1:-1], pool, strides)]
    padded = np.pad(x, [(0, 0), *pads, (0, 0)], mode="edge")
    g, = average_pooling_vjp(padded, u=u, pool_size=list(pool), strides=list(strides))
    for axis, (before, after) in enumerate(pads, start=1):
        n = x.shape[axis]
        core = np.take(g, range(before, before + n), axis=axis)
        first = [slice(None)] * g.ndim
        first[axis] = slice(0, 1)
        last = list(first)
        last[axis] = slice(n - 1, n)
        core[tuple(first)] += np.take(g, range(0, before), axis=axis).sum(axis=axis,
                                                                           keepdims=True)
        core[tuple(last)] += np.take(g, range(before + n, g.shape[axis]), axis=axis).sum(
            axis=axis, keepdims=True)
        g = core
    return from_channels_last(g, data_format)


def _torch_same_average_gradient(case):
    """An AveragePooling gradient twin, "same" padding asymmetric on some axis, where that
    gradient lands outside the bound."""
    if case.params.get("contract") != "gradient" or not case.layer.startswith("AveragePooling"):
        return False
    config = case.config
    if config.get("padding", "valid") != "same" or not case.observed:
        return False
    data_format = config.get("data_format", "channels_last")
    x = to_channels_last(np.asarray(case.inputs[0]), data_format)
    rank = x.ndim - 2
    pool = as_tuple(config["pool_size"], rank, "pool_size")
    strides = pool if config.get("strides") is None else as_tuple(config["strides"], rank, "s")
    pads = [pad_amounts(n, p, s, 1, "same") for n, p, s in zip(x.shape[1:-1], pool, strides)]
    if all(before == after for before, after in pads):
        return False
    (expected,), (bound,) = case.observed["gradients"]
    return bool(np.any(error_ratio(expected, bound, torch_same_average_gradient(case)) > 1))


TORCH_AVERAGE_SAME_GRADIENT = Divergence(
    candidates=("keras-torch",), when=_torch_same_average_gradient,
    reason="torch backend pads asymmetric 'same' average-pooling windows by replicating the "
           "border and divides by the full window: the gradient piles the padded copies' "
           "shares onto the border values, even where the outputs agree (constant data)",
    evidence="the forward's TORCH_AVERAGE_SAME (keras-team/keras#19721; "
             "keras/src/backend/torch/nn.py _apply_same_padding, mode='replicate', then "
             "avg_pool3d with padding 0), seen in the backward pass: AveragePooling3D-grad-003 "
             "(pool [8, 16, 16], 'same', the long regime's constant input, whose outputs torch "
             "gets right) gives 0.003615 where the reference gives 0.019280 (ratio 6.8e6); "
             "torch_same_average_gradient reproduces keras-torch's gradient there")


def _strided_past_the_kernel(case):
    """A Conv2DTranspose gradient twin whose kernel is shorter than its stride on some axis
    (the input gradient's Conv2D of the cotangent steps over positions no tap reads)."""
    if case.params.get("contract") != "gradient" or case.layer != "Conv2DTranspose":
        return False
    kernel = as_tuple(case.config["kernel_size"], 2, "kernel_size")
    strides = as_tuple(case.config.get("strides", 1), 2, "strides")
    return any(k < s for k, s in zip(kernel, strides))


TF_TRANSPOSED_GRADIENT_ABORT = Divergence(
    candidates=("tf.keras", "tf_keras", "keras-tensorflow"), when=_strided_past_the_kernel,
    reason="TensorFlow's Conv2DTranspose gradient whose kernel is shorter than its stride "
           "is not determined by the case alone: the same twin passes in one process, gives "
           "a wrong input gradient in another and aborts (SIGABRT) a third, as a read of "
           "memory nothing wrote would",
    evidence="Conv2DTranspose-grad-034 (Conv2DTranspose(1, 1, strides=2, output_padding=1), "
             "small regime) on tf.keras: passes alone and in the layer's whole golden set "
             "in one process (three runs); killed the process with exit code -6 in a "
             "fresh-clone run of README's command at 866066a; in `reports/publish.sh "
             "tf.keras` at 952a0db gave dx[0, 2, 2, 0] = 0.158882961 where the truth is "
             "-0.0257307031 (error 0.185, bound 1.53e-08). The class (kernel < stride on an "
             "axis) is the case's, not pinned further: xpasses are expected")
