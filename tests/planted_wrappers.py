"""Planted faulty wrapper candidates: the reference with one fault each, for
tests/test_planted_wrappers.py to catch in the predicted cases."""
import numpy as np

import reference
from reference.wrappers import INNER, RECURRENT, directions, inner_layer, merge, weight_count
from tests.planted import Planted


class BidirectionalAveAsSum(Planted):
    """Bidirectional merge_mode "ave" computed as "sum": (y + y_rev), not halved."""
    layer = "Bidirectional"

    def faulty(self, case):
        if case.config.get("merge_mode", "concat") != "ave":
            return self.correct(case)
        return reference.bidirectional(case.inputs[0], *case.weights, **case.call_kwargs,
                                       **dict(case.config, merge_mode="sum"), spec=case.spec)


class BidirectionalBackwardNotReversed(Planted):
    """Bidirectional merges the backward layer's sequence in its processing order (last
    step first) instead of reversing it back to time order."""
    layer = "Bidirectional"

    def faulty(self, case):
        config = case.config
        name, forward, backward = directions(config["layer"], config.get("backward_layer"),
                                             case.spec)
        split = weight_count(forward)
        initial = case.call_kwargs.get("initial_state")
        half = None if initial is None else len(initial) // 2
        mask = case.call_kwargs.get("mask")
        y, *states = INNER[name](case.inputs[0], *case.weights[:split], mask=mask,
                                 initial_state=None if initial is None else initial[:half],
                                 **forward, spec=case.spec)
        y_rev, *rev_states = INNER[name](case.inputs[0], *case.weights[split:], mask=mask,
                                         initial_state=None if initial is None
                                         else initial[half:], **backward, spec=case.spec)
        return [*merge(y, y_rev, config.get("merge_mode", "concat")), *states, *rev_states]


class TimeDistributedMixesBatchAndTime(Planted):
    """TimeDistributed puts time first, merges (time, batch) into the inner layer's batch,
    and reshapes the result straight to (batch, time, ...) without moving time back: row
    t * batch + b lands at (b', t') of the flat batch-major order. Invisible with batch 1 or
    time 1."""
    layer = "TimeDistributed"

    def faulty(self, case):
        name, config = inner_layer(case.config["layer"])
        x = np.swapaxes(np.asarray(case.inputs[0], np.float64), 0, 1)
        rows = x.reshape(-1, *x.shape[2:])
        kwargs = {}
        mask = case.call_kwargs.get("mask")
        if mask is not None and name in RECURRENT:
            kwargs["mask"] = np.swapaxes(np.asarray(mask), 0, 1).reshape(rows.shape[0], -1)
        y = INNER[name](rows, *case.weights, **kwargs, **config, spec=case.spec)
        y = y[0] if name in RECURRENT else y
        return [y.reshape(case.inputs[0].shape[0], case.inputs[0].shape[1], *y.shape[1:])]
