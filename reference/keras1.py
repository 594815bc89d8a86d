"""Keras 1 layer configs in today's vocabulary: one table, and translate() that applies it.

The seeds write layers the Keras 1 way (Convolution2D(64, 3, 3, border_mode='same'),
Dense(output_dim=..., init=...)). translate(layer, config, weights, input_shapes) returns the
current class name, the config under Keras 2/3 get_config() names and the weights in today's
get_weights() layout, for the reference functions. The Keras 1 facts are Keras 1.2.2's source
(initializations.py, layers/, backends); the renames agree with Keras 2.0's own converters
(legacy/interfaces.py, topology.preprocess_weights_for_loading).

THE TABLE (one dict per layer below; a key not in its layer's dict raises Keras1Error)
  every layer   name, trainable -> the same. input_shape, batch_input_shape, and input_dim,
                input_length where listed: dropped, they declare the input's shape (checked
                against input_shapes: ValueError naming the key). input_dtype: dropped (the
                input's dtype, not the layer's). weights: ValueError, pass the arrays apart.
  Dense         output_dim -> units; init -> kernel_initializer [I]; activation [A]; bias ->
                use_bias; W_regularizer, b_regularizer, activity_regularizer -> kernel_/bias_/
                activity_regularizer [R]; W_constraint, b_constraint -> kernel_/bias_constraint
                [C]; input_dim (declaration). bias_initializer "zeros" (Keras 1's only one).
  Convolution1D -> Conv1D   nb_filter -> filters; filter_length -> kernel_size (n,);
                subsample_length -> strides (n,); border_mode -> padding [P]; input_dim,
                input_length (declarations); the rest as Dense. data_format "channels_last".
  Convolution2D -> Conv2D   nb_filter -> filters; nb_row, nb_col -> kernel_size (r, c);
                subsample -> strides; border_mode -> padding [P]; dim_ordering -> data_format
                [D]; the rest as Dense.
  Embedding     input_dim (the vocabulary here), output_dim, mask_zero -> the same; init ->
                embeddings_initializer [I]; W_regularizer, W_constraint -> embeddings_
                regularizer [R], embeddings_constraint [C]; activity_regularizer [R];
                input_length (declaration); dropout 0 dropped, else Keras1Error (Keras 1
                dropped whole rows in training; no current key does).
  MaxPooling1D, AveragePooling1D   pool_length -> pool_size (n,); stride -> strides (n,);
                border_mode -> padding [P]. data_format "channels_last".
  MaxPooling2D, AveragePooling2D   pool_size, strides -> the same; border_mode -> padding
                [P]; dim_ordering -> data_format [D].
  GlobalMaxPooling2D, GlobalAveragePooling2D   dim_ordering -> data_format [D].
  GlobalMaxPooling1D, GlobalAveragePooling1D   no keys of their own; "channels_last".
  TimeDistributed   layer -> the inner layer through this table (input_shapes less the time
                axis; the weights are the inner layer's).
  Not in the table (Keras1Error): recurrent layers (LSTM, GRU, SimpleRNN: Keras 1.2.2's
  per-gate weights and init, and its hard_sigmoid, need their own rows), Merge, and the rest.

VALUES
  [P] border_mode "valid", "same" -> the same; "full" (Theano only) raises Keras1Error.
  [D] dim_ordering "th" -> "channels_first", "tf" -> "channels_last", "default" -> None (the
      keras.json setting, as Keras 1's "default" was). Keras 1's get_config() holds "th" or
      "tf"; with "default" the kernel's layout is unknown, so weights raise Keras1Error.
  [A] activation: a Keras 1 name (linear, relu, tanh, sigmoid, hard_sigmoid, softmax, softplus,
      softsign, elu; None is linear) -> the same, but hard_sigmoid: Keras 1's (and tf_keras's)
      is clip(0.2 x + 0.5, 0, 1), Keras 3's relu6(x + 3) / 6; it raises Keras1Error with
      spec="keras3" and stays "hard_sigmoid" with spec="keras2". Keras 1's softmax refused 4D
      tensors: on Convolution2D it raises Keras1Error.
  [I] init -> an initializer drawing from Keras 1's distribution (bias: always "zeros"):
        zero, one -> "zeros", "ones"; identity -> "identity"
        uniform -> RandomUniform(-0.05, 0.05); normal -> RandomNormal(0, 0.05), untruncated
        orthogonal -> Orthogonal(gain=1.1): Keras 1's default scale was 1.1 (today's gain 1)
        lecun_uniform, glorot_uniform, he_uniform -> the same name (the same limits)
        glorot_normal -> VarianceScaling(1.0, "fan_avg", "untruncated_normal"); he_normal ->
          VarianceScaling(2.0, "fan_in", "untruncated_normal"): Keras 1's were untruncated
          normals, today's names are truncated ones
      Where Keras 1 took the fans from another shape than today's, the scale is rescaled to
      Keras 1's variance: Convolution1D built its kernel (n, 1, in, filters) with the "th" fan
      rule, fan_in = in * filters, fan_out = n * in * filters (today n * in, n * filters), so
      its default glorot_uniform becomes a VarianceScaling config too. A fan_avg rescale needs
      the input's channels (input_shapes, input_dim or the weights), else Keras1Error.
      orthogonal and identity depend on how the weight is flattened to a matrix: kept where
      Keras 1's and today's agree (Dense, Embedding, Convolution2D "th"), else Keras1Error.
  [R] regularizers: current identifiers pass through; Keras 1's "l1l2", "activity_l1",
      "activity_l2", "activity_l1l2" and get_config() form {"name": "L1L2Regularizer" (or
      "WeightRegularizer"), "l1", "l2"} -> an L1L2 config (the same l1 |w| + l2 w^2 sum).
  [C] constraints: current identifiers pass through; Keras 1's "maxnorm", "nonneg",
      "unitnorm" and get_config() form {"name": "MaxNorm", "m", "axis"} (NonNeg, UnitNorm,
      MinMaxNorm likewise) -> the current class config (m, high -> max_value; low ->
      min_value). A kernel constraint's axis names Keras 1's kernel axes: where the kernel's
      layout changes (Convolution1D, Convolution2D "th") it is renumbered to follow it.

WEIGHTS (the `weights` argument is Keras 1's get_weights(); it comes back in today's layout)
  Dense [W (in, units), b], Embedding [W (input_dim, output_dim)]: unchanged.
  Convolution1D W (n, 1, in, filters) -> W[:, 0]; Keras 1.1's (filters, in, n, 1) is read too.
  Convolution2D "th" W (filters, in, rows, cols) -> transpose (2, 3, 1, 0) = (rows, cols, in,
      filters); "tf" W is already (rows, cols, in, filters).

NOT DONE: the table translates the config and the layout, not the training backend. Theano
computed true convolutions, so a kernel trained under Theano is flipped against a TensorFlow
one (Keras 1's np_utils.convert_kernel flips the spatial axes): flip it yourself, the table
cannot tell which backend trained it. Theano's own "same" alignment (even kernels, strides >
1, pooling) and Keras 1.2.2's activity losses (summed over the batch; tf_keras and Keras 3
divide by the batch size) are not translated either.
"""
import math

