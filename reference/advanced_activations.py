"""Advanced activation layers: LeakyReLU, PReLU, ELU and (Keras 2 only) ThresholdedReLU.

Each is elementwise. A scalar parameter (slope, alpha, theta) is a float32 in every Keras
(tf_keras casts it with `cast_to_floatx`; Keras 3 multiplies a float32 tensor by it), so the
reference rounds it to float32 first: LeakyReLU(0.1) scales by 0.100000001490116, and
ThresholdedReLU(theta=0.1) keeps an input equal to float32(0.1) at 0. Infinities and NaN
follow IEEE arithmetic on the formula each Keras writes (0 * inf is NaN).
"""
import numpy as np

from reference.activations import elu as elu_function, relu
from reference.config import OutOfScope, takes_config

LEAKY_RELU_DEFAULT = 0.3        # both Kerases' layer default (keras.activations.leaky_relu: 0.2)
OMITTED = object()              # a config without the key (None is a value Keras refuses)


def _float32(name, value):
    """A scalar config value as the float32 Keras computes with."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"`{name}` must be a float, got {value!r}")
    return float(np.float32(value))


def _quiet():
    return np.errstate(over="ignore", invalid="ignore", under="ignore")


@takes_config
def leaky_relu(x, *, negative_slope=OMITTED, alpha=OMITTED, spec="keras3"):
    """y = x where x > 0, negative_slope * x elsewhere (NaN stays NaN).

    Keras 3 names the slope negative_slope and still reads the Keras 2 name alpha (which then
    wins); tf_keras knows only alpha. Both default to 0.3. Keras 3 refuses a negative slope;
    tf_keras accepts it. tf_keras with alpha = 0 calls relu, max(x, 0), so -inf gives 0 there,
    where Keras 3's `x * 0` gives NaN (tf_keras `backend.relu`: `if alpha != 0.0`).
    """
    if spec == "keras2" and negative_slope is not OMITTED:
        raise ValueError("tf_keras's LeakyReLU has no argument `negative_slope` (its name is "
                         "`alpha`): 'Keyword argument not understood'")
    given = alpha if alpha is not OMITTED else negative_slope
    slope = LEAKY_RELU_DEFAULT if given is OMITTED else given
    slope = _float32("negative_slope" if spec == "keras3" else "alpha", slope)
    if spec == "keras3" and slope < 0:
        raise ValueError(f"Keras 3 refuses a negative LeakyReLU slope, got {given!r}")
    x = np.asarray(x, np.float64)
    with _quiet():
        if spec == "keras2" and slope == 0:
            return relu(x)
        return np.where(x > 0, x, slope * x)


def prelu_alpha_shape(input_shape, shared_axes=None):
    """alpha's shape: input_shape[1:] with 1 on each shared axis (Keras's build)."""
    shape = list(input_shape[1:])
    for axis in _shared_axes(shared_axes, len(input_shape)):
        shape[axis - 1] = 1
    return tuple(shape)


def _shared_axes(shared_axes, rank):
    """shared_axes as a list of axes in 1 .. rank - 1 (an int is one axis)."""
    if shared_axes is None:
        return []
    axes = list(shared_axes) if isinstance(shared_axes, (list, tuple)) else [shared_axes]
    for axis in axes:
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"shared_axes must hold ints, got {shared_axes!r}")
        if axis >= rank:
            raise ValueError(f"shared axis {axis} is beyond an input of rank {rank} (Keras: "
                             f"IndexError 'list assignment index out of range')")
        if axis < 1:
            raise OutOfScope(f"outside the scope: shared_axes={shared_axes!r} (Keras sets "
                             f"alpha's axis {axis - 1} of input_shape[1:] to 1, counting "
                             f"from the end: not the axis named)")
    return axes


@takes_config
def prelu(x, alpha, *, shared_axes=None, spec="keras3"):
    """y = relu(x) - alpha * relu(-x), elementwise, alpha broadcast over the batch and the
    shared axes: y[b, i1, ..., in] = x if x > 0 else alpha[j1, ..., jn] * x, with jk = 0 on a
    shared axis k and ik otherwise (both Kerases write it this way, so alpha = 0 at x = -inf
    gives 0 * inf = NaN).

    x: (batch, d1, ..., dn); alpha (the layer's one weight): (d1, ..., dn) with 1 on each axis
    in shared_axes (axes of x, 1 .. n; an int is one axis).
    """
    x, alpha = np.asarray(x, np.float64), np.asarray(alpha, np.float64)
    expected = prelu_alpha_shape(x.shape, shared_axes)
    if alpha.shape != expected:
        raise ValueError(f"alpha of shape {alpha.shape}, expected {expected} for an input "
                         f"{x.shape} with shared_axes={shared_axes!r}")
    with _quiet():
        return relu(x) - alpha * relu(-x)


@takes_config
def elu(x, *, alpha=1.0, spec="keras3"):
    """y = x where x > 0, alpha * (exp(x) - 1) elsewhere (computed with expm1), alpha a
    float32 of any sign (neither Keras checks it)."""
    with _quiet():
        return elu_function(np.asarray(x, np.float64), _float32("alpha", alpha))


@takes_config
def thresholded_relu(x, *, theta=1.0, spec="keras2"):
    """y = x * (x > theta): x where x > theta strictly, 0 (times x: -0, and NaN for -inf)
    elsewhere. tf_keras only (Keras 3 has no ThresholdedReLU); theta >= 0."""
    if spec != "keras2":
        raise ValueError("ThresholdedReLU is a Keras 2 layer (tf_keras); Keras 3 has none")
    theta32 = _float32("theta", theta)
    if theta32 < 0:
        raise ValueError(f"theta must be >= 0, got {theta!r}")
    x = np.asarray(x, np.float64)
    with _quiet():
        return x * (x > theta32)
