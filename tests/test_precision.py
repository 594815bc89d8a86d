"""Declared precision (conformance/precision.py): a planted low-precision candidate fails as
float32 and passes as what it declares; a float32 candidate declared bfloat16 still passes;
the tolerance model's unit roundoff, operand rounding and range follow the declaration."""
import numpy as np
import pytest

from conformance import precision, tolerance
from conformance.elements import error_ratio
from reference.config import OutOfScope
from tests.suite_runner import FIXTURES, FORWARD, run_suite

LAYERS = ("Dense", "Conv1D", "LSTM", "BatchNormalization")


def statuses(matrix):
    counts = {}
    for entry in matrix["layers"].values():
        for status, n in entry["summary"].items():
            counts[status] = counts.get(status, 0) + n
    return counts


def run(tmp_path, candidate, layers, *args):
    code, output, matrix = run_suite(tmp_path, candidate, *FORWARD, "--no-oracle",
                                     "--fixtures-dir", str(FIXTURES),
                                     *[a for layer in layers for a in ("--layer", layer)], *args)
    assert matrix is not None, output[-3000:]
    return matrix


def test_bfloat16_rounding_is_to_nearest_even():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = np.random.default_rng(0).standard_normal(20000).astype(np.float32) * np.float32(300)
    x = np.concatenate([x, np.float32([np.inf, -np.inf, np.nan, 3.3961e38, -3.4e38, 1e-40,
                                       0.0, -0.0, 1.00390625, 1.01171875])])
    assert np.array_equal(precision.round_to(x, "bfloat16"),
                          x.astype(ml_dtypes.bfloat16).astype(np.float32), equal_nan=True)
    assert precision.round_to(np.float32([65520.0, 65519.0]), "float16").tolist() == [
        np.inf, 65504.0]


def test_the_declaration_sets_unit_roundoff_operands_and_range():
    magnitude, terms = np.array([100.0]), 64
    plain = tolerance.sum_bound(magnitude, terms, 10.0)
    with tolerance.declaring(precision.get("tf32")):
        assert tolerance.sum_bound(magnitude, terms, 10.0) == plain          # not a matmul
        tf32 = tolerance.sum_bound(magnitude, terms, 10.0, products=True)
    assert tf32 - plain == pytest.approx((2 * 2.0 ** -11 + 2.0 ** -22) * 100.0)
    with tolerance.declaring(precision.get("bfloat16")):
        assert tolerance.unit() == 2.0 ** -8
        assert tolerance.sum_bound(magnitude, terms, 10.0) > 60000 * plain
    with tolerance.declaring(precision.get("float16")):
        # terms adding up beyond 65504 can overflow part way in float16, not in float32
        with pytest.raises(OutOfScope, match="float16 sum .* overflow part way"):
            tolerance.sum_bound(np.array([100000.0]), 2, 50000.0)
        assert error_ratio(np.array([70000.0]), 100.0, np.float32([np.inf]))[0] == 0.0
        assert error_ratio(np.array([60000.0]), 100.0, np.float32([np.inf]))[0] == np.inf
    tolerance.sum_bound(np.array([100000.0]), 2, 50000.0)                    # float32: fine
    assert error_ratio(np.array([70000.0]), 100.0, np.float32([np.inf]))[0] == np.inf


def test_a_tf32_matmul_fails_as_float32_and_passes_as_declared(tmp_path):
    planted = "tests.planted_precision:TF32Matmul"
    declared = run(tmp_path / "a", planted, ["Dense"])
    assert declared["candidate"]["precision"] == "tf32"
    counts = statuses(declared)
    assert counts.get("passed", 0) > 50 and not counts.get("failed"), counts
    as_float32 = run(tmp_path / "b", planted, ["Dense"], "--precision", "float32")
    assert as_float32["candidate"]["precision"] == "float32"
    assert statuses(as_float32).get("failed", 0) > 20, statuses(as_float32)


def first_cases(per_layer=50):
    """--case arguments for the first golden cases of each of LAYERS."""
    from tests.suite_runner import fixture_cases
    return [a for layer in LAYERS for c in fixture_cases(layer)[:per_layer]
            for a in ("--case", c.id)]


