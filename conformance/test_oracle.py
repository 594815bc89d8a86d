"""The reference against tf.keras (keras3 spec) and tf_keras (keras2 spec), on CPU and on GPU
when TensorFlow sees one: values within bound in every input regime, output shapes, emitted
masks, the configs Keras rejects, and the layer's complete get_config(). These tests are what
make the reference the truth."""
import copy
import dataclasses
import glob
import importlib.util
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from hypothesis.errors import Unsatisfiable

from conformance import backward, specs
from conformance.candidates.isolation import CandidateError, IsolatedCandidate
from conformance.case import KERAS_SPECS
from conformance.cases import (case_strategy, fixture_cases, rejected_case, seeded_once,
                               with_expected)
from conformance.compare import compare_case
from conformance.oracles import (
    FALLBACK_ORACLES, ORACLE_ENV, ORACLES, TF_RUNTIME_ERROR, fallbacks, oracle_answer,
    oracle_case, tensorflow_error,
)
from conformance.regimes import REGIMES

pytestmark = pytest.mark.kc_oracle
DEVICES = ("cpu", "gpu")


@pytest.fixture(scope="session")
def oracles():
    """oracle(keras_spec, device): tf.keras or tf_keras in a child process; the CPU one is
    kept off any GPU with CUDA_VISIBLE_DEVICES=-1. oracle("keras-jax", device) and
    oracle("keras-torch", device): the fallbacks, for the cases TensorFlow cannot run."""
    started = {}

    def get(keras_spec, device):
        module = MODULES[keras_spec]
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: the oracle tests need it")
        if device == "gpu" and not gpu_device_files():
            pytest.skip("no GPU on this machine (no /dev/nvidia* or /dev/dxg device for "
                        "TensorFlow's CUDA build to see)")
        if (keras_spec, device) not in started:
            env = {**ORACLE_ENV, **({"CUDA_VISIBLE_DEVICES": "-1"} if device == "cpu" else {})}
            name = ORACLES.get(keras_spec, keras_spec)
            oracle = IsolatedCandidate(name, env=env)
            oracle.start()
            started[keras_spec, device] = oracle
        oracle = started[keras_spec, device]
        if oracle.info.get("device") != device:
            pytest.skip(f"no GPU seen on this machine ({oracle.target} runs on "
                        f"{oracle.info.get('device')})")
        return oracle

    yield get
    for oracle in started.values():
        oracle.close()


def gpu_device_files():
    """Whether a GPU device node exists, through which TensorFlow's CUDA build could see one
    (Linux, and WSL's /dev/dxg): without one, no process is started only to find none."""
    return bool(glob.glob("/dev/nvidia[0-9]*") or os.path.exists("/dev/dxg"))


MODULES = {"keras3": "tensorflow", "keras2": "tf_keras", "keras-jax": "jax",
           "keras-torch": "torch"}


def installed(oracle):
    return importlib.util.find_spec(MODULES[oracle]) is not None


def keras3_agrees(spec, case):
    """Whether the reference gives a keras2 case the same answer under the keras3 spec (only
    then can a Keras 3 backend vouch for it: hard_sigmoid differs, for one; a layer Keras 3
    does not have, never)."""
    if "keras3" not in spec.keras_specs:
        return False
    twin = with_expected(spec, dataclasses.replace(case, spec="keras3", expected=None))
    return twin.out_of_scope is None and _same(twin.expected or [], case.expected or [])


def run_on_a_fallback(oracles, device, spec, case, why, required=True):
    """(oracle, the case it ran, how, its answer) from the first of FALLBACK_ORACLES that runs
    `case` (and has no known divergence there); the case it ran and how: oracle_case; its
    answer: oracle_answer's. Where none runs it: an AssertionError, or (required=False)
    None."""
    tried = [why]
    for name in fallbacks(spec, case, tried):
        if not installed(name):
            tried.append(f"{name}: not installed")
            continue
        oracle = oracles(name, device)
        try:
            ran, via = oracle_case(oracle, spec, case)
            return oracle, ran, via, oracle_answer(oracle, spec, case, ran)
        except CandidateError as exc:
            tried.append(f"{name}: {exc.kind}: {tensorflow_error(str(exc))}")
    if not required:
        return None
    raise AssertionError("no oracle runs this case: " + "; ".join(tried))


