"""Specs of the merge layers: Add, Subtract, Multiply, Average, Maximum, Concatenate and Dot,
and their functional forms add, subtract, ... (keras.layers.add(inputs, **config)), which
build the layer and call it: each form's spec is its layer's, renamed.

Bounds (conformance/tolerance.py):
- Add, Subtract: a float32 sum of the n inputs, sum_bound(sum |x_i|, n, y);
- Average: that sum's bound / n, plus u |y| for the division;
- Multiply: n - 1 roundings of a product, ((1 + u)^(n - 1) - 1) |y|, plus n * 2^-126 for a
  partial product an engine flushes to zero;
- Maximum, Concatenate: exact (data movement);
- Dot: a sum of k products, sum_bound(dot(|x|, |z|), k, y); with normalize=True each input
  is scaled by r = 1 / max(||x||, eps), where ||x||^2 is itself a float32 sum of k squares
  (relative error e = sum_bound(ss, k, ss) / max(ss, eps^2)), so r is off by at most
  e / 2 + RSQRT_ULPS * u, and each scaled element by u more; the dot of the scaled inputs
  then carries dot(|x^| d_x, |z^|) + dot(|x^|, |z^| d_z) + dot(|x^| d_x, |z^| d_z), plus the
  sum bound on dot(|x^|, |z^|) (1 + d_x)(1 + d_z).

Inputs: the large regime adds magnitudes up to 1e38 where every float32 evaluation order
overflows alike: Add and Subtract of two inputs (one correctly rounded sum), Multiply (every
factor is at least 30 in magnitude, so no partial product exceeds the final one) and Maximum.
Average divides a sum that may overflow where the mean does not, and Dot's sum of squares
overflows for |x| > 1.8e19 (Keras then normalises x to 0, where the cosine is 1): both keep
to |x| <= 300 there.
"""
import dataclasses

import numpy as np

from conformance import tolerance
from conformance.elements import error_ratio
from conformance.regimes import ELEMENTWISE, LONG_TERMS
from conformance.spec import Divergence, Expected, LayerSpec, Reject
from conformance.specs._common import CONVERTED_FROM_TF_KERAS
from conformance.specs._engine_conversion import TFLITE_RANK3_BIAS_ADD
from conformance.specs._engine_ops import (
    BUILTIN_CLAMPED_MERGE, LITERT_MAXIMUM, ONNX_BIAS_ADD_NCHW, OPENVINO_MAXIMUM, XNNPACK_ZERO_NORM,
)
from conformance.specs.core import DATA_MOVEMENT_REGIMES, _batch, _dims
from reference import merge

# Ulps of a float32 1 / sqrt (TensorFlow's and XLA's rsqrt, NumPy's 1 / sqrt: two roundings).
RSQRT_ULPS = 4


def _input_masks(params, shapes, rng):
    """Each input's mask (its shape without the last axis), handed to compute_mask: a merge
    layer's call takes none."""
    if not params.get("mask"):
        return {}
    return {"mask": [rng.random(s[:-1]) < 0.6 for s in shapes]}


# Add, Subtract, Multiply, Average, Maximum ----------------------------------------------------

def _elementwise_make(params, rng):
    """The output shape, then each input: the same (broadcast "none"), with some non-batch
    axes of size 1 ("size_one"), or without some leading non-batch axes ("rank")."""
    n, rank, broadcast = params["inputs"], params["rank"], params["broadcast"]
    out = (_batch(rng), *_dims(rng, rank - 1, 1 if broadcast == "none" else 2))
    shapes = [out] * n
    if broadcast == "size_one":
        shapes = [tuple(1 if i and rng.random() < 0.5 else d for i, d in enumerate(out))
                  for _ in range(n)]
        shapes[int(rng.integers(n))] = out[:1] + (1,) * (rank - 1)         # all stretched
    elif broadcast == "rank":
        shapes = [out[:1] + out[len(out) - int(rng.integers(1, rank)):] for _ in range(n)]
        low, full = rng.permutation(n)[:2]
        shapes[low], shapes[full] = out[:1] + out[-1:], out        # rank 2, and the full rank
    return {}, shapes


def _elementwise_valid(params):
    return (params["broadcast"] != "rank" or params["rank"] >= 3) and (
        not params["mask"] or params["broadcast"] == "none")


