"""The deploy engines (litert, litert-builtin, onnxruntime): the conversion cache never serves
one config's model, or one case's weights, to another; a conversion that raises is an error
case saying so, and the run goes on; what a converted graph cannot express is skipped."""
import dataclasses

import numpy as np
import pytest

from conformance import specs
from conformance.candidates.conversion_cache import (ConversionCache, ConversionFailed,
                                                     case_key, converting)
from conformance.candidates.one_layer import not_expressible
from conformance.case import Case
from conformance.cases import build_case, with_expected
from tests.suite_runner import FORWARD, FIXTURES, fixture_cases, run_suite


def dense_case(units=3, seed=0, case_id="Dense-x", batch=2, features=4, **config):
    rng = np.random.default_rng(seed)
    return Case(id=case_id, layer="Dense", spec="keras3", params={},
                config={"units": units, **config},
                inputs=[rng.standard_normal((batch, features)).astype(np.float32)],
                weights=[rng.standard_normal((features, units)).astype(np.float32),
                         rng.standard_normal(units).astype(np.float32)])


# The key ---------------------------------------------------------------------------------------

def test_the_key_holds_config_shapes_call_and_weights():
    base = dense_case()
    key = case_key("e", base)
    assert case_key("e", dataclasses.replace(base, id="other")) == key     # the id is no part
    assert case_key("f", base) != key                                      # another engine
    assert case_key("e", dense_case(activation="relu")) != key             # another config
    assert case_key("e", dense_case(batch=3)) != key                       # another shape
    other_weights = dataclasses.replace(base, weights=[w + 1 for w in base.weights])
    assert case_key("e", other_weights) != key                             # another case's weights
    one_bit = [w.copy() for w in base.weights]
    one_bit[1].view(np.uint32)[0] ^= 1
    assert case_key("e", dataclasses.replace(base, weights=one_bit)) != key
    # weights taken as graph inputs: only their shapes and dtypes name the model
    assert case_key("e", other_weights, weights_as_inputs=True) == \
        case_key("e", base, weights_as_inputs=True)
    trained = dataclasses.replace(base, call_kwargs={"training": False})
    assert case_key("e", trained) != key                                   # fixed call arguments


def test_a_mask_is_a_graph_input_named_by_its_shape():
    x = np.zeros((2, 5, 3), np.float32)
    masked = [Case(id="m", layer="LSTM", spec="keras3", params={}, config={"units": 2},
                   inputs=[x], weights=[], call_kwargs={"mask": mask})
              for mask in (np.ones((2, 5), bool), np.zeros((2, 5), bool))]
    assert case_key("e", masked[0]) == case_key("e", masked[1])      # fed at run time
    longer = dataclasses.replace(masked[0], call_kwargs={"mask": np.ones((2, 6), bool)})
    assert case_key("e", longer) != case_key("e", masked[0])


# The cache -------------------------------------------------------------------------------------

def test_the_cache_converts_once_a_key_and_replays_a_failed_conversion():
    cache, calls = ConversionCache(maxsize=2), []

    def convert(value):
        calls.append(value)
        return value

    assert cache.get("a", lambda: convert(1)) == 1
    assert cache.get("a", lambda: convert(2)) == 1                   # a hit: not converted again
    assert cache.get("b", lambda: convert(3)) == 3
    assert (cache.conversions, cache.hits, calls) == (2, 1, [1, 3])

    def broken():
        calls.append("broken")
        return converting(lambda: int("not a number"))

    for _ in range(2):
        with pytest.raises(ConversionFailed, match=r"^conversion failed: ValueError: invalid"):
            cache.get("c", broken)
    assert calls.count("broken") == 1                                # not retried
    assert len(cache) == 2                                           # the oldest, "a", left
    assert cache.get("a", lambda: convert(4)) == 4


def test_a_converters_message_is_cut_to_its_first_error():
    message = ("Some ops are not supported:\nloc(fused[\"MaxPool3D:\", \"x\"]): error: "
               "'tf.MaxPool3D' op is neither a custom op nor a flex op\nmore")
    with pytest.raises(ConversionFailed) as raised:
        converting(lambda: (_ for _ in ()).throw(RuntimeError(message)))
    assert str(raised.value) == ("conversion failed: RuntimeError: error: 'tf.MaxPool3D' op is "
                                 "neither a custom op nor a flex op")


def test_what_an_inference_graph_cannot_express_is_said():
    training = dataclasses.replace(dense_case(), call_kwargs={"training": True})
    assert "training call" in not_expressible(training)
    assert "stateful" in not_expressible(dense_case(stateful=True))
    assert not_expressible(dense_case()) is None


# A real engine ---------------------------------------------------------------------------------

