"""Each planted BatchNormalization fault (tests/planted_normalization.py) fails exactly the
fixture cases where its exact effect exceeds the case's stored bound, and those lie where the
fault can act (inference, training, the moving statistics); a candidate without observe() has
the cases that observe weights or losses skipped with the reason once its outputs match.

KC_FIXTURES_DIR names the fixture set to run them on (default: the shipped one). The faults
of tf_keras's list axes run on the keras2 cases built live from the spec instead, written as a
fixture set of their own in a temporary folder."""

import numpy as np
import pytest

from conformance import fixtures, specs
from conformance.cases import fixture_cases as live_cases
from conformance.compare import compare
from reference.normalization import batch_statistics, feature_axes
from tests.planted_normalization import faulty_batch_normalization, listed_axes
from tests.suite_runner import FORWARD, cells, fixture_cases, layers_with, run_golden, run_suite

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
    _, variance, n = batch_statistics(x, feature_axes(case.config.get("axis", -1), x.ndim))
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


# tf_keras's list axes (keras2) ------------------------------------------------------------------

def several_axes(case):
    return len(listed_axes(case.config, np.ndim(case.inputs[0]))) > 1


def unordered(case):
    """A list of several axes, not in ascending order, with gamma or beta."""
    listed = listed_axes(case.config, np.ndim(case.inputs[0]))
    return listed != sorted(listed) and (case.config["scale"] or case.config["center"])


def two_long_listed(case):
    """Two listed axes longer than 1: where reading the weights in another order moves
    their values."""
    return sum(np.shape(case.inputs[0])[a] > 1
               for a in listed_axes(case.config, np.ndim(case.inputs[0]))) > 1


LIST_FAULTS = {
    # name: (fault, the cases it can reach, the unit-regime cases it must show in)
    "StatisticsOverTheFirstListedAxis": ({"first_listed_axis": True},
                                         lambda c: training(c) and several_axes(c),
                                         lambda c: True),
    "GammaBetaInListOrder": ({"list_order": True}, unordered, two_long_listed),
}


@pytest.fixture(scope="module")
def keras2_cases(tmp_path_factory):
    """(fixture folder, cases): the keras2 BatchNormalization cases built from the spec
    (conformance.cases.fixture_cases), written and read back as a fixture set."""
    root = tmp_path_factory.mktemp("keras2-fixtures")
    built = [c for c in live_cases(specs.get("BatchNormalization"), "keras2")
             if "contract" not in c.params]
    files = fixtures.write_layer(root, "keras2", "BatchNormalization", built)
    fixtures.write_manifest(root, files, {}, [])
    cases, problems = fixtures.load_all(root, "keras2", {"BatchNormalization"})
    assert not problems and any(several_axes(c) for c in cases)
    return root, cases


@pytest.mark.parametrize("name", sorted(LIST_FAULTS))
def test_planted_list_axis_fault(tmp_path, keras2_cases, name):
    """Each fault of the list axes fails exactly the keras2 cases where its exact effect
    leaves the bounds, all of them list-axis cases it can reach, and every unit-regime one
    it must show in; every case with one axis passes."""
    fault, reachable, must_show = LIST_FAULTS[name]
    root, cases = keras2_cases
    _, output, matrix = run_suite(tmp_path, f"tests.planted_normalization:{name}", *FORWARD,
                                  "--no-oracle", "--fixtures-dir", str(root),
                                  "--layer", "BatchNormalization")
    assert matrix is not None and matrix["candidate"]["spec"] == "keras2", output[-3000:]
    assert layers_with(matrix, ("failed", "error", "xpassed")) == ["BatchNormalization"]
    results = {r["id"]: r for c in cells(matrix, "BatchNormalization") for r in c["case_results"]}
    assert set(results) == {c.id for c in cases}
    failed = {i for i, r in results.items() if r["status"] == "failed"}
    predicted = {c.id for c in cases if shows(c, fault)}
    assert failed == predicted
    assert predicted <= {c.id for c in cases if reachable(c)}
    assert all(results[c.id]["status"] == "passed" for c in cases if not several_axes(c))
    unit = {c.id for c in cases if c.params.get("regime") == "unit" and reachable(c)
            and must_show(c)}
    assert unit and unit <= predicted, sorted(unit - predicted)
