"""Specs of the spatial data layers: ZeroPadding, Cropping, UpSampling (1D, 2D, 3D) and the
global poolings (1D, 2D). One spec factory per kind serves every rank."""
import math

import numpy as np

import reference
from conformance import tolerance
from conformance.regimes import ELEMENTWISE, LONG_TERMS, REGIMES
from conformance.spec import Divergence, Expected, LayerSpec, Reject
from conformance.specs._common import TENSORFLOW, exact_expect
from conformance.specs._engine_ops import BUILTIN_CLAMPED_OUTPUT, ENGINE_MAX_POOLING, onnx_select
from conformance.specs.core import DATA_MOVEMENT_REGIMES
from reference.padding import as_tuple
from reference.spatial import source_positions

DATA_FORMATS = ("channels_last", "channels_first")
FORMS = {1: ("int", "pair"), 2: ("int", "pair", "pairs"), 3: ("int", "pair", "pairs")}


def _shape(params, rng, spatial, rank):
    batch, channels = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    if params.get("data_format", "channels_last") == "channels_first":
        return (batch, channels, *spatial)
    return (batch, *spatial, channels)


def _amounts(form, rank, rng, high=2):
    """An amount in one of Keras's forms: an int, a pair (rank 1: before and after; else one
    symmetric int per axis) or a pair per axis."""
    draw = lambda: int(rng.integers(0, high + 1))                    # noqa: E731
    if form == "int":
        return draw()
    if form == "pair":
        return [draw(), draw()] if rank == 1 else [draw() for _ in range(rank)]
    return [[draw(), draw()] for _ in range(rank)]


def _config(params, *keys):
    return {k: params[k] for k in keys if k in params}


# ZeroPadding1D/2D/3D ----------------------------------------------------------------------------

def _zero_padding(rank):
    def make(params, rng):
        config = {"padding": _amounts(params["form"], rank, rng),
                  **_config(params, "data_format")}
        spatial = [int(rng.integers(1, 5)) for _ in range(rank)]
        return config, [_shape(params, rng, spatial, rank)]

    domains = {"form": FORMS[rank], "regime": DATA_MOVEMENT_REGIMES}
    if rank > 1:             # tf_keras's ZeroPadding1D has no data_format (Keras 3's has)
        domains["data_format"] = DATA_FORMATS
    return LayerSpec(
        layer=f"ZeroPadding{rank}D", domains=domains, make=make,
        expect=exact_expect(reference.zero_padding),
        edge_cases=((({"form": "int", "regime": "unit", "data_format": "channels_first"},
                      [(1, 2, 3)], ("keras3",)),) if rank == 1 else ()),
        rejects=(Reject({"padding": -1}, ((1,) + (3,) * rank + (2,),), "negative padding"),))


ZERO_PADDING_1D, ZERO_PADDING_2D, ZERO_PADDING_3D = (_zero_padding(r) for r in (1, 2, 3))


# Cropping1D/2D/3D -------------------------------------------------------------------------------

def _cropping(rank):
    def make(params, rng):
        amount = _amounts(params["form"], rank, rng)
        config = {"cropping": amount, **_config(params, "data_format")}
        pairs = reference.padding.per_axis_pairs(amount, rank, "cropping")
        spatial = [start + end + int(rng.integers(1, 4)) for start, end in pairs]
        return config, [_shape(params, rng, spatial, rank)]

    domains = {"form": FORMS[rank], "regime": DATA_MOVEMENT_REGIMES}
    if rank > 1:             # Cropping1D has no data_format
        domains["data_format"] = DATA_FORMATS
    whole = [[1, 1]] + [[0, 0]] * (rank - 1) if rank > 1 else [1, 1]
    # tf_keras's Cropping3D returns an empty output where the others refuse (README)
    refusing = ("keras3",) if rank == 3 else ("keras3", "keras2")
    return LayerSpec(
        layer=f"Cropping{rank}D", windowed=True, domains=domains, make=make, expect=exact_expect(reference.cropping),
        rejects=(Reject({"cropping": whole}, ((1,) + (2,) * rank + (1,),),
                        "cropping that removes everything", refusing),))


