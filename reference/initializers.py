"""Keras's weight initializers: which name means which initializer, and exactly what it draws
for a weight of a given shape (keras/src/initializers/, tf_keras/src/initializers/
initializers.py; checked against keras 3.15 and tf_keras 2.21).

    resolve("glorot_uniform", "keras3")         -> ("GlorotUniform", {"seed": None, ...})
    distribution("GlorotUniform", {}, (96, 64)) -> {"kind": "uniform", "low": -0.194, ...}
    sample(that, np.random.default_rng(0))      -> a correct draw, float64

Keras 2 and Keras 3 draw the same distributions; they differ only in spellings and configs:
- Keras 3 accepts "IdentityInitializer" and "OrthogonalInitializer"; Keras 2 accepts the
  "V2" names ("GlorotUniformV2", "glorot_uniformV2", "ZerosV2", ...; not "identityV2").
- Constant's default value is 0.0 in Keras 3 and 0 in Keras 2; Keras 3 cannot build Constant
  from the bare string "constant" (its from_config needs "value": KeyError), Keras 2 can.
- Keras 3's VarianceScaling family takes input_axes and output_axes (the fans are then the
  products of those axes of the shape); Keras 2 has neither (TypeError).
- Keras 3's Identity.get_config() is {} (gain 1.0 all the same); Keras 2 writes {"gain": 1.0}.
- The weight of DepthwiseConv2D is "kernel" in Keras 3 and "depthwise_kernel" in Keras 2.
- Keras 3 also knows "STFT" and the base "Initializer", Keras 2 the base: OutOfScope here.
Only NumPy is imported.
"""
import math

import numpy as np

from reference.config import OutOfScope

SPECS = ("keras3", "keras2")
TRUNCATION = 0.87962566103423978   # the stddev of N(0, 1) truncated to [-2, 2]: VarianceScaling
                                   # divides by it so that the truncated draws have sqrt(scale / n)

# VarianceScaling's subclasses: (scale, mode, distribution)
VARIANCE_SCALING = {
    "GlorotNormal": (1.0, "fan_avg", "truncated_normal"),
    "GlorotUniform": (1.0, "fan_avg", "uniform"),
    "HeNormal": (2.0, "fan_in", "truncated_normal"),
    "HeUniform": (2.0, "fan_in", "uniform"),
    "LecunNormal": (1.0, "fan_in", "truncated_normal"),
    "LecunUniform": (1.0, "fan_in", "uniform"),
}
CLASSES = ("Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal",
           "VarianceScaling", *VARIANCE_SCALING, "Orthogonal", "Identity")


def fans(shape, input_axes=None, output_axes=None):
    """(fan_in, fan_out) of a weight of `shape`, as Keras computes them (Keras 3's compute_fans,
    tf_keras's _compute_fans): 0-D (1, 1); 1-D (n, n); 2-D (shape[0], shape[1]); more: with the
    receptive field rf = prod(shape[:-2]), (shape[-2] * rf, shape[-1] * rf). Keras 3 only: with
    both input_axes and output_axes given, the products of those axes.

    Keras computes them on the weight as it stores it, which gives, per kernel kind:
      Dense kernel (in, units):                          (in, units)
      Conv1D/2D/3D kernel (k..., in, filters):           (in * K, filters * K), K = prod(k...)
      DepthwiseConv kernel (kh, kw, in, multiplier):     (in * kh*kw, multiplier * kh*kw)
      SeparableConv pointwise (1, 1, in * mult, filters): (in * mult, filters)
      Conv2DTranspose kernel (kh, kw, filters, in):      (filters * kh*kw, in * kh*kw): the
          stored shape puts filters second to last, so fan_in counts the layer's outputs
      LocallyConnected1D/2D (tf_keras), implementation 1: kernel (P, K * in, filters), P the
          output positions: rf = P, (K * in * P, filters * P); implementation 2: kernel
          (input positions..., in, output positions..., filters) as stored; implementation 3:
          a 1-D kernel of the nonzero entries (m,): (m, m)
      SimpleRNN/GRU/LSTM kernel (in, g * units), recurrent kernel (units, g * units), g the
          gates (1, 3, 4): (in, g * units), (units, g * units)
      ConvLSTM2D kernel (kh, kw, in, 4 * filters), recurrent kernel (kh, kw, filters,
          4 * filters): rf = kh * kw
      Embedding embeddings (input_dim, output_dim):      (input_dim, output_dim)
      a bias (n,): (n, n); a GRU bias (2, 3 * units): (2, 3 * units)
    """
    shape = tuple(int(d) for d in shape)
    if input_axes is not None and output_axes is not None:
        return (int(math.prod(shape[a] for a in input_axes)),
                int(math.prod(shape[a] for a in output_axes)))
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


