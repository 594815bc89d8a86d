"""Running a case on a real Keras: Keras 3 on any backend (tf.keras of TensorFlow 2.16+ is
Keras 3 on TensorFlow) or tf_keras (Keras 2). Imported only inside a candidate's process."""
import copy
import dataclasses
import getpass
import importlib
import inspect
import json
import os
import tempfile
from collections.abc import Mapping

import numpy as np

from conformance import custom_layer
from conformance.candidates import gradients
from conformance.candidates.kept_layers import KeptLayers
from conformance.lambdas import resolve_lambda_config

# tf_keras's CuDNN layers: in its v1 API only (tf.compat.v1.keras.layers), and run on a GPU
# only (cuDNN's CudnnRNNV3 op has no CPU kernel: NotFoundError "Could not find device").
CUDNN_LAYERS = ("CuDNNGRU", "CuDNNLSTM")
# The merge layers' functional forms, keras.layers.add(inputs, **config); a merge layer's call
# takes no mask: the inputs' masks (a case's call argument "mask") reach its compute_mask only.
MERGE_FUNCTIONS = ("add", "subtract", "multiply", "average", "maximum", "concatenate", "dot")


class KerasCandidate:
    """A built-in candidate: `module` is imported on first use ("keras", "tf_keras", or
    "tensorflow" for tf.keras); `backend` is set as KERAS_BACKEND before Keras 3 loads."""

    def __init__(self, name, spec, module, backend=None, policy=None):
        self.name, self.spec, self.module, self.backend = name, spec, module, backend
        # a Keras dtype policy set for every layer ("mixed_bfloat16"), declared as the
        # candidate's precision (conformance/precision.py)
        self.policy, self.precision = policy, policy or "float32"
        self._keras = None
        self._kept = KeptLayers()       # built layers for later cases (kept_layers.py)

    @property
    def keras(self):
        if self._keras is None:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            if self.backend in ("jax", "numpy"):
                jax_compilation_cache()
            if self.backend:
                loaded = os.environ.get("KERAS_BACKEND", self.backend)
                import sys
                if "keras" in sys.modules and loaded != self.backend:
                    raise RuntimeError(f"Keras is already loaded with backend {loaded!r} in this "
                                       f"process; Keras 3 runs one backend per process")
                os.environ["KERAS_BACKEND"] = self.backend
            module = importlib.import_module(self.module)
            self._keras = module.keras if self.module == "tensorflow" else module
            if self.backend and self._keras.backend.backend() != self.backend:
                raise RuntimeError(f"asked for backend {self.backend!r}, Keras loaded "
                                   f"{self._keras.backend.backend()!r}")
            if self.policy:
                self._keras.config.set_dtype_policy(self.policy)
        return self._keras

    @property
    def versions(self):
        keras = self.keras
        versions = {"keras": keras.__version__ if hasattr(keras, "__version__") else keras.version()}
        backend = {"numpy": ("numpy", "jax"), None: ("tensorflow", "tf_keras")}.get(
            self.backend, (self.backend,))
        for package in backend:
            try:
                versions[package] = importlib.import_module(package).__version__
            except ImportError:
                pass
        return versions

    @property
    def device(self):
        self.keras          # Keras loads its backend first, in the environment it sets up
        backend = self.backend or "tensorflow"
        if backend == "jax":
            import jax
            return str(jax.devices()[0].platform)
        if backend == "torch":
            import torch
            return "gpu" if torch.cuda.is_available() else "cpu"
        if backend == "tensorflow":
            import tensorflow as tf
            return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
        return "cpu"

    # ------------------------------------------------------------------------------------------
    def build(self, case):
        """The layer, from its config: a compact one (constructor arguments) or a complete
        get_config() (from_config reads both)."""
        config = copy.deepcopy(case.config)      # from_config may take nested configs apart
        if case.layer == "Lambda":
            config = resolve_lambda_config(config)
            if isinstance(config.get("mask"), np.ndarray):     # a mask given as a tensor
                config["mask"] = self._tensor(config["mask"])
            return self.keras.layers.Lambda(**config)
        if case.layer == "MyLayer":         # the seeds' custom layer, as the seed writes it
            return custom_layer.my_layer_class(self.keras).from_config(config)
        if case.layer == "InputLayer":
            return None
        if case.layer == "Sequential":    # a model of layers, masks handed from one to the next
            return self.keras.Sequential.from_config(config)
        if case.layer in CUDNN_LAYERS and self.module == "tf_keras":
            v1 = importlib.import_module("tf_keras.api._v1.keras.layers")
            return getattr(v1, case.layer).from_config(config)
        if case.layer in MERGE_FUNCTIONS:       # its layer: shape, config and mask
            return getattr(self.keras.layers, case.layer.capitalize()).from_config(config)
        return getattr(self.keras.layers, case.layer).from_config(config)

    def supports(self, case):
        """True, or why this Keras cannot run the case: a config in Keras 1 names; tf_keras
        runs its CuDNN layers on a GPU only; Keras 3 has none; a gradient case (one with a
        cotangent) on a backend without autodiff (NumPy, OpenVINO: gradients.unavailable)."""
        no_gradients = gradients.unavailable(self, case)
        if no_gradients:
            return no_gradients
        if case.params.get("contract") == "keras1":
            return (f"a config in Keras 1 names ({case.params['keras1']}): Keras 2 and 3 read "
                    f"none of them (Keras 2.0 renamed them; tf_keras and Keras 3 kept no "
                    f"translation)")
        if case.layer in CUDNN_LAYERS:
            if self.module != "tf_keras":
                return f"{case.layer} is a Keras 2 layer (tf_keras); Keras 3 dropped it"
            if self.device != "gpu":
                return (f"tf_keras runs {case.layer} on a GPU only (cuDNN's CudnnRNNV3 op "
                        f"has no CPU kernel) and TensorFlow sees no GPU here")
        return True

    def _input(self, config):
        """The symbolic input of an Input config: compact (keras.Input's arguments) or the
        complete get_config() of an InputLayer."""
        if "sparse" in config or "batch_input_shape" in config:
            return self.keras.layers.InputLayer.from_config(dict(config)).output
        return self.keras.Input(**config)

    def _tensor(self, value):
        if hasattr(self.keras, "ops"):
            return self.keras.ops.convert_to_tensor(value)
        import tensorflow as tf               # tf_keras
        return tf.convert_to_tensor(value)

    def _call(self, layer, case):
        """The layer's call on the case: its arrays as tensors (a mask, initial states); the
        inputs and states may already be tensors (gradients.py hands those it
        differentiates)."""
        inputs = case.inputs[0] if len(case.inputs) == 1 else list(case.inputs)
        if case.layer in MERGE_FUNCTIONS:
            return getattr(self.keras.layers, case.layer)(inputs, **case.config)
        kwargs = {}
        for name, value in case.call_kwargs.items():      # arrays (a mask, initial states)
            if name == "mask" and case.layer.lower() in MERGE_FUNCTIONS:
                continue
            if isinstance(value, np.ndarray):
                value = self._tensor(value)
            elif isinstance(value, list) and all(
                    isinstance(v, np.ndarray) or _is_tensor(v) for v in value):
                value = [self._tensor(v) for v in value]
                if name in ("states", "initial_state"):
                    value = _per_cell(layer, value)
            kwargs[name] = value
        return layer(inputs, **kwargs)

    def outputs_of(self, layer, case):
        """The layer's outputs for the case, one flat list of tensors (gradients.py
        differentiates them)."""
        return _flatten(self._call(layer, case))

    def _to_numpy(self, value):
        if hasattr(self.keras, "ops"):
            return np.asarray(self.keras.ops.convert_to_numpy(value))
        return np.asarray(value)

    def _arrays(self, outputs):
        """The outputs of a call as NumPy arrays."""
        return [self._to_numpy(o) for o in outputs]

    def run(self, case):
        layer, outputs = self._run(case)
        self._keep(case, layer)
        return outputs

    def _keep(self, case, layer):
        """The case's layer, after a call that answered, kept for a later case (Keras 3)."""
        if hasattr(self.keras, "ops"):
            self._kept.keep(case, layer)

    def observe(self, case):
        """run(case), and what the call leaves in the layer: its get_weights() after the
        call (BatchNormalization's moving statistics after a training call; the
        initializers' draws where the case gives no weights), its losses (activity and
        weight regularizers', as floats), "constrained": each weight after its constraint
        (as an optimizer step applies it; a weight without one as it is), and, for a
        round-trip case, "round_trip": the outputs of the layer rebuilt from its own
        get_config() (through JSON, as a saved model holds it) with the same weights; the
        round-trip case's outputs and the rest are then the rebuilt layer's. For a case with
        a cotangent, "gradients": the gradients of sum(cotangent * outputs) with respect to
        the inputs, then the trainable weights, by the backend's autodiff (gradients.py;
        absent where the backend has none); where that autodiff records an ordinary call of
        the layer (TensorFlow, torch), the outputs and the rest are that call's, the layer
        called once. "output_shape": what the called layer's compute_output_shape declares
        (output_shape()'s "shape", which the oracle tests check against the outputs without
        building the layer again)."""
        round_trip = case.params.get("contract") == "round_trip"
        if round_trip:        # the case's layer is built only for its config; the rebuilt runs
            config = self.build(case).get_config()
            case = dataclasses.replace(
                case, config=json.loads(json.dumps(config, default=_json_default)))
        differentiated = gradients.differentiated(self, case)
        layer, outputs, grads = differentiated or (None, None, None)
        if layer is None:
            layer, outputs = self._run(case)
        if layer is None:
            return {"outputs": outputs, "weights": [], "losses": [],
                    **self._shape_seen(None, case)}
        seen = {"outputs": outputs, "weights": [np.asarray(w) for w in layer.get_weights()],
                "losses": [float(self._to_numpy(loss)) for loss in layer.losses],
                "constrained": [self._to_numpy(v.constraint(v)) if getattr(
                    v, "constraint", None) is not None else self._to_numpy(v)
                    for v in layer.weights]}
        if round_trip:
            seen["round_trip"] = outputs
        if grads is not None:
            seen["gradients"] = grads
        seen.update(self._shape_seen(layer, case))
        self._keep(case, layer)
        return seen

    def _shape_seen(self, layer, case):
        """{"output_shape": what the called layer declares (output_shape's "shape")}, or {}
        where asking raises (the oracle tests then ask output_shape(), which says why)."""
        try:
            shape = self.output_shape(case)["shape"] if layer is None \
                else self._declared_shape(layer, case)
        except Exception:  # noqa: BLE001 - the outputs stand; only the declaration is missing
            return {}
        return {"output_shape": shape}

    def _run(self, case):
        """(the layer, its outputs as NumPy arrays) for the case."""
        if case.layer == "InputLayer":
            inp = self._input(case.config)
            return None, [self._to_numpy(self.keras.Model(inp, inp)(case.inputs[0]))]
        if case.config.get("stateful"):
            layer = self.build(case)
            # one call per input, the states carried between calls; the first (building) call
            # moves the states, so they are reset once the weights are set
            calls = [dataclasses.replace(case, inputs=[x]) for x in case.inputs]
            self._call(layer, calls[0])
            layer.set_weights([np.asarray(w) for w in case.weights])
            layer.reset_states()
            return layer, self._arrays([o for call in calls
                                        for o in _flatten(self._call(layer, call))])
        layer = self.prepared(case)
        out = self._call(layer, case)
        return layer, self._arrays(_flatten(out))

    def prepared(self, case):
        """The layer of a case that is not stateful, built and holding the case's weights:
        ready for the call whose outputs count: the layer an earlier case built and left
        kept (kept_layers.py), or a new one."""
        layer = self._kept.take(case)
        if layer is not None:
            set_weights(layer, case)
            return layer
        layer = self.build(case)
        if case.weights:
            if not self._built_from_shapes(layer, case):
                # a layer that cannot build from shapes alone builds in a first call, its
                # outputs (from the initializers' weights) thrown away
                layer = self.build(case)
                self._call(layer, case)
            set_weights(layer, case)
        return layer

    def _built_from_shapes(self, layer, case):
        """Whether layer.build(input shapes) built the layer, as its first call would have
        (Keras calls build with the shapes of the call's first argument: a shape, or a list of
        them; tf_keras hands TensorShapes), without running it: a recurrent layer's first
        call would run every step on weights that set_weights then replaces."""
        shapes = [tuple(np.shape(x)) for x in case.inputs]
        if not hasattr(self.keras, "ops"):          # tf_keras
            import tensorflow as tf
            shapes = [tf.TensorShape(s) for s in shapes]
        try:
            layer.build(shapes[0] if len(shapes) == 1 else shapes)
        except Exception:  # noqa: BLE001 - the caller builds the layer by calling it instead
            return False
        # tf_keras's MultiHeadAttention makes its sublayers' weights in its first call only
        return bool(layer.built) and bool(layer.weights or not case.weights)

    def compute_mask(self, case):
        if case.layer == "InputLayer":
            return None
        layer = self.build(case)
        if case.layer.lower() in MERGE_FUNCTIONS:     # a list of inputs, one mask each
            masks = case.call_kwargs.get("mask")
            mask = layer.compute_mask([self._tensor(x) for x in case.inputs],
                                      masks and [self._tensor(m) for m in masks])
            return None if mask is None else self._to_numpy(mask)
        inputs = case.inputs[0] if len(case.inputs) == 1 else list(case.inputs)
        if hasattr(self.keras, "ops"):
            inputs = self.keras.ops.convert_to_tensor(inputs)
        else:                   # tf_keras: a model hands its layers TensorFlow tensors
            import tensorflow as tf
            inputs = tf.convert_to_tensor(inputs)
        given = case.call_kwargs.get("mask")      # a mask handed to the call (the wrappers)
        mask = layer.compute_mask(inputs, None if given is None else self._tensor(given))
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None      # several outputs: the first output's mask
        return None if mask is None else self._to_numpy(mask)

    # Used by the oracle tests only ------------------------------------------------------------
    def output_shape(self, case):
        """{"shape": what compute_output_shape says for the case's input shapes}, batch axis
        included (an Input without batch_size declares None there)."""
        if case.layer == "InputLayer":
            return {"shape": _shape_list(self._input(case.config).shape)}
        return {"shape": self._declared_shape(self.build(case), case)}

    def _declared_shape(self, layer, case):
        """What `layer` (as built, called or not) declares for the case's input shapes: its
        compute_output_shape, the first output's where it has several (return_state); a
        cell's output_size (a cell declares that, not compute_output_shape)."""
        shapes = [tuple(np.shape(x)) for x in case.inputs]
        if hasattr(layer, "state_size") and not hasattr(layer, "return_sequences"):
            return [int(shapes[0][0]), int(layer.output_size)]
        if not layer.built:             # tf_keras's EinsumDense computes it in build()
            try:
                layer.build(shapes[0] if len(shapes) == 1 else shapes)
            except Exception:  # noqa: BLE001 - MultiHeadAttention builds from its call
                pass
        shape = layer.compute_output_shape(shapes[0] if len(shapes) == 1 else shapes,
                                           **_shape_arguments(layer, case.call_kwargs))
        if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)) \
                or isinstance(shape, list) and shape and hasattr(shape[0], "as_list"):
            shape = shape[0]                  # several outputs (return_state): the first
        return _shape_list(shape)

    def full_config(self, case):
        """The complete get_config() of the layer the case's config builds, as JSON values:
        what a converter reads from a saved model."""
        if case.layer == "InputLayer":
            layer = self._input(case.config)._keras_history[0]
        else:
            layer = self.build(case)
        return json.loads(json.dumps(layer.get_config(), default=_json_default))

    def rejection(self, case):
        """How Keras refuses the case's config: (exception type, message), or None if it
        builds and runs."""
        try:
            self.run(case)
        except Exception as exc:  # noqa: BLE001 - the oracle reports whatever Keras raised
            return type(exc).__name__, str(exc)[:300]
        return None