def _huge_inputs(when):
    """Inputs in the case's regime; in the large one with magnitudes up to 1e38 where
    when(number of inputs) says every evaluation order overflows alike (module docstring)."""
    def inputs(config, shapes, regime):
        return [regime.values(s, huge=when(len(shapes))) for s in shapes]
    return inputs


def _mask_of(case):
    masks = case.call_kwargs.get("mask")
    return None if masks is None else merge.merge_mask(masks, spec=case.spec)


def _magnitude(case):
    return merge.add(*[np.abs(np.asarray(x, np.float64)) for x in case.inputs])


def _sum_expect(fn):
    def expect(case):
        with np.errstate(invalid="ignore", over="ignore"):
            y = fn(*case.inputs, **case.config)
            bound = tolerance.sum_bound(_magnitude(case), len(case.inputs), y, overflow="admit")
            sides = tolerance.overflow_sides(_magnitude(case), y)
        return Expected([y], [bound], mask=_mask_of(case),
                        overflow=[tolerance.overflow_alternative(tolerance.IDENTITY, y, sides)])
    return expect


def _average_expect(case):
    n = len(case.inputs)
    with np.errstate(invalid="ignore", over="ignore"):
        y = merge.average(*case.inputs, **case.config)
        bound = (tolerance.sum_bound(_magnitude(case), n, y * n, overflow="admit") / n
                 + tolerance.unit() * np.abs(y) + tolerance.tiny())
        sides = tolerance.overflow_sides(_magnitude(case), y * n)
    return Expected([y], [bound], mask=_mask_of(case),
                    overflow=[tolerance.overflow_alternative(tolerance.IDENTITY, y, sides)])


def _multiply_expect(case):
    n = len(case.inputs)
    with np.errstate(invalid="ignore", over="ignore"):
        y = merge.multiply(*case.inputs, **case.config)
        bound = ((1 + tolerance.unit()) ** (n - 1) - 1) * np.abs(y) + n * tolerance.tiny()
    return Expected([y], [bound], mask=_mask_of(case))


def _maximum_expect(case):
    return Expected([merge.maximum(*case.inputs, **case.config)], [tolerance.exact()],
                    mask=_mask_of(case))


def _keras3_tensorflow_sum(inputs):
    """The sum Keras 3 on TensorFlow computes (exactly, in float64): Merge.call expands the
    inputs to one rank, then adds them in turn with ops.add, whose TensorFlow add()
    (keras/src/backend/tensorflow/numpy.py, Keras 3.15.1) calls tf.nn.bias_add(x1, x2) when
    x2 has one axis longer than 1, as long as x1's axis 1 or last axis: the vector is then
    added along x1's last axis (if as long) or axis 1, wherever it lay in x2."""
    arrays = merge.expand_ranks(inputs)
    rank = arrays[0].ndim
    total = arrays[0]
    for x in arrays[1:]:
        long = [d for d in x.shape if d > 1]
        if len(long) == 1 and long[0] in (total.shape[1], total.shape[-1]):
            axis = rank - 1 if total.shape[-1] == long[0] else 1
            total = total + x.reshape([-1 if a == axis else 1 for a in range(rank)])
        else:
            total = total + x
    return total


def _sum_as_bias_add(case):
    """Whether that sum differs from the true one where a comparison sees it: beyond the
    sum's bound, or in a NaN or infinity."""
    if case.spec != "keras3":
        return False
    with np.errstate(invalid="ignore", over="ignore"):
        got, exact = _keras3_tensorflow_sum(case.inputs), merge.add(*case.inputs)
        if got.shape != exact.shape:
            return True
        bound = tolerance.sum_bound(_magnitude(case), len(case.inputs), exact)
        same = (got == exact) | (np.isnan(got) & np.isnan(exact)) | (np.abs(got - exact) <= bound)
    return not same.all()


