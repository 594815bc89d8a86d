"""From a spec to cases: seeded case building over the pairwise covering set
(conformance/covering.py), and hypothesis strategies that yield only valid cases."""
import json
from dataclasses import replace

import numpy as np

from conformance import backward, contract, tolerance
from conformance.covering import covering
from conformance.case import Case, seed_of
from conformance.regimes import (SPECIAL_NAMES, Regime, grown_for_specials, special_kinds,
                                 special_positions)
from reference import keras1
from reference.config import OutOfScope


def jsonable(value):
    """The JSON form of a params/config value (tuples become lists), so that a case built
    live and the same case read back from a fixture are identical."""
    return json.loads(json.dumps(value))


def float32_normal(rng, shape, scale=1.0):
    """N(0, scale^2) samples rounded to float32 and returned as float32."""
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def build_case(spec, params, seed, keras_spec, case_id, input_shapes=None):
    """The case for `params`: config and shapes from spec.make, inputs and weights drawn in
    the case's regime (params["regime"], unit by default) from a generator seeded with
    `seed`, expected outputs and bounds from the reference."""
    params = jsonable(params)
    rng = np.random.default_rng(seed)
    config, shapes = spec.make(params, rng)
    shapes = [tuple(s) for s in (shapes if input_shapes is None else input_shapes)]
    regime = Regime(params.get("regime", "unit"), rng)
    if regime.name == "special":
        shapes = grown_for_specials(shapes)
    # the special regime draws again (from the same generator) until every special value is
    # in every input and, for a windowed layer, in some window: a spec's own input rules
    # (Masking's masked steps) or a stride skipping positions can leave one out
    for draw in range(SPECIAL_DRAWS if regime.name == "special" else 1):
        if draw and draw % 4 == 0:          # too few positions read: a larger batch
            shapes = [(2 * s[0], *s[1:]) if len(s) else s for s in shapes]
        inputs, weights = draw_arrays(spec, params, config, shapes, regime)
        call_kwargs = spec.call_kwargs(params, shapes, rng) if spec.call_kwargs else {}
        case = Case(id=case_id, layer=spec.layer, spec=keras_spec, params=params,
                    config=jsonable(config), inputs=inputs, weights=weights,
                    call_kwargs=call_kwargs, seed=seed)
        if regime.name != "special" or not special_gaps(spec, case):
            break
    return with_expected(spec, case)


SPECIAL_DRAWS = 24             # draws of a special-regime case's data before one is kept


def draw_arrays(spec, params, config, shapes, regime):
    """(inputs, weights) of a config, drawn in the regime: the spec's own `arrays` or
    `inputs` where it has them, else the regime's plain draws."""
    if spec.arrays:
        return spec.arrays(params, config, shapes, regime)
    inputs = (spec.inputs(config, shapes, regime) if spec.inputs
              else [regime.values(s) for s in shapes])
    return inputs, [regime.weights(shape, spec.weight_scale)
                    for _, shape in spec.weights(config, shapes)]


