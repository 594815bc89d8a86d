"""Planted faulty candidates for Embedding and for a mask handed downstream (Sequential): the
reference with one fault each (tests/planted.py has the others)."""
import numpy as np

from reference.sequential import RECURRENT, sequential_calls
from tests.planted import Planted


class EmbeddingMaskInverted(Planted):
    """Embedding emits the mask x == 0 (the padding kept, every real index masked)."""
    layer = "Embedding"

    def faulty(self, case):
        return self.correct(case)

    def compute_mask(self, case):
        mask = super().compute_mask(case)
        return ~mask if case.layer == self.layer and mask is not None else mask


def _looked_up(case, indices):
    """The rows of the case's table at `indices` (negative ones counted from the end)."""
    return [np.asarray(case.weights[0], np.float64)[indices]]


class EmbeddingIndexFromOne(Planted):
    """Embedding reads index i as row i - 1 (a port from 1-based indexing): index 0 reads the
    last row, as NumPy's -1 does."""
    layer = "Embedding"

    def faulty(self, case):
        return _looked_up(case, np.asarray(case.inputs[0], np.int64) - 1)


class EmbeddingIndicesInFloat16(Planted):
    """Embedding carries its indices as float16 (a half-precision engine): above 2048 an odd
    index rounds to an even one."""
    layer = "Embedding"

    def faulty(self, case):
        return _looked_up(case, np.asarray(case.inputs[0]).astype(np.float16).astype(np.int64))


class SequentialDropsTheMask(Planted):
    """A Sequential model whose recurrent layer never gets the mask Masking or Embedding emits
    (a converter that loses Keras's mask propagation): masked steps are processed."""
    layer = "Sequential"

    def faulty(self, case):
        last = sequential_calls(case.inputs[0], case.weights, case.config["layers"],
                                case.spec)[-1]
        with np.errstate(invalid="ignore", over="ignore"):
            return RECURRENT[last.class_name](last.inputs, *last.weights, **last.config,
                                              spec=case.spec)
