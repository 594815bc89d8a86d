"""Specs of BatchNormalization and ActivityRegularization: layers whose call leaves something
besides its outputs (the moving statistics after a training call, an activity loss), checked
through the candidate's optional observe() (Expected.observed)."""
import numpy as np

import reference
from conformance import tolerance
from conformance.regimes import LONG_TERMS, REGIMES
from conformance.spec import Divergence, Expected, LayerSpec, Reject
from conformance.specs._engine_ops import BUILTIN_CLAMPED_OUTPUT
from reference.normalization import (batch_statistics, broadcast_shape, feature_axes, fused_path,
                                     split_weights, weight_shape)

# a float32 1 / sqrt(v + epsilon) * gamma: epsilon rounded to float32 (u/2), the sum (u),
# sqrt or rsqrt (2 ulps, half of the argument's relative error), the product with gamma (u)
INV_ULPS = 8.0


def _long(rng):
    return int(rng.integers(LONG_TERMS[0], LONG_TERMS[0] + 513))


# BatchNormalization ---------------------------------------------------------------------------

# tf_keras only (Keras 3 refuses a list axis): a list of one axis (fused on rank 4), two axes
# (the statistics over the batch and the axes between), the list's order reversed, and every
# feature axis (the statistics over the batch alone)
LIST_AXES = ([-1], [1, 3], [-1, 1], [1, 2, 3])


def _bn_valid(params):
    rank, axis = params["rank"], params["axis"]
    listed = axis if isinstance(axis, list) else [axis]
    axes = {a % rank for a in listed}
    # feature axes, not the batch, each listed once
    in_range = all(-rank < a < rank for a in listed) and 0 not in axes and len(axes) == len(listed)
    # long: a training call (the only reduction), one long axis beside the feature axes, and
    # few of them (fixture size): axis -1 or 1, or a list leaving a feature axis free
    return in_range and (params["regime"] != "long" or params["training"] and rank > len(axes) + 1
                         and axis in (-1, 1, *LIST_AXES))


def _bn_make(params, rng):
    """Small shapes; in the long regime batch 1, one element on each listed axis and one long
    axis reduced (1024-1536 terms)."""
    rank, axes = params["rank"], feature_axes(params["axis"], params["rank"])
    if params["regime"] == "long":
        shape = [1] * rank
        shape[next(i for i in range(1, rank) if i not in axes)] = _long(rng)
    else:
        # a training call over one element per channel has variance 0 (an edge case)
        batch = int(rng.integers(2 if params["training"] else 1, 4))
        shape = [batch] + [int(d) for d in rng.integers(1, 5, rank - 1)]
    config = {"axis": params["axis"], "momentum": params["momentum"],
              "epsilon": params["epsilon"], "center": params["center"], "scale": params["scale"]}
    return config, [tuple(shape)]


def _bn_arrays(params, config, shapes, regime):
    """x in the regime; gamma and beta N(0, 1); moving_mean N(0, 1), or the data's own mean
    plus N(0, 1) in the offset regime (so x - moving_mean cancels); moving_variance
    log-uniform in [1e-6, 1e4] (tiny and large variances), finite in every regime."""
    x = regime.values(shapes[0])
    axes = feature_axes(config["axis"], len(shapes[0]))
    shape, rng = weight_shape(axes, shapes[0]), regime.rng
    moving_mean = rng.standard_normal(shape)
    if params["regime"] == "offset":
        moving_mean += batch_statistics(np.asarray(x, np.float64), axes)[0].reshape(shape)
    weights = ([rng.standard_normal(shape)] * config["scale"]
               + [rng.standard_normal(shape)] * config["center"]
               + [moving_mean, 10.0 ** rng.uniform(-6, 4, shape)])
    return [x], [np.asarray(w, np.float32) for w in weights]


def statistics_bound(x, axes):
    """(mean, variance, n, bound on a float32 mean, bound on a float32 variance), per channel
    (the listed axes kept, the others of length 1), n the product of the axes not listed.

    mean = sum(x) / n: the sum bound over n terms, then the division (u). variance = sum of
    the n squared deviations from the computed mean, / n (two passes, as tf.nn.moments and
    jnp.var compute it). A mean off by e shifts the sum of squares by n e^2 only (the
    deviations from the exact mean add up to 0); each deviation rounds (u) and its square
    (u), the sum of n positive terms takes the sum bound, and the division u."""
    U = tolerance.unit()
    mean, variance, n = batch_statistics(x, axes)
    reduced = tuple(i for i in range(x.ndim) if i not in axes)
    with np.errstate(invalid="ignore", over="ignore"):
        magnitudes = np.sum(np.abs(x), axis=reduced, keepdims=True)
        e_mean = tolerance.sum_bound(magnitudes, n, mean * n) / n + U * np.abs(mean)
        squares = variance * n + n * e_mean ** 2
        e_var = ((n * e_mean ** 2 + 4 * U * squares + tolerance.sum_bound(squares, n, squares))
                 / n + U * variance)
    return mean, variance, n, e_mean, e_var