import numpy as np


class Keras1Error(ValueError):
    """A Keras 1 layer, key or value the table cannot translate; the message names it."""


OMIT = object()     # a converter's answer: no key in the current config
SHAPE = "<declares the input's shape: checked against input_shapes, then dropped>"
DROP = "<dropped>"
WEIGHTS = "<weights: not allowed in a config>"

# ---- the values --------------------------------------------------------------------------

DATA_FORMAT = {"th": "channels_first", "tf": "channels_last", "default": None}
ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid", "hard_sigmoid", "softmax", "softplus",
               "softsign", "elu")
# init -> a current identifier, or (mode, scale, distribution, the current name of those)
INITIALIZERS = {
    "zero": "zeros", "one": "ones", "identity": "identity",
    "uniform": {"class_name": "RandomUniform",
                "config": {"minval": -0.05, "maxval": 0.05, "seed": None}},
    "normal": {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.05, "seed": None}},
    "orthogonal": {"class_name": "Orthogonal", "config": {"gain": 1.1, "seed": None}},
    "lecun_uniform": ("fan_in", 1.0, "uniform", "lecun_uniform"),
    "glorot_uniform": ("fan_avg", 1.0, "uniform", "glorot_uniform"),
    "he_uniform": ("fan_in", 2.0, "uniform", "he_uniform"),
    "glorot_normal": ("fan_avg", 1.0, "untruncated_normal", None),
    "he_normal": ("fan_in", 2.0, "untruncated_normal", None),
}
MATRIX_INITS = ("orthogonal", "identity")
REGULARIZERS = {"l1l2": (0.01, 0.01), "activity_l1": (0.01, 0.0), "activity_l2": (0.0, 0.01),
                "activity_l1l2": (0.01, 0.01)}
