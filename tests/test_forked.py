"""A candidate's process forked from a serial run (conformance/candidates/forked.py) is the
fresh process it stands in for: the same answers, bit for bit, the same view of its process,
the same crash report; and forking is never tried where another thread runs."""
import json
import subprocess
import sys
import threading

from conformance.candidates import forked
from tests.suite_runner import ROOT, subprocess_env


def test_a_forked_candidate_process_is_the_fresh_one(tmp_path):
    marks = tmp_path / "marks"
    done = subprocess.run([sys.executable, "-m", "tests.forked_probe", str(marks)], cwd=ROOT,
                          env=subprocess_env(pythonpath=(ROOT,)), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    answers = json.loads(done.stdout.splitlines()[-1])
    fork, fresh = answers["forked"], answers["fresh"]
    assert (fork["process"], fresh["process"]) == ("ForkedProcess", "Popen")
    # its own argv and environment, the interpreter's warning filters (the probe's warning is
    # no error, as it is under the parent's), no logging handler of the parent's, CPython's
    # collector thresholds, a pid
    assert fork["seen"] == fresh["seen"] == {
        "argv": ["tests.forked_probe:Probe"], "environment": "child", "root_handlers": 0,
        "stdin_buffered": "BufferedReader", "gc_threshold": [700, 10, 10], "pid_is_new": True}
    assert fork["exit_code"] == fresh["exit_code"] == 0          # at the end of its requests
    assert fork["crash"] == fresh["crash"]
    assert "exit code -11" in fork["crash"]
    # the reference's outputs on Dense, LSTM and Dropout cases, as bytes
    assert answers["cases"] > 50 and fork["outputs"] == fresh["outputs"]
    # the parent's exit handler ran in the parent only
    assert marks.read_text().split() == [str(answers["parent"])]


def test_no_fork_where_another_thread_runs():
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not forked.can_fork()
    finally:
        stop.set()
        other.join()


def test_no_fork_in_a_pytest_xdist_worker(worker_id):
    # execnet's thread is started with _thread: threading.active_count() does not count it
    assert worker_id == "master" or not forked.can_fork()