CROPPING_1D, CROPPING_2D, CROPPING_3D = (_cropping(r) for r in (1, 2, 3))


# UpSampling1D/2D/3D -----------------------------------------------------------------------------

SIZES = {1: (1, 2, 3), 2: (1, 2, [2, 3], [3, 1]), 3: (1, 2, [1, 2, 3])}


def _upsampling_expect(case):
    """Bilinear: two products and a sum per axis, each bounded by the largest |x| near the
    output (13 u M with the sum bound), plus the float32 coordinate, (t + 0.5) / size - 0.5,
    which is off by up to u * n and may even pick the neighbour on the other side of an input
    position: 2 u n M per axis."""
    x, config = case.inputs[0], case.config
    y = reference.upsampling(x, **config)
    if config.get("interpolation", "nearest") == "nearest":
        return Expected([y], [tolerance.exact()])
    magnitude, positions = _neighbour_max(np.abs(np.asarray(x, np.float64)), config)
    # next to a NaN input the coordinate's rounding leaves the finite value unbounded
    magnitude = np.where(np.isnan(magnitude), np.inf, magnitude)
    with np.errstate(invalid="ignore"):
        coordinate = 2 * tolerance.unit() * positions * magnitude
    return Expected([y], [tolerance.sum_bound(magnitude, 4, y) + coordinate])


def _neighbour_max(x, config):
    """(M, n): the largest |x| among the inputs next to each bilinear output's coordinate
    (the one below, the one above, and the one before, for a coordinate on an input
    position), and the number of input positions along the axes."""
    data_format = config.get("data_format", "channels_last")
    x = reference.layout.to_channels_last(x, data_format)
    positions = 0
    for axis, s in enumerate(as_tuple(config["size"], 2, "size")):
        n = x.shape[axis + 1]
        positions += n
        low, _, _ = source_positions(n, s)
        near = [np.take(x, np.clip(low + d, 0, n - 1), axis=axis + 1) for d in (-1, 0, 1)]
        x = np.maximum(np.maximum(near[0], near[1]), near[2])
    return reference.layout.from_channels_last(x, data_format), positions


def _lerp_the_tensorflow_way(case):
    """Bilinear upsampling as TensorFlow's resize computes it: along the width, then the
    height, low + (high - low) * weight. inf - inf makes NaN where the weight is 0."""
    config = case.config
    data_format = config.get("data_format", "channels_last")
    x = reference.layout.to_channels_last(np.asarray(case.inputs[0], np.float64), data_format)
    with np.errstate(invalid="ignore"):
        for axis, s in reversed(list(enumerate(as_tuple(config["size"], 2, "size")))):
            low, high, weight = source_positions(x.shape[axis + 1], s)
            weight = weight.reshape([-1 if a == axis + 1 else 1 for a in range(x.ndim)])
            below = np.take(x, low, axis=axis + 1)
            above = np.take(x, high, axis=axis + 1)
            x = below + (above - below) * weight
    return reference.layout.from_channels_last(x, data_format)


def _tf_lerp_makes_nan(case):
    if case.config.get("interpolation") != "bilinear" or not case.expected:
        return False
    if as_tuple(case.config["size"], 2, "size") == (1, 1):     # TensorFlow returns the input
        return False
    tf_way = _lerp_the_tensorflow_way(case)
    return bool(np.any(np.isnan(tf_way) & ~np.isnan(case.expected[0])))


TF_BILINEAR_INF = Divergence(
    candidates=TENSORFLOW, when=_tf_lerp_makes_nan,
    reason="TensorFlow's bilinear resize computes low + (high - low) * weight, which is NaN "
           "where both neighbours are the same infinity (inf - inf), even at weight 0",
    evidence="tf.keras and tf_keras 2.21 on CPU: UpSampling2D(2, interpolation='bilinear') "
             "returns NaN where the output falls on (or between) infinite inputs of one sign; "
             "the reference gives the input itself at an input position and IEEE "
             "(1 - w) * a + w * b elsewhere")


