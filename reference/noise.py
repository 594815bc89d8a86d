"""The random regularisation layers: GaussianNoise, GaussianDropout and AlphaDropout.

Each is the identity at inference (training False or absent). In training its output is
random; the reference cannot draw Keras's random numbers, so it takes the draw as an
argument, as `reference.dropout` takes `keep`: `noise`, standard normal draws of x's shape,
or `keep`, a boolean array that broadcasts to x along the noise_shape's 1-axes.
"""
import math

import numpy as np

from reference.config import takes_config

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
ALPHA_P = -SELU_ALPHA * SELU_SCALE      # selu's negative saturation value, -1.7580993408473766


def _number(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"`{name}` must be a number, got {value!r}")


def _seed(seed):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"`seed` must be an int or None, got {seed!r}")


def _rate(rate, spec):
    """Keras 3 refuses a rate outside [0, 1]; tf_keras takes any number (and is the identity
    outside (0, 1))."""
    _number("rate", rate)
    if spec == "keras3" and not 0 <= rate <= 1:
        raise ValueError(f"`rate` must lie in [0, 1], got {rate!r}")


def _draw(name, draw, shape):
    if draw is None:
        raise ValueError(f"in training the reference needs `{name}`, the draw the candidate made")
    return np.broadcast_to(np.asarray(draw), shape)


@takes_config
def gaussian_noise(x, *, stddev, seed=None, training=False, noise=None, spec="keras3"):
    """Inference: y = x. Training: y = x + stddev * noise, noise ~ N(0, 1) of x's shape.

    Keras 3 refuses a stddev outside [0, 1]; tf_keras takes any (a negative stddev gives the
    same distribution). stddev 0 in training is the identity.
    """
    _number("stddev", stddev)
    if spec == "keras3" and not 0 <= stddev <= 1:
        raise ValueError(f"`stddev` must lie in [0, 1], got {stddev!r}")
    _seed(seed)
    x = np.asarray(x, np.float64)
    if not training or stddev == 0:
        return x
    return x + stddev * _draw("noise", noise, x.shape)


def gaussian_dropout_stddev(rate):
    """The std of GaussianDropout's multiplicative noise: sqrt(rate / (1 - rate))."""
    return math.sqrt(rate / (1.0 - rate))


@takes_config
def gaussian_dropout(x, *, rate, seed=None, training=False, noise=None, spec="keras3"):
    """Inference: y = x. Training: y = x * (1 + sqrt(rate / (1 - rate)) * noise), noise ~ N(0, 1)
    of x's shape (multiplicative noise of mean 1).

    Keras 3: rate 0 is the identity; rate 1 in training raises (ZeroDivisionError). tf_keras:
    the identity unless 0 < rate < 1.
    """
    _rate(rate, spec)
    _seed(seed)
    x = np.asarray(x, np.float64)
    if not training or not 0 < rate < 1:
        if training and rate == 1 and spec == "keras3":
            raise ValueError("Keras 3's GaussianDropout cannot train at rate 1 (its std "
                             "sqrt(rate / (1 - rate)) divides by zero)")
        return x
    return x * (1.0 + gaussian_dropout_stddev(rate) * _draw("noise", noise, x.shape))


def alpha_dropout_affine(rate):
    """(a, b): the affine map a * v + b that AlphaDropout applies after setting the dropped
    elements to ALPHA_P, chosen so that an input of mean 0 and variance 1 keeps them:
    a = ((1 - rate) * (1 + rate * ALPHA_P^2)) ** -0.5, b = -a * ALPHA_P * rate."""
    a = ((1 - rate) * (1 + rate * ALPHA_P ** 2)) ** -0.5
    return a, -a * ALPHA_P * rate


def noise_shape_of(x_shape, noise_shape, spec="keras3"):
    """The shape of the random draws: noise_shape with its None entries taken from x (Keras 3;
    tf_keras refuses None entries). Each entry must be x's length there or 1."""
    if noise_shape is None:
        return tuple(x_shape)
    if len(noise_shape) != len(x_shape):
        raise ValueError(f"noise_shape {noise_shape} does not match the input's rank "
                         f"{len(x_shape)}")
    if spec == "keras2" and any(n is None for n in noise_shape):
        raise ValueError("tf_keras's AlphaDropout draws noise_shape as it is: None entries "
                         "cannot be converted to a shape")
    shape = tuple(d if n is None else n for n, d in zip(noise_shape, x_shape))
    if any(n not in (1, d) for n, d in zip(shape, x_shape)):
        raise ValueError(f"noise_shape {noise_shape} does not broadcast to {tuple(x_shape)}")
    return shape


@takes_config
def alpha_dropout(x, *, rate, noise_shape=None, seed=None, training=False, keep=None,
                  spec="keras3"):
    """Inference: y = x. Training: y = a * x + b where keep, a * ALPHA_P + b where dropped
    (alpha_dropout_affine's a, b), keep a boolean array of noise_shape (None entries: x's
    length), shared along its 1-axes, each True with probability 1 - rate.

    Keras 3: rate 0 is the identity; rate 1 in training raises (0 ** -0.5). tf_keras: the
    identity unless 0 < rate < 1.
    """
    _rate(rate, spec)
    _seed(seed)
    x = np.asarray(x, np.float64)
    if not training or not 0 < rate < 1:
        if training and rate == 1 and spec == "keras3":
            raise ValueError("Keras 3's AlphaDropout cannot train at rate 1 (its scale "
                             "((1 - rate) * ...) ** -0.5 divides by zero)")
        return x
    noise_shape_of(x.shape, noise_shape, spec)
    a, b = alpha_dropout_affine(rate)
    return a * np.where(_draw("keep", keep, x.shape).astype(bool), x, ALPHA_P) + b
