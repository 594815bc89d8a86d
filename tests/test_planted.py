"""Each planted fault is caught in the right layer's cells, and only there (a candidate that
crashes, hangs, raises or answers out of shape: tests/test_planted_process.py)."""
import json

import numpy as np
import pytest

import reference
from conformance.elements import error_ratio
from reference.padding import as_tuple, output_length, pad_amounts
from tests import planted as planted_candidates
from tests.suite_runner import (FORWARD, cells, failing, fixture_cases, ids_with, layers_with,
                                run_suite)

GOLDEN = (*FORWARD, "--no-oracle")


def planted(tmp_path, name, *args):
    """The golden cases of the planted layer and one clean neighbour (unless args name the
    layers): a planted candidate is the reference everywhere else, so the other layers'
    cases would only rerun the reference candidate's own run, at most of this test's cost.
    The neighbour is a layer of few cases (Flatten's 16 forward cases; Dense has 197)."""
    if "--layer" not in args:
        layer = getattr(planted_candidates, name).layer
        args = (*args, "--layer", layer, "--layer", "Reshape" if layer == "Flatten" else "Flatten")
    code, output, matrix = run_suite(tmp_path, f"tests.planted:{name}", *GOLDEN, *args)
    assert matrix is not None, output[-3000:]
    return code, output, matrix


def only_layer_fails(matrix, layer, statuses=("failed",)):
    assert layers_with(matrix, ("failed", "error", "xpassed")) == [layer]
    return failing(matrix, layer, statuses)


def caught_where_it_shows(bad, predicted):
    """The fault fails only predicted cells, and every predicted cell of the unit regime: in
    other regimes saturation (tanh of 300), special values (a NaN row) or a large offset can
    hide a fault that shifts values a little."""
    key = lambda c: json.dumps(c["params"], sort_keys=True)   # noqa: E731
    assert {key(c) for c in bad} <= {key(c) for c in predicted}
    unit = {key(c) for c in predicted if c["params"].get("regime") == "unit"}
    assert unit and unit <= {key(c) for c in bad}


def test_causal_padding_on_the_wrong_side(tmp_path):
    code, _, matrix = planted(tmp_path, "CausalPaddingOnTheRight")
    assert code == 1
    bad = only_layer_fails(matrix, "Conv1D")
    causal = [c for c in matrix["layers"]["Conv1D"]["cells"]
              if c["params"]["padding"] == "causal" and c["params"]["kernel_size"] > 1]
    # a softmax over one value is 1 whatever the fault: over one filter (channels_last), or
    # over one step (channels_first, softmax along the last axis)
    key = lambda c: json.dumps(c["params"], sort_keys=True)   # noqa: E731
    assert {key(c) for c in bad} <= {key(c) for c in causal}
    must = {key(c) for c in causal
            if c["params"]["activation"] != "softmax" and c["params"]["regime"] == "unit"}
    assert must and must <= {key(c) for c in bad}


def test_average_pooling_same_dividing_by_the_full_window(tmp_path):
    _, _, matrix = planted(tmp_path, "AveragePoolingCountsPadding")
    bad = only_layer_fails(matrix, "AveragePooling1D")
    assert bad and all(c["params"]["padding"] == "same" and c["params"]["pool_size"] > 1
                       for c in bad)


def _bias_shows(case):
    """Whether Dense without its bias leaves the case's bound somewhere (nothing shows where
    the activation is flat there: a softmax or sparsemax over one unit, sparse_sigmoid beyond
    +-1, relu of negative sums)."""
    if not case.config.get("use_bias") or case.out_of_scope or not case.expected:
        return False
    weights = [case.weights[0], np.zeros_like(case.weights[1])]
    with np.errstate(all="ignore"):
        got = reference.dense(np.asarray(case.inputs[0], np.float64), *weights, **case.config)
    return bool(np.any(error_ratio(case.expected[0], case.bounds[0], got) > 1))


def test_dense_without_its_bias(tmp_path):
    _, _, matrix = planted(tmp_path, "DenseWithoutBias")
    bad = only_layer_fails(matrix, "Dense")
    shows = {c.id for c in keras3_cases("Dense") if _bias_shows(c)}
    caught_where_it_shows(bad, [c for c in matrix["layers"]["Dense"]["cells"]
                                if shows & {r["id"] for r in c["case_results"]}])


