"""The edges of the input regimes (issue 20): every special-regime case holds NaN, +inf, -inf
and -0.0 in each input (and, for a windowed layer, in some window); the small regime draws
normal float32 magnitudes between 1e-30 and 1e-2; a sum that overflows part way admits the
infinity of its sign and is never a false alarm against a correct float32 engine. Planted
faults of each kind (tests/planted_edges.py) are caught in exactly the cases their formula
predicts.

KC_FIXTURES_DIR names the fixture set to run them on (default: the shipped one)."""
import math

import numpy as np
import pytest

from conformance import fixtures, specs, tolerance
from conformance.case import Case
from conformance.cases import (LIVE_BATCHES, batch_free, grown_for_specials, live_case,
                               special_gaps, with_expected)
from conformance.compare import compare_case
from conformance.elements import error_ratio
from conformance.regimes import SMALL_RANGE, Regime, special_kinds
from reference.config import OutOfScope
from tests.planted_edges import (
    average_pooling_skipping_nan, elu_exp_minus_one, kahan_mean, relu_times_step, tanh_by_exp,
)
from tests.suite_runner import FIXTURES, FORWARD, fixture_cases, ids_with, run_golden, run_suite

CAUGHT = ("failed", "error")


def visible(case, got):
    """Whether `got` fails the case somewhere (compare.py's rules)."""
    return bool(np.any(error_ratio(case.expected[0], case.bounds[0], got,
                                   case.overflow[0] if case.overflow else None) > 1))


# Special values -------------------------------------------------------------------------------

@pytest.mark.parametrize("keras_spec", ["keras3", "keras2"])
def test_every_special_case_holds_every_special_value(keras_spec):
    """Each stored special-regime case: NaN, +inf, -inf and -0.0 in every float input (in the
    rows an index reads, for Embedding's tables), and for a windowed layer in some window."""
    cases, problems = fixtures.load_all(FIXTURES, keras_spec)
    assert not problems, problems[:1]
    special = [c for c in cases if c.params.get("regime") == "special" and not c.out_of_scope]
    assert len({c.layer for c in special}) >= 40
    gaps = {c.id: special_gaps(specs.get(c.layer), c) for c in special}
    assert not {k: v for k, v in gaps.items() if v}


def test_special_gaps_sees_a_value_no_window_reads():
    """special_gaps finds a value in no window: a stride-3 pool that skips the third column."""
    spec = specs.get("AveragePooling1D")
    x = np.array([[[1.0], [2.0], [np.nan], [-0.0], [np.inf], [-np.inf]]], np.float32)
    config = {"pool_size": 1, "strides": 3, "padding": "valid", "data_format": "channels_last"}
    case = Case(id="probe", layer=spec.layer, spec="keras3", params={"regime": "special"},
                config=config, inputs=[x], weights=[])
    assert special_gaps(spec, case) == ["no window of input 0 holds its NaN",   # reads 0, 3
                                        "no window of input 0 holds its +inf",
                                        "no window of input 0 holds its -inf"]
    case.inputs = [x[:, [2, 1, 0, 4, 3, 5]]]          # NaN and +inf now at read positions 0, 3
    assert special_gaps(spec, case) == ["no window of input 0 holds its -inf",
                                        "no window of input 0 holds its -0.0"]


def test_grown_for_specials():
    assert grown_for_specials([(1, 1)]) == [(4, 1)]
    assert grown_for_specials([(1, 3), (1, 1)]) == [(4, 3), (4, 1)]
    assert grown_for_specials([(3, 1, 1, 1)]) == [(4, 1, 1, 1)]
    assert grown_for_specials([(2, 5)]) == [(2, 5)]            # large enough: unchanged
    assert grown_for_specials([(1, 0, 3)]) == [(1, 0, 3)]      # empty: nothing to hold


def test_every_special_draw_holds_all_four():
    for size in (4, 5, 16, 100):
        for seed in range(50):
            x = Regime("special", np.random.default_rng(seed)).values((size,))
            assert special_kinds(x) == (True, True, True, True)


# Small magnitudes -----------------------------------------------------------------------------

