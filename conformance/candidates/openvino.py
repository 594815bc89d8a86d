"""Keras 3 on its OpenVINO backend (KERAS_BACKEND=openvino), through the suite's own
KerasCandidate. The backend is for inference only: keras/src/backend/openvino/core.py says
"OpenVINO is an inference-only backend" (its custom_gradient discards the gradient), and its
trainer raises NotImplementedError("`fit` is not supported with openvino backend"); so a
training call (training=True) is skipped with that reason rather than run. Its device is the
CPU (KerasCandidate.device for a backend other than tensorflow, jax and torch)."""
import importlib

import numpy as np

from conformance.candidates.keras_adapter import KerasCandidate

INFERENCE_ONLY = ("a training call (training=True): Keras's OpenVINO backend is inference-only "
                  "(keras/src/backend/openvino/core.py: 'OpenVINO is an inference-only "
                  "backend'; its trainer's fit raises NotImplementedError)")


class KerasOpenVINO(KerasCandidate):
    """`keras-openvino`: Keras 3 on OpenVINO, inference only."""

    def __init__(self, name="keras-openvino"):
        super().__init__(name, "keras3", "keras", "openvino")

    def supports(self, case):
        if case.call_kwargs.get("training") is True:
            return INFERENCE_ONLY
        return super().supports(case)

    def _arrays(self, outputs):
        """The outputs converted at once: the backend compiles the graph behind each tensor it
        converts, and a layer of several outputs (return_state) would compile its whole
        graph once per output (a stacked 60-step recurrence of five outputs took 147 s, four
        fifths of it compiling the same graph again). Outputs of one dtype are flattened and
        joined in the graph, converted, and split again here."""
        outputs = list(outputs)
        if len(outputs) < 2 or len({str(o.dtype) for o in outputs}) > 1:
            return super()._arrays(outputs)
        ops = self.keras.ops
        shapes = [tuple(int(d) for d in o.shape) for o in outputs]
        joined = self._to_numpy(ops.concatenate([ops.reshape(o, [-1]) for o in outputs]))
        cuts = np.cumsum([int(np.prod(shape)) for shape in shapes])[:-1]
        return [part.reshape(shape) for part, shape in zip(np.split(joined, cuts), shapes)]

    @property
    def versions(self):
        versions = super().versions
        try:
            versions["openvino"] = importlib.import_module("openvino").__version__
        except ImportError:
            pass
        return versions
