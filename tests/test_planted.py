"""Each planted fault is caught in the right layer's cells, and only there; a candidate that
crashes, hangs, raises, returns NaN, the wrong shape or the wrong number of outputs becomes
the right status while the run goes on."""
import pytest

from tests.suite_runner import failing, layers_with, run_suite

GOLDEN = ("-k", "test_golden_case", "--no-oracle")


def planted(tmp_path, name, *args):
    code, output, matrix = run_suite(tmp_path, f"tests.planted:{name}", *GOLDEN, *args)
    assert matrix is not None, output[-3000:]
    return code, output, matrix


def softmax_of_one_unit(params, units):
    """softmax over a single unit is 1 whatever its input: no fault before it can show."""
    return params["activation"] == "softmax" and params[units] == 1


def only_layer_fails(matrix, layer, statuses=("failed",)):
    assert layers_with(matrix, ("failed", "error", "xpassed")) == [layer]
    return failing(matrix, layer, statuses)


def test_causal_padding_on_the_wrong_side(tmp_path):
    code, _, matrix = planted(tmp_path, "CausalPaddingOnTheRight")
    assert code == 1
    bad = only_layer_fails(matrix, "Conv1D")
    expected = [c for c in matrix["layers"]["Conv1D"]["cells"] if c["params"]["padding"] == "causal"
                and c["params"]["kernel_size"] > 1 and not softmax_of_one_unit(c["params"], "filters")]
    assert bad == expected and bad


def test_average_pooling_same_dividing_by_the_full_window(tmp_path):
    _, _, matrix = planted(tmp_path, "AveragePoolingCountsPadding")
    bad = only_layer_fails(matrix, "AveragePooling1D")
    assert bad and all(c["params"]["padding"] == "same" and c["params"]["pool_size"] > 1
                       for c in bad)


def test_dense_without_its_bias(tmp_path):
    _, _, matrix = planted(tmp_path, "DenseWithoutBias")
    bad = only_layer_fails(matrix, "Dense")
    assert bad == [c for c in matrix["layers"]["Dense"]["cells"] if c["params"]["use_bias"]
                   and not softmax_of_one_unit(c["params"], "units")]


def test_permute_read_zero_based(tmp_path):
    _, _, matrix = planted(tmp_path, "PermuteZeroBased")
    bad = only_layer_fails(matrix, "Permute")
    assert bad == [c for c in matrix["layers"]["Permute"]["cells"]
                   if c["params"]["dims"] != sorted(c["params"]["dims"])]


def test_dropout_active_at_inference(tmp_path):
    _, _, matrix = planted(tmp_path, "DropoutAtInference")
    bad = only_layer_fails(matrix, "Dropout")
    # in training dropping is right (and the draw passes the statistical check)
    assert bad == [c for c in matrix["layers"]["Dropout"]["cells"]
                   if c["params"]["rate"] > 0 and not c["params"]["training"]]


def test_dense_off_by_1e4_in_one_element(tmp_path):
    _, output, matrix = planted(tmp_path, "DenseOffInOneElement")
    bad = only_layer_fails(matrix, "Dense")
    wide = [c for c in bad if c["params"] == {"activation": None, "rank": 2, "units": 64,
                                              "use_bias": True}]
    assert wide, "the Dense(64) over 256 inputs edge case must fail"
    case = next(r for r in wide[0]["case_results"] if r["status"] == "failed")
    assert case["error_ratio"] > 1 and case["worst"]["index"] is not None
    # the message names candidate, layer, params, the worst element and a rerun command
    for needle in ("candidate tests.planted:DenseOffInOneElement", "layer Dense", '"units": 64',
                   "index", "expected", "got", "bound", "rerun: pytest --pyargs"):
        assert needle in case["message"], (needle, case["message"])


