"""The golden fixtures: regenerating gives the same cases, they load without pickles, and a
tampered or corrupt file is reported as such while the rest still load."""
import gzip
import json
import shutil
import zipfile

import numpy as np
import pytest

from conformance import fixtures, gate, specs
from conformance.case import KERAS_SPECS
from tests.suite_runner import run_suite


@pytest.fixture
def copy_of_fixtures(tmp_path):
    root = tmp_path / "fixtures"
    shutil.copytree(fixtures.default_root(), root)
    return root


@pytest.mark.parametrize("layer", list(specs.SPECS))
def test_regenerating_gives_the_same_cases(layer):
    """One test per layer, so that workers share the work."""
    assert fixtures.verify(fixtures.default_root(), layers={layer}) == []


def test_every_layer_and_spec_has_fixtures():
    manifest = fixtures.read_manifest(fixtures.default_root())
    for layer, spec in specs.SPECS.items():
        for keras_spec in spec.keras_specs:
            assert f"{keras_spec}/{layer}.json.gz" in manifest["files"]


def test_every_parameter_value_is_reached():
    for keras_spec in KERAS_SPECS:
        cases, problems = fixtures.load_all(fixtures.default_root(), keras_spec)
        assert not problems
        for layer, spec in specs.SPECS.items():
            if keras_spec not in spec.keras_specs:
                continue
            seen = [c.params for c in cases if c.layer == layer]
            for name, values in spec.domains_for(keras_spec).items():
                for value in values:
                    assert any(p[name] == fixtures_json(value) for p in seen), (layer, name, value)


def fixtures_json(value):
    return json.loads(json.dumps(value))


def test_arrays_load_without_pickles():
    for path in fixtures.default_root().glob("*/*.npz"):
        with np.load(path, allow_pickle=False) as npz:
            for key in npz.files:
                assert npz[key].dtype != object


def test_a_flipped_byte_is_reported_and_other_layers_still_load(copy_of_fixtures):
    path = copy_of_fixtures / "keras3" / "Dense.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    cases, problems = fixtures.load_all(copy_of_fixtures, "keras3")
    assert [p.file for p in problems] == ["keras3/Dense"]
    assert "sha256 does not match" in problems[0].message
    assert cases and "Dense" not in {c.layer for c in cases}


def test_a_file_changed_after_it_was_read_is_read_again(copy_of_fixtures):
    """The cases a process has read are kept by the files' sha256: a file tampered with after
    a first read is reported, not answered from what was read before."""
    first, problems = fixtures.load_all(copy_of_fixtures, "keras3", {"Dense"})
    assert first and not problems
    again, _ = fixtures.load_all(copy_of_fixtures, "keras3", {"Dense"})
    assert [c.id for c in again] == [c.id for c in first]
    path = copy_of_fixtures / "keras3" / "Dense.json.gz"
    path.write_bytes(path.read_bytes() + b"tampered")
    cases, problems = fixtures.load_all(copy_of_fixtures, "keras3", {"Dense"})
    assert not cases and "sha256 does not match" in problems[0].message


def test_loaded_arrays_cannot_be_written():
    """A case's arrays are shared by every reader in the process: writing into one raises,
    and a field one reader assigns is its own."""
    case = fixtures.load_all(fixtures.default_root(), "keras3", {"Dense"})[0][0]
    for array in (case.inputs[0], case.weights[0], case.expected[0], case.bounds[0]):
        with pytest.raises(ValueError, match="read-only"):
            array[...] = 0
    case.expected = None
    again = fixtures.load_all(fixtures.default_root(), "keras3", {"Dense"})[0][0]
    assert again.id == case.id and again.expected is not None


def test_a_widened_bound_rehashed_into_the_manifest_fails_the_regeneration(copy_of_fixtures):
    """A fixture whose bounds were loosened, its files rewritten and their sha256 put in the
    manifest, loads; regenerating the layer finds the bounds are not the reference's."""
    manifest = fixtures.read_manifest(copy_of_fixtures)
    cases = fixtures.read_layer(copy_of_fixtures, "keras3", "Dense", manifest)
    widened = cases[3].id
    cases[3].bounds = [2 * b for b in cases[3].bounds]
    rewrite_with_its_hashes(copy_of_fixtures, "Dense", cases)
    assert not fixtures.load_all(copy_of_fixtures, "keras3", {"Dense"})[1]
    assert fixtures.verify(copy_of_fixtures, layers={"Dense"}) == [
        f"keras3/{widened}: the stored bounds are not the reference's (rounded up to float32, "
        f"as they are stored)"]


