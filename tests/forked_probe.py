"""Run as `python -m tests.forked_probe MARKS` (a process of one thread, as a serial run of
the suite is): asks the same of a candidate process forked from here and of one started fresh
(conformance/candidates/forked.py), and prints both answers as one JSON line for
tests/test_forked.py. The parent first sets up what a pytest process holds and a fresh process
would not: an exit handler (which appends its process's id to MARKS), an erroring warning
filter, a logging handler, its own environment, its own collector threshold."""
import atexit
import gc
import json
import logging
import os
import signal
import sys
import warnings

import numpy as np

from conformance import fixtures
from conformance.candidates import forked, isolation


class Probe:
    """A candidate that reports what its process looks like."""
    name, spec = "probe", "keras3"

    def run(self, case):
        return [np.zeros(1)]

    def probe(self, case):
        print("a print of the candidate's own, which must not reach the protocol")
        warnings.warn("a candidate's UserWarning")          # an error only under the parent's
        return {"argv": sys.argv[1:], "environment": os.environ.get("KC_PROBE"),
                "root_handlers": len(logging.root.handlers),
                "stdin_buffered": type(sys.stdin.buffer).__name__,
                "gc_threshold": gc.get_threshold(),
                "pid_is_new": os.getpid() != int(os.environ["KC_PROBE_PARENT"])}

    def crash(self, case):
        os.kill(os.getpid(), signal.SIGSEGV)


def _mark(path):
    """The parent's exit handler: notes which process ran it."""
    with open(path, "a") as f:
        f.write(f"{os.getpid()}\n")


def ask(fork, cases):
    forked.can_fork = (lambda: True) if fork else (lambda: False)
    target = "tests.forked_probe:Probe"
    probe = isolation.IsolatedCandidate(target, env={"KC_PROBE": "child"})
    try:
        probe.start()
        kind = type(probe.proc).__name__
        seen = probe.call("probe", cases[0])
        probe.proc.stdin.close()                # end of requests: it exits by itself
        exit_code = probe.proc.wait(timeout=30)
        probe.close()
        try:
            probe.call("crash", cases[0])
            crash = "answered"
        except isolation.CandidateError as exc:
            crash = f"{exc.kind}: {str(exc).splitlines()[0]}"
    finally:
        probe.close()
    reference = isolation.IsolatedCandidate("reference")
    try:
        answers = [reference.answer(c, bool(c.observed), c.expected_mask is not None)
                   for c in cases]
    finally:
        reference.close()
    outputs = [[np.asarray(o).tobytes().hex() for o in a["outputs"]] for a in answers]
    return {"process": kind, "seen": seen, "exit_code": exit_code, "crash": crash,
            "outputs": outputs}


def main():
    os.environ["KC_PROBE"] = "parent"
    os.environ["KC_PROBE_PARENT"] = str(os.getpid())
    atexit.register(_mark, sys.argv[1])
    warnings.simplefilter("error", UserWarning)
    gc.set_threshold(20_000, 10, 10)                  # conformance/plugin.py's
    logging.root.addHandler(logging.StreamHandler(sys.stderr))
    cases, _ = fixtures.load_all(fixtures.default_root(), "keras3", {"Dense", "LSTM", "Dropout"})
    cases = [c for c in cases if not c.out_of_scope][::7]
    answers = {"forked": ask(True, cases), "fresh": ask(False, cases),
               "cases": len(cases), "parent": os.getpid()}
    print(json.dumps(answers))


if __name__ == "__main__":
    main()
