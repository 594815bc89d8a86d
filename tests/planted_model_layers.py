"""Planted faulty candidates for the layers real models are made of: LayerNormalization that
takes its statistics over the batch axis too, and Rescaling that adds the offset before it
scales. Faults in different layers cannot hide one another (a case holds one layer), so
ModelLayerFaults carries both and one run of the suite checks them."""
import numpy as np

from reference.model_layers import layer_norm_axes, layer_statistics
from tests.planted import Planted


def layer_norm_over_batch(x, weights, config, spec="keras3"):
    """LayerNormalization with the batch axis added to the normalized axes: the statistics of
    each position pooled over the whole batch (batch normalization's, at training time).
    Right only where the batch holds one element."""
    x = np.asarray(x, np.float64)
    axes, _ = layer_norm_axes(config.get("axis", -1), x.ndim, spec)
    view = tuple(d if i in axes else 1 for i, d in enumerate(x.shape))
    rms = config.get("rms_scaling", False)
    names = (["gamma"] * bool(config.get("scale", True) or rms)
             + ["beta"] * bool(config.get("center", True) and not rms))
    placed = {n: np.asarray(w, np.float64).reshape(view) for n, w in zip(names, weights)}
    mean, variance = layer_statistics(x, sorted({0, *axes}))
    with np.errstate(invalid="ignore", over="ignore"):
        centred = x if rms else x - mean
        y = centred / np.sqrt(variance + config.get("epsilon", 1e-3)) * placed.get("gamma", 1.0)
        return y + placed.get("beta", 0.0)


def rescaling_offset_first(x, config):
    """Rescaling as (x + offset) * scale, in place of x * scale + offset: right only where
    the offset is 0 or the scale 1."""
    scale = np.asarray(config["scale"], np.float32).astype(np.float64)
    offset = np.asarray(config.get("offset", 0.0), np.float32).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        return (np.asarray(x, np.float64) + offset) * scale


class ModelLayerFaults(Planted):
    """LayerNormalization normalizing over the batch axis too (layer_norm_over_batch);
    Rescaling adding before it scales (rescaling_offset_first)."""
    FAULTY = ("LayerNormalization", "Rescaling")

    def run(self, case):
        if case.layer == "LayerNormalization":
            return [layer_norm_over_batch(case.inputs[0], case.weights, case.config, case.spec)]
        if case.layer == "Rescaling":
            return [rescaling_offset_first(case.inputs[0], case.config)]
        return self.correct(case)
