"""The statistical check of random outputs from both sides: correct draws pass, and each way
a Dropout in training can be wrong fails."""
import numpy as np
import pytest

from conformance import statistics

X = np.random.default_rng(0).standard_normal((6, 30, 10)).astype(np.float32)


def check(y, rate=0.5, noise_shape=None):
    spec = {"kind": "dropout", "rate": rate, "noise_shape": noise_shape}
    return statistics.check(spec, [X], [y])


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.9])
@pytest.mark.parametrize("noise_shape", [None, [6, 1, 10], [6, 30, 1]])
@pytest.mark.parametrize("seed", range(3))
def test_correct_draws_pass(rate, noise_shape, seed):
    spec = {"kind": "dropout", "rate": rate, "noise_shape": noise_shape}
    y = statistics.sample(spec, [X], np.random.default_rng(seed))[0].astype(np.float32)
    outcome = statistics.check(spec, [X], [y])
    assert outcome.status == "passed", outcome.message


def draw(rate, shape=X.shape, seed=1):
    return np.broadcast_to(np.random.default_rng(seed).random(shape) >= rate, X.shape)


def test_wrong_scale_fails():
    y = X * draw(0.5) / 0.5 * (1 + 1e-5)
    assert "neither 0 nor" in check(y).message


def test_no_rescaling_fails():
    assert check(X * draw(0.5)).status == "failed"


def test_the_wrong_rate_fails():
    outcome = check(X * draw(0.3) / 0.5)      # drops 30 % while rate says 50 %
    assert outcome.status == "failed" and "draws dropped" in outcome.message


def test_dropping_nothing_in_training_fails():
    assert check(X / 0.5).status == "failed"


def test_ignoring_noise_shape_fails():
    y = X * draw(0.5) / 0.5                    # a fresh draw per element
    outcome = check(y, noise_shape=[6, 1, 10])
    assert outcome.status == "failed" and "partly kept and partly dropped" in outcome.message


def test_nan_fails():
    y = (X * draw(0.5) / 0.5).copy()
    y[0, 0, 0] = np.nan
    assert check(y).status == "failed"


@pytest.mark.parametrize("rate", [0.25, 0.5, 0.9])
def test_an_engine_rounding_rate_to_float32_first_passes(rate):
    keep = draw(rate)
    scale = np.float32(1) / (np.float32(1) - np.float32(rate))
    assert check((X * keep * scale).astype(np.float32), rate=rate).status == "passed"


def test_input_zeros_are_not_counted_as_drops():
    """An element whose input is 0 gives 0 kept or dropped: it says nothing about its draw."""
    x = X.copy()
    x[:, :15] = 0                              # half the inputs are exact zeros
    spec = {"kind": "dropout", "rate": 0.5, "noise_shape": None}
    y = statistics.sample(spec, [x], np.random.default_rng(3))
    assert statistics.check(spec, [x], y).status == "passed"


def test_rate_one_drops_everything_and_never_divides_by_zero():
    spec = {"kind": "dropout", "rate": 1.0, "noise_shape": None}
    assert statistics.check(spec, [X], [np.zeros_like(X)]).status == "passed"
    assert statistics.check(spec, [X], [X]).status == "failed"


def test_special_inputs_may_come_back_nan_when_dropped():
    """tf_keras multiplies by the keep mask: a dropped inf becomes 0 * inf = NaN."""
    x = X.copy()
    x[0, 0, :3] = [np.inf, -np.inf, np.nan]
    spec = {"kind": "dropout", "rate": 0.5, "noise_shape": None}
    y = np.array(statistics.sample(spec, [x], np.random.default_rng(4))[0])
    y[0, 0, :3] = np.nan
    assert statistics.check(spec, [x], [y]).status == "passed"
    y[0, 0, 5] = np.nan                        # a finite input never gives NaN
    assert statistics.check(spec, [x], [y]).status == "failed"
