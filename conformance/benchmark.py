"""How fast the golden cases run: cases per second for given candidates, serial and with
xdist workers, median of several whole pytest runs (start-up included, as CI sees it); the
same runs with the live property tests added (seconds); the steady per-case rate of one
candidate process (start-up excluded); and, for the most workers asked, as many warm processes
answering at once with no pytest around them: the rate the candidate itself allows.

    python -m conformance.benchmark                       # reference and tf.keras, -n 0 and -n 2
    python -m conformance.benchmark --candidates keras-jax --workers 0 2 --repeat 5
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path


def whole_run(candidate, workers, live=False):
    """Seconds for one `pytest --candidate ... -n workers` over the golden cases (and the live
    property tests), and the number of golden cases."""
    with tempfile.TemporaryDirectory() as reports:
        select = [] if live else ["-k", "test_golden_case"]
        command = [sys.executable, "-m", "pytest", "--pyargs", "conformance.test_candidate",
                   *select, "--no-oracle", "--candidate", candidate,
                   "-n", str(workers), "--report-dir", reports, "-q", "-p", "no:cacheprovider",
                   "-p", "no:benchmark"]
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        seconds = time.perf_counter() - started
        matrices = list(Path(reports).glob("*/matrix.json"))
        cases = sum(json.loads(matrices[0].read_text())["summary"].values()) if matrices else 0
    return seconds, cases


def steady_rate(candidate, repeat, processes=1, cases=None):
    """(cases per second of warm candidate processes over every golden case (or `cases`),
    median of runs; how many cases raised, crashed or hung in the last run). A case the
    candidate raises on (tf.keras's AlphaDropout in training) is that case's outcome and
    counts like any other; a crash or hang restarts the process on the next case, as in a run
    of the suite. With `processes` > 1, that many warm processes answer an interleaved share
    each, at the same time, with no pytest around them: the rate `-n processes` could reach
    if the harness cost nothing, the candidate's own ceiling on this machine."""
    from conformance.candidates.isolation import IsolatedCandidate
    if cases is None:
        cases = golden_cases(candidate)
    isolated = [IsolatedCandidate(candidate) for _ in range(processes)]
    for p in isolated:
        p.start()                                   # start-up excluded
    methods = isolated[0].info["methods"]
    rates = []
    for _ in range(repeat):
        counts = [Counter() for _ in isolated]      # one a thread, added up once all are done
        shares = [threading.Thread(target=_answer_all, args=(p, cases[i::processes],
                                                             methods, counts[i]))
                  for i, p in enumerate(isolated)]
        started = time.perf_counter()
        for share in shares:
            share.start()
        for share in shares:
            share.join()
        rates.append(len(cases) / (time.perf_counter() - started))
    for p in isolated:
        p.close()
    return statistics.median(rates), dict(sum(counts, Counter()))


def golden_cases(candidate):
    """The golden cases of the candidate's Keras spec that are in the suite's scope."""
    from conformance import fixtures
    from conformance.candidates import BUILTINS
    spec = BUILTINS[candidate]().spec if candidate in BUILTINS else "keras3"
    cases, _ = fixtures.load_all(fixtures.default_root(), spec)
    return [c for c in cases if not c.out_of_scope]


def _answer_all(isolated, cases, methods, failures):
    """Each case asked as a golden test asks it, in its one round trip; the cases that raised,
    crashed or hung counted in `failures` by kind."""
    from conformance.candidates.isolation import CandidateError
    for case in cases:
        try:
            isolated.answer(case, bool(case.observed) and "observe" in methods,
                            case.expected_mask is not None and "compute_mask" in methods)
        except CandidateError as exc:
            failures[exc.kind] += 1


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m conformance.benchmark")
    parser.add_argument("--candidates", nargs="+", default=["reference", "tf.keras"])
    parser.add_argument("--workers", nargs="+", type=int, default=[0, 2])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{'candidate':<14} {'workers':>7} {'cases':>6} {'median s':>9} {'cases/s':>8}"
          f" {'+live s':>8}  golden runs (s)")
    for candidate in args.candidates:
        for workers in args.workers:
            runs = [whole_run(candidate, workers) for _ in range(args.repeat)]
            with_live = statistics.median(whole_run(candidate, workers, live=True)[0]
                                          for _ in range(args.repeat))
            seconds = statistics.median(s for s, _ in runs)
            cases = runs[0][1]
            print(f"{candidate:<14} {workers:>7} {cases:>6} {seconds:>9.2f} "
                  f"{cases / seconds:>8.1f} {with_live:>8.2f}  "
                  f"{' '.join(f'{s:.2f}' for s, _ in runs)}", flush=True)
        rate, failures = steady_rate(candidate, args.repeat)
        raised = ", ".join(f"{n} {kind}" for kind, n in sorted(failures.items())) or "none"
        print(f"{candidate:<14} {'warm':>7} {'':>6} {'':>9} {rate:>8.1f}  (one warm process, "
              f"start-up excluded; cases that raised, crashed or hung: {raised})", flush=True)
        processes = max(args.workers)
        if processes > 1:
            rate, _ = steady_rate(candidate, args.repeat, processes)
            print(f"{candidate:<14} {f'warm x{processes}':>7} {'':>6} {'':>9} {rate:>8.1f}  "
                  f"({processes} warm processes at once, no pytest: the candidate's own "
                  f"ceiling for -n {processes})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
