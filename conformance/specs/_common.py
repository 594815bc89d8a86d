"""Tolerance pieces shared by several specs: how error passes through an activation, and the
bound of a linear map (Dense, convolution) followed by one."""
import contextvars
import inspect

import numpy as np

from conformance import tolerance
from conformance.spec import Divergence, Expected
from conformance.specs import _activation_bounds, _engine_activations, _engine_runs
from conformance.elements import error_ratio
from reference.config import OutOfScope
from reference.activations import SELU_ALPHA, SELU_SCALE, activation as get_activation

# Ulps of a float32 implementation's own evaluation of each activation, and the scale added to
# |f(z)| where Keras's own formula rounds an intermediate that f(z) does not show
# (hard_sigmoid's relu6(z + 3) / 6 rounds z + 3). Every other bound is relative to |f(z)|:
# elu and selu near 0 are expm1 (alpha * (exp(z) - 1) evaluated as written loses every digit
# there: TensorFlow's kernel, a known divergence below), softplus of a negative z is
# log1p(exp(z)). Measured against TensorFlow, JAX, PyTorch and NumPy float32 on CPU; each
# allows a vectorised exp/tanh/log with a few ulps of error (Eigen's and XLA's are within 4).
ACTIVATION_ULPS = {
    None: (0, 0.0), "linear": (0, 0.0), "relu": (0, 0.0),
    "tanh": (8, 0.0), "sigmoid": (8, 0.0), "hard_sigmoid": (4, 1.0),
    "elu": (8, 0.0), "selu": (8, 0.0), "softplus": (8, 0.0), "softsign": (4, 0.0),
    "exponential": (8, 0.0),
    # Keras 3's further names (conformance/specs/_activation_bounds.py adds the spread of the
    # non-monotone ones, gelu's rounded argument and the flushed sigmoid of silu(-88)). Exact:
    # relu6, hard_tanh, hard_shrink. A product with a constant rounds its constant too:
    # leaky_relu's 0.2 * z (2), soft_shrink's z - 0.5 (2: a tie), sparse_sigmoid's (z + 1) / 2 (2).
    # Measured (TensorFlow, JAX, PyTorch, NumPy, float32, CPU, 31000 inputs over every
    # regime), the worst error over the bound's other parts: gelu 11 (JAX at z = -1.39; the
    # rounding of gelu's erfc argument is carried apart), silu 7, mish 7 (TensorFlow),
    # celu 4.9 (JAX's expm1), log_sigmoid 4.1, sparse_plus 3.8, hard_silu 2.7 ulps of |f(z)|;
    # gelu, silu and mish get half as much again, so that TensorFlow stays below 0.75 of
    # the bound. Where Keras's own formula cancels, the scale is |z|:
    # tanh_shrink's z - tanh(z) near 0, squareplus's z + sqrt(z^2 + 4) for z < 0, gelu's tanh
    # form's 1 + tanh(...) for z < 0, hard_silu's z * (z / 6 + 1 / 2) (Keras-NumPy) near -3.
    "relu6": (0, 0.0), "hard_tanh": (0, 0.0), "hard_shrink": (0, 0.0), "leaky_relu": (2, 0.0),
    "soft_shrink": (2, 0.0), "sparse_sigmoid": (2, 0.0), "sparse_plus": (6, 0.0),
    "gelu": (16, 0.0), "silu": (12, 0.0), "swish": (12, 0.0), "mish": (12, 0.0),
    "celu": (8, 0.0), "log_sigmoid": (8, 0.0), "hard_silu": (4, np.abs),
    "hard_swish": (4, np.abs), "tanh_shrink": (8, np.abs), "squareplus": (4, np.abs),
    "gelu_approximate": (8, np.abs),
    # rows, not elements (_activation_bounds.ROW_BOUNDS): log_softmax, sparsemax, glu
}


