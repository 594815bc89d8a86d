"""Specs of the random regularisation layers: GaussianNoise, GaussianDropout, AlphaDropout.

Inference (training False, or not passed: Keras 3's default is False, tf_keras's the learning
phase, 0 outside fit) is the identity, exactly. In training the output is random: a case
carries a statistical check (conformance/statistics_noise.py, which states and bounds each
check's false-alarm probability at 1e-6 per case) in place of expected values; where the layer
does nothing in training (stddev 0, rate 0, and in tf_keras a rate outside (0, 1)) it is the
identity again, exactly.

Regimes: inference reaches unit, large, tiny and special (the identity must carry subnormals,
NaN and infinities); training reaches unit, offset (the noise is small beside x, so the
float32 sum or product rounds it: the checks' slack) and special (non-finite x stay out of the
statistics, their outputs are checked as such). Case sizes in training follow the planted
faults the checks must catch (statistics_noise.miss_probability): GaussianDropout with std
sqrt(rate) for sqrt(rate / (1 - rate)) has variance (1 - rate) times too small, which 4096
draws catch at rate 0.25 (missed with probability < 1e-7, where a fifth of the inputs are
special), 1024 at rate 0.5 and 512 at 0.9; GaussianNoise's variance in place of its std
(stddev 0.1, 0.5, 2) is caught by 512 draws (missed < 1e-28). AlphaDropout's values identify
every element.

noise_shape (AlphaDropout) is reached by edge cases, not the drawn domains: tf.keras 2.21's
AlphaDropout is Keras's legacy class (keras/src/legacy/layers.py, lines 15-58), whose
get_config() drops noise_shape, as tf_keras's does (tf_keras/src/layers/regularization/
alpha_dropout.py, get_config); so a layer rebuilt from either's complete config draws per
element, and the oracle test that the complete config gives the compact config's answer cannot
hold for noise_shape. The legacy class also refuses a None entry (Keras 3's own AlphaDropout
takes it from x): a known divergence of tf.keras, vouched for by Keras 3 on JAX.
"""
import numpy as np

import reference
from conformance import tolerance
from conformance.spec import Divergence, Expected, LayerSpec, Reject

TRAINING_REGIMES = ("unit", "offset", "special")
INFERENCE_REGIMES = ("unit", "large", "tiny", "special")
REGIMES = ("unit", "large", "tiny", "offset", "special")
TRAINING = (False, True, "absent")              # "absent": the call passes no training
RATES = (0.0, 0.25, 0.5, 0.9)
GAUSSIAN_DROPOUT_DRAWS = {0.25: 4096, 0.5: 1024, 0.9: 512}
GAUSSIAN_NOISE_DRAWS = 512


def _valid(params):
    training = params["training"] is True
    return params["regime"] in (TRAINING_REGIMES if training else INFERENCE_REGIMES)


def _call_kwargs(params, shapes, rng):
    return {} if params["training"] == "absent" else {"training": params["training"]}


