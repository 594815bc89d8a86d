"""Specs of Lambda (a named function, its output_shape, arguments and mask, a mask given as a
tensor) and of the Input layer (shape or batch_shape, batch_size, dtype, name)."""
import dataclasses
import os

import numpy as np

import reference
from conformance import lambdas, tolerance
from conformance.regimes import ELEMENTWISE
from conformance.spec import Divergence, Expected, LayerSpec, Reject
from conformance.specs._common import daz_mask_divergence
from conformance.specs._engine_conversion import TFLITE_INPUT_NAME
from conformance.specs._engine_ops import BUILTIN_CLAMPED_OUTPUT, infinite_out
from conformance.specs.core import DATA_MOVEMENT_REGIMES, _batch, _dims
from reference.config import dtype_name

# Lambda ---------------------------------------------------------------------------------------

TENSOR_MASK = "steps_2x3"


def _lambda_make(params, rng):
    """A mask given as a tensor fits (2, 3, features) inputs: its shape is fixed."""
    features = int(rng.integers(2, 5))
    if params["mask"] == TENSOR_MASK:
        shape = (*np.shape(lambdas.MASK_TENSORS[TENSOR_MASK]), features)
    else:
        shape = (_batch(rng), *_dims(rng, int(rng.integers(1, 3)) - 1), features)
    function = params["function"]
    out_shape = lambdas.SHAPE_FUNCTIONS[lambdas.SHAPE_OF[function]](shape)[1:]
    output_shape = {None: None, "tuple": list(out_shape),
                    "callable": lambdas.SHAPE_OF[function]}[params["output_shape"]]
    arguments = {None: None, "scale": {"scale": 0.5}}[params["arguments"]]
    return {"function": function, "output_shape": output_shape, "mask": params["mask"],
            "arguments": arguments}, [shape]



def _computes_and_overflows(case):
    """An infinite output of a Lambda that computes (square, or affine and head with a scale
    or shift other than 1 and 0: the converter folds x * 1 + 0 away), where TFLite's builtin
    MUL or ADD gives FLT_MAX (_engine_ops.BUILTIN_CLAMPED_OUTPUT)."""
    arguments = case.config.get("arguments") or {}
    computes = (case.config.get("function") == "square" or arguments.get("scale", 1.0) != 1.0
                or arguments.get("shift", 0.0) != 0.0)
    return computes and infinite_out(case)

def _lambda_expect(case):
    x, = case.inputs
    config = lambdas.resolve_lambda_config(case.config)
    function = config["function"]
    arguments = config.get("arguments") or {}
    y = reference.lambda_layer(x, **config)
    # Each catalogue function is at most two roundings (a product, then a sum or product);
    # the function of |x| with |arguments| bounds every intermediate.
    with np.errstate(over="ignore", invalid="ignore"):
        magnitude = function(np.abs(np.asarray(x, np.float64)),
                             **{k: abs(v) for k, v in arguments.items()})
    mask = reference.core.lambda_mask(x, mask=config.get("mask"))
    # Keras runs the function as written on float32 tensors: where an intermediate overflows
    # (x * x beyond 3.4e38 in x * x * 0.5), the float32 answer is that infinity, although the
    # exact result is finite. IEEE float32 arithmetic on the same expression locates those
    # elements; everywhere else the float64 value stands.
    with np.errstate(over="ignore", invalid="ignore"):
        as_written = np.asarray(function(np.asarray(x, np.float32), **{
            k: np.float32(v) for k, v in arguments.items()}), np.float64)
    y = np.where(np.isinf(as_written) & np.isfinite(y), as_written, y)
    return Expected([y], [tolerance.evaluation_bound(magnitude, 2)], mask=mask)


