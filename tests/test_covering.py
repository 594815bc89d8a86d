"""The pairwise covering set really covers every valid pair, and is stable."""
import itertools
import json

import pytest

from conformance import specs
from conformance.cases import pairwise


def pairs(combo):
    keys = [(k, json.dumps(v, sort_keys=True)) for k, v in combo.items()]
    return set(itertools.combinations(keys, 2)) | {(k,) for k in keys}


@pytest.mark.parametrize("layer", list(specs.SPECS))
def test_every_valid_pair_is_covered(layer):
    spec = specs.SPECS[layer]
    names = list(spec.domains)
    valid = [dict(zip(names, v)) for v in itertools.product(*spec.domains.values())]
    valid = [c for c in valid if spec.valid(c)]
    reachable = set().union(*(pairs(c) for c in valid))
    chosen = pairwise(spec.domains, spec.valid)
    assert all(spec.valid(c) for c in chosen)
    assert set().union(*(pairs(c) for c in chosen)) == reachable
    assert len(chosen) <= len(valid)


def test_covering_is_deterministic():
    spec = specs.SPECS["Conv1D"]
    assert pairwise(spec.domains, spec.valid) == pairwise(spec.domains, spec.valid)