def test_permute_read_zero_based(tmp_path):
    _, _, matrix = planted(tmp_path, "PermuteZeroBased")
    bad = only_layer_fails(matrix, "Permute")
    assert bad == [c for c in matrix["layers"]["Permute"]["cells"]
                   if c["params"]["dims"] != sorted(c["params"]["dims"])]


def test_dropout_active_at_inference(tmp_path):
    _, _, matrix = planted(tmp_path, "DropoutAtInference")
    bad = only_layer_fails(matrix, "Dropout")
    # in training dropping is right (and the draw passes the statistical check)
    caught_where_it_shows(bad, [c for c in matrix["layers"]["Dropout"]["cells"]
                                if c["params"]["rate"] > 0 and not c["params"]["training"]])


def test_dense_off_by_1e4_in_one_element(tmp_path):
    _, output, matrix = planted(tmp_path, "DenseOffInOneElement")
    bad = only_layer_fails(matrix, "Dense")
    wide = [c for c in bad if c["params"] == {"activation": None, "rank": 2, "units": 64,
                                              "use_bias": True, "regime": "unit"}]
    assert wide, "the Dense(64) over 256 inputs edge case must fail"
    case = next(r for r in wide[0]["case_results"] if r["status"] == "failed")
    assert case["error_ratio"] > 1 and case["worst"]["index"] is not None
    # the message names candidate, layer, params, the worst element and a rerun command
    for needle in ("candidate tests.planted:DenseOffInOneElement", "layer Dense", '"units": 64',
                   "index", "expected", "got", "bound", "rerun: pytest --pyargs"):
        assert needle in case["message"], (needle, case["message"])


# Faults at the edges of the input regimes: each is predicted from the fixture's inputs, by a
# rule that says why the fault shows there, and must fail exactly those cases.

keras3_cases = fixture_cases                       # a layer's golden keras3 cases


def failing_ids(matrix, layer):
    return sorted(ids_with(matrix, layer))


EXP_OVERFLOWS = 88.7228    # float32 exp(x) is inf above this


def _finite_above(case, limit):
    x = np.asarray(case.inputs[0], np.float64)
    return bool(np.any(np.isfinite(x) & (x > limit)))


def _softmax_rows(case):
    return np.asarray(case.inputs[0], np.float64).reshape(-1, np.shape(case.inputs[0])[-1])


def _unshifted_softmax_breaks(case):
    """exp(x) / sum(exp(x)) in float32 breaks on a row without NaN where exp overflows (a
    logit above 88.7, or +inf) or where every exp underflows (all logits below -87.3), except
    a row of +inf only (inf / inf) or -inf only (0 / 0): NaN, as softmax gives there."""
    rows = _softmax_rows(case)
    clean = ~np.isnan(rows).any(axis=1)
    overflow = (rows > EXP_OVERFLOWS).any(axis=1) & ~(rows == np.inf).all(axis=1)
    underflow = (rows < -87.33).all(axis=1) & ~(rows == -np.inf).all(axis=1)
    return bool(np.any(clean & (overflow | underflow)))


def _log_of_one_plus_exp_visible(case):
    """log(1 + exp(x)) in float32 off the bound: exp overflowing, or 1 + exp(x) rounding for
    a negative x (softplus's bound is relative) until softplus(x) < 2^-126 counts as 0."""
    got = planted_candidates.SoftplusLog1pExp().faulty(case)[0]
    return bool(np.any(error_ratio(case.expected[0], case.bounds[0], got) > 1))


def _first_logit_dropped(case):
    """A row of 3+ logits whose first is 50 or more below the row's finite max, while the
    others differ (so they do not share equally)."""
    for row in _softmax_rows(case):
        top = np.max(row)
        if (len(row) >= 3 and np.isfinite(top) and row[0] <= top - 50
                and np.ptp(row[1:]) > 1e-3):
            return True
    return False


