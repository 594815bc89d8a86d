"""Layers real models are made of: ReLU, Identity, Rescaling, Normalization (its mean and
variance given in the config, or adapted: held as weights), Softmax and LayerNormalization.

A scalar in a config (ReLU's max_value, negative_slope and threshold, Rescaling's scale and
offset, Normalization's mean and variance) is a float32 where Keras computes with it (a
Python float meets a float32 tensor, or `cast`), so the reference rounds it to float32 first.
Infinities and NaN follow IEEE arithmetic on the formula each Keras writes; where the two
Kerases write different formulas, `spec` picks ("keras3": Keras 3, "keras2": tf_keras).
"""
import numpy as np

from reference.activations import relu, softmax
from reference.config import OutOfScope, takes_config
from reference.normalization import feature_axes

OMITTED = object()              # a config without the key
NORMALIZATION_EPSILON = 1e-7    # backend.epsilon() in both Kerases
MASKED_LOGIT = -1e9             # Softmax's masked logit in both Kerases (float32: -1e9 exactly)


def _quiet():
    return np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")


def _f32(name, value):
    """A config number (or a nested list of them) as the float32 Keras computes with."""
    array = np.asarray(value)
    if array.dtype.kind not in "iuf" or array.dtype == bool:
        raise ValueError(f"`{name}` must be a number or a list of numbers, got {value!r}")
    return array.astype(np.float32).astype(np.float64)


# ReLU -----------------------------------------------------------------------------------------

@takes_config
def relu_layer(x, *, max_value=None, negative_slope=0.0, threshold=0.0, spec="keras3"):
    """Keras's piecewise ReLU (keras/src/activations/activations.py `ReLU.static_call`, tf_keras
    `backend.relu`), with a = negative_slope, t = threshold, m = max_value as float32:

        slope a != 0, no m, t == 0:   x if x > 0 else a * x            (leaky_relu)
        otherwise:                    y = p - a * relu(t - x)  (the last term only when a != 0)
        p = x if x > t else 0  (t != 0; strict, so x == t gives 0), relu(x) (t == 0),
            then clipped to [0, m] when m is given.

    Where t != 0, Keras 3 writes p as where(x > t, x, 0) and tf_keras as x * (x > t): NaN and
    -inf give 0 in Keras 3 and NaN in tf_keras. Both refuse a negative max_value, slope or
    threshold, and a slope or threshold of None."""
    if max_value is not None and _f32("max_value", max_value) < 0:
        raise ValueError(f"max_value of a ReLU layer cannot be negative, got {max_value!r}")
    for name, value in (("negative_slope", negative_slope), ("threshold", threshold)):
        if value is None or _f32(name, value) < 0:
            raise ValueError(f"{name} of a ReLU layer cannot be None or negative, got {value!r}")
    a, t = float(_f32("negative_slope", negative_slope)), float(_f32("threshold", threshold))
    x = np.asarray(x, np.float64)
    with _quiet():
        if negative_slope != 0 and max_value is None and threshold == 0:
            return np.where(x > 0, x, a * x)
        if threshold != 0:
            p = np.where(x > t, x, 0.0) if spec == "keras3" else x * (x > t)
        else:
            p = relu(x)
        if max_value is not None:
            p = np.clip(p, 0.0, float(_f32("max_value", max_value)))
        return p - a * relu(t - x) if negative_slope != 0 else p


# Identity -------------------------------------------------------------------------------------

@takes_config
def identity(x, *, spec="keras3"):
    """y = x. Keras 3's Identity passes a mask on (supports_masking); tf_keras's refuses one
    (TypeError 'does not support masking'); neither call takes a `mask` argument."""
    return np.asarray(x, np.float64)


# Rescaling ------------------------------------------------------------------------------------

@takes_config
def rescaling(x, *, scale, offset=0.0, spec="keras3"):
    """y = x * scale + offset, scale and offset float32 scalars or arrays broadcast against x's
    trailing axes (a list per channel, channels last)."""
    s, o = _f32("scale", scale), _f32("offset", offset)
    x = np.asarray(x, np.float64)
    try:
        np.broadcast_shapes(x.shape, s.shape, o.shape)
    except ValueError as error:
        raise ValueError(f"scale {np.shape(s)} or offset {np.shape(o)} does not broadcast "
                         f"against an input {x.shape}") from error
    with _quiet():
        return x * s + o


# Normalization --------------------------------------------------------------------------------

def _kept_axes(axis, rank):
    """Normalization's axis (an int, a list or tuple, or None: no axis kept) as sorted
    non-negative ints; ValueError for one out of range."""
    listed = [] if axis is None else [axis] if isinstance(axis, int) else list(axis)
    for a in listed:
        if isinstance(a, bool) or not isinstance(a, int) or not -rank <= a < rank:
            raise ValueError(f"All `axis` values must be in the range [-ndim, ndim), got "
                             f"axis={axis!r} for an input of rank {rank}")
    return sorted(a % rank for a in listed)