LAMBDA = LayerSpec(
    layer="Lambda",
    domains={"function": tuple(lambdas.FUNCTIONS), "output_shape": (None, "tuple", "callable"),
             "mask": (None, "first_feature_positive", TENSOR_MASK),
             "arguments": (None, "scale"), "regime": ELEMENTWISE},
    # tf_keras's get_config() cannot write a mask that is not a function: it raises
    # "ValueError: Invalid input for serialization" (tf_keras/src/layers/core/lambda_layer.py,
    # get_config calls _serialize_function_to_config(self.mask) without allow_raw), so no
    # Keras 2 model holding one can be saved, and the suite, whose configs are get_config()'s,
    # keeps it to keras3 (tf_keras's compute_mask returns it as it is, as Keras 3's does).
    spec_values=(("mask", TENSOR_MASK, ("keras3",)),),
    make=_lambda_make, expect=_lambda_expect,
    divergences=(daz_mask_divergence(lambda case, x: reference.core.lambda_mask(
        x, mask=lambdas.resolve_lambda_config(case.config).get("mask"))),
                 dataclasses.replace(BUILTIN_CLAMPED_OUTPUT, when=_computes_and_overflows)),
    inputs=lambda config, shapes, regime: [regime.values(s, huge=True) for s in shapes],
)


# Input ----------------------------------------------------------------------------------------

def _input_make(params, rng):
    """shape + batch_size, or the same as one batch_shape (batch axis included); the data has
    batch_size rows, or params["data_batch"] (an edge case's batch that disagrees)."""
    shape = _dims(rng, params["rank"])
    data_shape = (params.get("data_batch") or params["batch_size"] or _batch(rng), *shape)
    if params["form"] == "batch_shape":
        config = {"batch_shape": [params["batch_size"], *shape]}
    else:
        config = {"shape": list(shape), "batch_size": params["batch_size"]}
    return {**config, "dtype": params["dtype"], "name": params["name"]}, [data_shape]


def _input_inputs(config, shapes, regime):
    if config["dtype"] == "int32":
        return [regime.rng.integers(-100, 100, size=shapes[0]).astype(np.int32)]
    return [regime.values(shapes[0]).astype(config["dtype"])]


JAX_WITHOUT_X64 = Divergence(
    candidates=("keras-jax",),
    when=lambda case: case.config.get("dtype") == "float64"
    and os.environ.get("JAX_ENABLE_X64", "0").lower() in ("0", "false", ""),
    reason="JAX truncates float64 to float32 unless jax_enable_x64 is set (JAX_ENABLE_X64=1)",
    evidence="https://docs.jax.dev/en/latest/default_dtypes.html; keras-team/keras#18482 "
             "(float64 is kept on every backend except JAX); jax-ml/jax#1333. With "
             "JAX_ENABLE_X64=1 the keras-jax Input returns float64")


def _input_edge(batch_size, form, data_batch, **params):
    """An Input declaring batch_size whose data holds another batch: neither Keras checks the
    batch axis at the call (the model's input_spec holds None there); the data passes."""
    return ({"form": form, "rank": 2, "batch_size": batch_size, "dtype": "float32",
             "name": "features", "regime": "unit", "data_batch": data_batch, **params}, None)


INPUT = LayerSpec(
    divergences=(JAX_WITHOUT_X64, TFLITE_INPUT_NAME),
    layer="InputLayer",
    domains={"form": ("shape", "batch_shape"), "rank": (1, 2, 3), "batch_size": (None, 2),
             "dtype": ("float32", "float64", "int32"), "name": (None, "features"),
             "regime": DATA_MOVEMENT_REGIMES},
    valid=lambda p: p["dtype"] != "int32" or p["regime"] == "unit",
    make=_input_make, inputs=_input_inputs,
    edge_cases=(_input_edge(2, "shape", 3), _input_edge(2, "batch_shape", 1),
                _input_edge(None, "shape", 1, name="a b:0")),   # any name but "/" (Keras 3)
    rejects=(Reject({"shape": [3], "batch_shape": [None, 3], "dtype": "float32"}, ((2, 3),),
                    "shape and batch_shape together"),
             Reject({"shape": [3], "dtype": "float32"}, ((2, 5),),
                    "data whose features (5) do not fit shape [3]"),
             Reject({"batch_shape": [2, 3, 4], "dtype": "float32"}, ((2, 4, 3),),
                    "data of shape (2, 4, 3) for batch_shape [2, 3, 4]"),
             Reject({"shape": [3], "dtype": "float32", "name": "a/b"}, ((2, 3),),
                    "Keras 3 refuses a name holding '/'", ("keras3",))),
    expect=lambda case: Expected(
        [reference.input_layer(case.inputs[0], **case.config, spec=case.spec)],
        [tolerance.exact()], dtypes=[dtype_name(case.config.get("dtype")) or "float32"]),
)
