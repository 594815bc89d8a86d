"""Built Keras 3 layers, kept for the next case that would build the same layer.

A golden case's gradient twin has its forward case's layer, config and input shapes (its
inputs, weights and cotangent differ), and so have a few other pairs: 1,205 of the 7,732
keras3 cases could take a layer an earlier case built. Building is Keras's from_config, build
and a variable made for each weight; the kept layer only takes the case's weights, which a
fresh build would be given too (one warm tf.keras process answers every keras3 golden case 7%
faster, README "Benchmark").

A layer is kept only where loading the case's weights leaves it as a fresh build would be for
everything its call reads:
- Keras 3, whose call clears the losses of the call before (tf_keras is not kept);
- a case that gives every weight: one that reads the initializers' draws builds afresh;
- the forward or the gradient contract: a round trip rebuilds from get_config() on purpose, and
  the other contracts read the initializers, regularizers and constraints of a fresh layer;
- a call in inference: a training call draws from the layer's seed state, the one thing a
  Keras 3 layer holds besides its weights (layer.variables against layer.weights).
A layer is kept after a call that answered; one whose call raised is built afresh next time.
"""
import hashlib
import json
from collections import OrderedDict

import numpy as np

KEPT = 256           # layers kept a process, the least recently used given up first


class KeptLayers:
    def __init__(self):
        self._layers = OrderedDict()

    def take(self, case):
        """The layer kept for the case's layer, config and input shapes, or None; it is
        no longer kept until keep() gives it back."""
        key = reuse_key(case)
        return None if key is None else self._layers.pop(key, None)

    def keep(self, case, layer):
        key = reuse_key(case)
        if key is None or layer is None:
            return
        self._layers[key] = layer
        self._layers.move_to_end(key)
        while len(self._layers) > KEPT:
            self._layers.popitem(last=False)


def reuse_key(case):
    """What a layer built for the case depends on: its class, config, and the shapes and
    dtypes of the arrays its call takes (a call may build it from them); None where a layer
    is not kept (the module docstring)."""
    if not case.weights or case.params.get("contract") not in (None, "gradient") \
            or case.call_kwargs.get("training") or case.config.get("stateful") \
            or case.layer in ("InputLayer", "Lambda"):
        return None
    try:
        return json.dumps([case.layer, case.config, _shapes(list(case.inputs)),
                           _shapes(dict(case.call_kwargs))], sort_keys=True, default=_exact)
    except TypeError:           # a config value JSON cannot hold: not kept
        return None


def _shapes(value):
    """Arrays as their dtype and shape, in the nesting they come in."""
    if isinstance(value, np.ndarray):
        return ["array", value.dtype.str, list(value.shape)]
    if isinstance(value, (list, tuple)):
        return [_shapes(v) for v in value]
    if isinstance(value, dict):
        return {k: _shapes(v) for k, v in value.items()}
    return value


def _exact(value):
    """A config's NumPy value, exactly: an array by its bytes."""
    if isinstance(value, np.ndarray):
        return ["array", value.dtype.str, list(value.shape),
                hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return [type(value).__name__, value.item()]
    raise TypeError(type(value).__name__)
