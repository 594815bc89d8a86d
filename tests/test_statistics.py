"""The statistical check of random outputs from both sides: correct draws pass, and each way
a Dropout in training can be wrong fails."""
import numpy as np
import pytest

from conformance import draws, statistics

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


def _dropping(k):
    """X's draw under rate 0.5 with exactly k of its X.size elements dropped."""
    keep = np.ones(X.size, bool)
    keep[np.random.default_rng(2).permutation(X.size)[:k]] = False
    return (X * keep.reshape(X.shape) / np.float32(0.5)).astype(np.float32)


def test_the_count_accepts_exactly_the_stated_band():
    """[k_lo, k_hi] of the docstring: k_lo the largest k with P(K < k) <= 5e-7 at
    p = rate - 2^-20, k_hi the smallest with P(K > k) <= 5e-7 at p = rate + 2^-20."""
    k_lo, k_hi = draws.binomial_band(X.size, 0.5 - draws.GRID, 0.5 + draws.GRID, 5e-7)
    assert 0 < k_lo < X.size / 2 < k_hi < X.size
    for k in (k_lo, k_hi):
        assert check(_dropping(k)).status == "passed", k
    for k in (k_lo - 1, k_hi + 1):
        outcome = check(_dropping(k))
        assert outcome.status == "failed" and f"expects {k_lo} to {k_hi}" in outcome.message


def _pass_probability(m, rate, q):
    """P(the count test passes) for m observed draws each dropped with probability q."""
    k_lo, k_hi = draws.binomial_band(m, max(rate - draws.GRID, 0.0),
                                     min(rate + draws.GRID, 1.0), draws.FALSE_ALARM / 2)
    return sum(np.exp(draws._log_pmf(m, k, q)) for k in range(k_lo, k_hi + 1))


