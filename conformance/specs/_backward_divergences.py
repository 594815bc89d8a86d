"""Divergences in the backward pass (the gradient twins of conformance/backward/): where a
backend's gradients, not its outputs, part from the reference's VJPs."""
from conformance.spec import Divergence
from reference.padding import as_tuple


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