CONSTRAINTS = {  # current class -> its config defaults (Keras 1's were the same)
    "MaxNorm": {"max_value": 2, "axis": 0}, "NonNeg": {}, "UnitNorm": {"axis": 0},
    "MinMaxNorm": {"min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": 0}}
CONSTRAINT_NAMES = {"max_norm": "MaxNorm", "non_neg": "NonNeg", "unit_norm": "UnitNorm",
                    "min_max_norm": "MinMaxNorm", **{name: name for name in CONSTRAINTS}}
KERAS1_CONSTRAINTS = {"maxnorm": "MaxNorm", "nonneg": "NonNeg", "unitnorm": "UnitNorm"}
CONSTRAINT_KEYS = {"m": "max_value", "low": "min_value", "high": "max_value"}


def _choice(key, mapping):
    """The converter of a key whose values are read in `mapping`; others raise Keras1Error."""
    def convert(value, ctx):
        if not isinstance(value, (str, int, float)) or value not in mapping:
            raise Keras1Error(f"{ctx.layer}: {key}={value!r} has no current equivalent")
        return mapping[value]
    return convert


def _activation(value, ctx):
    value = "linear" if value is None else value
    if value not in ACTIVATIONS:
        raise Keras1Error(f"{ctx.layer}: activation {value!r} is not a Keras 1 activation")
    if value == "softmax" and ctx.layer == "Convolution2D":
        raise Keras1Error(f"{ctx.layer}: Keras 1's softmax took 2D or 3D tensors only; this "
                          f"layer's output is 4D")
    if value == "hard_sigmoid" and ctx.spec != "keras2":
        raise Keras1Error(f"{ctx.layer}: Keras 1's hard_sigmoid is clip(0.2 x + 0.5, 0, 1), "
                          f"not Keras 3's; translate with spec='keras2' (tf_keras keeps it)")
    return value


def _tuple(value, ctx):
    """A 1D size or stride as get_config() writes it: (n,); None stays None."""
    return tuple(value) if isinstance(value, (list, tuple)) else \
        None if value is None else (value,)


def _pair(value, ctx):
    """A 2D size or stride: a list becomes a tuple; anything else is kept."""
    return tuple(value) if isinstance(value, list) else value


def _rescaled(scale, mode, fans, channels, what):
    """scale * n_today / n_keras1, n the fan `mode` names: Keras 1's variance with today's
    fans. fans(channels) -> ((fan_in, fan_out) of Keras 1, (fan_in, fan_out) today)."""
    def ratio(c):
        (k_in, k_out), (n_in, n_out) = fans(c)
        pick = {"fan_in": lambda i, o: i, "fan_avg": lambda i, o: (i + o) / 2}[mode]
        return scale * pick(n_in, n_out) / pick(k_in, k_out)
    if channels is not None:
        return ratio(channels)
    if not math.isclose(ratio(1), ratio(2)):   # the fans are linear in the channels
        raise Keras1Error(f"{what}: keeping Keras 1's distribution needs the input's channel "
                          f"count; pass input_shapes (or the weights)")
    return ratio(1)


def _initializer(weight):
    """The converter of one weight's init: Keras 1's distribution for that weight."""
    def convert(value, ctx):
        what = f"{ctx.layer}: init {value!r}"
        if not isinstance(value, str) or value not in INITIALIZERS:
            raise Keras1Error(f"{what} is not a Keras 1 initialization")
        if value in MATRIX_INITS and not ctx.matrix_ok.get(weight, True):
            raise Keras1Error(f"{what}: Keras 1 flattened this {weight} to a matrix another "
                              f"way than today's initializer does; no current equivalent")
        rule = INITIALIZERS[value]
        if not isinstance(rule, tuple):
            return rule
        mode, scale, distribution, name = rule
        if weight in ctx.fans:
            scale = _rescaled(scale, mode, ctx.fans[weight], ctx.channels, what)
        if name is not None and math.isclose(scale, rule[1]):
            return name
        return {"class_name": "VarianceScaling", "config": {
            "scale": float(scale), "mode": mode, "distribution": distribution, "seed": None}}
    return convert


