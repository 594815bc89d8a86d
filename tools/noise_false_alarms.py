"""Run every training check of the random layers' fixture cases RUNS times in a row on real
Keras draws (fresh seeds: the layer's seed set to 1000 + run) and on the reference's correct
draw (numpy seeds 0..RUNS-1), and count the false alarms.

    python tools/noise_false_alarms.py --candidate tf.keras --spec keras3   # shipped fixtures
"""
import argparse
import dataclasses
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402

from conformance import fixtures, specs, statistics  # noqa: E402
from conformance.candidates import load  # noqa: E402

LAYERS = ("GaussianNoise", "GaussianDropout", "AlphaDropout")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidate", default="tf.keras")
    parser.add_argument("--spec", default="keras3")
    parser.add_argument("--fixtures", default=str(fixtures.default_root()))
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    candidate = load(args.candidate)
    cases, problems = fixtures.load_all(args.fixtures, args.spec)
    assert not problems, problems
    cases = [c for c in cases if c.layer in LAYERS and c.check is not None]
    skipped = [c.id for c in cases if specs.get(c.layer).divergence_for(candidate.name, c)]
    cases = [c for c in cases if c.id not in skipped]
    print(f"skipped (a known divergence of {args.candidate}): {skipped}")
    start, total = time.time(), {"keras": [0, 0], "reference": [0, 0]}
    for case in cases:
        alarms = {"keras": 0, "reference": 0}
        for run in range(args.runs):
            fresh = dataclasses.replace(case, config={**case.config, "seed": 1000 + run})
            got = candidate.run(fresh)
            outcome = statistics.check(case.check, case.inputs, got)
            if outcome.status != "passed":
                alarms["keras"] += 1
                print(f"  ALARM {args.candidate} {case.id} run {run}: {outcome.message}")
            mine = statistics.sample(case.check, case.inputs, np.random.default_rng(run))
            mine = [np.asarray(y, np.float32) for y in mine]
            outcome = statistics.check(case.check, case.inputs, mine)
            if outcome.status != "passed":
                alarms["reference"] += 1
                print(f"  ALARM reference {case.id} run {run}: {outcome.message}")
        for who in alarms:
            total[who][0] += args.runs
            total[who][1] += alarms[who]
        print(f"{args.spec} {case.id} {case.check}: {args.candidate} {alarms['keras']} alarms "
              f"in {args.runs}, reference {alarms['reference']} in {args.runs}", flush=True)
    print(f"TOTAL {args.candidate} ({args.spec}, {len(cases)} cases): "
          f"{total['keras'][1]} false alarms in {total['keras'][0]} checks; reference "
          f"{total['reference'][1]} in {total['reference'][0]}; {time.time() - start:.0f} s")
    return 1 if total["keras"][1] or total["reference"][1] else 0


if __name__ == "__main__":
    sys.exit(main())
