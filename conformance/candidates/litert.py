"""LiteRT (TensorFlow Lite) as users deploy it: the case's layer in a one-layer tf.keras model
(one_layer.py), converted by TensorFlow's converter with `TFLiteConverter.from_keras_model`
(float32, no optimizations, builtin ops only) and run by the `ai-edge-litert` interpreter.

`litert` is the interpreter as users get it: its default delegate, XNNPACK, takes the ops it
supports (OpResolverType.AUTO). `litert-builtin` resolves ops with
OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES: TFLite's builtin kernels alone, so that a
fault of the converter (in both) is told apart from one of the delegate (in `litert` only).

from_keras_model takes a Keras 3 model in TensorFlow 2.21: it exports the model as a SavedModel
and converts that (a concrete function of the layer converts too, but its Keras 3 variables stay
resource variables, READ_VARIABLE ops that the interpreter cannot run without their initializer
signature; the SavedModel route freezes them to constants). A conversion that raises is an error
whose message starts "conversion failed: ".
"""

import numpy as np

from conformance.candidates.conversion_cache import converting
from conformance.candidates.one_layer import (ConvertingCandidate, feeds, signature,
                                              tensorflow_versions)


# What LiteRT's builtin op set documents it cannot take (TensorFlow 2.21's converter, builtin
# ops only, as the `litert` candidates convert): skipped with the document, not errors
DOCUMENTED_UNSUPPORTED = (
    (r"'tf\.(AvgPool3D|MaxPool3D)' op is neither a custom op nor a flex op",
     "LiteRT has no 3-D pooling among its builtin operators: the BuiltinOperator enum of the "
     "TFLite schema (tensorflow/compiler/mlir/lite/schema/schema.fbs) holds AVERAGE_POOL_2D and "
     "MAX_POOL_2D only, and the converter legalizes tf.AvgPool and tf.MaxPool alone "
     "(tensorflow/compiler/mlir/lite/transforms/legalize_patterns.td)"),
    (r"'tf\.Conv2DBackpropInput' op is neither a custom op nor a flex op",
     "LiteRT's TRANSPOSE_CONV has no dilation: TransposeConvOptions in the TFLite schema "
     "(schema.fbs) holds padding, strides and activation only, where Conv2DOptions has "
     "dilation factors, and the converter lowers tf.Conv2DBackpropInput to it only with "
     "all-ones dilations (legalize_patterns.td)"),
    (r"'tf\.SpaceToBatchND' op is neither a custom op nor a flex op",
     "LiteRT's SPACE_TO_BATCH_ND takes 3-D and 4-D inputs only (google-ai-edge/LiteRT "
     "tflite/kernels/space_to_batch_nd.cc; TensorFlow Lite's op compatibility guide: "
     "tf.space_to_batch_nd 'as long as the input tensor is 4D'); TensorFlow lowers a dilated "
     "Conv3D to a 5-D SpaceToBatchND"),
    (r"'tf\.Conv3D' op is neither a custom op nor a flex op",
     "LiteRT's CONV_3D is channels_last (NDHWC) only (TensorFlow Lite's op compatibility guide: "
     "TensorFlow Lite supports only TensorFlow's NHWC format); Keras 3 computes a "
     "channels_first Conv3D inside an XLA-compiled function (keras/src/backend/tensorflow/"
     "nn.py, conv), which the converter does not lay out again"),
)


class LiteRTCandidate(ConvertingCandidate):
    DOCUMENTED_UNSUPPORTED = DOCUMENTED_UNSUPPORTED

    def __init__(self, name="litert", xnnpack=True, num_threads=None, float16_weights=False):
        self.name, self.xnnpack, self.num_threads = name, xnnpack, num_threads
        # float16_weights: the converter's float16 quantization (Optimize.DEFAULT with
        # supported_types [float16]): weights stored in float16, which LiteRT's CPU kernels
        # widen to float32 before computing; declared as exactly that
        self.float16_weights = float16_weights
        self.precision = "float16-weights" if float16_weights else "float32"

    @property
    def versions(self):
        import ai_edge_litert
        versions = tensorflow_versions()          # the converter is TensorFlow's
        versions["ai-edge-litert"] = getattr(ai_edge_litert, "__version__", "unknown")
        versions["delegate"] = "XNNPACK (default)" if self.xnnpack else "none (builtin kernels)"
        return versions

    @property
    def engine(self):
        return (f"litert/xnnpack={self.xnnpack}/threads={self.num_threads}/"
                f"fp16={self.float16_weights}")

    def run(self, case):
        runner, inputs = self.converted(case)
        try:
            result = runner(**feeds(inputs, case))
        except ValueError as exc:
            result = _empty_outputs(runner, exc)
        return [np.asarray(result[k]) for k in sorted(result, key=_output_number)]

    def _convert(self, case):
        """(the interpreter's signature runner, the model's inputs as `feeds` takes them);
        a conversion that raises raises ConversionFailed."""
        import tensorflow as tf
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        model, paths = converting(lambda: self.builder.model(case))     # symbolic: may refuse

        def convert():
            converter = tf.lite.TFLiteConverter.from_keras_model(model)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
            if self.float16_weights:
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
                converter.target_spec.supported_types = [tf.float16]
            else:
                converter.optimizations = []
                converter.target_spec.supported_types = [tf.float32]
            return converter.convert()

        flatbuffer = converting(convert)
        resolver = (OpResolverType.AUTO if self.xnnpack
                    else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        # allocating prepares every kernel: a model the interpreter refuses to prepare fails
        # here, in conversion, as onnxruntime's refusal to load a model does
        interpreter = converting(lambda: _prepared(Interpreter(
            model_content=flatbuffer, num_threads=self.num_threads,
            experimental_op_resolver_type=resolver)))
        return interpreter.get_signature_runner(), signature(model, paths)


def _empty_outputs(runner, exc):
    """The outputs of a call whose every output has no element: the interpreter runs it and
    gives their shapes, but the Python API cannot read a tensor of size zero back ("Invalid
    tensor size.", tensorflow/tensorflow#57084); any other failure is raised as it was."""
    details = runner.get_output_details()
    if "Invalid tensor size" not in str(exc) or not all(
            0 in detail["shape"] for detail in details.values()):
        raise exc
    return {name: np.zeros(detail["shape"], detail["dtype"]) for name, detail in details.items()}


def _prepared(interpreter):
    interpreter.allocate_tensors()
    return interpreter


def _output_number(key):
    """output_0, output_1, ..., output_10 in numeric order."""
    digits = key.rsplit("_", 1)[-1]
    return (int(digits) if digits.isdigit() else -1, key)
