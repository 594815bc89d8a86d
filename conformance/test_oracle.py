"""The reference against tf.keras (keras3 spec) and tf_keras (keras2 spec), on CPU and on GPU
when TensorFlow sees one: values within bound, output shapes, emitted masks, and the configs
Keras rejects. These tests are what make the reference the truth."""
import importlib.util

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conformance import specs
from conformance.candidates.isolation import IsolatedCandidate
from conformance.case import KERAS_SPECS
from conformance.cases import case_strategy, rejected_case
from conformance.compare import compare_case
from conformance.fixtures import ORACLES

pytestmark = pytest.mark.kc_oracle
DEVICES = ("cpu", "gpu")


@pytest.fixture(scope="session")
def oracles():
    """oracle(keras_spec, device): tf.keras or tf_keras in a child process; the CPU one is
    kept off any GPU with CUDA_VISIBLE_DEVICES=-1."""
    started = {}

    def get(keras_spec, device):
        module = {"keras3": "tensorflow", "keras2": "tf_keras"}[keras_spec]
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: the oracle tests need it")
        if (keras_spec, device) not in started:
            env = {"CUDA_VISIBLE_DEVICES": "-1"} if device == "cpu" else {}
            oracle = IsolatedCandidate(ORACLES[keras_spec], env=env)
            oracle.start()
            started[keras_spec, device] = oracle
        oracle = started[keras_spec, device]
        if oracle.info.get("device") != device:
            pytest.skip(f"TensorFlow sees no GPU on this machine ({ORACLES[keras_spec]} runs on "
                        f"{oracle.info.get('device')})")
        return oracle

    yield get
    for oracle in started.values():
        oracle.close()


def record_worst_ratio(node, ratio):
    """Keep the largest error/bound ratio seen over a property test's examples, for the run's
    summary ("oracle worst error/bound")."""
    for i, (key, value) in enumerate(node.user_properties):
        if key == "kc_oracle_worst":
            node.user_properties[i] = (key, max(value, ratio))
            return
    node.user_properties.append(("kc_oracle_worst", ratio))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("keras_spec", KERAS_SPECS)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # `request` holds no state
@given(data=st.data())
def test_reference_matches_oracle(layer, keras_spec, device, oracles, data, request):
    spec = specs.get(layer)
    if keras_spec not in spec.keras_specs:
        pytest.skip(f"{layer} is not a {keras_spec} layer")
    oracle = oracles(keras_spec, device)
    case = data.draw(case_strategy(spec, keras_spec), label="case")
    outputs = oracle.call("run", case)
    mask = oracle.call("compute_mask", case) if case.expected_mask is not None else None
    outcome = compare_case(case, outputs, mask)
    where = f"{ORACLES[keras_spec]} on {device}, {layer} {case.params} config {case.config}"
    assert outcome.status == "passed", f"{where}: {outcome.message}"
    record_worst_ratio(request.node, outcome.error_ratio or 0.0)
    declared = oracle.call("output_shape", case)["shape"]
    if declared and declared[0] is None:          # an unspecified batch size
        declared[0] = outputs[0].shape[0]
    # layers checked statistically (Dropout in training) keep their input's shape
    reference_shape = np.shape(case.inputs[0]) if case.check else case.expected[0].shape
    assert tuple(declared) == tuple(reference_shape) == tuple(outputs[0].shape), (
        f"{where}: compute_output_shape {declared}, real output {outputs[0].shape}, "
        f"reference {reference_shape}")


@pytest.mark.parametrize("keras_spec", KERAS_SPECS)
def test_reference_rejects_what_keras_rejects(layer, keras_spec, oracles):
    spec = specs.get(layer)
    rejects = [r for r in spec.rejects if keras_spec in r.keras_specs]
    if not rejects:
        pytest.skip(f"no rejected {keras_spec} configs are listed for {layer}")
    oracle = oracles(keras_spec, "cpu")
    for reject in rejects:
        case = rejected_case(spec, reject, keras_spec)
        refusal = oracle.call("rejection", case)
        assert refusal is not None, (
            f"{ORACLES[keras_spec]} accepts {layer}({reject.config}) on {reject.input_shapes}, "
            f"listed as rejected because {reject.reason}")
        with pytest.raises(ValueError):
            spec.expect(case)
