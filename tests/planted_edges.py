"""Planted faulty candidates for the edges of the input regimes (issue 20): special values in
every special case, small magnitudes, and sums that overflow part way. Each is the reference
with one fault, written as the float32 formula a careless port would use; the tests predict
from each case's data where the fault must show (tests/test_regime_edges.py)."""
import numpy as np

import reference
from reference.merge import broadcast_inputs
from tests.planted import Planted


def relu_times_step(x):
    """relu as x * (x > 0): NaN at -inf (-inf * 0), where Keras gives 0."""
    x = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore"):
        return x * (x > 0)


def average_pooling_skipping_nan(x, config):
    """AveragePooling2D as a mean over the window's non-NaN values (a NaN-skipping mean): a
    window holding NaN gives a number where IEEE (and Keras) give NaN."""
    x = np.asarray(x, np.float64)
    nan = np.isnan(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = reference.average_pooling(np.where(nan, 0.0, x), **config)
        share = reference.average_pooling((~nan).astype(np.float64), **config)
        return total / share


def tanh_by_exp(x):
    """tanh as (exp(2x) - 1) / (exp(2x) + 1) in float32: every digit cancels for small |x|
    (and exp overflows to inf / inf = NaN for x > 44)."""
    x = np.asarray(x, np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(np.float32(2) * x)
        return ((e - np.float32(1)) / (e + np.float32(1))).astype(np.float64)


def elu_exp_minus_one(x, alpha):
    """ELU as alpha * (exp(x) - 1) in float32, as written in Keras's docs (TensorFlow's
    kernel does the same): exp(x) rounds to 1 for negative x near 0."""
    x = np.asarray(x, np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        negative = np.float32(alpha) * (np.exp(x) - np.float32(1))
        return np.where(x < 0, negative, x).astype(np.float64)


def kahan_mean(inputs):
    """The elementwise mean of the inputs by compensated (Kahan) summation in float32, then a
    division: where a partial sum overflows, the compensation computes inf - inf = NaN, where
    a plain float32 sum (in any order) gives the infinity or the right finite value."""
    arrays = [x.astype(np.float32) for x in broadcast_inputs(inputs)]
    total = np.zeros_like(arrays[0])
    carry = np.zeros_like(total)
    with np.errstate(over="ignore", invalid="ignore"):
        for x in arrays:
            y = x - carry
            t = total + y
            carry = (t - total) - y
            total = t
        return (total / np.float32(len(inputs))).astype(np.float64)


class SpecialValueFaults(Planted):
    """Activation('relu') as x * (x > 0); AveragePooling2D skipping NaN. Both are right on
    every finite input: only a special-regime case with -inf (relu) or a NaN inside a pooling
    window shows them."""
    FAULTY = ("Activation", "AveragePooling2D")

    def run(self, case):
        if case.layer == "Activation" and case.config["activation"] == "relu":
            return [relu_times_step(case.inputs[0])]
        if case.layer == "AveragePooling2D":
            return [average_pooling_skipping_nan(case.inputs[0], case.config)]
        return self.correct(case)


class SmallMagnitudeFaults(Planted):
    """Activation('tanh') through exp; ELU as alpha * (exp(x) - 1). Both lose every digit for
    small |x|, which the small regime draws."""
    FAULTY = ("Activation", "ELU")

    def run(self, case):
        if case.layer == "Activation" and case.config["activation"] == "tanh":
            return [tanh_by_exp(case.inputs[0])]
        if case.layer == "ELU":
            return [elu_exp_minus_one(case.inputs[0], case.config.get("alpha", 1.0))]
        return self.correct(case)


class KahanSums(Planted):
    """Average (the merge layer) by compensated summation in float32: as accurate as a float32
    sum can be on every golden case, NaN where a partial sum overflows."""
    layer = "Average"

    def faulty(self, case):
        return [kahan_mean(case.inputs)]


class DenseRowsPastEight(Planted):
    """Dense answers every row of the batch past the eighth with the first row's answer, as a
    kernel that tiles the batch by 8 and loses its partial tile would: right on every batch of
    up to 8 rows, which is every Dense fixture."""
    layer = "Dense"

    def faulty(self, case):
        y = np.array(self.correct(case)[0])
        y[8:] = y[0]
        return [y]