def _shape(params, rng, draws):
    """(batch, steps, 16) holding at least `draws` elements in training; small at inference."""
    if params["training"] is True:
        batch = int(rng.integers(2, 5))
        return (batch, -(-draws // (16 * batch)), 16)
    return tuple(int(d) for d in rng.integers(1, 6, size=3))


def _noise_expect(fn, kind, random, keys, dummy):
    """expect(): the identity where the layer does nothing (inference, or training where
    `random(config)` is False); else the check {"kind": kind, keys from the config}. The
    reference runs in both cases, so that what Keras refuses raises here too."""
    def expect(case):
        x = case.inputs[0]
        training = case.call_kwargs.get("training", False)
        with np.errstate(invalid="ignore", over="ignore"):
            y = fn(x, **case.config, training=training, spec=case.spec,
                   **{dummy: np.zeros(np.shape(x))})
        if not (training and random(case.config, case.spec)):
            return Expected([y], [tolerance.exact()])
        return Expected([], [], check={"kind": kind, **{k: case.config.get(k) for k in keys}})
    return expect


def _within(rate, spec):
    return 0 < rate < 1


# GaussianNoise --------------------------------------------------------------------------------

def _gaussian_noise_make(params, rng):
    return ({"stddev": params["stddev"], "seed": params["seed"]},
            [_shape(params, rng, GAUSSIAN_NOISE_DRAWS)])


GAUSSIAN_NOISE = LayerSpec(
    layer="GaussianNoise",
    domains={"stddev": (0.0, 0.1, 0.5, 1.0, 2.0), "seed": (None, 1337), "training": TRAINING,
             "regime": REGIMES},
    spec_values=(("stddev", 2.0, ("keras2",)),),          # Keras 3 refuses stddev > 1
    make=_gaussian_noise_make, valid=_valid, call_kwargs=_call_kwargs,
    expect=_noise_expect(reference.gaussian_noise, "gaussian_noise",
                         lambda config, spec: config["stddev"] != 0, ("stddev",), "noise"),
    edge_cases=(({"stddev": 0.5, "seed": None, "training": False, "regime": "special"},
                 [(1, 1, 1)]),
                # tf_keras takes a negative stddev: noise -|s| z, the same distribution
                ({"stddev": -1.0, "seed": None, "training": True, "regime": "unit"}, None,
                 ("keras2",)),
                ({"stddev": 0.1, "seed": 1337, "training": True, "regime": "special"}, None)),
    rejects=(Reject({"stddev": 1.5}, ((2, 3),), "Keras 3 refuses a stddev above 1",
                    ("keras3",)),
             Reject({"stddev": -0.5}, ((2, 3),), "Keras 3 refuses a negative stddev",
                    ("keras3",))),
)


# GaussianDropout ------------------------------------------------------------------------------

def _gaussian_dropout_make(params, rng):
    return ({"rate": params["rate"], "seed": params["seed"]},
            [_shape(params, rng, GAUSSIAN_DROPOUT_DRAWS.get(params["rate"], 64))])


GAUSSIAN_DROPOUT = LayerSpec(
    layer="GaussianDropout",
    domains={"rate": RATES, "seed": (None, 1337), "training": TRAINING, "regime": REGIMES},
    make=_gaussian_dropout_make, valid=_valid, call_kwargs=_call_kwargs,
    expect=_noise_expect(reference.gaussian_dropout, "gaussian_dropout",
                         lambda config, spec: _within(config["rate"], spec), ("rate",), "noise"),
    edge_cases=(({"rate": 1.0, "seed": None, "training": False, "regime": "unit"},
                 [(1, 1, 1)]),
                # tf_keras is the identity at rate 1 in training; Keras 3 refuses it (rejects)
                ({"rate": 1.0, "seed": None, "training": True, "regime": "special"},
                 [(2, 3, 4)], ("keras2",)),
                ({"rate": 0.25, "seed": None, "training": True, "regime": "special"}, None)),
    rejects=(Reject({"rate": 1.5}, ((2, 3),), "Keras 3 refuses a rate above 1", ("keras3",)),
             Reject({"rate": -0.25}, ((2, 3),), "Keras 3 refuses a negative rate",
                    ("keras3",)),
             Reject({"rate": 1.0}, ((2, 3),), "Keras 3 divides by zero at rate 1 in training "
                    "(ZeroDivisionError from sqrt(rate / (1 - rate)))", ("keras3",),
                    call_kwargs={"training": True})),
)


# AlphaDropout ---------------------------------------------------------------------------------

def _alpha_dropout_make(params, rng):
    if params["training"] is True:
        shape = (int(rng.integers(4, 7)), int(rng.integers(8, 17)), 16)
    else:
        shape = _shape(params, rng, 0)
    noise_shape = {None: None, "shared_over_time": [shape[0], 1, shape[2]],
                   "batch_none": [None, 1, shape[2]]}[params["noise_shape"]]
    return {"rate": params["rate"], "noise_shape": noise_shape, "seed": params["seed"]}, [shape]


def _no_batch_entry(case):
    """The legacy AlphaDropout of tf.keras 2.21 (keras/src/legacy/layers.py line 37) hands
    noise_shape to the uniform draw as it is: a None entry raises."""
    shape = case.config.get("noise_shape")
    return (case.call_kwargs.get("training") is True and 0 < case.config["rate"] < 1
            and shape is not None and None in shape)


def _edge(rate, noise_shape, training, regime, specs=("keras3", "keras2"), shapes=None):
    return ({"rate": rate, "noise_shape": noise_shape, "seed": None, "training": training,
             "regime": regime}, shapes, specs)


ALPHA_DROPOUT = LayerSpec(
    layer="AlphaDropout",
    domains={"rate": RATES, "noise_shape": (None,), "seed": (None, 1337),
             "training": TRAINING, "regime": REGIMES},
    make=_alpha_dropout_make, valid=_valid, call_kwargs=_call_kwargs,
    expect=_noise_expect(reference.alpha_dropout, "alpha_dropout",
                         lambda config, spec: _within(config["rate"], spec),
                         ("rate", "noise_shape"), "keep"),
    edge_cases=(_edge(0.5, "shared_over_time", True, "unit"),
                _edge(0.25, "shared_over_time", True, "special"),
                _edge(0.9, "shared_over_time", True, "offset"),
                _edge(0.5, "shared_over_time", False, "tiny"),
                _edge(0.5, "batch_none", True, "unit", ("keras3",)),
                _edge(1.0, None, False, "unit", shapes=[(1, 1, 1)]),
                # tf_keras is the identity at rate 1 in training; Keras 3 refuses it (rejects)
                _edge(1.0, None, True, "special", ("keras2",), [(2, 3, 4)])),
    rejects=(Reject({"rate": 1.0}, ((2, 3),), "Keras 3 raises at rate 1 in training "
                    "(ZeroDivisionError: 0.0 ** -0.5)", ("keras3",),
                    call_kwargs={"training": True}),
             Reject({"rate": 1.5}, ((2, 3),), "Keras 3 refuses a rate above 1 (tf.keras's "
                    "legacy class accepts it and raises in training: a complex scale)",
                    ("keras3",), call_kwargs={"training": True}),
             Reject({"rate": 0.5, "noise_shape": [None, 1, 3]}, ((2, 2, 3),), "tf_keras "
                    "cannot draw a noise_shape with a None entry", ("keras2",),
                    call_kwargs={"training": True})),
    divergences=(Divergence(
        candidates=("tf.keras",), when=_no_batch_entry,
        reason="tf.keras's AlphaDropout is Keras's legacy class: a None entry in noise_shape "
               "raises",
        evidence="keras/src/legacy/layers.py lines 34-41 (Keras 3.15.1, tf.keras of TensorFlow "
                 "2.21) pass noise_shape to backend.random.uniform as it is: AlphaDropout(0.5, "
                 "noise_shape=[None, 1, 4]) on ones((2, 3, 4)) in training raises ValueError "
                 "'Attempt to convert a value (None) with an unsupported type'; Keras 3's "
                 "keras.layers.AlphaDropout (keras-jax, keras-torch, keras-numpy) takes the "
                 "None entry from the input's shape."),),
)