def _torch_source_positions(n, scale, fused):
    """(low, high, weight) of each output along an axis as torch's CPU linear resize takes
    them (ATen/native/UpSample.h, compute_source_index_and_lambda, align_corners=False, sizes
    given, float32 arithmetic): an axis that keeps its size reads (t, t) with weights (1, 0);
    otherwise the coordinate ratio * (t + 0.5) - 0.5, ratio = float32(n / (n * scale)),
    clamped at 0, between low = min(floor, n - 1) and high = low + 1 (n - 1 at the end), the
    weight clamped to [0, 1]. `fused`: the coordinate as one FMA (torch's AVX2 and AVX-512
    kernels; ratio * 1.5 - 0.5 is 1.49e-8, not 0, at scale 3), else two roundings (its
    default kernel, ATEN_CPU_CAPABILITY=default)."""
    t = np.arange(n * scale)
    if scale == 1:
        return t, t, np.zeros(n)
    ratio = np.float32(n) / np.float32(n * scale)
    if fused:    # the float64 product and difference are exact: one rounding, as an FMA
        where = (np.float64(ratio) * (t + 0.5) - 0.5).astype(np.float32)
    else:
        where = ratio * (t + np.float32(0.5)).astype(np.float32) - np.float32(0.5)
    where = np.maximum(where, np.float32(0))
    low = np.minimum(np.floor(where).astype(int), n - 1)
    weight = np.clip(where - low.astype(np.float32), np.float32(0), np.float32(1))
    return low, np.where(low < n - 1, low + 1, low), weight.astype(np.float64)


def _lerp_the_torch_way(case, fused):
    """Bilinear upsampling with torch's positions: every output sums all four neighbours
    times their weights, the weight-0 ones included, so an infinite neighbour at weight 0
    gives NaN (inf * 0), and one at a weight of 1.49e-8 gives that infinity. Along each axis
    in float64, which gives the same NaN and infinities as torch's float32 sum of
    x[h, w] * (weight_h * weight_w): both weights are 0 or at least 1.49e-8, so their float32
    product is 0 exactly where one of them is."""
    return _lerp_at(case, lambda n, s: _torch_source_positions(n, s, fused))


def _lerp_at(case, positions):
    """Bilinear upsampling that reads, along each axis, x[low] * (1 - weight) + x[high] *
    weight at positions(n, scale) = (low, high, weight), axis after axis, in float64."""
    config = case.config
    data_format = config.get("data_format", "channels_last")
    x = reference.layout.to_channels_last(np.asarray(case.inputs[0], np.float64), data_format)
    with np.errstate(invalid="ignore"):
        for axis, s in enumerate(as_tuple(config["size"], 2, "size")):
            low, high, weight = positions(x.shape[axis + 1], s)
            weight = weight.reshape([-1 if a == axis + 1 else 1 for a in range(x.ndim)])
            x = (np.take(x, low, axis=axis + 1) * (1 - weight)
                 + np.take(x, high, axis=axis + 1) * weight)
    return reference.layout.from_channels_last(x, data_format)


def _non_finite_differs(case, replay, variants):
    """Whether `replay(case, variant)` of a bilinear resize, for some variant, gives a NaN or
    an infinity that the reference does not (or the reverse). Finite answers differ only by
    rounding, which the bound holds."""
    if case.config.get("interpolation") != "bilinear" or not case.expected:
        return False
    expected = np.asarray(case.expected[0], np.float64)
    for variant in variants:
        got = replay(case, variant)
        same = (got == expected) | (np.isnan(got) & np.isnan(expected))
        if np.any(~same & ~(np.isfinite(got) & np.isfinite(expected))):
            return True
    return False


def _torch_lerp_differs(case):
    """Where torch's sum, on either coordinate rounding, differs from the reference in its
    non-finite values: a non-finite input at a weight of 0 (or 1.49e-8) next to the output."""
    return _non_finite_differs(case, _lerp_the_torch_way, (False, True))