def special_gaps(spec, case):
    """What a special-regime case leaves out, as sentences: a special value (NaN, +inf, -inf,
    -0.0) missing from a float input (or a cell's states), or, for a windowed layer
    (spec.windowed), one that no output reads. An integer input (Embedding's indices) carries
    the regime in the table it indexes: each special value must be in a row some index reads.

    Reading is probed on the reference: the input with every special value replaced by 0,
    and the same with the positions of one special value set to NaN; where no output turns
    NaN, no window holds that value. A layer whose output is empty, or that reads no position
    of the input (a dilated kernel taller than a one-row input), has no window to fill."""
    gaps = []
    float_inputs = [k for k, x in enumerate(case.inputs) if np.asarray(x).dtype.kind == "f"]
    for k in float_inputs:
        missing = [name for name, held in zip(SPECIAL_NAMES, special_kinds(case.inputs[k]))
                   if not held]
        gaps += [f"input {k} holds no {name}" for name in missing]
    # a cell's states are drawn in the regime too (a recurrent layer's initial_state is an
    # ordinary N(0, 1) value in every regime)
    for k, array in enumerate(case.call_kwargs.get("states", [])):
        gaps += [f"states[{k}] holds no {special}" for special, held in
                 zip(SPECIAL_NAMES, special_kinds(array)) if not held]
    if not float_inputs and case.weights:
        table, indices = np.asarray(case.weights[0]), np.asarray(case.inputs[0])
        read_rows = np.unique(indices[(indices >= 0) & (indices < len(table))])
        gaps += [f"no index reads a row holding {name}" for name, held in
                 zip(SPECIAL_NAMES, special_kinds(table[read_rows])) if not held]
    if gaps or not spec.windowed:
        return gaps
    for k in float_inputs:
        x = np.asarray(case.inputs[k])
        positions = special_positions(x)
        base = np.where(np.any(positions, axis=0), np.float32(0), x)
        plain = _probe_outputs(spec, case, k, base)
        if plain is None or _same(plain, _probe_outputs(spec, case, k, np.full_like(x, np.nan))):
            continue                # no window reads any of this input: nothing to fill
        for name, where in zip(SPECIAL_NAMES, positions):
            probed = _probe_outputs(spec, case, k, np.where(where, np.float32(np.nan), base))
            if _same(plain, probed):
                gaps.append(f"no window of input {k} holds its {name}")
    return gaps


def _same(outputs, others):
    """Whether two lists of outputs are equal, NaN included (None, no answer: not equal)."""
    return outputs is not None and others is not None and all(
        np.array_equal(a, b, equal_nan=True) for a, b in zip(outputs, others))


def _probe_outputs(spec, case, k, x):
    """The reference's outputs for the case with input k replaced by x (None where the
    reference has no answer for it)."""
    inputs = list(case.inputs)
    inputs[k] = x.astype(np.asarray(case.inputs[k]).dtype)
    try:
        with np.errstate(all="ignore"):
            return [np.asarray(o, np.float64)
                    for o in spec.expect(replace(case, inputs=inputs)).outputs]
    except OutOfScope:
        return None


def with_expected(spec, case):
    """The case with the reference's expected outputs, bounds, mask and check filled in, or
    with `out_of_scope` saying why the reference has no answer for its config."""
    try:
        expected = backward.expect(spec, case)
    except OutOfScope as exc:
        case.out_of_scope = str(exc)
        return case
    case.expected, case.bounds = _values_and_bounds(spec, case, expected.outputs,
                                                    expected.bounds)
    # an observed value is (values, bounds), or a statistical check (a dict with its "kind")
    case.observed = None if expected.observed is None else {
        name: observed if isinstance(observed, dict) else
        _values_and_bounds(spec, case, *observed)
        for name, observed in expected.observed.items()}
    case.overflow = (None if not expected.overflow or all(a is None for a in expected.overflow)
                     else [np.asarray(o if a is None else a, np.float64)
                           for a, o in zip(expected.overflow, case.expected)])
    case.expected_mask = None if expected.mask is None else np.asarray(expected.mask, bool)
    case.expected_dtypes = expected.dtypes
    case.check = expected.check
    return case


