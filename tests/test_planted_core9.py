"""Each planted fault of tests/planted_core9.py fails exactly the fixture cases predicted from
the case's data (KC_FIXTURES_DIR, the shipped fixtures by default), and nowhere else."""

import numpy as np

from conformance import specs
from conformance.cases import with_expected
from conformance.lambdas import resolve_lambda_config
from tests.planted_core9 import kernel_read_transposed, without_arguments
from tests.suite_runner import cells, fixture_cases, layers_with, run_golden
from tests.test_planted_embedding import differs

def planted(tmp_path, name):
    return run_golden(tmp_path, f"tests.planted_core9:{name}", "MyLayer", "Lambda")


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
    square = [c for c in fixture_cases("MyLayer") if min(c.weights[0].shape) > 1
              and differs(kernel_read_transposed(c.weights[0]), c.weights[0])]
    unit = {c.id for c in square if c.params["regime"] == "unit"}
    assert unit and unit <= bad <= {c.id for c in square}
    spec = specs.get("Lambda")
    predicted = {c.id for c in fixture_cases("Lambda")
                 if differs(with_expected(spec, without_arguments(c)).expected[0],
                            c.expected[0])}
    assert predicted and set(results(matrix, "Lambda", "failed")) == predicted
    assert predicted <= {c.id for c in fixture_cases("Lambda") if c.config["arguments"]}


def test_lambda_tensor_mask_ignored(tmp_path):
    """Fails exactly the cases whose mask is given as a tensor (keras3: steps_2x3, or its value
    in a complete config), with the
    missing mask as the reason; the mask functions' cases pass."""
    matrix = planted(tmp_path, "LambdaTensorMaskIgnored")
    assert layers_with(matrix, ("failed", "error", "xpassed")) == ["Lambda"]
    failed = results(matrix, "Lambda", "failed")
    predicted = {c.id for c in fixture_cases("Lambda") if isinstance(
        resolve_lambda_config(c.config).get("mask"), np.ndarray)}
    assert predicted and set(failed) == predicted
    assert all("emitted no mask" in m for m in failed.values())