TF_SUM_AS_BIAS_ADD = Divergence(
    candidates=("tf.keras", "keras-tensorflow", *CONVERTED_FROM_TF_KERAS),
    when=_sum_as_bias_add,
    reason="Keras 3 on TensorFlow adds an input with one axis longer than 1 as a bias, along "
           "the running sum's last axis or axis 1, wherever that input's long axis lies "
           "(the batch axis too)",
    evidence="keras/src/backend/tensorflow/numpy.py add() (Keras 3.15.1) calls "
             "tf.nn.bias_add(x1, squeeze(x2)) when x2 squeezes to a vector as long as x1's "
             "axis 1 or last axis (NHWC if the last, else NCHW). Add() on x of shape (3, 3, 4) "
             "and z of shape (3, 1, 1) (one value per sample) adds z[i] to x[:, i, :] "
             "instead of x[i]: tf.keras is off by up to 2.28 where tf_keras, keras-jax, "
             "keras-torch and keras-numpy agree with the reference (found by the thorough "
             "oracle run: Average, {'inputs': 2, 'rank': 3, 'broadcast': 'size_one'}, seed "
             "252). Over all 196 broadcastable pairs of shapes (batch 1 or 3, one or two "
             "more axes of 1, 3 or 4), tf.keras's Add is wrong in 22, exactly where "
             "_keras3_tensorflow_sum (which gives tf.keras's answer in all 196) differs. The "
             "converted engines run the BiasAdd of tf.keras's graph: litert-builtin fails "
             "Add-022 (5 inputs, size-one broadcast) by 4.89 as tf.keras does")


SHAPE_REJECTS = (
    Reject({}, ((2, 3), (2, 4)), "sizes 3 and 4 on the same axis"),
    Reject({}, ((2, 3), (1, 3)), "different batch sizes (1 does not broadcast there)"),
    Reject({}, ((2, 3), (2, 3, 4)), "a lower-rank input is expanded after the batch axis, "
                                    "so its 3 meets the 4 of the last axis"),
)


def _elementwise(layer, expect, inputs=(2, 3, 4, 5), huge=lambda n: False, rejects=(),
                 divergences=()):
    return LayerSpec(
        layer=layer,
        domains={"inputs": inputs, "rank": (2, 3, 4), "broadcast": ("none", "size_one", "rank"),
                 "mask": (False, True), "regime": ELEMENTWISE},
        valid=_elementwise_valid, make=_elementwise_make, inputs=_huge_inputs(huge),
        call_kwargs=_input_masks, expect=expect, rejects=SHAPE_REJECTS + rejects,
        divergences=divergences,
        edge_cases=(({"inputs": inputs[-1], "rank": 2, "broadcast": "none", "mask": False,
                      "regime": "unit"}, [(1, 1)] * inputs[-1]),          # batch 1, one value
                    ({"inputs": 2, "rank": 4, "broadcast": "size_one", "mask": False,
                      "regime": "unit"}, [(2, 1, 3, 1), (2, 4, 1, 5)]),   # both sides stretch
                    ({"inputs": 2, "rank": 3, "broadcast": "rank", "mask": False,
                      "regime": "unit"}, [(2, 1), (2, 3, 4)]),            # (1,) meets (3, 4)
                    ({"inputs": 2, "rank": 3, "broadcast": "size_one", "mask": False,
                      "regime": "unit"}, [(3, 3, 4), (3, 1, 1)]),         # one value a sample
                    ({"inputs": 2, "rank": 3, "broadcast": "none", "mask": True,
                      "regime": "unit"}, [(3, 1, 2), (3, 1, 2)])),
    )


ADD = _elementwise("Add", _sum_expect(merge.add), huge=lambda n: n == 2,
                   divergences=(TFLITE_RANK3_BIAS_ADD, TF_SUM_AS_BIAS_ADD,
                                BUILTIN_CLAMPED_MERGE, ONNX_BIAS_ADD_NCHW))
SUBTRACT = _elementwise(
    "Subtract", _sum_expect(merge.subtract), inputs=(2,), huge=lambda n: True,
    rejects=(Reject({}, ((2, 3),) * 3, "Subtract takes exactly 2 inputs"),),
    divergences=(BUILTIN_CLAMPED_MERGE,))
MULTIPLY = _elementwise("Multiply", _multiply_expect, huge=lambda n: True,
                        divergences=(BUILTIN_CLAMPED_MERGE,))
AVERAGE = _elementwise("Average", _average_expect,
                       divergences=(TFLITE_RANK3_BIAS_ADD, TF_SUM_AS_BIAS_ADD,
                                    BUILTIN_CLAMPED_MERGE, ONNX_BIAS_ADD_NCHW))
MAXIMUM = _elementwise("Maximum", _maximum_expect, huge=lambda n: True,
                       divergences=(LITERT_MAXIMUM, OPENVINO_MAXIMUM))


# Concatenate ----------------------------------------------------------------------------------