def test_litert_serves_each_case_its_own_weights():
    pytest.importorskip("ai_edge_litert")
    from conformance.candidates import load
    from conformance.candidates.conversion_cache import CACHE
    litert, reference = load("litert-builtin"), load("reference")
    first, second = dense_case(seed=1), dense_case(seed=2)           # same config and shapes
    before = CACHE.conversions
    outputs = [litert.run(c)[0] for c in (first, second, first)]
    assert CACHE.conversions - before == 2                           # the repeat is a hit
    for case, got in zip((first, second, first), outputs):
        np.testing.assert_allclose(got, reference.run(case)[0], rtol=1e-5, atol=1e-5)
    assert not np.allclose(outputs[0], outputs[1])


def _failing_and_unsupported(builtin):
    """(cases whose conversion fails on a converter bug, cases of what the engine documents
    as unsupported, the words of the document the skip reason cites)."""
    if builtin.startswith("litert"):
        # the converter's layout pass mis-types the Squeeze after a channels_first Conv1D
        # ('tfl.transpose' op expect output type ...); LiteRT has no builtin MaxPool3D
        failing = [c for c in fixture_cases("Conv1D") if c.config["data_format"] ==
                   "channels_first" and c.config["filters"] > 1][:4]
        return failing, fixture_cases("MaxPooling3D")[:2], "schema.fbs"
    # tf2onnx writes a strided "valid" Conv2DTranspose's padding as negative pads; it converts
    # no un-inlined function call (Keras's channels_first Conv3D)
    return (fixture_cases("Conv2DTranspose")[:6],
            [c for c in fixture_cases("Conv3D") if c.config["data_format"] ==
             "channels_first"][:2], "support_status.md")


# The engines' own classes, named as a user's adapter names them: the specs' known divergences
# (conformance/specs/_engine_conversion.py: these converter bugs) belong to the built-in names,
# so under another name a failed conversion is reported as it is, an error
ADAPTERS = {"litert": "conformance.candidates.litert:LiteRTCandidate",
            "onnxruntime": "conformance.candidates.onnx_runtime:OnnxRuntimeCandidate"}


@pytest.mark.parametrize("builtin", ["litert", "onnxruntime"])
def test_a_conversion_that_fails_is_an_error_saying_so_and_the_run_goes_on(tmp_path, builtin):
    """A converter that raises on a config its engine claims is an error saying "conversion
    failed"; what the engine documents as unsupported is skipped citing the document; the
    cases after them still run. The built-in candidate knows these failures (a spec
    divergence, xfailed there)."""
    pytest.importorskip("ai_edge_litert" if builtin.startswith("litert") else "tf2onnx")
    failing, unsupported, document = _failing_and_unsupported(builtin)
    candidate = ADAPTERS[builtin]
    ids = [c.id for c in failing + unsupported] + [c.id for c in fixture_cases("Dense")[:3]]
    code, output, matrix = run_suite(tmp_path, candidate, *FORWARD, "--no-oracle",
                                     "--fixtures-dir", str(FIXTURES),
                                     *[a for i in ids for a in ("--case", i)])
    assert matrix is not None, output[-3000:]
    results = {r["id"]: r for entry in matrix["layers"].values() for cell in entry["cells"]
               for r in cell["case_results"]}
    errors = [r for r in results.values() if r["status"] == "error"]
    assert errors and {r["id"] for r in errors} <= {c.id for c in failing}, output[-3000:]
    assert all("conversion failed: " in r["message"] for r in errors)
    assert all(specs.get(c.layer).divergence_for(builtin, c) for c in failing
               if c.id in {r["id"] for r in errors})
    for case in unsupported:
        result = results[case.id]
        assert result["status"] == "skipped" and document in result["message"], result
    assert all(results[i]["status"] == "passed" for i in ids if i.startswith("Dense-"))

# The builtin depthwise kernel's scalar tail, XNNPACK's 6-tap tile ------------------------------

def test_the_builtin_depthwise_tail_is_the_last_values_of_each_row_past_a_multiple_of_four():
    from conformance.specs._engine_builtin import scalar_tail
    # measured: (1, 2, 5, 3) the last 3 of 15, (2, 1, 7, 1) the last 3 of 7, (1, 1, 3, 2)
    # with depth_multiplier 2 (12 values) none
    assert scalar_tail((1, 2, 5, 3))[0, 1].ravel().tolist() == [False] * 12 + [True] * 3
    assert scalar_tail((2, 1, 7, 1))[1, 0, :, 0].tolist() == [False] * 4 + [True] * 3
    assert not scalar_tail((1, 1, 3, 4)).any()


