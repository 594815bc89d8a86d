"""The candidate picked with --candidate, against the golden fixtures (one test per case) and
against the reference on live hypothesis-drawn cases (one property test per layer)."""
import json
import warnings

import pytest
from hypothesis import Phase, assume, given, reject, settings
from hypothesis.errors import Unsatisfiable

from conformance import specs, tolerance
from conformance.candidates.isolation import CandidateError
from conformance.cases import LIVE_BATCHES, case_strategy, declared, seeded_once
from conformance.compare import compare_case
from conformance.fixtures import FixtureProblem
from conformance.oracles import ONEDNN_EXECUTION_FAILURE, TF_RUNTIME_ERROR, tensorflow_error
from conformance.specs._common import TENSORFLOW


class CandidateFailure(Exception):
    """The candidate raised, crashed or hung on a case (reported as an error)."""


class BrokenFixture(Exception):
    """A golden fixture file is missing, corrupt or tampered with (reported as an error)."""


def headline(kc, case):
    return (f"candidate {kc.target} ({kc.spec}), layer {case.layer}, case {case.id}, "
            f"params {json.dumps(case.params, sort_keys=True)}")


def run_candidate(candidate, case, request=None):
    """(outputs, emitted mask or None, whether the mask is to be checked, what observe()
    saw or None); pytest.skip when the candidate says it does not support the case. A case
    with observed values (the weights after the call, the losses) runs through the
    candidate's observe() where it has one, in place of run(). One round trip to the
    candidate's process (two where the first process died: isolation.py's answer, whose
    note on the first death goes to the report through `request`)."""
    methods = candidate.start()["methods"]
    observe = bool(case.observed) and "observe" in methods
    check_mask = case.expected_mask is not None and "compute_mask" in methods
    answer = candidate.answer(case, observe, check_mask)
    if "crashed_before" in answer and request is not None:
        note = (f"answered by a fresh process after the first one died on this case (the "
                f"case does not crash alone: an earlier case or chance broke that process): "
                f"{answer['crashed_before']}")
        request.node.user_properties.append(("kc_note", note))
        warnings.warn(f"{case.id}: {note}")
    if "unsupported" in answer:
        pytest.skip(f"{case.id}: candidate does not support it: {answer['unsupported']}")
    return answer["outputs"], answer["mask"], check_mask, answer["observed"]


def judge(case, ran, precision):
    """The outcome of the candidate's answer `ran` to `case`, judged for the precision the
    candidate declares (float32 unless it says otherwise: conformance/precision.py)."""
    outputs, mask, check_mask, observed = ran
    if case.layer in specs.SPECS:
        case = declared(specs.get(case.layer), case, precision)
    with tolerance.declaring(precision):
        return compare_case(case, outputs, mask, check_mask, observed)


@pytest.fixture
def ran(golden, candidate, kc, request):
    """The candidate's answer to a golden case, obtained during setup: whatever goes wrong
    here is the candidate's (or the fixture's) error, not a failed comparison."""
    if isinstance(golden, FixtureProblem):
        raise BrokenFixture(f"fixture {golden.file}: {golden.message}")
    if golden.out_of_scope:
        pytest.skip(f"{golden.id}: {golden.out_of_scope}")
    try:
        info = candidate.start()
        if not kc.candidate_info_sent:     # name, device and versions: once per worker
            request.node.user_properties.append(("kc_candidate", info))
            kc.candidate_info_sent = True
        return run_candidate(candidate, golden, request)
    except CandidateError as exc:
        if exc.kind == "raised" and ONEDNN_EXECUTION_FAILURE in str(exc):
            try:
                return run_in_a_fresh_process(candidate, golden, request, exc)
            except CandidateError as again:
                exc = again
        if kc.target in TENSORFLOW and exc.kind == "raised" and TF_RUNTIME_ERROR in str(exc):
            # TensorFlow's kernels on this machine refuse a config Keras accepts (channels_first
            # convolutions where TensorFlow runs without oneDNN, as on CPUs without AVX-512):
            # a finding about TensorFlow, xfailed with its own message, as where the fixture
            # itself records that TensorFlow could not run the case
            request.node.user_properties.append(("kc_known", "spec"))
            pytest.xfail(f"TensorFlow's kernels refuse this case on this machine (the fixture "
                         f"was vouched for by {golden.oracle} elsewhere): "
                         f"{tensorflow_error(str(exc))}")
        request.node.user_properties.append(("kc_error_kind", exc.kind))
        raise CandidateFailure(f"{headline(kc, golden)}\ncandidate {exc.kind}: {exc}\n"
                               f"rerun: {kc.rerun(golden.id)}") from None


