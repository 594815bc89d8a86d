"""Weight and activity regularizers: the loss term each adds, in float64.

    l1     l1 * sum |w|
    l2     l2 * sum w^2
    l1_l2  l1 * sum |w| + l2 * sum w^2

the sums over every element of the weight (or of the layer's output, for an activity
regularizer, whose loss both Kerases then divide by the batch size: keras/src/layers/layer.py
`__call__`, tf_keras base_layer.py `_handle_activity_regularization`). A factor of 0 leaves
its term out (a NaN weight then adds no NaN): both Kerases test `l1 != 0.0` first.

The identifiers and their defaults, as each Keras resolves them (regularizers.get):

    identifier                        keras3 (Keras 3)          keras2 (tf_keras)
    "l1", "L1"                        l1 = 0.01                 l1 = 0.01
    "l2", "L2"                        l2 = 0.01                 l2 = 0.01
    "l1_l2"                           refused (ValueError)      l1 = 0.01, l2 = 0.01 (the
                                                                function l1_l2's defaults)
    "L1L2", {"class_name": "L1L2"}    l1 = 0, l2 = 0            l1 = 0, l2 = 0
    {"class_name": C, "config": c}    C's defaults updated with c

Keras 3 stores L1's factor rounded to float32 in its config (0.009999999776482582) and L2's as
given; both multiply in float32, so the factor a layer uses is the float32 one either way.
"""
import numpy as np

# class name -> (l1, l2) defaults of the class
CLASS_DEFAULTS = {"L1": (0.01, 0.0), "L2": (0.0, 0.01), "L1L2": (0.0, 0.0)}
# string identifiers -> class name, per Keras spec; "l1_l2" is tf_keras's function, whose
# defaults differ from its class's
NAMES = {
    "keras3": {"l1": "L1", "L1": "L1", "l2": "L2", "L2": "L2", "L1L2": "L1L2"},
    "keras2": {"l1": "L1", "L1": "L1", "l2": "L2", "L2": "L2", "L1L2": "L1L2",
               "l1_l2": "l1_l2"},
}


def factors(identifier, keras_spec="keras3"):
    """(l1, l2) of a regularizer identifier (a name or a {"class_name", "config"} dict), or
    None for None; ValueError for an identifier that Keras does not know."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        name = NAMES[keras_spec].get(identifier)
        if name is None:
            raise ValueError(f"Could not interpret regularizer identifier: {identifier!r}")
        return (0.01, 0.01) if name == "l1_l2" else CLASS_DEFAULTS[name]
    if isinstance(identifier, dict) and identifier.get("class_name") in CLASS_DEFAULTS:
        l1, l2 = CLASS_DEFAULTS[identifier["class_name"]]
        config = identifier.get("config") or {}
        unknown = set(config) - {"l1", "l2"}
        if unknown or (identifier["class_name"] == "L1" and "l2" in config) \
                or (identifier["class_name"] == "L2" and "l1" in config):
            raise ValueError(f"unexpected arguments {sorted(unknown or config)} for "
                             f"{identifier['class_name']}")
        return (float(config.get("l1", l1)), float(config.get("l2", l2)))
    raise ValueError(f"Could not interpret regularizer identifier: {identifier!r}")


def penalty(w, l1, l2):
    """l1 * sum|w| + l2 * sum w^2 in float64; a zero factor leaves its term out."""
    w = np.asarray(w, np.float64)
    loss = 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        if l1 != 0.0:
            loss = loss + float(np.float32(l1)) * np.sum(np.abs(w))
        if l2 != 0.0:
            loss = loss + float(np.float32(l2)) * np.sum(w * w)
    return float(loss)


def activity_penalty(y, l1, l2):
    """The activity regularizer's loss on an output y: penalty(y) / batch size (0 for an
    empty batch)."""
    y = np.asarray(y, np.float64)
    return penalty(y, l1, l2) / y.shape[0] if y.ndim and y.shape[0] else 0.0