def _regularizer(value, ctx):
    if isinstance(value, str) and value in REGULARIZERS:
        l1, l2 = REGULARIZERS[value]
        return {"class_name": "L1L2", "config": {"l1": l1, "l2": l2}}
    if isinstance(value, dict) and "name" in value and "class_name" not in value:
        if value["name"] not in ("L1L2Regularizer", "WeightRegularizer"):
            raise Keras1Error(f"{ctx.layer}: regularizer {value['name']!r} is not in the table")
        return {"class_name": "L1L2", "config": {
            "l1": float(value.get("l1", 0.0)), "l2": float(value.get("l2", 0.0))}}
    return value


def _constraint(value, ctx, axes=None):
    """A constraint; axes: {Keras 1 kernel axis: today's} where the kernel's layout changes,
    {} where that layout is unknown, None where it does not change."""
    name = KERAS1_CONSTRAINTS.get(value) or CONSTRAINT_NAMES.get(value) \
        if isinstance(value, str) else None
    if isinstance(value, dict) and "name" in value and "class_name" not in value:
        if value["name"] not in CONSTRAINTS:          # Keras 1's get_config() form
            raise Keras1Error(f"{ctx.layer}: constraint {value['name']!r} is not in the table")
        value = {"class_name": value["name"], "config": {**CONSTRAINTS[value["name"]], **{
            CONSTRAINT_KEYS.get(k, k): v for k, v in value.items() if k != "name"}}}
    elif name and (value in KERAS1_CONSTRAINTS or axes is not None and CONSTRAINTS[name]):
        value = {"class_name": name, "config": dict(CONSTRAINTS[name])}
    if axes is None or value is None or name and isinstance(value, str):
        return value
    config = value.get("config") if isinstance(value, dict) else None
    if not isinstance(config, dict):
        raise Keras1Error(f"{ctx.layer}: constraint {value!r} on a kernel whose layout "
                          f"changes; the table cannot tell its axes")
    if "axis" not in config:
        return value
    if not axes:
        raise Keras1Error(f"{ctx.layer}: constraint axis with dim_ordering 'default': the "
                          f"kernel's layout is unknown")
    many = isinstance(config["axis"], (list, tuple))
    kept = [axes[a % 4] for a in (config["axis"] if many else [config["axis"]]) if a % 4 in axes]
    if not kept:    # the size-1 axis of Keras 1's Convolution1D kernel adds nothing to a norm
        raise Keras1Error(f"{ctx.layer}: constraint axis {config['axis']!r} is the kernel's "
                          f"size-1 axis, gone from today's kernel")
    return {**value, "config": {**config, "axis": kept if many else kept[0]}}


def _kernel_constraint(value, ctx):
    return _constraint(value, ctx, ctx.kernel_axes)


# ---- the table: Keras 1 key -> current key, (current key, converter), SHAPE or DROP -------

PADDING = ("padding", _choice("border_mode", {"valid": "valid", "same": "same"}))
DIM_ORDERING = ("data_format", _choice("dim_ordering", DATA_FORMAT))
COMMON = {"name": "name", "trainable": "trainable", "input_shape": SHAPE,
          "batch_input_shape": SHAPE, "input_dtype": DROP, "weights": WEIGHTS}
KERNEL_AND_BIAS = {
    "init": ("kernel_initializer", _initializer("kernel")),
    "activation": ("activation", _activation), "bias": "use_bias",
    "W_regularizer": ("kernel_regularizer", _regularizer),
    "b_regularizer": ("bias_regularizer", _regularizer),
    "activity_regularizer": ("activity_regularizer", _regularizer),
    "W_constraint": ("kernel_constraint", _kernel_constraint),
    "b_constraint": ("bias_constraint", _constraint)}

DENSE = {**COMMON, **KERNEL_AND_BIAS, "output_dim": "units", "input_dim": SHAPE}
CONVOLUTION1D = {**COMMON, **KERNEL_AND_BIAS, "nb_filter": "filters",
                 "filter_length": ("kernel_size", _tuple), "subsample_length": ("strides", _tuple),
                 "border_mode": PADDING, "input_dim": SHAPE, "input_length": SHAPE}