def record_worst_ratio(node, ratio, **where):
    """Keep the largest error/bound ratio seen over a property test's examples, for the run's
    summary (reference vs oracle, worst error/bound per layer, spec, device and regime)."""
    for i, (key, value) in enumerate(node.user_properties):
        if key == "kc_oracle_worst":
            node.user_properties[i] = (key, {**value, "ratio": max(value["ratio"], ratio)})
            return
    node.user_properties.append(("kc_oracle_worst", {**where, "ratio": ratio}))


def record_fallback(node, **fallback):
    """Note a case TensorFlow could not run, for the run's summary (at most 20 per test)."""
    for i, (key, value) in enumerate(node.user_properties):
        if key == "kc_oracle_fallbacks":
            if len(value) < 20:
                value.append(fallback)
            return
    node.user_properties.append(("kc_oracle_fallbacks", [fallback]))


def examples_per_regime():
    """A share of the profile's examples for each regime (at least 3)."""
    return max(3, settings().max_examples // 3)


@pytest.mark.parametrize("regime", REGIMES)
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("keras_spec", KERAS_SPECS)
def test_reference_matches_oracle(layer, keras_spec, device, regime, oracles, request):
    spec = specs.get(layer)
    if keras_spec not in spec.keras_specs:
        pytest.skip(f"{layer} is not a {keras_spec} layer")
    if regime not in spec.domains["regime"]:
        pytest.skip(f"the {layer} spec does not reach the {regime} regime (a regime that "
                    f"cannot change its result)")
    oracle = oracles(keras_spec, device)
    name = ORACLES[keras_spec]

    @settings(max_examples=examples_per_regime(),
              suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
    @given(case=case_strategy(spec, keras_spec, regime=regime))
    def matches(case):
        # where the oracle cannot run the layer (tf_keras's CuDNN layers without a GPU), it
        # runs the spec's oracle_equivalent: the same computation on a layer it can run
        ran, via = oracle_case(oracle, spec, case)
        # a case the reference has no answer for (a recurrence overflowing float32) says
        # nothing; a known divergence of TensorFlow's (in the layer it runs) is checked on the
        # fallback oracles, as fixtures.py vouches for it (a keras2 case only where Keras 3
        # gives the same answer, and a case observing the weights after the call stays out)
        assume(case.out_of_scope is None)
        ran_spec = spec if via is None else specs.SPECS.get(ran.layer, spec)
        divergence = ran_spec.divergence_for(name, ran)
        vouching, who = oracle, name
        if divergence is not None:
            assume(not case.observed
                   and any(installed(n) for n in fallbacks(spec, case, []))
                   and (keras_spec == "keras3" or keras3_agrees(spec, case)))
            # none vouches where Keras 3 cannot run the case (tf_keras's time_major): as in
            # the fixtures, such a case is not checked
            fallback = run_on_a_fallback(oracles, device, spec, case,
                                         f"{name}: known divergence", required=False)
            assume(fallback is not None)
            vouching, ran, via, answered = fallback
            who = vouching.target
        else:
            try:
                # the outputs, and in the same round trip the weights and losses the layer
                # leaves after the call where the case holds them, the mask it emits where the
                # case expects one, and the output shape it declares
                answered = oracle_answer(oracle, spec, case, ran)
            except CandidateError as exc:
                if exc.kind != "raised" or TF_RUNTIME_ERROR not in str(exc):
                    raise
                # TensorFlow refuses a config the reference accepts (channels_first
                # convolutions without oneDNN, for one): the case is checked on Keras 3 on JAX
                # instead, and the run's summary lists it with TensorFlow's message
                error = tensorflow_error(str(exc))
                agree = keras_spec == "keras3" or keras3_agrees(spec, case)
                fallback = agree and run_on_a_fallback(oracles, device, spec, case,
                                                       f"{name}: {error}", required=False)
                record_fallback(request.node, layer=layer, spec=keras_spec, params=case.params,
                                oracle=name, error=error,
                                vouched=fallback[0].target if fallback else
                                "none: Keras 3 computes this keras2 case differently"
                                if not agree else "none: no fallback oracle installed runs it")
                assume(fallback)
                vouching, ran, via, answered = fallback
                who = vouching.target
        outputs = answered["outputs"]
        outcome = compare_case(case, outputs, answered["mask"], observed=answered["observed"])
        who += f" ({via})" if via else ""
        where = f"{who} on {device}, {layer} {case.params} config {case.config}"
        assert outcome.status == "passed", f"{where}: {outcome.message}"
        record_worst_ratio(request.node, outcome.error_ratio or 0.0, layer=layer,
                           spec=keras_spec, device=device, regime=regime)
        declared = answered["shape"] or vouching.call("output_shape", ran)["shape"]
        if declared and (declared[0] is None or layer == "InputLayer"):
            # an unspecified batch size; or an Input's batch_size, which neither Keras checks
            # at the call (the spec's edge cases): the special regime grows a batch too small
            # to hold every special value, and the data then holds more rows than declared
            declared[0] = outputs[0].shape[0]
        # layers checked statistically (Dropout in training) keep their input's shape
        reference_shape = np.shape(case.inputs[0]) if case.check else case.expected[0].shape
        assert tuple(declared) == tuple(reference_shape) == tuple(outputs[0].shape), (
            f"{where}: compute_output_shape {declared}, real output {outputs[0].shape}, "
            f"reference {reference_shape}")

    try:
        seeded_once(matches)()
    except Unsatisfiable:
        if any(installed(name) for name in FALLBACK_ORACLES):
            raise
        pytest.skip(f"every drawn {layer} case in the {regime} regime is a known divergence of "
                    f"{name}'s, checked on the fallback oracles, and none is installed")


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


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b))


