"""The pairwise covering of a layer's parameter domains: a small set of valid combinations in
which every value of every parameter and every pair of values of two parameters appears (where
some valid combination holds it). conformance/cases.py draws one golden case per
combination."""
import itertools
import math

import numpy as np

from conformance.validity import Validity

EXHAUSTIVE_LIMIT = 300_000     # combinations; above it pairwise() samples (recurrent layers)


def pairwise(domains, valid):
    """A small list of valid parameter combinations covering every value and every pair of
    values (see pairwise_exhaustive); where the domains hold more than EXHAUSTIVE_LIMIT
    combinations, pairwise_sampled builds it without enumerating them."""
    return list(_pairwise_steps(domains, valid))


def _pairwise_steps(domains, valid):
    """pairwise()'s combinations one at a time, in the order the greedy covering picks them
    (so the first few cost only their own steps)."""
    if math.prod(len(v) for v in domains.values()) <= EXHAUSTIVE_LIMIT:
        return pairwise_exhaustive(domains, valid)
    return pairwise_sampled(domains, valid)


def _first_valid(domains, valid):
    """pairwise_exhaustive()'s first step without enumerating the rest: every combination
    covers as many new values and pairs as any other at first (one per column), so the
    greedy step takes the first valid combination in product order."""
    names = list(domains)
    for combo in itertools.product(*(domains[n] for n in names)):
        params = dict(zip(names, combo))
        if valid(params):
            return [params]
    return []


def pairwise_exhaustive(domains, valid):
    """Yields, one at a time, a small list of valid parameter combinations in which every value of
    every parameter and every pair of values of two parameters appears at least once (where some
    valid combination holds that pair). Greedy: each step takes the first combination, in
    product order, covering the most values and pairs not yet covered. Deterministic."""
    names = list(domains)
    values = [list(domains[n]) for n in names]
    sizes = [len(v) for v in values]
    every = np.indices(sizes).reshape(len(sizes), -1).T          # in product order
    index = every[Validity(domains, valid).of(every)]             # (combinations, parameters)
    if not len(index):
        return
    # each value and pair has an integer id: column k of `local` holds the code of the
    # value or pair (k-th of them) each combination holds, `offsets[k] + local[:, k]` its id
    local, widths = [], []
    for k in range(len(names)):                         # single values
        local.append(index[:, k])
        widths.append(sizes[k])
    for k, j in itertools.combinations(range(len(names)), 2):       # pairs of values
        local.append(index[:, k] * sizes[j] + index[:, j])
        widths.append(sizes[k] * sizes[j])
    offsets = np.cumsum([0] + widths)
    reach = np.stack(local, axis=1) + offsets[:-1]      # ids each combination covers
    # score[c]: how many values and pairs combination c would newly cover (every id is
    # uncovered at first). The combinations holding an id are a run of its column's stable
    # sort (held[starts[id]:starts[id + 1]]), so covering it lowers just their scores: the
    # whole covering costs one pass over reach instead of one per step.
    score = np.full(len(index), reach.shape[1], np.int64)
    held, starts = [], [np.zeros(1, np.int64)]
    for k, codes in enumerate(local):
        order = np.argsort(codes.astype(np.uint16 if widths[k] < 2 ** 16 else np.int64),
                           kind="stable")
        held.append(order)
        starts.append(k * len(index) + np.searchsorted(codes[order], np.arange(1, widths[k] + 1)))
    held, starts = np.concatenate(held), np.concatenate(starts)
    uncovered = np.zeros(offsets[-1], bool)
    uncovered[reach.ravel()] = True                     # only what some combination reaches
    while uncovered.any():
        best = int(np.argmax(score))                    # the first of the highest scores
        yield {n: values[k][i] for k, (n, i) in enumerate(zip(names, index[best].tolist()))}
        new = reach[best][uncovered[reach[best]]]
        np.subtract.at(score, held[_runs(starts[new], starts[new + 1])], 1)
        uncovered[new] = False


def _runs(begin, end):
    """The positions begin[i] up to end[i] (excluded), for every i, in one array."""
    lengths = end - begin
    return np.repeat(begin - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())


_COVERING = {}