@pytest.mark.parametrize("name, activation, breaks", [
    ("SoftmaxWithoutMaxShift", "softmax", _unshifted_softmax_breaks),
    ("SoftplusLog1pExp", "softplus", _log_of_one_plus_exp_visible),
    ("ExponentialNaNOnOverflow", "exponential", lambda case: _finite_above(case, EXP_OVERFLOWS)),
    ("SoftmaxDropsVeryNegativeLogit", "softmax", _first_logit_dropped),
])
def test_activation_faults_at_the_edges(tmp_path, name, activation, breaks):
    _, _, matrix = planted(tmp_path, name, "--layer", "Activation", "--layer", "Dense")
    predicted = sorted(c.id for c in keras3_cases("Activation")
                       if c.config["activation"] == activation and breaks(c))
    assert predicted, f"no fixture case reaches the edge where {name} breaks"
    assert failing_ids(matrix, "Activation") == predicted
    assert layers_with(matrix, ("failed", "error", "xpassed")) == ["Activation"]


def _zero_padding_shows(case):
    """A "same" window hanging over the border whose real values are all negative (no NaN):
    a padded 0 becomes its max."""
    config = case.config
    if config["padding"] != "same":
        return False
    x = reference.layout.to_channels_last(np.asarray(case.inputs[0], np.float64),
                                          config["data_format"])
    pool = as_tuple(config["pool_size"], 1, "pool_size")[0]
    strides = pool if config["strides"] is None else as_tuple(config["strides"], 1, "s")[0]
    before, _ = pad_amounts(x.shape[1], pool, strides, 1, "same")
    for t in range(output_length(x.shape[1], pool, strides, 1, "same")):
        start = t * strides - before
        real = x[:, max(start, 0):min(start + pool, x.shape[1])]
        hangs = start < 0 or start + pool > x.shape[1]
        if hangs and np.any(~np.isnan(real).any(axis=1) & (real.max(axis=1, initial=-np.inf) < 0)):
            return True
    return False


def test_max_pooling_padding_with_zero(tmp_path):
    _, _, matrix = planted(tmp_path, "MaxPoolingPadsWithZero", "--layer", "MaxPooling1D")
    predicted = sorted(c.id for c in keras3_cases("MaxPooling1D") if _zero_padding_shows(c))
    assert predicted and failing_ids(matrix, "MaxPooling1D") == predicted


def _activation_flat(case):
    """Whether Dense's activation is flat at every sum of the case: the same for the sum
    moved by 2^-8 of itself either way (softmax, log_softmax or sparsemax over one unit, relu
    of negative sums, sparse_sigmoid beyond +-1): nothing before it can show."""
    z = reference.dense(np.asarray(case.inputs[0], np.float64), *case.weights,
                        **dict(case.config, activation=None))
    f = reference.activation(case.config["activation"], case.spec)
    return all(np.array_equal(f(z * (1 + d)), f(z)) for d in (2.0 ** -8, -2.0 ** -8))


def test_dense_accumulating_in_float16(tmp_path):
    """float16 keeps 11 bits: every Dense case of the unit and long regimes fails, except
    where the activation is flat at every sum (_activation_flat: a softmax over one unit is
    always 1). Elsewhere saturation or special values may hide it."""
    _, _, matrix = planted(tmp_path, "DenseFloat16Accumulation", "--layer", "Dense",
                           "--layer", "Activation")
    bad = set(failing_ids(matrix, "Dense"))
    must = {c.id for c in keras3_cases("Dense") if c.params["regime"] in ("unit", "long")
            and not _activation_flat(c)}
    assert must and must <= bad
    assert layers_with(matrix, ("failed", "error", "xpassed")) == ["Dense"]


def _hangs_over_the_border(case):
    """A "same" 2D pool with padding on some axis: a window there holds padded positions."""
    config = case.config
    if config["padding"] != "same":
        return False
    x = reference.layout.to_channels_last(np.asarray(case.inputs[0]), config["data_format"])
    pool = as_tuple(config["pool_size"], 2, "pool_size")
    strides = pool if config["strides"] is None else as_tuple(config["strides"], 2, "s")
    return any(sum(pad_amounts(n, p, s, 1, "same")) > 0
               for n, p, s in zip(x.shape[1:3], pool, strides))


def test_average_pooling_2d_dividing_by_the_full_window(tmp_path):
    """Fails where a window hangs over the border, in every regime whose values are not all
    zero there; never elsewhere."""
    _, _, matrix = planted(tmp_path, "AveragePooling2DCountsPadding", "--layer",
                           "AveragePooling2D", "--layer", "MaxPooling2D")
    assert layers_with(matrix, ("failed", "error", "xpassed")) == ["AveragePooling2D"]
    bad = set(failing_ids(matrix, "AveragePooling2D"))
    hanging = {c.id for c in keras3_cases("AveragePooling2D") if _hangs_over_the_border(c)}
    unit = {c.id for c in keras3_cases("AveragePooling2D")
            if c.id in hanging and c.params.get("regime") == "unit"}
    assert bad <= hanging and unit and unit <= bad