def test_xnnpack_six_tap_reads_the_entries_after_the_window():
    from conformance.specs._engine_xnnpack import extra_reads
    x = np.ones((1, 7, 8, 1))
    x[0, 3, 4, 0] = np.nan
    # measured: kernel (3, 2) NaN also at column 2 of rows 1-3; (2, 3) at (2, 1), (3, 0), (3, 1)
    assert np.argwhere(extra_reads(x, (3, 2), (1, 1), (1, 1), "valid")[0, ..., 0]).tolist() == [
        [1, 2], [2, 2], [3, 2]]
    assert np.argwhere(extra_reads(x, (2, 3), (1, 1), (1, 1), "valid")[0, ..., 0]).tolist() == [
        [2, 1], [3, 0], [3, 1]]


@pytest.mark.parametrize("kernel, strides, dilation, padding, size, nan_at, extra", [
    # measured on litert with a grouped Conv1D (one channel and filter a group), weights 1:
    # the outputs NaN there beside the reference's
    ((1, 2), (1, 1), (1, 1), "valid", 8, 4, [2]), ((1, 2), (1, 2), (1, 1), "valid", 8, 4, [1]),
    ((1, 2), (1, 1), (1, 2), "valid", 8, 4, [3]), ((1, 2), (1, 1), (1, 1), "same", 8, 4, [2]),
    ((1, 3), (1, 1), (1, 1), "valid", 8, 4, []), ((1, 4), (1, 1), (1, 1), "valid", 10, 5, []),
    ((1, 5), (1, 1), (1, 1), "valid", 12, 6, [0, 1]),
    ((1, 7), (1, 1), (1, 1), "valid", 14, 8, [0, 1]),
    ((1, 8), (1, 1), (1, 1), "valid", 14, 8, [0])])
def test_xnnpack_tiles_read_the_entries_after_a_row_kernel(kernel, strides, dilation, padding,
                                                          size, nan_at, extra):
    from conformance.specs._engine_xnnpack import extra_reads
    x = np.ones((1, 1, size, 2))
    x[0, 0, nan_at, 0] = np.nan
    reads = extra_reads(x, kernel, strides, dilation, padding)[0, 0]
    assert np.argwhere(reads[:, 0]).ravel().tolist() == extra and not reads[:, 1].any()


def _probe_case(layer, params, shape, seed=5):
    spec = specs.get(layer)
    full = {name: values[0] for name, values in spec.domains_for("keras3").items()}
    return build_case(spec, {**full, **params}, seed, "keras3", f"{layer}-x",
                      input_shapes=[shape])


def test_litert_reads_what_its_tile_predicts_for_a_grouped_conv1d():
    pytest.importorskip("ai_edge_litert")
    from conformance.candidates.litert import LiteRTCandidate
    from conformance.specs._engine_xnnpack import XNNPACK_DEPTHWISE_TILE
    case = _probe_case("Conv1D", {"filters": 2, "groups": 2, "kernel_size": 2, "strides": 1,
                                  "dilation_rate": 1, "padding": "valid", "activation": None,
                                  "use_bias": False, "data_format": "channels_last"}, (1, 8, 2))
    x = np.ones((1, 8, 2), np.float32)
    x[0, 4, 0] = np.nan
    case = with_expected(specs.get("Conv1D"), dataclasses.replace(
        case, inputs=[x], weights=[np.ones_like(case.weights[0])]))
    got = LiteRTCandidate().run(case)[0]
    assert np.argwhere(np.isnan(got[0])).tolist() == [[2, 0], [3, 0], [4, 0]]
    assert np.argwhere(np.isnan(case.expected[0][0])).tolist() == [[3, 0], [4, 0]]
    assert XNNPACK_DEPTHWISE_TILE.when(case)


@pytest.mark.parametrize("shape, tflite, onnx", [((1, 4, 1), True, True),
                                                  ((1, 4, 1, 1), False, True),
                                                  ((2, 4, 1, 1), False, False)])
def test_an_inverted_normalization_added_as_a_bias(shape, tflite, onnx):
    """The predicates against the engines: litert cannot convert the rank-3 BiasAdd,
    onnxruntime adds along the last axis (another shape)."""
    from conformance.candidates.conversion_cache import ConversionFailed
    from conformance.specs import model_layers
    case = _probe_case("Normalization", {"axis": 1, "invert": True, "rank": len(shape),
                                         "statistics": "config", "stats": "scalar"}, shape)
    assert bool(model_layers.TFLITE_INVERTED_NORMALIZATION.when(case)) == tflite
    assert bool(model_layers.ONNX_INVERTED_NORMALIZATION.when(case)) == onnx
    assert not model_layers.ONNX_INVERTED_NORMALIZATION.when(
        dataclasses.replace(case, config={**case.config, "invert": False}))
    if tflite:
        pytest.importorskip("ai_edge_litert")
        from conformance.candidates.litert import LiteRTCandidate
        with pytest.raises(ConversionFailed, match="same rank"):
            LiteRTCandidate().run(case)
    pytest.importorskip("onnxruntime")
    from conformance.candidates.onnx_runtime import OnnxRuntimeCandidate
    got = OnnxRuntimeCandidate().run(case)[0]
    assert (np.shape(got) != np.shape(case.expected[0])) == onnx