@pytest.mark.parametrize("keras_spec", KERAS_SPECS)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_complete_config_gives_the_same_answer(layer, keras_spec, oracles, data):
    """The layer's complete get_config(), as Keras writes it, gives exactly what its compact
    config gives: the same outputs, bounds, mask and check."""
    spec = specs.get(layer)
    if keras_spec not in spec.keras_specs:
        pytest.skip(f"{layer} is not a {keras_spec} layer")
    oracle = oracles(keras_spec, "cpu")
    case = data.draw(case_strategy(spec, keras_spec), label="case")
    assume(case.out_of_scope is None)          # no answer to compare (float32 overflow)
    full = oracle.call("full_config", case)
    twin = with_expected(spec, dataclasses.replace(case, config=full, expected=None))
    assert twin.out_of_scope is None, f"{layer} {full}: {twin.out_of_scope}"
    assert _same(twin.expected, case.expected) and _same(twin.bounds, case.bounds), full
    assert twin.check == case.check and (
        (twin.expected_mask is None and case.expected_mask is None)
        or np.array_equal(twin.expected_mask, case.expected_mask)), full


@pytest.mark.parametrize("change", [
    {"dtype": "mixed_float16"}, {"dtype": {"module": "keras", "class_name": "DTypePolicy",
                                           "config": {"name": "bfloat16"}}},
    {"no_such_key": 1}, {"quantization_config": {"mode": "int8"}}])
@pytest.mark.parametrize("keras_spec", KERAS_SPECS)
def test_unimplemented_keys_are_outside_the_scope(layer, keras_spec, oracles, change):
    """A real config with a key that would change the result, at a value the reference does
    not implement, gives the "outside the scope" outcome naming the key, not an exception."""
    spec = specs.get(layer)
    if keras_spec not in spec.keras_specs or layer == "InputLayer" and "dtype" in change:
        pytest.skip("InputLayer's dtype is the data's dtype, which the reference implements")
    case, full_config = _first_case_and_its_full_config(oracles, layer, keras_spec)
    full = {**full_config, **change}
    twin = with_expected(spec, dataclasses.replace(case, config=full, expected=None))
    key = next(iter(change))
    assert twin.out_of_scope and key in twin.out_of_scope, twin.out_of_scope
    outcome = compare_case(twin, case.expected)
    assert outcome.status == "skipped" and "outside the scope" in outcome.message


_FIRST_CASES = {}


def _first_case_and_its_full_config(oracles, layer, keras_spec):
    """A layer's first golden case and the complete get_config() the oracle writes for it,
    built once per process for the four changes test_unimplemented_keys_are_outside_the_scope
    makes to it."""
    oracle = oracles(keras_spec, "cpu")              # skips where TensorFlow is missing
    if (layer, keras_spec) not in _FIRST_CASES:
        case = fixture_cases(specs.get(layer), keras_spec, limit=1)[0]
        full = oracle.call("full_config", case)
        _FIRST_CASES[layer, keras_spec] = case, full
    case, full = _FIRST_CASES[layer, keras_spec]
    return case, copy.deepcopy(full)


