"""What a layer's complete get_config() means to the reference: the one place that decides
which keys only describe a layer and which change what it computes.

Every reference layer function takes its layer's config exactly as Keras 3 or tf_keras writes
it (`reference.dense(x, kernel, bias, **layer.get_config())`). `takes_config` sorts the keys:

- the function's own keyword arguments (units, activation, padding, ...) are the computation;
- DESCRIPTIVE keys name or train the layer, or say how weights are made, regularised or
  constrained; with the weights given they change nothing in a forward pass, and are dropped;
- NEUTRAL keys change the result unless they hold their neutral value (groups=1, a float32
  dtype policy, no quantization or LoRA, a dense input); at that value they are dropped, at
  any other the call raises OutOfScope naming the key and its value;
- any other key is unknown to the suite, and raises OutOfScope too: it may change the result.

OutOfScope is not a ValueError: ValueError means "Keras refuses this config", OutOfScope means
"Keras may accept it, but the reference does not implement it".
"""
import functools
import inspect


class OutOfScope(Exception):
    """A config the reference does not implement (a key, or a value of a key, outside the
    scope of the suite); Keras may well accept it."""


DESCRIPTIVE = frozenset({
    "name", "trainable",
    "kernel_initializer", "bias_initializer", "embeddings_initializer",
    "recurrent_initializer", "depthwise_initializer", "pointwise_initializer",
    "gamma_initializer", "beta_initializer", "moving_mean_initializer",
    "moving_variance_initializer", "alpha_initializer",
    "kernel_regularizer", "bias_regularizer", "recurrent_regularizer",
    "depthwise_regularizer", "pointwise_regularizer", "embeddings_regularizer",
    "gamma_regularizer", "beta_regularizer", "alpha_regularizer",
    # adds a loss term; the layer's output is unchanged
    "activity_regularizer",
    "kernel_constraint", "bias_constraint", "recurrent_constraint", "depthwise_constraint",
    "pointwise_constraint", "embeddings_constraint", "gamma_constraint", "beta_constraint",
    "alpha_constraint",
    # the input a model expects (tf_keras writes it on a Sequential model's first layer)
    "batch_input_shape", "input_dim",
    # only matters when the input is None (an optional model input)
    "optional",
    # LoRA's scale, which matters only with a lora_rank (a NEUTRAL key)
    "lora_alpha",
})

# key -> (the neutral values, what the key does)
NEUTRAL = {
    "dtype": (("float32",), "the dtype policy: a compute dtype other than float32"),
    "groups": ((1,), "grouped convolution"),
    "quantization_config": ((None,), "a quantized layer"),
    "lora_rank": ((None,), "LoRA weights"),
    "sparse": ((False, None), "sparse inputs"),
    "ragged": ((False, None), "ragged inputs"),
}


def dtype_name(dtype):
    """The dtype (policy) name in a config: "float32", or the name inside a Keras 3
    DTypePolicy or a tf_keras Policy dict ({"class_name": ..., "config": {"name": ...}})."""
    if isinstance(dtype, dict):
        config = dtype.get("config")
        return config.get("name") if isinstance(config, dict) else None
    return dtype


def _neutral(key, value):
    if key == "dtype":
        value = dtype_name(value)
        return value is None or value == "float32"
    return any(value is v or (v is not None and value == v and type(value) is type(v))
               for v in NEUTRAL[key][0])


@functools.lru_cache(maxsize=None)
def _keyword_only(function):
    """The names of a function's keyword-only parameters (its config keys)."""
    return frozenset(name for name, p in inspect.signature(function).parameters.items()
                     if p.kind is p.KEYWORD_ONLY)


def layer_arguments(function, config):
    """The keyword arguments of the reference `function` taken from a layer's config: its own
    keys, with the descriptive and neutral ones dropped. Raises OutOfScope for the rest."""
    own = _keyword_only(function)
    kept = {}
    for key, value in config.items():
        if key in own:
            kept[key] = value
        elif key in DESCRIPTIVE:
            continue
        elif key in NEUTRAL:
            if not _neutral(key, value):
                raise OutOfScope(f"outside the scope: {key}={value!r} ({NEUTRAL[key][1]}) "
                                 f"is not implemented by the reference")
        else:
            raise OutOfScope(f"outside the scope: the suite does not know the config key "
                             f"{key!r} (value {value!r}); it may change the result")
    return kept


def takes_config(function):
    """Let a reference layer function take its layer's complete get_config(). Keyword
    arguments naming one of its positional parameters (the call's mask, initial_state) pass
    through as they are; the rest is the config."""
    positional = {name for name, p in inspect.signature(function).parameters.items()
                  if p.kind is p.POSITIONAL_OR_KEYWORD}

    @functools.wraps(function)
    def wrapper(*arrays, **config):
        call = {k: config.pop(k) for k in list(config) if k in positional}
        return function(*arrays, **call, **layer_arguments(function, config))
    return wrapper