def covering(spec, keras_spec, limit=None):
    """pairwise() of a spec's domains for `keras_spec`, computed once per process; with
    `limit`, its first `limit` combinations, which cost only their own greedy steps while
    the whole covering has not been computed."""
    key = (spec.layer, keras_spec, id(spec))
    if key in _COVERING:
        combos = _COVERING[key]
    elif limit == 1 and math.prod(map(len, spec.domains_for(keras_spec).values())) \
            <= EXHAUSTIVE_LIMIT:
        combos = _first_valid(spec.domains_for(keras_spec), spec.valid)
    elif limit is not None:
        combos = list(itertools.islice(_pairwise_steps(spec.domains_for(keras_spec),
                                                       spec.valid), limit))
    else:
        combos = _COVERING[key] = pairwise(spec.domains_for(keras_spec), spec.valid)
    return [dict(params) for params in combos[:limit]]


def _items(index):
    """The single values (k, a) and pairs (k, a, j, b) one combination of value indices holds."""
    singles = [(k, a) for k, a in enumerate(index)]
    pairs = [(k, index[k], j, index[j]) for k, j in itertools.combinations(range(len(index)), 2)]
    return set(singles) | set(pairs)


def pairwise_sampled(domains, valid, candidates=8, tries=4000):
    """Yields pairwise() for domains too large to enumerate. Each step takes the first uncovered
    value or pair (in a fixed order), builds `candidates` combinations holding it by filling the
    other parameters one at a time (in a seeded random order) with the value that covers the
    most uncovered pairs, and keeps the valid one covering most. A value or pair no candidate
    and no one of `tries` random completions makes valid is taken as unreachable: the only place
    where this covering can miss a reachable pair. Deterministic (seed 0)."""
    names = list(domains)
    values = [list(domains[n]) for n in names]
    n = len(names)
    sizes = np.array([len(v) for v in values])
    rng = np.random.default_rng(0)
    validity = Validity(domains, valid)
    uncovered = set().union(
        {(k, a) for k in range(n) for a in range(len(values[k]))},
        {(k, a, j, b) for k, j in itertools.combinations(range(n), 2)
         for a in range(len(values[k])) for b in range(len(values[j]))})
    # the uncovered pairs again, as one table of values a of k by values b of j for each k < j
    table = {(k, j): np.ones((sizes[k], sizes[j]), bool)
             for k, j in itertools.combinations(range(n), 2)}

    def cover(items):
        uncovered.difference_update(items)
        for item in items:
            if len(item) == 4:
                table[item[0], item[2]][item[1], item[3]] = False

    def params(index):
        return dict(zip(names, map(list.__getitem__, values, index)))

    def fixed_by(item):
        return {item[0]: item[1]} if len(item) == 2 else {item[0]: item[1], item[2]: item[3]}

    def gains(k, index):
        """How many uncovered pairs each value of parameter k makes with those set in index."""
        total = np.zeros(sizes[k], np.int64)
        for j, b in enumerate(index):
            if b is not None and j != k:
                total += table[k, j][:, b] if k < j else table[j, k][b, :]
        return total

    def random_completion(target):
        """The first of `tries` random completions of target that is valid, or None; the
        random stream advances exactly as far as drawing them one at a time up to it would."""
        state = rng.bit_generator.state
        draws = rng.integers(0, sizes, size=(tries, n))   # row by row, the stream of one call each
        for k, a in fixed_by(target).items():
            draws[:, k] = a
        for start in range(0, tries, 64):      # lists made 64 rows at a time, not all 4000
            for t, index in enumerate(draws[start:start + 64].tolist(), start):
                if validity.holds(index):
                    rng.bit_generator.state = state
                    rng.integers(0, sizes, size=(t + 1, n))
                    return index
        return None

    while uncovered:
        target = min(uncovered, key=lambda item: (len(item), item))
        best, best_score = None, -1
        for _ in range(candidates):
            index = [None] * n
            for k, a in fixed_by(target).items():
                index[k] = a
            for k in rng.permutation(n):
                if index[k] is not None:
                    continue
                gain = gains(k, index)
                index[k] = int(rng.choice(np.flatnonzero(gain == gain.max()).tolist()))
            if validity.holds(index):
                score = len(_items(index) & uncovered)
                if score > best_score:
                    best, best_score = index, score
        if best is None:
            best = random_completion(target)
        if best is None:
            cover([target])                        # unreachable
            continue
        yield params(best)
        cover(_items(best))
