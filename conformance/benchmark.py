"""How fast the golden cases run: cases per second for given candidates, serial and with
xdist workers, median of several whole pytest runs (start-up included, as CI sees it); the
same runs with the live property tests added (seconds); and the steady per-case rate of one
candidate process (start-up excluded).

    python -m conformance.benchmark                       # reference and tf.keras, -n 0 and -n 2
    python -m conformance.benchmark --candidates keras-jax --workers 0 2 --repeat 5
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
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


def steady_rate(candidate, repeat):
    """(cases per second of one warm candidate process over every golden case, median of
    runs; how many cases raised, crashed or hung in the last run). A case the candidate raises
    on (tf.keras's AlphaDropout in training) is that case's outcome and counts like any other;
    a crash or hang restarts the process on the next case, as in a run of the suite."""
    from conformance import fixtures
    from conformance.candidates import BUILTINS
    from conformance.candidates.isolation import CandidateError, IsolatedCandidate
    spec = BUILTINS[candidate]().spec if candidate in BUILTINS else "keras3"
    cases, _ = fixtures.load_all(fixtures.default_root(), spec)
    cases = [c for c in cases if not c.out_of_scope]
    isolated = IsolatedCandidate(candidate)
    methods = isolated.start()["methods"]
    rates = []
    for _ in range(repeat):
        failures = {}
        started = time.perf_counter()
        for case in cases:
            try:        # what a golden test asks, in its one round trip
                isolated.answer(case, bool(case.observed) and "observe" in methods,
                                case.expected_mask is not None and "compute_mask" in methods)
            except CandidateError as exc:
                failures[exc.kind] = failures.get(exc.kind, 0) + 1
        rates.append(len(cases) / (time.perf_counter() - started))
    isolated.close()
    return statistics.median(rates), failures


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
    return 0


if __name__ == "__main__":
    sys.exit(main())
