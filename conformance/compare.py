"""Judging a candidate's outputs against the reference: shapes, dtypes, values within their
bound, and the emitted mask. Never raises on what the candidate returned.

What an expected value admits, element by element (NaN, infinities, overflow, a sum that
overflows part way, values below 2^-126) is conformance/elements.py's error_ratio; README,
"What a value means at the edges", says it for a reader.
"""
import numpy as np

from conformance import statistics, statistics_init
from conformance.case import Outcome
from conformance.elements import as_numbers, error_ratio


def _as_arrays(got):
    if isinstance(got, np.ndarray) or not isinstance(got, (list, tuple)):
        raise TypeError(f"returned {type(got).__name__}, expected a list of arrays")
    return [np.asarray(g) for g in got]


def worst_element(expected, bound, got, output=0, overflow_value=None):
    """The element with the largest error/bound ratio, as a dict a report can show."""
    ratio = error_ratio(expected, bound, got, overflow_value)
    if ratio.size == 0:
        return {"output": output, "index": None, "ratio": 0.0}
    index = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    bound = np.broadcast_to(np.asarray(bound, np.float64), np.shape(expected))
    return {"output": output, "index": [int(i) for i in index],
            "expected": float(np.asarray(expected)[index]), "got": float(as_numbers(got)[index]),
            "bound": float(bound[index]), "ratio": float(ratio[index])}


def describe(worst):
    if worst.get("index") is None:
        return "no elements"
    with np.errstate(invalid="ignore"):
        error = abs(worst['got'] - worst['expected'])
    return (f"output {worst['output']} index {tuple(worst['index'])}: expected "
            f"{worst['expected']:.9g}, got {worst['got']:.9g}, |error| "
            f"{error:.3g} vs bound {worst['bound']:.3g} (ratio {worst['ratio']:.3g})")


def compare(expected, bounds, got, **kwargs):
    """The outcome of comparing `got` (what a candidate returned) with the reference, or of
    the statistical `check` on it where the outputs are random. Whatever the candidate
    returned, this gives an Outcome and never raises."""
    try:
        return _compare(expected, bounds, got, **kwargs)
    except Exception as exc:  # noqa: BLE001 - an answer the suite cannot read is a failure
        return Outcome("failed", f"the candidate's answer could not be compared: "
                                 f"{type(exc).__name__}: {exc}")


def _compare(expected, bounds, got, *, expected_mask=None, got_mask=None,
             expected_dtypes=None, check_mask=True, check=None, inputs=None, overflow=None):
    try:
        got = _as_arrays(got)
    except TypeError as exc:
        return Outcome("failed", f"candidate {exc}")
    if check is not None:
        return statistics.check(check, inputs, got)
    if len(got) != len(expected):
        return Outcome("failed", f"candidate returned {len(got)} outputs, expected {len(expected)}")
    for i, (e, g) in enumerate(zip(expected, got)):
        if g.shape != np.shape(e):
            return Outcome("failed", f"output {i} has shape {g.shape}, expected {np.shape(e)}")
        if expected_dtypes and str(g.dtype) != expected_dtypes[i]:
            return Outcome("failed", f"output {i} has dtype {g.dtype}, expected {expected_dtypes[i]}")
        if as_numbers(g) is None:
            return Outcome("failed", f"output {i} has non-numeric dtype {g.dtype}")

    overflow = overflow or [None] * len(expected)
    worst = max((worst_element(e, b, g, i, o)
                 for i, (e, b, g, o) in enumerate(zip(expected, bounds, got, overflow))),
                key=lambda w: w["ratio"], default={"index": None, "ratio": 0.0})
    ratio = worst["ratio"]
    if ratio > 1:
        what = ("NaN" if np.isnan(worst["got"]) and not np.isnan(worst["expected"])
                else "value outside its bound")
        return Outcome("failed", f"{what} at {describe(worst)}", ratio, worst)

    if expected_mask is not None and check_mask:
        problem = _mask_problem(expected_mask, got_mask)
        if problem:
            return Outcome("failed", problem, ratio, worst)
    return Outcome("passed", "", ratio, worst)


def compare_case(case, got, got_mask=None, check_mask=True, observed=None):
    """compare() against everything the case says the layer must give; a case outside the
    suite's scope has no answer to compare with and is skipped with the reason. Where the case
    holds `observed` values (the weights after a training call, the losses a layer adds),
    `observed` is what the candidate's observe() returned (None: it has no observe()): each
    is judged as an output is (a gradient case's "gradients": one array per input with a
    gradient, then per trainable weight); where outputs pass and some observed value is
    missing, the case is skipped with the reason, never failed."""
    if case.out_of_scope:
        return Outcome("skipped", case.out_of_scope)
    if case.expected == [] and case.observed:
        # a case judged on what the layer holds only (the weights its initializers drew)
        outcome = Outcome("passed", "", None, None)
    else:
        outcome = compare(case.expected, case.bounds, got, expected_mask=case.expected_mask,
                          got_mask=got_mask, expected_dtypes=case.expected_dtypes,
                          check_mask=check_mask, check=case.check, inputs=case.inputs,
                          overflow=case.overflow)
    if outcome.status != "passed" or not case.observed:
        return outcome
    missing = []
    for name, entry in case.observed.items():
        if not isinstance(observed, dict) or name not in observed:
            missing.append(name)
            continue
        if isinstance(entry, dict):             # a statistical check of what it holds
            seen = _checked(entry, observed[name])
        else:
            seen = compare(*entry, observed[name])
        if seen.status != "passed":
            return Outcome("failed", f"after the call, {name}: {seen.message}",
                           seen.error_ratio, seen.worst)
        if (seen.error_ratio or 0.0) > (outcome.error_ratio or 0.0):
            outcome = Outcome("passed", "", seen.error_ratio, seen.worst)
    if missing:
        what = OBSERVED_WHAT.get(tuple(missing), " and ".join(missing))
        why = ("candidate has no observe()" if observed is None
               else "its observe() gives no " + ", no ".join(f'"{m}"' for m in missing))
        return Outcome("skipped", f"outputs match; {what} not checked: {why}",
                       outcome.error_ratio, outcome.worst)
    return outcome


def _checked(check, got):
    """The outcome of a statistical check (conformance/statistics_init.py) on `got`."""
    try:
        problem = statistics_init.check_weights(check, [np.asarray(g) for g in got])
    except Exception as exc:  # noqa: BLE001 - an answer the suite cannot read is a failure
        problem = f"the candidate's answer could not be checked: {type(exc).__name__}: {exc}"
    return Outcome("failed", problem) if problem else Outcome("passed")


# What each observed value is, for the reason a case is skipped without it.
OBSERVED_WHAT = {("weights",): "moving statistics (the weights after the call)",
                 ("losses",): "the losses the layer adds",
                 ("constrained",): "the weights after their constraints",
                 ("round_trip",): "the layer rebuilt from its get_config()",
                 ("gradients",): "the gradients"}


def _mask_problem(expected, got):
    if got is None:
        return "the layer emitted no mask; expected one"
    got = np.asarray(got)
    if got.shape != np.shape(expected):
        return f"emitted mask has shape {got.shape}, expected {np.shape(expected)}"
    wrong = np.argwhere(got.astype(bool) != np.asarray(expected, bool))
    if len(wrong):
        index = tuple(int(i) for i in wrong[0])
        return (f"emitted mask differs in {len(wrong)} places, first at {index}: expected "
                f"{bool(np.asarray(expected)[index])}, got {bool(got[index])}")
    return None
