"""Tolerance pieces shared by several specs: how error passes through an activation, and the
bound of a linear map (Dense, convolution) followed by one."""
import numpy as np

from conformance import tolerance
from reference.activations import activation as get_activation

# Ulps of a float32 implementation's own evaluation of each activation, and the scale added to
# |f(z)| where the usual formula cancels (alpha * (exp(z) - 1) near 0 loses u * alpha;
# log(1 + exp(z)) for negative z loses u in absolute terms; relu6(z + 3) / 6 rounds z + 3).
# Measured against TensorFlow, JAX, PyTorch and NumPy float32 on CPU; each allows a vectorised
# exp/tanh/log with a few ulps of error (Eigen's and XLA's are within 4).
ACTIVATION_ULPS = {
    None: (0, 0.0), "linear": (0, 0.0), "relu": (0, 0.0),
    "tanh": (8, 0.0), "sigmoid": (8, 0.0), "hard_sigmoid": (4, 1.0),
    "elu": (8, 1.0), "selu": (8, 1.76), "softplus": (8, 1.0), "softsign": (4, 0.0),
    "exponential": (8, 0.0),
}


def through_activation(name, z, bound, keras_spec):
    """(f(z), bound on a float32 f(z')) for |z' - z| <= bound, f the named activation."""
    f = get_activation(name, keras_spec)
    y = f(z)
    if name == "softmax":
        return y, tolerance.softmax_bound(z, bound)
    ulps, scale = ACTIVATION_ULPS[name]
    return y, tolerance.monotone_bound(f, z, bound) + tolerance.evaluation_bound(y, ulps, scale)


def linear_then_activation(fn, x, weights, config, terms, keras_spec):
    """Expected output and bound of fn(x, *weights, **config), a sum of `terms` products per
    output element followed by config's activation. The sum's magnitude is fn evaluated on
    |x| and |weights| without the activation."""
    linear = dict(config, activation=None, spec=keras_spec)
    z = fn(x, *weights, **linear)
    magnitude = fn(np.abs(x), *[np.abs(w) for w in weights], **linear)
    return through_activation(config.get("activation"), z,
                              tolerance.sum_bound(magnitude, terms), keras_spec)