TORCH_BILINEAR_ZERO_WEIGHT = Divergence(
    candidates=("keras-torch",), when=_torch_lerp_differs,
    reason="torch's bilinear resize multiplies all four neighbours by their weights, a weight "
           "of 0 included (and an axis that keeps its size reads the same input twice, at "
           "weights 1 and 0), so an infinite input gives NaN where the output falls on an "
           "input position, and an infinite neighbour at weight 0 makes a finite output NaN",
    evidence="keras/src/backend/torch/image.py resize (Keras 3.15.1) calls F.interpolate(..., "
             "mode='bilinear', align_corners=False) even at size 1; ATen/native/UpSample.h "
             "compute_source_index_and_lambda (torch 2.13) gives output_size == input_size "
             "the indices (t, t) and weights (1, 0), and the CPU kernel sums "
             "i00*w00 + i01*w01 + i10*w10 + i11*w11, so inf*1 + inf*0 = NaN. keras-torch "
             "3.15.1 (torch 2.13 CPU): UpSampling2D(1, interpolation='bilinear') on "
             "[[-0, -0.47, -inf], [-0, -0.995, nan], [-0.836, -0.0257, inf], "
             "[-1.54, -0.342, -0]] (shape (1, 1, 4, 3)) gives NaN for both infinities; "
             "UpSampling2D(2, interpolation='bilinear') on [[5, inf]] (shape (1, 1, 2, 1)) "
             "gives [[nan, nan, nan, nan], [nan, inf, inf, inf]] where the reference gives "
             "[[5, inf, inf, inf]] twice (row 0 reads its only input row at weights 1 and 0; "
             "column 0 reads 5 at weight 1 and inf at weight 0); tf.keras returns the input at "
             "size 1, and the reference gives the input at every input position. The "
             "predicate replays torch's positions on the case, with both roundings of the "
             "coordinate (ATEN_CPU_CAPABILITY=default rounds twice, avx2 and avx512 fuse): "
             "over 4000 random bilinear cases with up to two non-finite inputs on each, it "
             "held exactly where keras-torch failed")


def _dense_resize_weights(n, scale, arithmetic):
    """The (n, n * scale) weight matrix of jax.image.resize's linear kernel (Keras on JAX) and
    of its NumPy port (keras/src/backend/numpy/image.py, Keras on NumPy): for output t, the
    coordinate c = (t + 0.5) / scale - 0.5 and the weight max(0, 1 - |c - input|) of every
    input, normalised to sum to 1. `arithmetic`: "float64" (NumPy), or float32 with two
    roundings ("float32") or the coordinate fused into one ("fused"), as XLA may compile it."""
    t, inputs = np.arange(n * scale), np.arange(n)
    if arithmetic == "float64":
        where = (t + 0.5) * (1.0 / scale) - 0.5
        weights = np.maximum(0, 1 - np.abs(where[None, :] - inputs[:, None]))
        return weights / weights.sum(axis=0, keepdims=True)
    inv_scale = np.float32(1.0 / scale)
    if arithmetic == "fused":   # the float64 product and difference are exact: one rounding
        where = (np.float64(inv_scale) * (t + 0.5) - 0.5).astype(np.float32)
    else:
        where = (t + np.float32(0.5)).astype(np.float32) * inv_scale - np.float32(0.5)
    distance = np.abs(where[None, :] - inputs[:, None].astype(np.float32))
    weights = np.maximum(np.float32(0), np.float32(1) - distance)
    return (weights / weights.sum(axis=0, keepdims=True)).astype(np.float64)


def _lerp_the_dense_way(case, arithmetic):
    """Bilinear upsampling as one weight matrix per resized axis, every input times its
    weight, the weight-0 ones included: an infinite input anywhere along the axis makes NaN
    (inf * 0) at every output whose weight for it is 0. An axis that keeps its size is not
    resized. In float64, which gives the candidates' NaN and infinities: their weights are 0
    or well above the smallest normal (a rounding residue included, which each arithmetic
    replays)."""
    config = case.config
    data_format = config.get("data_format", "channels_last")
    x = reference.layout.to_channels_last(np.asarray(case.inputs[0], np.float64), data_format)
    with np.errstate(invalid="ignore"):
        for axis, s in enumerate(as_tuple(config["size"], 2, "size")):
            if s == 1:
                continue
            weights = _dense_resize_weights(x.shape[axis + 1], s, arithmetic)
            moved = np.moveaxis(x, axis + 1, -1)[..., :, None] * weights
            x = np.moveaxis(moved.sum(axis=-2), -1, axis + 1)
    return reference.layout.from_channels_last(x, data_format)