@pytest.mark.parametrize("params, shape, refused", [
    ({"kernel_size": 2, "strides": [2, 1], "output_padding": 0, "padding": "same"},
     (1, 5, 3, 2), True),
    ({"kernel_size": 2, "strides": 1, "output_padding": None, "padding": "same"},
     (1, 5, 3, 2), False),
    ({"kernel_size": 3, "strides": 2, "output_padding": 1, "padding": "valid"},
     (1, 5, 3, 2), False),
    ({"kernel_size": 2, "strides": 1, "output_padding": 0, "padding": "same"},
     (1, 1, 1, 1), False)])          # an empty output: Conv2DTranspose-093 passes
def test_litert_refuses_the_transposed_convolutions_it_cannot_size_back(params, shape,
                                                                        refused):
    from conformance.specs._engine_conversion import TFLITE_TRANSPOSE_CONV_UNPREPARED
    case = _probe_case("Conv2DTranspose", {"dilation_rate": 1, "data_format": "channels_last",
                                           "filters": 1, **params}, shape)
    assert bool(TFLITE_TRANSPOSE_CONV_UNPREPARED.when(case)) == refused
    pytest.importorskip("ai_edge_litert")
    from conformance.candidates.conversion_cache import ConversionFailed
    from conformance.candidates.litert import LiteRTCandidate
    if refused:
        with pytest.raises(ConversionFailed, match="TRANSPOSE_CONV"):
            LiteRTCandidate().run(case)
    else:
        assert np.shape(LiteRTCandidate().run(case)[0]) == np.shape(case.expected[0])


# onnxruntime's bilinear Resize ---------------------------------------------------------------

@pytest.mark.parametrize("size", [[2, 1], [1, 2], [2, 2], [3, 3], [1, 1]])
def test_onnxruntimes_resize_gives_the_non_finite_values_its_replay_gives(size):
    pytest.importorskip("onnxruntime")
    from conformance.candidates.onnx_runtime import OnnxRuntimeCandidate
    from conformance.specs import spatial
    from reference.spatial import upsampling
    x = np.array([[5, np.inf, 1, 2], [0.5, -1, np.nan, 3]], np.float32).reshape(1, 2, 4, 1)
    config = {"size": size, "data_format": "channels_last", "interpolation": "bilinear"}
    case = Case(id="UpSampling2D-x", layer="UpSampling2D", spec="keras3", params={},
                config=config, inputs=[x], weights=[],
                expected=[upsampling(x.astype(np.float64), **config)])
    got = OnnxRuntimeCandidate().run(case)[0]
    replay = (x if size == [1, 1] else
              spatial._lerp_at(case, spatial._onnx_source_positions))
    for kind in (np.isnan, np.isposinf, np.isneginf):
        assert (kind(got) == kind(replay)).all(), (kind.__name__, got[..., 0], replay[..., 0])
    # the reference keeps 5, inf, 1, 2 in the first row; onnxruntime reads inf at weight 0
    assert spatial._onnx_lerp_differs(case) == (size != [1, 1])


def test_onnxruntimes_masked_attention_gives_the_nan_its_replay_gives():
    pytest.importorskip("onnxruntime")
    from conformance.candidates.onnx_runtime import OnnxRuntimeCandidate
    from conformance.specs import _engine_softmax
    params = {"output_shape": "int", "key_dim": 3, "regime": "special", "value_dim": None,
              "built_for": "undeclared", "scores": True, "causal": False,
              "robust_masking": False, "key": False, "mask": "random", "use_bias": True,
              "num_heads": 2, "dropout": 0.5, "layout": "rank4_axis2"}
    # MultiHeadAttention-live-0000036b: +inf in a query row whose only key the mask drops
    case = build_case(specs.get("MultiHeadAttention"), params, 875, "keras3", "MHA-x")
    got = OnnxRuntimeCandidate().run(case)
    replay = _engine_softmax._onnx_attention_replay(case)
    assert [np.isnan(g).tolist() for g in got] == [np.isnan(r).tolist() for r in replay]
    assert np.isnan(got[1][0, 0, 0, 0, 0]) and case.expected[1][0, 0, 0, 0, 0] == 0
    assert _engine_softmax._onnx_attention_mask(case)
