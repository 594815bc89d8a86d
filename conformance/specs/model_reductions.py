"""Specs of Softmax (with a mask) and LayerNormalization: layers real models are made of whose
elements read a group of the input (the elementwise ones: model_layers.py).

Softmax over one axis takes the softmax bound (tolerance.softmax_bound); over several, both
Kerases compute exp(z - logsumexp(z)), bounded below. LayerNormalization's mean and variance
are sums over the normalized axes, bounded by the pieces BatchNormalization's spec derives
(normalization.statistics_bound, normalized_bound)."""
import numpy as np

import reference
from conformance import tolerance
from conformance.regimes import LONG_TERMS, REGIMES
from conformance.spec import Divergence, Expected, LayerSpec, Reject
from conformance.specs._common import tf_softmax_divergence
from conformance.specs._engine_openvino import LAYER_NORM_ONE_PASS, SOFTMAX_AXES_NAN
from conformance.specs._engine_softmax import LITERT_SOFTMAX_AXES_NAN, ONNX_SOFTMAX_MASK_SELECT
from conformance.specs.normalization import normalized_bound, statistics_bound
from reference.model_layers import (layer_norm_axes, layer_norm_weight_shape, masked_logits,
                                    softmax_axes)

# ulps of a float32 exp and log (Eigen's and XLA's vectorised ones are within 4)
EXP_ULPS = 4.0


def _shape(rng, rank):
    return (int(rng.integers(1, 4)), *(int(d) for d in rng.integers(1, 5, rank - 1)))


def _long(rng):
    return int(rng.integers(LONG_TERMS[0], LONG_TERMS[0] + 513))


def _in_range(axis, rank):
    """Every listed axis a feature axis of a rank-`rank` input (not the batch)."""
    listed = axis if isinstance(axis, list) else [axis]
    return all(-rank < a < rank and a % rank != 0 for a in listed)


# Softmax --------------------------------------------------------------------------------------

# where the mask keeps: None (no mask), "scattered" (each element kept with probability 0.7),
# "group_masked" (scattered, and the first batch element masked throughout: every group of it
# masked), "broadcast" (scattered, of shape (batch, 1, ...): broadcast along axis 1)
SOFTMAX_MASKS = (None, "scattered", "group_masked", "broadcast")


def _softmax_valid(params):
    """Long groups on the last axes; robust_masking (tf_keras only) not with special values,
    where TensorFlow's softmax diverges and Keras 3, which has no robust_masking, cannot
    vouch instead."""
    rank, axis, mask, regime = params["rank"], params["axis"], params["mask"], params["regime"]
    return _in_range(axis, rank) and (mask != "broadcast" or rank >= 3) and (
        regime != "long" or axis in (-1, [-1], [1, 2]) and mask != "broadcast") and not (
        params["robust_masking"] and regime == "special")


def _softmax_make(params, rng):
    """Small shapes; in the long regime one group of 1024-1536 logits (over axis 1 and 2 for a
    list of both: (1, 2, 512-768))."""
    rank, axis = params["rank"], params["axis"]
    if params["regime"] == "long":
        shape = [1] * rank
        if axis == [1, 2]:
            shape[1], shape[2] = 2, _long(rng) // 2
        else:
            shape[-1] = _long(rng)
        shape = tuple(shape)
    else:
        shape = _shape(rng, rank)
    config = {"axis": axis}
    if params["robust_masking"]:
        config["robust_masking"] = True
    return config, [shape]


def _softmax_call_kwargs(params, shapes, rng):
    kind, shape = params["mask"], shapes[0]
    if kind is None:
        return {}
    if kind == "broadcast":
        shape = (shape[0], 1, *shape[2:])
    keep = rng.random(shape) < 0.7
    if kind == "group_masked":
        keep[0] = False
    return {"mask": keep}