def through_activation(name, z, bound, keras_spec):
    """(f(z), bound on a float32 f(z')) for |z' - z| <= bound, f the named activation."""
    f = get_activation(name, keras_spec)
    with np.errstate(invalid="ignore", over="ignore"):
        y = f(z)
    if isinstance(name, dict):
        name = name.get("config")
    if name == "softmax":
        return y, tolerance.softmax_bound(z, bound)
    if name in _activation_bounds.ROW_BOUNDS:
        return y, _activation_bounds.ROW_BOUNDS[name](z, bound)
    bound = elementwise_bound(name, f, z, y, bound)
    _watch_exp_minus_one(name, z, y, bound)
    y, bound = _engine_runs.watch(name, z, y, bound, keras_spec)
    return y, bound


def elementwise_bound(name, f, z, y, bound):
    """Bound on a float32 f(z') for |z' - z| <= bound, f elementwise with y = f(z): f's
    spread over the interval, its evaluation (ACTIVATION_ULPS; a callable scale is of z) and a
    flushed subnormal factor (_activation_bounds)."""
    ulps, scale = ACTIVATION_ULPS[name]
    if callable(scale):                 # |z|, where Keras's formula cancels
        with np.errstate(invalid="ignore"):
            scale = np.where(np.isfinite(z), scale(np.asarray(z, np.float64)), 0.0)
    return (_activation_bounds.spread(f, z, bound, name)
            + tolerance.evaluation_bound(y, ulps, scale)
            + _activation_bounds.flushed_factor(name, z))


# tf_exp_minus_one_in_recurrence follows every elu of a recurrence's Bounded run: while a list
# is set here, through_activation appends to it each elu or selu whose value TensorFlow's
# formula puts outside that step's bound
_EXP_MINUS_ONE_STEPS = contextvars.ContextVar("exp_minus_one_steps", default=None)


def _watch_exp_minus_one(name, z, y, bound):
    steps = _EXP_MINUS_ONE_STEPS.get()
    if steps is not None and name in ("elu", "selu"):
        if any(np.any(error_ratio(y, bound, tensorflow_exp_minus_one(name, z, 1.0, ulps)) > 0.5)
               for ulps in (-1, 0, 1)):       # exp one ulp off, as Eigen's may be
            steps.append(name)


def exact_expect(fn):
    """expect() of a layer that only moves data: fn(inputs, **config), exactly (with the case's
    Keras spec where fn takes one)."""
    def expect(case):
        spec = {"spec": case.spec} if "spec" in inspect.signature(fn).parameters else {}
        return Expected([fn(*case.inputs, **case.config, **spec)], [tolerance.exact()])
    return expect


def linear_then_activation(fn, x, weights, config, terms, keras_spec):
    """Expected output, bound and overflow alternative (Expected.overflow) of
    fn(x, *weights, **config), a sum of `terms` products per output element followed by
    config's activation. The sum's magnitude is fn evaluated on |x| and |weights| without the
    activation. Where the sum can overflow part way, the activation of the infinity it then
    reaches is admitted too."""
    linear = dict(config, activation=None, spec=keras_spec)
    with np.errstate(invalid="ignore", over="ignore"):
        z = fn(x, *weights, **linear)
        magnitude = fn(np.abs(x), *[np.abs(w) for w in weights], **linear)
        z_bound = tolerance.sum_bound(magnitude, terms, z, overflow="admit", products=True)
        sides = tolerance.overflow_sides(magnitude, z, z_bound)
        y, bound = through_activation(config.get("activation"), z, z_bound, keras_spec)
        alternative = tolerance.overflow_alternative(
            get_activation(config.get("activation"), keras_spec), z, sides)
    return y, bound, alternative


# Where TensorFlow's and JAX's CPU kernels part from IEEE arithmetic on special values -------

TENSORFLOW = ("tf.keras", "tf_keras", "keras-tensorflow")
# The deploy engines handed tf.keras's traced graph (conformance/candidates/one_layer.py): what
# Keras 3 on TensorFlow writes into that graph (a sum rewritten as tf.nn.bias_add), they run too
CONVERTED_FROM_TF_KERAS = ("litert", "litert-builtin", "litert-fp16", "onnxruntime")


def _activation_is_softmax(case):
    return case.config.get("activation") == "softmax"