def normalized_bound(x, mean, variance, e_mean, e_var, gamma, beta, epsilon, y):
    """Bound on a float32 (x - mean) / sqrt(variance + epsilon) * gamma + beta, computed as
    (x - mean) * inv + beta (torch) or x * inv + (beta - mean * inv) (TensorFlow, JAX, NumPy)
    with inv = gamma / sqrt(variance + epsilon), where mean and variance carry e_mean and
    e_var (0 at inference: the moving statistics are float32 weights). The second form
    cancels where x is far from 0 and near the mean (the offset regime): its products round
    to u * (|x| + |mean|) * |inv|, which the bound carries. The statistics and weights come
    shaped to broadcast against x (broadcast_shape)."""
    U, TINY = tolerance.unit(), tolerance.tiny()   # the declared precision's
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        denominator = variance + epsilon
        inv = np.abs(gamma) / np.sqrt(denominator)
        spread = np.where(e_var < denominator,
                          np.sqrt(denominator / np.maximum(denominator - e_var, TINY)) - 1, np.inf)
        d = np.abs(x - mean)
        # a zero factor carries nothing, even where the variance's own error reaches it
        # (spread infinite: bfloat16 statistics of a nearly constant batch)
        carried = (np.where(e_mean == 0, 0.0, inv * e_mean * (1 + spread))
                   + np.where(d == 0, 0.0, d * inv * spread))
        rounding = (INV_ULPS * U * d * inv + 3 * U * (np.abs(x) + np.abs(mean)) * inv
                    + 2 * U * np.abs(beta) + U * np.abs(y) + 2 * TINY * (inv + 1))
        return carried + rounding


def _moving_bound(moving, statistic, e_statistic, momentum, after):
    """Bound on a float32 moving * momentum + statistic * (1 - momentum), or tf_keras's
    moving - (moving - statistic) * (1 - momentum): the statistic's error scaled by
    1 - momentum, and a few roundings of the terms (momentum and 1 - momentum rounded to
    float32 included)."""
    U, TINY = tolerance.unit(), tolerance.tiny()   # the declared precision's
    with np.errstate(invalid="ignore", over="ignore"):
        return ((1 - momentum) * e_statistic
                + 4 * U * (np.abs(moving) * momentum + np.abs(statistic) * (1 - momentum)
                           + np.abs(moving - statistic) * (1 - momentum))
                + U * np.abs(after) + 4 * TINY)


def _bn_expect(case):
    U = tolerance.unit()
    x = np.asarray(case.inputs[0], np.float64)
    config = case.config
    training = bool(case.call_kwargs.get("training"))
    y, after = reference.batch_normalization(x, *case.weights, **config, training=training,
                                             spec=case.spec)
    axes = feature_axes(config.get("axis", -1), x.ndim)
    center, scale = config.get("center", True), config.get("scale", True)
    momentum, epsilon = config.get("momentum", 0.99), config.get("epsilon", 1e-3)
    shape, view = weight_shape(axes, x.shape), broadcast_shape(axes, x.shape)
    gamma, beta, moving_mean, moving_variance = (
        w.reshape(view) for w in split_weights(case.weights, center, scale, shape))
    if not (training and config.get("trainable", True)):
        bound = normalized_bound(x, moving_mean, moving_variance, 0.0, 0.0, gamma, beta,
                                  epsilon, y)
        observed = None if not training else {
            "weights": (after, [tolerance.exact()] * len(after))}
        return Expected([y], [bound], observed=observed)
    mean, variance, n, e_mean, e_var = statistics_bound(x, axes)
    bound = normalized_bound(x, mean, variance, e_mean, e_var, gamma, beta, epsilon, y)
    fused = fused_path(config.get("axis", -1), x.ndim, config.get("fused"), case.spec)
    bessel = n / max(n - 1, 1) if fused else 1
    folded, e_folded = variance * bessel, e_var * bessel + U * variance * bessel
    bounds = [tolerance.exact()] * (len(after) - 2) + [
        _moving_bound(moving_mean, mean, e_mean, momentum, after[-2].reshape(view)).reshape(shape),
        _moving_bound(moving_variance, folded, e_folded, momentum,
                      after[-1].reshape(view)).reshape(shape)]
    return Expected([y], [bound], observed={"weights": (after, bounds)})