def jax_compilation_cache():
    """JAX's persistent compilation cache, on for a Keras process on JAX (and on NumPy, whose
    convolutions run in JAX) unless the environment already sets it: JAX compiles each eager
    op for each new shape, which is nearly all of a golden case's time there (24 Dense and
    Conv1D cases under mixed_bfloat16: 12.8 s in a fresh process, 0.06 s for the same cases
    once compiled). Every op compiled for any shape and dtype is kept, so a second process (the
    other xdist worker, the next run) loads what the first compiled instead of compiling it
    again: the same executables, the same results. The cache is one directory per user in
    the temp directory; JAX_COMPILATION_CACHE_DIR picks another, and
    JAX_ENABLE_COMPILATION_CACHE=false turns it off. Set before JAX is imported."""
    if "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return
    os.environ["JAX_COMPILATION_CACHE_DIR"] = os.path.join(
        tempfile.gettempdir(), f"keras-conformance-jax-{getpass.getuser()}")
    # JAX keeps only compilations over one second by default; an eager op takes milliseconds
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


def set_weights(layer, case):
    """The case's weights into the built layer, in get_weights() order, then its
    finalize_state() where it has one."""
    weights = [np.asarray(w) for w in case.weights]
    if case.layer == "MyLayer":     # its kernel must be its one trainable weight
        custom_layer.set_trainable_weights(layer, weights)
    else:
        layer.set_weights(weights)
    # A layer may compute with tensors made from its weights: an adapted Normalization's
    # call reads self.mean and self.variance, which finalize_state() reshapes from the
    # weights. Loading a saved model calls it after restoring the variables (Keras 3:
    # load_own_variables in keras/src/layers/preprocessing/normalization.py); Keras 3's
    # set_weights does not, so without this call the layer would keep its initial mean 0
    # and variance 1. tf_keras's set_weights already calls it (tf_keras/src/engine/
    # base_layer.py); a second call recomputes the same tensors.
    finalize = getattr(layer, "finalize_state", None)
    if callable(finalize):
        finalize()


