"""The CI gate: regressions, known failures, stale entries, unmatched patterns, the baseline,
and the documented exit codes for a broken fixture set, a bad candidate and a usage error."""
import json
import shutil

import pytest

from conformance import fixtures, gate
from tests.suite_runner import FORWARD, ROOT, run_suite

NO_BIAS = "tests.planted:DenseWithoutBias"
ARGS = (*FORWARD, "--no-oracle", "--layer", "Dense", "--layer", "Flatten")


def failing_ids(matrix):
    return sorted(r["id"] for c in matrix["layers"]["Dense"]["cells"] for r in c["case_results"]
                  if r["status"] == "failed")


def write_list(tmp_path, lines):
    path = tmp_path / "known.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_an_unlisted_failure_fails_the_run(tmp_path):
    code, output, matrix = run_suite(tmp_path, NO_BIAS, *ARGS)
    assert code == gate.REGRESSIONS and failing_ids(matrix)


def test_listed_failures_become_xfailed_and_the_run_is_green(tmp_path):
    _, _, first = run_suite(tmp_path / "first", NO_BIAS, *ARGS)
    listed = ["# Dense drops its bias: planted fault, see tests/planted.py"] + failing_ids(first)
    code, output, matrix = run_suite(tmp_path, NO_BIAS, *ARGS, "--known-failures",
                                     write_list(tmp_path, listed))
    assert code == gate.GREEN, output[-2000:]
    assert matrix["summary"]["xfailed"] == len(listed) - 1 and matrix["summary"]["failed"] == 0
    assert matrix["gate"]["stale"] == [] and matrix["gate"]["unmatched_patterns"] == []


def test_stale_entries_are_reported_and_fail_only_when_strict(tmp_path):
    known = write_list(tmp_path, ["Dense-*  # everything in Dense, too broad", "Flatten-000"])
    code, output, matrix = run_suite(tmp_path / "lax", NO_BIAS, *ARGS, "--known-failures", known)
    assert code == gate.GREEN
    assert "Flatten-000" in matrix["gate"]["stale"]
    assert "FIXED (stale known-failures entry): Flatten-000" in output
    code, output, _ = run_suite(tmp_path / "strict", NO_BIAS, *ARGS, "--known-failures", known,
                                "--strict-known-failures")
    assert code == gate.REGRESSIONS


def test_patterns_that_match_nothing_are_warned_about(tmp_path):
    # Conv1D-000 exists but this run selects only Dense and Flatten: it is not "unmatched"
    known = write_list(tmp_path, ["NoSuchLayer-*  # a typo", "Dense-*", "Conv1D-000"])
    _, output, matrix = run_suite(tmp_path, NO_BIAS, *ARGS, "--known-failures", known)
    assert matrix["gate"]["unmatched_patterns"] == ["NoSuchLayer-*"]
    assert "known-failures pattern 'NoSuchLayer-*' matches no case" in output


def test_the_baseline_shows_regressed_and_improved_cells(tmp_path):
    _, _, good = run_suite(tmp_path / "good", "reference", *ARGS)
    baseline = tmp_path / "good" / "reports" / "reference" / "matrix.json"
    _, output, bad = run_suite(tmp_path / "bad", NO_BIAS, *ARGS, "--baseline", str(baseline))
    regressed = bad["gate"]["baseline"]["regressed"]
    assert regressed and {r["layer"] for r in regressed} == {"Dense"}
    assert all(r["params"]["use_bias"] and r["before"] == "passed" for r in regressed)
    assert "REGRESSED: Dense" in output
    bad_path = tmp_path / "bad" / "reports" / "planted-DenseWithoutBias" / "matrix.json"
    _, output, again = run_suite(tmp_path / "again", "reference", *ARGS, "--baseline", str(bad_path))
    assert len(again["gate"]["baseline"]["improved"]) == len(regressed)
    assert again["gate"]["baseline"]["regressed"] == []


def test_a_broken_fixture_set_has_its_own_exit_code(tmp_path):
    root = tmp_path / "fixtures"
    shutil.copytree(fixtures.default_root(), root)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["files"]["keras3/Flatten.npz"] = "0" * 64
    (root / "manifest.json").write_text(json.dumps(manifest))
    code, _, matrix = run_suite(tmp_path, "reference", *ARGS, "--fixtures-dir", str(root))
    assert code == gate.BROKEN_FIXTURES
    assert matrix["layers"]["Flatten"]["summary"] == {"error": 1}


def test_a_candidate_that_cannot_be_constructed_has_the_unloadable_exit_code(tmp_path):
    code, output, _ = run_suite(tmp_path, "tests.planted:BrokenConstructor", *ARGS)
    assert code == gate.UNLOADABLE_CANDIDATE and "no GPU driver found" in output


def test_usage_errors_keep_pytest_code(tmp_path):
    code, output, _ = run_suite(tmp_path, "reference", *ARGS, "--known-failures",
                                str(tmp_path / "missing.txt"))
    assert code == gate.USAGE_ERROR and "cannot read known-failures file" in output
    (tmp_path / "junk.json").write_text("{not json")
    code, output, _ = run_suite(tmp_path, "reference", *ARGS, "--baseline", str(tmp_path / "junk.json"))
    assert code == gate.USAGE_ERROR and "cannot read a matrix" in output


def test_known_failures_file_format(tmp_path):
    entries = gate.read_known_failures(write_list(tmp_path, [
        "# torch pads with replicate: keras-team/keras#19721", "AvgPool-1", "AvgPool-2  # own reason",
        "", "live:Dense"]))
    assert [(e.pattern, e.reason) for e in entries] == [
        ("AvgPool-1", "torch pads with replicate: keras-team/keras#19721"),
        ("AvgPool-2", "own reason"), ("live:Dense", "")]


@pytest.mark.parametrize("path", sorted((ROOT / "reports" / "known-failures").glob("*.txt")),
                         ids=lambda path: path.stem)
def test_shipped_known_failures_files_match_the_specs(path):
    assert path.read_text() == gate.known_failures_from_specs(path.stem), (
        f"{path} is stale: regenerate with python -m conformance.gate known-failures {path.stem}")
