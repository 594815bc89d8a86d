"""reference/initializers.py (names, fans, distributions, layer defaults) and
conformance/statistics_init.py (the check of initialized weights): the fast tests use NumPy
draws only; the two marked kc_oracle import Keras (dropped with --no-oracle)."""
import math

import numpy as np
import pytest

from conformance import statistics_init as si
from conformance.statistics_init import check_weights, min_elements, planted
from reference.config import OutOfScope
from reference.initializers import (
    CLASSES, LAYER_DEFAULTS, SPELLINGS, TRUNCATION, bias_pieces, distribution, fans,
    initializer_check, resolve, sample,
)


# fans ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, shape, expected", [
    ("scalar", (), (1, 1)),
    ("bias", (7,), (7, 7)),
    ("Dense (in, units)", (96, 64), (96, 64)),
    ("Embedding (input_dim, output_dim)", (1000, 16), (1000, 16)),
    ("Conv1D (k, in, filters)", (5, 8, 12), (40, 60)),
    ("Conv2D (kh, kw, in, filters)", (3, 2, 7, 5), (42, 30)),
    ("Conv3D (k, k, k, in, filters)", (2, 2, 2, 7, 5), (56, 40)),
    ("DepthwiseConv2D (kh, kw, in, multiplier)", (3, 2, 7, 2), (42, 12)),
    ("SeparableConv2D pointwise (1, 1, in * mult, filters)", (1, 1, 14, 5), (14, 5)),
    ("Conv2DTranspose (kh, kw, filters, in): fan_in counts filters", (3, 2, 5, 7), (30, 42)),
    ("LocallyConnected1D impl 1 (positions, k * in, filters)", (7, 21, 5), (147, 35)),
    ("LocallyConnected2D impl 1 (positions, kh * kw * in, filters)", (49, 42, 5),
     (2058, 245)),
    ("LocallyConnected1D impl 3 (nonzeros,)", (735,), (735, 735)),
    ("LSTM kernel (in, 4 units)", (7, 20), (7, 20)),
    ("LSTM recurrent (units, 4 units)", (5, 20), (5, 20)),
    ("GRU bias (2, 3 units)", (2, 15), (2, 15)),
    ("ConvLSTM2D kernel (kh, kw, in, 4 filters)", (3, 2, 7, 20), (42, 120)),
    ("ConvLSTM2D recurrent (kh, kw, filters, 4 filters)", (3, 2, 5, 20), (30, 120)),
])
def test_fans_of_every_kernel_kind(kind, shape, expected):
    assert fans(shape) == expected, kind


def test_fans_with_keras3_axes():
    assert fans((3, 4, 5), input_axes=[0, 1], output_axes=[2]) == (12, 5)
    assert fans((3, 4, 5), input_axes=[0]) == (12, 15)      # both needed, as in Keras 3


# resolve ------------------------------------------------------------------------------------

SNAKE = {"Zeros": "zeros", "Ones": "ones", "Constant": "constant",
         "RandomNormal": "random_normal", "RandomUniform": "random_uniform",
         "TruncatedNormal": "truncated_normal", "VarianceScaling": "variance_scaling",
         "GlorotNormal": "glorot_normal", "GlorotUniform": "glorot_uniform",
         "HeNormal": "he_normal", "HeUniform": "he_uniform", "LecunNormal": "lecun_normal",
         "LecunUniform": "lecun_uniform", "Orthogonal": "orthogonal", "Identity": "identity"}


@pytest.mark.parametrize("spec", ["keras3", "keras2"])
@pytest.mark.parametrize("class_name", CLASSES)
def test_resolve_every_class_and_snake_spelling(spec, class_name):
    for spelling in (class_name, SNAKE[class_name]):
        if class_name == "Constant" and spec == "keras3":
            with pytest.raises(ValueError, match="value"):
                resolve(spelling, spec)
            assert resolve({"class_name": spelling, "config": {"value": 2}}, spec) == \
                ("Constant", {"value": 2})
            continue
        assert resolve(spelling, spec)[0] == class_name
        assert resolve({"class_name": spelling, "config": {}}, spec)[0] == class_name


@pytest.mark.parametrize("spec", ["keras3", "keras2"])
def test_resolve_aliases_and_defaults(spec):
    axes = {"input_axes": None, "output_axes": None} if spec == "keras3" else {}
    assert resolve("normal", spec) == ("RandomNormal", {"mean": 0.0, "stddev": 0.05,
                                                        "seed": None})
    assert resolve("uniform", spec) == ("RandomUniform", {"minval": -0.05, "maxval": 0.05,
                                                          "seed": None})
    assert resolve("zero", spec) == ("Zeros", {})
    assert resolve("one", spec) == ("Ones", {})
    assert resolve("truncated_normal", spec)[1] == {"mean": 0.0, "stddev": 0.05, "seed": None}
    assert resolve("VarianceScaling", spec)[1] == {
        "scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal", "seed": None, **axes}
    assert resolve("glorot_uniform", spec)[1] == {"seed": None, **axes}
    assert resolve("orthogonal", spec)[1] == {"gain": 1.0, "seed": None}
    assert resolve("identity", spec)[1] == {"gain": 1.0}
    for unknown in ("Zero", "One", "glorotuniform", "Glorot_Uniform", "xavier_uniform", ""):
        with pytest.raises(ValueError):
            resolve(unknown, spec)