def test_small_regime_draws_normal_magnitudes_of_both_signs():
    x = Regime("small", np.random.default_rng(0)).values((20000,)).astype(np.float64)
    assert np.all(np.abs(x) >= np.float32(SMALL_RANGE[0]) * (1 - 1e-7))
    assert np.all(np.abs(x) <= np.float32(SMALL_RANGE[1]) * (1 + 1e-7))
    assert np.all(np.abs(x) >= tolerance.TINY32)                     # no subnormals: tiny's
    assert 0.45 < np.mean(x < 0) < 0.55
    decades = np.log10(np.abs(x))
    assert np.histogram(decades, bins=28, range=(-30, -2))[0].min() > 500   # log-uniform


def test_small_regime_reaches_layers_with_an_arithmetic_result():
    """Every spec that takes the tiny regime and computes (not only moves) its output takes
    the small regime too."""
    data_movement = {"unit", "tiny", "special"}
    missing = [name for name, spec in specs.SPECS.items()
               if "tiny" in spec.domains["regime"] and "small" not in spec.domains["regime"]
               and set(spec.domains["regime"]) != data_movement
               and name != "Embedding"]                              # a lookup: data movement
    assert set(missing) <= set(NOISE_LAYERS), missing


# the noise layers: the identity at inference; in training a statistical check of the noise,
# which reads got / x or got - x (exact in float64 for any normal x)
NOISE_LAYERS = ("GaussianNoise", "GaussianDropout", "AlphaDropout")


# Overflow part way through a sum --------------------------------------------------------------

def test_overflow_sides():
    big = 3e38
    # [3e38, 3e38, -3e38]: positive terms 6e38, negative 3e38: only +inf is reachable
    assert tolerance.overflow_sides(3 * big, big).tolist() == 1
    assert tolerance.overflow_sides(3 * big, -big).tolist() == -1
    assert tolerance.overflow_sides(2.0, 1.0).tolist() == 0
    assert tolerance.overflow_sides(np.inf, np.inf).tolist() == 0     # IEEE's, not counted
    with pytest.raises(OutOfScope, match=tolerance.UNDETERMINED):
        tolerance.overflow_sides(4 * big, 0.0)                       # +inf, -inf or NaN
    with pytest.raises(OutOfScope, match="can overflow part way"):
        tolerance.sum_bound(3 * big, 3, big)                         # declined by default
    assert tolerance.sum_bound(2 * big, 2, 2 * big) > 0              # exact overflow: inf


def hand_built_cases():
    """Cases someone hands the suite where a float32 sum overflows part way though the exact
    result is 3e38 (issue 20): Dense, Conv1D, AveragePooling2D, GlobalAveragePooling1D,
    Average of five; a softmax after such a sum; and a sum whose positive and negative terms
    both overflow (undetermined)."""
    big = np.float32(3e38)

    def case(layer, config, inputs, weights=(), name=""):
        c = Case(id=f"{layer}-{name or 'overflow'}", layer=layer, spec="keras3",
                 params={"regime": "large", "hand_built": name or "overflow"}, config=config,
                 inputs=[np.asarray(x, np.float32) for x in inputs],
                 weights=[np.asarray(w, np.float32) for w in weights])
        return with_expected(specs.get(layer), c)

    ones = np.ones((3, 1))
    return [
        case("Dense", {"units": 1}, [[[big, big, -big]]], [ones, np.zeros(1)]),
        case("Dense", {"units": 2, "activation": "softmax"}, [[[big, big, -big]]],
             [np.ones((3, 2)), np.zeros(2)], "softmax"),
        case("Dense", {"units": 1}, [[[big, big, -big, -big]]], [np.ones((4, 1)), np.zeros(1)],
             "both_sides"),
        case("Conv1D", {"filters": 1, "kernel_size": 3}, [np.full((1, 3, 1), big)],
             [np.array([1.0, 1.0, -1.0]).reshape(3, 1, 1), np.zeros(1)]),
        case("AveragePooling2D", {"pool_size": [3, 3], "padding": "valid"},
             [np.full((1, 3, 3, 1), big)]),
        case("GlobalAveragePooling1D", {}, [np.full((2, 4, 3), big)]),
        case("Average", {}, [np.full((2, 3), big)] * 5),
    ]


