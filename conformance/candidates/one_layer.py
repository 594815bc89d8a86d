"""The case's layer inside a one-layer tf.keras model: what the converting candidates (litert,
onnxruntime) hand their converter. The layer is built, called and given its weights by the
suite's own KerasCandidate on tf.keras; only the call's tensors differ: the model's inputs are
the case's inputs and the call's array arguments (a mask, initial states), all as keras.Input
of the case's shapes (batch included), so the converted graph takes them as inputs and holds
the weights as constants."""
import dataclasses
import os
import re

import numpy as np

from conformance.candidates.conversion_cache import CACHE, ConversionFailed, case_key
from conformance.candidates.keras_adapter import KerasCandidate, _flatten, set_weights


# The common parameters' cells (conformance/contract.py) a converted graph has nothing to show
# for: skipped before any conversion
NOT_IN_A_GRAPH = {
    "initializer": "an initializer's draw happens in Keras when the layer is built; a converted "
                   "model holds the weights handed to the converter and draws none",
    "regularizer": "the losses a layer adds (its regularizers') are not part of an inference "
                   "graph: a converted model outputs only the layer's outputs",
    "constraint": "a constraint is applied by an optimizer step after an update; a converted "
                  "inference graph has no variables to constrain",
    "round_trip": "the get_config() round trip is Keras's own; a converted model has no "
                  "config to rebuild from (the converted outputs are judged in the base case)",
    "gradient": "a gradient case asks for the backward pass; a converted model is an inference "
                "graph without one (the forward outputs are judged in the base case)",
}


# What the one-layer model itself cannot be built for: Keras's symbolic call refuses it
BUILD_REFUSALS = (
    (r"Computed output size would be zero or negative",
     "a zero-size output: Keras's symbolic shape inference refuses it "
     "(keras/src/ops/operation_utils.py, 'Computed output size would be zero or negative'), "
     "so no one-layer model can be built to hand to a converter (tf.keras, run eagerly, "
     "returns the empty output)"),
)


def not_expressible(case):
    """Why a one-layer inference graph cannot express the case, or None."""
    if case.layer == "InputLayer":
        config = case.config
        declared = config.get("batch_size") or (config.get("batch_shape") or
                                                config.get("batch_input_shape") or [None])[0]
        if declared is not None and declared != np.shape(case.inputs[0])[0]:
            return (f"the case feeds a batch of {np.shape(case.inputs[0])[0]} to an InputLayer "
                    f"declaring {declared}: Keras does not hold an InputLayer to its batch, a "
                    f"converted graph holds the declared static shape")
    if case.call_kwargs.get("training") is True:
        return ("a training call (training=True): a converted model is an inference graph; "
                "the converters trace the layer at inference")
    if case.config.get("stateful"):
        return ("a stateful layer called once per input, its states carried between calls: "
                "a converted model is one stateless call")
    return NOT_IN_A_GRAPH.get(case.params.get("contract"))


