"""The parameters common to every layer with weights (seed 000), as cases of the layer's own
cells: initializers, regularizers, constraints, the config round trip, and the Keras 1 names.

Each kind of case is marked by params["contract"] and judged through the candidate's one hook,
observe() (conformance/candidates/__init__.py):

initializer   the layer built and called with no weights given, its config naming an
              initializer for every weight that takes it (each weight keeps its default where
              the name does not apply: orthogonal needs 2 or more axes, identity exactly 2).
              No output is judged; observe()'s "weights" (what the layer holds: the
              initializers' draws) are, by the statistical check of
              conformance/statistics_init.py against the distribution reference/initializers.py
              states for each weight (false alarm at most 1e-6 a case).
regularizer   weights given; every weight that takes a regularizer and the activity get it;
              observe()'s "losses" must be the terms reference/regularizers.py gives, in
              Keras's order (one activity loss per output, then one per regularized weight in
              get_weights() order), within the bound of their float32 sums.
constraint    weights given; every weight that takes a constraint gets it; observe()'s
              "constrained" (each weight after its constraint, the others as they are) must be
              reference/constraints.py's projection within the bound of the norm's float32 sum.
round_trip    a twin of every unit-regime covering case: observe()'s "round_trip" (the outputs
              of the layer rebuilt from its own get_config(), with the same weights) must be the
              case's expected outputs within their bounds.
keras1        the config written in Keras 1 names, the weights in Keras 1's layout
              (reference/keras1.py translates both); the outputs judged as the translated
              case's.

The cases are sized (LAYERS) so that every random weight holds enough elements for the planted
initializer faults to be caught (conformance/statistics_init.py `min_elements`). Wrappers (RNN,
StackedRNNCells, TimeDistributed, Bidirectional) take none of these parameters themselves:
their inner layers' configs carry them, and those layers' cells check them.
"""
import copy
import json
from dataclasses import dataclass, replace

import numpy as np

from conformance import tolerance
from conformance.spec import Divergence, Expected
from conformance.tolerance import unit
from reference import constraints, initializers, keras1, regularizers

CONTRACTS = ("initializer", "regularizer", "constraint", "round_trip", "keras1")


@dataclass(frozen=True)
class Base:
    """A layer's base case for its contract cases: params for its spec's make (values outside
    the covering domains allowed: larger sizes), the input shapes, and the config prefix of
    each weight (kernel -> kernel_initializer, kernel_regularizer, kernel_constraint). The
    initializer cases use these sizes (every random weight large enough for the planted
    faults to show: statistics_init.min_elements); the regularizer and constraint cases,
    whose weights the fixtures store, the `small` ones: (params overrides, shapes)."""
    params: dict
    shapes: tuple
    prefixes: dict
    small: tuple
    regularized: tuple = None      # weights that take a regularizer / constraint (default:
    constrained: tuple = None      # every weight in prefixes)

    def sized(self, kind):
        """(params, input shapes) of the base case of a contract `kind`."""
        if kind == "initializer":
            return self.params, self.shapes
        return {**self.params, **self.small[0]}, self.small[1]


RNN_FLAGS = {"return_sequences": False, "return_state": False, "go_backwards": False,
             "mask": None, "initial_state": False, "unroll": False, "dropout": 0.0,
             "recurrent_dropout": 0.0}
CONV = {"strides": 1, "dilation_rate": 1, "padding": "valid", "data_format": "channels_last",
        "activation": None, "use_bias": True}
