"""Which cases may take a Keras layer an earlier case built (conformance/candidates/
kept_layers.py): a gradient twin its forward case's, never a case whose answer would depend on
more than the weights it loads. That a kept layer answers with the later case's weights:
tests/test_candidate_gradients.py, each Keras 3 candidate."""
import dataclasses

import numpy as np

from conformance.candidates.kept_layers import KEPT, KeptLayers, reuse_key
from conformance.case import Case


def dense(params=None, **changes):
    rng = np.random.default_rng(0)
    case = Case(id="Dense-000", layer="Dense", spec="keras3", params=params or {"regime": "unit"},
                config={"units": 3, "use_bias": True}, inputs=[rng.random((2, 4), np.float32)],
                weights=[rng.random((4, 3), np.float32), np.zeros(3, np.float32)])
    return dataclasses.replace(case, **changes)


def test_a_gradient_twin_takes_its_forward_cases_layer():
    rng = np.random.default_rng(1)
    twin = dense({"regime": "unit", "contract": "gradient"}, id="Dense-grad-000",
                 inputs=[rng.random((2, 4), np.float32)],
                 weights=[rng.random((4, 3), np.float32), rng.random(3, np.float32)],
                 cotangent=[rng.random((2, 3), np.float32)])
    assert reuse_key(twin) == reuse_key(dense()) is not None


def test_another_config_shape_or_dtype_builds_another_layer():
    keys = {reuse_key(dense()),
            reuse_key(dense(config={"units": 3, "use_bias": False})),
            reuse_key(dense(inputs=[np.zeros((3, 4), np.float32)])),
            reuse_key(dense(inputs=[np.zeros((2, 4), np.float64)])),
            reuse_key(dense(call_kwargs={"mask": np.ones((2,), bool)}))}
    assert None not in keys and len(keys) == 5
    array = np.arange(3.0)
    assert reuse_key(dense(config={"units": 3, "v": array})) != \
        reuse_key(dense(config={"units": 3, "v": array + 1}))


def test_cases_whose_answer_needs_a_fresh_layer_are_not_kept():
    assert reuse_key(dense(weights=[])) is None                       # the initializers' draws
    for contract in ("initializer", "round_trip", "regularizer", "constraint", "keras1"):
        assert reuse_key(dense({"contract": contract})) is None
    assert reuse_key(dense(call_kwargs={"training": True})) is None    # a seed state, moving stats
    assert reuse_key(dense(config={"units": 3, "stateful": True})) is None
    assert reuse_key(dense(config={"units": 3, "f": object()})) is None   # no exact key


def test_a_taken_layer_is_kept_again_only_when_given_back_and_the_oldest_goes_first():
    kept, case = KeptLayers(), dense()
    kept.keep(case, "layer")
    assert kept.take(case) == "layer" and kept.take(case) is None
    kept.keep(case, "layer")
    for units in range(KEPT):                       # KEPT other layers push it out
        kept.keep(dense(config={"units": units + 10}), units)
    assert kept.take(case) is None
    assert kept.take(dense(config={"units": 10 + KEPT - 1})) == KEPT - 1
