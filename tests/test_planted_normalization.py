"""Each planted BatchNormalization fault (tests/planted_normalization.py) fails exactly the
fixture cases where its exact effect exceeds the case's stored bound, and those lie where the
fault can act (inference, training, the moving statistics); a candidate without observe() has
the cases that observe weights or losses skipped with the reason once its outputs match.

KC_FIXTURES_DIR names the fixture set to run them on (default: the shipped one)."""

import numpy as np
import pytest

from conformance.compare import compare
from reference.normalization import batch_statistics, feature_axis
from tests.planted_normalization import faulty_batch_normalization
from tests.suite_runner import cells, fixture_cases, layers_with, run_golden

LAYERS = ("BatchNormalization", "ActivityRegularization")


def run(tmp_path, candidate):
    matrix = run_golden(tmp_path, candidate, *LAYERS)
    return {r["id"]: r for layer in ("BatchNormalization", "ActivityRegularization")
            for c in cells(matrix, layer) for r in c["case_results"]}, matrix


def bn_cases():
    return fixture_cases("BatchNormalization")


def training(case):
    return bool(case.call_kwargs.get("training")) and case.config.get("trainable", True)


def shows(case, fault):
    """Whether the fault's exact outputs, or its weights after the call, leave the case's
    bounds somewhere."""
    outputs, weights = faulty_batch_normalization(case, **fault)
    if compare(case.expected, case.bounds, outputs).status != "passed":
        return True
    if case.observed:
        values, bounds = case.observed["weights"]
        return compare(values, bounds, weights).status != "passed"
    return False


def channels_vary(case):
    """Every channel's batch holds two different values (a variance that is not 0)."""
    x = np.asarray(case.inputs[0], np.float64)
    _, variance, n = batch_statistics(x, feature_axis(case.config.get("axis", -1), x.ndim))
    return n > 1 and bool(np.all(variance > 0))


FAULTS = {
    # name: (fault, the cases it can reach, the unit-regime cases it must show in)
    "EpsilonOutsideTheSquareRoot": ({"epsilon_outside": True}, lambda c: True,
                                    lambda c: c.config["epsilon"] >= 1e-3
                                    and (not training(c) or channels_vary(c))),
    "InferenceWithBatchStatistics": ({"batch_at_inference": True},
                                     lambda c: not training(c), lambda c: True),
    "MomentumFlipped": ({"momentum_flipped": True},
                        lambda c: training(c) and c.config["momentum"] != 0.5,
                        lambda c: True),
    "UnbiasedMovingVariance": ({"unbiased_variance": True},
                               lambda c: training(c) and c.config["momentum"] != 1,
                               channels_vary),
}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_planted_batch_normalization_fault(tmp_path, name):
    fault, reachable, must_show = FAULTS[name]
    results, matrix = run(tmp_path, f"tests.planted_normalization:{name}")
    assert layers_with(matrix, ("failed", "error", "xpassed")) == ["BatchNormalization"]
    cases = bn_cases()
    failed = {i for i, r in results.items() if r["status"] == "failed"}
    predicted = {c.id for c in cases if shows(c, fault)}
    assert failed == predicted
    assert predicted <= {c.id for c in cases if reachable(c)}
    unit = {c.id for c in cases if c.params.get("regime") == "unit" and reachable(c)
            and must_show(c)}
    assert unit and unit <= predicted, sorted(unit - predicted)
    if name in ("MomentumFlipped", "UnbiasedMovingVariance"):   # seen only through observe()
        assert all("\nafter the call, weights: value outside its bound" in results[i]["message"]
                   for i in failed), [results[i]["message"] for i in failed][:2]


def test_a_candidate_without_observe_is_skipped_not_failed(tmp_path):
    """The reference without observe(): every case observing weights (BatchNormalization in
    training) or losses (ActivityRegularization) is skipped with the reason; the others pass."""
    results, matrix = run(tmp_path, "tests.planted_normalization:WithoutObserve")
    cases = {c.id: c for c in bn_cases()}
    assert not layers_with(matrix, ("failed", "error", "xpassed"))
    for case_id, result in results.items():
        observing = case_id.startswith("ActivityRegularization") or cases[case_id].observed
        assert result["status"] == ("skipped" if observing else "passed"), (case_id, result)
        if observing:
            assert "outputs match;" in result["message"]
            assert "not checked: candidate has no observe()" in result["message"]


def test_observed_values_judged_like_outputs():
    """compare_case on a training case: the weights observe() returns are judged within their
    bound; a dict without "weights" skips the case naming the missing key; wrong outputs fail
    before anything observed is looked at."""
    from conformance import specs
    from conformance.cases import fixture_cases
    from conformance.compare import compare_case
    case = next(c for c in fixture_cases(specs.get("BatchNormalization"), "keras3")
                if c.observed and c.params["regime"] == "unit")
    values, _ = case.observed["weights"]
    assert compare_case(case, case.expected, observed={"weights": values}).status == "passed"
    moved = [*values[:-1], values[-1] * (1 + 1e-3)]
    outcome = compare_case(case, case.expected, observed={"weights": moved})
    assert outcome.status == "failed" and outcome.message.startswith("after the call, weights")
    outcome = compare_case(case, case.expected, observed={"outputs": case.expected})
    assert outcome.status == "skipped" and 'its observe() gives no "weights"' in outcome.message
    wrong = [case.expected[0] + 1.0]
    assert compare_case(case, wrong, observed={"weights": values}).status == "failed"