# Names --------------------------------------------------------------------------------------

def _snake(name):
    return "".join("_" + c.lower() if c.isupper() and i else c.lower()
                   for i, c in enumerate(name))


def _spellings(spec):
    """{every string Keras `spec` resolves to a built-in initializer: its class name}."""
    names = {c: c for c in CLASSES} | {_snake(c): c for c in CLASSES}
    names |= {"normal": "RandomNormal", "uniform": "RandomUniform", "zero": "Zeros",
              "one": "Ones"}
    if spec == "keras3":
        names |= {"IdentityInitializer": "Identity", "OrthogonalInitializer": "Orthogonal"}
    else:
        names |= {c + "V2": c for c in CLASSES}
        names |= {_snake(c) + "V2": c for c in VARIANCE_SCALING}
    return names


SPELLINGS = {spec: _spellings(spec) for spec in SPECS}
OUT_OF_SCOPE = {"keras3": {"Initializer", "initializer", "STFT", "stft", "STFTInitializer"},
                "keras2": {"Initializer", "initializer"}}


def defaults(class_name, spec):
    """The full config of `class_name` built with no arguments, as get_config() writes it (Keras
    3's Identity writes {}; its gain is 1.0 all the same, and is listed here)."""
    seed = {"seed": None}
    axes = {"input_axes": None, "output_axes": None} if spec == "keras3" else {}
    table = {
        "Zeros": {}, "Ones": {},
        "Constant": {"value": 0.0 if spec == "keras3" else 0},
        "RandomNormal": {"mean": 0.0, "stddev": 0.05, **seed},
        "RandomUniform": {"minval": -0.05, "maxval": 0.05, **seed},
        "TruncatedNormal": {"mean": 0.0, "stddev": 0.05, **seed},
        "VarianceScaling": {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal",
                            **seed, **axes},
        "Orthogonal": {"gain": 1.0, **seed},
        "Identity": {"gain": 1.0},
    }
    return dict(table.get(class_name, {**seed, **axes}))


def resolve(identifier, keras_spec):
    """(class name, full config) of an initializer identifier as Keras `keras_spec` reads it: a
    string (any built-in spelling, case-sensitive) or {"class_name", "config"} (other keys,
    "module" and "registered_name", are ignored). ValueError where Keras refuses it (an unknown
    name, a bad VarianceScaling argument, Keras 3's "constant" without a value), TypeError for
    an argument the class does not take (as its constructor raises), OutOfScope for what Keras
    accepts but the suite does not implement (callables, arrays, STFT)."""
    if keras_spec not in SPECS:
        raise ValueError(f"unknown keras spec {keras_spec!r}")
    if isinstance(identifier, str):
        name, given = identifier, {}
    elif isinstance(identifier, dict) and "class_name" in identifier:
        name, given = identifier["class_name"], dict(identifier.get("config") or {})
    else:
        raise OutOfScope(f"initializer {identifier!r}: only names and class_name/config dicts "
                         f"are implemented")
    if name in OUT_OF_SCOPE[keras_spec]:
        raise OutOfScope(f"initializer {name!r} is not one the suite implements")
    if name not in SPELLINGS[keras_spec]:
        raise ValueError(f"Unknown initializer: {name!r} ({keras_spec})")
    class_name = SPELLINGS[keras_spec][name]
    if keras_spec == "keras2":
        given.pop("dtype", None)               # tf_keras's from_config drops it
    if class_name == "Constant" and keras_spec == "keras3" and "value" not in given:
        raise ValueError(f"Keras 3 cannot build Constant from {identifier!r}: its "
                         f"from_config needs 'value' (it raises KeyError)")
    config = defaults(class_name, keras_spec)
    unknown = sorted(set(given) - set(config))
    if unknown:
        raise TypeError(f"{class_name} got unexpected arguments {unknown} ({keras_spec})")
    config.update(given)
    if class_name == "VarianceScaling":
        config["distribution"] = _check_variance_scaling(config)
    return class_name, config