@pytest.mark.parametrize("keras_spec", KERAS_SPECS)
def test_real_model_layers_run_through_the_reference(keras_spec, oracles):
    """Every layer with a spec in two keras.applications models (at 64x64), with its own
    complete get_config(), weights and input shape: no exception, and within bound of the
    layer's own output (python -m conformance.real_configs, in its own process)."""
    import subprocess
    import sys
    oracles(keras_spec, "cpu")                       # skips where TensorFlow is missing
    done = subprocess.run(
        [sys.executable, "-m", "conformance.real_configs", "--keras", ORACLES[keras_spec],
         "MobileNet", "MobileNetV3Small", "--input-size", "64"], capture_output=True, text=True,
        timeout=600)
    summary = [l for l in done.stdout.splitlines() if "layers with a spec" in l]
    assert done.returncode == 0 and summary, done.stdout[-3000:] + done.stderr[-3000:]
    assert int(summary[0].split()[0]) >= 5 and "0 raised or failed" in summary[0]


def test_configs_tensorflow_refuses_fall_back_to_keras_on_jax():
    """Without oneDNN (TF_ENABLE_ONEDNN_OPTS=0), TensorFlow's CPU Conv2D refuses channels_first
    (the table of the spatial issue). Such a case is vouched for by Keras 3 on JAX, and the
    fixture records TensorFlow's own message; with oneDNN (the x86 default) TensorFlow runs it."""
    from conformance.cases import fixture_cases
    from conformance.oracles import Oracles
    if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("jax") is None:
        pytest.skip("needs TensorFlow and JAX")
    spec = specs.get("Conv2D")
    oracles = Oracles(env={"TF_ENABLE_ONEDNN_OPTS": "0", "CUDA_VISIBLE_DEVICES": "-1"})
    try:
        for keras_spec in KERAS_SPECS:
            case = next(c for c in fixture_cases(spec, keras_spec)
                        if c.config["data_format"] == "channels_first"
                        and c.config.get("groups", 1) == 1     # grouped: XLA runs NCHW
                        and spec.divergence_for(ORACLES[keras_spec], c) is None)
            assert oracles.vouch(spec, case, keras_spec) == ("keras-jax", None)
            assert case.fallback_reason == (
                f"{ORACLES[keras_spec]} cannot run it: UnimplementedError: "
                + case.fallback_reason.split("UnimplementedError: ", 1)[1])
            assert "only supports the NHWC tensor format on the CPU" in case.fallback_reason
    finally:
        oracles.close()


@pytest.mark.parametrize("keras_spec", KERAS_SPECS)
def test_reference_gradients_match_oracle(layer, keras_spec, oracles, request):
    """The reference's VJPs (conformance/backward/: the gradient twins) against the
    oracle's autodiff (GradientTape), in every regime a gradient twin takes: each gradient
    element within its float32 bound, the outputs within theirs. A case the oracle has a
    known divergence on is left out (the fixtures vouch for it on a fallback)."""
    spec = specs.get(layer)
    if keras_spec not in spec.keras_specs:
        pytest.skip(f"{layer} is not a {keras_spec} layer")
    if layer not in backward.GRADIENT_LAYERS:
        pytest.skip(f"{layer} has no gradient twins yet (conformance/backward/)")
    oracle = oracles(keras_spec, "cpu")
    name = ORACLES[keras_spec]

    regimes = [r for r in backward.GRADIENT_REGIMES if r in spec.domains["regime"]]

    @settings(max_examples=max(4, settings().max_examples // 2),
              suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
    @given(case=case_strategy(spec, keras_spec, regime=st.sampled_from(regimes)),
           seed=st.integers(0, 2 ** 32 - 1))
    def matches(case, seed):
        assume(backward.takes_gradient(case))
        twin = with_expected(spec, backward.gradient_twin(case, seed))
        assume(twin.out_of_scope is None and spec.divergence_for(name, twin) is None)
        # without a GPU tf_keras runs a CuDNN layer's oracle_equivalent, whose gradients the
        # spec carries back to the CuDNN layout (oracle_answer)
        ran, _ = oracle_case(oracle, spec, twin)
        try:
            # a merge's twin is its forward call: the mask it emits is checked as the forward's
            answered = oracle_answer(oracle, spec, twin, ran)
        except CandidateError as exc:
            # TensorFlow's kernels refuse the call (oneDNN's "could not create a primitive
            # descriptor"): the fixtures vouch for such a case on a fallback oracle
            assume(not (exc.kind == "raised" and TF_RUNTIME_ERROR in str(exc)))
            raise
        outcome = compare_case(twin, answered["outputs"], answered["mask"],
                               observed=answered["observed"])
        assert outcome.status == "passed", (
            f"{name}, {layer} {twin.params} config {twin.config}: {outcome.message}")
        record_worst_ratio(request.node, outcome.error_ratio or 0.0, layer=layer,
                           spec=keras_spec, device="cpu", regime="gradient")
    seeded_once(matches)()
