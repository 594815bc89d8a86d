"""Each planted fault of tests/planted_model_layers.py is caught in exactly the fixture cases
predicted from each case's data and bound, and nowhere else.

KC_FIXTURES_DIR names the fixture set to run them on (default: the shipped one), for a set
regenerated but not yet committed."""
import numpy as np
import pytest

from conformance.elements import error_ratio
from tests.planted_model_layers import layer_norm_over_batch, rescaling_offset_first
from tests.suite_runner import fixture_cases, ids_with, layers_with, run_golden

CAUGHT = ("failed", "error")


def visible(case, got):
    """Whether the answer `got` fails the case: an element outside the case's bound
    (conformance/compare.py's rules)."""
    return bool(np.any(error_ratio(case.expected[0], case.bounds[0], got) > 1))


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    """One run of ModelLayerFaults over the two layers it touches."""
    return run_golden(tmp_path_factory.mktemp("model_layers"),
                      "tests.planted_model_layers:ModelLayerFaults",
                      "LayerNormalization", "Rescaling", "Softmax")


def test_only_the_faulty_layers_fail(faults):
    assert layers_with(faults, (*CAUGHT, "xpassed")) == ["LayerNormalization", "Rescaling"]


def test_layer_normalization_over_the_batch(faults):
    """Caught exactly where pooling the statistics over the batch moves an output beyond its
    bound: never with a batch of one, and in every unit-regime case with a batch of two or
    more."""
    cases = fixture_cases("LayerNormalization")
    predicted = {c.id for c in cases
                 if visible(c, layer_norm_over_batch(c.inputs[0], c.weights, c.config))}
    assert predicted and ids_with(faults, "LayerNormalization", CAUGHT) == predicted
    single = {c.id for c in cases if np.shape(c.inputs[0])[0] == 1}
    assert single and not predicted & single
    unit = {c.id for c in cases if c.params["regime"] == "unit" and c.id not in single}
    assert unit and unit <= predicted


def test_rescaling_adds_before_it_scales(faults):
    """(x + offset) * scale differs from x * scale + offset by offset * (scale - 1): caught
    exactly where that exceeds the bound, never with offset 0 or scale 1, and in every
    unit-regime case with both otherwise (a scale per channel may hold neither)."""
    cases = fixture_cases("Rescaling")
    predicted = {c.id for c in cases if visible(c, rescaling_offset_first(c.inputs[0], c.config))}
    assert predicted and ids_with(faults, "Rescaling", CAUGHT) == predicted
    harmless = {c.id for c in cases if c.config["offset"] == 0.0 or c.config["scale"] == 1.0}
    assert harmless and not predicted & harmless
    plain = {c.id for c in cases if c.params["regime"] == "unit" and c.id not in harmless
             and not isinstance(c.config["scale"], list)
             and not isinstance(c.config["offset"], list)}
    assert plain and plain <= predicted