def test_hand_built_overflow_cases_hold_what_float32_can_give():
    by_id = {c.id: c for c in hand_built_cases()}
    assert by_id["Dense-both_sides"].out_of_scope.startswith(tolerance.UNDETERMINED)
    skipped = compare_case(by_id["Dense-both_sides"], [np.full((1, 1, 1), np.nan)])
    assert skipped.status == "skipped" and "both add up beyond" in skipped.message
    for c in by_id.values():
        if c.out_of_scope:
            continue
        finite = np.isfinite(c.expected[0])
        assert finite.all() and c.overflow is not None, c.id
        assert not visible(c, c.expected[0]), c.id                       # the exact answer
        assert not visible(c, c.overflow[0]), c.id                       # the infinity's
        if c.id == "Dense-softmax":      # logits of 3e38 known within ~1e32: any softmax
            continue
        assert visible(c, np.zeros_like(c.expected[0])), c.id            # not anything
        assert visible(c, -c.overflow[0]), c.id                          # nor the other sign
        assert visible(c, np.full_like(c.expected[0], np.nan)), c.id


@pytest.fixture(scope="module")
def overflow_fixtures(tmp_path_factory):
    """The hand-built cases as a fixture set, in the store's own format."""
    root = tmp_path_factory.mktemp("overflow_fixtures")
    cases = [c for c in hand_built_cases() if not c.out_of_scope]    # no answer to store
    files = []
    for layer in sorted({c.layer for c in cases}):
        files += fixtures.write_layer(root, "keras3", layer, [c for c in cases if c.layer == layer])
    fixtures.write_manifest(root, files, {}, [])
    return root


def run_overflow(tmp_path, candidate, root):
    code, output, matrix = run_suite(tmp_path, candidate, *FORWARD,
                                     "--no-oracle", "--fixtures-dir", str(root))
    assert matrix is not None, output[-3000:]
    return {r["id"]: r["status"] for layer in matrix["layers"].values()
            for cell in layer["cells"] for r in cell["case_results"]}


def test_a_correct_float32_engine_that_overflows_part_way_is_not_failed(tmp_path,
                                                                        overflow_fixtures):
    """Real tf.keras adds before it divides and overflows to inf: passed, every case."""
    statuses = run_overflow(tmp_path, "tf.keras", overflow_fixtures)
    assert set(statuses.values()) == {"passed"} and len(statuses) == 6, statuses


def test_kahan_summation_is_caught_where_it_turns_overflow_into_nan(tmp_path,
                                                                    overflow_fixtures):
    statuses = run_overflow(tmp_path, "tests.planted_edges:KahanSums", overflow_fixtures)
    assert statuses.pop("Average-overflow") == "failed"
    assert set(statuses.values()) == {"passed"}, statuses


def test_kahan_summation_on_the_golden_average_cases(tmp_path):
    """Caught in exactly the stored cases where its float32 formula is off (an infinity among
    the inputs: its compensation turns it into NaN); not in the others."""
    predicted = {c.id for c in fixture_cases("Average") if visible(c, kahan_mean(c.inputs))}
    matrix = run_golden(tmp_path, "tests.planted_edges:KahanSums", "Average")
    assert predicted and ids_with(matrix, "Average", CAUGHT) == predicted
    assert all(c.params["regime"] == "special" for c in fixture_cases("Average")
               if c.id in predicted)


# Planted faults of special values and small magnitudes ----------------------------------------

def test_relu_as_a_product_and_a_nan_skipping_pool_are_caught_in_special_cases(tmp_path):
    matrix = run_golden(tmp_path, "tests.planted_edges:SpecialValueFaults", "Activation",
                        "AveragePooling2D", "Dense")
    relu = {c.id for c in fixture_cases("Activation") if c.config["activation"] == "relu"
            and visible(c, relu_times_step(c.inputs[0]))}
    pool = {c.id for c in fixture_cases("AveragePooling2D")
            if visible(c, average_pooling_skipping_nan(c.inputs[0], c.config))}
    assert ids_with(matrix, "Activation", CAUGHT) == relu
    assert ids_with(matrix, "AveragePooling2D", CAUGHT) == pool
    assert not ids_with(matrix, "Dense", CAUGHT)
    special_relu = {c.id for c in fixture_cases("Activation")
                    if c.config["activation"] == "relu" and c.params["regime"] == "special"}
    # a window of one element holding NaN is NaN either way
    special_pool = {c.id for c in fixture_cases("AveragePooling2D")
                    if c.params["regime"] == "special"
                    and math.prod(np.broadcast_to(c.config["pool_size"], 2)) > 1}
    # every special case now holds -inf, and a window with NaN: each one shows the fault
    assert special_relu and relu == special_relu
    assert special_pool and special_pool <= pool