CONVOLUTION2D = {**COMMON, **KERNEL_AND_BIAS, "nb_filter": "filters",
                 "nb_row": ("kernel_size", 0), "nb_col": ("kernel_size", 1),  # its two items
                 "subsample": ("strides", _pair), "border_mode": PADDING,
                 "dim_ordering": DIM_ORDERING}
EMBEDDING = {**COMMON, "input_dim": "input_dim", "output_dim": "output_dim",
             "init": ("embeddings_initializer", _initializer("embeddings")),
             "W_regularizer": ("embeddings_regularizer", _regularizer),
             "activity_regularizer": ("activity_regularizer", _regularizer),
             "W_constraint": ("embeddings_constraint", _constraint), "mask_zero": "mask_zero",
             "input_length": SHAPE, "dropout": ("dropout", _choice("dropout", {0: OMIT}))}
POOLING1D = {**COMMON, "pool_length": ("pool_size", _tuple), "stride": ("strides", _tuple),
             "border_mode": PADDING}
POOLING2D = {**COMMON, "pool_size": ("pool_size", _pair), "strides": ("strides", _pair),
             "border_mode": PADDING, "dim_ordering": DIM_ORDERING}
GLOBAL_POOLING1D = dict(COMMON)
GLOBAL_POOLING2D = {**COMMON, "dim_ordering": DIM_ORDERING}
TIME_DISTRIBUTED = {**COMMON, "layer": "layer"}

CHANNELS_LAST = {"data_format": "channels_last"}
# Keras 1 class -> (current class, its table, Keras 1 defaults written out, keys always set,
#                   the keys Keras 1 required)
TABLE = {
    "Dense": ("Dense", DENSE, {"init": "glorot_uniform"}, {"bias_initializer": "zeros"},
              ("output_dim",)),
    "Convolution1D": ("Conv1D", CONVOLUTION1D, {"init": "glorot_uniform"},
                      {"bias_initializer": "zeros", **CHANNELS_LAST},
                      ("nb_filter", "filter_length")),
    "Convolution2D": ("Conv2D", CONVOLUTION2D, {"init": "glorot_uniform"},
                      {"bias_initializer": "zeros"}, ("nb_filter", "nb_row", "nb_col")),
    "Embedding": ("Embedding", EMBEDDING, {"init": "uniform"}, {}, ("input_dim", "output_dim")),
    "MaxPooling1D": ("MaxPooling1D", POOLING1D, {}, CHANNELS_LAST, ()),
    "AveragePooling1D": ("AveragePooling1D", POOLING1D, {}, CHANNELS_LAST, ()),
    "MaxPooling2D": ("MaxPooling2D", POOLING2D, {}, {}, ()),
    "AveragePooling2D": ("AveragePooling2D", POOLING2D, {}, {}, ()),
    "GlobalMaxPooling1D": ("GlobalMaxPooling1D", GLOBAL_POOLING1D, {}, CHANNELS_LAST, ()),
    "GlobalAveragePooling1D": ("GlobalAveragePooling1D", GLOBAL_POOLING1D, {}, CHANNELS_LAST,
                               ()),
    "GlobalMaxPooling2D": ("GlobalMaxPooling2D", GLOBAL_POOLING2D, {}, {}, ()),
    "GlobalAveragePooling2D": ("GlobalAveragePooling2D", GLOBAL_POOLING2D, {}, {}, ()),
    "TimeDistributed": ("TimeDistributed", TIME_DISTRIBUTED, {}, {}, ("layer",)),
}
KERAS1_LAYERS = tuple(TABLE)
# Class names only Keras 1 had (those the table does not translate included).
KERAS1_ONLY_NAMES = frozenset(
    "Convolution1D Convolution2D Convolution3D AtrousConvolution1D AtrousConvolution2D "
    "Deconvolution2D SeparableConvolution2D TimeDistributedDense Merge MaxoutDense "
    "Highway".split())
KERAS1_ONLY_KEYS = frozenset(
    "init inner_init forget_bias_init inner_activation nb_filter nb_row nb_col filter_length "
    "border_mode subsample subsample_length dim_ordering W_regularizer U_regularizer "
    "b_regularizer W_constraint b_constraint bias pool_length stride consume_less dropout_W "
    "dropout_U input_dtype".split())


