"""Bounds of Keras 3's further activations (gelu, silu, mish, ..., log_softmax, sparsemax, glu;
reference/activations.py) and their known divergences. conformance/specs/_common.py's
through_activation reads the pieces here; ACTIVATION_ULPS there holds each name's ulps."""
import math

import numpy as np

from conformance import tolerance
from conformance.elements import error_ratio
from conformance.spec import Divergence
from reference.activations import activation, sigmoid

# Where a non-monotone activation has its minimum: the spread of f over [z - b, z + b] takes
# f there too when the interval holds it (found by ternary search on the float64 reference)
EXTREMA = {"gelu": -0.7517915136039803, "gelu_approximate": -0.7524614172335873,
           "silu": -1.2784645353957464, "swish": -1.2784645353957464,
           "mish": -1.1924312246883382, "hard_silu": -1.5, "hard_swish": -1.5}
# Ulps of the argument a float32 formula rounds before a steep function: gelu's erfc(-z / sqrt 2)
# rounds 1 / sqrt(2) and the product, and at z = -11.7 that turns into 122 (TensorFlow) to 173
# (JAX) ulps of its 7.6e-31 (55 at z = -5.8); carried through f like an input error of 2 u |z|
ARGUMENT_ULPS = {"gelu": 2}
# z times a factor that is below float32's smallest normal in the tail (sigmoid(-88) = 6e-39):
# an engine that flushes it gets 0 for silu(-88) = -5.6e-37 (TensorFlow and JAX do), an
# absolute |z| * 4 * 2^-126 at most
FLUSHED_FACTOR = frozenset({"gelu", "gelu_approximate", "silu", "swish", "mish"})


def spread(f, z, bound, name):
    """max |f(t) - f(z)| over |t - z| <= bound: at the ends, and at f's minimum where the
    interval holds it (EXTREMA). An infinite z carries no error, as tolerance.monotone_bound."""
    z = np.asarray(z, np.float64)
    bound = np.asarray(bound, np.float64) + ARGUMENT_ULPS.get(name, 0) * tolerance.unit() * \
        np.where(np.isfinite(z), np.abs(z), 0.0)
    carried = tolerance.monotone_bound(f, z, bound)
    if name in EXTREMA:
        e = EXTREMA[name]
        with np.errstate(invalid="ignore", over="ignore"):
            inside = np.abs(z - e) <= bound
            carried = np.where(inside, np.maximum(carried, np.abs(f(np.full_like(z, e)) - f(z))),
                               carried)
    return carried


def flushed_factor(name, z):
    if name not in FLUSHED_FACTOR:
        return 0.0
    z = np.asarray(z, np.float64)
    return np.where(np.isfinite(z), np.abs(z), 0.0) * tolerance.exp_flush()


def _reach(bound, axis):
    """How far a row's softmax-like threshold can move: the largest bound in the row."""
    return np.max(np.broadcast_to(bound, bound.shape), axis=axis, keepdims=True)


def log_softmax_bound(z, bound, axis=-1):
    """y_i = z_i - m - log(sum_j exp(z_j - m)). With |z'_j - z_j| <= b_j the log-sum-exp
    moves by at most max(A, A') of tolerance.softmax_bound (each b_j weighed by its share
    s_j), so the carried error is b_i + that. Evaluation: the subtraction of m (u |z_i - m|),
    the n exps (4 ulps) and their sum, relative errors of the sum that the log turns absolute
    ((4 + LAMBDA sqrt(n) + 2) u), the log (4 ulps of it) and the last subtraction (u |y_i|)."""
    u = tolerance.unit()
    z = np.asarray(z, np.float64)
    bound = np.broadcast_to(np.asarray(bound, np.float64), z.shape)
    n = z.shape[axis]
    with np.errstate(invalid="ignore", over="ignore"):
        shifted = z - np.max(z, axis=axis, keepdims=True)
        e = np.exp(shifted)
        s = e / np.sum(e, axis=axis, keepdims=True)
        lse = np.log(np.sum(e, axis=axis, keepdims=True))
        share_up = np.where(s == 0, 0.0, s * np.exp(bound))
        share_down = np.where(s == 0, 0.0, s * np.exp(-bound))
        moved = np.maximum(np.log(np.sum(share_up, axis=axis, keepdims=True)),
                           -np.log(np.sum(share_down, axis=axis, keepdims=True)))
        y = shifted - lse
        finite = np.where(np.isfinite(shifted), np.abs(shifted), 0.0)
        evaluation = u * (finite + np.abs(np.where(np.isfinite(y), y, 0.0)) + 4.0 * lse
                          + 4.0 + tolerance.LAMBDA * math.sqrt(n) + 2.0)
    return np.where(np.isfinite(y), bound + moved + evaluation, 0.0)


