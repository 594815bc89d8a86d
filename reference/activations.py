"""The built-in Keras activations, elementwise on float64 arrays.

`spec` is "keras3" or "keras2": the two differ only in hard_sigmoid today.
"""
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
    """exp(x - max) / sum(exp(x - max)) along `axis` (the last one in the Activation layer)."""
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


_BY_NAME = {
    "linear": linear, "relu": relu, "tanh": tanh, "sigmoid": sigmoid, "softmax": softmax,
    "elu": elu, "selu": selu, "softplus": softplus, "softsign": softsign,
    "exponential": exponential,
}
NAMES = ("linear", "relu", "tanh", "sigmoid", "hard_sigmoid", "softmax", "elu", "selu",
         "softplus", "softsign", "exponential")

# Activations Keras 3 or tf_keras know by name that the seed documents do not list: a config
# naming one is outside the scope, not a config Keras refuses.
OTHER_KERAS_NAMES = frozenset({
    "gelu", "swish", "silu", "relu6", "leaky_relu", "log_softmax", "mish", "hard_silu",
    "hard_swish", "log_sigmoid", "sparse_plus", "sparsemax", "celu", "glu", "soft_shrink",
    "hard_shrink", "tanh_shrink", "hard_tanh", "squareplus", "threshold", "sparse_sigmoid",
})


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
    function ({"class_name": "function", "config": "relu", ...}) means its name."""
    if isinstance(name, dict) and name.get("class_name") == "function":
        name = name.get("config")
    if name is None:
        return linear
    if isinstance(name, str) and name in OTHER_KERAS_NAMES:
        raise OutOfScope(f"outside the scope: activation={name!r} is not in the seed documents")
    if not isinstance(name, str):
        raise OutOfScope(f"outside the scope: activation={name!r} is not a built-in name")
    if name == "hard_sigmoid":
        if spec not in ("keras3", "keras2"):
            raise ValueError(f"Unknown Keras spec {spec!r}: expected 'keras3' or 'keras2'")
        return hard_sigmoid_keras3 if spec == "keras3" else hard_sigmoid_keras2
    if name not in _BY_NAME:
        raise ValueError(f"Unknown activation function: {name!r}")
    return _BY_NAME[name]