def declared(spec, case, precision):
    """The golden or drawn `case` as a candidate declaring `precision` (conformance/precision.py)
    must answer it. float32: the case itself. Otherwise the reference's answer on the inputs
    and weights as such a candidate holds them (rounded to its storage format), within the
    bounds derived for its unit roundoff and range (tolerance.declaring), widened by how far
    that answer is from the answer on the float32 arrays: a candidate that keeps some of them
    in float32 (Keras's mixed policies keep the variables so; a float32 candidate declared
    bfloat16 keeps all) computes nearer the latter. The candidate itself is still handed the
    case's float32 arrays. Random outputs and initializer draws are judged by statistical
    checks derived for float32: skipped, with that reason, under a precision that rounds their
    outputs or variables."""
    if precision.name == "float32" or case.out_of_scope:
        return case
    kind = case.params.get("contract")
    if case.check is not None or (kind == "initializer" and (precision.storage or
                                                            precision.weights)
                                  and not precision.name.startswith("mixed_")):
        what = "random outputs" if case.check is not None else "an initializer's draws"
        return replace(case, out_of_scope=f"{what}: their statistical check is derived for "
                                          f"float32; not judged under the declared precision "
                                          f"{precision.name}")
    held = replace(case, inputs=[precision.rounded(x, "input") for x in case.inputs],
                   weights=[precision.rounded(w, "weight") for w in case.weights],
                   call_kwargs={name: _rounded_argument(precision, value)
                                for name, value in case.call_kwargs.items()})
    with tolerance.declaring(precision):
        held = with_expected(spec, held)
    scope = held.out_of_scope
    try:
        bounds = _widened(held.expected, held.bounds, case.expected)
        observed = held.observed and {
            name: entry if isinstance(entry, dict) else
            (entry[0], _widened(entry[0], entry[1], case.observed[name][0]))
            for name, entry in held.observed.items()}
    except OutOfScope as exc:
        scope = scope or str(exc)
        bounds, observed = held.bounds, held.observed
    dtypes = held.expected_dtypes and [precision.output if d == "float32" else d
                                       for d in held.expected_dtypes]
    return replace(case, expected=held.expected, bounds=bounds, observed=observed,
                   overflow=held.overflow, expected_mask=held.expected_mask,
                   expected_dtypes=dtypes, check=held.check,
                   out_of_scope=scope and f"under the declared precision {precision.name}: "
                                          f"{scope}")


def _widened(values, bounds, float32_values):
    """`bounds` of `values` (the reference on rounded arrays) plus each element's distance to
    `float32_values` (the reference on the case's own); OutOfScope where the two differ in
    which elements are finite (an input at the storage format's limit)."""
    if values is None or float32_values is None:
        return bounds
    widened = []
    for v, b, f in zip(values, bounds, float32_values):
        v, f = np.asarray(v, np.float64), np.asarray(f, np.float64)
        if v.shape != f.shape:
            return bounds
        same = (v == f) | (np.isnan(v) & np.isnan(f))
        if np.any(~same & ~(np.isfinite(v) & np.isfinite(f))):
            raise OutOfScope("rounding the inputs to the declared storage format changes "
                             "which outputs are finite or NaN (an input near its limit): "
                             "the answer depends on which arrays a candidate rounds")
        with np.errstate(invalid="ignore"):
            widened.append(np.where(same, b, b + np.abs(v - f)))
    return widened


def _rounded_argument(precision, value):
    """A call's array argument as the candidate holds it: float arrays (initial states) are
    inputs of the layer, rounded as inputs are; masks and other values as they are."""
    if isinstance(value, np.ndarray):
        return precision.rounded(value, "input")
    if isinstance(value, list) and all(isinstance(v, np.ndarray) for v in value):
        return [precision.rounded(v, "input") for v in value]
    return value


def _values_and_bounds(spec, case, values, bounds):
    """float64 values and their bounds, one array each, checked."""
    values = [np.asarray(o, np.float64) for o in values]
    # An expected NaN or infinity is matched only by itself (conformance/compare.py): its
    # bound says nothing and is stored as 0.
    bounds = [np.where(np.isfinite(o), np.broadcast_to(np.asarray(b, np.float64),
                                                       np.shape(o)), 0.0)
              for b, o in zip(bounds, values)]
    for b in bounds:
        if np.any(np.isnan(b)) or np.any(b < 0):
            raise RuntimeError(f"{case.id}: the {spec.layer} spec gives a NaN or negative bound "
                               f"for a value that is not NaN (a bug in the tolerance model)")
    return values, bounds


REDRAWS = 8                    # fixture_cases: draws of a case's data after the first