def test_crash_becomes_an_error_and_the_run_goes_on(tmp_path):
    code, output, matrix = planted(tmp_path, "CrashesOnFlatten", "-n", "2")
    assert code == 1
    assert layers_with(matrix, ("failed", "error")) == ["Flatten"]
    cases = [r for c in matrix["layers"]["Flatten"]["cells"] for r in c["case_results"]]
    assert {r["status"] for r in cases} == {"error"}
    assert all("died" in r["message"] for r in cases)
    assert matrix["layers"]["Dense"]["summary"] == {"passed": matrix["layers"]["Dense"]["summary"]["passed"]}


def test_hang_becomes_a_timeout_error(tmp_path):
    _, _, matrix = planted(tmp_path, "HangsOnReshape", "--case-timeout", "2", "--layer", "Reshape",
                           "--layer", "Dense")
    cases = [r for c in matrix["layers"]["Reshape"]["cells"] for r in c["case_results"]]
    assert {r["status"] for r in cases} == {"error"}
    assert all("timed out after 2 s" in r["message"] for r in cases)
    assert set(matrix["layers"]["Dense"]["summary"]) == {"passed"}


def test_nan_fails_with_the_nan_named(tmp_path):
    _, _, matrix = planted(tmp_path, "NaNOnMasking", "--layer", "Masking")
    cases = [r for c in matrix["layers"]["Masking"]["cells"] for r in c["case_results"]]
    assert {r["status"] for r in cases} == {"failed"}
    assert all("NaN at output 0" in r["message"] for r in cases)


def test_raising_candidate_is_an_error_with_its_traceback(tmp_path):
    _, _, matrix = planted(tmp_path, "RaisesOnRepeatVector", "--layer", "RepeatVector")
    cases = [r for c in matrix["layers"]["RepeatVector"]["cells"] for r in c["case_results"]]
    assert {r["status"] for r in cases} == {"error"}
    assert all("RepeatVector is not implemented in this engine" in r["message"] for r in cases)


@pytest.mark.parametrize("name, layer, words", [
    ("WrongShapeOnFlatten", "Flatten", "has shape"),
    ("TwoOutputsOnActivation", "Activation", "returned 2 outputs, expected 1"),
])
def test_wrong_shape_or_output_count_fails(tmp_path, name, layer, words):
    _, _, matrix = planted(tmp_path, name, "--layer", layer)
    cases = [r for c in matrix["layers"][layer]["cells"] for r in c["case_results"]]
    failed = [r for r in cases if r["status"] == "failed"]
    assert failed and all(words in r["message"] for r in failed)
    assert {r["status"] for r in cases} <= {"failed", "passed"}


def test_unsupported_cases_are_skipped_with_the_reason(tmp_path):
    code, _, matrix = planted(tmp_path, "SkipsLambda", "--layer", "Lambda", "--layer", "Dense")
    assert code == 0
    cases = [r for c in matrix["layers"]["Lambda"]["cells"] for r in c["case_results"]]
    assert {r["status"] for r in cases} == {"skipped"}
    assert all("no Python callables" in r["message"] for r in cases)
    assert matrix["summary"]["passed"] == matrix["layers"]["Dense"]["summary"]["passed"]


def test_partly_supported_layer_keeps_its_live_test(tmp_path):
    code, _, matrix = run_suite(tmp_path, "tests.planted:SkipsLambdaWithMask", "--no-oracle",
                                "--layer", "Lambda")
    assert code == 0
    assert matrix["layers"]["Lambda"]["live"]["status"] == "passed"
    statuses = {r["status"] for c in matrix["layers"]["Lambda"]["cells"] for r in c["case_results"]}
    assert statuses == {"passed", "skipped"}


def test_a_hang_in_the_live_test_costs_one_timeout(tmp_path):
    code, output, matrix = run_suite(tmp_path, "tests.planted:HangsOnReshape", "--no-oracle",
                                     "--layer", "Reshape", "-k", "test_live_property",
                                     "--case-timeout", "2")
    assert code == 1 and matrix["layers"]["Reshape"]["live"]["status"] == "failed"
    assert "timed out after 2 s" in matrix["layers"]["Reshape"]["live"]["message"]