def sparsemax_bound(z, bound, axis=-1):
    """p_i = max(z_i - tau, 0). tau shifts with z (tau(z + c) = tau(z) + c) and grows with
    each z_j, so it moves by at most the row's largest b_j, and p_i by b_i + that. Evaluation:
    the sorted row's running sum of up to n terms, the - 1, the / k and z_i - tau:
    (n + 3) u (sum_j |z_j| + 1) over the row's finite z_j (a misjudged support near the
    kink moves tau by no more: tau is continuous there)."""
    u = tolerance.unit()
    z = np.asarray(z, np.float64)
    bound = np.broadcast_to(np.asarray(bound, np.float64), z.shape)
    n = z.shape[axis]
    magnitude = np.sum(np.where(np.isfinite(z), np.abs(z), 0.0), axis=axis, keepdims=True)
    return bound + _reach(bound, axis) + (n + 3) * u * (magnitude + 1.0)


def glu_bound(z, bound, axis=-1):
    """y = a * sigmoid(c), a and c the halves of z along `axis`. With |a' - a| <= b_a and
    |c' - c| <= b_c the product lies between its values at the four corners (linear in a,
    monotone in c). Evaluation: sigmoid's 8 ulps and the product's one, and sigmoid(c) below
    2^-126 flushed to 0 (|a| * 4 * 2^-126)."""
    z = np.asarray(z, np.float64)
    bound = np.broadcast_to(np.asarray(bound, np.float64), z.shape)
    a, c = np.split(z, 2, axis=axis)
    ba, bc = np.split(bound, 2, axis=axis)
    with np.errstate(invalid="ignore", over="ignore"):
        y = a * sigmoid(c)
        corners = [(a + da) * sigmoid(c + dc) for da in (-ba, ba) for dc in (-bc, bc)]
        carried = np.max([np.abs(corner - y) for corner in corners], axis=0)
        carried = np.where(np.isinf(a) | np.isinf(c), 0.0, carried)
        flush = np.where(np.isfinite(a), np.abs(a), 0.0) * tolerance.exp_flush()
    return carried + tolerance.evaluation_bound(y, 9) + flush


ROW_BOUNDS = {"log_softmax": log_softmax_bound, "sparsemax": sparsemax_bound, "glu": glu_bound}


# Known divergences ------------------------------------------------------------------------

KERAS3 = ("tf.keras", "keras-tensorflow", "keras-jax", "keras-torch", "keras-numpy",
          "keras-openvino")


def keras_sparsemax(x, axis=-1):
    """Keras 3.15's sparsemax (keras/src/backend/{tensorflow,jax,torch,numpy}/nn.py): tau is
    (the sum of the running sums over the support - 1) / k, where the algorithm takes the
    running sum at k."""
    rows = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    z = -np.sort(-rows, axis=-1)
    tops = np.cumsum(z, axis=-1)
    support = z - (tops - 1.0) / np.arange(1, z.shape[-1] + 1) > 0
    k = np.sum(support, axis=-1, keepdims=True)
    tau = (np.sum(np.where(support, tops, 0.0), axis=-1, keepdims=True) - 1.0) / k
    return np.moveaxis(np.maximum(rows - tau, 0.0), -1, axis)


def _off(case, logits_of, formula):
    """Whether formula(logits), float32 or float64, is beyond half the bound somewhere."""
    with np.errstate(all="ignore"):
        got = formula(np.asarray(logits_of(case), np.float64))
    return bool(np.any(error_ratio(case.expected[0], case.bounds[0], got) > 0.5))


def _named(name, formula):
    def when_for(logits_of, activation_of):
        def when(case):
            return (activation_of(case) == name and bool(case.expected)
                    and _off(case, logits_of, formula))
        return when
    return when_for


def gelu_one_plus_erf(z):
    """PyTorch's and Keras-numpy's exact gelu in float32: x * (1 + erf(x / sqrt 2)) / 2, whose
    1 + erf cancels for x below -4 (gelu(-7) = -9e-12 becomes -0) and whose x * 2 overflows
    above 1.7e38."""
    x = np.asarray(z, np.float64).astype(np.float32)
    erf = np.vectorize(math.erf, otypes=[np.float64])(
        (x / np.float32(math.sqrt(2))).astype(np.float64)).astype(np.float32)
    return (x * (np.float32(1) + erf) / np.float32(2)).astype(np.float64)


