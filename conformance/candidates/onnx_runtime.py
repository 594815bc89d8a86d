"""ONNX Runtime: the case's layer in a one-layer tf.keras model (one_layer.py), exported to
ONNX by tf2onnx (`tf2onnx.convert.from_keras`, the tf2onnx default opset) and run by onnxruntime
on its CPUExecutionProvider. A conversion that raises, or an exported model that onnxruntime
refuses to load, is an error whose message starts "conversion failed: ".

Why tf2onnx and not Keras 3's own `model.export(path, format="onnx")` (TensorFlow 2.21, Keras
3.15.1, tf2onnx 1.17.0, onnxruntime 1.32.0): on the TensorFlow backend Keras's export is tf2onnx
too (keras/src/export/onnx.py traces the call and hands it to `tf2onnx.convert.from_function`,
after patching tf2onnx for NumPy 2, which tf2onnx 1.17 no longer needs), and where both convert
they give the same models and the same answers. But Keras's export
- raises "ValueError: The model provided has never called." for a model built from
  keras.Input and never called on data, unless given an input_signature; and, given one,
- raises "ValueError: Failed to import metagraph, check error log for more info." for a layer
  with an activity_regularizer (Dense, Conv1D, Conv2D, LSTM, Embedding, BatchNormalization
  with activity_regularizer="l1"), which from_keras converts.
EXPORTER = "keras" keeps Keras's export available for comparison.
"""
import os
import tempfile

import numpy as np

from conformance.candidates.conversion_cache import converting
from conformance.candidates.one_layer import (ConvertingCandidate, feeds, signature,
                                              tensorflow_versions)

EXPORTER = "tf2onnx"          # or "keras": model.export(format="onnx") (see above)


# What tf2onnx documents it cannot convert: skipped with the document, not errors.
# tf2onnx.convert.from_keras continues past an op it cannot convert (continue_on_error=True,
# tf2onnx/convert.py), so these show as onnxruntime refusing the exported model
DOCUMENTED_UNSUPPORTED = (
    (r"No Op registered for StatefulPartitionedCall",
     "tf2onnx converts no function call it cannot inline: StatefulPartitionedCall is not "
     "among the ops of tf2onnx's support_status.md (onnx/tensorflow-onnx#2412); Keras 3 "
     "computes a channels_first Conv3D inside an XLA-compiled tf.function "
     "(keras/src/backend/tensorflow/nn.py, conv), which the exported graph keeps as such a "
     "call"),
    (r'In Node, \("[^"]*", (Expm1|Erfc), "", -1\)',
     "tf2onnx converts neither TensorFlow's Expm1 nor its Erfc: neither is among the ops of "
     "tf2onnx's support_status.md (Erf is; tf2onnx 1.17 tf2onnx/onnx_opset has no handler "
     "for them), so from_keras (continue_on_error=True) leaves the TensorFlow op in the graph "
     "and onnxruntime refuses the model as INVALID_GRAPH; Keras 3 computes celu with "
     "tf.math.expm1 and the exact gelu (the name's default, approximate=False) with "
     "tf.nn.gelu's erfc (keras/src/backend/tensorflow/nn.py celu and gelu)"),
)


class OnnxRuntimeCandidate(ConvertingCandidate):
    DOCUMENTED_UNSUPPORTED = DOCUMENTED_UNSUPPORTED
    def __init__(self, name="onnxruntime", exporter=EXPORTER, opset=None):
        self.name, self.exporter, self.opset = name, exporter, opset

    @property
    def versions(self):
        import onnx
        import onnxruntime
        import tf2onnx
        versions = tensorflow_versions()
        versions.update({"onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__,
                         "tf2onnx": tf2onnx.__version__,
                         "exporter": ("keras model.export(format='onnx')"
                                      if self.exporter == "keras" else "tf2onnx.from_keras"),
                         "opset": self.opset or f"tf2onnx default ({_default_opset()})",
                         "provider": "CPUExecutionProvider"})
        return versions

    @property
    def engine(self):
        return f"onnxruntime/{self.exporter}/opset={self.opset}"

    def run(self, case):
        session, inputs = self.converted(case)
        by_name = {_plain(name): array for name, array in feeds(inputs, case).items()}
        names = [i.name for i in session.get_inputs()]
        unknown = [n for n in names if _plain(n) not in by_name]
        if unknown:                 # never fed by position: a wrong guess would pass silently
            raise RuntimeError(f"the exported model's inputs {unknown} are none of the "
                               f"model's {list(by_name)}")
        return [np.asarray(o) for o in session.run(None, {n: by_name[_plain(n)] for n in names})]

    def _convert(self, case):
        """(an InferenceSession of the exported model, the model's inputs as `feeds` takes
        them); an export that raises raises ConversionFailed."""
        import onnxruntime

        model, paths = converting(lambda: self.builder.model(case))     # symbolic: may refuse
        # tf2onnx cannot export a model whose output is its input (an InputLayer case:
        # "ValueError: graph input 'features' not exist"); Keras's export can
        exporter = "keras" if case.layer == "InputLayer" else self.exporter
        proto = converting(lambda: self._export(model, exporter))
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        session = converting(lambda: onnxruntime.InferenceSession(
            proto, options, providers=["CPUExecutionProvider"]))
        return session, signature(model, paths)

    def _export(self, model, exporter):
        """The ONNX model's bytes."""
        import tensorflow as tf
        specs = [tf.TensorSpec(t.shape, t.dtype, name=t.name) for t in model.inputs]
        if exporter == "tf2onnx":
            import tf2onnx
            proto, _ = tf2onnx.convert.from_keras(model, input_signature=specs,
                                                  opset=self.opset)
            return proto.SerializeToString()
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.onnx")
            model.export(path, format="onnx", verbose=False, opset_version=self.opset,
                         input_signature=[specs] if len(specs) > 1 else specs)
            with open(path, "rb") as f:
                return f.read()


def _plain(name):
    """An input's name without the ":0" a TensorFlow graph may add."""
    return name.split(":")[0]


def _default_opset():
    try:
        from tf2onnx import constants
        return constants.PREFERRED_OPSET
    except (ImportError, AttributeError):
        return "unknown"