def _check_variance_scaling(config):
    """VarianceScaling's constructor checks; the distribution as it keeps it."""
    if not config["scale"] > 0:
        raise ValueError(f"Argument `scale` must be positive float. Received: {config['scale']}")
    if config["mode"] not in ("fan_in", "fan_out", "fan_avg"):
        raise ValueError(f"Invalid `mode` argument: {config['mode']}")
    distribution = str(config["distribution"]).lower()
    distribution = "truncated_normal" if distribution == "normal" else distribution
    if distribution not in ("uniform", "truncated_normal", "untruncated_normal"):
        raise ValueError(f"Invalid `distribution` argument: {config['distribution']}")
    return distribution


# What the values follow --------------------------------------------------------------------

def distribution(class_name, config, shape):
    """A JSON-able description of what Keras's `class_name` initializer with `config` (a full
    or partial config; missing keys take Keras 3's defaults) draws for a weight of `shape`:

    {"kind": "exact", "values": v}                  Zeros, Ones, Constant: v a scalar, every
        element; Identity: v the nested list gain * eye(rows, cols) (2-D shapes only:
        ValueError otherwise, as Keras)
    {"kind": "uniform", "low", "high"}              independent draws in [low, high)
    {"kind": "normal", "mean", "stddev"}
    {"kind": "truncated_normal", "mean", "stddev", "low", "high"}: N(mean, stddev^2)
        conditioned on [low, high] = mean -+ 2 stddev (Keras redraws beyond 2 stddev)
    {"kind": "orthogonal", "gain", "rows", "cols"}: the weight reshaped to (rows, cols) =
        (prod(shape[:-1]), shape[-1]) is gain times a matrix with orthonormal rows where
        rows < cols, orthonormal columns otherwise (Keras: QR of a normal (max, min) matrix,
        signs of R's diagonal moved into Q, transposed when rows < cols)

    VarianceScaling and its subclasses: n = fan_in, fan_out or (fan_in + fan_out) / 2 by mode
    (at least 1), and "uniform" limit = sqrt(3 scale / n); "untruncated_normal" stddev =
    sqrt(scale / n); "truncated_normal" (also "normal") stddev = sqrt(scale / n) / TRUNCATION,
    truncated at 2 stddev. Their dicts also hold fan_in, fan_out, n, scale and mode."""
    shape = tuple(int(d) for d in shape)
    name = next((SPELLINGS[s][class_name] for s in SPECS if class_name in SPELLINGS[s]), None)
    if name is None:
        raise ValueError(f"Unknown initializer: {class_name!r}")
    config = {**defaults(name, "keras3"), **(config or {})}
    if name in ("Zeros", "Ones", "Constant"):
        value = {"Zeros": 0.0, "Ones": 1.0}.get(name, config.get("value"))
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise OutOfScope(f"Constant value {value!r}: only a scalar is implemented")
        return {"kind": "exact", "values": float(value)}      # every element
    if name == "Identity":
        if len(shape) != 2:
            raise ValueError(f"Identity matrix initializer can only be used for 2D matrices. "
                             f"Received: shape={shape} of rank {len(shape)}.")
        return {"kind": "exact", "values": (float(config["gain"]) * np.eye(*shape)).tolist()}
    if name == "RandomUniform":
        return {"kind": "uniform", "low": float(config["minval"]),
                "high": float(config["maxval"])}
    if name == "RandomNormal":
        return {"kind": "normal", "mean": float(config["mean"]),
                "stddev": float(config["stddev"])}
    if name == "TruncatedNormal":
        return truncated_normal(float(config["mean"]), float(config["stddev"]))
    if name == "Orthogonal":
        if len(shape) < 2:
            raise ValueError(f"The tensor to initialize must be at least two-dimensional. "
                             f"Received: shape={shape} of rank {len(shape)}.")
        return {"kind": "orthogonal", "gain": float(config["gain"]),
                "rows": int(math.prod(shape[:-1])), "cols": shape[-1]}
    if name in VARIANCE_SCALING:
        scale, mode, kind = VARIANCE_SCALING[name]
    else:
        scale, mode, kind = config["scale"], config["mode"], _check_variance_scaling(config)
    fan_in, fan_out = fans(shape, config.get("input_axes"), config.get("output_axes"))
    n = max(1.0, {"fan_in": fan_in, "fan_out": fan_out,
                  "fan_avg": (fan_in + fan_out) / 2.0}[mode])
    if kind == "uniform":
        limit = math.sqrt(3.0 * scale / n)
        found = {"kind": "uniform", "low": -limit, "high": limit}
    elif kind == "untruncated_normal":
        found = {"kind": "normal", "mean": 0.0, "stddev": math.sqrt(scale / n)}
    else:
        found = truncated_normal(0.0, math.sqrt(scale / n) / TRUNCATION)
    return {**found, "fan_in": fan_in, "fan_out": fan_out, "n": n, "scale": float(scale),
            "mode": mode}


