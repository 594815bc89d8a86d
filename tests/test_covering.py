"""The pairwise covering set really covers every valid pair, and is stable."""
import itertools
import math
import json

import numpy as np
import pytest

from conformance import specs
from conformance.case import KERAS_SPECS
from conformance.covering import EXHAUSTIVE_LIMIT, covering, pairwise, pairwise_sampled
from conformance.validity import Validity


def covered(domains, combos):
    """Every (param, value) and (param, value, param, value) the combinations hold, as index
    tuples; combos is an int array (combinations, parameters) of value indices."""
    sizes = [len(v) for v in domains.values()]
    seen = set()
    for k in range(combos.shape[1]):
        seen |= {(k, int(v)) for v in np.unique(combos[:, k])}
    for k, j in itertools.combinations(range(combos.shape[1]), 2):
        # each pair of values as one integer, a * size_j + b, marked in a table of them all
        held = np.zeros(sizes[k] * sizes[j], bool)
        held[combos[:, k] * sizes[j] + combos[:, j]] = True
        seen |= {(k, int(c) // sizes[j], j, int(c) % sizes[j]) for c in np.flatnonzero(held)}
    return seen


def as_indices(domains, combo):
    return [next(i for i, v in enumerate(values) if json.dumps(v) == json.dumps(combo[name]))
            for name, values in domains.items()]


@pytest.mark.parametrize("keras_spec", KERAS_SPECS)
@pytest.mark.parametrize("layer", list(specs.SPECS))
def test_every_valid_pair_is_covered(layer, keras_spec):
    spec = specs.SPECS[layer]
    domains = spec.domains_for(keras_spec)
    names, count = list(domains), math.prod(len(v) for v in domains.values())
    if count > EXHAUSTIVE_LIMIT:
        pytest.skip("too many combinations to enumerate: test_sampled_covering checks it")
    # valid() itself on every combination, in product order (the last parameter fastest)
    holds = np.fromiter((spec.valid(dict(zip(names, combo)))
                         for combo in itertools.product(*domains.values())), bool, count)
    every = np.indices([len(v) for v in domains.values()]).reshape(len(names), -1).T[holds]
    chosen = covering(spec, keras_spec)      # pairwise(domains, valid), shared in the process
    assert all(spec.valid(c) for c in chosen)
    assert covered(domains, np.array([as_indices(domains, c) for c in chosen])) == \
        covered(domains, every)
    assert len(chosen) <= len(every)


def test_covering_is_deterministic():
    spec = specs.SPECS["Conv1D"]
    assert pairwise(spec.domains, spec.valid) == pairwise(spec.domains, spec.valid)


@pytest.mark.parametrize("keras_spec", KERAS_SPECS)
@pytest.mark.parametrize("layer", [name for name, spec in specs.SPECS.items() if math.prod(
    len(v) for v in spec.domains.values()) > EXHAUSTIVE_LIMIT])
def test_sampled_covering(layer, keras_spec):
    """Where the domains are too large to enumerate, every value and pair the sampled covering
    leaves out has no valid completion among 2000 random ones (a pair the spec's valid()
    forbids), and every chosen combination is valid."""
    spec = specs.SPECS[layer]
    domains = spec.domains_for(keras_spec)
    chosen = covering(spec, keras_spec)      # pairwise(domains, valid), shared in the process
    assert all(spec.valid(c) for c in chosen)
    names, values = list(domains), [list(v) for v in domains.values()]
    got = covered(domains, np.array([as_indices(domains, c) for c in chosen]))
    rng = np.random.default_rng(1)
    sizes = np.array([len(domains[n]) for n in names])
    for k, j in itertools.combinations(range(len(names)), 2):
        for a, b in itertools.product(range(sizes[k]), range(sizes[j])):
            if (k, a, j, b) in got:
                continue
            draws = rng.integers(0, sizes, size=(2000, len(names)))
            draws[:, k], draws[:, j] = a, b
            for index in draws.tolist():
                combo = dict(zip(names, map(list.__getitem__, values, index)))
                assert not spec.valid(combo), (layer, names[k], names[j], combo)


def test_sampled_covering_matches_the_exhaustive_one_in_what_it_covers():
    """On a spec small enough to enumerate, the sampled covering reaches the same values
    and pairs as the exhaustive one."""
    spec = specs.SPECS["Conv2D"]
    domains = spec.domains_for("keras3")
    sampled = list(pairwise_sampled(domains, spec.valid))
    exhaustive = pairwise(domains, spec.valid)
    assert all(spec.valid(c) for c in sampled)
    index = lambda combos: np.array([as_indices(domains, c) for c in combos])  # noqa: E731
    assert covered(domains, index(sampled)) == covered(domains, index(exhaustive))


@pytest.mark.parametrize("layer", ["Conv2D", "LSTM", "Activation"])
def test_a_first_row_alone_is_the_whole_coverings_first(layer):
    # covering(limit=1) takes the first valid combination without the greedy steps
    spec = specs.get(layer)
    for keras_spec in spec.keras_specs:
        first = covering(spec, keras_spec, limit=1)
        assert first == [pairwise(spec.domains_for(keras_spec), spec.valid)[0]]


@pytest.mark.parametrize("layer", ["Conv1D", "MultiHeadAttention", "SimpleRNN"])
def test_validity_agrees_with_valid_on_every_combination(layer):
    # conformance/validity.py answers from the parameters valid() read for an earlier
    # combination: here against valid() itself, called on each combination as a dict
    spec = specs.SPECS[layer]
    domains = spec.domains_for("keras3")
    names, values = list(domains), [list(v) for v in domains.values()]
    every = np.indices([len(v) for v in values]).reshape(len(names), -1).T
    validity = Validity(domains, spec.valid)
    direct = [spec.valid(dict(zip(names, map(list.__getitem__, values, row))))
              for row in every.tolist()]
    assert validity.of(every).tolist() == direct
    assert [validity.holds(row) for row in every[::97].tolist()] == direct[::97]
    assert validity.calls < len(every) / 20       # what it is for: few calls of valid()


def test_validity_refuses_a_valid_that_is_not_a_function_of_what_it_reads():
    calls = itertools.count()
    domains = {"a": [0, 1], "b": [0, 1, 2]}
    flaky = lambda p: p["a"] == 0 or (next(calls) % 2 == 0 and p["b"] > 0)  # noqa: E731
    with pytest.raises(RuntimeError, match="not deterministic|not a function"):
        Validity(domains, flaky).of(np.indices((2, 3)).reshape(2, -1).T)
    # one that reads a parameter only on some paths is a function of what it reads
    odd = lambda p: p["a"] == 0 or p["b"] == 2                        # noqa: E731
    assert Validity(domains, odd).of([[0, 0], [1, 0], [1, 2], [0, 2]]).tolist() == [
        True, False, True, True]
    # one that reads every parameter (dict(params)) is answered too
    whole = lambda p: sum(dict(p).values()) == 2                       # noqa: E731
    validity = Validity(domains, whole)
    assert validity.of(np.indices((2, 3)).reshape(2, -1).T).tolist() == [
        a + b == 2 for a in range(2) for b in range(3)]
