"""Each planted activation fault (tests/planted_activations_more.py) is caught in exactly the
Activation and Dense fixture cases predicted from each case's data and bound, and nowhere else.
gelu's exact form where approximate=True is asked is not reachable from a layer config (a name
carries no arguments), so its test checks the bound itself. And an activation registered by
another package is outside the scope, not a config Keras refuses.

KC_FIXTURES_DIR names the fixture set to run them on (default: the shipped one), for a set
regenerated but not yet committed."""
import numpy as np
import pytest

import reference
from conformance.elements import error_ratio
from conformance.specs._common import elementwise_bound
from reference.activations import gelu
from tests.planted_activations_more import (
    FAULTS, LAYERS, faulty_output, gelu_tanh, leaky_relu_layer_slope, logits, silu_hard,
)
from tests.suite_runner import fixture_cases, ids_with, layers_with, run_golden

CAUGHT = ("failed", "error")


def visible(case, got):
    """Whether `got` fails the case: another shape, or an element beyond its bound."""
    if np.shape(got) != np.shape(case.expected[0]):
        return True
    return bool(np.any(error_ratio(case.expected[0], case.bounds[0], got) > 1))


def predicted(layer, fault):
    """The cases of `layer` whose activation `fault` replaces and where its answer shows."""
    return {c.id for c in fixture_cases(layer) if FAULTS.get(c.config.get("activation")) is fault
            and visible(c, faulty_output(c))}


def named(layer, fault):
    return [c for c in fixture_cases(layer) if FAULTS.get(c.config.get("activation")) is fault]


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    """One run of ActivationNameFaults over Activation and Dense."""
    return run_golden(tmp_path_factory.mktemp("activations_more"),
                      "tests.planted_activations_more:ActivationNameFaults", *LAYERS)


def test_only_the_faulty_layers_fail(faults):
    assert layers_with(faults, (*CAUGHT, "xpassed")) == sorted(LAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_caught_exactly_where_predicted(faults, layer):
    """The three faults together: caught in exactly the union of their predicted cases."""
    expected = set().union(*(predicted(layer, fault) for fault in set(FAULTS.values())))
    assert expected and ids_with(faults, layer, CAUGHT) == expected


@pytest.mark.parametrize("layer", LAYERS)
def test_gelu_tanh_form_for_the_exact_one(faults, layer):
    """gelu's tanh form differs from x * Phi(x) by up to 4.7e-4 near |x| = 2: caught in every
    unit-regime gelu case (N(0, 9) data), and never where every |z| is below 0.1 or above 10
    (the two forms then agree within the bound: a tiny regime's subnormals)."""
    cases = named(layer, gelu_tanh)
    caught = predicted(layer, gelu_tanh)
    assert caught and caught <= ids_with(faults, layer, CAUGHT)
    unit = {c.id for c in cases if c.params["regime"] == "unit"}
    assert unit and unit <= caught
    tiny = {c.id for c in cases if c.params["regime"] == "tiny"}
    assert not tiny & caught


@pytest.mark.parametrize("layer", LAYERS)
def test_silu_as_hard_silu(faults, layer):
    """z * hard_sigmoid(z) for z * sigmoid(z): caught in every unit-regime silu or swish case
    (sigmoid(1) = 0.731, hard_sigmoid(1) = 0.667)."""
    caught = predicted(layer, silu_hard)
    assert caught and caught <= ids_with(faults, layer, CAUGHT)
    unit = {c.id for c in named(layer, silu_hard) if c.params["regime"] == "unit"}
    assert unit and unit <= caught


@pytest.mark.parametrize("layer", LAYERS)
def test_leaky_relu_with_the_layers_slope(faults, layer):
    """The name's slope is keras.activations.leaky_relu's 0.2; 0.3 is caught exactly where
    some z < 0 is large enough for 0.1 |z| to pass the bound, never where every z >= 0."""
    caught = predicted(layer, leaky_relu_layer_slope)
    assert caught and caught <= ids_with(faults, layer, CAUGHT)
    nonnegative = {c.id for c in named(layer, leaky_relu_layer_slope)
                   if np.all(np.nan_to_num(logits(c), nan=1.0) >= 0)}
    assert not nonnegative & caught


def test_gelu_exact_for_the_approximate_one():
    """No Activation or Dense config asks for gelu(approximate=True): "gelu" is approximate=False
    in both Kerases, a serialized function ({"class_name": "function", "config": "gelu"})
    carries no arguments, and keras_hub's "keras_hub>gelu_approximate" is another package's.
    The bound of the tanh form (ACTIVATION_ULPS["gelu_approximate"]) still tells the forms
    apart: the exact one fails it on N(0, 9) data, the tanh form in float32 passes."""
    z = np.random.default_rng(7).normal(0, 3, 2000).astype(np.float32).astype(np.float64)
    approx = gelu(z, approximate=True)
    bound = elementwise_bound("gelu_approximate", gelu_tanh, z, approx, 0.0)
    float32 = np.asarray(gelu(z.astype(np.float32), approximate=True), np.float32)
    assert np.all(error_ratio(approx, bound, float32.astype(np.float64)) <= 1)
    assert np.mean(error_ratio(approx, bound, gelu(z)) > 1) > 0.5
    for spec in ("keras3", "keras2"):
        assert reference.activation("gelu", spec)(np.array([1.0])) == gelu(np.array([1.0]))


SERIALIZED = {"module": "builtins", "class_name": "function",
              "config": "keras_hub>gelu_approximate", "registered_name": "function"}


@pytest.mark.parametrize("spec", ("keras3", "keras2"))
def test_another_packages_activation_is_outside_the_scope(spec):
    """Keras builds and runs a function that keras.saving.register_keras_serializable
    registered ("package>name"), in its serialized form (what get_config() writes) in both
    Kerases, and as a string in tf_keras; the reference declines it, naming it."""
    with pytest.raises(reference.OutOfScope, match="'keras_hub>gelu_approximate' is registered "
                                                   "by another package"):
        reference.activation(SERIALIZED, spec)
    if spec == "keras2":
        with pytest.raises(reference.OutOfScope, match="registered by another package"):
            reference.activation("keras_hub>gelu_approximate", spec)


def test_what_keras_refuses_stays_a_value_error():
    """Keras 3's activations.get reads a string in its own table only; an unknown name, a
    name tf_keras lacks, and threshold (no default arguments) are refused."""
    for name, spec in (("keras_hub>gelu_approximate", "keras3"), ("no_such", "keras3"),
                       ("no_such", "keras2"), ("celu", "keras2"), ("threshold", "keras3")):
        with pytest.raises(ValueError):
            reference.activation(name, spec)
