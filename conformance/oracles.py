"""The oracles: the Keras runs that vouch for the reference. tf.keras for the keras3 spec and
tf_keras for keras2; where TensorFlow cannot run a case (it raises) or the spec lists a known
divergence of TensorFlow's, the first of FALLBACK_ORACLES that agrees. Used by
`python -m conformance.fixtures generate` (each written case records its oracle) and by the
oracle tests (conformance/test_oracle.py)."""
import re

from conformance import contract
from conformance.compare import compare_case

ORACLES = {"keras3": "tf.keras", "keras2": "tf_keras"}
FALLBACK_ORACLES = ("keras-jax", "keras-torch")
TF_RUNTIME_ERROR = "tensorflow.python.framework.errors_impl."   # an op's error, not Keras's
# oneDNN accepted a kernel's config and then failed to run it: seen in a TensorFlow process that
# had answered thousands of cases (Conv2DTranspose and ConvLSTM2D cases that pass in a fresh
# one), not a refusal of the config ("could not create a primitive descriptor", which a fresh
# process repeats)
ONEDNN_EXECUTION_FAILURE = "could not execute a primitive"
# TensorFlow as an oracle runs with oneDNN on, whatever the CPU: TF 2.21 turns it off by default
# on CPUs without AVX-512, and then refuses channels_first convolutions and runs some "valid"
# windows longer than their input that its oneDNN kernels refuse. With this, the oracle's
# answers (and the configs it rejects) do not depend on the machine; candidates run as is.
ORACLE_ENV = {"TF_ENABLE_ONEDNN_OPTS": "1"}


def fallbacks(spec, case, tried):
    """The FALLBACK_ORACLES to try for `case`, in order; one with a known divergence there is
    passed over, and noted in `tried`."""
    for name in FALLBACK_ORACLES:
        if spec.divergence_for(name, case):
            tried.append(f"{name}: known divergence")
        else:
            yield name


class Oracles:
    """The Keras runs that vouch for fixture cases, each in its own process, started on first
    use. A fallback oracle that cannot be loaded (not installed) vouches for nothing."""

    def __init__(self, env=None):
        from conformance.candidates.isolation import IsolatedCandidate
        self._make, self.started = IsolatedCandidate, {}
        self.env = ORACLE_ENV if env is None else env

    def get(self, name):
        if name not in self.started:
            self.started[name] = self._make(name, env=self.env)
        return self.started[name]

    def outcome(self, name, case, spec=None):
        """(the outcome of `case` on the oracle `name`, how it ran): an error outcome if it
        cannot run; how is None, or the oracle_via of the call it ran instead (oracle_case)."""
        from conformance.candidates.isolation import CandidateError
        from conformance.case import Outcome
        try:
            oracle = self.get(name)
            ran, via = oracle_case(oracle, spec, case, name)
            answered = oracle_answer(oracle, spec, case, ran)
            return compare_case(case, answered["outputs"], answered["mask"],
                                observed=answered["observed"]), via
        except CandidateError as exc:
            text = str(exc)
            message = f"{exc.kind}: {text if len(text) < 2000 else text[-2000:]}"
            return Outcome("error", message), None

    def vouch(self, spec, case, keras_spec):
        """(oracle name, None) for the oracle that vouches for `case`, or (None, why not).
        Where a fallback oracle vouches, case.fallback_reason says why the primary did not;
        where the oracle ran the spec's oracle_equivalent, case.oracle_via says so."""
        primary = ORACLES[keras_spec]
        outcome, case.oracle_via = self.outcome(primary, case, spec)
        if outcome.status == "error" and ONEDNN_EXECUTION_FAILURE in outcome.message:
            self.get(primary).close()        # the process's state, not the case: a fresh one
            outcome, case.oracle_via = self.outcome(primary, case, spec)
        if outcome.status == "passed":
            return primary, None
        divergence = spec.divergence_for(primary, case)
        if divergence is not None:
            why = f"{primary}: known divergence ({divergence.reason})"
        elif outcome.message.startswith("raised:") and TF_RUNTIME_ERROR in outcome.message:
            # TensorFlow's kernels refuse the case (Keras accepted the config)
            why = f"{primary} cannot run it: {tensorflow_error(outcome.message)}"
        else:
            return None, f"{primary} disagrees: {outcome.message}"
        tried = [why]
        for fallback in fallbacks(spec, case, tried):
            fallback_outcome, case.oracle_via = self.outcome(fallback, case, spec)
            if fallback_outcome.status == "passed":
                case.fallback_reason = why
                return fallback, None
            tried.append(f"{fallback}: {fallback_outcome.message[:300]}")
        case.oracle_via = None
        return None, "no oracle vouches for it: " + "; ".join(tried)

    def versions(self):
        versions = {}
        for candidate in self.started.values():
            found = (candidate.info or {}).get("versions")
            if isinstance(found, dict):     # not "unknown (...)": an oracle that did not load
                versions.update(found)
        return versions

    def close(self):
        for candidate in self.started.values():
            candidate.close()


