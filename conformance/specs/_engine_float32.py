"""Deploy engines' float32 arithmetic replayed where the suite's replays (_engines.py) need it:
XNNPACK's LOG bit for bit (the converter's softplus, log(exp(x) + 1), ends in it), and
onnxruntime's Dense in float32 (the matrix product, then the bias), whose sigmoid-based
activation (MLAS's sigmoid, replayed) a case's exact pre-activation does not show."""
import numpy as np

from conformance.elements import error_ratio
from conformance.spec import Divergence
from conformance.specs._engine_onnx import ort_sigmoid

F32 = np.float32
# XNNPACK's f32-vlog rational-3-3 kernel (src/f32-vlog/rational-3-3.c.in): its sqrt(2) and
# sqrt(1/2) (whose float32 product is 1), alpha_3 of the numerator, beta_1..3 of the denominator
_SQRT2, _SQRT1_2 = F32(1.4142134190e+00), F32(7.0710688829e-01)
_ALPHA3 = F32(1.824996918440e-01)
_BETA1, _BETA2, _BETA3 = F32(1.5), F32(0.599170029163), F32(0.049584995955)
_LN2 = F32(np.log(2.0))


def _fma(a, b, c):
    """a * b + c rounded once to float32 (the product of two float32 is exact in float64)."""
    return (np.asarray(a, np.float64) * np.asarray(b, np.float64)
            + np.asarray(c, np.float64)).astype(F32)


def xnnpack_log(x):
    """XNNPACK's float32 log of x (xnn_f32_vlog_ukernel__*_rational_3_3_div): x * sqrt(2)
    rounded, its exponent e split off, its mantissa m in [1, 2) scaled back by 1/sqrt(2) and
    1 subtracted (t = m / sqrt(2) - 1, rounded at the scale of 1: an absolute error up to
    2^-24 near x = 1, which the rational p(t) / q(t) keeps), then e ln 2 + p / q by FMA.
    A subnormal x gives -inf (read as 0), x beyond FLT_MAX / sqrt(2) inf (x * sqrt(2)
    overflows); 0, negatives, inf and NaN as numpy's log. Bit for bit ai-edge-litert 2.3.0's
    XNNPACK LOG (x86-64, AVX-512) on 993,228 points: every float32 in [0.97, 1.03125), and
    600,006 of exp(uniform(-80, 80)), uniform(0.5, 2) and edge values."""
    x = np.asarray(x, np.float64).astype(F32)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        scaled = (x * _SQRT2).astype(F32)
        bits = scaled.view(np.uint32)
        exponent = (((bits >> 23) & 0xFF).astype(np.int64) - 127).astype(F32)
        mantissa = ((bits & 0x007FFFFF) | F32(1.0).view(np.uint32)).view(F32)
        t = ((mantissa * _SQRT1_2).astype(F32) - F32(1)).astype(F32)
        p = _fma(t, _ALPHA3, F32(1))
        p = _fma(t, p, F32(1))
        p = (t * p).astype(F32)
        q = _fma(t, _BETA3, _BETA2)
        q = _fma(t, q, _BETA1)
        q = _fma(t, q, F32(1))
        y = _fma(exponent, _LN2, (p / q).astype(F32))
        normal = np.isfinite(scaled) & (x >= F32(np.finfo(F32).tiny))
        edge = np.where((x > 0) & (x < F32(np.finfo(F32).tiny)), F32(-np.inf),
                        np.where(np.isinf(scaled) & (x > 0), F32(np.inf), np.log(x)))
        return np.where(normal, y, edge).astype(F32)


def matmul_then_bias(x, kernel, bias=None):
    """The float32 values x @ kernel + bias may take where the matrix product is summed first
    and the bias added after it (onnxruntime's MatMul then Add, or MLAS's Gemm, which adds C
    to the finished product): the products summed in float32 forward and backward, each
    with and without fused multiply-adds. A list of arrays of x @ kernel's shape."""
    x32 = np.asarray(x, np.float64).astype(F32)
    k32 = np.asarray(kernel, np.float64).astype(F32)
    n = k32.shape[0]
    sums = []
    with np.errstate(invalid="ignore", over="ignore"):
        for order in (range(n), range(n - 1, -1, -1)):
            for fused in (False, True):
                acc = np.zeros(x32.shape[:-1] + k32.shape[1:], F32)
                for i in order:
                    if fused:
                        acc = _fma(x32[..., i:i + 1], k32[i], acc)
                    else:
                        acc = (acc + (x32[..., i:i + 1] * k32[i]).astype(F32)).astype(F32)
                if bias is not None:
                    acc = (acc + np.asarray(bias, np.float64).astype(F32)).astype(F32)
                sums.append(acc)
    return sums


def _ort_dense_off(case):
    """Whether onnxruntime's Dense with sigmoid, silu or swish lands beyond the bound of some
    element for every float32 pre-activation matmul_then_bias gives (MLAS's sigmoid of it,
    times it in float32 for silu and swish): the sum's own rounding order cannot rescue it."""
    name = case.config.get("activation")
    if name not in ("sigmoid", "silu", "swish") or not case.expected:
        return False
    x, kernel, *bias = case.inputs[0], *case.weights
    y = np.asarray(case.expected[0], np.float64)
    bound = np.broadcast_to(np.asarray(case.bounds[0], np.float64), y.shape)
    smallest = None
    with np.errstate(invalid="ignore", over="ignore"):
        for z in matmul_then_bias(x, kernel, bias[0] if bias else None):
            value = ort_sigmoid(z).astype(F32)
            if name != "sigmoid":
                value = (z * value).astype(F32)
            ratio = np.asarray(error_ratio(y, bound, value.astype(np.float64)), np.float64)
            smallest = ratio if smallest is None else np.minimum(smallest, ratio)
    return bool(np.any(smallest > 1.0))


ORT_DENSE_FLOAT32 = Divergence(
    candidates=("onnxruntime",), when=_ort_dense_off,
    reason="onnxruntime computes Dense's pre-activation in float32, the matrix product first "
           "and the bias after it (MatMul, Add), and its Sigmoid (MLAS's approximation) moves "
           "by more than the bound between neighbouring float32 inputs: silu and swish, "
           "x * sigmoid(x), of the engine's own float32 sum land beyond the bound where the "
           "exact sum's would not",
    evidence="onnxruntime 1.32, tf2onnx 1.17: Dense-021 (units 1, swish) row 2 has exact "
             "z = -5.94248268 (float32 -5.9424825); its products summed in float32 in either "
             "order, with or without FMA, then the bias added give -5.942483 (one ulp out), "
             "where MLAS's sigmoid (ort_sigmoid, bit for bit) gives swish -0.01556105 "
             "(onnxruntime's output exactly; the reference -0.01556115, bound 9.56e-8: 1.06 "
             "bounds) while at -5.9424825 it gives -0.01556123 (0.77 bounds). Adding the bias "
             "first would give -5.9424825: the order matters, and every order the engine's "
             "MatMul and Add can take lands beyond")