@pytest.mark.parametrize("steps", [-1, 1, 2])
def test_a_bound_one_float32_step_off_is_another_cpus_rounding(copy_of_fixtures, steps):
    """The reference's float64 bound differs in its last bits from CPU to CPU, so its float32
    rounding may land on the float32 next to it: one step either way verifies, two are
    caught."""
    manifest = fixtures.read_manifest(copy_of_fixtures)
    cases = fixtures.read_layer(copy_of_fixtures, "keras3", "Dense", manifest)
    moved = cases[5].id
    for _ in range(abs(steps)):
        cases[5].bounds = [np.nextafter(np.float32(b), np.float32(np.inf * steps))
                           for b in cases[5].bounds]
    rewrite_with_its_hashes(copy_of_fixtures, "Dense", cases)
    assert fixtures.verify(copy_of_fixtures, layers={"Dense"}) == ([] if abs(steps) == 1 else [
        f"keras3/{moved}: the stored bounds are not the reference's (rounded up to float32, "
        f"as they are stored)"])


def rewrite_with_its_hashes(root, layer, cases):
    """A keras3 layer's files written again from `cases`, their sha256 put in the manifest:
    a tampering that loads."""
    files = fixtures.write_layer(root, "keras3", layer, cases)
    doc = json.loads((root / "manifest.json").read_text())
    doc["files"].update({f: fixtures.sha256(root / f) for f in files})
    (root / "manifest.json").write_text(json.dumps(doc))


def test_a_consistently_rewritten_but_corrupt_file_is_unreadable(copy_of_fixtures):
    """Tampering that also updates the manifest still cannot pass a broken file off."""
    path = copy_of_fixtures / "keras3" / "Masking.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("not-an-array.npy", b"garbage")
    manifest = json.loads((copy_of_fixtures / "manifest.json").read_text())
    manifest["files"]["keras3/Masking.npz"] = fixtures.sha256(path)
    (copy_of_fixtures / "manifest.json").write_text(json.dumps(manifest))
    _, problems = fixtures.load_all(copy_of_fixtures, "keras3")
    assert [p.file for p in problems] == ["keras3/Masking"]
    assert "unreadable" in problems[0].message


def test_an_array_reference_out_of_its_member_is_unreadable(copy_of_fixtures):
    """A case whose [dtype, offset, shape] reaches past the packed member is not read as a
    shorter array: the layer is reported unreadable, even with a consistent manifest."""
    path = copy_of_fixtures / "keras3" / "Flatten.json.gz"
    doc = json.loads(gzip.decompress(path.read_bytes()))
    dtype, offset, shape = doc["cases"][-1]["inputs"][0]
    doc["cases"][-1]["inputs"][0] = [dtype, offset + 10**9, shape]
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))
    manifest = json.loads((copy_of_fixtures / "manifest.json").read_text())
    manifest["files"]["keras3/Flatten.json.gz"] = fixtures.sha256(path)
    (copy_of_fixtures / "manifest.json").write_text(json.dumps(manifest))
    _, problems = fixtures.load_all(copy_of_fixtures, "keras3")
    assert [p.file for p in problems] == ["keras3/Flatten"]
    assert "outside the float32 member" in problems[0].message


def test_a_missing_manifest_is_one_clear_problem(tmp_path):
    cases, problems = fixtures.load_all(tmp_path, "keras3")
    assert cases == [] and len(problems) == 1 and "manifest" in problems[0].message


def test_the_run_reports_a_broken_fixture_as_an_error_and_goes_on(copy_of_fixtures, tmp_path):
    path = copy_of_fixtures / "keras3" / "Permute.json.gz"
    text = gzip.decompress(path.read_bytes()).decode()
    path.write_bytes(gzip.compress(text.replace('"dims"', '"dimz"', 1).encode()))
    code, output, matrix = run_suite(tmp_path, "reference", "--fixtures-dir", str(copy_of_fixtures),
                                     "--layer", "Permute", "--layer", "Dense", "--layer", "Conv1D",
                                     "-k", "test_golden_case", "--no-oracle")
    assert code == gate.BROKEN_FIXTURES
    broken = matrix["layers"]["Permute"]["cells"]
    assert [c["status"] for c in broken] == ["error"]
    assert "sha256 does not match" in broken[0]["case_results"][0]["message"]
    assert matrix["summary"]["passed"] > 150        # Dense and Conv1D ran
