"""--model (conformance/models.py): a small model saved here, with a class of its own, checked
layer by layer: against the reference candidate every layer with a spec passes and the custom
class shows as "no spec"; the cases written with --model-fixtures replay without TensorFlow,
and a planted candidate wrong in one layer (a 1x1 Conv2D without its bias) is named in that
layer and no other (the 3x3 Conv2D of the same class passes)."""
import subprocess
import sys

import pytest

from tests.suite_runner import ROOT, run_suite

LAYERS = ["image", "conv", "scale", "mix", "pool", "head"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    pytest.importorskip("tensorflow")
    folder = tmp_path_factory.mktemp("model")
    done = subprocess.run([sys.executable, "-m", "tests.model_objects",
                           str(folder / "small.keras"), str(folder / "inputs.npz")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder


def rows(matrix):
    return {row["name"]: row for row in matrix["model"]["layers"]}


def test_each_layer_of_a_saved_model_against_the_reference(saved, tmp_path):
    code, output, matrix = run_suite(
        tmp_path, "reference", "--model", str(saved / "small.keras"),
        "--model-objects", "tests.model_objects", "--model-inputs", str(saved / "inputs.npz"),
        "--model-fixtures", str(saved / "cases"))
    assert code == 0 and matrix is not None, output[-3000:]
    layers = rows(matrix)
    assert [row["name"] for row in matrix["model"]["layers"]] == LAYERS     # the model's order
    assert layers["scale"]["status"] == "no spec" and layers["scale"]["layer"] == "Scale"
    assert {name: row["status"] for name, row in layers.items() if name != "scale"} == {
        name: "passed" for name in LAYERS if name != "scale"}
    # every regime of the spec but long, and the activations recorded from the user's inputs
    assert layers["mix"]["cases"] == 8
    assert "recorded" in {c["params"]["regime"] for c in matrix["layers"]["Conv2D"]["cells"]}
    assert matrix["model"]["summary"] == {"passed": 5, "no spec": 1}
    assert "model small, layer by layer" in output and "no spec: Scale" in output


def test_a_fault_in_one_layer_is_named_there_only(saved, tmp_path):
    cases = saved / "cases"
    if not (cases / "model.json").is_file():
        pytest.skip("needs the cases the previous test wrote")
    code, output, matrix = run_suite(tmp_path, "tests.planted_model:PointwiseConvDropsBias",
                                     "--fixtures-dir", str(cases))
    assert code == 1 and matrix is not None, output[-3000:]
    failing = [row["name"] for row in matrix["model"]["layers"] if row["status"] != "passed"]
    assert failing == ["scale", "mix"], failing              # scale: no spec
    mix = rows(matrix)["mix"]
    assert mix["status"] == "failing" and "--fixtures-dir" in mix["rerun"]
    assert "mix" in mix["case"] and "outside its bound" in mix["message"], mix
    assert "FAILING: mix (Conv2D)" in output
