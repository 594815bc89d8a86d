"""Planted faulty candidates for the random regularisation layers: the reference with one fault
each (tests/planted.py has the others)."""
import math

import numpy as np

from conformance import specs
from conformance.cases import seed_of
from reference.noise import ALPHA_P
from tests.planted import Planted


class GaussianDropoutStdSqrtRate(Planted):
    """GaussianDropout's multiplicative noise with std sqrt(rate) instead of
    sqrt(rate / (1 - rate)) (Keras 1's formula misread)."""
    layer = "GaussianDropout"

    def faulty(self, case):
        if specs.get(self.layer).expect(case).check is None:      # inference: the identity
            return self.correct(case)
        x = np.asarray(case.inputs[0], np.float64)
        z = np.random.default_rng(seed_of(case.id)).standard_normal(x.shape)
        with np.errstate(invalid="ignore"):
            return [x * (1 + math.sqrt(case.config["rate"]) * z)]


class AlphaDropoutWithoutAffineCorrection(Planted):
    """AlphaDropout sets the dropped elements to ALPHA_P and keeps the others as they are,
    without the affine map a * v + b that restores the mean and variance."""
    layer = "AlphaDropout"

    def faulty(self, case):
        if specs.get(self.layer).expect(case).check is None:      # inference: the identity
            return self.correct(case)
        x = np.asarray(case.inputs[0], np.float64)
        shape = [d if n is None else n for n, d in
                 zip(case.config.get("noise_shape") or x.shape, x.shape)]
        keep = np.random.default_rng(seed_of(case.id)).random(shape) >= case.config["rate"]
        return [np.where(np.broadcast_to(keep, x.shape), x, ALPHA_P)]
