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
# MlasLogisticConstants: the clamp's range, alpha_9 ... alpha_1, beta_10 ... beta_0
MLAS_LOGISTIC = tuple(np.float32(c) for c in (
    -18.0, 18.0, 4.37031012579801e-11, 1.15627324459942e-07, 6.08574864600143e-05,
    8.51377133304701e-03, 2.48287947061529e-01, 6.10247389755681e-13, 5.76102136993427e-09,
    6.29106785017040e-06, 1.70198817374094e-03, 1.16817656904453e-01, 9.93151921023180e-01))


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


def ort_sigmoid(z, y=None):
    """onnxruntime's Sigmoid of float32 z, replayed: MLAS's MlasComputeLogistic (onnxruntime/
    core/mlas/lib/logistic.cpp), z clamped to [-18, 18], the odd polynomial p(z) over the even
    q(z) in float32 by fused multiply-adds (Horner), p / q + 0.5, negatives to 0 (none clamped
    to 1: sigmoid(17.844) = 1.0000001). Bit for bit onnxruntime 1.32's on 3,000,004 points (a
    grid of [-25, 25], normal draws of deviation 6, NaN and +-inf), in tensors of any length;
    y (the exact sigmoid) is not used."""
    x = np.clip(np.asarray(z, np.float64).astype(np.float32), MLAS_LOGISTIC[0], MLAS_LOGISTIC[1])
    square = x * x

    def fma(a, b, c):       # one rounding, as the vectorized kernel's FMA
        return (a.astype(np.float64) * np.float64(b) + np.float64(c)).astype(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        p = fma(square, MLAS_LOGISTIC[2], MLAS_LOGISTIC[3])
        for alpha in MLAS_LOGISTIC[4:7]:
            p = fma(p, square, alpha)
        q = fma(square, MLAS_LOGISTIC[7], MLAS_LOGISTIC[8])
        for beta in MLAS_LOGISTIC[9:13]:
            q = fma(q, square, beta)
        out = np.maximum((p * x) / q + np.float32(0.5), np.float32(0))
    return out.astype(np.float64)


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