def oracle_case(oracle, spec, case, name=None):
    """(the case `oracle` runs for `case`, how): the case itself and None, or, where the oracle
    does not support the case (its supports() gives the reason) and the spec has an
    oracle_equivalent, that equivalent call and "<how>, since <the oracle's reason>", or, where
    the spec lists a known divergence of the oracle `name` there that names its equivalent
    (Divergence.equivalent), that call; a case in Keras 1 names, translated. The answer of the equivalent is judged against the
    case's own expected values."""
    if case.params.get("contract") == "keras1":      # no Keras of today reads Keras 1 names
        return (contract.keras1_translated(case),
                "the config translated into current names (reference/keras1.py)")
    divergence = spec.divergence_for(name, case) if spec is not None and name else None
    if divergence is not None and divergence.equivalent is not None:
        equivalent, how = divergence.equivalent(case)
        return equivalent, f"{how}, since {name} has a known divergence there"
    if spec is None or spec.oracle_equivalent is None \
            or "supports" not in oracle.start()["methods"]:
        return case, None
    verdict = oracle.call("supports", case)
    if verdict is True:
        return case, None
    equivalent, how = spec.oracle_equivalent(case)
    return equivalent, f"{how}, since {verdict}"


def oracle_observe(oracle, spec, case, ran):
    """oracle.call("observe", ran) for `case`; where `ran` is the spec's oracle_equivalent of
    a gradient twin, its gradients carried to the case's layout (spec.oracle_gradients)."""
    return _carried(spec, case, ran, oracle.call("observe", ran))


def _carried(spec, case, ran, observed):
    if (ran is not case and spec is not None and spec.oracle_gradients is not None
            and "gradients" in (observed or {})):
        observed = {**observed, "gradients": spec.oracle_gradients(case, observed["gradients"])}
    return observed


def oracle_answer(oracle, spec, case, ran):
    """What the oracle gives for `case` (running `ran`, oracle_case's): {"outputs",
    "observed": observe()'s dict where the case observes something (oracle_observe's), else
    None, "mask": the emitted mask where the case expects one, else None, "shape": the output
    shape the layer declares (observe()'s "output_shape"), None where not given}. One round
    trip (isolation.py's answer, observe() in place of run()) where the oracle has observe()
    and supports the call; else one call each."""
    expects_mask = case.expected_mask is not None
    answered = None
    if "observe" in oracle.start()["methods"]:
        answered = oracle.answer(ran, True, expects_mask)
    if answered is None or "unsupported" in answered:
        observed = oracle_observe(oracle, spec, case, ran) if case.observed else None
        return {"outputs": observed["outputs"] if observed else oracle.call("run", ran),
                "observed": observed, "shape": None,
                "mask": oracle.call("compute_mask", ran) if expects_mask else None}
    seen = answered["observed"]
    return {"outputs": answered["outputs"],
            "observed": _carried(spec, case, ran, seen) if case.observed else None,
            "mask": answered["mask"],
            "shape": seen.get("output_shape") if isinstance(seen, dict) else None}


def tensorflow_error(traceback_text):
    """The error a traceback ends with, as 'UnimplementedError: <TensorFlow's message>': the
    exception's class and the lines after it up to Keras's 'Arguments received' note, without
    terminal colours and TensorFlow's {{function_node ...}} prefix."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", traceback_text)
    found = list(re.finditer(r"^([\w.]+(?:Error|Exception)): (.*)$", text, re.M))
    if not found:
        return text.strip().splitlines()[-1][:300] if text.strip() else text
    last = found[-1]
    rest = re.split(r"(?:Call a|A)rguments received", text[last.end():])[0]
    message = " ".join([last.group(2)] + [l.strip() for l in rest.splitlines() if l.strip()])
    message = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", message)
    message = re.sub(r"layer '[^']*' \(type", "layer (type", message)   # the instance's name
    return f"{last.group(1).rsplit('.', 1)[-1]}: {message}"[:400]