def test_tanh_through_exp_and_elu_as_exp_minus_one_are_caught_in_small_cases(tmp_path):
    matrix = run_golden(tmp_path, "tests.planted_edges:SmallMagnitudeFaults", "Activation",
                        "ELU")
    tanh = {c.id for c in fixture_cases("Activation") if c.config["activation"] == "tanh"
            and visible(c, tanh_by_exp(c.inputs[0]))}
    elu = {c.id for c in fixture_cases("ELU")
           if visible(c, elu_exp_minus_one(c.inputs[0], c.config.get("alpha", 1.0)))}
    assert ids_with(matrix, "Activation", CAUGHT) == tanh
    assert ids_with(matrix, "ELU", CAUGHT) == elu
    for layer, caught, name in (("Activation", tanh, "tanh"), ("ELU", elu, None)):
        small = {c.id for c in fixture_cases(layer) if c.params["regime"] == "small"
                 and (name is None or c.config["activation"] == name)
                 and c.config.get("alpha", 1.0) != 0 and np.any(c.inputs[0] < 0)}
        assert small and small <= caught, (layer, small - caught)


# The batch ----------------------------------------------------------------------------------

def test_a_fault_past_the_eighth_row_is_caught_by_the_live_tests_larger_batches(tmp_path):
    """No Dense fixture has more than 8 rows; the live property test grows some drawn cases'
    batch to LIVE_BATCHES and catches it there, naming the grown case."""
    assert max(np.shape(c.inputs[0])[0] for c in fixture_cases("Dense")) <= 8
    code, _, matrix = run_suite(tmp_path, "tests.planted_edges:DenseRowsPastEight",
                                "--layer", "Dense", "-k", "test_live_property")
    live = matrix["layers"]["Dense"]["live"]
    assert code == 1 and live["status"] == "failed", live
    assert "-batch" in live["message"] and "rerun: " in live["message"]


def _first_params(layer, **changes):
    spec = specs.get(layer)
    return spec, {**{name: values[0] for name, values in spec.domains_for("keras3").items()},
                  **changes}


@pytest.mark.parametrize("layer, changes", [("LSTM", {"mask": True}), ("Dense", {}),
                                            ("MultiHeadAttention", {})])
def test_a_grown_case_is_the_same_case_with_a_larger_batch(layer, changes):
    """Every input (and every array the call takes: a mask, initial states) gets the batch;
    the config is the case's own."""
    spec, params = _first_params(layer, **changes)
    seed, batch = 11, LIVE_BATCHES[0]
    plain = live_case(spec, params, seed, "keras3")
    grown = live_case(spec, params, seed, "keras3", batch)
    assert grown.id == f"{plain.id}-batch{batch}" and grown.config == plain.config
    for x, y in zip(plain.inputs, grown.inputs):
        assert np.shape(y) == (batch, *np.shape(x)[1:])
    arrays = [a for value in grown.call_kwargs.values()
              for a in (value if isinstance(value, list) else [value])
              if isinstance(a, np.ndarray) and a.ndim]
    assert (arrays or layer == "Dense") and all(a.shape[0] == batch for a in arrays)
    assert np.shape(grown.expected[0])[0] == batch


def test_a_config_that_fixes_the_batch_keeps_it():
    for config in ({"stateful": True}, {"batch_shape": [2, 3]}, {"noise_shape": [2, 1, 3]},
                   {"time_major": True}, {"layer": {"config": {"batch_input_shape": [2, 3]}}}):
        assert not batch_free(config), config
    assert batch_free({"noise_shape": [None, 1, 3], "batch_shape": None, "stateful": False})
    for layer, changes in (("Dropout", {"noise_shape": "shared_over_time"}),
                           ("LSTM", {"stateful": True})):
        spec, params = _first_params(layer, **changes)
        case = live_case(spec, params, 3, "keras3", LIVE_BATCHES[-1])
        assert "-batch" not in case.id and np.shape(case.inputs[0])[0] < LIVE_BATCHES[-1]