@takes_config
def normalization(x, *weights, axis=-1, mean=None, variance=None, invert=False, spec="keras3"):
    """y = (x - mean) / max(sqrt(variance), 1e-7), or with invert mean + x * max(sqrt(variance),
    1e-7), the statistics (float32) broadcast over every axis but the kept ones (`axis`).

    Given in the config, mean and variance are each broadcast against the kept axes' sizes
    with NumPy's trailing alignment (a scalar: every element alike). Keras 3 refuses a mean
    and variance of different shapes, and a mean of higher rank than the number of kept axes;
    tf_keras takes any that broadcasts to their size (`input_mean * np.ones(...)`, then a
    reshape). With neither in the config (a layer adapted to data, as every EfficientNet
    holds), they are the layer's weights in get_weights() order: mean and variance of the
    kept axes' sizes exactly (() for axis=None), then count (adapt()'s running total, not
    read by the call); both Kerases reshape them to x's rank in `finalize_state`
    (keras/src/layers/preprocessing/normalization.py, tf_keras
    src/layers/preprocessing/normalization.py)."""
    x = np.asarray(x, np.float64)
    m, spread = normalization_statistics(x.shape, weights, axis, mean, variance, spec)
    with _quiet():
        return m + x * spread if invert else (x - m) / spread


def normalization_statistics(x_shape, weights, axis, mean, variance, spec="keras3"):
    """Normalization's (mean, max(sqrt(variance), 1e-7)) for an input of x_shape, each of x's
    rank with 1 on the axes not kept (the checks and broadcasts of `normalization`)."""
    if (mean is None) != (variance is None):
        raise ValueError("Normalization needs both `mean` and `variance`, or neither")
    rank = len(x_shape)
    kept = _kept_axes(axis, rank)
    sizes = tuple(x_shape[a] for a in kept)
    shape = tuple(x_shape[a] if a in kept else 1 for a in range(rank))
    if mean is None:
        m, v = _adapted_statistics(weights, sizes)
    else:
        if weights:
            raise ValueError(f"a Normalization given its mean and variance holds no weights, "
                             f"got {len(weights)}")
        m, v = _f32("mean", mean), _f32("variance", variance)
        if spec == "keras3" and m.shape != v.shape:
            raise ValueError(f"mean {m.shape} and variance {v.shape} must have the same shape")
        if spec == "keras3" and m.ndim > len(kept):
            raise ValueError(f"The rank of `mean` ({m.ndim}) must be at most the number of "
                             f"axes ({len(kept)})")
    try:
        m, v = ((w * np.ones(sizes)).reshape(shape) for w in (m, v))
    except ValueError as error:
        raise ValueError(f"mean {np.shape(m)} does not fit the kept axes {sizes}") from error
    with _quiet():
        return m, np.maximum(np.sqrt(v), float(np.float32(NORMALIZATION_EPSILON)))


def _adapted_statistics(weights, sizes):
    """An adapted Normalization's weights (mean, variance, count) as float32 mean and variance
    of the kept axes' `sizes`; ValueError for other shapes (set_weights refuses them)."""
    if len(weights) != 3:
        raise ValueError(f"an adapted Normalization (no mean or variance in its config) takes "
                         f"its weights mean, variance and count, got {len(weights)} arrays")
    m, v = (np.asarray(w, np.float32).astype(np.float64) for w in weights[:2])
    if m.shape != sizes or v.shape != sizes:
        raise ValueError(f"an adapted Normalization's mean {m.shape} and variance {v.shape} "
                         f"must have the kept axes' shape {sizes}")
    return m, v


# Softmax --------------------------------------------------------------------------------------

def softmax_axes(axis, rank):
    """Softmax's axis (an int or a list) as sorted non-negative ints; ValueError out of range
    or listed twice (the rule of BatchNormalization's axis lists, feature_axes)."""
    return list(feature_axes(axis, rank))


def masked_logits(x, mask, spec="keras3", robust_masking=False):
    """The logits Softmax normalizes: x where the mask (broadcast) keeps, else -1e9. tf_keras
    without robust_masking adds (1 - mask) * -1e9 instead, in float32: a masked logit is the
    float32 sum x + -1e9, which keeps no digit of x below 64 (ulp(1e9)), and NaN stays NaN."""
    x = np.asarray(x, np.float64)
    if mask is None:
        return x
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise OutOfScope("outside the scope: a Softmax mask that is not boolean")
    if mask.ndim > x.ndim or np.broadcast_shapes(mask.shape, x.shape) != x.shape:
        raise ValueError(f"The `mask` {mask.shape} must be broadcastable to the inputs {x.shape}")
    if spec == "keras3" or robust_masking:
        return np.where(mask, x, MASKED_LOGIT)
    with _quiet():
        adder = np.where(mask, np.float32(-0.0), np.float32(MASKED_LOGIT))
        return (x.astype(np.float32) + adder).astype(np.float64)


