"""Draw every initializer of real Keras 3 (tf.keras) and of tf_keras (Keras 2) at the shapes of
each kernel kind, RUNS times with fresh random seeds, and build real layers RUNS times each
(their initializers unseeded), and count the false alarms of conformance/statistics_init.py
(expected 0: each case fails a correct Keras with probability at most 1e-6).

    python tools/init_false_alarms.py                 # both, 200 runs
    python tools/init_false_alarms.py --spec keras2 --runs 20
"""
import argparse
import os
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402

from conformance.statistics_init import check_weights  # noqa: E402
from reference.initializers import distribution, initializer_check, resolve  # noqa: E402

SHAPES = {                      # kernel kind -> a shape Keras stores
    "Dense (96, 64)": (96, 64), "Dense (64, 96)": (64, 96),
    "Conv1D (5, 8, 12)": (5, 8, 12), "Conv2D (3, 3, 16, 32)": (3, 3, 16, 32),
    "Conv3D (2, 2, 2, 8, 6)": (2, 2, 2, 8, 6), "Depthwise (3, 3, 16, 2)": (3, 3, 16, 2),
    "Pointwise (1, 1, 32, 24)": (1, 1, 32, 24), "Conv2DTranspose (3, 3, 8, 24)": (3, 3, 8, 24),
    "LocallyConnected1D (7, 21, 5)": (7, 21, 5), "Recurrent (32, 128)": (32, 128),
    "ConvLSTM2D recurrent (3, 3, 8, 32)": (3, 3, 8, 32), "Embedding (500, 16)": (500, 16),
    "bias (64,)": (64,),
}
INITIALIZERS = [
    "zeros", "ones", {"class_name": "Constant", "config": {"value": 0.375}}, "identity",
    {"class_name": "Identity", "config": {"gain": 2.5}}, "random_normal", "random_uniform",
    {"class_name": "RandomUniform", "config": {"minval": -3.0, "maxval": 0.5}},
    {"class_name": "RandomNormal", "config": {"mean": 1.0, "stddev": 2.0}}, "truncated_normal",
    {"class_name": "TruncatedNormal", "config": {"mean": -0.5, "stddev": 0.25}},
    "variance_scaling",
    {"class_name": "VarianceScaling", "config": {"mode": "fan_avg", "distribution": "uniform",
                                                 "scale": 2.0}},
    {"class_name": "VarianceScaling", "config": {"mode": "fan_out",
                                                 "distribution": "untruncated_normal"}},
    "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "lecun_normal",
    "lecun_uniform", "orthogonal", {"class_name": "Orthogonal", "config": {"gain": 1.5}},
]


def keras_modules(spec):
    if spec == "keras3":
        import keras
        return keras
    import tf_keras
    return tf_keras


def layers(keras, spec):
    """[(layer name, a factory, an input)] built RUNS times each."""
    L = keras.layers
    out = [("Dense", lambda: L.Dense(48), np.zeros((2, 80), "float32")),
           ("Conv2D", lambda: L.Conv2D(16, 3), np.zeros((1, 6, 6, 12), "float32")),
           ("Conv2DTranspose", lambda: L.Conv2DTranspose(12, 3), np.zeros((1, 5, 5, 8), "float32")),
           ("SeparableConv2D", lambda: L.SeparableConv2D(24, 3, depth_multiplier=2),
            np.zeros((1, 6, 6, 8), "float32")),
           ("LSTM", lambda: L.LSTM(32), np.zeros((1, 3, 24), "float32")),
           ("GRU", lambda: L.GRU(32), np.zeros((1, 3, 24), "float32")),
           ("SimpleRNN", lambda: L.SimpleRNN(32), np.zeros((1, 3, 24), "float32")),
           ("ConvLSTM2D", lambda: L.ConvLSTM2D(8, 3), np.zeros((1, 2, 5, 5, 4), "float32")),
           ("Embedding", lambda: L.Embedding(300, 16), np.zeros((1, 3), "int32")),
           ("PReLU", lambda: L.PReLU(), np.zeros((1, 4, 5), "float32")),
           ("BatchNormalization", lambda: L.BatchNormalization(), np.zeros((2, 6), "float32"))]
    if spec == "keras2":
        out += [("LocallyConnected1D", lambda: L.LocallyConnected1D(6, 3),
                 np.zeros((1, 9, 10), "float32")),
                ("LocallyConnected2D", lambda: L.LocallyConnected2D(4, 2),
                 np.zeros((1, 5, 5, 6), "float32"))]
    return out