def is_keras1(layer, config):
    """True when `layer` is a class name only Keras 1 had (Convolution2D, ...) or `config`
    holds a key only Keras 1 wrote (init, nb_filter, border_mode, W_regularizer, output_dim
    outside Embedding, ...); a wrapper is Keras 1 when its inner layer is."""
    if layer in KERAS1_ONLY_NAMES:
        return True
    only = KERAS1_ONLY_KEYS | ({"output_dim"} if layer != "Embedding" else set())
    inner = config.get("layer") if layer in ("TimeDistributed", "Bidirectional") else None
    return bool(only & set(config)) or isinstance(inner, dict) and is_keras1(
        inner.get("class_name"), inner.get("config") or {})


# ---- one layer's context: the shapes Keras 1 drew its weights in --------------------------

class _Context:
    def __init__(self, layer, spec, channels):
        self.layer, self.spec, self.channels = layer, spec, channels
        self.fans, self.matrix_ok, self.kernel_axes = {}, {}, None


def _one_shape(input_shapes):
    """The input's shape (batch axis included) from a shape or a one-item list of shapes."""
    if input_shapes is None:
        return None
    shapes = list(input_shapes)
    if all(d is None or isinstance(d, (int, np.integer)) for d in shapes):
        return tuple(shapes)
    if len(shapes) != 1:
        raise ValueError(f"these layers take one input, got shapes {input_shapes!r}")
    return tuple(shapes[0])


def _check_shape(layer, key, value, shape):
    """A Keras 1 shape declaration against the input's shape (None matches any length)."""
    actual = {"input_dim": shape[-1:], "input_length": shape[1:2], "input_shape": shape[1:],
              "batch_input_shape": shape}[key]
    declared = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    if len(declared) != len(actual) or any(
            d is not None and a is not None and d != a for d, a in zip(declared, actual)):
        raise ValueError(f"{layer}: {key}={value!r} contradicts the input shape {shape}")


def _channels(layer, config, shape, weights):
    """The input's features (for Convolution1D's fans): from the input's shape, input_dim or
    the kernel; None if none tells."""
    if shape is not None and shape[-1] is not None:
        return shape[-1]
    if config.get("input_dim"):
        return config["input_dim"]
    if weights:
        kernel = np.shape(weights[0])   # Convolution1D: (n, 1, in, f), or Keras 1.1's (f, in, n, 1)
        return (kernel[2] if kernel[1] == 1 else kernel[1]) if len(kernel) == 4 else None
    return None


def _prepare(layer, config, ctx):
    """What differs from today in how Keras 1 made the kernel: fans, flattening, axes."""
    if layer == "Convolution1D":
        n, f = config["filter_length"], config["nb_filter"]
        ctx.fans["kernel"] = lambda c: ((c * f, n * c * f), (n * c, n * f))
        ctx.matrix_ok["kernel"] = False
        ctx.kernel_axes = {0: 0, 2: 1, 3: 2}                # (n, 1, in, f) -> (n, in, f)
    elif layer == "Convolution2D":
        ordering = config.get("dim_ordering", "default")
        ctx.matrix_ok["kernel"] = ordering == "th"
        if ordering != "tf":      # "th": transpose (2, 3, 1, 0); "default": unknown
            ctx.kernel_axes = {2: 0, 3: 1, 1: 2, 0: 3} if ordering == "th" else {}


def _weight_count(layer, config):
    """How many arrays the layer's Keras 1 get_weights() held."""
    if layer in ("Dense", "Convolution1D", "Convolution2D"):
        return 2 if config.get("bias", True) else 1
    return 1 if layer == "Embedding" else 0


def _weights(layer, config, weights):
    """Keras 1's get_weights() of the layer in today's get_weights() layout."""
    weights = [np.asarray(w) for w in weights]
    count = _weight_count(layer, config)
    if len(weights) != count:
        raise ValueError(f"{layer}: Keras 1 had {count} weight arrays, got {len(weights)}")
    w = weights[0] if weights else None
    if layer == "Convolution1D":
        n, f = config["filter_length"], config["nb_filter"]
        if w.ndim == 4 and w.shape[:2] == (n, 1) and w.shape[3] == f:
            weights[0] = w[:, 0]
        elif w.ndim == 4 and w.shape[0] == f and w.shape[2:] == (n, 1):   # Keras 1.1
            weights[0] = np.transpose(w, (2, 3, 1, 0))[:, 0]
        else:
            raise ValueError(f"{layer}: kernel of shape {w.shape} is not Keras 1's "
                             f"(filter_length, 1, input_dim, nb_filter) = ({n}, 1, ., {f})")
    elif layer == "Convolution2D":
        ordering = config.get("dim_ordering", "default")
        if ordering not in ("th", "tf"):
            raise Keras1Error(f"{layer}: dim_ordering={ordering!r} leaves the kernel's layout "
                              f"unknown; give 'th' or 'tf' with the weights")
        expect = (config["nb_filter"], config["nb_row"], config["nb_col"])
        got = w.shape[:1] + w.shape[2:] if ordering == "th" else w.shape[3:] + w.shape[:2]
        if w.ndim != 4 or got != expect:
            raise ValueError(f"{layer}: kernel of shape {w.shape} does not fit dim_ordering="
                             f"{ordering!r} and (nb_filter, nb_row, nb_col) = {expect}")
        weights[0] = np.transpose(w, (2, 3, 1, 0)) if ordering == "th" else w
    return weights


