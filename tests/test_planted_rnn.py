"""The planted faults of SimpleRNN, GRU and LSTM in tests/planted.py (the recurrent layers'
first slice; tests/planted_recurrent.py has the rest): each fails only in its predicted cases,
and in every plain unit-regime one."""
import numpy as np

from tests.test_planted import failing_ids, keras3_cases, planted


def _real_steps(case):
    """How many real (unmasked) steps the case's rows have at least."""
    mask = case.call_kwargs.get("mask")
    steps = case.inputs[0].shape[1]
    return steps if mask is None else int(mask.sum(axis=1).min())


def _plain_unit(cases):
    """Unit-regime cases without softmax and without a mask (a masked row hides a fault), of
    one call at inference (the faults are planted there only)."""
    return {c.id for c in cases if c.params["regime"] == "unit" and "mask" not in c.call_kwargs
            and not c.call_kwargs.get("training") and not c.config.get("stateful")
            and "softmax" not in (c.config.get("activation"),
                                  c.config.get("recurrent_activation"))}


def test_lstm_gates_in_the_order_i_c_f_o(tmp_path):
    """Fails wherever a real step is taken, at least in the plain unit-regime cases."""
    _, _, matrix = planted(tmp_path, "LSTMGatesICFO", "--layer", "LSTM")
    bad = set(failing_ids(matrix, "LSTM"))
    cases = keras3_cases("LSTM")
    must = _plain_unit(cases)
    assert bad <= {c.id for c in cases} and must and must <= bad


def test_go_backwards_sequence_not_reversed(tmp_path):
    """Fails in the go_backwards cases returning a sequence of two steps or more."""
    _, _, matrix = planted(tmp_path, "GoBackwardsNotReversed", "--layer", "SimpleRNN")
    bad = set(failing_ids(matrix, "SimpleRNN"))
    predicted = [c for c in keras3_cases("SimpleRNN") if c.config.get("go_backwards")
                 and c.config.get("return_sequences") and c.inputs[0].shape[1] >= 2]
    # a flip shows wherever the expected sequence is not the same read backwards in time
    must = {c.id for c in predicted if c.params["regime"] == "unit"
            and c.config.get("activation") != "softmax"
            and not np.array_equal(np.flip(c.expected[0], axis=1), c.expected[0])}
    assert bad <= {c.id for c in predicted} and must and must <= bad


def test_gru_reset_before_the_recurrent_matmul(tmp_path):
    """Fails in reset_after=True cases from the second real step on (or with an initial
    state: h is 0 before the first step otherwise, and r * h = 0 either way). With one unit
    and no bias r * (h @ U) = (r * h) @ U: the fault needs two units or a recurrent bias."""
    _, _, matrix = planted(tmp_path, "GRUResetBeforeMatmul", "--layer", "GRU")
    bad = set(failing_ids(matrix, "GRU"))
    predicted = [c for c in keras3_cases("GRU") if c.config.get("reset_after", True)]
    must = _plain_unit(c for c in predicted
                       if (_real_steps(c) >= 2 or "initial_state" in c.call_kwargs)
                       and (c.config["units"] > 1 or c.config.get("use_bias", True)))
    assert bad <= {c.id for c in predicted} and must and must <= bad