KERNEL = {"kernel": "kernel", "bias": "bias"}
RECURRENT = {"kernel": "kernel", "recurrent_kernel": "recurrent", "bias": "bias"}
LAYERS = {
    "Dense": Base({"units": 48, "activation": None, "use_bias": True, "rank": 2}, ((2, 96),),
                  KERNEL, small=({"units": 5}, ((2, 7),))),
    "Conv1D": Base({"filters": 32, "kernel_size": 3, **CONV}, ((2, 8, 48),), KERNEL,
                   small=({"filters": 3}, ((2, 6, 4),))),
    "Conv2D": Base({"filters": 32, "kernel_size": 3, **CONV}, ((1, 5, 5, 16),), KERNEL,
                   small=({"filters": 3}, ((1, 5, 5, 2),))),
    "Conv3D": Base({"filters": 16, "kernel_size": 2, **CONV}, ((1, 3, 3, 3, 32),), KERNEL,
                   small=({"filters": 2}, ((1, 3, 3, 3, 2),))),
    "Conv2DTranspose": Base({"filters": 16, "kernel_size": 3, "output_padding": None, **CONV},
                            ((1, 3, 3, 32),), KERNEL, small=({"filters": 3}, ((1, 3, 3, 2),))),
    "SeparableConv2D": Base({"filters": 32, "kernel_size": 3, "depth_multiplier": 3, **CONV},
                            ((1, 5, 5, 48),), {"depthwise_kernel": "depthwise",
                                               "pointwise_kernel": "pointwise", "bias": "bias"},
                            small=({"filters": 3, "depth_multiplier": 2}, ((1, 5, 5, 2),))),
    "LocallyConnected1D": Base({"filters": 16, "kernel_size": 3, "strides": 1,
                                "data_format": "channels_last", "implementation": 1,
                                "activation": None, "use_bias": True}, ((2, 10, 24),), KERNEL,
                               small=({"filters": 3}, ((2, 6, 2),))),
    "LocallyConnected2D": Base({"filters": 8, "kernel_size": 3, "strides": 1,
                                "data_format": "channels_last", "implementation": 1,
                                "activation": None, "use_bias": True}, ((1, 5, 5, 16),), KERNEL,
                               small=({"filters": 2}, ((1, 4, 4, 2),))),
    "SimpleRNN": Base({"units": 64, "activation": "tanh", "use_bias": True, **RNN_FLAGS},
                      ((2, 3, 96),), RECURRENT, small=({"units": 4}, ((2, 3, 5),))),
    "GRU": Base({"units": 48, "activation": "tanh", "recurrent_activation": "sigmoid",
                 "reset_after": True, "implementation": 2, "time_major": False,
                 "use_bias": True, **RNN_FLAGS}, ((2, 3, 96),), RECURRENT,
                small=({"units": 3}, ((2, 3, 4),))),
    "LSTM": Base({"units": 32, "activation": "tanh", "recurrent_activation": "sigmoid",
                  "unit_forget_bias": True, "implementation": 2, "time_major": False,
                  "use_bias": True, **RNN_FLAGS}, ((2, 3, 96),), RECURRENT,
                 small=({"units": 3}, ((2, 3, 4),))),
    "SimpleRNNCell": Base({"units": 64, "activation": "tanh", "use_bias": True, "dropout": 0.0,
                           "recurrent_dropout": 0.0}, ((2, 96),), RECURRENT,
                          small=({"units": 4}, ((2, 5),))),
    "GRUCell": Base({"units": 48, "activation": "tanh", "recurrent_activation": "sigmoid",
                     "use_bias": True, "reset_after": True, "implementation": 2,
                     "dropout": 0.0, "recurrent_dropout": 0.0}, ((2, 96),), RECURRENT,
                    small=({"units": 3}, ((2, 4),))),
    "LSTMCell": Base({"units": 32, "activation": "tanh", "recurrent_activation": "sigmoid",
                      "use_bias": True, "unit_forget_bias": True, "implementation": 2,
                      "dropout": 0.0, "recurrent_dropout": 0.0}, ((2, 96),), RECURRENT,
                     small=({"units": 3}, ((2, 4),))),
    "ConvLSTM2D": Base({"filters": 8, "kernel_size": 3, "strides": 1, "padding": "same",
                        "dilation_rate": 1, "data_format": "channels_last",
                        "activation": "tanh", "recurrent_activation": "sigmoid",
                        "use_bias": True, "unit_forget_bias": True, **RNN_FLAGS},
                       ((1, 2, 4, 4, 32),), RECURRENT,
                       small=({"filters": 2}, ((1, 2, 4, 4, 3),))),
    "Embedding": Base({"input_dim": 200, "output_dim": 32, "mask_zero": False, "rank": 2,
                       "index_dtype": "int32", "input_length": None}, ((2, 5),),
                      {"embeddings": "embeddings"},
                      small=({"input_dim": 12, "output_dim": 4}, ((2, 5),))),
    "PReLU": Base({"rank": 3, "shared_axes": None}, ((1, 32, 32),), {"alpha": "alpha"},
                  small=({}, ((2, 4, 5),))),
    "BatchNormalization": Base(
        {"axis": -1, "rank": 2, "center": True, "scale": True, "epsilon": 0.001,
         "momentum": 0.99, "training": False}, ((1, 1024),),
        {"gamma": "gamma", "beta": "beta", "moving_mean": "moving_mean",
         "moving_variance": "moving_variance"}, small=({}, ((3, 6),)),
        regularized=("gamma", "beta"), constrained=("gamma", "beta")),
}

