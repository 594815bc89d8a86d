"""The common parameters (conformance/contract.py): the reference's regularizers and
constraints against their formulas written here, the cells every layer with weights gets, and
each planted fault caught in exactly the cells it predicts (judged in-process on the golden
cases, as the suite judges them), and once through a whole run of the suite."""
import json
import math

import numpy as np
import pytest

from conformance import contract, specs
from conformance.candidates import ReferenceCandidate
from conformance.compare import compare_case
from conformance.statistics_init import min_elements
from reference import constraints, keras1, regularizers
from tests import planted_contract as planted
from tests.suite_runner import FIXTURES, failing, run_suite

LAYERS = ("Dense", "Conv2D", "LSTM", "SeparableConv2D", "Embedding", "BatchNormalization",
          "Conv1D", "MaxPooling2D")


def test_regularizer_identifiers_and_defaults():
    assert regularizers.factors("l1", "keras3") == (0.01, 0.0)
    assert regularizers.factors("l2", "keras2") == (0.0, 0.01)
    assert regularizers.factors("l1_l2", "keras2") == (0.01, 0.01)   # tf_keras's function
    assert regularizers.factors("L1L2", "keras2") == (0.0, 0.0)      # and its class
    with pytest.raises(ValueError, match="l1_l2"):
        regularizers.factors("l1_l2", "keras3")                       # Keras 3 has no name
    assert regularizers.factors({"class_name": "L2", "config": {"l2": 0.5}}) == (0.0, 0.5)
    w = np.array([[1.0, -2.0], [0.5, 0.0]])
    assert regularizers.penalty(w, 0.5, 0.0) == pytest.approx(0.5 * 3.5)
    assert regularizers.penalty(w, 0.0, 0.25) == pytest.approx(float(np.float32(0.25)) * 5.25)
    assert regularizers.activity_penalty(w, 0.5, 0.0) == pytest.approx(0.5 * 3.5 / 2)


def test_constraints_project_over_the_axes_named():
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((3, 3, 4, 5))                      # Conv2D (kh, kw, in, out)
    per_filter = np.sqrt((kernel ** 2).sum(axis=(0, 1, 2)))         # one norm per filter
    unit = constraints.project(kernel, {"class_name": "UnitNorm",
                                        "config": {"axis": [0, 1, 2]}})
    np.testing.assert_allclose(unit, kernel / (1e-7 + per_filter))
    capped = constraints.project(kernel, {"class_name": "MaxNorm",
                                          "config": {"max_value": 3.0, "axis": [0, 1, 2]}})
    np.testing.assert_allclose(capped, kernel * np.minimum(per_filter, 3.0) / (1e-7 + per_filter))
    rows = np.sqrt((kernel ** 2).sum(axis=0, keepdims=True))        # the default axis 0
    np.testing.assert_allclose(constraints.project(kernel, "unit_norm"), kernel / (1e-7 + rows))
    mixed = constraints.project(kernel, {"class_name": "MinMaxNorm", "config": {
        "min_value": 1.0, "max_value": 2.0, "rate": 0.5, "axis": 0}})
    want = 0.5 * np.clip(rows, 1.0, 2.0) + 0.5 * rows
    np.testing.assert_allclose(mixed, kernel * want / (1e-7 + rows))
    assert (constraints.project(kernel, "non_neg") >= 0).all()
    with pytest.raises(ValueError, match="axis 4"):
        constraints.project(kernel, {"class_name": "UnitNorm", "config": {"axis": 4}})


def test_every_layer_with_weights_has_every_contract_cell():
    for layer in contract.LAYERS:
        spec = specs.get(layer)
        for keras_spec in spec.keras_specs:
            kinds = {p["contract"] for p in contract.plan(layer, keras_spec)}
            assert kinds == {"initializer", "regularizer", "constraint"}, (layer, keras_spec)
    for layer, entries in contract.KERAS1.items():
        for layer1, config1, shapes in entries:
            assert keras1.is_keras1(layer1, config1)
            assert keras1.translate(layer1, config1, None, shapes)[0] == layer


def test_keras1_layout_is_the_inverse_of_the_translation():
    rng = np.random.default_rng(1)
    for layer, entries in contract.KERAS1.items():
        spec = specs.get(layer)
        for layer1, config1, shapes in entries:
            _, config, _ = keras1.translate(layer1, config1, None, shapes)
            weights = [rng.standard_normal(s) for _, s in spec.weights(config, shapes)]
            old = contract.keras1_layout(layer1, config1, weights)
            back = keras1.translate(layer1, config1, old, shapes)[2]
            assert all(np.array_equal(a, b) for a, b in zip(weights, back)), layer1


