"""Planted faulty candidates for the seeds' custom layer and Lambda (issue 9): the reference
with one or two faults each, in layers where one cannot hide the other."""
import dataclasses

import numpy as np

import reference
from conformance import lambdas
from tests.planted import Planted


def kernel_read_transposed(kernel):
    """A (features, output_dim) kernel read column-major, as a port that takes get_weights()'s
    row-major buffer for a Fortran-ordered one would: the same shape, other entries (the same
    ones where features or output_dim is 1)."""
    kernel = np.asarray(kernel)
    return kernel.ravel().reshape(kernel.shape[::-1]).T


class MyLayerKernelTransposedLambdaArgumentsIgnored(Planted):
    """MyLayer reads its kernel column-major; Lambda calls its function without `arguments`."""

    def run(self, case):
        if case.layer == "MyLayer":
            x, kernel = case.inputs[0], case.weights[0]
            with np.errstate(invalid="ignore", over="ignore"):
                return [reference.my_layer(x, kernel_read_transposed(kernel), **case.config)]
        if case.layer == "Lambda":
            return self.correct(without_arguments(case))
        return self.correct(case)


def without_arguments(case):
    return dataclasses.replace(case, config={**case.config, "arguments": None})


class LambdaTensorMaskIgnored(Planted):
    """Lambda emits no mask where its mask is not a function (a mask given as a tensor): a
    port that only calls a mask function."""
    layer = "Lambda"

    def faulty(self, case):
        return self.correct(case)

    def compute_mask(self, case):
        mask = lambdas.resolve_lambda_config(case.config).get("mask")
        if case.layer == self.layer and mask is not None and not callable(mask):
            return None
        return super().compute_mask(case)