# Divergences found in the common parameters ------------------------------------------------

def _draws_a_truncated_normal(case):
    if case.params.get("contract") != "initializer" or not case.observed:
        return False
    weights = case.observed["weights"]["weights"]
    dists = [p[2] for w in weights for p in w["distribution"].get("pieces", [])] + [
        w["distribution"] for w in weights]
    return any(d.get("kind") == "truncated_normal" for d in dists)


DIVERGENCES = (Divergence(
    candidates=("keras-torch",), when=_draws_a_truncated_normal, contract=True,
    reason="Keras 3 on torch draws a truncated normal as the first of 4 normal draws inside "
           "2 stddev, and where none of the 4 is (probability 0.0455^4 = 4.3e-6 an element) "
           "keeps the first, outside the truncation: a weight of thousands of elements "
           "holds one now and then (the support test catches it; a case may pass)",
    evidence="keras/src/backend/torch/random.py truncated_normal (Keras 3.15.1): x = "
             "normal(shape + (4,)); valid = (x > -2) & (x < 2); indexes = "
             "valid.max(-1)[1], which is 0 when no draw is valid; the JAX, TensorFlow and "
             "NumPy backends redraw until inside"),)


# The cells of each contract: params -> what the case's config says. -------------------------

SEEDED = {"seed": None}
INITIALIZERS = {                 # cell name -> identifier
    "zeros": "zeros", "ones": "ones", "constant": {"class_name": "Constant",
                                                   "config": {"value": 0.37}},
    "random_normal": "random_normal", "normal": "normal",
    "random_normal(0.5, 0.2)": {"class_name": "RandomNormal",
                                "config": {"mean": 0.5, "stddev": 0.2, **SEEDED}},
    "random_uniform": "random_uniform", "uniform": "uniform",
    "random_uniform(-1, 3)": {"class_name": "RandomUniform",
                              "config": {"minval": -1.0, "maxval": 3.0, **SEEDED}},
    "truncated_normal": "truncated_normal",
    "variance_scaling": "variance_scaling",
    "variance_scaling(0.5, fan_out, uniform)": {
        "class_name": "VarianceScaling",
        "config": {"scale": 0.5, "mode": "fan_out", "distribution": "uniform", **SEEDED}},
    "variance_scaling(2, fan_avg, untruncated_normal)": {
        "class_name": "VarianceScaling",
        "config": {"scale": 2.0, "mode": "fan_avg", "distribution": "untruncated_normal",
                   **SEEDED}},
    "glorot_normal": "glorot_normal", "glorot_uniform": "glorot_uniform",
    "he_normal": "he_normal", "he_uniform": "he_uniform",
    "lecun_normal": "lecun_normal", "lecun_uniform": "lecun_uniform",
    "orthogonal": "orthogonal",
    "orthogonal(gain 1.5)": {"class_name": "Orthogonal", "config": {"gain": 1.5, **SEEDED}},
    "identity": "identity",
    "identity(gain 2)": {"class_name": "Identity", "config": {"gain": 2.0}},
}
REGULARIZERS = {                 # cell name -> {keras spec: identifier}
    "l1": {"keras3": "l1", "keras2": "l1"},
    "l2": {"keras3": "l2", "keras2": "l2"},
    "l1_l2": {"keras3": {"class_name": "L1L2", "config": {"l1": 0.01, "l2": 0.01}},
              "keras2": "l1_l2"},
    "L1L2(0.003, 0.2)": {s: {"class_name": "L1L2", "config": {"l1": 0.003, "l2": 0.2}}
                         for s in ("keras3", "keras2")},
}
CONSTRAINTS = ("max_norm", "max_norm(layout axes)", "non_neg", "unit_norm",
               "unit_norm(layout axes)", "min_max_norm", "min_max_norm(layout axes, rate 0.5)")