# Planted faults, judged in-process on the golden cases ----------------------------------------

@pytest.fixture(scope="module")
def golden():
    from conformance import fixtures
    cases, problems = fixtures.load_all(FIXTURES, "keras3", LAYERS)
    assert not problems
    return [c for c in cases if c.params.get("contract") not in (None, "round_trip")]


def _cell(case):
    return case.layer, json.dumps(case.params, sort_keys=True)


def _failing_cells(candidate, cases):
    bad = set()
    for case in cases:
        given = case.for_candidate()
        seen = candidate.observe(given)
        mask = candidate.compute_mask(given) if case.expected_mask is not None else None
        if compare_case(case, seen["outputs"], mask, True, seen).status != "passed":
            bad.add(_cell(case))
    return bad


def test_the_reference_passes_every_contract_case(golden):
    assert _failing_cells(ReferenceCandidate("keras3"), golden) == set()


# elements a faulty weight needs for its fault to be caught with probability >= 1 - 1e-6, in
# a case of up to ten random weights (statistics_init.min_elements: a few hundred)
ENOUGH = max(n for n, _ in min_elements(random_weights=10).values())


@pytest.mark.parametrize("fault", ["GlorotUniformFanInOnly", "HeNormalWithoutTruncationCorrection",
                                   "OrthogonalNotOrthogonalWhenNonSquare"])
def test_initializer_faults_fail_the_cells_they_reach(golden, fault):
    cls = getattr(planted, fault)
    cases = [c for c in golden if c.params["contract"] == "initializer"]
    hit = [(c, [w for w in c.observed["weights"]["weights"] if cls.hits(w)]) for c in cases]
    must = {_cell(c) for c, weights in hit if any(math.prod(w["shape"]) >= ENOUGH
                                                  for w in weights)}
    may = {_cell(c) for c, weights in hit if weights}
    bad = _failing_cells(cls(), cases)
    assert must and must <= bad <= may


def _regularizer_factors(case):
    return [regularizers.factors(v, case.spec) for k, v in case.config.items()
            if k.endswith("_regularizer") and v is not None]


@pytest.mark.parametrize("fault, predicted", [
    ("L2WithoutItsDefaultFactor",
     lambda case: any(v == "l2" for k, v in case.config.items() if k.endswith("_regularizer"))),
    ("L2WithAnExtraHalf", lambda case: any(f[1] for f in _regularizer_factors(case))),
    ("MaxNormOverTheWrongAxis",
     lambda case: case.params["constraint"].startswith("max_norm")
     and any(np.ndim(w) >= 2 for w in case.weights)),
    ("UnitNormDividingByNormPlusOne", lambda case: case.params["constraint"].startswith("unit")),
    ("Keras1SameAsValid", lambda case: case.config.get("border_mode") == "same"),
])
def test_exact_faults_fail_exactly_their_cells(golden, fault, predicted):
    cls = getattr(planted, fault)
    kind = ("regularizer" if issubclass(cls, planted.RegularizerFault) else
            "constraint" if issubclass(cls, planted.ConstraintFault) else "keras1")
    cases = [c for c in golden if c.params["contract"] == kind]
    want = {_cell(c) for c in cases if predicted(c)}
    assert want and _failing_cells(cls(), cases) == want


def test_a_planted_contract_fault_through_a_run_of_the_suite(tmp_path):
    """The faulty unit_norm, run as a user runs a candidate: the matrix holds the contract
    cells, and exactly the unit_norm ones fail."""
    code, output, matrix = run_suite(tmp_path, "tests.planted_contract:UnitNormDividingByNormPlusOne",
                                     "-k", "test_golden_case", "--no-oracle", "--layer", "Dense")
    assert code == 1, output[-2000:]
    cells = matrix["layers"]["Dense"]["cells"]
    kinds = {c["params"].get("contract") for c in cells}
    assert {"initializer", "regularizer", "constraint", "round_trip", "keras1"} <= kinds
    bad = failing(matrix, "Dense")
    assert bad and all(c["params"].get("constraint", "").startswith("unit_norm") for c in bad)
    skipped = [c for c in cells if c["params"].get("contract") == "round_trip"]
    assert skipped and all(c["status"] == "skipped" for c in skipped)   # no config of its own