def _per_cell(layer, states):
    """A case's states of a stack of cells (StackedRNNCells, or an RNN of one) are each cell's
    states in turn, flat; Keras takes them nested per cell: [h1, [h2, c2], h3]."""
    cells = getattr(layer, "cells", None) or getattr(getattr(layer, "cell", None), "cells", None)
    if not cells:
        return states
    nested = []
    for cell in cells:
        size = cell.state_size
        count = len(size) if isinstance(size, (list, tuple)) else 1
        nested.append(states[:count] if isinstance(size, (list, tuple)) else states[0])
        states = states[count:]
    return nested


def _is_tensor(value):
    """Whether value is a framework's tensor (or a JAX tracer): array-like, not a list."""
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, list)


def _flatten(out):
    """A layer's outputs as one flat list, in Keras order: a cell's (output, [h, c]) is
    [output, h, c]."""
    if isinstance(out, (list, tuple)):
        return [leaf for item in out for leaf in _flatten(item)]
    return [out]


def _shape_arguments(layer, call_kwargs):
    """The call's keyword arguments that compute_output_shape takes too: an array argument
    as its shape under `<name>_shape` (MultiHeadAttention's value_shape and key_shape), any
    other by its name (ReversibleEmbedding's reverse)."""
    taken = inspect.signature(layer.compute_output_shape).parameters
    given = {}
    for name, value in call_kwargs.items():
        if isinstance(value, np.ndarray) and f"{name}_shape" in taken:
            given[f"{name}_shape"] = tuple(value.shape)
        elif not isinstance(value, np.ndarray) and name in taken:
            given[name] = value
    return given


def _shape_list(shape):
    """A declared shape (a tuple, a list, tf_keras's TensorShape) as a list of ints and None."""
    shape = shape.as_list() if hasattr(shape, "as_list") else shape
    return [None if d is None else int(d) for d in shape]


def _json_default(value):
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):    # tf_keras's ReLU keeps its numbers as 0-d arrays
        return value.tolist()
    if hasattr(value, "as_list"):        # tf_keras's TensorShape (MultiHeadAttention's config)
        return value.as_list() if value.rank is not None else None
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):       # tf_keras's tracked _DictWrapper (a backward_layer)
        return dict(value)
    raise TypeError(f"a layer config holds {type(value).__name__} {value!r}, which JSON cannot")