def plan(layer, keras_spec):
    """The params of a layer's contract cases (round trips aside): one case a cell."""
    if layer not in LAYERS:
        return []
    names = [n for n in ["defaults", *INITIALIZERS] if n == "defaults" or _initializer_known(
        INITIALIZERS[n], keras_spec)]
    return ([{"contract": "initializer", "initializer": n} for n in names]
            + [{"contract": "regularizer", "regularizer": n} for n in REGULARIZERS]
            + [{"contract": "constraint", "constraint": n} for n in CONSTRAINTS])


def _initializer_known(identifier, keras_spec):
    try:
        initializers.resolve(identifier, keras_spec)
    except ValueError:
        return False
    return True


def layout_axes(shape):
    """The axes of one output's weights in a kernel layout: every axis but the last (a Conv2D
    kernel (kh, kw, in, out): [0, 1, 2]); 0 for a vector."""
    return 0 if len(shape) < 2 else list(range(len(shape) - 1))


def contract_case(core, params, named_shapes):
    """The contract case `params` made from a built base case `core` (its config, inputs,
    weights; named_shapes: its weights' (name, shape)): the config gains the contract's keys;
    an initializer case gives no weights."""
    base = LAYERS[core.layer]
    config = copy.deepcopy(core.config)
    names = [name for name, _ in named_shapes]
    shapes = dict(named_shapes)
    kind = params["contract"]
    weights = core.weights
    if kind == "initializer":
        weights = []
        if params["initializer"] != "defaults":
            identifier = INITIALIZERS[params["initializer"]]
            for name in names:
                if applies(identifier, shapes[name], core.spec):
                    config[f"{base.prefixes[name]}_initializer"] = copy.deepcopy(identifier)
    elif kind == "regularizer":
        identifier = REGULARIZERS[params["regularizer"]][core.spec]
        for name in base.regularized or names:
            if name in shapes:
                config[f"{base.prefixes[name]}_regularizer"] = copy.deepcopy(identifier)
        config["activity_regularizer"] = copy.deepcopy(identifier)
    elif kind == "constraint":
        weights = [_straddling(w) if name in (base.constrained or names) else w
                   for name, w in zip(names, core.weights)]
        for name, w in zip(names, weights):
            if name in (base.constrained or names):
                config[f"{base.prefixes[name]}_constraint"] = _constraint(
                    params["constraint"], np.asarray(w, np.float64))
    return replace(core, params={**params, "regime": "unit"}, config=config, weights=weights)


def _straddling(w):
    """w scaled (in float32) so that the median of its norms over axis 0 is 2, max_norm's
    default bound: the default cells clip some slices and leave others."""
    norms = constraints.norms(np.asarray(w, np.float64), 0)
    return (np.asarray(w, np.float64) * (2.0 / np.median(norms))).astype(np.float32)


