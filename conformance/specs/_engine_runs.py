"""A recurrence of a spec's Bounded run (conformance/specs/bounded.py) replayed with a deploy
engine's activations (conformance/specs/_engines.py has the replays of each activation): the
run `off_in_run` makes for an engine's known divergence inside a recurrence."""
import contextvars
from collections import OrderedDict

import numpy as np

from conformance.elements import error_ratio
from conformance.specs._engines import (
    BUILTIN, ONNXRUNTIME, OPENVINO, REPLAY_RATIO, XNNPACK, clamp, off_by_allowance, replay)
from conformance.tolerance import declared
from reference.config import OutOfScope

# A recurrence is run twice through the spec's own Bounded arithmetic (conformance/specs/
# bounded.py): as the reference computes it, and with each activation replaced by the engine's
# replay. While a dict is set here, _common.through_activation hands every activation it
# evaluates to `watch` (which checks the allowance and gives back the value the run goes on
# with), and bounded.fold_bounded hands its results to `record`.
_RUN = contextvars.ContextVar("engine_run", default=None)


def watch(name, z, y, bound, keras_spec):
    """(y, bound), or the engine's replay of y while an engine run is set (with a bound of 0
    where the replay is a number and the reference's NaN has none)."""
    run = _RUN.get()
    if run is None or not run["activations"]:
        return y, bound
    if run["replay"]:
        value = replay(run["engine"], name, z, keras_spec, run["clamped"], shift=run["shift"])
        if value is None:
            return y, bound
        value = np.broadcast_to(value, np.shape(y))
        run["overflows"] |= bool(np.any(np.isinf(value) & np.isfinite(y)))
        bound = np.broadcast_to(bound, np.shape(y))
        return value, np.where(np.isnan(bound) & ~np.isnan(value), 0.0, bound)
    for engine, off in run["off"].items():      # the reference's run: each engine's check
        if not off:
            run["off"][engine] = off_by_allowance(engine, name, z, y, bound)
    return y, bound


def kernel_output(v):
    """A matrix product's value v in a Bounded run, as the engine of a replayed run leaves it:
    TFLite's builtin FULLY_CONNECTED clamps it, so an infinite x @ kernel is FLT_MAX before
    the sum with h @ recurrent_kernel, and inf + -inf is 0 there, not NaN (SimpleRNNCell-076
    gives softsign(0) = 0 where the reference has NaN). The cell's own sums and products
    are not clamped in the replay: a replay whose state reaches FLT_MAX overflows and says
    nothing."""
    run = _RUN.get()
    if run is not None and run["replay"] and run["clamped"]:
        return clamp(v)
    return v


def select(keep, a, b):
    """where(keep, a, b) of a masked step in a Bounded run; in onnxruntime's replayed run
    keep * a + (1 - keep) * b, as tf2onnx writes TensorFlow's Select (a NaN or infinity in
    the branch not taken gives NaN)."""
    run = _RUN.get()
    if run is not None and run["replay"] and run["select"]:
        keep = np.asarray(keep, np.float64)
        with np.errstate(invalid="ignore"):
            return keep * a + (1.0 - keep) * b
    return np.where(keep, a, b)


def record(*bounded):
    run = _RUN.get()
    if run is not None:
        run["folds"].append([(np.asarray(b.v, np.float64),
                              np.broadcast_to(np.asarray(b.e, np.float64), np.shape(b.v)))
                             for b in bounded])


def _run(expect, case, run):
    run.update(folds=[], off=dict.fromkeys(ENGINES, False), overflows=False)
    token = _RUN.set(run)
    try:
        expect(case)
    finally:
        _RUN.reset(token)
    return run


ENGINES = (XNNPACK, BUILTIN, ONNXRUNTIME, OPENVINO)
_REFERENCE_RUNS, KEPT_RUNS = OrderedDict(), 4096    # (expect, case, precision) -> its run


def _reference_run(expect, case):
    """expect(case) as the reference computes it (folds, each engine's allowance check), or
    None where out of scope: the same run for every engine, kept for the last KEPT_RUNS cases
    (each engine's known-failures file passes over the same cases). A loaded case is a new copy
    on each load, of the same arrays: a kept run is the case's where those are its own."""
    key = (id(expect), case.spec, case.id, declared())
    made_of = (expect, case.inputs, case.weights, case.config, case.call_kwargs)
    entry = _REFERENCE_RUNS.pop(key, None)
    if entry is None or not all(a is b for a, b in zip(entry[0], made_of)):
        parts = dict(engine=None, clamped=False, activations=True, select=False, replay=False,
                     shift=0)
        try:
            entry = made_of, _run(expect, case, parts)
        except OutOfScope:
            entry = made_of, None
    _REFERENCE_RUNS[key] = entry                # the most recent last
    while len(_REFERENCE_RUNS) > KEPT_RUNS:
        _REFERENCE_RUNS.popitem(last=False)
    return entry[1]


def off_in_run(engine, expect, case, clamped=False, activations=True, select=False):
    """Whether the recurrence of expect(case), run with the engine's activations in place of
    the reference's (activations) or its masked steps selected by a product (select, as
    onnxruntime's), ends beyond the bound of some output or final state (every time step
    where the layer returns sequences) with its exp at either edge of its error and in
    between, or some step's activation has an allowance beyond its bound."""
    parts = {"engine": engine, "clamped": clamped, "activations": activations, "select": select}
    reference = _reference_run(expect, case)
    if reference is None:
        return False
    if activations and reference["off"][engine]:
        return True
    last = not case.config.get("return_sequences")
    smallest = None          # each output's least error ratio over the shifts replayed so far
    for shift in (-1, 0, 1):
        replayed = dict(parts, replay=True, shift=shift)
        try:
            _run(expect, case, replayed)
        except OutOfScope:
            # the replay overflows: where the engine's own activation gave the infinity
            # (XNNPACK's softplus of 88.4) that is the divergence; where a later sum
            # overflowed, the engine's kernels may clamp or overflow otherwise
            return replayed["overflows"]
        ratios = []
        for fold, again in zip(reference["folds"], replayed["folds"]):
            for index, ((v, e), (w, _)) in enumerate(zip(fold, again)):
                if index == 0 and last:
                    v, e, w = v[:, -1], e[:, -1], w[:, -1]
                ratios.append(error_ratio(v, e, w))
        smallest = ratios if smallest is None else list(map(np.minimum, smallest, ratios))
        if not any(bool(np.any(r > REPLAY_RATIO)) for r in smallest):
            return False     # within bound at every edge so far: the other edges cannot cover it
    return True