def squareplus_as_written(z):
    """Keras's squareplus in float32: (x + sqrt(x * x + b)) / 2, b = 4; x * x overflows for
    |x| > 1.8e19 (inf, or NaN for x = -inf)."""
    x = np.asarray(z, np.float64).astype(np.float32)
    return ((x + np.sqrt(x * x + np.float32(4))) / np.float32(2)).astype(np.float64)


def torch_hardswish(z):
    """PyTorch's hardswish in float32: x * min(max(x + 3, 0), 6) / 6, inf for x > 5.7e37."""
    x = np.asarray(z, np.float64).astype(np.float32)
    return (x * np.clip(x + np.float32(3), 0, 6) / np.float32(6)).astype(np.float64)


def torch_shrink(name):
    """PyTorch's hardshrink and softshrink: NaN in, NaN out (Keras's where gives 0)."""
    return lambda z: np.where(np.isnan(z), np.nan, activation(name)(z))


def _config_activation(case):
    return case.config.get("activation")


def activation_divergences(logits_of, activation_of=_config_activation):
    """The divergences of Keras 3's further activations, for a layer whose activation input is
    logits_of(case) and whose activation is activation_of(case)."""
    def divergence(name, formula, candidates, reason, evidence):
        return Divergence(candidates=candidates,
                          when=_named(name, formula)(logits_of, activation_of),
                          reason=reason, evidence=evidence)
    return (
        divergence(
            "sparsemax", keras_sparsemax, (*KERAS3, "litert", "litert-builtin", "litert-fp16",
                                           "onnxruntime"),
            "Keras 3's sparsemax takes its threshold from the sum of the running sums over "
            "the support instead of the running sum at its end, so wherever more than one "
            "logit is in the support the output is wrong (it does not sum to 1)",
            "keras-team/keras#23425 and #23469 (merged as 6ce39d2797, then dropped by the "
            "rewind c559fa8cd5; master 3422977a5e still sums logits_cumsum_safe in "
            "keras/src/backend/tensorflow/nn.py sparsemax); Keras 3.15.1 on TensorFlow, JAX, "
            "torch and NumPy: sparsemax([0.1, 0.2, 0.3]) = [0, 0.0667, 0.1667], where the "
            "projection onto the simplex is [0.2333, 0.3333, 0.4333]"),
        divergence(
            "squareplus", squareplus_as_written, KERAS3,
            "Keras's squareplus evaluates x * x in float32, which overflows for |x| > 1.8e19: "
            "inf where the result is |x| or b / (4 |x|)",
            "keras/src/backend/*/nn.py squareplus: x + sqrt(square(x) + b); Keras 3.15.1 on "
            "TensorFlow, JAX, torch and NumPy: squareplus(4.17e20) = inf, "
            "squareplus(-2.2e21) = inf (exact: 4.17e20 and 4.5e-22)"),
        divergence(
            "gelu", gelu_one_plus_erf, ("keras-torch", "keras-numpy"),
            "PyTorch's exact gelu (and Keras's NumPy backend) evaluate x * (1 + erf(x / "
            "sqrt 2)) / 2 in float32: 1 + erf cancels for x below -4 and x * 2 overflows "
            "above 1.7e38 (TensorFlow's erfc form keeps both)",
            "keras/src/backend/numpy/nn.py gelu: x * (erf(x / sqrt_2) + 1) / 2; torch.nn."
            "functional.gelu; Keras 3.15.1: gelu(-6.975) = -0 on torch and NumPy, "
            "-1.066e-11 on TensorFlow and JAX (exact -1.0660e-11); gelu(1.73e38) = inf"),
        divergence(
            "hard_silu", torch_hardswish, ("keras-torch",),
            "PyTorch's hardswish computes x * relu6(x + 3) before dividing by 6: inf for "
            "x > 5.7e37", "keras/src/backend/torch/nn.py hard_silu calls torch.nn."
            "functional.hardswish; keras-torch 3.15.1: hard_silu(7.4e37) = inf"),
        *(divergence(
            name, torch_shrink(name), ("keras-torch",),
            f"PyTorch's {name.replace('_', '')} gives NaN for a NaN input; Keras's formula "
            f"(a where on |x| > threshold, TensorFlow, JAX and NumPy) gives 0",
            f"keras/src/backend/torch/nn.py {name} calls torch.nn.functional."
            f"{name.replace('_', '')}; keras-torch 3.15.1: {name}(nan) = nan, keras-jax, "
            f"keras-numpy and tf.keras give 0") for name in ("hard_shrink", "soft_shrink")),
    )