def with_seed(identifier, seed):
    """The identifier as a dict, with `seed` where the initializer takes one."""
    if isinstance(identifier, str):
        identifier = {"class_name": identifier, "config": {}}
    config = dict(identifier["config"])
    if resolve(identifier, "keras3")[0] not in ("Zeros", "Ones", "Constant", "Identity"):
        config["seed"] = seed
    return {"class_name": identifier["class_name"], "config": config}


def run_initializers(keras, spec, runs, rng, totals):
    for identifier in INITIALIZERS:
        label = identifier if isinstance(identifier, str) else \
            f"{identifier['class_name']}{identifier['config']}"
        class_name, config = resolve(identifier, spec)
        checked, alarms = 0, 0
        for kind, shape in SHAPES.items():
            try:
                dist = distribution(class_name, config, shape)
            except ValueError:
                continue                          # Identity beyond 2-D, Orthogonal on 1-D
            check = {"kind": "initializers", "weights": [
                {"name": "w", "shape": list(shape), "initializer": label, "distribution": dist}]}
            checked += 1
            for _ in range(runs):
                init = keras.initializers.get(with_seed(identifier, int(rng.integers(2**31))))
                w = np.asarray(init(shape, dtype="float32"))
                message = check_weights(check, [w])
                if message:
                    alarms += 1
                    print(f"  ALARM {spec} {label} {kind}: {message}", flush=True)
            totals[0] += runs
        totals[1] += alarms
        print(f"{spec} {label}: {alarms} alarms in {checked} shapes x {runs} draws", flush=True)


def run_layers(keras, spec, runs, totals):
    for name, make, x in layers(keras, spec):
        alarms, repeats, previous = 0, 0, None
        for _ in range(runs):
            layer = make()
            layer(x)
            weights = [np.asarray(w) for w in layer.get_weights()]
            check = initializer_check(name, spec, layer.get_config(),
                                      [w.shape for w in weights])
            message = check_weights(check, weights)
            if message:
                alarms += 1
                print(f"  ALARM {spec} layer {name}: {message}", flush=True)
            random = check["weights"][0]["distribution"]["kind"] != "exact"
            if random and previous is not None and np.array_equal(previous, weights[0]):
                repeats += 1                      # an unseeded layer drew what the last did
            previous = weights[0]
        totals[0] += runs
        totals[1] += alarms
        labels = [w["initializer"] for w in check["weights"]]
        print(f"{spec} layer {name} {[w['name'] for w in check['weights']]} {labels}: {alarms} "
              f"alarms in {runs}" + (f" ({repeats} repeated draws)" if repeats else ""),
              flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", choices=("keras3", "keras2", "both"), default="both")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    seed = int.from_bytes(os.urandom(4), "little")
    print(f"seeds drawn from numpy default_rng({seed})")
    rng = np.random.default_rng(seed)
    failed = 0
    for spec in (("keras3", "keras2") if args.spec == "both" else (args.spec,)):
        start, totals = time.time(), [0, 0]
        keras = keras_modules(spec)
        run_initializers(keras, spec, args.runs, rng, totals)
        run_layers(keras, spec, args.runs, totals)
        print(f"TOTAL {spec} ({'keras ' + keras.__version__}): {totals[1]} false alarms in "
              f"{totals[0]} checks, {time.time() - start:.0f} s", flush=True)
        failed += totals[1]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
