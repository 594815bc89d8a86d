"""A candidate's process made by forking the process that asks for it, where that is as good
as a fresh interpreter and cheaper (isolation.py starts one per candidate and worker).

A fresh `python -m conformance.candidates.isolation TARGET` spends about 0.35 s of CPU importing
NumPy and the suite before it loads its candidate; the suite's own tests start some 130 such
processes, one in each run of the suite they make. A fork of a process that has those modules
already costs about 10 ms. Forking is done only where it is safe: on Linux, where this process
runs one Python thread and has imported none of the frameworks whose runtimes start threads of
their own (TensorFlow, PyTorch, JAX), so the child copies nothing another thread held half-done.
A pytest-xdist worker has execnet's thread, so its candidates still start with
subprocess.Popen; so do those of a process that has imported TensorFlow, PyTorch or JAX.

The child is then made to look like the fresh process: the target's argv and environment, its
pipes as stdin and stdout and the log as stderr, unbuffered; default signal handling, warning
filters and logging; no faulthandler or pytest import hook; NumPy's global random state
reseeded; none of the parent's exit handlers (but logging's and weakref.finalize's, which its
modules register on import), its own run at exit; the parent's objects frozen (gc.freeze), so
that its collections do not walk them. The parent sees a Popen: the same stdin, stdout,
poll(), wait() and kill() (ForkedProcess).
"""
import atexit
import gc
import io
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import warnings

RUNTIMES = ("tensorflow", "torch", "jax", "jaxlib")     # start threads once imported


def can_fork():
    """Whether this is Linux (macOS's system libraries are not safe across a fork without an
    exec, which is why multiprocessing spawns there), this process runs one Python thread
    (sys._current_frames also sees threads started with _thread, as execnet's are, which
    threading does not count) and has imported none of RUNTIMES."""
    return (sys.platform.startswith("linux") and threading.active_count() == 1
            and len(sys._current_frames()) == 1
            and not any(name in sys.modules for name in RUNTIMES))


class ForkedProcess:
    """The parent's view of the forked child, as subprocess.Popen would give it."""

    def __init__(self, serve, target, env, stderr):
        requests_read, requests_write = os.pipe()
        replies_read, replies_write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        self.pid = os.fork()
        if self.pid == 0:                                    # the child: never returns
            os.close(requests_write)
            os.close(replies_read)
            _child(serve, target, env, requests_read, replies_write, stderr.fileno())
        os.close(requests_read)
        os.close(replies_write)
        self.stdin = os.fdopen(requests_write, "wb")
        self.stdout = os.fdopen(replies_read, "rb")
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(["candidate"], timeout)
            time.sleep(0.005)
        return self.returncode

    def kill(self):
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _child(serve, target, env, requests, replies, log):
    import fcntl                                         # POSIX only, as fork is
    code = 1
    try:
        # copies above 2 first: one of the pipes may have taken a standard number the parent
        # had closed, which the next dup2 would then overwrite
        copies = [fcntl.fcntl(fd, fcntl.F_DUPFD, 3) for fd in (requests, replies, log)]
        for fd, std in zip(copies, (0, 1, 2)):
            os.dup2(fd, std)
        for fd in copies + [fd for fd in (requests, replies) if fd > 2]:
            os.close(fd)
        _as_fresh(serve, target, env)
        try:
            serve(target)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else _message(exc.code)
        except BaseException:  # noqa: BLE001 - printed as a fresh interpreter would
            traceback.print_exc()
        atexit._run_exitfuncs()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


FRESH_GC_THRESHOLD = (700, 10, 10)        # CPython's


def _message(value):
    """sys.exit(value) with a value that is not a number: printed, exit code 1 (0 for None)."""
    if value is None:
        return 0
    print(value, file=sys.stderr)
    return 1


def _as_fresh(serve, target, env):
    """What a fresh `python -m conformance.candidates.isolation target` in env would have."""
    gc.freeze()          # the parent's objects: the child's collections need not walk them
    gc.set_threshold(*FRESH_GC_THRESHOLD)     # a pytest parent raises its own (plugin.py)
    atexit._clear()                   # the parent's; those its modules register on import:
    if "logging" in sys.modules:
        atexit.register(sys.modules["logging"].shutdown)
    import weakref
    weakref.finalize._registered_with_atexit = False    # registers again on the next use
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [getattr(sys.modules.get(serve.__module__), "__file__", sys.argv[0]), target]
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True,
                                  errors="backslashreplace")
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import faulthandler
    faulthandler.disable()
    if env.get("PYTHONFAULTHANDLER"):
        faulthandler.enable()
    sys.meta_path[:] = [f for f in sys.meta_path
                        if not type(f).__module__.startswith("_pytest")]
    warnings.resetwarnings()                             # the interpreter's own defaults
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning,
                     ResourceWarning):
        warnings.simplefilter("ignore", category, append=True)
    warnings._processoptions(sys.warnoptions)
    if "logging" in sys.modules:
        import logging
        for handler in list(logging.root.handlers):
            logging.root.removeHandler(handler)
        logging.root.setLevel(logging.WARNING)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