def logsumexp_softmax_bound(z, axes, y):
    """Bound on a float32 exp(z - L), L = m + log(sum_j exp(z_j - m)), m the group's max (as
    TensorFlow's reduce_logsumexp), per element of y (its exact value).

    Each exp(z_j - m) is within u |z_j - m| (the difference) and EXP_ULPS (the exp) of its
    value, relatively; weighed by its share s_j of the sum, the sum S is within
    sum_j s_j expm1(...) of itself, plus the sum bound over n positive terms. log S then
    carries that relative error, plus EXP_ULPS u |log S|, and L the rounding of m + log S
    (u |L|). z_i - L rounds (u |z_i - L|), and exp adds EXP_ULPS: the output is within
    y_i expm1(e_L + u |z_i - L|) + EXP_ULPS u y_i. A group where |L| is large (about -1e9 in
    tf_keras's group masked throughout) is loose: float32 cannot hold L there to better
    than 64, and Keras's formula computes exp(z - L) with that L."""
    U = tolerance.unit()
    axes = tuple(axes)
    n = int(np.prod([z.shape[a] for a in axes]))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        top = np.max(z, axis=axes, keepdims=True)
        e = np.exp(z - top)
        total = np.sum(e, axis=axes, keepdims=True)
        share = e / total
        spread = np.where(share == 0, 0.0, share * np.expm1(U * np.abs(z - top) + EXP_ULPS * U))
        relative = (np.sum(spread, axis=axes, keepdims=True)
                    + tolerance.sum_bound(total, n, total) / total)
        lse = top + np.log(total)
        e_lse = relative * (1 + relative) + EXP_ULPS * U * np.abs(np.log(total)) + U * np.abs(lse)
        carried = np.where(y == 0, 0.0, y * np.expm1(e_lse + U * np.abs(z - lse)))
        return carried + EXP_ULPS * U * y + tolerance.exp_flush()


def _softmax_expect(case):
    x = np.asarray(case.inputs[0], np.float64)
    mask = case.call_kwargs.get("mask")
    y = reference.softmax_layer(x, mask, **case.config, spec=case.spec)
    axes = softmax_axes(case.config.get("axis", -1), x.ndim)
    z = masked_logits(x, mask, case.spec, case.config.get("robust_masking", False))
    with np.errstate(invalid="ignore", over="ignore"):
        if len(axes) == 1:
            bound = tolerance.softmax_bound(z, 0.0, axis=axes[0])
        else:
            bound = logsumexp_softmax_bound(z, axes, y)
    if mask is not None and case.spec == "keras3":
        bound = np.where(np.broadcast_to(mask, x.shape), bound, 0.0)     # exactly 0
    return Expected([y], [bound])


def _softmax_logits(case):
    return masked_logits(case.inputs[0], case.call_kwargs.get("mask"), case.spec,
                         case.config.get("robust_masking", False))


def _softmax_axis(case):
    return softmax_axes(case.config.get("axis", -1), np.ndim(case.inputs[0]))


NUMPY_SOFTMAX_AXES = Divergence(
    candidates=("keras-numpy",), when=lambda case: len(_softmax_axis(case)) > 1,
    reason="Keras 3's Softmax layer on its NumPy backend raises for an axis list: it hands "
           "Keras's tracked list to scipy's logsumexp",
    evidence="keras-numpy 3.15.1: Softmax(axis=[1, 2]) on shape (2, 3, 2) raises TypeError "
             "''TrackedList' object cannot be interpreted as an integer' from "
             "scipy/special/_logsumexp.py (Softmax-011, -028); tf.keras, keras-jax and "
             "keras-torch compute it")


SOFTMAX = LayerSpec(
    layer="Softmax",
    domains={"axis": (-1, 1, [-1], [1, 2]), "rank": (2, 3, 4), "mask": SOFTMAX_MASKS,
             "robust_masking": (False, True), "regime": REGIMES},
    spec_values=(("robust_masking", True, ("keras2",)),),
    valid=_softmax_valid, make=_softmax_make, call_kwargs=_softmax_call_kwargs,
    inputs=lambda config, shapes, regime: [regime.values(s, scale=3.0, huge=True)
                                           for s in shapes],
    expect=_softmax_expect,
    # over one axis TensorFlow's softmax kernel; over several exp(z - logsumexp), which on
    # IEEE arithmetic gives what TensorFlow does (NaN only at the +inf)
    divergences=(tf_softmax_divergence(_softmax_logits,
                                       applies=lambda case: len(_softmax_axis(case)) == 1,
                                       axis_of=lambda case: _softmax_axis(case)[0]),
                 NUMPY_SOFTMAX_AXES, SOFTMAX_AXES_NAN, *LITERT_SOFTMAX_AXES_NAN,
                 ONNX_SOFTMAX_MASK_SELECT),
    edge_cases=(({"axis": -1, "rank": 2, "mask": "group_masked", "robust_masking": False,
                  "regime": "large"}, [(2, 5)]),
                ({"axis": [1, 2], "rank": 3, "mask": "group_masked", "robust_masking": False,
                  "regime": "unit"}, [(2, 3, 2)]),
                # masked NaN and infinities: Keras 3 replaces them (tf_keras's sum keeps
                # them, and TensorFlow's softmax of such a row diverges: keras3 only)
                ({"axis": -1, "rank": 2, "mask": "scattered", "robust_masking": False,
                  "regime": "special"}, [(3, 4)], ("keras3",))),
    rejects=(Reject({"axis": 2}, ((2, 3),), "axis out of range for the input's rank"),
             Reject({"axis": -1, "robust_masking": True}, ((2, 3),),
                    "Keras 3 takes no robust_masking", ("keras3",))),
)


