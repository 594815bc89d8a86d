"""Named functions for Lambda cases. A fixture stores a name, since a Python function does not
travel between languages; each function uses only Python operators and slicing, so it runs
unchanged on NumPy arrays and on TensorFlow, JAX and PyTorch tensors.

A candidate resolves a Lambda config with `resolve_lambda_config`.
"""


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


def resolve_lambda_config(config):
    """A Lambda config with its names replaced by the Python functions they stand for."""
    config = dict(config)
    config["function"] = FUNCTIONS[config["function"]]
    if isinstance(config.get("output_shape"), str):
        config["output_shape"] = SHAPE_FUNCTIONS[config["output_shape"]]
    elif config.get("output_shape") is not None:
        config["output_shape"] = tuple(config["output_shape"])
    if isinstance(config.get("mask"), str):
        config["mask"] = MASK_FUNCTIONS[config["mask"]]
    return config
