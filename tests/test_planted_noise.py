"""Each planted fault of a random layer (tests/planted_noise.py) is caught in exactly the
fixture cases predicted from the case's data, and nowhere else: the golden cases of the fault's
layer and one neighbour (each run narrowed with --layer).

KC_FIXTURES_DIR names the fixture set to run them on (default: the shipped one), for a set
regenerated but not yet committed."""

import numpy as np

from conformance import statistics_noise
from conformance.tolerance import U32
from reference.noise import ALPHA_P, alpha_dropout_affine
from tests.suite_runner import cells, fixture_cases, ids_with, layers_with, run_golden

LAYERS = ("GaussianDropout", "AlphaDropout")


def planted(tmp_path, name):
    return run_golden(tmp_path, f"tests.planted_noise:{name}", *LAYERS)


def test_gaussian_dropout_with_std_sqrt_rate(tmp_path):
    """Fails every training case whose output is random (0 < rate < 1), by the spread test,
    where the cases' informative draws make missing it less likely than 1e-6; no other."""
    matrix = planted(tmp_path, "GaussianDropoutStdSqrtRate")
    assert layers_with(matrix, ("failed", "error", "xpassed")) == ["GaussianDropout"]
    predicted = set()
    for case in fixture_cases("GaussianDropout"):
        if case.check is None:
            continue
        x = np.asarray(case.inputs[0], np.float64)
        informative = int(np.sum(np.isfinite(x) & (np.abs(x) >= 2.0 ** -100)))
        rate = case.check["rate"]
        assert statistics_noise.miss_probability(informative, 1 - rate) < 1e-6, case.id
        predicted.add(case.id)
    assert predicted and ids_with(matrix, "GaussianDropout") == predicted
    messages = [r["message"] for c in cells(matrix, "GaussianDropout")
                for r in c["case_results"] if r["status"] == "failed"]
    assert all("the std of" in m for m in messages), messages


def test_alpha_dropout_without_affine_correction(tmp_path):
    """Fails every training case whose output is random where some finite input is not the
    affine map's fixed point b / (1 - a) (every one of them); no other."""
    matrix = planted(tmp_path, "AlphaDropoutWithoutAffineCorrection")
    assert layers_with(matrix, ("failed", "error", "xpassed")) == ["AlphaDropout"]
    predicted = set()
    for case in fixture_cases("AlphaDropout"):
        if case.check is None:
            continue
        x = np.asarray(case.inputs[0], np.float64)
        a, b = alpha_dropout_affine(case.check["rate"])
        bound = 6 * U32 * (np.abs(a * x) + abs(a * ALPHA_P) + abs(b))
        with np.errstate(invalid="ignore"):
            if np.any(np.isfinite(x) & (np.abs(x - (a * x + b)) > bound)):
                predicted.add(case.id)
    assert predicted and ids_with(matrix, "AlphaDropout") == predicted