# LayerNormalization ---------------------------------------------------------------------------

# an int; lists: sorted, negative, mixed signs (both Kerases then give the weights the shape
# (last, axis 1) and place them by a reshape: scrambled where both exceed 1), non-contiguous
LN_AXES = (-1, 1, [1, 2], [-2, -1], [-1, 1], [1, 3])


def _ln_valid(params):
    rank, axis = params["rank"], params["axis"]
    multi = isinstance(axis, list) and len(axis) > 1
    return _in_range(axis, rank) and (not multi or rank >= 3) and (
        params["regime"] != "long" or axis == -1)


def _ln_make(params, rng):
    """Small shapes; in the long regime 1024-1536 terms on the last axis, batch 1 or 2."""
    rank = params["rank"]
    if params["regime"] == "long":
        shape = (int(rng.integers(1, 3)), *[1] * (rank - 2), _long(rng))
    else:
        shape = _shape(rng, rank)
    config = {"axis": params["axis"], "epsilon": params["epsilon"], "center": params["center"],
              "scale": params["scale"]}
    if params["rms_scaling"]:
        config["rms_scaling"] = True
    return config, [shape]


def _ln_weights(config, shapes):
    """gamma when scale or rms_scaling, beta when center and not rms_scaling, each of the
    input's sizes on the axes in Keras's order (layer_norm_weight_shape; Keras 3's and
    tf_keras's orders agree on LN_AXES)."""
    rms = config.get("rms_scaling", False)
    shape = layer_norm_weight_shape(config.get("axis", -1), shapes[0])
    return ([("gamma", shape)] * bool(config.get("scale", True) or rms)
            + [("beta", shape)] * bool(config.get("center", True) and not rms))


def _ln_expect(case):
    """The statistics over the normalized axes (statistics_bound, n their product), then
    x * inv + (beta - mean * inv) with inv = gamma / sqrt(variance + epsilon)
    (normalized_bound: what Keras 3, tf.nn.batch_normalization and tf_keras's fused kernel
    compute); rms_scaling: x * inv, no mean and no beta."""
    x = np.asarray(case.inputs[0], np.float64)
    config = case.config
    y = reference.layer_normalization(x, *case.weights, **config, spec=case.spec)
    axes, _ = layer_norm_axes(config.get("axis", -1), x.ndim, case.spec)
    view = tuple(d if i in axes else 1 for i, d in enumerate(x.shape))
    rms = config.get("rms_scaling", False)
    named = dict(zip([n for n, _ in _ln_weights(config, [x.shape])], case.weights))
    gamma, beta = (np.asarray(named[n], np.float64).reshape(view) if n in named else default
                   for n, default in (("gamma", 1.0), ("beta", 0.0)))
    kept = tuple(i for i in range(x.ndim) if i not in axes)
    mean, variance, _, e_mean, e_var = statistics_bound(x, kept)
    if rms:
        mean, e_mean = np.zeros_like(mean), 0.0
    bound = normalized_bound(x, mean, variance, e_mean, e_var, gamma, beta,
                             config.get("epsilon", 1e-3), y)
    return Expected([y], [bound])


def _contiguous_as_written(case):
    """Keras 3's is_continuous_axis on the config's axis list, sorted as written
    (keras/src/utils/python_utils.py): where Keras 3 on torch calls F.layer_norm."""
    axis = case.config.get("axis", -1)
    written = sorted([axis] if isinstance(axis, int) else axis)
    steps = {b - a for a, b in zip(written, written[1:])}
    return len(written) <= 1 or steps in ({1}, {-1})


def _torch_kernel_on_other_axes(case):
    """Keras 3 on torch hands contiguous axes to F.layer_norm(x, their sizes), which
    normalizes the trailing axes of those sizes: wrong (or raising) unless the axes end at
    the last one. Not with rms_scaling."""
    if case.config.get("rms_scaling") or not _contiguous_as_written(case):
        return False
    rank = np.ndim(case.inputs[0])
    axes, _ = layer_norm_axes(case.config.get("axis", -1), rank, case.spec)
    return sorted(axes) != list(range(rank - len(axes), rank))


def _one_pass_cancels(case):
    """The variance as E[x^2] - E[x]^2 (moments of Keras 3's torch and NumPy backends): a
    group whose squared mean exceeds 10 times its variance loses much of it (covering, as
    BatchNormalization's row). Not with rms_scaling (a variance about the mean by np.var)."""
    if case.config.get("rms_scaling"):
        return False
    x = np.asarray(case.inputs[0], np.float64)
    axes, _ = layer_norm_axes(case.config.get("axis", -1), x.ndim, case.spec)
    with np.errstate(invalid="ignore", over="ignore"):
        mean = np.mean(x, axis=tuple(axes))
        variance = np.var(x, axis=tuple(axes))
        return bool(np.any(mean ** 2 > 10 * variance))