def _one_pass_variance(case):
    """A training call with a channel whose squared mean exceeds 10 times its variance
    (constant channels included): there E[x^2] - E[x]^2 in float32 loses much of the
    variance to rounding (at a ratio of 44, keras-torch used 0.94 of the bound). Covering:
    where the moving variance's own size or a small deviation hides the loss, cases pass."""
    if not case.call_kwargs.get("training") or not case.config.get("trainable", True):
        return False
    x = np.asarray(case.inputs[0], np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        mean, variance, _ = batch_statistics(x, feature_axes(case.config.get("axis", -1), x.ndim))
        return bool(np.any(mean ** 2 > 10 * variance))


BN_ONE_PASS_VARIANCE = Divergence(
    candidates=("keras-torch", "keras-numpy"), when=_one_pass_variance,
    reason="Keras 3 on torch and on NumPy compute the batch variance in one pass, "
           "E[x^2] - E[x]^2, which cancels catastrophically where a channel's mean is large "
           "against its spread (offset regime, constant data of the long regime): covering",
    evidence="keras/src/backend/torch/nn.py lines 976-982 and numpy/nn.py line 951 (Keras "
             "3.15.1, `moments`: 'It is faster but less numerically stable'); TensorFlow's "
             "tf.nn.moments and jnp.var subtract the mean first. keras-numpy on a constant "
             "channel of 1319 values 1.1224579 gives the batch variance 2.4e-7 (exactly 0), "
             "68 times the moving variance's bound with momentum 0; an offset channel (mean "
             "-472, two values) fails by 2500 times its bound. The gradient twins inherit it: "
             "keras-torch's BatchNormalization-grad-029 (long regime, training) gives dx "
             "-1005.34 where the truth is -990.25, 86 times its bound")

def _bn_weights(config, shapes):
    """gamma, beta, moving_mean, moving_variance: (C,) for one axis, x's shape with 1 on every
    axis not listed for several (tf_keras)."""
    shape = weight_shape(feature_axes(config.get("axis", -1), len(shapes[0])), shapes[0])
    return [(name, shape) for name in ["gamma"] * config.get("scale", True)
            + ["beta"] * config.get("center", True) + ["moving_mean", "moving_variance"]]


BATCH_NORMALIZATION = LayerSpec(
    layer="BatchNormalization",
    domains={"axis": (-1, 1, 2, 3, -2, -3, *LIST_AXES), "rank": (2, 3, 4),
             "center": (True, False), "scale": (True, False), "epsilon": (1e-3, 1e-5, 0.1),
             "momentum": (0.99, 0.9, 0.5, 0.0), "training": (False, True), "regime": REGIMES},
    spec_values=tuple(("axis", axis, ("keras2",)) for axis in LIST_AXES),
    valid=_bn_valid, make=_bn_make, arrays=_bn_arrays, expect=_bn_expect, weights=_bn_weights,
    call_kwargs=lambda params, shapes, rng: {"training": params["training"]},
    divergences=(BN_ONE_PASS_VARIANCE, BUILTIN_CLAMPED_OUTPUT),
    edge_cases=(
        # tf_keras's fused kernel (rank 4, axis 3 or 1) in training: the unbiased variance
        # goes into the moving average; axis 2 is not fused
        ({"axis": 3, "rank": 4, "center": True, "scale": True, "epsilon": 1e-3,
          "momentum": 0.5, "training": True, "regime": "unit"}, [(2, 3, 2, 3)]),
        ({"axis": 1, "rank": 4, "center": False, "scale": True, "epsilon": 1e-3,
          "momentum": 0.9, "training": True, "regime": "unit"}, [(3, 2, 2, 2)]),
        ({"axis": 2, "rank": 4, "center": True, "scale": False, "epsilon": 1e-3,
          "momentum": 0.5, "training": True, "regime": "unit"}, [(2, 2, 3, 2)]),
        # one element per channel: variance 0, y = beta; Bessel's n - 1 is 0
        ({"axis": -1, "rank": 4, "center": True, "scale": True, "epsilon": 1e-3,
          "momentum": 0.5, "training": True, "regime": "unit"}, [(1, 1, 1, 3)]),
        # tf_keras's list axes in training: two axes (n = 2 * 2, the weights (1, 3, 1, 3)); a
        # list of one axis, fused (the unbiased variance); the reversed list of every feature
        # axis (the statistics over the batch alone); every element its own channel (n = 1)
        ({"axis": [1, 3], "rank": 4, "center": True, "scale": True, "epsilon": 1e-3,
          "momentum": 0.5, "training": True, "regime": "unit"}, [(2, 3, 2, 3)], ("keras2",)),
        ({"axis": [-1], "rank": 4, "center": True, "scale": True, "epsilon": 1e-3,
          "momentum": 0.5, "training": True, "regime": "unit"}, [(2, 3, 2, 3)], ("keras2",)),
        ({"axis": [-1, 1], "rank": 3, "center": True, "scale": False, "epsilon": 1e-3,
          "momentum": 0.9, "training": True, "regime": "unit"}, [(3, 2, 4)], ("keras2",)),
        ({"axis": [1, 2, 3], "rank": 4, "center": True, "scale": True, "epsilon": 1e-3,
          "momentum": 0.5, "training": True, "regime": "unit"}, [(1, 2, 2, 3)], ("keras2",)),
    ),
    rejects=(Reject({"axis": 3}, ((2, 3, 4),), "axis out of range for the input's rank"),
             Reject({"axis": -4}, ((2, 3, 4, 5),), "tf_keras's fused kernel refuses axis -4 "
                    "on a rank-4 input", ("keras2",)),
             # Keras 3 refuses every list axis (int(axis) in __init__: TypeError)
             Reject({"axis": [1, 3]}, ((2, 3, 4, 5),), "Keras 3 takes an int axis",
                    ("keras3",)),
             Reject({"axis": [-1]}, ((2, 3, 4),), "Keras 3 takes an int axis, even for a list "
                    "of one", ("keras3",)),
             Reject({"axis": [1, -3]}, ((2, 3, 4, 5),), "an axis listed twice (-3 is 1): "
                    "tf_keras 'Duplicate axis' (Keras 3 refuses every list)"),
             Reject({"axis": [1, 3]}, ((2, 3, 4),), "a listed axis out of range for the "
                    "input's rank (Keras 3 refuses every list)"),
             Reject({"axis": []}, ((2, 3, 4),), "an empty list of axes (tf_keras: "
                    "IndexError; Keras 3 refuses every list)"),
             Reject({"axis": [-4]}, ((2, 3, 4, 5),), "tf_keras's fused kernel refuses axis "
                    "-4 on a rank-4 input, in a list too", ("keras2",)),
             Reject({"axis": [1, 3], "fused": True}, ((2, 3, 4, 5),), "tf_keras's fused "
                    "kernel takes one axis", ("keras2",))),
)


# ActivityRegularization -----------------------------------------------------------------------

def _ar_make(params, rng):
    if params["regime"] == "long":
        shape = (1, *[1] * (params["rank"] - 2), _long(rng))
    else:
        shape = (int(rng.integers(1, 4)), *[int(d) for d in rng.integers(1, 5, params["rank"] - 1)])
    return {"l1": params["l1"], "l2": params["l2"]}, [shape]


def _ar_expect(case):
    """The output is the input, exactly; the loss is (l1 * sum|x| + l2 * sum x^2) / batch,
    each sum over n terms with the sum bound, the factors rounded to float32 (u/2 each), the
    products, the addition and the division (u each)."""
    U = tolerance.unit()
    x = np.asarray(case.inputs[0], np.float64)
    l1, l2 = case.config.get("l1", 0.0), case.config.get("l2", 0.0)
    y, loss = reference.activity_regularization(x, **case.config)
    n, batch = x.size, max(x.shape[0], 1)
    with np.errstate(invalid="ignore", over="ignore"):
        s1, s2 = np.sum(np.abs(x)), np.sum(x * x)
        bound = ((abs(l1) * tolerance.sum_bound(s1, n, s1) if l1 else 0.0)
                 + (abs(l2) * (tolerance.sum_bound(s2, n, s2) + U * s2) if l2 else 0.0)
                 + 3 * U * ((abs(l1) * s1 if l1 else 0.0) + (abs(l2) * s2 if l2 else 0.0))
                 ) / batch + U * abs(loss)
    return Expected([y], [tolerance.exact()], observed={"losses": ([loss], [bound])})


ACTIVITY_REGULARIZATION = LayerSpec(
    layer="ActivityRegularization",
    domains={"l1": (0.0, 0.01, 2.0), "l2": (0.0, 0.001, 0.5), "rank": (2, 3, 4),
             "regime": REGIMES},
    make=_ar_make, expect=_ar_expect,
    edge_cases=(({"l1": 0.01, "l2": 0.5, "rank": 2, "regime": "special"}, [(1, 1)]),
                ({"l1": 2.0, "l2": 0.001, "rank": 2, "regime": "unit"}, [(7, 1)])),
)