def fixture_cases(spec, keras_spec, limit=None):
    """The golden cases of a layer: the pairwise covering set, then the edge cases (the
    first `limit` of them only, if given), then the common-parameter cases (contract_cases)."""
    plan = [(params, None) for params in covering(spec, keras_spec, limit)]
    plan += [(edge[0], edge[1]) for edge in spec.edge_cases
             if len(edge) == 2 or keras_spec in edge[2]]
    cases = []
    for n, (params, shapes) in enumerate(plan[:limit]):
        case_id = f"{spec.layer}-{n:03d}"
        # a draw whose float32 result is undetermined (a recurrence overflowing float32) is
        # drawn again, so that its pair of parameter values is still covered
        for redraw in range(REDRAWS + 1):
            seed = seed_of(f"{keras_spec}/{case_id}" + (f"/redraw {redraw}" if redraw else ""))
            case = build_case(spec, params, seed, keras_spec, case_id, shapes)
            if not (case.out_of_scope or "").startswith(tolerance.UNDETERMINED):
                break
        cases.append(case)
    return cases if limit is not None else cases + contract_cases(spec, keras_spec, cases)


def contract_cases(spec, keras_spec, cases):
    """The layer's cases of the common parameters (conformance/contract.py): one per cell of
    contract.plan, each made from the layer's base case (contract.LAYERS) drawn with its own
    seed, then a round-trip twin of each of `cases` that takes one, then a gradient twin
    (conformance/backward/) of each that takes one."""
    made = []
    base = contract.LAYERS.get(spec.layer)
    for n, params in enumerate(contract.plan(spec.layer, keras_spec)):
        case_id = f"{spec.layer}-{params['contract']}-{n:03d}"
        base_params, shapes = base.sized(params["contract"])
        core = build_case(spec, {**base_params, "regime": "unit"},
                          seed_of(f"{keras_spec}/{case_id}"), keras_spec, case_id, shapes)
        shapes = contract.weight_shapes(spec, core)
        made.append(with_expected(spec, contract.contract_case(core, params, shapes)))
    for n, (layer1, config1, shapes) in enumerate(contract.KERAS1.get(spec.layer, [])):
        made.append(with_expected(spec, keras1_case(spec, keras_spec, layer1, config1, shapes,
                                                    f"{spec.layer}-keras1-{n:03d}")))
    made += [with_expected(spec, contract.round_trip_twin(c))
             for c in cases if contract.takes_round_trip(c)]
    return made + [with_expected(spec, backward.gradient_twin(
        c, seed_of(f"{keras_spec}/{c.id}/gradient"))) for c in cases
        if backward.takes_gradient(c) and backward.fits_a_fixture(c)]


def keras1_case(spec, keras_spec, layer1, config1, shapes, case_id):
    """A case whose config is in Keras 1 names and whose weights are in Keras 1's layout: its
    inputs and weights drawn (unit regime) for the config reference/keras1.py translates it
    to, the weights then laid out as Keras 1 held them."""
    seed = seed_of(f"{keras_spec}/{case_id}")
    regime = Regime("unit", np.random.default_rng(seed))
    _, config, _ = keras1.translate(layer1, config1, None, shapes, spec=keras_spec)
    inputs, weights = draw_arrays(spec, {"regime": "unit", "index_dtype": "int32"}, config,
                                  shapes, regime)
    return Case(id=case_id, layer=spec.layer, spec=keras_spec,
                params={"contract": "keras1", "keras1": layer1, "regime": "unit"},
                config=jsonable(config1), inputs=inputs,
                weights=contract.keras1_layout(layer1, config1, weights), seed=seed)


def params_strategy(spec, keras_spec, **fixed):
    """Valid parameter combinations drawn from the spec's domains for `keras_spec` (`fixed`
    pins some, to a value or to a strategy of their own)."""
    from hypothesis import strategies as st      # here: a candidate's process never draws
    return st.fixed_dictionaries(
        {name: (fixed[name] if isinstance(fixed[name], st.SearchStrategy)
                else st.just(fixed[name])) if name in fixed else st.sampled_from(values)
         for name, values in spec.domains_for(keras_spec).items()}
    ).filter(spec.valid)


def case_strategy(spec, keras_spec, batches=(), **fixed):
    """Cases of `spec` with hypothesis-drawn parameters and a drawn seed for the data; with
    `batches`, some of them drawn with their batch grown to one of those sizes (live_case)."""
    from hypothesis import strategies as st
    params, seed = params_strategy(spec, keras_spec, **fixed), st.integers(0, 2 ** 32 - 1)
    if not batches:
        return st.builds(lambda p, s: live_case(spec, p, s, keras_spec), params, seed)
    return st.builds(lambda p, s, batch: live_case(spec, p, s, keras_spec, batch),
                     params, seed, st.sampled_from((None, *batches)))


