"""TensorFlow's oneDNN convolutions on CPU (TensorFlow's default) that return wrong values:
Conv2D and the depthwise convolution (DepthwiseConv2D, SeparableConv2D's first step) on one
input channel, a stride > 1 along the width only and an output one column wide."""
import numpy as np

from conformance.spec import Divergence
from reference.padding import as_tuple


def _onednn_width_one(case, multiplier=None):
    """TensorFlow's oneDNN Conv2D and depthwise convolution (the CPU default) on one input
    channel, a stride > 1 along the width only and an output one column wide. The garbage there
    is deterministic per shape; this predicate covers every failing shape found and some that
    pass, so TensorFlow's answer is not trusted anywhere inside it. Conv2D needs a batch of 2
    or more; the depthwise convolution a depth_multiplier of 2 or more."""
    x = case.inputs[0] if case.inputs else None
    if x is None or np.ndim(x) != 4:
        return False
    config = case.config
    channels_first = config.get("data_format") == "channels_first"
    channels = x.shape[1] if channels_first else x.shape[-1]
    strides = as_tuple(config.get("strides", 1), 2, "strides")
    width = [np.shape(e)[-1 if channels_first else -2] for e in case.expected or []]
    enough = (x.shape[0] >= 2 if multiplier is None
              else config.get(multiplier, 1) >= 2)
    return enough and channels == 1 and strides[0] == 1 and strides[1] > 1 and width == [1]


def _onednn_conv2d_unreliable(case):
    return _onednn_width_one(case)


def _onednn_depthwise_unreliable(case):
    return _onednn_width_one(case, multiplier="depth_multiplier")


TF_ONEDNN_CONV2D = Divergence(
    candidates=("tf.keras", "tf_keras", "keras-tensorflow", "keras-torch"),
    when=_onednn_conv2d_unreliable,
    reason="oneDNN's Conv2D on CPU (TensorFlow's default, and PyTorch's for a channels_last "
           "input) returns wrong values for one input channel, strides (1, s > 1) and an "
           "output one column wide, when the batch is 2 or more",
    evidence="tf.nn.conv2d(x, k, strides=[1, 1, 2, 1], padding='VALID') with x of shape "
             "(2, 5, 3, 1) and k of shape (3, 3, 1, 3), standard normal: wrong in 20 of 20 "
             "draws on TensorFlow 2.21 (values such as 3.6e14), right in 20 of 20 with "
             "TF_ENABLE_ONEDNN_OPTS=0. A sweep of 3888 shapes (batch 1-3, H 3/5, W 1-5, "
             "C 1-2, kernels 1-3 x 1/3, strides 1-2 x 1-3, both paddings) found 88 wrong, "
             "all inside this predicate (480 shapes), none flaky. PyTorch 2.13 CPU: "
             "conv2d(x.permute(0, 3, 1, 2), ..., stride=(1, 2)) on the same NHWC array is "
             "wrong in 20 of 20 draws, right with torch.backends.mkldnn.enabled = False "
             "(and right on a contiguous NCHW input); keras-torch fails the fixture case "
             "Conv2D-084 (vouched for by keras-jax)")


TF_ONEDNN_DEPTHWISE = Divergence(
    candidates=("tf.keras", "tf_keras", "keras-tensorflow"), when=_onednn_depthwise_unreliable,
    reason="TensorFlow's oneDNN depthwise convolution on CPU returns wrong values for one input "
           "channel, depth_multiplier > 1, strides (1, s > 1) and an output one column wide",
    evidence="tf.nn.depthwise_conv2d, TensorFlow 2.21 with oneDNN: a sweep of 4608 shapes "
             "(batch 1-2, H 1/3, W 1-5, C 1-2, kernels 1/3 x 1-3, strides 1-2 x 1-3, "
             "multiplier 1/3, both paddings) found 48 wrong, every one with C = 1, multiplier 3, "
             "strides (1, 2 or 3), output width 1 (and kernel width > 1, output height > 1); "
             "SeparableConv2D inherits it from its depthwise step")