ONE_PASS_EVIDENCE = (
    "keras/src/backend/numpy/nn.py line 951 and torch/nn.py lines 976-982 (Keras 3.15.1, "
    "`moments`: 'faster but less numerically stable'), reached from keras/src/ops/nn.py "
    "_layer_normalization; keras-numpy fails the offset cases LayerNormalization-004, -016, "
    "-029, -034, -037 (a live case: expected -3.006, got -1.654, 62 times the bound), "
    "keras-torch LayerNormalization-004 (axis [-1, 1], not contiguous as written); "
    "tf.nn.moments and jnp.var subtract the mean first. The gradient twins inherit it: "
    "keras-torch's LayerNormalization-grad-004 (axis [-1, 1], offset) gives dgamma -0.283 "
    "where the truth is -1.066, 31 times its bound")
TORCH_LAYER_NORM_KERNEL = Divergence(
    candidates=("keras-torch",), when=_torch_kernel_on_other_axes,
    reason="Keras 3 on torch normalizes contiguous axes with F.layer_norm, which always takes "
           "the trailing axes: an axis that is not the last (axis=1 of a rank-3 or rank-4 "
           "input, [1, 2] of rank 4) is normalized over the wrong axes, or raises",
    evidence="keras/src/ops/nn.py _layer_normalization (Keras 3.15.1): `elif "
             "backend.config.backend() == 'torch' and is_continuous_axis(axis): outputs = "
             "F.layer_norm(x, normalized_shape, ...)`; LayerNormalization(axis=1) on shape "
             "(1, 4, 4, 2) raises RuntimeError 'Given normalized_shape=[4], expected input "
             "with shape [*, 4]' (LayerNormalization-013), and is silently wrong where the "
             "sizes match; tf.keras, keras-jax and keras-numpy normalize axis 1")
NUMPY_ONE_PASS_LAYER_NORM = Divergence(
    candidates=("keras-numpy",), when=_one_pass_cancels,
    reason="Keras 3 on NumPy computes LayerNormalization's variance in one pass, E[x^2] - "
           "E[x]^2, which cancels where a group's mean is large against its spread (offset "
           "regime): covering",
    evidence=ONE_PASS_EVIDENCE)
TORCH_ONE_PASS_LAYER_NORM = Divergence(
    candidates=("keras-torch",),
    when=lambda case: not _contiguous_as_written(case) and _one_pass_cancels(case),
    reason="Keras 3 on torch computes LayerNormalization's variance in one pass, E[x^2] - "
           "E[x]^2, for axes F.layer_norm does not take (not contiguous as written), which "
           "cancels where a group's mean is large against its spread: covering",
    evidence=ONE_PASS_EVIDENCE)


LAYER_NORMALIZATION = LayerSpec(
    layer="LayerNormalization",
    domains={"axis": LN_AXES, "rank": (2, 3, 4), "center": (True, False),
             "scale": (True, False), "rms_scaling": (False, True),
             "epsilon": (1e-3, 1e-6, 0.1), "regime": REGIMES},
    # tf_keras has no rms_scaling; epsilon 1e-6 keeps tf_keras off its fused kernel
    # (used from 1.001e-5 on, for axes that end at the last one and are contiguous)
    spec_values=(("rms_scaling", True, ("keras3",)),),
    valid=_ln_valid, make=_ln_make, weights=_ln_weights, expect=_ln_expect,
    weight_scale=1.0,
    divergences=(TORCH_LAYER_NORM_KERNEL, TORCH_ONE_PASS_LAYER_NORM, NUMPY_ONE_PASS_LAYER_NORM,
                 LAYER_NORM_ONE_PASS),
    edge_cases=(
        # one element normalized: variance 0, y = beta
        ({"axis": -1, "rank": 2, "center": True, "scale": True, "rms_scaling": False,
          "epsilon": 1e-3, "regime": "unit"}, [(3, 1)]),
        # mixed signs with both axes longer than 1: the weights placed scrambled
        ({"axis": [-1, 1], "rank": 3, "center": True, "scale": True, "rms_scaling": False,
          "epsilon": 1e-3, "regime": "unit"}, [(2, 2, 3)]),
    ),
    rejects=(Reject({"axis": 3}, ((2, 3, 4),), "axis out of range for the input's rank"),
             Reject({"axis": [1, -2]}, ((2, 3, 4),), "an axis listed twice (-2 is 1)",
                    ("keras2",)),
             Reject({"axis": -1, "rms_scaling": True}, ((2, 3),), "tf_keras has no "
                    "rms_scaling", ("keras2",))),
)
