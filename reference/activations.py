"""The built-in Keras activations, elementwise on float64 arrays.

`spec` is "keras3" or "keras2": they differ in hard_sigmoid, and tf_keras knows fewer names
(NAMES_BY_SPEC).
"""
import math

import numpy as np

from reference.config import OutOfScope

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def linear(x):
    return x


def relu(x):
    return np.maximum(x, 0.0)


def tanh(x):
    return np.tanh(x)


def sigmoid(x):
    """1 / (1 + exp(-x)), written so that neither branch overflows."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def hard_sigmoid_keras3(x):
    """relu6(x + 3) / 6: 0 for x <= -3, 1 for x >= 3."""
    return np.clip(x + 3.0, 0.0, 6.0) / 6.0


def hard_sigmoid_keras2(x):
    """clip(0.2 x + 0.5, 0, 1): 0 for x <= -2.5, 1 for x >= 2.5."""
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def softmax(x, axis=-1):
    """exp(x - max) / sum(exp(x - max)) along `axis` (the last one in the Activation layer);
    an empty axis gives an empty result."""
    x = np.asarray(x)
    if x.shape[axis] == 0:
        return np.array(x, np.float64)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def elu(x, alpha=1.0):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def selu(x):
    """SELU_SCALE * elu(x, SELU_ALPHA)."""
    return SELU_SCALE * elu(x, SELU_ALPHA)


def softplus(x):
    """log(1 + exp(x)), computed without overflow."""
    return np.logaddexp(0.0, x)


def softsign(x):
    return x / (1.0 + np.abs(x))


def exponential(x):
    return np.exp(x)


# Keras 3's further activations (keras/src/activations/activations.py); tf_keras knows gelu,
# mish, relu6, leaky_relu, log_softmax, silu and swish of them. Each is the function Keras
# documents, exact for finite inputs (no intermediate rounds or overflows: squareplus of -1e20
# is 5e-21, not the inf of x * x in float32); at +-inf, what IEEE arithmetic gives on Keras's
# formula (x * sigmoid(x) at -inf is -inf * 0 = NaN).

SQRT_HALF = math.sqrt(0.5)
GELU_TANH_SCALE = math.sqrt(2.0 / math.pi)       # the tanh form's sqrt(2 / pi)
GELU_TANH_CUBIC = 0.044715
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def relu6(x):
    """min(max(x, 0), 6)."""
    return np.clip(x, 0.0, 6.0)


def leaky_relu(x, negative_slope=0.2):
    """x for x > 0, negative_slope * x otherwise (keras.activations.leaky_relu's 0.2, not the
    LeakyReLU layer's 0.3)."""
    return np.where(x > 0, x, negative_slope * x)


def silu(x):
    """x * sigmoid(x) (swish)."""
    return x * sigmoid(x)


def gelu(x, approximate=False):
    """x * Phi(x), Phi the standard normal CDF: 0.5 x erfc(-x / sqrt(2)), which keeps the
    digits of large negative x (1 + erf(x / sqrt(2)) loses them). approximate=True: the tanh
    form 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))). A layer's activation "gelu" is
    approximate=False in both Kerases: a name carries no arguments."""
    if approximate:
        inner = GELU_TANH_SCALE * (x + GELU_TANH_CUBIC * x ** 3)
        return 0.5 * x * (1.0 + np.tanh(inner))
    return 0.5 * x * _erfc(-x * SQRT_HALF)


def mish(x):
    """x * tanh(softplus(x))."""
    return x * tanh(softplus(x))


def hard_silu(x):
    """x * hard_sigmoid(x) = x * relu6(x + 3) / 6 (hard_swish): 0 for x <= -3, x for x >= 3."""
    return x * hard_sigmoid_keras3(x)


def hard_tanh(x):
    """min(max(x, -1), 1)."""
    return np.clip(x, -1.0, 1.0)


def celu(x, alpha=1.0):
    """max(x, 0) + alpha * expm1(min(x, 0) / alpha)."""
    return np.maximum(x, 0.0) + alpha * np.expm1(np.minimum(x, 0.0) / alpha)


def log_sigmoid(x):
    """log(sigmoid(x)) = -softplus(-x)."""
    return -softplus(-x)


def tanh_shrink(x):
    """x - tanh(x)."""
    return x - np.tanh(x)


def hard_shrink(x, threshold=0.5):
    """x where |x| > threshold, else 0 (NaN fails the comparison: 0, as Keras's where gives)."""
    return np.where(np.abs(x) > threshold, x, 0.0)


def soft_shrink(x, threshold=0.5):
    """x - threshold above threshold, x + threshold below -threshold, else 0 (NaN: 0)."""
    return np.where(x > threshold, x - threshold, np.where(x < -threshold, x + threshold, 0.0))


def threshold(x, threshold, default_value):
    """x where x > threshold, else default_value. No defaults: a name alone cannot call it."""
    return np.where(x > threshold, x, default_value)


def sparse_plus(x):
    """0 for x <= -1, (x + 1)^2 / 4 for -1 < x < 1, x for x >= 1."""
    return np.where(x <= -1, 0.0, np.where(x < 1, 0.25 * (x + 1.0) ** 2, x))


def sparse_sigmoid(x):
    """0 for x <= -1, (x + 1) / 2 for -1 < x < 1, 1 for x >= 1."""
    return np.where(x <= -1, 0.0, np.where(x >= 1, 1.0, 0.5 * (x + 1.0)))


def squareplus(x, b=4):
    """(x + sqrt(x^2 + b)) / 2, written b / (2 (sqrt(x^2 + b) - x)) for x < 0, where the sum
    cancels; sqrt(x^2 + b) as hypot(x, sqrt(b)), which does not overflow. At -inf Keras's
    formula is -inf + inf: NaN."""
    root = np.hypot(x, math.sqrt(b))
    negative = b / (2.0 * (root - np.minimum(x, 0.0)))
    y = np.where(x < 0, negative, 0.5 * (x + root))
    return np.where(np.isneginf(x), np.nan, y)


def glu(x, axis=-1):
    """a * sigmoid(b), a and b the first and second halves of x along `axis` (whose length must
    be even): the output's axis is half as long."""
    if x.shape[axis] % 2:
        raise ValueError(f"glu halves axis {axis}, whose length {x.shape[axis]} is odd")
    a, b = np.split(x, 2, axis=axis)
    return a * sigmoid(b)


def log_softmax(x, axis=-1):
    """x - max - log(sum(exp(x - max))) along `axis`: NaN across a row holding NaN or +inf."""
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def sparsemax(x, axis=-1):
    """The Euclidean projection of each row (along `axis`) onto the probability simplex
    (Martins and Astudillo 2016, Algorithm 1): p = max(x - tau, 0) with z the row sorted
    descending, k = max{j : 1 + j z_j > z_1 + ... + z_j} and tau = (z_1 + ... + z_k - 1) / k.
    Each row sums to 1. A row holding NaN or +inf has no projection: NaN; -inf gives 0."""
    rows = np.moveaxis(x, axis, -1)
    z = -np.sort(-rows, axis=-1)
    tops = np.cumsum(z, axis=-1)
    j = np.arange(1, z.shape[-1] + 1)
    k = np.sum(1.0 + j * z > tops, axis=-1, keepdims=True)
    tau = (np.take_along_axis(tops, np.maximum(k, 1) - 1, axis=-1) - 1.0) / k
    undefined = np.any(np.isnan(rows) | np.isposinf(rows), axis=-1, keepdims=True) | (k == 0)
    p = np.where(undefined, np.nan, np.maximum(rows - tau, 0.0))
    return np.moveaxis(p, -1, axis)


_BY_NAME = {
    "linear": linear, "relu": relu, "tanh": tanh, "sigmoid": sigmoid, "softmax": softmax,
    "elu": elu, "selu": selu, "softplus": softplus, "softsign": softsign,
    "exponential": exponential,
    "gelu": gelu, "mish": mish, "relu6": relu6, "leaky_relu": leaky_relu,
    "log_softmax": log_softmax, "silu": silu, "swish": silu,
    "celu": celu, "glu": glu, "hard_shrink": hard_shrink, "hard_silu": hard_silu,
    "hard_swish": hard_silu, "hard_tanh": hard_tanh, "log_sigmoid": log_sigmoid,
    "soft_shrink": soft_shrink, "sparse_plus": sparse_plus, "sparse_sigmoid": sparse_sigmoid,
    "sparsemax": sparsemax, "squareplus": squareplus, "tanh_shrink": tanh_shrink,
    "threshold": threshold,
}
# The seed documents' eleven: the activation domain of the layers beyond Activation and Dense
NAMES = ("linear", "relu", "tanh", "sigmoid", "hard_sigmoid", "softmax", "elu", "selu",
         "softplus", "softsign", "exponential")
# What tf_keras's activations.get(name) knows (tf_keras/src/activations.py: its own functions
# and tf.nn's leaky_relu, log_softmax, relu6 and silu), and what Keras 3's does (the keys of
# ALL_OBJECTS_DICT in keras/src/activations/__init__.py, swish and hard_swish its aliases)
KERAS2_NAMES = (*NAMES, "gelu", "mish", "relu6", "leaky_relu", "log_softmax", "silu", "swish")
KERAS3_NAMES = (*KERAS2_NAMES, "celu", "glu", "hard_shrink", "hard_silu", "hard_swish",
                "hard_tanh", "log_sigmoid", "soft_shrink", "sparse_plus", "sparse_sigmoid",
                "sparsemax", "squareplus", "tanh_shrink", "threshold")
NAMES_BY_SPEC = {"keras3": KERAS3_NAMES, "keras2": KERAS2_NAMES}
# Keras calls a layer's activation with x alone: threshold has no default threshold or
# default_value, so Keras 3 builds Activation("threshold") and raises TypeError at the call
NEEDS_ARGUMENTS = frozenset({"threshold"})


def _quiet(f):
    """f without NumPy's warnings: the reference computes inf and NaN on purpose, as IEEE
    arithmetic does."""
    def quiet(x, *args, **kwargs):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            return f(x, *args, **kwargs)
    quiet.__name__, quiet.__doc__ = f.__name__, f.__doc__
    return quiet


def activation(name, spec="keras3"):
    return _quiet(_activation(name, spec))


def _activation(name, spec="keras3"):
    """The activation function Keras means by `name` (None means linear). A serialized
    function ({"class_name": "function", "config": "relu", ...}) means its name; one whose
    name is "package>name" was registered by another package (keras_hub's
    "keras_hub>gelu_approximate"), which Keras builds and runs once that package is imported:
    outside the scope. Keras 3 reads a plain string in its own table only (activations.get),
    so it refuses "package>name" as a string; tf_keras looks it up among registered objects."""
    serialized = isinstance(name, dict) and name.get("class_name") == "function"
    if serialized:
        name = name.get("config")
    if name is None:
        return linear
    if not isinstance(name, str):
        raise OutOfScope(f"outside the scope: activation={name!r} is not a built-in name")
    if spec not in NAMES_BY_SPEC:
        raise ValueError(f"Unknown Keras spec {spec!r}: expected 'keras3' or 'keras2'")
    if ">" in name and (serialized or spec == "keras2"):
        raise OutOfScope(f"outside the scope: activation {name!r} is registered by another "
                         f"package (keras.saving.register_keras_serializable); Keras builds "
                         f"and runs it once that package is imported")
    if name not in NAMES_BY_SPEC[spec]:
        raise ValueError(f"Unknown activation function: {name!r} ({spec})")
    if name in NEEDS_ARGUMENTS:
        raise ValueError(f"activation {name!r} needs arguments that a name cannot give: "
                         f"Keras calls it with x alone and raises TypeError")
    if name == "hard_sigmoid":
        return hard_sigmoid_keras3 if spec == "keras3" else hard_sigmoid_keras2
    return _BY_NAME[name]
