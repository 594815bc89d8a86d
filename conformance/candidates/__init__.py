"""Candidates: the implementations the suite tests.

A candidate is any object with
    name: str                        shown in reports and used for reports/<name>/
    spec: "keras3" | "keras2"        which Keras semantics (and fixture set) it targets
    run(case) -> list of arrays      the layer's outputs for case, in Keras order
and optionally
    supports(case) -> True | str     a string is the reason the case is skipped
    compute_mask(case) -> array|None the mask the layer emits (Masking, Lambda, Embedding...)
    observe(case) -> dict            runs the case as run() does and returns {"outputs": what
                                     run() returns, "weights": the layer's get_weights() after
                                     the call(s) (with no weights given: its initializers'
                                     draws), "losses": [float, ...] the losses it added,
                                     "constrained": each weight after its constraint, and for
                                     a round-trip case "round_trip": the outputs of the layer
                                     rebuilt from its own get_config(), and for a case with a
                                     cotangent "gradients": the gradients of sum(cotangent *
                                     outputs) with respect to each float input (then each
                                     initial_state / states array) and each trainable weight
                                     in get_weights() order, and optionally
                                     "output_shape": the first output's shape as the
                                     layer declares it (compute_output_shape), which
                                     the oracle tests check}. Used, in place of
                                     run(), for cases that check more than the outputs
                                     (BatchNormalization's moving statistics after a training
                                     call, ActivityRegularization's loss, the common parameters
                                     of conformance/contract.py); without it (or without a key)
                                     such a case whose outputs pass is skipped with the reason,
                                     never failed.
    device, versions                 shown in the report

`case` has id, layer (Keras class name), config (constructor arguments under get_config()
names), inputs, weights (get_weights() order), call_kwargs and cotangent (None, or for a
gradient case one array per output). A case whose params hold
"contract": "keras1" has its config in Keras 1 names and its weights in Keras 1's layout, of
the Keras 1 class params["keras1"] (reference/keras1.py). Lambda configs name their
functions: `conformance.lambdas.resolve_lambda_config` turns them into Python functions.

Built-in candidates are named below; any other is `module:attribute` naming a class (called
with no arguments) or an instance.
"""
import importlib

from conformance.candidates.keras_adapter import KerasCandidate
from conformance.candidates.litert import LiteRTCandidate
from conformance.candidates.onnx_runtime import OnnxRuntimeCandidate
from conformance.candidates.openvino import KerasOpenVINO
from conformance.candidates.reference_candidate import ReferenceCandidate

BUILTINS = {
    "reference": lambda: ReferenceCandidate("keras3"),
    "reference-keras2": lambda: ReferenceCandidate("keras2"),
    "tf.keras": lambda: KerasCandidate("tf.keras", "keras3", "tensorflow", backend="tensorflow"),
    "tf_keras": lambda: KerasCandidate("tf_keras", "keras2", "tf_keras"),
    "keras-tensorflow": lambda: KerasCandidate("keras-tensorflow", "keras3", "keras", "tensorflow"),
    "keras-jax": lambda: KerasCandidate("keras-jax", "keras3", "keras", "jax"),
    "keras-torch": lambda: KerasCandidate("keras-torch", "keras3", "keras", "torch"),
    "keras-numpy": lambda: KerasCandidate("keras-numpy", "keras3", "keras", "numpy"),
    # Keras 3 on JAX under Keras's mixed_bfloat16 policy, declared as computing in it
    "keras-jax-mixed_bfloat16": lambda: KerasCandidate("keras-jax-mixed_bfloat16", "keras3",
                                                       "keras", "jax", policy="mixed_bfloat16"),
    # the deploy engines (conversion_cache.py, one_layer.py and one module each)
    "litert": lambda: LiteRTCandidate("litert", xnnpack=True),
    "litert-builtin": lambda: LiteRTCandidate("litert-builtin", xnnpack=False),
    "litert-fp16": lambda: LiteRTCandidate("litert-fp16", xnnpack=True, float16_weights=True),
    "onnxruntime": lambda: OnnxRuntimeCandidate("onnxruntime"),
    "keras-openvino": lambda: KerasOpenVINO("keras-openvino"),
}


class CandidateLoadError(Exception):
    """The candidate named cannot be loaded (unknown name, bad module path, bad object)."""


def load(target):
    """The candidate named `target`: a built-in name or "module:attribute"."""
    if target in BUILTINS:
        return BUILTINS[target]()
    if ":" not in target:
        raise CandidateLoadError(f"unknown candidate {target!r}: use one of "
                                 f"{', '.join(BUILTINS)} or module:attribute")
    module_name, _, attribute = target.partition(":")
    try:
        obj = importlib.import_module(module_name)
        for part in attribute.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise CandidateLoadError(f"cannot load candidate {target!r}: {exc}") from exc
    try:
        candidate = obj() if isinstance(obj, type) else obj
    except Exception as exc:  # noqa: BLE001 - any failure to construct is a load failure
        raise CandidateLoadError(f"cannot load candidate {target!r}: {type(exc).__name__}: "
                                 f"{exc}") from exc
    missing = [a for a in ("name", "spec", "run") if not hasattr(candidate, a)]
    if missing:
        raise CandidateLoadError(f"candidate {target!r} lacks {', '.join(missing)}")
    if candidate.spec not in ("keras3", "keras2"):
        raise CandidateLoadError(f"candidate {target!r} has spec {candidate.spec!r}; "
                                 f"expected 'keras3' or 'keras2'")
    return candidate
