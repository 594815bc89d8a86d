"""Each planted recurrent fault (tests/planted_recurrent.py) fails exactly where the fixture
cases say it shows: never outside the predicted cases, and in every predicted case of the
plain unit regime. The predictions read the fixture cases (KC_FIXTURES_DIR, the shipped
fixtures by default), so they hold whatever cases the fixtures hold."""
import numpy as np

from tests.suite_runner import fixture_cases, layers_with, run_golden

RECURRENT = ("SimpleRNN", "GRU", "LSTM")


def planted(tmp_path, name, *layers):
    matrix = run_golden(tmp_path, f"tests.planted_recurrent:{name}", *layers)
    assert set(layers_with(matrix, ("failed", "error", "xpassed"))) <= set(layers)
    return {r["id"]: r["status"] for layer in layers for c in matrix["layers"][layer]["cells"]
            for r in c["case_results"]}


def cases(layer):
    """The layer's golden keras3 cases of the forward pass (those the runs above run)."""
    return fixture_cases(layer)


def failed(statuses):
    return {case_id for case_id, status in statuses.items() if status == "failed"}


def errors(statuses):
    return {case_id for case_id, status in statuses.items() if status == "error"}


def training(case):
    return bool(case.call_kwargs.get("training"))


def plain_unit(case):
    """A case where nothing can hide a fault that changes the values: the unit regime, no
    softmax (over one unit it is 1 whatever its input)."""
    return (case.params.get("regime") == "unit" and not training(case)
            and "softmax" not in (case.config.get("activation"),
                                  case.config.get("recurrent_activation")))


def real_step(case):
    """The case takes at least one real (unmasked) step."""
    mask = case.call_kwargs.get("mask")
    return mask is None or bool(np.any(mask))


def processing_order(case, mask):
    return mask[:, ::-1] if case.config.get("go_backwards") else mask


def assert_caught(statuses, predicted, must):
    bad = failed(statuses)
    assert not errors(statuses), errors(statuses)
    assert bad <= {c.id for c in predicted}, sorted(bad - {c.id for c in predicted})
    assert must, "no fixture case can show the fault"
    assert {c.id for c in must} <= bad, sorted({c.id for c in must} - bad)


def test_hard_sigmoid_with_the_other_specs_slope(tmp_path):
    """Keras 2's 0.2 x + 0.5 and Keras 3's x / 6 + 0.5 agree at 0 and beyond |x| = 3 only:
    every LSTM case using hard_sigmoid may fail; those of the plain unit regime with a real
    step must."""
    statuses = planted(tmp_path, "HardSigmoidOtherSpec", "LSTM")
    lstm = cases("LSTM")
    uses = [c for c in lstm if "hard_sigmoid" in (c.config.get("activation"),
                                                  c.config.get("recurrent_activation"))]
    assert_caught(statuses, uses, [c for c in uses if plain_unit(c) and real_step(c)])


def _masked_after_real(case):
    """Some row has a masked step after a real one, in processing order."""
    mask = processing_order(case, case.call_kwargs["mask"])
    seen = np.cumsum(mask, axis=1) > 0
    return bool((seen & ~mask).any())


def test_masked_steps_emit_zeros_instead_of_carrying(tmp_path):
    """SimpleRNN: any case with a masked step may fail; those with a masked step after a real
    one must (the previous output and state are not zero there), unless relu can make them
    exactly zero."""
    statuses = planted(tmp_path, "MaskedStepsNotCarried", "SimpleRNN")
    rnn = cases("SimpleRNN")
    masked = [c for c in rnn if "mask" in c.call_kwargs
              and not c.call_kwargs["mask"].all()]
    must = [c for c in masked if plain_unit(c) and _masked_after_real(c)
            and c.config.get("activation") != "relu"]
    assert_caught(statuses, masked, must)


def test_last_state_from_the_last_step_even_when_masked(tmp_path):
    """LSTM: fails where return_state meets a row whose last processed step is masked."""
    statuses = planted(tmp_path, "LastStateFromLastStep", "LSTM")
    lstm = cases("LSTM")

    def last_masked(c):
        mask = c.call_kwargs.get("mask")
        return (mask is not None and c.config.get("return_state")
                and not processing_order(c, mask)[:, -1].all())
    predicted = [c for c in lstm if last_masked(c)]
    assert_caught(statuses, predicted, [c for c in predicted if plain_unit(c)])


def test_gru_second_bias_row_dropped(tmp_path):
    """GRU reset_after=True with a bias: the recurrent row enters z, r and the candidate from
    the first step on. It must show where every activation is strictly monotone: relu and
    hard_sigmoid are flat on a side, where a shifted pre-activation gives the same value
    (GRU-063: relu gates at 0 with and without the bias row)."""
    statuses = planted(tmp_path, "GRUSecondBiasRowDropped", "GRU")
    predicted = [c for c in cases("GRU") if not training(c)
                 and c.config.get("reset_after", True) and c.config.get("use_bias", True)]
    flat = ("relu", "hard_sigmoid")
    assert_caught(statuses, predicted, [
        c for c in predicted if plain_unit(c) and real_step(c)
        and c.config.get("activation") not in flat
        and c.config.get("recurrent_activation") not in flat])


def test_stateful_states_not_carried_to_the_second_call(tmp_path):
    statuses = planted(tmp_path, "StatefulStatesNotCarried", "GRU")
    stateful = [c for c in cases("GRU") if c.config.get("stateful")]
    assert_caught(statuses, stateful, [c for c in stateful if plain_unit(c)])


def _training_cases():
    return [c for layer in RECURRENT for c in cases(layer) if training(c)]


def test_dropout_ignored_in_training(tmp_path):
    statuses = planted(tmp_path, "RecurrentDropoutIgnoredInTraining", *RECURRENT)
    predicted = _training_cases()
    assert_caught(statuses, predicted, predicted)


def test_dropout_not_scaled_in_training(tmp_path):
    statuses = planted(tmp_path, "RecurrentDropoutNotScaled", *RECURRENT)
    predicted = _training_cases()
    assert_caught(statuses, predicted, predicted)


def test_dropout_at_a_quarter_of_the_rate(tmp_path):
    """Every row matches some draw; the count fails every case."""
    statuses = planted(tmp_path, "RecurrentDropoutWrongRate", *RECURRENT)
    predicted = _training_cases()
    assert_caught(statuses, predicted, predicted)
