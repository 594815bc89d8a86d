"""Planted candidates that compute in a lower precision than float32, each declaring it, for
tests/test_precision.py: the reference on operands rounded the way that arithmetic rounds
them."""
import dataclasses

import numpy as np

from conformance.candidates import load
from conformance.precision import round_to

reference = load("reference")


def round_tf32(array):
    """float32 `array` with its significand rounded to TF32's 10 bits, to nearest even."""
    return round_to(array, "tf32")


class TF32Matmul:
    """Dense as a TF32 tensor core computes it: the matmul's operands (the input and the
    kernel) rounded to TF32, the products summed exactly, then bias and activation; every
    other layer as the reference."""
    name = "planted-tf32"
    spec = "keras3"
    precision = "tf32"

    def run(self, case):
        if case.layer != "Dense":
            return reference.run(case)
        kernel, *rest = case.weights
        rounded = dataclasses.replace(case, inputs=[round_tf32(case.inputs[0])],
                                      weights=[round_tf32(kernel), *rest])
        return reference.run(rounded)


class BFloat16Storage:
    """Keras's mixed_bfloat16 as the reference would compute it: inputs and weights stored in
    bfloat16, the layer computed exactly on them, its output stored in bfloat16."""
    name = "planted-bfloat16"
    spec = "keras3"
    precision = "mixed_bfloat16"

    def run(self, case):
        rounded = dataclasses.replace(
            case, inputs=[_bf16(x) for x in case.inputs],
            weights=[_bf16(w) for w in case.weights])
        return [_bf16(y) for y in reference.run(rounded)]


def _bf16(array):
    array = np.asarray(array)
    if array.dtype.kind != "f":
        return array
    return round_to(array.astype(np.float32), "bfloat16")
