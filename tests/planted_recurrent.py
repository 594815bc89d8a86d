"""Planted faulty recurrent candidates (tests/planted.py has the first three): the reference
with one fault each, for tests/test_planted_recurrent.py to catch in the predicted cases."""
import dataclasses
from unittest import mock

import numpy as np

import reference
from conformance import specs
from conformance.cases import seed_of
from reference import recurrent
from tests.planted import Planted

LAYERS = {"SimpleRNN": reference.simple_rnn, "GRU": reference.gru, "LSTM": reference.lstm}


def _outputs(case, **changes):
    """The reference's outputs for the case with `changes` to its config, the two calls of a
    stateful case included; in training, as at inference."""
    layer_fn = LAYERS[case.layer]
    config = {**case.config, **changes}
    kwargs = {k: v for k, v in case.call_kwargs.items() if k != "training"}
    if config.get("stateful"):
        return recurrent.stateful_calls(layer_fn, case.inputs, *case.weights, **kwargs,
                                        **config)
    return layer_fn(case.inputs[0], *case.weights, **kwargs, **config)


def _training(case):
    return bool(case.call_kwargs.get("training"))


class HardSigmoidOtherSpec(Planted):
    """LSTM's hard_sigmoid with the other spec's slope: Keras 2's 0.2 x + 0.5 in Keras 3
    cases (Keras 3: relu6(x + 3) / 6)."""
    layer = "LSTM"

    def faulty(self, case):
        if _training(case):
            return self.correct(case)
        return _outputs(case, spec="keras2" if case.spec == "keras3" else "keras3")


def _fold_zeroing_masked_steps(step, x, states, mask=None, go_backwards=False,
                               zero_output_for_mask=False):
    """recurrent.fold, except that a masked step outputs 0 and resets the states to 0
    instead of carrying them."""
    order = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    outputs = []
    for t in order:
        output, new_states = step(x[:, t], states)
        if mask is not None:
            keep = np.asarray(mask)[:, t][:, None]
            output = np.where(keep, output, 0.0)
            new_states = [np.where(keep, new, 0.0) for new in new_states]
        outputs.append(output)
        states = new_states
    return np.stack(outputs, axis=1), states


class MaskedStepsNotCarried(Planted):
    """SimpleRNN: a masked step emits zeros and zero states, instead of repeating the previous
    output and carrying the states."""
    layer = "SimpleRNN"

    def faulty(self, case):
        if _training(case):
            return self.correct(case)
        with mock.patch.object(recurrent, "fold", _fold_zeroing_masked_steps):
            return _outputs(case)


class LastStateFromLastStep(Planted):
    """LSTM with return_state: the final states are the last processed step's new states
    even where that step is masked (the outputs are right)."""
    layer = "LSTM"

    def faulty(self, case):
        outputs = self.correct(case)
        mask = case.call_kwargs.get("mask")
        if _training(case) or mask is None or not case.config.get("return_state"):
            return outputs
        mask = np.array(mask)
        mask[:, 0 if case.config.get("go_backwards") else -1] = True
        wrong = _outputs(dataclasses.replace(case, call_kwargs={**case.call_kwargs,
                                                                 "mask": mask}))
        # each call returns [output, h, c]: h and c from the run that took the last step
        for call in range(len(outputs) // 3):
            outputs[3 * call + 1:3 * call + 3] = wrong[3 * call + 1:3 * call + 3]
        return outputs


class GRUSecondBiasRowDropped(Planted):
    """GRU with reset_after=True ignores its bias's second row (the recurrent bias)."""
    layer = "GRU"

    def faulty(self, case):
        if _training(case) or not case.config.get("reset_after", True) \
                or not case.config.get("use_bias", True):
            return self.correct(case)
        kernel, recurrent_kernel, bias = case.weights
        bias = np.array(bias)
        bias[1] = 0
        return _outputs(dataclasses.replace(case, weights=[kernel, recurrent_kernel, bias]))


class StatefulStatesNotCarried(Planted):
    """GRU stateful: the second call starts from zeros again (the states are not kept)."""
    layer = "GRU"

    def faulty(self, case):
        if not case.config.get("stateful"):
            return self.correct(case)
        return [o for x in case.inputs
                for o in reference.gru(x, *case.weights, **case.call_kwargs,
                                       **{**case.config, "stateful": False})]


class _DropoutFault(Planted):
    """A fault in every recurrent layer's training cases: `draw(case, rng)` answers them."""
    layers = ("SimpleRNN", "GRU", "LSTM")

    def run(self, case):
        if case.layer in self.layers and _training(case):
            check = specs.get(case.layer).expect(case).check
            if check is not None:
                return self.draw(case, check, np.random.default_rng(seed_of(case.id)))
        return self.correct(case)


class RecurrentDropoutIgnoredInTraining(_DropoutFault):
    """SimpleRNN, GRU and LSTM in training compute as at inference: nothing dropped."""

    def draw(self, case, check, rng):
        return _outputs(case)


def _rows(case, check, keep_of_row, scale=(1.0, 1.0)):
    """The layer's outputs with each row under its draw keep_of_row(rates), the kernels
    multiplied by `scale` (input, recurrent) after dropout's scaling."""
    x = np.asarray(case.inputs[0], np.float64)
    rates = specs.recurrent.dropout_bits(check, x.shape)
    rows = []
    for r in range(x.shape[0]):
        x_row, (kernel, recurrent_kernel, *bias) = specs.recurrent.under_dropout(
            check, case.weights, x[r:r + 1], keep_of_row(rates))
        rows.append(LAYERS[case.layer](x_row, kernel * scale[0], recurrent_kernel * scale[1],
                                       *bias, **check["config"], spec=case.spec))
    return [np.concatenate(parts) for parts in zip(*rows)]


class RecurrentDropoutNotScaled(_DropoutFault):
    """SimpleRNN, GRU and LSTM in training drop with the right rate but keep the kept values
    as they are, without 1 / (1 - rate)."""

    def draw(self, case, check, rng):
        config = check["config"]
        unscale = [1 - config.get(k, 0.0) if 0 < config.get(k, 0.0) < 1 else 1.0
                   for k in ("dropout", "recurrent_dropout")]
        return _rows(case, check, lambda rates: rng.random(rates.size) >= rates, unscale)


class RecurrentDropoutWrongRate(_DropoutFault):
    """SimpleRNN, GRU and LSTM in training drop at a quarter of the rate (scaled right for
    what they drop): every row matches some draw; only the count can tell."""

    def draw(self, case, check, rng):
        return _rows(case, check, lambda rates: rng.random(rates.size) >= rates / 4)