def applies(identifier, shape, keras_spec):
    """Whether Keras can initialize a weight of `shape` with `identifier` (orthogonal needs
    two or more axes, identity exactly two: reference/initializers.py refuses the others)."""
    try:
        initializers.distribution(*initializers.resolve(identifier, keras_spec), shape)
    except ValueError:
        return False
    return True


def _constraint(cell, w):
    """The constraint identifier of a constraint cell for weight w: the default axis (0) in
    the plain cells; the layout's axes, with bounds that clip some norms and not others, in
    the others."""
    if "(" not in cell:
        return cell
    axis = layout_axes(w.shape)
    norms = constraints.norms(w, axis).ravel()
    low, middle, high = (float(np.float32(np.quantile(norms, q))) for q in (0.25, 0.5, 0.75))
    if cell.startswith("max_norm"):
        return {"class_name": "MaxNorm", "config": {"max_value": middle, "axis": axis}}
    if cell.startswith("unit_norm"):
        return {"class_name": "UnitNorm", "config": {"axis": axis}}
    return {"class_name": "MinMaxNorm",
            "config": {"min_value": low, "max_value": high, "rate": 0.5, "axis": axis}}


def round_trip_twin(case):
    """The round-trip twin of a covering case: the same call, judged on the layer rebuilt from
    its own get_config()."""
    return replace(case, id=case.id.replace(f"{case.layer}-", f"{case.layer}-roundtrip-", 1),
                   params={**case.params, "contract": "round_trip"})


NO_ROUND_TRIP = {"Lambda": "a Lambda's get_config() holds its function's bytecode, which "
                           "from_config refuses by default (safe_mode)",
                 "InputLayer": "an Input has no layer to rebuild"}


def takes_round_trip(case):
    """Whether a covering case gets a round-trip twin: one with deterministic outputs in the
    unit regime, of a layer class (not a functional form: add, concatenate...), not
    stateful (a rebuilt layer starts from zero states)."""
    return (case.params.get("regime") == "unit" and case.layer[0].isupper()
            and case.layer not in NO_ROUND_TRIP and not case.out_of_scope
            and case.check is None and not case.config.get("stateful"))


# What each contract case must give ------------------------------------------------------------

def expect(spec, case):
    """The Expected of any case of `spec`: the spec's own, with what a contract case adds (a
    gradient twin's gradients: conformance/backward/, whose expect() calls this one)."""
    kind = case.params.get("contract")
    if kind == "initializer":
        return Expected([], [], observed={"weights": initializer_check(spec, case)})
    if kind == "keras1":
        return spec.expect(keras1_translated(case))
    base = spec.expect(case)
    if kind == "regularizer":
        extra = {"losses": losses(spec, case, base)}
    elif kind == "constraint":
        extra = {"constrained": constrained(spec, case)}
    elif kind == "round_trip":
        extra = {"round_trip": (base.outputs, base.bounds)}
    else:
        return base
    return replace(base, observed={**(base.observed or {}), **extra})


def weight_shapes(spec, case):
    return spec.weights(case.config, [tuple(np.shape(x)) for x in case.inputs])


def initializer_check(spec, case):
    """The statistical check (conformance/statistics_init.py) of the weights a layer built
    from the case's config holds: each weight's distribution, from the initializer its config
    names or the layer's default (reference/initializers.py)."""
    shapes = [shape for _, shape in weight_shapes(spec, case)]
    check = initializers.initializer_check(case.layer, case.spec, case.config, shapes)
    return json.loads(json.dumps(check))            # JSON values, as a fixture holds them


