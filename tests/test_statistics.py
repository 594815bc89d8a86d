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


# recurrent_dropout: SimpleRNN, GRU and LSTM in training ---------------------------------------

def _training_case(layer, which, keras_spec="keras3"):
    """The spec's `which`-th training edge case of `layer` (tiny rows, many of them)."""
    from conformance import specs
    from conformance.cases import build_case
    spec = specs.get(layer)
    params, shapes = [e[:2] for e in spec.edge_cases if e[0].get("training")][which]
    return build_case(spec, params, 7 + which, keras_spec, f"{layer}-t{which}", shapes)


def _rows(case, keep_of_row, scale=(1.0, 1.0)):
    """The layer's outputs with each row under its draw keep_of_row(row, rates), the kernels
    multiplied by `scale` (input, recurrent) after dropout's scaling."""
    from conformance.specs import recurrent
    check, x = case.check, np.asarray(case.inputs[0], np.float64)
    rates = recurrent.dropout_bits(check, x.shape)
    plain, _ = recurrent.STEPS[case.layer]
    rows = []
    for r in range(x.shape[0]):
        x_row, (kernel, recurrent_kernel, *bias) = recurrent.under_dropout(
            check, case.weights, x[r:r + 1], keep_of_row(r, rates))
        rows.append(plain(x_row, kernel * scale[0], recurrent_kernel * scale[1], *bias,
                          **check["config"], spec=case.spec))
    return [np.concatenate(p).astype(np.float32) for p in zip(*rows)]


TRAINING = [(layer, which, keras_spec) for layer in ("SimpleRNN", "GRU", "LSTM")
            for which in (0, 1) for keras_spec in ("keras3", "keras2")]


@pytest.mark.parametrize("layer, which, keras_spec", TRAINING)
def test_recurrent_correct_draws_pass(layer, which, keras_spec):
    case = _training_case(layer, which, keras_spec)
    for seed in range(2):
        y = statistics.sample(case.check, case.inputs, np.random.default_rng(seed))
        outcome = statistics.check(case.check, case.inputs, [a.astype(np.float32) for a in y])
        assert outcome.status == "passed", outcome.message


@pytest.mark.parametrize("layer, which", [(l, w) for l, w, s in TRAINING if s == "keras3"])
def test_recurrent_dropout_ignored_or_unscaled_fails(layer, which):
    """Ignoring dropout (x and h as at inference) or dropping without 1 / (1 - rate): no row
    matches any draw."""
    case = _training_case(layer, which)
    config = case.check["config"]
    rng = np.random.default_rng(5)
    ignored = _rows(case, lambda r, rates: np.ones(rates.size, bool),
                    scale=[1 - config.get(k, 0.0) for k in ("dropout", "recurrent_dropout")])
    unscaled = _rows(case, lambda r, rates: rng.random(rates.size) >= rates,
                     scale=[1 - config.get(k, 0.0) for k in ("dropout", "recurrent_dropout")])
    for y in (ignored, unscaled):
        outcome = statistics.check(case.check, case.inputs, y)
        assert outcome.status == "failed" and "matches no dropout draw" in outcome.message


@pytest.mark.parametrize("layer, which", [(l, w) for l, w, s in TRAINING if s == "keras3"])
def test_recurrent_dropout_at_the_wrong_rate_fails_the_count(layer, which):
    """Keeping everything, scaled by 1 / (1 - rate), matches the all-kept draw in every row:
    only the count can fail it; so does dropping at a quarter of the rate."""
    case = _training_case(layer, which)
    rng = np.random.default_rng(6)
    for keep in (lambda r, rates: np.ones(rates.size, bool),
                 lambda r, rates: rng.random(rates.size) >= rates / 4):
        outcome = statistics.check(case.check, case.inputs, _rows(case, keep))
        assert outcome.status == "failed" and "dropout bits dropped" in outcome.message, \
            outcome.message


def test_recurrent_dropout_off_by_a_little_in_one_element_fails():
    case = _training_case("GRU", 1)
    y = statistics.sample(case.check, case.inputs, np.random.default_rng(8))
    y = [a.astype(np.float32) for a in y]
    y[0][3, 2, 1] *= 1 + 1e-4
    assert "row 3 matches no dropout draw" in statistics.check(case.check, case.inputs, y).message
    y[0][3, 2, 1] = np.nan
    assert statistics.check(case.check, case.inputs, y).status == "failed"


def test_recurrent_dropout_check_is_json():
    """The check holds only JSON values (the fixture writes it as it is)."""
    import json
    case = _training_case("LSTM", 0)
    assert json.loads(json.dumps(case.check)) == case.check
