"""OpenVINO's softplus fused into a convolution (a oneDNN post-op), replayed step by step:
oneDNN's JIT soft_relu in float32, which conformance/specs/_engines.py takes as
keras-openvino's value of a fused softplus."""
import numpy as np

# OpenVINO's softplus fused into a convolution is oneDNN's soft_relu post-op
# (jit_uni_eltwise_injector soft_relu_compute_vector_fwd): n ln 2 + ln(2^-n + p(r)), with
# x = n ln 2 + r, p a degree-5 polynomial for exp(r) and ln taken from frexp and a degree-8
# polynomial. Its two terms cancel for x < 0, so its error is absolute, about |x| 2^-24
# (7.63e-6 at x = -87: Conv2DTranspose-025; 2.6e-7 at x = -5.2: Conv2D-034). The table
# words are oneDNN's; _soft_relu_onednn gives openvino 2026.4.1's fused value bit for bit on
# 200001 points of [-100, 100] (Conv1D and DepthwiseConv1D with a kernel of 1)
ONEDNN_WORDS = {"log2ef": 0x3fb8aa3b, "ln_flt_max": 0x42b17218, "ln_flt_min": 0xc2aeac50,
                "ln2": 0x3f317218}
ONEDNN_EXP_POL = (0x3f7ffffb, 0x3efffee3, 0x3e2aad40, 0x3d2b9d0d, 0x3c07cfce)
ONEDNN_LOG1P_POL = (0xb2b4637d, 0x3f7fff8e, 0xbf001759, 0x3ea70608, 0xbea3d7bf, 0xbe361d04,
                    0xbfa8f1e6, 0xbfe1e812, 0xbfc4d30e)


def _word(bits):
    return np.array([bits], np.uint32).view(np.float32)[0]


def _fma(a, b, c):
    """float32 a * b + c rounded once (the product of two float32 is exact in float64)."""
    return (a.astype(np.float64) * b.astype(np.float64) + np.float64(c)).astype(np.float32)


def soft_relu_onednn(z):
    """oneDNN's JIT soft_relu on float32 z, step by step (ONEDNN_WORDS above): exp(r) by its
    polynomial, 2^-(n-1) built in the exponent bits, (2^-(n-1) + 2 exp(r)) / 2 split by frexp
    into 2^E m, then E ln 2 + log1p(m - 1) + n ln 2; z itself above ln(FLT_MAX)."""
    log2ef, ln_max, ln_min, ln2 = (_word(ONEDNN_WORDS[k]) for k in
                                   ("log2ef", "ln_flt_max", "ln_flt_min", "ln2"))
    x = np.asarray(z, np.float64).astype(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        s = np.maximum(np.minimum(x, ln_max), ln_min)
        n = np.floor((s * log2ef).astype(np.float32) + np.float32(0.5)).astype(np.float32)
        n_ln2 = (n * ln2).astype(np.float32)
        r = (s - n_ln2).astype(np.float32)
        p = np.full_like(r, _word(ONEDNN_EXP_POL[-1]))
        for word in (*ONEDNN_EXP_POL[-2::-1], 0x3f800000):
            p = _fma(p, r, _word(word))
        biased = np.clip(np.rint(1 - n).astype(np.int64) + 127, 0, 255).astype(np.uint32)
        v = (((p * np.float32(2)).astype(np.float32) + (biased << np.uint32(23)).view(np.float32))
             .astype(np.float32) / np.float32(2)).astype(np.float32)
        bits = v.view(np.uint32)
        e = (bits >> np.uint32(23)).astype(np.float32) - np.float32(126)
        m = ((bits & np.uint32(0x807fffff)) | np.float32(0.5).view(np.uint32)).view(np.float32)
        m = (m - np.float32(1)).astype(np.float32)
        q = np.full_like(m, _word(ONEDNN_LOG1P_POL[-1]))
        for word in ONEDNN_LOG1P_POL[-2::-1]:
            q = _fma(q, m, _word(word))
        out = (((e * ln2).astype(np.float32) + q).astype(np.float32) + n_ln2).astype(np.float32)
    return np.where(x > ln_max, x, out).astype(np.float64)