# The live tests' larger batches: just past 16 and 32 rows, where a kernel that works on the
# batch in tiles of 4, 8, 16 or 32 rows has a partial tile (the fixtures' batches are 1 to 3,
# as the specs make them, bar a few). An input grown past LIVE_ELEMENTS values is not grown.
LIVE_BATCHES = (17, 33)
LIVE_ELEMENTS = 2 ** 18
BATCH_KEYS = ("batch_size", "batch_input_shape", "batch_shape")


def live_case(spec, params, seed, keras_spec, batch=None):
    """The case build_case makes for params and seed, with every input's batch grown to
    `batch` (its id then ends "-batch{batch}"); as it is where the config fixes the batch or
    moves it (batch_free), the inputs' batches differ or are empty, or the grown inputs would
    be too large."""
    case_id = f"{spec.layer}-live-{seed:08x}"
    if batch is not None:
        config, shapes = spec.make(jsonable(params), np.random.default_rng(seed))
        if batch_free(config) and all(len(s) for s in shapes) \
                and len({s[0] for s in shapes}) == 1 and shapes[0][0] > 0 \
                and all(batch * np.prod(s[1:]) <= LIVE_ELEMENTS for s in shapes):
            return build_case(spec, params, seed, keras_spec, f"{case_id}-batch{batch}",
                              input_shapes=[(batch, *s[1:]) for s in shapes])
    return build_case(spec, params, seed, keras_spec, case_id)


def batch_free(config):
    """Whether no part of a (nested) config fixes the batch (a dropout's noise_shape may),
    keeps states across calls, or puts the batch on another axis than the first (time_major)."""
    if isinstance(config, dict):
        noise_shape = config.get("noise_shape") or [None]
        return not any(config.get(k) is not None for k in BATCH_KEYS) \
            and noise_shape[0] is None and not config.get("stateful") \
            and not config.get("time_major") and all(map(batch_free, config.values()))
    if isinstance(config, list):
        return all(map(batch_free, config))
    return True


_DIGESTS = {}          # a property test's code -> the digest Hypothesis derives from it


def seeded_once(test):
    """`test`, a Hypothesis test defined inside a parametrized one, with the seed and
    database key a derandomizing profile (CI's) derives from it, computed once a process:
    Hypothesis derives both from a digest of the test's source, which it tokenizes again for
    each (2 ms, twice per parametrized test: seconds of the oracle tests), while an inner
    test's source, so its digest, is the same in every one. The same examples as without;
    under another profile, `test` as it is."""
    from hypothesis import seed, settings
    from hypothesis.internal.reflection import function_digest
    inner = test.hypothesis.inner_test
    if not settings.default.derandomize or hasattr(inner, "_hypothesis_internal_add_digest"):
        return test
    if inner.__code__ not in _DIGESTS:
        _DIGESTS[inner.__code__] = function_digest(inner)
    digest = _DIGESTS[inner.__code__]
    test = seed(int.from_bytes(digest, "big"))(test)
    test._hypothesis_internal_database_key = digest        # else computed again
    return test


def rejected_case(spec, reject, keras_spec):
    """A case carrying a config Keras refuses: the Reject's inputs (zeros of its input_shapes
    unless it gives them) and zero weights of whatever shapes the config implies (none if it
    implies none)."""
    inputs = ([np.asarray(x) for x in reject.inputs] if reject.inputs is not None
              else [np.zeros(s, np.float32) for s in reject.input_shapes])
    try:
        weights = [np.zeros(shape, np.float32)
                   for _, shape in spec.weights(reject.config, list(reject.input_shapes))]
    except (KeyError, TypeError, ValueError):
        weights = []
    return Case(id=f"{spec.layer}-rejected", layer=spec.layer, spec=keras_spec,
                params={"rejected": reject.reason}, config=jsonable(reject.config),
                inputs=inputs, weights=weights, call_kwargs=dict(reject.call_kwargs or {}))