def truncated_normal(mean, stddev):
    """N(mean, stddev^2) conditioned on mean -+ 2 |stddev|, as every Keras backend draws it."""
    return {"kind": "truncated_normal", "mean": mean, "stddev": stddev,
            "low": mean - 2 * abs(stddev), "high": mean + 2 * abs(stddev)}


def pieces(parts, axis=-1):
    """{"kind": "pieces", "axis", "pieces": [[start, stop, distribution], ...]}: a weight made
    by concatenating the parts' draws along `axis`; parts is [(length, distribution), ...]."""
    out, start = [], 0
    for length, dist in parts:
        out.append([start, start + int(length), dist])
        start += int(length)
    return {"kind": "pieces", "axis": axis, "pieces": out}


def bias_pieces(class_name, config, units):
    """The bias of LSTM, LSTMCell, ConvLSTM1D/2D/3D with unit_forget_bias=True (the default,
    Keras 2 and 3 alike): concatenate(init((units,)), ones((units,)), init((2 * units,))), init
    the layer's bias_initializer, each piece drawn for its own shape (so a VarianceScaling
    bias has fans (units, units) and (2 units, 2 units)). `units` is ConvLSTM's filters."""
    return pieces([(units, distribution(class_name, config, (units,))),
                   (units, distribution("Ones", {}, (units,))),
                   (2 * units, distribution(class_name, config, (2 * units,)))])


def sample(dist, shape, rng):
    """A correct draw of `dist` for a weight of `shape`, float64, exactly per the distribution
    (the orthogonal one as Keras makes it: QR of a normal matrix, in float64)."""
    shape = tuple(int(d) for d in shape)
    kind = dist["kind"]
    if kind == "exact":
        return np.broadcast_to(np.asarray(dist["values"], np.float64), shape).copy()
    if kind == "uniform":
        return dist["low"] + (dist["high"] - dist["low"]) * rng.random(shape)
    if kind == "normal":
        return dist["mean"] + dist["stddev"] * rng.standard_normal(shape)
    if kind == "truncated_normal":
        s = abs(dist["stddev"])
        a, b = (dist["low"] - dist["mean"]) / s, (dist["high"] - dist["mean"]) / s
        z = rng.standard_normal(shape)
        outside = (z < a) | (z > b)
        while outside.any():                    # redraw, as Keras does
            z[outside] = rng.standard_normal(int(outside.sum()))
            outside = (z < a) | (z > b)
        return dist["mean"] + s * z
    if kind == "orthogonal":
        rows, cols = dist["rows"], dist["cols"]
        q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
        q = q * np.sign(np.diag(r))
        return dist["gain"] * (q.T if rows < cols else q).reshape(shape)
    if kind == "pieces":
        axis = dist["axis"] % len(shape)
        parts = []
        for start, stop, piece in dist["pieces"]:
            piece_shape = shape[:axis] + (stop - start,) + shape[axis + 1:]
            parts.append(sample(piece, piece_shape, rng))
        return np.concatenate(parts, axis=axis)
    raise ValueError(f"unknown distribution kind {kind!r}")


