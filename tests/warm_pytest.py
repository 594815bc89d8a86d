"""A warm start for the suite's own runs of the suite (tests/suite_runner.run_suite).

The suite's tests start about 120 pytest runs. A fresh `python -m pytest` spends 0.45 s of its
0.8 s of CPU importing NumPy, pytest, hypothesis and the suite's modules before it reads its
first fixture. Each pytest worker therefore starts one server process (`python -m
tests.warm_pytest`) that collects one layer's golden cases once, as a run would, so that pytest
imports the plugins and the test module through its assertion-rewriting hook, and then forks a
child per run: the child takes the run's environment, working directory and arguments, sends
its output to two files and runs pytest.main(), then exits as a fresh process would (sys.exit,
so atexit handlers run). The candidate's own process is started by the child exactly as by a
fresh run (a serial run forks it: conformance/candidates/forked.py), and the child builds its
own config, plugin objects and cases.

Some modules read the environment when imported (the plugin, HYPOTHESIS_PROFILE), so the server
takes only runs in the environment it was started in. A run that names its own working
directory or environment (tests/test_third_party.py's user's package) runs in a fresh process
instead, as does every run when the server cannot start. tests/test_warm_pytest.py checks that a
forked run writes what a fresh process writes.

Protocol, on the server's stdin and stdout: one JSON line per run, {"args", "env", "cwd",
"out", "err", "timeout"}; the server answers with one line, {"code"} once the child has exited,
or {"timed_out": true} once the timeout has passed and it has killed the child's process group
(the run and its candidate's process).
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest


def _warm_up():
    """Collect one layer's golden cases once, as a run would, with the output thrown away:
    pytest imports the plugins and the test module through its assertion-rewriting hook,
    which then stay imported, rewritten, for every run forked from here."""
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    try:
        with tempfile.TemporaryDirectory(prefix="kc-warm-") as reports:
            pytest.main(["--pyargs", "conformance.test_candidate", "--candidate", "reference",
                         "--layer", "Flatten", "--collect-only", "-q", "--report-dir", reports,
                         "-p", "no:cacheprovider", "-p", "no:benchmark"])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, target in zip(saved, (1, 2)):
            os.dup2(fd, target)
            os.close(fd)
        os.close(null)


def _serve():
    env = dict(os.environ)              # as it was when the modules were imported
    _warm_up()
    print(json.dumps({"env": env}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)             # never returns
        print(json.dumps(_wait(pid, request["timeout"])), flush=True)


def _wait(pid, timeout):
    """{"code"} once the child has exited; {"timed_out"} once its group is killed."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return {"code": os.waitstatus_to_exitcode(status)}
        if time.monotonic() > deadline:
            try:
                os.killpg(pid, signal.SIGKILL)      # the run and its candidate's process
            except OSError:
                pass
            os.waitpid(pid, 0)
            return {"timed_out": True}
        time.sleep(0.02)


def _child(request):
    os.setpgid(0, 0)                    # its own group: a timeout stops the candidate too
    signal.signal(signal.SIGINT, signal.default_int_handler)
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    err = os.open(request["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    for fd, target in ((null, 0), (out, 1), (err, 2)):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = [sys.argv[0], *request["args"]]
    code = 1
    try:
        code = int(pytest.main(request["args"]))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.exit(code)


def _without(env, names=("PYTEST_CURRENT_TEST",)):
    return {k: v for k, v in env.items() if k not in names}


class WarmPytest:
    """The server, seen from a worker: run(args, env, cwd, out, err, timeout) -> exit code,
    or None where the server is not there (the caller then starts a fresh process)."""

    def __init__(self, cwd, env):
        self.proc, self.env = None, None
        self.answered = 0                   # runs it has answered (a fresh process ran none)
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "tests.warm_pytest"], cwd=cwd,
                                         env=env, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True)
            self.env = json.loads(self.proc.stdout.readline())["env"]
        except (OSError, ValueError, KeyError):
            self.close()

    def run(self, args, env, cwd, out, err, timeout):
        # the modules it holds read the environment when imported: another one, a fresh process
        # (but for the name of the test that starts the run, which pytest sets for each test)
        if self.proc is None or self.proc.poll() is not None or _without(env) != _without(
                self.env):
            return None
        request = {"args": list(args), "env": env, "cwd": str(cwd), "out": str(out),
                   "err": str(err), "timeout": timeout}
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except OSError:
            self.close()
            return None
        line = self.proc.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError("the warm pytest server died during a run")
        answer = json.loads(line)
        self.answered += 1
        if answer.get("timed_out"):
            raise subprocess.TimeoutExpired(["pytest", *args], timeout)
        return answer["code"]

    def close(self):
        if self.proc is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
            self.proc = None


if __name__ == "__main__":
    _serve()