def _concatenate_make(params, rng):
    rank, axis = params["rank"], params["axis"]
    base = (_batch(rng), *_dims(rng, rank - 1))
    shapes = []
    for _ in range(params["inputs"]):
        shape = list(base)
        shape[axis] = int(rng.integers(1, 4))
        shapes.append(tuple(shape))
    return {"axis": axis}, shapes


def _concatenate_expect(case):
    y = merge.concatenate(*case.inputs, **case.config)
    masks = case.call_kwargs.get("mask")
    mask = None if masks is None else merge.concatenate_mask(
        case.inputs, masks, axis=case.config["axis"], spec=case.spec)
    return Expected([y], [tolerance.exact()], mask=mask)


CONCATENATE = LayerSpec(
    layer="Concatenate",
    domains={"inputs": (2, 3, 5), "rank": (2, 3, 4), "axis": (-4, -3, -2, -1, 0, 1, 2, 3),
             "mask": (False, True), "regime": DATA_MOVEMENT_REGIMES},
    valid=lambda p: -p["rank"] <= p["axis"] < p["rank"],
    make=_concatenate_make, call_kwargs=_input_masks, expect=_concatenate_expect,
    edge_cases=(({"inputs": 5, "rank": 2, "axis": -1, "mask": True, "regime": "unit"},
                 [(1, 1)] * 5),),
    rejects=(Reject({"axis": -1}, ((2, 3, 4), (2, 5, 4)), "sizes 3 and 5 off the axis"),
             Reject({"axis": 1}, ((2, 3, 4), (2, 3, 5)), "sizes 4 and 5 off the axis")),
)


# Dot ------------------------------------------------------------------------------------------

def _dot_valid(params):
    try:
        merge.dot_axes(params["axes"], params["ranks"])
    except ValueError:
        return False
    return params["regime"] != "long" or params["ranks"] == [2, 2]   # one long axis, batch 1


def _dot_make(params, rng):
    ranks = params["ranks"]
    ax, az = merge.dot_axes(params["axes"], ranks)
    long = params["regime"] == "long"
    batch = 1 if long else _batch(rng)
    k = int(rng.integers(LONG_TERMS[0], LONG_TERMS[1] + 1)) if long else int(rng.integers(1, 5))
    x, z = [batch, *_dims(rng, ranks[0] - 1, 1, 3)], [batch, *_dims(rng, ranks[1] - 1, 1, 3)]
    x[ax], z[az] = k, k
    return {"axes": params["axes"], "normalize": params["normalize"]}, [tuple(x), tuple(z)]


def _normalized(x, axis, spec):
    """(x^ = x / max(||x||, eps), the relative error bound d of a float32 x^): module
    docstring."""
    x = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        squares = np.sum(x * x, axis=axis, keepdims=True)
        floor = merge.NORM_EPSILON[spec] ** 2
        relative = tolerance.sum_bound(squares, x.shape[axis], squares) / np.maximum(squares,
                                                                                     floor)
        d = relative / 2 + (RSQRT_ULPS + 2) * tolerance.unit()
    return merge.l2_normalize(x, axis, spec), np.broadcast_to(d, x.shape)


def _dot_expect(case):
    x, z = (np.asarray(v, np.float64) for v in case.inputs)
    config = dict(case.config)
    ax, az = merge.dot_axes(config["axes"], (x.ndim, z.ndim))
    y = merge.dot(x, z, **config, spec=case.spec)
    plain = dict(config, normalize=False)
    with np.errstate(invalid="ignore", over="ignore"):
        if config.get("normalize"):
            (x, dx), (z, dz) = _normalized(x, ax, case.spec), _normalized(z, az, case.spec)
        else:
            dx, dz = np.zeros_like(x), np.zeros_like(z)
        ax_, az_ = np.abs(x), np.abs(z)
        carried = (merge.dot(ax_ * dx, az_, **plain) + merge.dot(ax_, az_ * dz, **plain)
                   + merge.dot(ax_ * dx, az_ * dz, **plain))
        magnitude = merge.dot(ax_ * (1 + dx), az_ * (1 + dz), **plain)
        bound = carried + tolerance.sum_bound(magnitude, x.shape[ax], np.abs(y) + carried,
                                             products=True)
    return Expected([y], [bound])


