"""Running the suite as a user would, in a process of its own (forked from a warm pytest server
where it can be: tests/warm_pytest.py), and reading what it wrote."""
import atexit
import json
import os
import getpass
import subprocess
import sys
import tempfile
from pathlib import Path

from conformance import fixtures
from conformance.report import safe_name
from conformance.schema import validate
from tests.warm_pytest import WarmPytest

ROOT = Path(__file__).resolve().parent.parent
# the fixture set the planted-fault tests run on and predict from: the shipped one, or a set
# regenerated but not yet committed (KC_FIXTURES_DIR)
FIXTURES = Path(os.environ.get("KC_FIXTURES_DIR") or fixtures.default_root())
# The suite's own tests start about ninety pytest runs, each with its candidate's process; each
# would compile the same two hundred modules again (assertion rewriting included) where the
# environment says not to write bytecode (PYTHONDONTWRITEBYTECODE, as on the CI machines). They
# share one bytecode cache outside the working tree instead: 1.9 s a run becomes 0.8 s.
# Python checks each cached file against its source's size and time, so a stale one is unused.
BYTECODE = Path(tempfile.gettempdir()) / f"keras-conformance-bytecode-{getpass.getuser()}"


def subprocess_env(extra=None, pythonpath=()):
    """The environment of a process a test starts: the bytecode cache, PYTHONPATH, extra."""
    env = dict(os.environ, PYTHONPYCACHEPREFIX=str(BYTECODE), **(extra or {}))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(map(str, pythonpath))
    return env


def run_suite(tmp_path, candidate, *args, cwd=None, env=None):
    """Run `pytest --pyargs conformance.test_candidate --candidate ... args`; returns
    (exit code, output text, the matrix dict or None)."""
    reports = Path(tmp_path) / "reports"
    pytest_args = ["--pyargs", "conformance.test_candidate",
                   *(["--candidate", candidate] if candidate else []),
                   "--report-dir", str(reports), "-p", "no:cacheprovider", "-p", "no:benchmark",
                   "-q", *args]
    full_env = subprocess_env(env, pythonpath=(ROOT, cwd or ROOT))
    code, output = None, ""
    if cwd is None and env is None:     # the usual run: a fork of the warm server
        code, output = _run_warm(pytest_args, full_env)
    if code is None:                    # a fresh process
        done = subprocess.run([sys.executable, "-m", "pytest", *pytest_args], cwd=cwd or ROOT,
                              env=full_env, capture_output=True, text=True, timeout=600)
        code, output = done.returncode, done.stdout + done.stderr
    matrices = list(reports.glob("*/matrix.json"))
    matrix = json.loads(matrices[0].read_text()) if matrices else None
    if matrix is not None:          # every report a run writes must meet the published schema
        validate(matrix)
        assert (matrices[0].parent / "index.html").is_file()
    return code, output, matrix


_WARM = []


def _run_warm(args, env):
    """(exit code, output) of `pytest args` forked from this process's warm server
    (tests/warm_pytest.py), or (None, "") where there is none."""
    if not _WARM:
        _WARM.append(WarmPytest(ROOT, env))
        atexit.register(_WARM[0].close)
    with tempfile.TemporaryDirectory(prefix="kc-run-") as scratch:
        out, err = Path(scratch) / "stdout", Path(scratch) / "stderr"
        code = _WARM[0].run(args, env, ROOT, out, err, timeout=600)
        if code is None:
            return None, ""
        return code, out.read_text(errors="replace") + err.read_text(errors="replace")


def cells(matrix, layer):
    return matrix["layers"][layer]["cells"]


def failing(matrix, layer, statuses=("failed",)):
    return [c for c in cells(matrix, layer) if c["status"] in statuses]


def layers_with(matrix, statuses):
    return sorted(name for name, entry in matrix["layers"].items()
                  if any(entry["summary"].get(s) for s in statuses))


# The golden cases of the forward pass: without the common parameters' cases (initializer,
# regularizer, constraint, round trip, Keras 1), which tests/test_contract.py plants faults in
FORWARD = ("-k", "test_golden_case and not initializer and not regularizer and not constraint "
                 "and not keras1 and not roundtrip and not grad")
GRADIENT = ("-k", "test_golden_case and grad")    # the gradient twins (conformance/backward/)


def matrix_dir(tmp_path, name):
    return Path(tmp_path) / "reports" / safe_name(name)


def run_golden(tmp_path, candidate, *layers):
    """The matrix of a run of `candidate` on the golden cases of `layers` (FIXTURES)."""
    args = [a for layer in layers for a in ("--layer", layer)]
    _, output, matrix = run_suite(tmp_path, candidate, *FORWARD, "--no-oracle",
                                  "--fixtures-dir", str(FIXTURES), *args)
    assert matrix is not None, output[-3000:]
    return matrix


def fixture_cases(layer, keras_spec="keras3"):
    """The golden cases of the forward pass of `layer` in FIXTURES (FORWARD's), those the
    reference answers."""
    cases, problems = fixtures.load_all(FIXTURES, keras_spec, {layer})
    assert cases and not problems, f"no {layer} fixtures in {FIXTURES}: {problems[:1]}"
    return [c for c in cases if not c.out_of_scope and "contract" not in c.params]


def ids_with(matrix, layer, statuses=("failed",)):
    """The ids of `layer`'s cases whose status is one of `statuses`."""
    return {r["id"] for c in cells(matrix, layer) for r in c["case_results"]
            if r["status"] in statuses}
