"""The CI gate: known-failures files, baseline comparison and the run's exit code.

A known-failures file has one case-id pattern per line (fnmatch: `Conv1D-00?`,
`AveragePooling1D-*`; `live:<Layer>` names a layer's property test), and `#` starts a comment
giving the reason: a link to the upstream issue, a sentence of evidence. A comment on a line of
its own gives the reason of the patterns below it, up to the next blank line.

    python -m conformance.gate known-failures keras-torch   # the file for a built-in, from the specs
"""
import argparse
import fnmatch
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from conformance import fixtures, specs
from conformance.candidates import BUILTINS
from conformance.specs._common import TENSORFLOW

# Exit codes of a run (pytest's own: 0 green, 1 failures, 2 interrupted, 3 internal error,
# 4 usage error, 5 no tests).
GREEN = 0
REGRESSIONS = 1          # an unlisted failure or error (or, with --strict-known-failures, a stale entry)
USAGE_ERROR = 4          # pytest's: an unknown option, a bad value
BROKEN_FIXTURES = 6      # a fixture file is missing, corrupt or tampered with
UNLOADABLE_CANDIDATE = 7  # the candidate cannot be imported or started

FAILING = ("failed", "error")


@dataclass
class KnownFailure:
    pattern: str
    reason: str
    line: int

    def matches(self, case_id):
        return fnmatch.fnmatchcase(case_id, self.pattern)


def read_known_failures(path):
    """The entries of a known-failures file; ValueError for an unreadable file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read known-failures file {path}: {exc}") from None
    entries, reason = [], ""
    for number, raw in enumerate(text.splitlines(), 1):
        pattern, _, comment = raw.partition("#")
        pattern, comment = pattern.strip(), comment.strip()
        if not raw.strip():
            reason = ""                      # a blank line ends a comment's section
            continue
        if not pattern:
            reason = comment or reason      # a comment line gives the reason of the lines below
            continue
        if len(pattern.split()) != 1:
            raise ValueError(f"{path}:{number}: one pattern per line, got {pattern!r}")
        entries.append(KnownFailure(pattern, comment or reason, number))
    return entries


def known_failure_for(entries, case_id):
    return next((e for e in entries if e.matches(case_id)), None)


def unmatched(entries, ids):
    return [e for e in entries if not any(e.matches(i) for i in ids)]


def _cell_key(layer, params):
    return layer, json.dumps(params, sort_keys=True)


def compare_with_baseline(baseline, current):
    """Cells that regressed (passed before, failed or errored now) and improved (the reverse,
    xfailed counting as failing before), matched by layer and parameters."""
    before = {_cell_key(layer, c["params"]): c["status"]
              for layer, entry in baseline["layers"].items() for c in entry["cells"]}
    regressed, improved = [], []
    for layer, entry in current["layers"].items():
        for cell in entry["cells"]:
            old = before.get(_cell_key(layer, cell["params"]))
            change = {"layer": layer, "params": cell["params"], "before": old,
                      "after": cell["status"]}
            if old in ("passed", "xpassed", None) and cell["status"] in FAILING:
                regressed.append(change)
            elif old in FAILING + ("xfailed",) and cell["status"] in ("passed", "xpassed"):
                improved.append(change)
    return {"regressed": regressed, "improved": improved}


# The LiteRT candidates run tf.keras's traced graph, and their interpreter refuses at prepare
# what TensorFlow's kernels refuse (a "same" Conv2DTranspose whose output shape "same" cannot
# give: transpose_conv.cc's computed_input_width check, where TensorFlow's says "Size of
# out_backprop doesn't match computed"); tf2onnx writes such a graph as explicit pads instead
RUN_TENSORFLOW_GRAPH = TENSORFLOW + ("litert", "litert-builtin", "litert-fp16")


def tensorflow_refused(target, golden):
    """Whether `golden` is a case TensorFlow raised on when its fixture was made (the fixture's
    fallback_reason), and `target` runs on TensorFlow or on its graph as it is: a finding about
    TensorFlow, which such a candidate gets as a known divergence with TensorFlow's own
    message as the evidence."""
    reason = getattr(golden, "fallback_reason", None) or ""
    return target in RUN_TENSORFLOW_GRAPH and " cannot run it: " in reason


def _differentiates(candidate, case):
    """Whether the candidate answers the gradient twin `case`: a Keras candidate on a backend
    with autodiff; a converting engine (an inference graph) and the others do not."""
    from conformance.candidates import gradients
    from conformance.candidates.keras_adapter import KerasCandidate
    return isinstance(candidate, KerasCandidate) and not gradients.unavailable(candidate, case)


def known_failures_from_specs(candidate_name):
    """The known-failures file of a built-in candidate: every golden case its spec
    divergences cover, each with the reason and evidence; a gradient twin is not listed
    for a candidate without gradients (it skips them)."""
    candidate = BUILTINS[candidate_name]()
    keras_spec = candidate.spec
    cases, problems = fixtures.load_all(fixtures.default_root(), keras_spec)
    if problems:
        raise ValueError("; ".join(p.message for p in problems))
    lines = [f"# Known failures of the built-in candidate {candidate_name}, examined and listed "
             f"with their evidence.", "# Generated by: python -m conformance.gate known-failures "
             f"{candidate_name}", ""]
    current = None
    for case in cases:
        if case.params.get("contract") == "gradient" and not _differentiates(candidate, case):
            continue
        divergence = specs.get(case.layer).divergence_for(candidate_name, case)
        if divergence is not None:
            reason, evidence = divergence.reason, divergence.evidence
        elif tensorflow_refused(candidate_name, case):
            reason = "TensorFlow could not run it when the fixture was made"
            evidence = case.fallback_reason
        else:
            continue
        if (case.layer, reason, evidence) != current:
            lines += [f"# {case.layer}: {reason}.", f"# Evidence: {evidence}"]
            current = (case.layer, reason, evidence)
        lines.append(f"{case.id}  # {reason}")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m conformance.gate")
    sub = parser.add_subparsers(dest="command", required=True)
    known = sub.add_parser("known-failures", help="print a built-in candidate's known failures")
    known.add_argument("candidate")
    args = parser.parse_args(argv)
    sys.stdout.write(known_failures_from_specs(args.candidate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