def losses(spec, case, base):
    """(the losses the layer adds, their bounds): one activity loss per output, then one per
    regularized weight in get_weights() order. A weight's loss is a float32 sum of n terms
    (|w| or w^2) times a factor; an activity loss is the same over the candidate's output,
    which may differ from the expected one by its bound b: sum|y| by sum b, sum y^2 by
    sum (2|y| + b) b."""
    prefixes = LAYERS[case.layer].prefixes
    values, bounds = [], []
    activity = regularizers.factors(case.config.get("activity_regularizer"), case.spec)
    if activity is not None:
        for y, b in zip(base.outputs, base.bounds):
            y = np.asarray(y, np.float64)
            b = np.broadcast_to(np.asarray(b, np.float64), y.shape)
            batch = max(y.shape[0], 1) if y.ndim else 1
            values.append(regularizers.activity_penalty(y, *activity))
            bounds.append(_penalty_bound(y, *activity, slack=b) / batch + unit() * abs(values[-1]))
    for (name, _), w in zip(weight_shapes(spec, case), case.weights):
        factors = regularizers.factors(
            case.config.get(f"{prefixes[name]}_regularizer"), case.spec)
        if factors is not None:
            values.append(regularizers.penalty(w, *factors))
            bounds.append(_penalty_bound(np.asarray(w, np.float64), *factors))
    return values, bounds


def _penalty_bound(w, l1, l2, slack=0.0):
    """Bound on a float32 l1 * sum|w'| + l2 * sum w'^2 for |w' - w| <= slack: the sums of n
    terms (tolerance.sum_bound, over the largest magnitudes the terms can take), each square
    and each factor's rounding and product (u each), the addition (u)."""
    n = max(w.size, 1)
    l1, l2 = abs(float(np.float32(l1))), abs(float(np.float32(l2)))
    a = np.abs(w) + slack
    s1, s2 = float(np.sum(a)), float(np.sum(a * a))
    moved1 = float(np.sum(np.broadcast_to(slack, w.shape)))
    moved2 = float(np.sum((2 * np.abs(w) + slack) * slack))
    bound = 0.0
    if l1:
        bound += l1 * (moved1 + tolerance.sum_bound(s1, n, s1) + 3 * unit() * s1)
    if l2:
        bound += l2 * (moved2 + tolerance.sum_bound(s2, n, s2) + 4 * unit() * s2)
    return bound + unit() * (l1 * s1 + l2 * s2)


def constrained(spec, case):
    """(each weight after its constraint, bounds): reference/constraints.py's projection; a
    weight without a constraint is as given (bound 0). With n the norm over m terms, its
    float32 relative error r <= (sum_bound(n^2, m) / n^2 + u) / 2 + u (the sum, the square
    root); the projection's factor (desired / (eps + n), desired itself n or clipped) moves by
    at most 2 r + 6 u relative (both norms, the clip's and rate's products, the division,
    the product with w)."""
    prefixes = LAYERS[case.layer].prefixes
    values, bounds = [], []
    for (name, _), w in zip(weight_shapes(spec, case), case.weights):
        w = np.asarray(w, np.float64)
        identifier = case.config.get(f"{prefixes[name]}_constraint")
        projected = constraints.project(w, identifier)
        resolved = constraints.resolve(identifier)
        if resolved is None or resolved[0] == "NonNeg":
            bound = np.zeros_like(w)
        else:
            n2 = constraints.norms(w, resolved[1]["axis"]) ** 2
            m = w.size // max(n2.size, 1)
            with np.errstate(invalid="ignore", divide="ignore"):
                r = (tolerance.sum_bound(n2, m, n2) / np.where(n2 > 0, n2, 1.0) + unit()) / 2 + unit()
            bound = np.abs(projected) * (2 * r + 6 * unit()) + tolerance.tiny()
        values.append(projected)
        bounds.append(np.broadcast_to(bound, w.shape))
    return values, bounds


def draw(check, rng):
    """A correct draw of the weights an initializer check describes (the reference candidate's
    answer): each weight from its distribution, rounded to float32."""
    return [initializers.sample(w["distribution"], tuple(w["shape"]), rng).astype(np.float32)
            for w in check["weights"]]


