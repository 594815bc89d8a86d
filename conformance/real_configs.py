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
import os
import sys
from collections import Counter

import numpy as np

from conformance import specs
from conformance.case import Case
from conformance.cases import with_expected
from conformance.compare import compare_case
from conformance.models import real_config
from conformance.oracles import ORACLES
from conformance.regimes import Regime


def _keras(name):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if name == "tf_keras":
        import tf_keras
        return tf_keras, "keras2"
    import tensorflow as tf
    return tf.keras, "keras3"


def check_layer(keras, keras_spec, layer, rng):
    """(status, message) for one real layer: passed, failed, outside the scope or exception."""
    name = type(layer).__name__
    spec = specs.SPECS[name]
    config = real_config(layer)
    tensors = layer.output if name == "InputLayer" else layer.input
    tensors = tensors if isinstance(tensors, (list, tuple)) else [tensors]  # a merge: several
    # an unknown batch is 2, an unknown spatial size 8: enough for the 'valid' 5x5 depthwise
    # convolutions MobileNetV3 runs on inputs of unknown size (2 would leave them empty)
    xs = [Regime("unit", rng).values(tuple((8 if k else 2) if d is None else d
                                           for k, d in enumerate(t.shape)))
          for t in tensors]
    x = xs[0] if len(xs) == 1 else xs
    case = Case(id=layer.name, layer=name, spec=keras_spec, params={}, config=config,
                inputs=xs, weights=[np.asarray(w) for w in layer.get_weights()])
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
    parser.add_argument("models", nargs="+", help="keras.applications names (MobileNet, ...)")
    parser.add_argument("--keras", choices=sorted(ORACLES.values()), default="tf.keras")
    args = parser.parse_args(argv)
    keras, keras_spec = _keras(args.keras)
    rng = np.random.default_rng(0)
    counts, problems = {}, []
    for model_name in args.models:
        model = getattr(keras.applications, model_name)(weights=None)
        for layer in model.layers:
            name = type(layer).__name__
            if name not in specs.SPECS:
                continue
            status, message = check_layer(keras, keras_spec, layer, rng)
            counts.setdefault(name, Counter())[status] += 1
            if status in ("exception", "failed"):
                problems.append(f"{model_name}/{layer.name} ({name}): {status}: {message}")
        keras.backend.clear_session()
    for name, c in sorted(counts.items()):
        print(f"{name:<20} " + ", ".join(f"{n} {s}" for s, n in sorted(c.items())))
    for p in problems:
        print(p)
    print(f"{sum(sum(c.values()) for c in counts.values())} layers with a spec in "
          f"{len(args.models)} models; {len(problems)} raised or failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