def tf_softmax_divergence(logits_of, applies=_activation_is_softmax, axis_of=lambda case: -1):
    """TensorFlow's softmax of rows holding NaN or +inf beside finite or -inf logits.
    logits_of(case) gives the softmax's input (the layer's output before its activation);
    applies(case) whether the case runs TensorFlow's softmax (the layer's activation is
    softmax), along axis_of(case)."""
    def when(case):
        if not applies(case) or case.params.get("regime") != "special":
            return False
        z, axis = np.asarray(logits_of(case), np.float64), axis_of(case)
        special = np.isnan(z) | np.isposinf(z)
        return bool(np.any(special.any(axis=axis) & (~special).any(axis=axis)))
    return Divergence(
        candidates=TENSORFLOW, when=when,
        reason="TensorFlow's CPU softmax of a row holding NaN or +inf beside finite or -inf "
               "logits gives 0 for those, where IEEE arithmetic (and Keras on "
               "JAX, torch and NumPy) gives NaN across the row",
        evidence="tf.keras and tf_keras 2.21 on CPU: softmax([nan, 1, 2]) and "
                 "softmax([inf, 1, 2]) give [nan, 0, 0]; keras-jax, keras-torch and keras-numpy "
                 "give [nan, nan, nan]; exp(x - max) / sum(exp(x - max)) is NaN in every "
                 "element once max is NaN or inf")


def tensorflow_exp_minus_one(name, z, alpha=1.0, exp_ulps=0):
    """What TensorFlow's CPU kernels give for elu (with alpha) or selu of float32 z:
    alpha * (exp(z) - 1) evaluated in float32 as written (the Elu and Selu functors of
    tensorflow/core/kernels/relu_op_functor.h), so exp(z) rounds to 1 near 0. exp_ulps moves
    float32 exp(z) by that many ulps first: Eigen's vectorized exp is not correctly rounded
    (tf.exp(-0.07925932) = 0.9238003, one ulp below 0.92380035), and the subtraction then
    turns one ulp of exp into up to 1 / |exp(z) - 1| ulps of the result."""
    z = np.asarray(z, np.float64).astype(np.float32)
    one, scale = np.float32(1), np.float32(1)
    if name == "selu":
        alpha, scale = SELU_ALPHA, SELU_SCALE
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(z)
        for _ in range(abs(exp_ulps)):
            e = np.nextafter(e, np.float32(np.inf if exp_ulps > 0 else -np.inf))
        negative = np.float32(scale * alpha) * (e - one)
        return np.where(z < 0, negative, np.float32(scale) * z).astype(np.float64)


def tf_exp_minus_one_divergence(logits_of, activation_of=lambda case: (
        case.config.get("activation"), 1.0)):
    """TensorFlow's elu and selu near 0: exp(z) - 1 in float32 (tensorflow_exp_minus_one).
    logits_of(case) gives f's input, activation_of(case) (name, alpha). A case is covered
    where that formula, with exp correctly rounded or one ulp off either way, is at more
    than half the bound of some element (the candidate's own rounding of z moves it by less
    than the rest)."""
    def when(case):
        name, alpha = activation_of(case)
        if name not in ("elu", "selu") or not case.expected:
            return False
        return any(np.any(error_ratio(case.expected[0], case.bounds[0],
                                      tensorflow_exp_minus_one(name, logits_of(case), alpha,
                                                               ulps)) > 0.5)
                   for ulps in (-1, 0, 1))      # exp one ulp off, as Eigen's may be
    return Divergence(candidates=EXP_MINUS_ONE, when=when, reason=EXP_MINUS_ONE_REASON,
                      evidence=EXP_MINUS_ONE_EVIDENCE)


EXP_MINUS_ONE_REASON = (
    "TensorFlow's elu and selu evaluate alpha * (exp(x) - 1) in float32 as written, so for "
    "negative x near 0 exp(x) rounds to 1 and every digit cancels (expm1 keeps them: Keras on "
    "JAX, torch and NumPy)")