def _dense_lerp_differs(case):
    """Where the dense resize, in any of its arithmetics, differs from the reference in its
    non-finite values."""
    return _non_finite_differs(case, _lerp_the_dense_way, ("float64", "float32", "fused"))


DENSE_BILINEAR_ZERO_WEIGHT = Divergence(
    candidates=("keras-jax", "keras-numpy"), when=_dense_lerp_differs,
    reason="Keras on JAX and on NumPy resize with one dense weight matrix per axis, every input "
           "times its weight, so one infinite input makes NaN (inf * 0) at every output along "
           "its row or column that does not read it",
    evidence="keras/src/backend/jax/image.py resize (Keras 3.15.1) calls jax.image.resize, "
             "whose _scale_and_translate (jax/_src/image/scale.py) contracts the input with the "
             "weight matrix of compute_weight_mat in one einsum; keras/src/backend/numpy/"
             "image.py ports it as np.tensordot per axis. keras-jax and keras-numpy 3.15.1 on "
             "CPU: UpSampling2D(2, interpolation='bilinear') on [[5, inf, 1, 2]] (shape "
             "(1, 1, 4, 1)) gives [nan, inf, inf, inf, inf, nan, nan, nan] on both rows, where "
             "the reference gives [5, inf, inf, inf, inf, 1.25, 1.75, 2]. An axis that keeps "
             "its size is not resized (size 1 returns the input). The predicate replays the "
             "weights in float64 (NumPy) and in float32 with and without a fused coordinate "
             "(XLA)")


ENGINE_BILINEAR_ZERO_WEIGHT = Divergence(
    candidates=("litert", "litert-builtin", "keras-openvino"), when=_torch_lerp_differs,
    reason="LiteRT's RESIZE_BILINEAR and OpenVINO's Interpolate sum every neighbour times its "
           "weight, a weight of 0 included (at size 1 an axis reads each input twice, at "
           "weights 1 and 0), so an infinite input gives NaN where the reference keeps it: "
           "torch's replay (TORCH_BILINEAR_ZERO_WEIGHT) predicts where",
    evidence="ai-edge-litert 2.3.0 (both resolvers) and openvino 2026.4.1 under Keras 3.15.1: "
             "UpSampling2D(1, interpolation='bilinear') on UpSampling2D-009's (1, 2, 3, 2) "
             "input [-inf, -0.187, -0.482, -1.03, -0, -0.0349, 2.04, -inf, nan, nan, inf, "
             "-0.0622] gives NaN at the infinities, where the reference and tf.keras give "
             "them back; TFLite's half-pixel resize reads rows (floor(y), ceil(y)) = (t, t) "
             "at scale 1 (tensorflow/lite/kernels/internal/reference/resize_bilinear.h). The "
             "predicate matched these engines' failures exactly (two of 21 bilinear cases "
             "each) and none of their passing cases")


def _onnx_source_positions(n, scale):
    """(low, high, weight) of each output along an axis as onnxruntime's CPU Resize (linear,
    half_pixel) takes them (onnxruntime/core/providers/cpu/tensor/upsample.cc,
    SetupUpsampleBilinear): the coordinate (t + 0.5) / scale - 0.5 in float32 (t itself at a
    scale of 1), clamped to [0, n - 1], low = its integer part, high = low + 1 (n - 1 at the
    end), weight its distance from low; where low and high are the same input, both weights
    are 0.5. Unlike torch, an axis that keeps its size reads (t, t + 1) at weights (1, 0)."""
    t = np.arange(n * scale)
    if scale == 1:
        where = t.astype(np.float32)
    else:
        where = (t + np.float32(0.5)).astype(np.float32) / np.float32(scale) - np.float32(0.5)
    where = np.clip(where, np.float32(0), np.float32(n - 1))
    low = np.minimum(where.astype(int), n - 1)
    high = np.minimum(low + 1, n - 1)
    weight = np.where(low == high, 0.5, where - low.astype(np.float32))
    return low, high, weight.astype(np.float64)