@pytest.mark.parametrize("m", [600, 1800])
@pytest.mark.parametrize("rate", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_the_count_false_alarm_is_at_most_1e6(m, rate):
    """Exactly, for every p in [rate - 2^-20, rate + 2^-20]: its ends and rate itself."""
    for p in {max(rate - draws.GRID, 0.0), rate, min(rate + draws.GRID, 1.0)}:
        assert 1 - _pass_probability(m, rate, p) <= draws.FALSE_ALARM * (1 + 1e-9), p


@pytest.mark.parametrize("m, rate, faulty", [
    (600, 0.25, 0.75), (600, 0.9, 0.1), (600, 0.0, 1.0),    # rate read as the keep probability
    (600, 0.5, 0.25), (600, 0.9, 0.45), (1000, 0.25, 0.125),    # half the rate
    (600, 0.25, 0.5), (600, 0.5, 1.0),                         # twice the rate
    (600, 0.25, 0.0), (600, 0.5, 0.0), (600, 0.9, 0.0)])       # nothing dropped
def test_a_misread_rate_passes_a_case_of_the_spec_almost_never(m, rate, faulty):
    """specs/core.py's training cases without a noise_shape have at least 4 x 20 x 8 = 640
    elements: at 600 observed draws each of these faults passes with probability below 1e-6,
    but half of rate 0.25, which needs 1000 (at 600 it passes 0.18 % of the time)."""
    assert _pass_probability(m, rate, faulty) < 1e-6


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


# gaussian_noise, gaussian_dropout, alpha_dropout (conformance/statistics_noise.py) ------------

from conformance import statistics_noise  # noqa: E402
from reference.noise import ALPHA_P, alpha_dropout_affine  # noqa: E402

BIG = np.random.default_rng(1).standard_normal((4, 64, 16)).astype(np.float32)   # 4096


def _offset(x):
    return (x + np.float32(3e3)).astype(np.float32)


def _special(x):
    x = x.copy()
    x[0, 0, :3] = [np.nan, np.inf, -np.inf]
    x[1, ::7, 5] = np.nan
    return x


NOISE_CHECKS = [{"kind": "gaussian_noise", "stddev": s} for s in (0.1, 0.5, 1.0, 2.0, -1.0)] + \
    [{"kind": "gaussian_dropout", "rate": r} for r in (0.25, 0.5, 0.9)] + \
    [{"kind": "alpha_dropout", "rate": r, "noise_shape": n} for r in (0.25, 0.5, 0.9)
     for n in (None, [4, 1, 16], [None, 1, 16])]


@pytest.mark.parametrize("spec", NOISE_CHECKS, ids=lambda s: "-".join(map(str, s.values())))
@pytest.mark.parametrize("inputs", [lambda x: x, _offset, _special], ids=["unit", "offset",
                                                                          "special"])
def test_noise_correct_draws_pass(spec, inputs):
    """The reference's draws, rounded to float32, pass (three seeds each)."""
    x = inputs(BIG)
    for seed in range(3):
        y = statistics.sample(spec, [x], np.random.default_rng(seed))[0].astype(np.float32)
        outcome = statistics.check(spec, [x], [y])
        assert outcome.status == "passed", outcome.message


def _normal(shape=BIG.shape, seed=2):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("stddev", [0.1, 0.5, 2.0])
def test_gaussian_noise_faults_fail(stddev):
    """Noise ignored, the variance used as the std, noise of mean stddev: each fails."""
    spec = {"kind": "gaussian_noise", "stddev": stddev}
    x = BIG[:, :8]                                       # 512 draws, as the cases hold
    for y, why in ((x, "std"), (x + stddev ** 2 * _normal(x.shape), "std"),
                   (x + stddev * (1 + _normal(x.shape)), "mean")):
        outcome = statistics.check(spec, [x], [y.astype(np.float32)])
        assert outcome.status == "failed" and f"the {why} of" in outcome.message, outcome.message


def test_gaussian_noise_keeps_special_values():
    spec = {"kind": "gaussian_noise", "stddev": 0.5}
    x = _special(BIG)
    y = statistics.sample(spec, [x], np.random.default_rng(0))[0]
    y[0, 0, 1] = 3.0                                     # inf + noise is inf
    assert "where it is not finite" in statistics.check(spec, [x], [y]).message
    y = statistics.sample(spec, [x], np.random.default_rng(0))[0]
    y[2, 2, 2] = np.nan
    assert statistics.check(spec, [x], [y]).status == "failed"


@pytest.mark.parametrize("rate, size", [(0.25, 4096), (0.5, 1024), (0.9, 512)])
def test_gaussian_dropout_with_std_sqrt_rate_fails(rate, size):
    """The planted fault: multiplicative noise of std sqrt(rate) for sqrt(rate / (1 - rate)),
    at the cases' sizes (specs/noise.py); the bound on missing it is tiny there."""
    x = BIG.reshape(-1)[:size].reshape(4, -1, 16)
    y = x * (1 + np.sqrt(rate) * _normal(x.shape))
    outcome = statistics.check({"kind": "gaussian_dropout", "rate": rate}, [x],
                               [y.astype(np.float32)])
    assert outcome.status == "failed" and "the std of" in outcome.message, outcome.message
    assert statistics_noise.miss_probability(size, 1 - rate) < 1e-12


def test_gaussian_dropout_noise_ignored_fails():
    outcome = statistics.check({"kind": "gaussian_dropout", "rate": 0.5}, [BIG], [BIG])
    assert outcome.status == "failed" and "the std of" in outcome.message


def _alpha(x, keep, a_b=None):
    a, b = alpha_dropout_affine(0.5) if a_b is None else a_b
    return (a * np.where(keep, x, ALPHA_P) + b).astype(np.float32)


def test_alpha_dropout_faults_fail():
    """Without the affine correction, with the noise ignored, with noise_shape ignored, and at
    the wrong rate: each fails."""
    spec = {"kind": "alpha_dropout", "rate": 0.5, "noise_shape": [4, 1, 16]}
    shared = np.broadcast_to(np.random.default_rng(3).random((4, 1, 16)) >= 0.5, BIG.shape)
    assert statistics.check(spec, [BIG], [_alpha(BIG, shared)]).status == "passed"
    outcome = statistics.check(spec, [BIG], [_alpha(BIG, shared, (1.0, 0.0))])
    assert outcome.status == "failed" and "expected a * x + b" in outcome.message
    assert "expected a * x + b" in statistics.check(spec, [BIG], [BIG]).message
    per_element = np.random.default_rng(3).random(BIG.shape) >= 0.5
    outcome = statistics.check(spec, [BIG], [_alpha(BIG, per_element)])
    assert "partly kept and partly dropped" in outcome.message
    spec = dict(spec, noise_shape=None)
    outcome = statistics.check(spec, [BIG], [_alpha(BIG, per_element | (BIG > 0))])
    assert outcome.status == "failed" and "observed draws dropped" in outcome.message


def test_alpha_dropout_special_inputs():
    """A dropped inf or NaN may come back NaN (x * 0 + ALPHA_P) or a * ALPHA_P + b (a select);
    a kept inf stays inf; a finite input never gives NaN."""
    spec = {"kind": "alpha_dropout", "rate": 0.5, "noise_shape": None}
    x = BIG.copy()
    x[0, 0, :4] = [np.inf, -np.inf, np.nan, np.inf]
    keep = np.random.default_rng(5).random(BIG.shape) >= 0.5
    keep[0, 0, :4] = [False, True, False, True]
    y = _alpha(x, keep)
    y[0, 0, 0] = np.nan
    assert statistics.check(spec, [x], [y]).status == "passed"
    y[0, 0, 3] = 5.0
    assert statistics.check(spec, [x], [y]).status == "failed"
    y = _alpha(x, keep)
    y[1, 1, 1] = np.nan
    assert statistics.check(spec, [x], [y]).status == "failed"


@pytest.mark.parametrize("rate", [0.1, 0.25, 0.5, 0.9])
def test_alpha_dropout_keeps_mean_0_and_variance_1(rate):
    """Exactly: E[y] = a (1 - r) 0 + a r ALPHA_P + b = 0 and Var[y] = a^2 (1 - r)(1 + r ALPHA_P^2)
    = 1 for x of mean 0 and variance 1; and on 10^6 SELU-normal draws."""
    a, b = alpha_dropout_affine(rate)
    assert abs(a * rate * ALPHA_P + b) < 1e-15
    assert abs(a * a * ((1 - rate) + rate * ALPHA_P ** 2 - (rate * ALPHA_P) ** 2) - 1) < 1e-14
    rng = np.random.default_rng(0)
    y = _alpha(rng.standard_normal(10 ** 6), rng.random(10 ** 6) >= rate, (a, b))
    assert abs(y.mean()) < 0.006 and abs(y.var() - 1) < 0.012


def test_tail_bounds():
    """The normal quantile, Chernoff's chi-square band and the exact binomial band, against
    scipy where it is installed (each bound must hold the tail it promises)."""
    stats = pytest.importorskip("scipy.stats")
    assert abs(2 * stats.norm.sf(statistics_noise.normal_quantile(1e-6)) - 1e-6) < 1e-12
    for n in (100, 512, 4096):
        lo, hi = statistics_noise.chi2_band(n, 1e-6 / 3)
        assert stats.chi2.cdf(lo * n, n) <= 1e-6 / 3 and stats.chi2.sf(hi * n, n) <= 1e-6 / 3
    for n, p in ((64, 0.5), (1000, 0.25), (500, 0.9)):
        k_low, k_high = draws.binomial_band(n, p, p, 5e-7)
        assert stats.binom.cdf(k_low - 1, n, p) <= 5e-7 < stats.binom.cdf(k_low, n, p)
        assert stats.binom.sf(k_high, n, p) <= 5e-7 < stats.binom.sf(k_high - 1, n, p)
