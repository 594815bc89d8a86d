"""A planted candidate for the --model tests (tests/test_model.py): the reference, wrong in one
kind of layer that a small model holds once."""
from dataclasses import replace

import numpy as np

from conformance.candidates import ReferenceCandidate
from reference.padding import as_tuple
from tests.planted import Planted


class PointwiseConvDropsBias(Planted):
    """A 1x1 Conv2D computed without its bias (as a converter that lowers pointwise
    convolutions to a matmul might): every other Conv2D is right."""
    layer = "Conv2D"

    def faulty(self, case):
        kernel_size = as_tuple(case.config["kernel_size"], 2, "kernel_size")
        if kernel_size != (1, 1) or not case.config.get("use_bias", True):
            return self.correct(case)
        weights = [case.weights[0], np.zeros_like(case.weights[1])]
        return ReferenceCandidate.run(self, replace(case, weights=weights))