class OneLayerModel(KerasCandidate):
    """KerasCandidate on tf.keras, whose array call arguments become the model's inputs."""

    def __init__(self):
        super().__init__("one-layer", "keras3", "tensorflow", backend="tensorflow")
        self._symbols, self._used = {}, []

    def _tensor(self, value):
        """An array of the case's call arguments: its keras.Input (a constant otherwise:
        a Lambda's mask given in its config)."""
        symbol = self._symbols.get(id(value))
        if symbol is None:
            return super()._tensor(value)
        if not any(symbol is used for used in self._used):
            self._used.append(symbol)
        return symbol

    def model(self, case):
        """(the one-layer keras.Model, where each of model.inputs comes from in the case:
        ("input", i) or (call argument, j), the j-th array of that argument)."""
        keras = self.keras
        if case.layer == "InputLayer":
            inp = self._input(case.config)
            return keras.Model(inp, inp), [("input", 0)]
        inputs = [self._symbol(x, f"in{i}") for i, x in enumerate(case.inputs)]
        self._symbols, self._used = {}, []
        paths = {}
        for name, value in case.call_kwargs.items():
            for j, array in enumerate(value if isinstance(value, list) else [value]):
                if isinstance(array, np.ndarray):
                    symbol = self._symbols[id(array)] = self._symbol(array, f"{name}{j}")
                    paths[id(symbol)] = (name, j)
        layer = self.build(case)
        outputs = _flatten(self._call(layer, dataclasses.replace(case, inputs=inputs)))
        if case.weights:
            set_weights(layer, case)
        used, self._symbols, self._used = self._used, {}, []
        model = keras.Model(inputs + used, outputs)
        return model, [("input", i) for i in range(len(inputs))] + [paths[id(s)] for s in used]

    def _symbol(self, array, name):
        array = np.asarray(array)
        return self.keras.Input(shape=array.shape[1:], batch_size=array.shape[0],
                                dtype=array.dtype.name, name=name)


def signature(model, paths):
    """[(input name, dtype, path)] of `model`, as `feeds` takes it (plain values, kept in the
    conversion cache beside the converted model)."""
    return [(t.name, np.dtype(t.dtype), path) for t, path in zip(model.inputs, paths)]


def feeds(signature, case):
    """{input name: array} of `case` for a model of that signature, each array in the dtype
    its input declares (a user feeds a model what it declares; tf.keras casts what it is
    given)."""
    out = {}
    for name, dtype, (source, j) in signature:
        value = case.inputs[j] if source == "input" else case.call_kwargs[source]
        array = value[j] if isinstance(value, list) else value
        out[name] = np.asarray(array).astype(dtype, copy=False)
    return out


def tensorflow_versions():
    import tensorflow as tf
    return {"tensorflow": tf.__version__, "keras": tf.keras.__version__}


class ConvertingCandidate:
    """What the converting candidates (litert, onnxruntime) share: keras3 semantics on the CPU,
    the one-layer model's builder, the conversion cache, and what they skip.

    A subclass names its `engine` (the cache's key prefix: the engine and its options) and
    gives `_convert(case)` -> what `run` needs; `converted(case)` looks it up in the cache.
    DOCUMENTED_UNSUPPORTED: (pattern over the "conversion failed: ..." message, the document
    saying the engine does not support it); a case whose conversion fails so is skipped with
    that reason and the converter's own message, before run. Any other failed conversion is
    an error: the engine claims the op and cannot convert this config."""
    spec = "keras3"
    device = "cpu"
    precision = "float32"
    engine = None
    DOCUMENTED_UNSUPPORTED = ()
    _builder = None

    @property
    def builder(self):
        if self._builder is None:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            self._builder = OneLayerModel()
        return self._builder

    def converted(self, case):
        """The engine's converted model of the case's layer (cached; a failed conversion
        raises its ConversionFailed again)."""
        return CACHE.get(case_key(self.engine, case), lambda: self._convert(case),
                         engine=self.engine, case_id=case.id)

    def supports(self, case):
        """True, or why not: what a converted inference graph cannot express, what Keras 3
        itself does not run (the suite's KerasCandidate says), and what the engine documents
        as unsupported (its conversion is tried here, once: run() finds it in the cache)."""
        verdict = not_expressible(case) or self.builder.supports(case)
        if verdict is not True:
            return verdict
        return self.documented_unsupported(case) or True

    def documented_unsupported(self, case):
        """Why the engine cannot take the case, where its conversion fails as its documents
        (or Keras's symbolic call, BUILD_REFUSALS) say it must; None otherwise."""
        try:
            self.converted(case)
        except ConversionFailed as failed:
            for pattern, document in BUILD_REFUSALS + tuple(self.DOCUMENTED_UNSUPPORTED):
                if re.search(pattern, str(failed)):
                    return f"{document} ({failed})"
        return None
