"""A third party's candidate, written outside this repo, run the way the README says; and the
matrix is the same whether the run is serial or spread over xdist workers."""
import textwrap

from conformance import fixtures
from tests.suite_runner import run_suite

ADAPTER = textwrap.dedent('''
    from conformance.candidates import load

    reference = load("reference")

    class MyCandidate:
        name = "my-engine"
        spec = "keras3"

        def run(self, case):
            return reference.run(case)

        def supports(self, case):
            return True if case.layer != "Lambda" else "my-engine cannot run Python lambdas"
''')


def write_adapter(tmp_path):
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "adapter.py").write_text(ADAPTER)
    return tmp_path


def test_a_candidate_from_outside_the_repo(tmp_path):
    outside = write_adapter(tmp_path)
    code, output, matrix = run_suite(tmp_path, "mypkg.adapter:MyCandidate", "-n", "2",
                                     "--no-oracle", "--layer", "Lambda", "--layer", "Dense",
                                     "--layer", "Conv1D", "--layer", "LSTM", cwd=outside)
    assert code == 0, output[-2000:]
    assert matrix["candidate"]["name"] == "my-engine"
    lambdas = [c for c in fixtures.load_all(fixtures.default_root(), "keras3")[0]
               if c.layer == "Lambda"]
    assert matrix["layers"]["Lambda"]["summary"] == {"skipped": len(lambdas)}
    assert matrix["summary"]["failed"] == matrix["summary"]["error"] == 0
    assert matrix["summary"]["passed"] > 200


def test_the_candidate_from_the_environment(tmp_path):
    outside = write_adapter(tmp_path)
    code, output, matrix = run_suite(
        tmp_path, None, "--layer", "Dense", "--no-oracle", cwd=outside,
        env={"KERAS_CONFORMANCE_CANDIDATE": "mypkg.adapter:MyCandidate"})
    assert code == 0, output[-2000:]
    assert matrix["candidate"]["name"] == "my-engine"


def test_an_unloadable_candidate_has_its_own_exit_code(tmp_path):
    code, output, matrix = run_suite(tmp_path, "nosuchmodule:Thing", cwd=tmp_path)
    assert code == 7 and matrix is None
    assert "cannot load candidate 'nosuchmodule:Thing'" in output


def test_serial_and_xdist_runs_write_the_same_matrix(tmp_path):
    # layers of every kind of answer: one output, masks, several outputs, observed weights,
    # a statistical check, a functional form
    layers = [a for layer in ("Dense", "Masking", "LSTM", "BatchNormalization", "Dropout", "add")
              for a in ("--layer", layer)]
    _, _, serial = run_suite(tmp_path / "serial", "reference", "-n", "0", *layers)
    _, _, spread = run_suite(tmp_path / "spread", "reference", "-n", "2", *layers)
    assert serial == spread
    assert serial["summary"]["passed"] > 200
