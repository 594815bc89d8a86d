"""The pairwise covering set really covers every valid pair, and is stable."""
import itertools
import json

import numpy as np
import pytest

from conformance import specs
from conformance.case import KERAS_SPECS
from conformance.cases import pairwise


def covered(domains, combos):
    """Every (param, value) and (param, value, param, value) the combinations hold, as index
    tuples; combos is an int array (combinations, parameters) of value indices."""
    seen = set()
    for k in range(combos.shape[1]):
        seen |= {(k, int(v)) for v in np.unique(combos[:, k])}
    for k, j in itertools.combinations(range(combos.shape[1]), 2):
        seen |= {(k, int(a), j, int(b)) for a, b in np.unique(combos[:, [k, j]], axis=0)}
    return seen


def as_indices(domains, combo):
    return [next(i for i, v in enumerate(values) if json.dumps(v) == json.dumps(combo[name]))
            for name, values in domains.items()]


@pytest.mark.parametrize("keras_spec", KERAS_SPECS)
@pytest.mark.parametrize("layer", list(specs.SPECS))
def test_every_valid_pair_is_covered(layer, keras_spec):
    spec = specs.SPECS[layer]
    domains = spec.domains_for(keras_spec)
    names = list(domains)
    every = np.array([index for index in itertools.product(*(range(len(v)) for v in
                                                              domains.values()))
                      if spec.valid({n: domains[n][i] for n, i in zip(names, index)})])
    chosen = pairwise(domains, spec.valid)
    assert all(spec.valid(c) for c in chosen)
    assert covered(domains, np.array([as_indices(domains, c) for c in chosen])) == \
        covered(domains, every)
    assert len(chosen) <= len(every)


def test_covering_is_deterministic():
    spec = specs.SPECS["Conv1D"]
    assert pairwise(spec.domains, spec.valid) == pairwise(spec.domains, spec.valid)
