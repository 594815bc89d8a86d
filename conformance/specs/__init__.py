"""The layer specs, one per Keras layer, grouped by family in this package's modules.

Adding a layer is adding a LayerSpec to one of these modules (or a new module): it is found
here by discovery, and no other file changes. A layer with cases of the common parameters
(conformance/contract.py) also gets the divergences found there.
"""
import dataclasses
import importlib
import pkgutil

from conformance import contract
from conformance.spec import LayerSpec


def _discover():
    specs = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, LayerSpec):
                if value.layer in specs and specs[value.layer] is not value:
                    raise RuntimeError(f"two specs for layer {value.layer}")
                specs[value.layer] = value
    for layer in contract.LAYERS:
        if layer in specs:
            specs[layer] = dataclasses.replace(
                specs[layer], divergences=specs[layer].divergences + contract.DIVERGENCES)
    return dict(sorted(specs.items()))


SPECS = _discover()


def get(layer):
    if layer not in SPECS:
        raise KeyError(f"no spec for layer {layer!r}; known: {', '.join(SPECS)}")
    return SPECS[layer]
