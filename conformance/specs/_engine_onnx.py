"""onnxruntime's activations where they part from IEEE float32 arithmetic, replayed for
conformance/specs/_engines.py: its MLAS Sigmoid (an approximation: an allowance, and 0
far left), silu and swish through it, and the piecewise activations TensorFlow computes
with tf.where, which tf2onnx writes as a product (NaN wherever a branch not taken is)."""
import numpy as np

from reference.activations import activation as reference_activation

# onnxruntime's Sigmoid (MLAS MlasComputeLogistic, a rational approximation): absolute error
# up to 1.66e-7 over [-25, 25] (2,000,001 points), and 0 for z below -15.83 at the earliest
# (every z below -18)
ORT_SIGMOID_ABS_ERROR = 1.7e-7
ORT_SIGMOID_ZERO_BELOW = -15.8
ORT_SIGMOID_ZERO_FROM = -18.0


def _as_product(cond, a, b):
    """where(cond, a, b) as tf2onnx writes TensorFlow's Select: cond * a + (1 - cond) * b (a
    NaN or infinity in the branch not taken, or a NaN condition's operand, gives NaN)."""
    cond = np.asarray(cond, np.float64)
    return cond * a + (1.0 - cond) * b


def _onnx_selects(name, z):
    """Keras 3's piecewise activations that TensorFlow computes with tf.where (keras/src/
    backend/tensorflow/nn.py, default thresholds), each where written as a product, or None:
    NaN wherever the product is NaN."""
    with np.errstate(invalid="ignore", over="ignore"):
        zero = np.zeros_like(z)
        if name == "hard_shrink":
            return _as_product(np.abs(z) > 0.5, z, zero)
        if name == "soft_shrink":
            return _as_product(z > 0.5, z - 0.5, _as_product(z < -0.5, z + 0.5, zero))
        if name == "sparse_plus":
            return _as_product(z <= -1, zero, _as_product(z < 1, 0.25 * (z + 1) ** 2, z))
        if name == "sparse_sigmoid":
            return _as_product(z <= -1, zero, _as_product(z >= 1, zero + 1, 0.5 * (z + 1)))
    return None


# Keras 3's activations onnxruntime computes with its Sigmoid (silu and swish: tf.nn.silu, x *
# sigmoid(x), Sigmoid and Mul) or with tf.where written as a product (_onnx_selects)
ORT_SIGMOID_TIMES_X = ("silu", "swish")
ORT_SELECTS = ("hard_shrink", "soft_shrink", "sparse_plus", "sparse_sigmoid")


def ort_sigmoid(z, y):
    """onnxruntime's sigmoid where it is replayed: 0 below ORT_SIGMOID_ZERO_FROM, y elsewhere."""
    return np.where(z < ORT_SIGMOID_ZERO_FROM, 0.0, y)


def ort_sigmoid_slack(z, y):
    """allowance() of onnxruntime's Sigmoid at z (y = sigmoid(z))."""
    slack = np.where(z < ORT_SIGMOID_ZERO_BELOW, np.maximum(y, ORT_SIGMOID_ABS_ERROR),
                     ORT_SIGMOID_ABS_ERROR)
    return np.where(z < ORT_SIGMOID_ZERO_FROM, 0.0, slack)     # replayed: 0


def onnxruntime_activation(name, z, f):
    """onnxruntime's value of activation `name` (f the reference's) at z, or None."""
    if name == "sigmoid":
        return ort_sigmoid(z, f(z))
    if name in ORT_SIGMOID_TIMES_X:
        return z * ort_sigmoid(z, reference_activation("sigmoid")(z))
    product = _onnx_selects(name, z)
    if product is not None:
        return np.where(np.isnan(product), np.nan, f(z))
    return None