def test_cropping_3d_axes_in_the_wrong_order(tmp_path):
    """Fails exactly where the croppings of the first and last axes differ."""
    _, _, matrix = planted(tmp_path, "Cropping3DAxesReversed", "--layer", "Cropping3D",
                           "--layer", "Cropping2D")
    assert layers_with(matrix, ("failed", "error", "xpassed")) == ["Cropping3D"]
    predicted = sorted(
        c.id for c in keras3_cases("Cropping3D")
        if (lambda p: p[0] != p[2])(reference.padding.per_axis_pairs(c.config["cropping"], 3,
                                                                     "cropping")))
    assert predicted and failing_ids(matrix, "Cropping3D") == predicted


def test_bilinear_upsampling_without_half_pixel_centres(tmp_path):
    """Every bilinear case with a size above 1 on some axis fails in the unit regime; nearest
    cases never; at size 1 only a special case can (an infinity weighed by 0: NaN)."""
    _, _, matrix = planted(tmp_path, "BilinearWithoutHalfPixelCentres", "--layer",
                           "UpSampling2D")
    bad = set(failing_ids(matrix, "UpSampling2D"))
    cases = keras3_cases("UpSampling2D")
    bilinear = {c.id for c in cases if c.config["interpolation"] == "bilinear"
                and (as_tuple(c.config["size"], 2, "size") != (1, 1)
                     or c.params["regime"] == "special")}
    unit = {c.id for c in cases if c.id in bilinear and c.params["regime"] == "unit"}
    assert bad <= bilinear and unit and unit <= bad


def test_conv3d_dilation_ignored_on_one_axis(tmp_path):
    """Fails in the cases dilated along the second spatial axis with a kernel longer than 1
    there, in the unit regime at least; nowhere else."""
    _, _, matrix = planted(tmp_path, "Conv3DDilationIgnoredOnOneAxis", "--layer", "Conv3D")
    bad = set(failing_ids(matrix, "Conv3D"))
    dilated = {c.id for c in keras3_cases("Conv3D")
               if as_tuple(c.config["dilation_rate"], 3, "d")[1] > 1
               and as_tuple(c.config["kernel_size"], 3, "k")[1] > 1}
    unit = {c.id for c in keras3_cases("Conv3D") if c.id in dilated
            and c.params["regime"] == "unit" and c.config["activation"] != "softmax"}
    assert bad <= dilated and unit and unit <= bad


def test_channels_first_read_as_channels_last_in_a_2d_pool(tmp_path):
    """Every channels_first MaxPooling2D case fails except where both readings agree (a pool
    of 1 over a single channel); channels_last never."""
    _, _, matrix = planted(tmp_path, "MaxPooling2DReadsChannelsFirstAsLast", "--layer",
                           "MaxPooling2D")
    bad = set(failing_ids(matrix, "MaxPooling2D")) | {
        r["id"] for c in cells(matrix, "MaxPooling2D") for r in c["case_results"]
        if r["status"] == "error"}
    first = {c.id for c in keras3_cases("MaxPooling2D")
             if c.config["data_format"] == "channels_first"}
    unit = {i for i in first if next(c for c in keras3_cases("MaxPooling2D") if c.id == i
                                     ).params["regime"] == "unit"}
    assert bad <= first and unit and unit <= bad


def _channels(case):
    x = case.inputs[0]
    return x.shape[1] if case.config.get("data_format") == "channels_first" else x.shape[-1]


def _unit(cases):
    """The unit-regime cases without a softmax (which can hide a fault: over one unit it is
    1 whatever its input)."""
    return {c.id for c in cases if c.params["regime"] == "unit"
            and c.config.get("activation") != "softmax"}