def test_resolve_where_keras2_and_keras3_differ():
    for name in ("IdentityInitializer", "OrthogonalInitializer"):
        assert resolve(name, "keras3")[0] == name.replace("Initializer", "")
        with pytest.raises(ValueError):
            resolve(name, "keras2")
    for name in ("GlorotUniformV2", "glorot_uniformV2", "ZerosV2", "IdentityV2", "ConstantV2",
                 "he_normalV2", "OrthogonalV2"):
        assert resolve(name, "keras2")[0] in CLASSES
        with pytest.raises(ValueError):
            resolve(name, "keras3")
    for name in ("identityV2", "constantV2", "zerosV2"):
        with pytest.raises(ValueError):
            resolve(name, "keras2")
    assert resolve("constant", "keras2") == ("Constant", {"value": 0})
    with pytest.raises(TypeError):
        resolve({"class_name": "GlorotUniform", "config": {"input_axes": [0]}}, "keras2")
    with pytest.raises(OutOfScope):
        resolve("STFT", "keras3")
    with pytest.raises(ValueError):
        resolve("STFT", "keras2")


def test_resolve_configs_as_keras_checks_them():
    full = {"module": "keras.initializers", "class_name": "VarianceScaling",
            "config": {"distribution": "Normal", "mode": "fan_avg"}, "registered_name": None}
    assert resolve(full, "keras3")[1]["distribution"] == "truncated_normal"
    for bad in ({"scale": 0.0}, {"mode": "fan_max"}, {"distribution": "cauchy"}):
        with pytest.raises(ValueError):
            resolve({"class_name": "VarianceScaling", "config": bad}, "keras3")
    with pytest.raises(TypeError):
        resolve({"class_name": "RandomUniform", "config": {"low": 0}}, "keras3")
    with pytest.raises(ValueError):
        resolve({"class_name": "Bogus", "config": {}}, "keras3")
    with pytest.raises(OutOfScope):
        resolve(lambda shape, dtype=None: None, "keras3")


# distribution -------------------------------------------------------------------------------

def test_distributions():
    glorot = distribution("GlorotUniform", {}, (96, 64))
    assert glorot["kind"] == "uniform" and glorot["high"] == pytest.approx(math.sqrt(6 / 160))
    assert (glorot["fan_in"], glorot["fan_out"], glorot["n"]) == (96, 64, 80.0)
    he = distribution("he_normal", {}, (3, 3, 16, 32))
    assert he["kind"] == "truncated_normal"
    assert he["stddev"] == pytest.approx(math.sqrt(2 / 144) / TRUNCATION)
    assert he["high"] == pytest.approx(2 * he["stddev"])
    plain = distribution("VarianceScaling", {"mode": "fan_out", "distribution":
                                             "untruncated_normal", "scale": 3.0}, (4, 6))
    assert plain == {"kind": "normal", "mean": 0.0, "stddev": pytest.approx(math.sqrt(0.5)),
                     "fan_in": 4, "fan_out": 6, "n": 6, "scale": 3.0, "mode": "fan_out"}
    axes = distribution("LecunUniform", {"input_axes": [0, 1], "output_axes": [2]}, (3, 4, 5))
    assert axes["fan_in"] == 12
    assert distribution("random_normal", {}, (3,)) == {"kind": "normal", "mean": 0.0,
                                                       "stddev": 0.05}
    assert distribution("Constant", {"value": 0.25}, (2,)) == {"kind": "exact",
                                                               "values": 0.25}
    assert distribution("Identity", {"gain": 2.0}, (2, 3))["values"] == [[2, 0, 0], [0, 2, 0]]
    with pytest.raises(ValueError):
        distribution("Identity", {}, (2, 2, 2))
    with pytest.raises(ValueError):
        distribution("Orthogonal", {}, (5,))
    assert distribution("Orthogonal", {"gain": 3.0}, (3, 3, 8, 32)) == {
        "kind": "orthogonal", "gain": 3.0, "rows": 72, "cols": 32}
    assert TRUNCATION == pytest.approx(math.sqrt(si.Law(distribution(
        "TruncatedNormal", {"stddev": 1.0}, (1,))).var), abs=1e-15)


