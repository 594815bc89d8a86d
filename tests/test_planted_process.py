"""A candidate that crashes, hangs, raises, returns NaN, the wrong shape or the wrong number
of outputs, or skips what it cannot answer, becomes the right status while the run goes on;
a process that dies on a case is asked again in a fresh one, and its first death shown."""
import pytest

from tests.suite_runner import fixture_cases, layers_with, run_suite
from tests.test_planted import GOLDEN, planted


def test_crash_becomes_an_error_and_the_run_goes_on(tmp_path):
    # four crashing cases (each kills the worker's candidate process) among four that pass,
    # on two xdist workers
    chosen = [a for n in range(4)
              for a in ("--case", f"Flatten-{n:03d}", "--case", f"Dense-{n:03d}")]
    code, output, matrix = planted(tmp_path, "CrashesOnFlatten", "-n", "2", *chosen,
                                   "--layer", "Flatten", "--layer", "Dense")
    assert code == 1
    assert layers_with(matrix, ("failed", "error")) == ["Flatten"]
    cases = [r for c in matrix["layers"]["Flatten"]["cells"] for r in c["case_results"]]
    assert {r["status"] for r in cases} == {"error"}
    assert len(cases) == 4 and all("died" in r["message"] for r in cases)
    assert matrix["layers"]["Dense"]["summary"] == {"passed": 4}


def flatten_after_dense(tmp_path, name):
    """(exit code, output, Flatten-000's result) of the planted candidate `name` run serially
    on Dense-000, then Flatten-000 (the order collected)."""
    code, output, matrix = run_suite(
        tmp_path, f"tests.planted_process:{name}", *GOLDEN, "--case", "Flatten-000",
        "--case", "Dense-000", "--layer", "Flatten", "--layer", "Dense")
    flatten, = [r for c in matrix["layers"]["Flatten"]["cells"] for r in c["case_results"]]
    return code, output, flatten


@pytest.mark.parametrize("name, first", [
    # the process dies on Flatten-000 because it answered Dense-000 before (serially, in the
    # order collected)
    ("CrashesOnFlattenAfterDense", ("after the first one died", "exit code -11")),
    # oneDNN's "could not execute a primitive" on Flatten-000 after Dense-000 (a state of the
    # process, as TensorFlow's was after thousands of cases)
    ("FailsToExecuteOnFlattenAfterDense",
     ("failed to execute its kernels", "could not execute a primitive"))])
def test_what_a_fresh_process_does_not_repeat_is_retried_and_shown(tmp_path, name, first):
    # a fresh process answers Flatten-000 right: passed, with the first process's death or
    # failure beside it in the report and the terminal summary
    code, output, flatten = flatten_after_dense(tmp_path, name)
    assert code == 0, output[-3000:]
    assert flatten["status"] == "passed"
    assert all(phrase in flatten["message"] for phrase in first), flatten["message"]
    assert "RETRIED: Flatten-000 (passed)" in output


def test_kernels_failing_to_execute_in_every_process_are_the_cases_error(tmp_path):
    code, output, flatten = flatten_after_dense(tmp_path, "FailsToExecuteOnFlatten")
    assert code == 1, output[-3000:]
    assert flatten["status"] == "error"
    assert "could not execute a primitive" in flatten["message"]


def test_an_oracle_failing_to_execute_is_asked_again_in_a_fresh_process(monkeypatch):
    # fixture generation: the same failure in the primary oracle's process is not taken as
    # TensorFlow refusing the case (which would hand it to a fallback oracle and record a
    # fallback_reason the gate then xfails on)
    from conformance import oracles, specs
    name = "tests.planted_process:FailsToExecuteOnFlattenAfterDense"
    monkeypatch.setitem(oracles.ORACLES, "keras3", name)
    vouching = oracles.Oracles(env={})
    dense, flatten = fixture_cases("Dense")[0], fixture_cases("Flatten")[0]
    try:
        assert vouching.vouch(specs.get("Dense"), dense, "keras3") == (name, None)
        assert vouching.vouch(specs.get("Flatten"), flatten, "keras3") == (name, None)
    finally:
        vouching.close()
    assert getattr(flatten, "fallback_reason", None) is None


def test_a_retried_crash_is_shown_beside_a_failure_too(tmp_path):
    code, output, flatten = flatten_after_dense(tmp_path, "CrashesOnFlattenAfterDenseThenWrong")
    assert code == 1, output[-3000:]
    assert flatten["status"] == "failed"
    assert "after the first one died" in flatten["message"]
    assert flatten["message"].index("after the first one died") > 0    # after the failure's
    assert "RETRIED: Flatten-000 (failed)" in output


def test_hang_becomes_a_timeout_error(tmp_path):
    # three hung cases (each costs its timeout and a restart of the candidate's process) and
    # three cases the restarted process must answer
    chosen = [a for n in range(3)
              for a in ("--case", f"Reshape-{n:03d}", "--case", f"Dense-{n:03d}")]
    _, _, matrix = planted(tmp_path, "HangsOnReshape", "--case-timeout", "1", *chosen,
                           "--layer", "Reshape", "--layer", "Dense")
    cases = [r for c in matrix["layers"]["Reshape"]["cells"] for r in c["case_results"]]
    assert {r["status"] for r in cases} == {"error"}
    assert all("timed out after 1 s" in r["message"] for r in cases)
    assert len(cases) == 3 and matrix["layers"]["Dense"]["summary"] == {"passed": 3}


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
                                     "--case-timeout", "1")
    assert code == 1 and matrix["layers"]["Reshape"]["live"]["status"] == "failed"
    assert "timed out after 1 s" in matrix["layers"]["Reshape"]["live"]["message"]
