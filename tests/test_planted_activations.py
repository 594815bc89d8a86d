"""Each planted advanced-activation fault (tests/planted_activations.py) is caught in exactly
the fixture cases predicted from each case's data and bound, and nowhere else; LeakyReLU with
the other spec's default slope is caught nowhere, since both Kerases default to 0.3.

KC_FIXTURES_DIR names the fixture set to run them on (default: the shipped one), for a set
regenerated but not yet committed."""

import numpy as np
import pytest

from conformance.elements import error_ratio
from reference.advanced_activations import LEAKY_RELU_DEFAULT
from tests.planted_activations import (
    KERAS_ACTIVATIONS_LEAKY_RELU_DEFAULT, LEAKY_SLOPE_KEYS, elu_alpha_ignored,
    leaky_relu_default, prelu_alpha_squeezed,
)
from tests.suite_runner import cells, fixture_cases, ids_with, layers_with, run_golden

CAUGHT = ("failed", "error")


def planted(tmp_path, name, *layers):
    return run_golden(tmp_path, f"tests.planted_activations:{name}", *layers)


def caught_ids(matrix, layer):
    return ids_with(matrix, layer, CAUGHT)


def visible(case, got):
    """Whether the answer `got` fails the case: another shape, or an element outside the
    case's bound (conformance/compare.py's rules), or no answer at all (None)."""
    if got is None or np.shape(got) != np.shape(case.expected[0]):
        return True
    return bool(np.any(error_ratio(case.expected[0], case.bounds[0], got) > 1))


def answer(fault, *args):
    """The fault's output, or None where it cannot compute one (alpha does not broadcast)."""
    try:
        with np.errstate(invalid="ignore", over="ignore"):
            return fault(*args)
    except ValueError:
        return None


def trailing(shape):
    """Whether alpha's axes longer than 1 are its last ones (its 1-axes all lead): squeezing
    then leaves alpha where it was, as trailing axes."""
    shape = list(shape)
    while shape and shape[0] == 1:
        shape.pop(0)
    return 1 not in shape


def omits_slope(case):
    return not any(key in case.config for key in LEAKY_SLOPE_KEYS)


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    """One run of ActivationFaults over the three layers it touches."""
    return planted(tmp_path_factory.mktemp("activations"), "ActivationFaults",
                   "PReLU", "ELU", "LeakyReLU")


def test_only_the_faulty_layers_fail(faults):
    assert layers_with(faults, (*CAUGHT, "xpassed")) == ["ELU", "LeakyReLU", "PReLU"]


def test_prelu_alpha_on_the_wrong_axis(faults):
    """Caught exactly where the squeezed alpha, aligned with the trailing axes, changes an
    output beyond its bound (or cannot broadcast); never where the unshared axes are the
    trailing ones (shared_axes [1], [1, 2] on rank 4, ...), and in every unit-regime case where
    it lands some other alpha on a negative input."""
    cases = fixture_cases("PReLU")
    predicted = {c.id for c in cases
                 if visible(c, answer(prelu_alpha_squeezed, c.inputs[0], c.weights[0]))}
    assert predicted and caught_ids(faults, "PReLU") == predicted
    aligned = [c for c in cases if trailing(np.shape(c.weights[0]))]
    assert aligned and not predicted & {c.id for c in aligned}
    moved = {c.id for c in cases if c.params["regime"] == "unit" and c not in aligned}
    assert moved and moved <= predicted


def test_elu_alpha_ignored(faults):
    """Caught exactly where alpha * expm1(x) and expm1(x) differ beyond the bound: never with
    alpha 1 (or omitted), in every unit-regime case with another alpha (a negative input is
    always drawn there)."""
    cases = fixture_cases("ELU")
    predicted = {c.id for c in cases if visible(c, elu_alpha_ignored(c.inputs[0]))}
    assert predicted and caught_ids(faults, "ELU") == predicted
    alpha_one = {c.id for c in cases if float(c.config.get("alpha", 1.0)) == 1.0}
    assert alpha_one and not predicted & alpha_one
    unit = {c.id for c in cases if c.params["regime"] == "unit" and c.id not in alpha_one}
    assert unit and unit <= predicted


def test_leaky_relu_with_the_activation_functions_default(faults):
    """An omitted slope read as keras.activations.leaky_relu's 0.2: caught exactly in the cases
    whose config omits the slope and where 0.2 x and 0.3 x differ beyond the bound."""
    assert KERAS_ACTIVATIONS_LEAKY_RELU_DEFAULT != LEAKY_RELU_DEFAULT
    cases = fixture_cases("LeakyReLU")
    predicted = {c.id for c in cases if omits_slope(c) and visible(
        c, leaky_relu_default(c.inputs[0], c.config, KERAS_ACTIVATIONS_LEAKY_RELU_DEFAULT))}
    assert predicted and caught_ids(faults, "LeakyReLU") == predicted
    unit = {c.id for c in cases if omits_slope(c) and c.params["regime"] == "unit"}
    assert unit and unit <= predicted


def test_leaky_relu_with_the_other_specs_default(tmp_path):
    """Keras 3 and tf_keras both default LeakyReLU's slope to 0.3, so reading an omitted slope
    with tf_keras's default changes no case: every LeakyReLU case passes, the default ones
    included."""
    matrix = planted(tmp_path, "LeakyReLUOtherSpecDefault", "LeakyReLU")
    assert layers_with(matrix, (*CAUGHT, "xpassed")) == []
    results = [r for c in cells(matrix, "LeakyReLU") for r in c["case_results"]]
    defaults = {c.id for c in fixture_cases("LeakyReLU") if omits_slope(c)}
    assert defaults and {r["id"] for r in results if r["status"] == "passed"} >= defaults