def _numpy_unit_norm_dot(case):
    """Keras 3 on NumPy's Dot(normalize=True): each input divided by its norm, computed as
    np.linalg.norm computes it in float32 (squares of values below 1e-23 underflow to 0), with
    no epsilon floor and a zero norm taken as 1 (numerical_utils.normalize's NumPy branch);
    the dot product of the unit vectors in float64."""
    x, z = (np.asarray(v, np.float32) for v in case.inputs)
    ax, az = merge.dot_axes(case.config["axes"], (x.ndim, z.ndim))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore", under="ignore"):
        def unit(v, axis):
            norm = np.sqrt(np.sum(v * v, axis=axis, keepdims=True)).astype(np.float64)
            return v / np.where(norm == 0, 1.0, norm)
        return merge.dot(unit(x, ax), unit(z, az), **dict(case.config, normalize=False))


def _numpy_norm_without_epsilon(case):
    """normalize=True, and that formula off the reference by more than half the bound
    somewhere: a vector whose norm is below Keras's epsilon (1e-7)."""
    if not case.config.get("normalize") or not case.expected:
        return False
    return bool(np.any(error_ratio(case.expected[0], case.bounds[0],
                                   _numpy_unit_norm_dot(case)) > 0.5))


NUMPY_NORM_WITHOUT_EPSILON = Divergence(
    candidates=("keras-numpy",), when=_numpy_norm_without_epsilon,
    reason="Keras 3 on NumPy normalizes Dot's inputs by their exact norm, with no epsilon: for "
           "a vector whose norm is below 1e-7 it gives the cosine where Keras on TensorFlow, "
           "JAX and torch give x / 1e-7 (found by the small regime)",
    evidence="keras/src/utils/numerical_utils.py normalize() lines 25-32 (Keras 3.15.1): for a "
             "NumPy array (the NumPy backend's tensors) it returns x / np.linalg.norm(x), zero "
             "norms taken as 1; other tensors go to ops.nn.normalize, which floors the norm at "
             "backend.epsilon(). Dot(axes=1, normalize=True) on [[3e-20, 4e-20]] and "
             "[[1e-20, 1e-20]]: keras-numpy 0.98995, keras-jax and keras-torch 7e-26")


DOT = LayerSpec(
    layer="Dot",
    domains={"axes": (1, 2, -1, [1, 2], [2, 1], [2, 2], [-1, -2], [1, -1]),
             "ranks": ([2, 2], [2, 3], [3, 2], [3, 3], [4, 3]),
             "normalize": (False, True), "regime": (*ELEMENTWISE, "long")},
    valid=_dot_valid, make=_dot_make, expect=_dot_expect,
    divergences=(NUMPY_NORM_WITHOUT_EPSILON, XNNPACK_ZERO_NORM),
    edge_cases=(({"axes": 1, "ranks": [2, 2], "normalize": True, "regime": "unit"},
                 [(1, 1), (1, 1)]),                                   # the cosine of one term
                ({"axes": 1, "ranks": [2, 2], "normalize": True, "regime": "tiny"},
                 [(3, 2), (3, 2)])),                                  # norms below eps
    rejects=(Reject({"axes": 1}, ((2, 3), (2, 4)), "axis sizes 3 and 4 differ"),
             Reject({"axes": 0}, ((2, 3), (2, 3)), "the batch axis cannot be summed"),
             Reject({"axes": 1}, ((2, 3),) * 3, "Dot takes exactly 2 inputs")),
)


# The functional forms: keras.layers.add(inputs, **config) builds the layer and calls it -------

def _functional(spec):
    """The spec of the functional form: the layer's, under its lowercase name. Masks reach a
    layer through compute_mask, which a functional call does not expose: none here. The long
    regime (Dot's thousands of terms) is left to the layer, to keep the fixtures small."""
    domains = dict(spec.domains)
    if "mask" in domains:
        domains["mask"] = (False,)
    domains["regime"] = tuple(r for r in domains["regime"] if r != "long")
    edges = tuple(e for e in spec.edge_cases if not e[0].get("mask"))
    return dataclasses.replace(spec, layer=spec.layer.lower(), domains=domains,
                               edge_cases=edges)


ADD_FN, SUBTRACT_FN, MULTIPLY_FN, AVERAGE_FN, MAXIMUM_FN, CONCATENATE_FN, DOT_FN = (
    _functional(s) for s in (ADD, SUBTRACT, MULTIPLY, AVERAGE, MAXIMUM, CONCATENATE, DOT))
