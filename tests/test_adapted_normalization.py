"""An adapted Normalization (EfficientNet's: no statistics in its config, mean and variance its
weights) on the Keras candidates: Keras 3's set_weights leaves the call on the tensors that
finalize_state() made before (mean 0, variance 1), so the adapter must call finalize_state()
as loading a saved model does; tf_keras's set_weights calls it itself."""
import importlib.util

import numpy as np
import pytest

from conformance import specs
from conformance.candidates import load
from conformance.cases import build_case
from conformance.compare import compare_case

PARAMS = {"axis": -1, "rank": 4, "stats": "per_axis", "statistics": "weights", "invert": False,
          "regime": "unit"}


@pytest.mark.parametrize("name, keras_spec, module", [("tf.keras", "keras3", "tensorflow"),
                                                      ("tf_keras", "keras2", "tf_keras")])
@pytest.mark.parametrize("invert", [False, True])
def test_a_keras_candidate_computes_with_the_adapted_weights(name, keras_spec, module, invert):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    case = build_case(specs.get("Normalization"), {**PARAMS, "invert": invert}, 7, keras_spec,
                      "Normalization-adapted", [(2, 4, 4, 3)])
    mean, variance, _ = case.weights
    assert case.config["mean"] is None and mean.shape == variance.shape == (3,)
    assert np.any(mean != 0) and np.any(variance != 1)      # not the initial statistics
    outcome = compare_case(case, load(name).run(case))
    assert outcome.status == "passed", outcome.message