# onnxruntime runs tf2onnx's Elu and Selu operators, which ONNX defines by the same formula
EXP_MINUS_ONE = (*TENSORFLOW, "onnxruntime")
EXP_MINUS_ONE_EVIDENCE = (
    "tensorflow/core/kernels/relu_op_functor.h, the Elu and Selu functors: "
    "(features < 0).select(features.exp() - 1, features); tf.keras and tf_keras 2.21 on CPU: "
    "elu(-3e-9) = 0 and elu(-1e-5) = -1.001358e-05 where the exact value is -9.999950e-06 "
    "(relative error 1.4e-4); keras-jax, keras-torch and keras-numpy give -3e-09 and "
    "-9.99995e-06" +
    "; onnxruntime 1.32 computes tf2onnx's Elu and Selu operators, which the ONNX standard "
    "defines as alpha * (exp(x) - 1) (onnx/reference/ops/op_elu.py and op_selu.py): each of "
    "its 24 failing fixture cases with elu or selu lies inside this predicate")


def tf_exp_minus_one_in_recurrence(activations_of, expect):
    """tf_exp_minus_one_divergence inside a recurrence: elu or selu as one of the names
    activations_of(case) gives, and some step of the layer's Bounded run (expect(case)) where
    TensorFlow's formula, on that step's exact input, lies beyond half that step's bound. A
    later step can shrink such an error below the output's bound (the case then xpasses); a
    case where no step's elu is off that far keeps every step within the bound the output's
    is built from."""
    def when(case):
        if not {"elu", "selu"} & set(activations_of(case)):
            return False
        steps = []
        token = _EXP_MINUS_ONE_STEPS.set(steps)
        try:
            expect(case)
        except OutOfScope:
            return False
        finally:
            _EXP_MINUS_ONE_STEPS.reset(token)
        return bool(steps)
    return Divergence(candidates=EXP_MINUS_ONE, when=when,
                      reason=EXP_MINUS_ONE_REASON + "; inside a recurrence, at some step",
                      evidence=EXP_MINUS_ONE_EVIDENCE)


def tf_activation_divergences(logits_of, **engines):
    """TensorFlow's known divergences of a layer's activation (softmax over special values,
    elu and selu near 0), for a layer whose activation's input is logits_of(case), and the
    deploy engines' (_engine_activations.activation_divergences, given `engines`:
    clamped_on, fused_on, logits_on)."""
    return (tf_softmax_divergence(logits_of), tf_exp_minus_one_divergence(logits_of),
            *_engine_activations.activation_divergences(logits_of, **engines))


def linear_part(fn):
    """logits_of for a layer fn(x, *weights, **config) followed by its activation."""
    def logits(case):
        with np.errstate(invalid="ignore", over="ignore"):
            return fn(case.inputs[0], *case.weights,
                      **dict(case.config, activation=None, spec=case.spec))
    return logits


def flushed(x):
    """x with every value below float32's smallest normal replaced by 0: what a kernel that
    treats subnormal inputs as zero (DAZ) sees."""
    x = np.asarray(x, np.float64)
    return np.where(np.abs(x) < tolerance.tiny(), 0.0, x)


def daz_mask_divergence(mask_of, candidates=(*TENSORFLOW, "keras-jax")):
    """A known divergence for layers whose emitted mask compares inputs: on CPU, TensorFlow
    and XLA (JAX) read subnormal inputs as zero, so the mask differs from the IEEE one
    wherever that changes a comparison. mask_of(case, x) is the layer's mask on inputs x."""
    def when(case):
        if case.params.get("regime") != "tiny":
            return False
        return not np.array_equal(mask_of(case, case.inputs[0]),
                                  mask_of(case, flushed(case.inputs[0])))
    return Divergence(
        candidates=candidates, when=when,
        reason="TensorFlow's and XLA's CPU kernels compare subnormal inputs as zero "
               "(denormals-are-zero), so a mask computed from subnormal values differs",
        evidence="Masking(0.0) on [[1e-40], [0]]: tf.keras, tf_keras and keras-jax 2.21/3.15 on "
                 "CPU emit the mask [False, False] (and output 0); keras-torch and keras-numpy "
                 "emit [True, False] as IEEE comparison does (1e-40 != 0). TensorFlow runs "
                 "its CPU kernels with flush-to-zero and denormals-are-zero set "
                 "(ScopedFlushDenormal, platform/denormal.h); keras-jax does the same on CPU")