def _onnx_lerp_differs(case):
    """Where onnxruntime's sum differs from the reference in its non-finite values. A resize
    whose every size is 1 changes no shape, and onnxruntime copies its input."""
    if case.config.get("interpolation") != "bilinear" or all(
            s == 1 for s in as_tuple(case.config["size"], 2, "size")):
        return False
    return _non_finite_differs(case, lambda c, _: _lerp_at(c, _onnx_source_positions), (None,))


ONNX_BILINEAR_ZERO_WEIGHT = Divergence(
    candidates=("onnxruntime",), when=_onnx_lerp_differs,
    reason="onnxruntime's Resize (linear) sums all four neighbours times the products of their "
           "weights, a weight of 0 included, and an axis that keeps its size reads (t, t + 1) "
           "at weights (1, 0), so an infinite input gives NaN where the reference keeps it or "
           "reads it at weight 0",
    evidence="onnxruntime/core/providers/cpu/tensor/upsample.cc (SetupUpsampleBilinear, "
             "UpsampleBilinear): in_x = width_scale == 1 ? x : the half-pixel coordinate, "
             "in_x1 = min((int)in_x, W - 1), in_x2 = min(in_x1 + 1, W - 1), and the output "
             "dx2*dy2*X11 + dx1*dy2*X21 + dx2*dy1*X12 + dx1*dy1*X22. onnxruntime 1.32 (tf2onnx "
             "1.17, Keras 3.15.1): UpSampling2D((2, 1), interpolation='bilinear') on [[5, inf, "
             "1, 2], [0.5, -1, nan, 3]] (shape (1, 2, 4, 1)) gives rows [nan, nan, nan, 2], "
             "[nan, nan, nan, 2.25], [nan, nan, nan, 2.75], [0.5, nan, nan, 3] where the "
             "reference gives [5, inf, 1, 2], [3.875, inf, nan, 2.25], [1.625, inf, nan, "
             "2.75], [0.5, -1, nan, 3]; found by the live property test "
             "(UpSampling2D-live-0000009b, channels_first, size 2: NaN where the reference "
             "gives 0.5417 beside -inf). Size (1, 1) is copied. The predicate replays these "
             "positions on the case")


def _upsampling(rank):
    def make(params, rng):
        config = _config(params, "size", "data_format", "interpolation")
        spatial = [int(rng.integers(1, 5)) for _ in range(rank)]
        return config, [_shape(params, rng, spatial, rank)]

    domains = {"size": SIZES[rank], "regime": DATA_MOVEMENT_REGIMES}
    if rank > 1:
        domains["data_format"] = DATA_FORMATS
    if rank == 2:
        domains.update(interpolation=("nearest", "bilinear"), regime=ELEMENTWISE)
    valid = (lambda p: p["interpolation"] == "bilinear" or p["regime"] in DATA_MOVEMENT_REGIMES
             ) if rank == 2 else (lambda p: True)
    return LayerSpec(layer=f"UpSampling{rank}D", domains=domains, valid=valid, make=make,
                     expect=_upsampling_expect,
                     divergences=(TF_BILINEAR_INF, TORCH_BILINEAR_ZERO_WEIGHT,
                                  DENSE_BILINEAR_ZERO_WEIGHT, ENGINE_BILINEAR_ZERO_WEIGHT,
                                  ONNX_BILINEAR_ZERO_WEIGHT),
                     rejects=(Reject({"size": 0}, ((1,) + (3,) * rank + (2,),),
                                     "size must be positive"),))


UPSAMPLING_1D, UPSAMPLING_2D, UPSAMPLING_3D = (_upsampling(r) for r in (1, 2, 3))


# GlobalMaxPooling1D/2D, GlobalAveragePooling1D/2D ----------------------------------------------

LONG_SHAPE = {1: (LONG_TERMS[0],), 2: (32, 64)}


