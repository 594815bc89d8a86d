"""Keras 3 on its OpenVINO backend (KERAS_BACKEND=openvino), through the suite's own
KerasCandidate. The backend is for inference only: keras/src/backend/openvino/core.py says
"OpenVINO is an inference-only backend" (its custom_gradient discards the gradient), and its
trainer raises NotImplementedError("`fit` is not supported with openvino backend"); so a
training call (training=True) is skipped with that reason rather than run. Its device is the
CPU (KerasCandidate.device for a backend other than tensorflow, jax and torch)."""
import importlib

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

    @property
    def versions(self):
        versions = super().versions
        try:
            versions["openvino"] = importlib.import_module("openvino").__version__
        except ImportError:
            pass
        return versions