def logsumexp_softmax(z, axes):
    """exp(z - logsumexp(z)) over several axes (both Kerases), with TensorFlow's logsumexp
    max + log(sum(exp(z - max))), max taken as 0 where it is not finite: a group holding +inf
    gives NaN there and 0 elsewhere, one holding NaN NaN, one of -inf only NaN."""
    with _quiet():
        top = np.max(z, axis=tuple(axes), keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        lse = top + np.log(np.sum(np.exp(z - top), axis=tuple(axes), keepdims=True))
        return np.exp(z - lse)


@takes_config
def softmax_layer(x, mask=None, *, axis=-1, robust_masking=OMITTED, spec="keras3"):
    """Softmax of masked_logits over `axis`: an int or a list of one axis normalizes as
    exp(z - max) / sum(exp(z - max)), a list of several as logsumexp_softmax. Keras 3 then
    sets the masked outputs to 0 (a group masked throughout gives 0 everywhere); tf_keras
    leaves them as the softmax gives them (about 0 beside a kept logit; a group masked
    throughout is the softmax of its float32 logits x + -1e9). robust_masking: tf_keras only
    (Keras 3 refuses the argument)."""
    if robust_masking is not OMITTED and spec == "keras3":
        raise ValueError("Keras 3's Softmax takes no `robust_masking` (tf_keras only)")
    robust = False if robust_masking is OMITTED else bool(robust_masking)
    x = np.asarray(x, np.float64)
    axes = softmax_axes(axis, x.ndim)
    z = masked_logits(x, mask, spec, robust)
    with _quiet():
        y = softmax(z, axis=axes[0]) if len(axes) == 1 else logsumexp_softmax(z, axes)
    if mask is not None and spec == "keras3":
        y = np.where(mask, y, 0.0)
    return y


# LayerNormalization ---------------------------------------------------------------------------

def layer_norm_axes(axis, rank, spec="keras3"):
    """(the normalized axes, sorted and non-negative; the weights' axes in their order).

    Keras 3 sorts the list as written (`sorted([-1, 1])` is [-1, 1]); tf_keras resolves the
    negative axes and keeps the order given (tf_utils.validate_axis). The weights' shape is
    the input's sizes on those axes in that order, and the call reshapes them (C order) to
    the input's shape with 1 on the other axes: where that order is not ascending the values
    land scrambled, as Keras computes them. ValueError: an axis out of range or listed twice."""
    listed = [axis] if isinstance(axis, int) and not isinstance(axis, bool) else axis
    if not isinstance(listed, (list, tuple)) or not listed:
        raise OutOfScope(f"outside the scope: LayerNormalization axis={axis!r}")
    for a in listed:
        if isinstance(a, bool) or not isinstance(a, int) or not -rank <= a < rank:
            raise ValueError(f"axis {axis!r} is out of range for an input of rank {rank}")
    if len({a % rank for a in listed}) != len(listed):
        raise ValueError(f"Duplicate axis: {axis!r}")
    order = sorted(listed) if spec == "keras3" else [a % rank for a in listed]
    return sorted(a % rank for a in listed), [a % rank for a in order]


def layer_norm_weight_shape(axis, input_shape, spec="keras3"):
    _, order = layer_norm_axes(axis, len(input_shape), spec)
    return tuple(input_shape[a] for a in order)


@takes_config
def layer_normalization(x, *weights, axis=-1, epsilon=1e-3, center=True, scale=True,
                        rms_scaling=OMITTED, spec="keras3"):
    """y = (x - mean) / sqrt(variance + epsilon) * gamma + beta, mean and (biased) variance
    over `axis` per element of the other axes, gamma and beta placed by layer_norm_axes.

    Weights, in get_weights() order: gamma when scale (or rms_scaling), beta when center and
    not rms_scaling. rms_scaling (Keras 3 only, deprecated): y = x / sqrt(variance + epsilon)
    * gamma, the variance still taken about the mean (Keras's own warning: it "incorrectly
    scales the input by the variance, not the root mean square")."""
    if rms_scaling is not OMITTED and spec != "keras3":
        raise ValueError("tf_keras's LayerNormalization takes no `rms_scaling`")
    rms = rms_scaling is not OMITTED and bool(rms_scaling)
    x = np.asarray(x, np.float64)
    axes, _ = layer_norm_axes(axis, x.ndim, spec)
    shape = layer_norm_weight_shape(axis, x.shape, spec)
    view = tuple(d if i in axes else 1 for i, d in enumerate(x.shape))
    names = ["gamma"] * bool(scale or rms) + ["beta"] * bool(center and not rms)
    if len(weights) != len(names):
        raise ValueError(f"expected the weights {names}, got {len(weights)} arrays")
    placed = {}
    for name, w in zip(names, weights):
        w = np.asarray(w, np.float64)
        if w.shape != shape:
            raise ValueError(f"{name} of shape {w.shape}, expected {shape}")
        placed[name] = w if w.ndim == x.ndim else w.reshape(view)
    gamma, beta = placed.get("gamma", 1.0), placed.get("beta", 0.0)
    with _quiet():
        mean, variance = layer_statistics(x, axes)
        if rms:
            return x / np.sqrt(variance + epsilon) * gamma
        return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


def layer_statistics(x, axes):
    """(mean, biased variance) over `axes`, kept as axes of length 1 (two passes)."""
    with _quiet():
        mean = np.mean(x, axis=tuple(axes), keepdims=True)
        return mean, np.mean((x - mean) ** 2, axis=tuple(axes), keepdims=True)
