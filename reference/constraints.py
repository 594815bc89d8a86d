"""Weight constraints: the projection each applies to a weight after an optimizer's update.

With n = sqrt(sum over `axis` of w^2) (kept as a broadcastable axis) and eps = 1e-7 (Keras's
backend.epsilon()):

    max_norm(max_value=2, axis=0)          w * clip(n, 0, max_value) / (eps + n)
    non_neg                                w where w >= 0, else 0
    unit_norm(axis=0)                      w / (eps + n)
    min_max_norm(min_value=0, max_value=1, rate=1, axis=0)
                                           w * (rate * clip(n, min_value, max_value)
                                                + (1 - rate) * n) / (eps + n)

(keras/src/constraints/constraints.py; tf_keras/src/constraints.py: the same formulas and
defaults in both Kerases.) `axis` is an int or a list of ints: the axes the norm runs over,
so the norm is per slice along the axes NOT listed. The default axis=0 is right for a Dense
kernel (input_dim, units): one norm per unit. For other layouts the user passes the axes of
one output's weights: a Conv1D kernel (k, in, filters) [0, 1], a Conv2D kernel
(kh, kw, in, filters) [0, 1, 2], a Conv3D kernel [0, 1, 2, 3], a recurrent kernel (units,
gates * units) 0, a depthwise kernel (kh, kw, in, multiplier) [0, 1], an Embedding table
(input_dim, output_dim) 1 (one norm per row, each embedding vector). The default axis on a
convolution kernel is still axis 0: one norm per (kernel tap row, ...) slice, legal and
rarely meant.

Identifiers: "max_norm"/"MaxNorm", "non_neg"/"NonNeg", "unit_norm"/"UnitNorm",
"min_max_norm"/"MinMaxNorm", or {"class_name": C, "config": {...}} with C's arguments.
"""
import numpy as np

EPSILON = 1e-7
DEFAULTS = {
    "MaxNorm": {"max_value": 2.0, "axis": 0},
    "NonNeg": {},
    "UnitNorm": {"axis": 0},
    "MinMaxNorm": {"min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": 0},
}
NAMES = {"max_norm": "MaxNorm", "non_neg": "NonNeg", "unit_norm": "UnitNorm",
         "min_max_norm": "MinMaxNorm", **{name: name for name in DEFAULTS}}


def resolve(identifier):
    """(class name, full config) of a constraint identifier, or None for None; ValueError
    for one Keras does not know or an argument its class does not take."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        config, name = {}, NAMES.get(identifier)
    elif isinstance(identifier, dict):
        config, name = dict(identifier.get("config") or {}), NAMES.get(
            identifier.get("class_name"))
    else:
        name = None
    if name is None:
        raise ValueError(f"Could not interpret constraint identifier: {identifier!r}")
    unknown = set(config) - set(DEFAULTS[name])
    if unknown:
        raise ValueError(f"{name} takes no argument {sorted(unknown)}")
    return name, {**DEFAULTS[name], **config}


def norms(w, axis):
    """sqrt(sum of w^2 over `axis`), the reduced axes kept (length 1)."""
    axes = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    for a in axes:
        if not -w.ndim <= a < w.ndim:
            raise ValueError(f"axis {a} is out of range for a weight of rank {w.ndim}")
    return np.sqrt(np.sum(w * w, axis=axes, keepdims=True))


def project(w, identifier):
    """The weight w after the constraint, in float64."""
    w = np.asarray(w, np.float64)
    resolved = resolve(identifier)
    if resolved is None:
        return w
    name, config = resolved
    if name == "NonNeg":
        return np.where(w >= 0, w, 0.0)
    n = norms(w, config["axis"])
    if name == "UnitNorm":
        return w / (EPSILON + n)
    if name == "MaxNorm":
        desired = np.clip(n, 0.0, config["max_value"])
    else:
        rate = config["rate"]
        desired = rate * np.clip(n, config["min_value"], config["max_value"]) + (1 - rate) * n
    return w * (desired / (EPSILON + n))