def test_truncated_moments_by_quadrature():
    law = si.Law({"kind": "truncated_normal", "mean": 0.3, "stddev": 2.0, "low": -1.0,
                  "high": 4.5})
    t = np.linspace(-1.0, 4.5, 200001)
    density = np.exp(-((t - 0.3) / 2.0) ** 2 / 2)
    density /= np.trapezoid(density, t)
    mean = np.trapezoid(t * density, t)
    assert law.mu == pytest.approx(mean, rel=1e-9)
    assert law.var == pytest.approx(np.trapezoid((t - mean) ** 2 * density, t), rel=1e-8)
    assert law.mu4 == pytest.approx(np.trapezoid((t - mean) ** 4 * density, t), rel=1e-8)


# Layer defaults -----------------------------------------------------------------------------

def test_layer_defaults_and_the_lstm_bias():
    for spec in ("keras3", "keras2"):
        assert [w[0] for w in LAYER_DEFAULTS[spec]["SeparableConv2D"]] == [
            "depthwise_kernel", "pointwise_kernel", "bias"]
        assert LAYER_DEFAULTS[spec]["Embedding"] == [("embeddings", "embeddings_initializer",
                                                      "uniform")]
        assert LAYER_DEFAULTS[spec]["LSTM"][1] == ("recurrent_kernel", "recurrent_initializer",
                                                   "orthogonal")
    assert "LocallyConnected1D" in LAYER_DEFAULTS["keras2"]
    assert "LocallyConnected1D" not in LAYER_DEFAULTS["keras3"]
    check = initializer_check("LSTM", "keras3", {"units": 5}, [(7, 20), (5, 20), (20,)])
    bias = check["weights"][2]["distribution"]
    assert [p[:2] for p in bias["pieces"]] == [[0, 5], [5, 10], [10, 20]]
    assert sample(bias, (20,), np.random.default_rng(0)).tolist() == [0] * 5 + [1] * 5 + [0] * 10
    assert bias_pieces("GlorotUniform", {}, 4)["pieces"][2][2]["fan_in"] == 8
    check = initializer_check("Dense", "keras2", {"use_bias": False}, [(3, 4)])
    assert [w["name"] for w in check["weights"]] == ["kernel"]
    check = initializer_check("BatchNormalization", "keras3", {"center": False},
                              [(3,), (3,), (3,)])
    assert [w["name"] for w in check["weights"]] == ["gamma", "moving_mean", "moving_variance"]


# The check on correct draws -----------------------------------------------------------------

CORRECT = [("glorot_uniform", (96, 64)), ("glorot_normal", (3, 3, 16, 32)),
           ("he_uniform", (1, 1, 32, 24)), ("he_normal", (5, 8, 12)),
           ("lecun_normal", (500, 16)), ("random_normal", (40, 40)), ("uniform", (300, 4)),
           ("truncated_normal", (64,)), ("orthogonal", (32, 128)), ("orthogonal", (3, 3, 8, 16)),
           ("identity", (5, 7)), ("ones", (9,)), ("zeros", (2, 3))]


def _check(*entries):
    return {"kind": "initializers", "weights": [
        {"name": name, "shape": list(shape), "initializer": label, "distribution": dist}
        for name, shape, label, dist in entries]}


def test_correct_numpy_draws_pass():
    rng = np.random.default_rng(1)
    entries = [(f"w{i}", shape, name, distribution(*resolve(name, "keras3"), shape))
               for i, (name, shape) in enumerate(CORRECT)]
    entries.append(("bias", (40,), "lstm", bias_pieces("RandomUniform", {"minval": 0.5,
                                                                          "maxval": 2.0}, 10)))
    check = _check(*entries)
    for _ in range(30):
        weights = [sample(e[3], e[1], rng).astype(np.float32) for e in entries]
        assert check_weights(check, weights) is None


def test_float32_qr_is_within_the_orthogonal_bound():
    rng = np.random.default_rng(2)
    for m, k in [(5, 5), (64, 16), (300, 300)]:
        q, r = np.linalg.qr(rng.standard_normal((m, k)).astype(np.float32))
        assert q.dtype == np.float32
        w = (np.float32(1.5) * q * np.sign(np.diag(r))).T
        check = _check(("recurrent_kernel", w.shape, "orthogonal",
                        distribution("Orthogonal", {"gain": 1.5}, w.shape)))
        assert check_weights(check, [w]) is None


# The check on faults ------------------------------------------------------------------------

@pytest.mark.parametrize("fault", list(si.FAULTS))
def test_planted_faults_are_caught_at_min_elements(fault):
    elements, test = min_elements()[fault]
    rng = np.random.default_rng(3)
    for _ in range(20):
        check, weights = planted(fault, elements, rng)
        message = check_weights(check, weights)
        assert message is not None and message.startswith("kernel (")