def test_bfloat16_storage_fails_as_float32_and_passes_as_declared(tmp_path):
    planted = "tests.planted_precision:BFloat16Storage"
    declared = run(tmp_path / "a", planted, LAYERS, *first_cases())
    assert declared["candidate"]["precision"] == "mixed_bfloat16"
    counts = statuses(declared)
    assert counts.get("passed", 0) > 150 and not counts.get("failed"), counts
    failing = run(tmp_path / "b", planted, LAYERS, *first_cases(), "--precision", "float32")
    failed = {name for name, entry in failing["layers"].items() if entry["summary"].get("failed")}
    assert {"Dense", "Conv1D", "LSTM", "BatchNormalization"} <= failed, failed


def test_a_float32_candidate_declared_bfloat16_still_passes(tmp_path):
    matrix = run(tmp_path, "reference", LAYERS, *first_cases(), "--precision", "bfloat16")
    assert matrix["candidate"]["precision"] == "bfloat16"
    counts = statuses(matrix)
    assert counts.get("passed", 0) > 150 and not counts.get("failed") and \
        not counts.get("error"), counts


def test_keras_jax_under_mixed_bfloat16_passes_as_declared_and_fails_as_float32(tmp_path):
    pytest.importorskip("jax")
    from tests.suite_runner import fixture_cases
    ids = [a for c in fixture_cases("Dense")[:16] + fixture_cases("Conv1D")[:8]
           for a in ("--case", c.id)]
    declared = run(tmp_path / "a", "keras-jax-mixed_bfloat16", [], *ids)
    assert declared["candidate"]["precision"] == "mixed_bfloat16"
    counts = statuses(declared)
    assert counts.get("passed", 0) >= 20 and not counts.get("failed") and \
        not counts.get("error"), counts
    as_float32 = run(tmp_path / "b", "keras-jax-mixed_bfloat16", [], *ids,
                     "--precision", "float32")
    assert statuses(as_float32).get("failed", 0) >= 10, statuses(as_float32)


def test_litert_with_float16_weights_passes_as_declared_and_fails_as_float32(tmp_path):
    pytest.importorskip("ai_edge_litert")
    from tests.suite_runner import fixture_cases
    # activations whose lowering holds no float constant (see the next test), on finite data
    plain = [c for layer in ("Dense", "Conv2D") for c in fixture_cases(layer)
             if c.config.get("activation") in (None, "linear", "relu", "tanh", "sigmoid", "elu")
             and c.params["regime"] in ("unit", "small", "offset", "ties", "long")
             and c.config.get("data_format", "channels_last") == "channels_last"][:12]
    ids = [a for c in plain for a in ("--case", c.id)]
    declared = run(tmp_path / "a", "litert-fp16", [], *ids)
    assert declared["candidate"]["precision"] == "float16-weights"
    counts = statuses(declared)
    assert counts.get("passed", 0) >= 10 and not counts.get("failed"), counts
    as_float32 = run(tmp_path / "b", "litert-fp16", [], *ids, "--precision", "float32")
    assert statuses(as_float32).get("failed", 0) >= 6, statuses(as_float32)


def test_litert_float16_quantization_rounds_the_graphs_constants_too():
    """A finding, not a declaration: TensorFlow 2.21's converter with Optimize.DEFAULT and
    supported_types [float16] stores every float constant of the graph in float16, not only
    the layer's weights: selu's scale 1.0507... and alpha 1.6733... become 1.0507812 and
    1.6728516, so selu is off by up to 1.6e-4 relative where the weights alone give 2e-7."""
    pytest.importorskip("ai_edge_litert")
    import dataclasses
    from conformance.candidates import load
    from conformance.precision import round_to
    from tests.suite_runner import fixture_cases
    reference, fp16 = load("reference"), load("litert-fp16")
    case = next(c for c in fixture_cases("Dense") if c.params["regime"] == "unit")
    on_fp16_weights = [round_to(w, "float16") for w in case.weights]
    errors = {}
    for activation in ("linear", "selu"):
        c = dataclasses.replace(case, config={**case.config, "activation": activation})
        expected = reference.run(dataclasses.replace(c, weights=on_fp16_weights))[0]
        errors[activation] = float(np.max(np.abs(fp16.run(c)[0] - expected)
                                       / np.maximum(np.abs(expected), 1e-3)))
    assert errors["linear"] < 1e-6 < 1e-5 < errors["selu"], errors
