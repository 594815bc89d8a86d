"""Named functions for Lambda cases. A fixture stores a name, since a Python function does not
travel between languages; each function uses only Python operators and slicing, so it runs
unchanged on NumPy arrays and on TensorFlow, JAX and PyTorch tensors.

A candidate resolves a Lambda config with `resolve_lambda_config`, which also reads the
functions of a complete Keras config: Keras 3 writes {"class_name": "function", "config":
"affine", ...}; tf_keras writes the function's marshalled bytecode with "function_type":
"lambda" and its module. A function that is not in this catalogue is outside the scope. A mask
given as a tensor is a name of MASK_TENSORS (or the value Keras 3 writes), resolved to a
boolean NumPy array.
"""
import base64
import marshal

import numpy as np

from reference.config import OutOfScope


def affine(x, scale=1.0, shift=0.0):
    return x * scale + shift


def square(x, scale=1.0):
    return x * x * scale


def head(x, scale=1.0):
    """The first two features."""
    return x[..., :2] * scale


FUNCTIONS = {"affine": affine, "square": square, "head": head}


def same_shape(input_shape):
    return tuple(input_shape)


def head_shape(input_shape):
    return (*tuple(input_shape)[:-1], 2)


# output_shape given as a callable: it receives the full input shape, batch axis included.
SHAPE_FUNCTIONS = {"same_shape": same_shape, "head_shape": head_shape}
SHAPE_OF = {"affine": "same_shape", "square": "same_shape", "head": "head_shape"}


def first_feature_positive(inputs, mask=None):
    return inputs[..., 0] > 0


MASK_FUNCTIONS = {"first_feature_positive": first_feature_positive}

# mask given as a tensor: Lambda's compute_mask returns a mask that is not callable as it is,
# whatever the input (keras/src/layers/core/lambda_layer.py, compute_mask; tf_keras the same).
# A case names one; its inputs are (2, 3, features), so it masks steps of the input's shape.
MASK_TENSORS = {"steps_2x3": ((True, False, True), (False, False, True))}


def _function_name(value, kind):
    """The catalogue name of a function as a config stores it, or None when it is none."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and value.get("class_name") == "function":
        return value.get("config")
    if kind == "lambda" and isinstance(value, (list, tuple)) and value:
        try:                # reads the code object's name; nothing is executed
            return marshal.loads(base64.decodebytes(value[0].encode("ascii"))).co_name
        except (ValueError, EOFError, TypeError, AttributeError):
            return None
    return None


def _mask_tensor(value):
    """The boolean array of a mask given as a tensor: a catalogue name, or the value Keras 3's
    get_config() writes ({"class_name": "__tensor__" or "__numpy__", "config": {"value",
    "dtype"}}: data, not code, so any value is read). None when `value` is neither."""
    if isinstance(value, str) and value in MASK_TENSORS:
        return np.array(MASK_TENSORS[value], bool)
    if isinstance(value, dict) and value.get("class_name") in ("__tensor__", "__numpy__"):
        return np.array(value["config"]["value"], value["config"].get("dtype", "bool"))
    return None


def _resolve(config, key, catalogue):
    kind = config.pop(f"{key}_type" if key != "function" else "function_type", None)
    module = config.pop(f"{key}_module" if key != "function" else "module", None)
    value = config.get(key)
    raw_shape = isinstance(value, (list, tuple)) and kind in (None, "raw") and all(
        d is None or isinstance(d, int) for d in value)
    if value is None or (key == "output_shape" and raw_shape):
        return
    name = _function_name(value, kind)
    if name not in catalogue or module not in (None, __name__, "builtins"):
        raise OutOfScope(f"outside the scope: Lambda {key}={value!r} is not a function of "
                         f"{__name__}")
    config[key] = catalogue[name]


def resolve_lambda_config(config):
    """A Lambda config (compact, or complete from Keras 3 or tf_keras) with its function names
    replaced by the Python functions they stand for."""
    config = dict(config)
    _resolve(config, "function", FUNCTIONS)
    _resolve(config, "output_shape", SHAPE_FUNCTIONS)
    if isinstance(config.get("output_shape"), list):
        config["output_shape"] = tuple(config["output_shape"])
    tensor = _mask_tensor(config.get("mask"))
    if tensor is not None:
        config["mask"] = tensor
    else:
        _resolve(config, "mask", MASK_FUNCTIONS)
    return config
