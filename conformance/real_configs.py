"""Real layers from real models through the reference: every layer of a keras.applications
model (built with weights=None) that the suite has a spec for, with its own get_config(),
get_weights() and input shape, against the Keras layer's own output on unit inputs.

    python -m conformance.real_configs --keras tf.keras MobileNet MobileNetV3Small
    python -m conformance.real_configs --keras tf_keras MobileNet

Prints one line per layer class (layers run, passed, failed, outside the suite's scope, and
exceptions, which must be none) and exits 1 if any layer raised or failed. It imports the
chosen Keras in this process: a developer's tool, not part of a candidate run.
"""
import argparse
import sys
from collections import Counter

import numpy as np

from conformance import specs
from conformance.case import Case
from conformance.cases import with_expected
from conformance.compare import compare_case
from conformance.models import applications, filled, load, real_config, walk
from conformance.oracles import ORACLES
from conformance.regimes import Regime


def check_layer(keras_spec, layer, shapes, rng):
    """(status, message) for one real layer called on `shapes` (batch and unknown sizes
    filled: models.filled): passed, failed, outside the scope or exception."""
    name = type(layer).__name__
    spec = specs.SPECS[name]
    xs = [Regime("unit", rng).values(filled(shape)) for shape in shapes]
    x = xs[0] if len(xs) == 1 else xs                  # a merge: several
    case = Case(id=layer.name, layer=name, spec=keras_spec, params={},
                config=real_config(layer), inputs=xs,
                weights=[np.asarray(w) for w in layer.get_weights()])
    try:
        case = with_expected(spec, case)
    except Exception as exc:  # noqa: BLE001 - what this tool exists to find
        return "exception", f"{type(exc).__name__}: {exc}"
    if case.out_of_scope:
        return "outside the scope", case.out_of_scope
    got = x if name == "InputLayer" else layer(x)
    outcome = compare_case(case, [np.asarray(got)])
    return outcome.status, outcome.message


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m conformance.real_configs",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", help="keras.applications names (MobileNet, ...)")
    parser.add_argument("--all", action="store_true", help="every keras.applications builder")
    parser.add_argument("--keras", choices=sorted(ORACLES.values()), default="tf.keras")
    parser.add_argument("--input-size", type=int, default=None,
                        help="height and width (default: each application's own)")
    args = parser.parse_args(argv)
    prefix = "tf_keras.applications." if args.keras == "tf_keras" else "keras.applications."
    rng = np.random.default_rng(0)
    counts, problems, no_spec = {}, [], Counter()
    names = applications(args.keras == "tf_keras") if args.all else args.models
    for model_name in names:
        keras, keras_spec, model = load(prefix + model_name, args.input_size)
        for _, layer, shapes in walk(model):
            name = type(layer).__name__
            if name not in specs.SPECS or keras_spec not in specs.SPECS[name].keras_specs:
                no_spec[name] += 1
                continue
            status, message = check_layer(keras_spec, layer, shapes, rng)
            counts.setdefault(name, Counter())[status] += 1
            if status in ("exception", "failed"):
                problems.append(f"{model_name}/{layer.name} ({name}): {status}: {message}")
        keras.backend.clear_session()
    for name, c in sorted(counts.items()):
        print(f"{name:<20} " + ", ".join(f"{n} {s}" for s, n in sorted(c.items())))
    for p in problems:
        print(p)
    if no_spec:
        print("no spec: " + ", ".join(f"{name} ({n})" for name, n in no_spec.most_common()))
    print(f"{sum(sum(c.values()) for c in counts.values())} layers with a spec in "
          f"{len(names)} models; {len(problems)} raised or failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
