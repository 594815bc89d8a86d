"""Core layers: Dense, Activation, Dropout, Flatten, Reshape, Permute, RepeatVector, Lambda,
Masking and the Input layer."""
import math

import numpy as np

from reference.activations import activation as get_activation
from reference.config import dtype_name, takes_config
from reference.layout import to_channels_last


def linear_sum(x, kernel):
    """y[..., j] = sum_i x[..., i] * kernel[i, j], elementwise in float64 so that inf and NaN
    follow IEEE arithmetic term by term (a BLAS call may skip or reorder them)."""
    return np.sum(x[..., :, None] * kernel, axis=-2)


@takes_config
def dense(x, kernel, bias=None, *, units, activation=None, use_bias=True, spec="keras3"):
    """y[..., j] = act(sum_i x[..., i] * kernel[i, j] + bias[j])

    x: (batch, ..., n) of rank 2 or more; kernel: (n, units); bias: (units,) when use_bias.
    """
    if not isinstance(units, int) or units <= 0:
        raise ValueError(f"`units` must be a positive int, got {units!r}")
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    if kernel.shape != (x.shape[-1], units):
        raise ValueError(f"kernel shape {kernel.shape} does not match ({x.shape[-1]}, {units})")
    if use_bias != (bias is not None):
        raise ValueError("a bias must be given exactly when use_bias is True")
    y = linear_sum(x, kernel)
    if use_bias:
        y = y + np.asarray(bias, np.float64)
    return get_activation(activation, spec)(y)


@takes_config
def activation_layer(x, *, activation, spec="keras3"):
    """y = act(x), elementwise (softmax: along the last axis)."""
    return get_activation(activation, spec)(np.asarray(x, np.float64))


@takes_config
def dropout(x, *, rate, noise_shape=None, seed=None, training=False, keep=None, spec="keras3"):
    """Inference: y = x. Training: y = where(keep, x / (1 - rate), 0), keep a boolean array
    that broadcasts along the axes where noise_shape is 1 and is True with probability
    1 - rate. rate 1 drops everything (keras3); tf_keras refuses rate 1 in training.

    The reference cannot draw Keras's random numbers: in training it needs `keep`.
    """
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise ValueError(f"`rate` must be a number in [0, 1], got {rate!r}")
    if seed is not None and not isinstance(seed, int):
        raise ValueError(f"`seed` must be an int or None, got {seed!r}")
    x = np.asarray(x, np.float64)
    if not training or rate == 0:
        return x
    if rate == 1 and spec == "keras2":
        raise ValueError("tf_keras's Dropout refuses rate 1 in training: rate must lie in [0, 1)")
    if keep is None:
        raise ValueError("dropout in training needs the `keep` mask the candidate drew")
    if rate == 1:
        return np.zeros_like(x)
    return np.where(np.asarray(keep, bool), x / (1.0 - rate), 0.0)


@takes_config
def flatten(x, *, data_format="channels_last"):
    """y[b, :] = the non-batch entries of x in row-major order, channels_last first.

    channels_first input (b, c, *spatial) is moved to (b, *spatial, c) before flattening, so
    both data formats give the same vector for the same image.
    """
    x = np.asarray(x, np.float64)
    if x.ndim > 2:
        x = to_channels_last(x, data_format)
    return x.reshape(x.shape[0], -1)


@takes_config
def reshape(x, *, target_shape):
    """y = x reshaped to (batch, *target_shape); one entry of target_shape may be -1."""
    x = np.asarray(x, np.float64)
    target = tuple(target_shape)
    if sum(d == -1 for d in target) > 1 or any(d == 0 or d < -1 for d in target):
        raise ValueError(f"Invalid target_shape {target_shape!r}: positive sizes and at most one -1")
    known = math.prod(d for d in target if d != -1)
    size = math.prod(x.shape[1:])
    if (-1 in target and size % known) or (-1 not in target and size != known):
        raise ValueError(f"Cannot reshape {x.shape[1:]} ({size} entries) to {target}")
    return x.reshape(x.shape[0], *target)


@takes_config
def permute(x, *, dims):
    """y[b, i_1, ..., i_n] with the axes of x in the order dims (1-based; batch stays first):
    y.shape[k] = x.shape[dims[k - 1]]."""
    x = np.asarray(x, np.float64)
    dims = tuple(dims)
    if sorted(dims) != list(range(1, len(dims) + 1)):
        raise ValueError(f"`dims` must be a permutation of 1..{len(dims)}, got {dims!r}")
    if len(dims) != x.ndim - 1:
        raise ValueError(f"`dims` {dims!r} does not fit an input of rank {x.ndim}")
    return np.transpose(x, (0, *dims))


