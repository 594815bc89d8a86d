"""Running a candidate in its own process, so that a crash, a hang or a stray import cannot
take the test run down: each pytest worker talks to one child process over a pipe.

Protocol: length-prefixed pickles of (method, case) one way and (kind, value) back, where kind
is "ok", "raised" (the candidate raised; value is the traceback) or "unpicklable". Pickles
only ever travel between this process and the child it started.
"""
import json
import os
import pickle
import select
import subprocess
import sys
import tempfile
import traceback

import numpy as np

from conformance.candidates import forked


class CandidateError(Exception):
    """The candidate raised, crashed, hung or could not be loaded; `kind` says which."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def _write(stream, obj):
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(8, "little") + data)
    stream.flush()


def _read_exact(stream, n):
    chunks = []
    while n:
        chunk = stream.read(n)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _read(stream):
    return pickle.loads(_read_exact(stream, int.from_bytes(_read_exact(stream, 8), "little")))


def _portable(value):
    """Outputs as NumPy arrays (a candidate may return tensors of its framework)."""
    if isinstance(value, (list, tuple)):
        return [np.asarray(v) for v in value]
    if value is None or isinstance(value, (bool, dict, str)):
        return value
    return np.asarray(value)


class IsolatedCandidate:
    """A candidate living in a child process, started on first use and restarted after it
    dies or hangs. `call(method, case)` returns the method's result or raises CandidateError."""

    def __init__(self, target, timeout=60.0, load_timeout=600.0, env=None):
        self.target, self.timeout, self.load_timeout = target, timeout, load_timeout
        self.env = env or {}
        self.proc = None
        self.info = None
        self._log = None
        self._load_error = None     # a candidate that cannot load is not tried again

    def _start(self):
        self._log = tempfile.NamedTemporaryFile(prefix="candidate-", suffix=".log", delete=False)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1", **self.env)
        env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p] + [env.get("PYTHONPATH", "")])
        if forked.can_fork():
            self.proc = forked.ForkedProcess(serve, self.target, env, self._log)
        else:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "conformance.candidates.isolation", self.target],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=env)
        try:
            kind, value = self._receive(self.load_timeout, "loading")
        except CandidateError as exc:
            self._load_error = CandidateError("load", f"cannot load candidate {self.target!r}: {exc}")
            raise self._load_error from None
        if kind != "ok":
            self.close()
            self._load_error = CandidateError("load", f"cannot load candidate {self.target!r}: {value}")
            raise self._load_error
        self.info = value

    def _stderr_tail(self, lines=15):
        try:
            with open(self._log.name, errors="replace") as f:
                return "".join(f.readlines()[-lines:]).strip()
        except (OSError, AttributeError):
            return ""

    def _receive(self, timeout, doing):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.close()
            raise CandidateError("timeout", f"candidate timed out after {timeout:g} s {doing}")
        try:
            return _read(self.proc.stdout)
        except (EOFError, pickle.UnpicklingError, OSError):
            code = self.proc.wait(timeout=10)
            tail = self._stderr_tail()
            self.close()
            raise CandidateError("crash", f"candidate process died (exit code {code}) while "
                                          f"{doing}" + (f"; its last output:\n{tail}" if tail else "")
                                 ) from None

    def start(self):
        if self._load_error is not None:
            raise self._load_error
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        return self.info

    def call(self, method, case, *args):
        self.start()
        try:
            _write(self.proc.stdin, (method, case.for_candidate(), args))
        except (BrokenPipeError, OSError):
            self.close()
            raise CandidateError("crash", "candidate process died before the case was sent") from None
        kind, value = self._receive(self.timeout, f"running {method} on {case.id}")
        if kind == "raised":
            raise CandidateError("raised", value)
        if kind == "unpicklable":
            raise CandidateError("raised", f"candidate returned something that is not an "
                                           f"array: {value}")
        return value

    def answer(self, case, observe, mask):
        """What a suite test asks of a case in one round trip (`answer` below): the child
        calls supports(), then observe() or run(), then compute_mask() if asked.

        A process that dies on a case may have been broken by an earlier one (TensorFlow's
        CPU kernels, in a process that ran thousands of cases, once aborted and once
        segfaulted on cases that pass alone): the case is asked once more of a fresh process.
        If that one dies too, the crash is the case's; if it answers, the answer is judged and
        carries the first death as "crashed_before", which the report shows beside the case."""
        try:
            return self.call(ANSWER, case, observe, mask)
        except CandidateError as exc:
            if exc.kind != "crash":
                raise
            first = str(exc)
        try:
            answered = self.call(ANSWER, case, observe, mask)
        except CandidateError as exc:
            if exc.kind != "crash":
                raise
            raise CandidateError("crash", f"{exc}\n(and the same in a fresh process: the crash "
                                          f"is this case's)") from None
        return {**answered, "crashed_before": first}

    def close(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None
        if self._log is not None:
            self._log.close()
            os.unlink(self._log.name)
            self._log = None


ANSWER = "answer"      # not a candidate method: supports, run or observe, compute_mask at once


def answer(candidate, case, observe, mask):
    """{"unsupported": the reason} where the candidate's supports() (if it has one) does not
    return True; else {"outputs": run()'s, or observe()'s "outputs", "observed": observe()'s
    result or None, "mask": compute_mask()'s or None}. `observe`: call observe() in place of
    run(); `mask`: also call compute_mask()."""
    supports = getattr(candidate, "supports", None)
    if callable(supports):
        verdict = supports(case)
        if verdict is not True:
            return {"unsupported": verdict}
    observed = outputs = None
    if observe:
        observed = _portable(candidate.observe(case))
        outputs = observed.get("outputs") if isinstance(observed, dict) else observed
    else:
        outputs = _portable(candidate.run(case))
    return {"outputs": outputs, "observed": observed,
            "mask": _portable(candidate.compute_mask(case)) if mask else None}


def _info(candidate):
    """name, spec, methods, device and versions, as plain JSON values (a version may be a str
    subclass such as torch's TorchVersion, which other processes need not know)."""
    return json.loads(json.dumps(_raw_info(candidate), default=str))


def _raw_info(candidate):
    info = {"name": candidate.name, "spec": candidate.spec,
            "methods": [m for m in ("run", "supports", "compute_mask", "observe",
                                    "output_shape", "rejection", "full_config")
                        if callable(getattr(candidate, m, None))]}
    info["precision"] = getattr(candidate, "precision", None) or "float32"
    for key in ("device", "versions"):
        try:
            info[key] = getattr(candidate, key, None)
        except Exception as exc:  # noqa: BLE001 - shown in the report, never fatal
            info[key] = f"unknown ({exc})"
    return info


def serve(target):
    """The child's loop: load the candidate, then answer (method, case) requests."""
    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)              # the candidate's prints must not corrupt the protocol
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer
    from conformance.candidates import load
    try:
        candidate = load(target)
        _write(protocol, ("ok", _info(candidate)))
    except BaseException:  # noqa: BLE001 - reported to the parent as a load error
        _write(protocol, ("raised", traceback.format_exc(limit=5)))
        return
    while True:
        try:
            method, case, args = _read(requests)
        except EOFError:
            return
        try:
            result = (answer(candidate, case, *args) if method == ANSWER
                      else _portable(getattr(candidate, method)(case, *args)))
            reply = ("ok", result)
        except Exception:  # noqa: BLE001 - the candidate's error is the report's content
            reply = ("raised", traceback.format_exc(limit=8))
        try:
            _write(protocol, reply)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            _write(protocol, ("unpicklable", repr(exc)))


if __name__ == "__main__":
    serve(sys.argv[1])
