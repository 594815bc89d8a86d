"""Each planted wrapper fault (tests/planted_wrappers.py) fails where the fixture cases say it
shows: never outside the predicted cases, and in every predicted case where nothing can hide
it. The predictions read the fixture cases (KC_FIXTURES_DIR, the shipped fixtures by
default)."""
import dataclasses

import numpy as np

from conformance import tolerance
from tests.suite_runner import fixture_cases, layers_with, run_golden

WRAPPERS = ("TimeDistributed", "Bidirectional")


def planted(tmp_path, name):
    matrix = run_golden(tmp_path, f"tests.planted_wrappers:{name}", *WRAPPERS)
    statuses = {r["id"]: r["status"] for layer in WRAPPERS
                for c in matrix["layers"][layer]["cells"] for r in c["case_results"]}
    assert "error" not in statuses.values()
    return matrix, {i for i, s in statuses.items() if s == "failed"}


cases = fixture_cases


def plain_unit(case):
    """The unit regime without a mask and without a softmax over one unit (which is 1
    whatever its input): nothing there hides a fault that moves values."""
    inner = case.config["layer"]["config"]
    return (case.params["regime"] == "unit" and case.call_kwargs.get("mask") is None
            and not (inner.get("activation") == "softmax" and case.params["units"] == 1))


def assert_caught(bad, predicted, must):
    predicted, must = {c.id for c in predicted}, {c.id for c in must}
    assert must, "no fixture case can show the fault"
    assert bad <= predicted, sorted(bad - predicted)
    assert must <= bad, sorted(must - bad)


def test_bidirectional_ave_computed_as_sum(tmp_path):
    """The sum is twice the average: exactly the "ave" cases holding a finite output whose
    size exceeds its bound fail (where it is below, or both it and its double are
    subnormal, the doubling stays within what the comparison accepts)."""
    matrix, bad = planted(tmp_path, "BidirectionalAveAsSum")
    assert layers_with(matrix, ("failed", "error", "xpassed")) == ["Bidirectional"]

    def shows(case):
        y, bound = np.abs(case.expected[0]), case.bounds[0]
        subnormal = 2 * y < tolerance.TINY32
        return bool(np.any(np.isfinite(y) & (y > bound) & ~subnormal))
    ave = [c for c in cases("Bidirectional") if c.config["merge_mode"] == "ave"]
    predicted = [c for c in ave if shows(c)]
    assert_caught(bad, predicted, predicted)
    assert {c.id for c in predicted} == bad


def test_bidirectional_backward_sequence_not_reversed(tmp_path):
    """Only sequences of two steps or more can come in the wrong order: only cases returning
    sequences over time >= 2 may fail, and every one of them in the plain unit regime must
    (whatever the merge: concat and None show the backward sequence itself, sum, mul and ave
    mix it into every step)."""
    matrix, bad = planted(tmp_path, "BidirectionalBackwardNotReversed")
    assert layers_with(matrix, ("failed", "error", "xpassed")) == ["Bidirectional"]
    predicted = [c for c in cases("Bidirectional")
                 if c.config["layer"]["config"]["return_sequences"]
                 and c.inputs[0].shape[1] >= 2]
    assert_caught(bad, predicted, [c for c in predicted if plain_unit(c)])


def test_time_distributed_mixing_batch_and_time(tmp_path):
    """Rows computed in (time, batch) order and read back as (batch, time) land in the right
    place only when batch or time is 1: only cases with both >= 2 may fail, and every one of
    them in the unit regime must (but a softmax over one unit, or a row masked everywhere),
    whichever layer is wrapped."""
    matrix, bad = planted(tmp_path, "TimeDistributedMixesBatchAndTime")
    assert layers_with(matrix, ("failed", "error", "xpassed")) == ["TimeDistributed"]
    td = cases("TimeDistributed")
    predicted = [c for c in td if min(c.inputs[0].shape[:2]) >= 2]
    # a mask cannot hide it either, unless it silences a whole row (the LSTM's steps are
    # masked per slice; Dense and Conv2D ignore the mask)
    must = [c for c in predicted if plain_unit(dataclasses.replace(c, call_kwargs={}))
            and c.params["mask"] != "a_row_all_masked"]
    assert {c.config["layer"]["class_name"] for c in must} == {"Dense", "Conv2D", "LSTM"}
    assert_caught(bad, predicted, must)