def _global_make(rank):
    def make(params, rng):
        config = _config(params, "data_format", "keepdims")
        if params["regime"] == "long":
            return config, [_shape(params, rng, LONG_SHAPE[rank], rank)]
        spatial = [int(rng.integers(1, 6)) for _ in range(rank)]
        return config, [_shape(params, rng, spatial, rank)]
    return make


def _global_average_expect(case):
    """A sum of the (unmasked) steps, then one division; a mask multiplies first (exact)."""
    x, mask = case.inputs[0], case.call_kwargs.get("mask")
    data_format = case.config.get("data_format", "channels_last")
    terms = math.prod(x.shape[2:] if data_format == "channels_first" else x.shape[1:-1])
    with np.errstate(invalid="ignore"):
        y = reference.global_average_pooling(x, mask, **case.config, spec=case.spec)
        magnitude = reference.global_average_pooling(np.abs(x), mask, **case.config,
                                                     spec=case.spec)
        bound = tolerance.sum_bound(magnitude, terms, y, overflow="admit")
        # the mean's divisor: the unmasked steps (at least one), or every position
        count = (np.maximum(np.sum(mask, axis=1), 1).reshape((-1,) + (1,) * (y.ndim - 1))
                 if mask is not None else terms)
        sides = tolerance.overflow_sides(magnitude * count, y * count, bound * count)
    return Expected([y], [bound],
                    overflow=[tolerance.overflow_alternative(tolerance.IDENTITY, y, sides)])


MASKS = (None, "right_padded", "scattered", "a_row_all_masked")


def _steps_mask(params, shapes, rng):
    """call(mask=...) of GlobalAveragePooling1D: (batch, steps) booleans, True = keep.
    right_padded: each row keeps a prefix (at least one step); scattered: any steps, at least
    one per row; a_row_all_masked: scattered, and the first row masks every step."""
    kind = params.get("mask")
    if kind is None:
        return {}
    shape = shapes[0]
    batch, steps = shape[0], shape[2] if params["data_format"] == "channels_first" else shape[1]
    if kind == "right_padded":
        keep = rng.integers(1, steps + 1, size=batch)
        mask = np.arange(steps)[None, :] < keep[:, None]
    else:
        mask = rng.random((batch, steps)) < 0.6
        mask[np.arange(batch), rng.integers(0, steps, size=batch)] = True
        if kind == "a_row_all_masked":
            mask[0] = False
    return {"mask": mask}



def _masked_average_as_product(case):
    """Keras 3 leaves masked steps out with tf.where; tf2onnx writes it as a product, which is
    tf_keras's mask multiplication (the reference's keras2 branch): a masked inf gives NaN."""
    return [reference.global_average_pooling(case.inputs[0], case.call_kwargs.get("mask"),
                                             **case.config, spec="keras2")]


ONNX_MASKED_AVERAGE = onnx_select(_masked_average_as_product)

def _global(kind, rank):
    average = kind == "Average"
    masked = average and rank == 1
    return LayerSpec(
        layer=f"Global{kind}Pooling{rank}D",
        domains={"data_format": DATA_FORMATS, "keepdims": (False, True),
                 **({"mask": MASKS} if masked else {}),
                 "regime": REGIMES if average else ELEMENTWISE},
        make=_global_make(rank), call_kwargs=_steps_mask if masked else None,
        expect=_global_average_expect if average else exact_expect(reference.global_max_pooling),
        # the masked mean is a sum and a division, which TFLite's builtin kernels clamp (the
        # MEAN of GlobalAveragePooling2D-005 keeps inf)
        divergences=((ONNX_MASKED_AVERAGE, BUILTIN_CLAMPED_OUTPUT) if masked
                     else () if average else (ENGINE_MAX_POOLING,)))


GLOBAL_MAX_POOLING_1D, GLOBAL_MAX_POOLING_2D = (_global("Max", r) for r in (1, 2))
GLOBAL_AVERAGE_POOLING_1D, GLOBAL_AVERAGE_POOLING_2D = (_global("Average", r) for r in (1, 2))
