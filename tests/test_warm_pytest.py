"""The warm server the suite's own runs of the suite fork from (tests/warm_pytest.py): a forked
run writes what a fresh process writes, takes its own environment and working directory, and
a run past its timeout is stopped with its children."""
import os
import subprocess
import time

import pytest

from tests import suite_runner
from tests.suite_runner import FIXTURES, FORWARD, ROOT, run_suite, subprocess_env
from tests.warm_pytest import WarmPytest


def test_a_forked_run_writes_what_a_fresh_process_writes(tmp_path, monkeypatch):
    args = (*FORWARD, "--no-oracle", "--fixtures-dir", str(FIXTURES), "--layer", "Dropout",
            "--layer", "Flatten")
    # the worker's server, started by an earlier test of the worker (or here), serves a later one
    suite_runner._run_warm(["--version"], subprocess_env(pythonpath=(ROOT, ROOT)))
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "a later test (call)")
    before = suite_runner._WARM[0].answered
    warm_code, warm_output, warm = run_suite(tmp_path / "warm", "tests.planted:DropoutAtInference",
                                             *args)
    assert suite_runner._WARM[0].answered == before + 1      # it was forked, not a fresh one
    # env= names an environment of its own: the run takes a fresh process
    fresh_code, fresh_output, fresh = run_suite(tmp_path / "fresh",
                                                "tests.planted:DropoutAtInference", *args, env={})
    assert warm_code == fresh_code == 1
    assert warm["layers"]["Dropout"]["summary"] == fresh["layers"]["Dropout"]["summary"]
    assert warm["layers"]["Dropout"]["summary"].get("failed")
    assert [c["status"] for c in warm["layers"]["Dropout"]["cells"]] == \
        [c["status"] for c in fresh["layers"]["Dropout"]["cells"]]
    assert warm_output.splitlines()[-1].split(" in ")[0] == \
        fresh_output.splitlines()[-1].split(" in ")[0]
    assert "PytestAssertRewriteWarning" not in warm_output


PROBE = """
import os
def test_probe():
    assert os.environ["KC_PROBE"] == "42"
    assert os.getcwd() == {cwd!r}
    print("probed")
"""


def test_a_run_takes_its_environment_and_directory_and_its_timeout(tmp_path):
    (tmp_path / "test_probe.py").write_text(PROBE.format(cwd=str(tmp_path)))
    (tmp_path / "test_sleeps.py").write_text(
        "import subprocess, sys, time\n"
        "def test_sleeps():\n"
        "    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "    open('child.pid', 'w').write(str(child.pid))\n"
        "    time.sleep(60)\n")
    env = dict(subprocess_env(pythonpath=(ROOT,)), KC_PROBE="42")
    server = WarmPytest(ROOT, env)
    try:
        # another environment: the caller is told to start a fresh process
        other = {k: v for k, v in env.items() if k != "KC_PROBE"}
        assert server.run(["--version"], other, tmp_path, tmp_path / "o", tmp_path / "e",
                          10) is None
        out, err = tmp_path / "out.txt", tmp_path / "err.txt"
        code = server.run(["-q", "-s", "-p", "no:cacheprovider", "test_probe.py"], env, tmp_path,
                          out, err, timeout=60)
        assert code == 0, out.read_text() + err.read_text()
        assert "probed" in out.read_text()
        start = time.monotonic()
        with pytest.raises(subprocess.TimeoutExpired):
            server.run(["-q", "-p", "no:cacheprovider", "test_sleeps.py"], env, tmp_path,
                       out, err, timeout=2)
        assert time.monotonic() - start < 20
        pid = int((tmp_path / "child.pid").read_text())
        for _ in range(50):            # the run's own child went with it (its process group)
            if not os.path.exists(f"/proc/{pid}") or "Z" in _state(pid):
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"the timed-out run's child {pid} is still running")
        # the server goes on serving
        assert server.run(["-q", "-p", "no:cacheprovider", "test_probe.py"], env, tmp_path,
                          out, err, timeout=60) == 0
    finally:
        server.close()
    assert server.proc is None


def _state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_without_the_server_a_run_takes_a_fresh_process(tmp_path):
    server = WarmPytest(tmp_path / "missing", subprocess_env(pythonpath=(ROOT,)))
    assert server.proc is None               # it could not start (no such directory)
    assert server.run(["--version"], {}, tmp_path, tmp_path / "o", tmp_path / "e", 10) is None
