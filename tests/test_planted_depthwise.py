"""Each planted grouping fault (tests/planted_depthwise.py) is caught in exactly the fixture
cases predicted from each case's data and bound, and nowhere else: DepthwiseConv2D's outputs
in grouped order only where C > 1 and M > 1, Conv2D's interleaved groups only where a group
holds more than one channel.

KC_FIXTURES_DIR names the fixture set to run them on (default: the shipped one), for a set
regenerated but not yet committed."""
import numpy as np
import pytest

from conformance.elements import error_ratio
from tests.planted_depthwise import conv_interleaved_groups, depthwise_grouped_order
from tests.suite_runner import fixture_cases, ids_with, layers_with, run_golden

CAUGHT = ("failed", "error")
LINEAR = (None, "linear")


def visible(case, got):
    """Whether the answer `got` fails the case: another shape, or an element outside the
    case's bound (conformance/compare.py's rules)."""
    if np.shape(got) != np.shape(case.expected[0]):
        return True
    return bool(np.any(error_ratio(case.expected[0], case.bounds[0], got) > 1))


def channels(case):
    x = case.inputs[0]
    return x.shape[1] if case.config.get("data_format") == "channels_first" else x.shape[-1]


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    """One run of GroupingFaults over the two layers it touches."""
    return run_golden(tmp_path_factory.mktemp("grouping"), "tests.planted_depthwise:GroupingFaults",
                      "DepthwiseConv2D", "Conv2D")


def test_only_the_faulty_layers_fail(faults):
    assert layers_with(faults, (*CAUGHT, "xpassed")) == ["Conv2D", "DepthwiseConv2D"]


def test_depthwise_outputs_in_grouped_order(faults):
    """Caught exactly where writing output m of channel c at m*C + c moves a value beyond its
    bound: never with one channel or depth_multiplier 1 (the orders agree), and in every
    unit-regime case with several of both and no activation (distinct values change places)."""
    cases = fixture_cases("DepthwiseConv2D")
    predicted = {c.id for c in cases
                 if visible(c, depthwise_grouped_order(c.inputs[0], *c.weights, **c.config))}
    assert predicted and ids_with(faults, "DepthwiseConv2D", CAUGHT) == predicted
    several = {c.id for c in cases
               if channels(c) > 1 and c.config.get("depth_multiplier", 1) > 1}
    assert predicted <= several
    unit = {c.id for c in cases if c.id in several and c.params.get("regime") == "unit"
            and c.config.get("activation") in LINEAR}
    assert unit and unit <= predicted


def test_conv_groups_interleaved(faults):
    """Caught exactly where reading group g's channels as g, g + G, ... moves a value beyond
    its bound: never with groups 1 or one channel per group (groups = channels, the two
    readings agree), and only there."""
    cases = fixture_cases("Conv2D")
    predicted = {c.id for c in cases
                 if visible(c, conv_interleaved_groups(c.inputs[0], *c.weights, **c.config))}
    assert predicted and ids_with(faults, "Conv2D", CAUGHT) == predicted
    groups = {c.id: c.config.get("groups", 1) for c in cases}
    shared = {c.id for c in cases if groups[c.id] > 1 and channels(c) > groups[c.id]}
    assert predicted <= shared
    depthwise_like = {c.id for c in cases if 1 < groups[c.id] == channels(c)}
    assert depthwise_like and not predicted & depthwise_like