def test_min_elements_figures():
    figures = min_elements()
    assert figures == {
        "glorot_uniform on fan_in only, fan_in:fan_out 3:2 (e.g. 96, 64)": (168, "reach"),
        "glorot_uniform on fan_in only, fan_in:fan_out 2:3 (e.g. 64, 96)": (124, "support"),
        "he_normal without the truncation correction": (435, "reach"),
        "orthogonal with unit rows, not orthogonal (LSTM recurrent kernel (u, 4u))":
            (64, "orthogonal")}
    assert all(n >= figures[f][0] for f, n in
               ((f, n) for f, (n, _) in min_elements(random_weights=10).items()))


def test_messages_name_the_weight_the_test_and_the_figures():
    rng = np.random.default_rng(4)
    dist = distribution("GlorotUniform", {}, (96, 64))
    check = _check(("bias", (64,), "zeros", distribution("Zeros", {}, (64,))),
                   ("kernel", (96, 64), "glorot_uniform", dist))
    zeros = np.zeros(64, np.float32)
    faulty = rng.uniform(-1, 1, (96, 64)) * math.sqrt(1 / 96) * 0.97   # fan_in, narrower
    message = check_weights(check, [zeros, faulty.astype(np.float32)])
    assert message.startswith("kernel (96, 64): ") and message.endswith(
        "for glorot_uniform (fan_in 96, fan_out 64)")
    half = rng.uniform(dist["low"], dist["high"], (96, 64)) * 0.5 + 0.99 * dist["high"] / 2
    assert "mean" in check_weights(check, [zeros, half.astype(np.float32)])
    var = rng.choice([-1, 1], (96, 64)) * rng.uniform(0.6, 1, (96, 64)) * dist["high"]
    assert "variance" in check_weights(check, [zeros, var.astype(np.float32)])
    good = sample(dist, (96, 64), rng).astype(np.float32)
    assert check_weights(check, [zeros, good[:, :63]]).startswith("kernel: shape (96, 63)")
    assert "expected 2 weights" in check_weights(check, [zeros])
    assert "expected 0" in check_weights(check, [zeros + np.float32(1e-30), good])
    good[3, 4] = np.nan
    assert check_weights(check, [zeros, good]).startswith("kernel (96, 64): element (3, 4)")


def test_exact_values_allow_their_float32_rounding_only():
    check = _check(("alpha", (3,), "constant", distribution("Constant", {"value": 0.1}, (3,))))
    assert check_weights(check, [np.full(3, 0.1, np.float32)]) is None
    off = np.nextafter(np.nextafter(np.float32(0.1), np.float32(1)), np.float32(1))
    assert "its float32 rounding" in check_weights(check, [np.full(3, off, np.float32)])


def test_normal_ks_catches_a_uniform_of_the_same_variance():
    rng = np.random.default_rng(5)
    dist = distribution("RandomNormal", {"stddev": 1.0}, (4000,))
    x = rng.uniform(-math.sqrt(3), math.sqrt(3), 4000).astype(np.float32)
    assert "Kolmogorov-Smirnov" in check_weights(_check(("w", (4000,), "normal", dist)), [x])


# Real Keras ---------------------------------------------------------------------------------

@pytest.mark.kc_oracle
def test_real_keras3_draws_pass_and_its_names_resolve_alike():
    keras = pytest.importorskip("keras")
    for spelling, class_name in SPELLINGS["keras3"].items():
        if class_name == "Constant":
            continue
        made = keras.initializers.get(spelling)
        assert type(made).__name__ == class_name, spelling
        config = {k: v for k, v in made.get_config().items()}
        assert {**resolve(spelling, "keras3")[1], **config} == resolve(spelling, "keras3")[1]
    shapes = [(96, 64), (3, 3, 16, 32), (32, 128), (200,)]
    for k, (spelling, class_name) in enumerate(sorted(SPELLINGS["keras3"].items())):
        if spelling != SNAKE.get(class_name) or class_name == "Constant":
            continue
        for shape in shapes[:3] if class_name not in ("Zeros", "Ones") else shapes[2:]:
            try:
                dist = distribution(class_name, {}, shape)
            except ValueError:
                continue
            config = {} if class_name in ("Zeros", "Ones", "Identity") else {"seed": 7 + k}
            init = keras.initializers.get({"class_name": class_name, "config": config})
            w = np.asarray(init(shape, dtype="float32"))
            assert check_weights(_check(("w", shape, spelling, dist)), [w]) is None, spelling


@pytest.mark.kc_oracle
def test_tf_keras_names_resolve_alike():
    tf_keras = pytest.importorskip("tf_keras")
    for spelling, class_name in SPELLINGS["keras2"].items():
        made = tf_keras.initializers.get(spelling)
        assert type(made).__name__ == class_name, spelling
        assert made.get_config() == resolve(spelling, "keras2")[1], spelling
    with pytest.raises(ValueError):
        tf_keras.initializers.get("IdentityInitializer")