@takes_config
def repeat_vector(x, *, n, spec="keras3"):
    """y[b, i, f] = x[b, f] for i in range(n); x must be of rank 2. Keras 3 refuses n = 0,
    tf_keras returns an empty sequence."""
    smallest = 1 if spec == "keras3" else 0
    if isinstance(n, bool) or not isinstance(n, int) or n < smallest:
        raise ValueError(f"`n` must be an int >= {smallest} in {spec}, got {n!r}")
    x = np.asarray(x, np.float64)
    if x.ndim != 2:
        raise ValueError(f"RepeatVector expects (batch, features) input, got rank {x.ndim}")
    return np.repeat(x[:, None, :], n, axis=1)


@takes_config
def lambda_layer(x, *, function, output_shape=None, mask=None, arguments=None):
    """y = function(x, **arguments). output_shape only informs shape inference and mask only
    the mask the layer emits (see lambda_mask); neither changes y."""
    if not callable(function):
        raise ValueError(f"`function` must be callable, got {function!r}")
    arguments = {} if arguments is None else arguments
    return np.asarray(function(np.asarray(x, np.float64), **arguments), np.float64)


def lambda_mask(x, *, mask=None, input_mask=None):
    """The mask a Lambda layer emits: mask(x, input_mask) when mask is callable, else mask
    itself, whatever x (a mask given as a tensor)."""
    return mask(np.asarray(x, np.float64), input_mask) if callable(mask) else mask


@takes_config
def masking(x, *, mask_value=0.0, spec="keras3"):
    """y[b, t, :] = x[b, t, :] if any x[b, t, f] != mask_value else 0.

    mask_value is first cast to the input's dtype, as Keras does. A masked step becomes 0
    (Keras 3 selects with `where`); tf_keras multiplies by the mask, so a masked step of
    infinities (mask_value +-inf) becomes NaN there.
    """
    keep = masking_mask(x, mask_value=mask_value)[..., None]
    x = np.asarray(x, np.float64)
    if spec == "keras2":
        with np.errstate(invalid="ignore"):
            return x * keep
    return np.where(keep, x, 0.0)


@takes_config
def masking_mask(x, *, mask_value=0.0, spec="keras3"):
    """The mask Masking emits: m[b, t] = any_f x[b, t, f] != mask_value, compared in the
    input's dtype (NaN differs from everything, so a step holding a NaN is never masked)."""
    x = np.asarray(x)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
    return np.any(x.astype(np.float64) != float(np.asarray(mask_value).astype(dtype)), axis=-1)


@takes_config
def input_layer(x, *, shape=None, batch_size=None, dtype=None, name=None, batch_shape=None,
                batch_input_shape=None, spec="keras3"):
    """y = x: an Input passes its data through unchanged, cast to dtype (float32 by default).

    shape excludes the batch axis; batch_shape (tf_keras's config: batch_input_shape)
    includes it; not both. The data's axes after the batch axis must fit it (a None entry
    accepts any size). The batch axis is not checked: both Kerases call a model with any batch
    (its input_spec holds None there), although batch_size fixes the declared static shape.
    name is descriptive; Keras 3 refuses one holding "/", tf_keras takes it.
    """
    x = np.asarray(x)
    if batch_shape is not None and batch_input_shape is not None:
        raise ValueError("Pass `batch_shape` or `batch_input_shape` to an Input, not both")
    if batch_input_shape is not None:
        batch_shape = batch_input_shape
    if shape is not None and batch_shape is not None:
        raise ValueError("Pass `shape` or `batch_shape` to an Input, not both")
    if spec == "keras3" and name is not None and (not isinstance(name, str) or "/" in name):
        raise ValueError(f"Keras 3 takes a name without '/', got {name!r}")
    dtype = dtype_name(dtype)
    if shape is not None:
        batch_shape = (batch_size, *shape)
    if batch_shape is not None:
        if len(batch_shape) != x.ndim or any(
                d is not None and d != n for d, n in zip(batch_shape[1:], x.shape[1:])):
            raise ValueError(f"data of shape {x.shape} does not fit batch_shape {tuple(batch_shape)}")
    return x.astype("float32" if dtype is None else dtype).astype(np.float64)