# The Keras 1 cases: the seeds' examples (seed 004, seed 001) and what their names reach --------

KERAS1 = {          # current layer -> [(Keras 1 layer, its config, input shapes)]
    "Conv1D": [("Convolution1D", {"nb_filter": 8, "filter_length": 3, "border_mode": "same"},
                [(2, 10, 32)]),
               ("Convolution1D", {"nb_filter": 4, "filter_length": 2, "border_mode": "valid",
                                  "subsample_length": 2, "init": "he_normal",
                                  "activation": "relu", "bias": False}, [(2, 9, 6)])],
    "Conv2D": [("Convolution2D", {"nb_filter": 8, "nb_row": 3, "nb_col": 3, "border_mode": "same",
                                  "dim_ordering": "th"}, [(1, 3, 7, 9)]),
               ("Convolution2D", {"nb_filter": 4, "nb_row": 3, "nb_col": 2, "subsample": [2, 1],
                                  "border_mode": "valid", "dim_ordering": "tf",
                                  "activation": "tanh"}, [(2, 7, 6, 3)]),
               ("Convolution2D", {"nb_filter": 3, "nb_row": 2, "nb_col": 3, "border_mode": "valid",
                                  "dim_ordering": "th", "bias": False, "W_regularizer": "l2",
                                  "W_constraint": "max_norm"}, [(2, 2, 5, 7)])],
    "Dense": [("Dense", {"output_dim": 16, "init": "uniform", "activation": "linear"}, [(2, 32)]),
              ("Dense", {"output_dim": 8, "activation": "tanh", "bias": False, "input_dim": 12,
                         "W_regularizer": "l1", "b_regularizer": "l2"}, [(3, 12)])],
    "Embedding": [("Embedding", {"input_dim": 20, "output_dim": 4, "init": "uniform",
                                 "input_length": 5, "mask_zero": True, "W_regularizer": "l2",
                                 "W_constraint": "unit_norm"}, [(3, 5)])],
    "MaxPooling1D": [("MaxPooling1D", {"pool_length": 2, "stride": 1, "border_mode": "valid"},
                      [(2, 6, 3)])],
    "MaxPooling2D": [("MaxPooling2D", {"pool_size": [2, 2], "border_mode": "same",
                                       "dim_ordering": "th"}, [(2, 3, 5, 5)])],
    "AveragePooling2D": [("AveragePooling2D", {"pool_size": [2, 2], "strides": [1, 1],
                                               "border_mode": "valid", "dim_ordering": "tf"},
                          [(1, 4, 4, 3)])],
    "GlobalMaxPooling2D": [("GlobalMaxPooling2D", {"dim_ordering": "th"}, [(2, 3, 4, 4)])],
    "GlobalAveragePooling2D": [("GlobalAveragePooling2D", {"dim_ordering": "tf"},
                                [(2, 4, 4, 3)])],
}


def keras1_layout(layer1, config1, weights):
    """Current-layout weights in Keras 1's layout (the inverse of keras1.translate's): a
    Convolution1D kernel (k, in, filters) as (k, 1, in, filters); a "th" Convolution2D kernel
    (rows, cols, in, filters) as (filters, in, rows, cols)."""
    weights = [np.asarray(w) for w in weights]
    if weights and layer1 == "Convolution1D":
        weights[0] = weights[0][:, None]
    if weights and layer1 == "Convolution2D" and config1.get("dim_ordering") == "th":
        weights[0] = weights[0].transpose(3, 2, 0, 1)
    return weights


def keras1_translated(case):
    """The case in current names and layouts (reference/keras1.py)."""
    layer, config, weights = keras1.translate(case.params["keras1"], case.config, case.weights,
                                              [tuple(np.shape(x)) for x in case.inputs],
                                              spec=case.spec)
    return replace(case, layer=layer, config=config, weights=weights,
                   params={k: v for k, v in case.params.items()
                           if k not in ("contract", "keras1")})
