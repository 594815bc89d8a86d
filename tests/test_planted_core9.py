"""Each planted fault of tests/planted_core9.py fails exactly the fixture cases predicted from
the case's data (KC_FIXTURES_DIR, the shipped fixtures by default), and nowhere else."""
import os
from pathlib import Path

import numpy as np

from conformance import fixtures, specs
from conformance.cases import with_expected
from conformance.lambdas import resolve_lambda_config
from tests.planted_core9 import kernel_read_transposed, without_arguments
from tests.suite_runner import cells, layers_with, run_suite
from tests.test_planted_embedding import differs

FIXTURES = Path(os.environ.get("KC_FIXTURES_DIR") or fixtures.default_root())
LAYERS = ("--layer", "MyLayer", "--layer", "Lambda")


def planted(tmp_path, name):
    code, output, matrix = run_suite(tmp_path, f"tests.planted_core9:{name}", "-k",
                                     "test_golden_case", "--no-oracle", "--fixtures-dir",
                                     str(FIXTURES), *LAYERS)
    assert matrix is not None, output[-3000:]
    return matrix


def keras3_cases(layer):
    cases, problems = fixtures.load_all(FIXTURES, "keras3")
    cases = [c for c in cases if c.layer == layer and not c.out_of_scope]
    assert cases and not problems, f"no {layer} fixtures in {FIXTURES}: {problems[:1]}"
    return cases


def results(matrix, layer, status):
    return {r["id"]: r["message"] for c in cells(matrix, layer) for r in c["case_results"]
            if r["status"] == status}


def test_kernel_read_transposed_and_lambda_arguments_ignored(tmp_path):
    """MyLayer: fails only where the kernel has more than one row and column (read
    column-major it is another matrix), and in every such unit-regime case. Lambda: fails
    exactly where dropping `arguments` changes the exact output (scale 0.5 halves every
    finite, normal value). One run: the faults are in different layers."""
    matrix = planted(tmp_path, "MyLayerKernelTransposedLambdaArgumentsIgnored")
    assert layers_with(matrix, ("failed", "error", "xpassed")) == ["Lambda", "MyLayer"]
    bad = set(results(matrix, "MyLayer", "failed"))
    square = [c for c in keras3_cases("MyLayer") if min(c.weights[0].shape) > 1
              and differs(kernel_read_transposed(c.weights[0]), c.weights[0])]
    unit = {c.id for c in square if c.params["regime"] == "unit"}
    assert unit and unit <= bad <= {c.id for c in square}
    spec = specs.get("Lambda")
    predicted = {c.id for c in keras3_cases("Lambda")
                 if differs(with_expected(spec, without_arguments(c)).expected[0],
                            c.expected[0])}
    assert predicted and set(results(matrix, "Lambda", "failed")) == predicted
    assert predicted <= {c.id for c in keras3_cases("Lambda") if c.config["arguments"]}


def test_lambda_tensor_mask_ignored(tmp_path):
    """Fails exactly the cases whose mask is given as a tensor (keras3: steps_2x3, or its value
    in a complete config), with the
    missing mask as the reason; the mask functions' cases pass."""
    matrix = planted(tmp_path, "LambdaTensorMaskIgnored")
    assert layers_with(matrix, ("failed", "error", "xpassed")) == ["Lambda"]
    failed = results(matrix, "Lambda", "failed")
    predicted = {c.id for c in keras3_cases("Lambda") if isinstance(
        resolve_lambda_config(c.config).get("mask"), np.ndarray)}
    assert predicted and set(failed) == predicted
    assert all("emitted no mask" in m for m in failed.values())