def test_conv2d_same_padding_extra_row_first(tmp_path):
    """Fails where "same" pads an odd total on some axis, in the unit regime at least."""
    _, _, matrix = planted(tmp_path, "Conv2DSamePadsTheExtraRowFirst", "--layer", "Conv2D")
    bad = set(failing_ids(matrix, "Conv2D"))

    def odd_total(case):
        x = reference.layout.to_channels_last(case.inputs[0], case.config["data_format"])
        return case.config["padding"] == "same" and any(
            sum(pad_amounts(x.shape[1 + a], as_tuple(case.config["kernel_size"], 2, "k")[a],
                            as_tuple(case.config["strides"], 2, "s")[a],
                            as_tuple(case.config["dilation_rate"], 2, "d")[a], "same")) % 2
            for a in range(2))
    predicted = [c for c in keras3_cases("Conv2D") if odd_total(c)]
    # a constant output (every tap lands in the padding: Conv2D-018, one row under a dilated
    # kernel) cannot show which side the extra row went to
    unit = _unit(c for c in predicted if np.ptp(c.expected[0]) > 0)
    assert bad <= {c.id for c in predicted} and unit and unit <= bad


def test_conv2d_transpose_shifted_by_one_pixel(tmp_path):
    """Fails wherever the output has two rows or more (a roll of one row is the identity)."""
    _, _, matrix = planted(tmp_path, "Conv2DTransposeShiftedByOnePixel", "--layer",
                           "Conv2DTranspose")
    bad = set(failing_ids(matrix, "Conv2DTranspose"))
    predicted = [c for c in keras3_cases("Conv2DTranspose")
                 if c.expected[0].shape[2 if c.config["data_format"] == "channels_first"
                                        else 1] >= 2]
    unit = _unit(predicted)
    assert bad <= {c.id for c in predicted} and unit and unit <= bad


def test_conv2d_transpose_output_padding_ignored(tmp_path):
    """Fails exactly where output_padding gives another output size than None would; where
    the sizes agree, so do the values (the crop follows from the sizes)."""
    _, _, matrix = planted(tmp_path, "Conv2DTransposeIgnoresOutputPadding", "--layer",
                           "Conv2DTranspose")
    bad = set(failing_ids(matrix, "Conv2DTranspose"))
    predicted = {c.id for c in keras3_cases("Conv2DTranspose")
                 if c.config["output_padding"] is not None and reference.conv_transpose(
                     c.inputs[0], *c.weights, **dict(c.config, output_padding=None)
                 ).shape != c.expected[0].shape}
    assert predicted and bad == predicted


def test_separable_conv2d_channels_grouped_not_interleaved(tmp_path):
    """Fails where the depthwise step has several channels and a multiplier above 1."""
    _, _, matrix = planted(tmp_path, "SeparableConv2DGroupsChannels", "--layer",
                           "SeparableConv2D")
    bad = set(failing_ids(matrix, "SeparableConv2D"))
    predicted = [c for c in keras3_cases("SeparableConv2D")
                 if _channels(c) > 1 and c.config["depth_multiplier"] > 1]
    unit = _unit(predicted)
    assert bad <= {c.id for c in predicted} and unit and unit <= bad


def test_global_average_pooling_1d_ignoring_its_mask(tmp_path):
    """Fails where the mask drops a step (mean over kept steps != mean over all), unit regime
    at least."""
    _, _, matrix = planted(tmp_path, "GlobalAveragePooling1DIgnoresMask", "--layer",
                           "GlobalAveragePooling1D")
    bad = set(failing_ids(matrix, "GlobalAveragePooling1D"))
    predicted = [c for c in keras3_cases("GlobalAveragePooling1D")
                 if "mask" in c.call_kwargs and not c.call_kwargs["mask"].all()]
    unit = _unit(predicted)
    assert bad <= {c.id for c in predicted} and unit and unit <= bad


def test_locally_connected_bias_transposed_not_reshaped(tmp_path):
    """Fails in the channels_first cases with a bias and more than one filter and one output
    step (where transposing and reshaping differ)."""
    _, _, matrix = run_suite(tmp_path, "tests.planted:LocallyConnectedBiasTransposed", *GOLDEN,
                             "--layer", "LocallyConnected1D")
    bad = set(failing_ids(matrix, "LocallyConnected1D"))
    predicted = [c for c in fixture_cases("LocallyConnected1D", "keras2") if c.config["use_bias"]
                 and c.config["data_format"] == "channels_first"
                 and min(c.weights[-1].shape) > 1]
    unit = _unit(predicted)
    assert bad <= {c.id for c in predicted} and unit and unit <= bad