# ---- translate ---------------------------------------------------------------------------

def translate(layer, config, weights=None, input_shapes=None, *, spec="keras3"):
    """(current class name, current config, weights in today's layout or None) of the Keras 1
    layer `layer` (its class name) with `config` (its keyword arguments, a dict).

    weights: the layer's Keras 1 get_weights(). input_shapes: the input's shape, batch axis
    included (or a one-item list of it); a declaration that contradicts it raises ValueError.
    spec: "keras3" or "keras2", whose meaning of an activation name is kept (they differ in
    hard_sigmoid). Raises Keras1Error for a layer, key or value the table cannot translate.
    """
    if spec not in ("keras3", "keras2"):
        raise ValueError(f"spec must be 'keras3' or 'keras2', got {spec!r}")
    if layer not in TABLE:
        raise Keras1Error(f"layer {layer!r} is not in the Keras 1 table "
                          f"(it knows {', '.join(KERAS1_LAYERS)})")
    current, table, defaults, always, required = TABLE[layer]
    config = {**config, **{k: v for k, v in defaults.items() if k not in config}}  # own first
    for key in config:
        if key not in table:
            raise Keras1Error(f"{layer}: the Keras 1 table has no key {key!r}")
    if "weights" in config:
        raise ValueError(f"{layer}: `weights` in a config would hold arrays; pass them as "
                         f"translate(..., weights=[...]) instead")
    missing = [key for key in required if config.get(key) is None]
    if missing:
        raise ValueError(f"{layer}: Keras 1 requires {', '.join(missing)}")
    shape = _one_shape(input_shapes)
    for key, value in config.items():
        if table[key] == SHAPE and shape is not None and value is not None:
            _check_shape(layer, key, value, shape)
    if shape is None and config.get("batch_input_shape"):      # what the config declares
        shape = tuple(config["batch_input_shape"])
    elif shape is None and config.get("input_shape"):
        shape = (None, *config["input_shape"])
    if layer == "TimeDistributed":
        return _time_distributed(config, weights, shape, spec)
    ctx = _Context(layer, spec, _channels(layer, config, shape, weights))
    _prepare(layer, config, ctx)
    out, items = dict(always), {}
    for key, value in config.items():
        rule = table[key]
        if rule in (SHAPE, DROP):
            continue
        if isinstance(rule, str):
            out[rule] = value
        elif isinstance(rule[1], int):
            items.setdefault(rule[0], {})[rule[1]] = value
        elif (converted := rule[1](value, ctx)) is not OMIT:
            out[rule[0]] = converted
    out.update({key: tuple(parts[i] for i in sorted(parts)) for key, parts in items.items()})
    return current, out, None if weights is None else _weights(layer, config, weights)


def _time_distributed(config, weights, shape, spec):
    """TimeDistributed: its inner layer translated, with input_shapes less the time axis."""
    inner = config["layer"]
    if not isinstance(inner, dict) or "class_name" not in inner:
        raise ValueError(f"TimeDistributed: `layer` must be {{'class_name', 'config'}}, "
                         f"got {inner!r}")
    inner_shape = None if shape is None else (shape[0], *shape[2:])
    name, inner_config, weights = translate(inner["class_name"], inner.get("config") or {},
                                            weights, inner_shape, spec=spec)
    out = {key: value for key, value in config.items() if key in ("name", "trainable")}
    out["layer"] = {"class_name": name, "config": inner_config}
    return "TimeDistributed", out, weights