# Which weight each layer initializes with which default ------------------------------------

_DENSE = [("kernel", "kernel_initializer", "glorot_uniform"),
          ("bias", "bias_initializer", "zeros")]
_SEPARABLE = [("depthwise_kernel", "depthwise_initializer", "glorot_uniform"),
              ("pointwise_kernel", "pointwise_initializer", "glorot_uniform"),
              ("bias", "bias_initializer", "zeros")]
_RECURRENT = [("kernel", "kernel_initializer", "glorot_uniform"),
              ("recurrent_kernel", "recurrent_initializer", "orthogonal"),
              ("bias", "bias_initializer", "zeros")]
_BATCH_NORM = [("gamma", "gamma_initializer", "ones"), ("beta", "beta_initializer", "zeros"),
               ("moving_mean", "moving_mean_initializer", "zeros"),
               ("moving_variance", "moving_variance_initializer", "ones")]


def _layer_defaults(spec):
    table = {name: _DENSE for name in (
        "Dense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose",
        "Conv3DTranspose")}
    table |= {name: _SEPARABLE for name in ("SeparableConv1D", "SeparableConv2D")}
    table |= {name: _RECURRENT for name in (
        "SimpleRNN", "GRU", "LSTM", "SimpleRNNCell", "GRUCell", "LSTMCell", "ConvLSTM1D",
        "ConvLSTM2D", "ConvLSTM3D")}
    depthwise = "kernel" if spec == "keras3" else "depthwise_kernel"
    table |= {name: [(depthwise, "depthwise_initializer", "glorot_uniform"), _DENSE[1]]
              for name in ("DepthwiseConv1D", "DepthwiseConv2D")}
    table |= {"Embedding": [("embeddings", "embeddings_initializer", "uniform")],
              "PReLU": [("alpha", "alpha_initializer", "zeros")],
              "BatchNormalization": _BATCH_NORM}
    if spec == "keras2":
        table |= {"LocallyConnected1D": _DENSE, "LocallyConnected2D": _DENSE}
    return table


# spec -> layer -> [(weight, config key, default identifier)] in get_weights() order; built
# and checked against keras 3.15 and tf_keras 2.21. LSTM, LSTMCell and ConvLSTM*D also have
# unit_forget_bias (default True): their bias is bias_pieces(...).
LAYER_DEFAULTS = {spec: _layer_defaults(spec) for spec in SPECS}
UNIT_FORGET_BIAS = ("LSTM", "LSTMCell", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")
_PRESENT = {"bias": "use_bias", "beta": "center", "gamma": "scale"}


def initializer_check(layer, spec, config, shapes):
    """The statistical check {"kind": "initializers", "weights": [...]} of a freshly built
    layer's weights (conformance/statistics_init.py judges it): config is the layer's config
    (get_config() names; a missing initializer key takes the default), shapes the weights'
    shapes in get_weights() order. Weights a config turns off (use_bias, center, scale) are
    left out, as Keras leaves them out."""
    present = [w for w in LAYER_DEFAULTS[spec][layer]
               if config.get(_PRESENT.get(w[0]), True) is not False]
    if len(present) != len(shapes):
        raise ValueError(f"{layer} ({spec}) has weights {[w[0] for w in present]}, "
                         f"got {len(shapes)} shapes")
    weights = []
    for (name, key, default), shape in zip(present, shapes):
        class_name, full = resolve(config[key] if key in config else default, spec)
        label = _snake(class_name)
        if name == "bias" and layer in UNIT_FORGET_BIAS and config.get("unit_forget_bias", True):
            dist, label = bias_pieces(class_name, full, shape[-1] // 4), \
                f"{label}, ones, {label} (unit_forget_bias)"
        else:
            dist = distribution(class_name, full, shape)
        weights.append({"name": name, "shape": list(shape), "initializer": label,
                        "distribution": dist})
    return {"kind": "initializers", "weights": weights}