def run_in_a_fresh_process(candidate, case, request, failure):
    """run_candidate() once more, in a fresh process, for a case whose kernels failed to
    execute in the first one (ONEDNN_EXECUTION_FAILURE): a process state, which a fresh
    process does not carry; the first failure is noted beside the case, as a first process's
    death is. Raises CandidateError where the fresh process fails too."""
    candidate.close()
    ran = run_candidate(candidate, case, request)
    note = (f"answered by a fresh process after the first one failed to execute its kernels "
            f"on this case: {tensorflow_error(str(failure))}")
    request.node.user_properties.append(("kc_note", note))
    warnings.warn(f"{case.id}: {note}")
    return ran


@pytest.mark.kc_case
def test_golden_case(golden, ran, kc, candidate, request):
    outcome = judge(golden, ran, kc.precision(candidate.start()))
    request.node.user_properties.append(
        ("kc_outcome", {"error_ratio": outcome.error_ratio, "worst": outcome.worst}))
    if outcome.status == "skipped":           # outside the suite's scope: no answer to judge
        pytest.skip(f"{golden.id}: {outcome.message}")
    if outcome.status != "passed":
        pytest.fail(f"{headline(kc, golden)}\n{outcome.message}\nrerun: {kc.rerun(golden.id)}",
                    pytrace=False)


@pytest.mark.kc_live
def test_live_property(layer, kc, candidate, request):
    """Hypothesis-drawn cases of `layer`, candidate against reference (derandomized under the
    default `ci` profile, so the same node id reruns the same examples). A failing example is
    not shrunk: shrinking would rerun a hanging candidate once per attempt, and the golden
    cases already pin failures down."""
    spec = specs.get(layer)
    if kc.spec not in spec.keras_specs:
        pytest.skip(f"{layer} is not a {kc.spec} layer")
    rerun = (f"pytest --pyargs conformance.test_candidate --candidate {kc.target} "
             f"--layer {layer} -k test_live_property")
    request.node.user_properties.append(("kc_live", {"layer": layer, "rerun": rerun}))
    unsupported, tensorflow_refused = [], []

    @settings(phases=(Phase.explicit, Phase.reuse, Phase.generate))
    @given(case=case_strategy(spec, kc.spec, batches=LIVE_BATCHES))
    def candidate_matches_reference(case):
        assume(spec.divergence_for(kc.target, case) is None and case.out_of_scope is None)
        try:
            ran_case = run_candidate(candidate, case, request)
        except pytest.skip.Exception as exc:
            unsupported.append(str(exc))
            reject()
        except CandidateError as exc:
            if kc.target in TENSORFLOW and TF_RUNTIME_ERROR in str(exc):
                # TensorFlow's kernels refuse a config Keras accepts (Conv2DTranspose's oneDNN
                # AbortedError): a finding about TensorFlow, as in the fixtures' fallback
                tensorflow_refused.append(tensorflow_error(str(exc)))
                reject()
            raise AssertionError(f"{headline(kc, case)}\ncandidate {exc.kind}: {exc}") from None
        outcome = judge(case, ran_case, kc.precision(candidate.start()))
        # skipped: the outputs match and the candidate cannot show what the case observes
        assert outcome.status in ("passed", "skipped"), (
            f"{headline(kc, case)}\n{outcome.message}\nrerun: {rerun}")

    try:
        seeded_once(candidate_matches_reference)()
    except Unsatisfiable:
        if unsupported:
            pytest.skip(unsupported[0])
        if tensorflow_refused:
            pytest.skip(f"TensorFlow refused every drawn case: {tensorflow_refused[0]}")
        raise
