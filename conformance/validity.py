"""A spec's valid(params) over many combinations at once, for the pairwise covering
(conformance/covering.py), which asks it of every combination of a layer's domains.

valid() is a deterministic function of the parameters it reads, and which parameter it reads
next depends only on the values it has read so far: it is a decision tree over the parameters.
Conv1D's valid(), for one, reads the kernel size, strides, dilation and padding, never the
activation or the regime, so a single call answers every activation and regime alike.
`Validity` grows that tree from real calls of valid(), one call for each branch a combination
reaches first, and answers whole arrays of combinations by walking it.
"""
from collections.abc import Mapping

import numpy as np


class Validity:
    """valid() of combinations given as value indices into `domains` (one row per
    combination, one column per parameter, in the domains' order)."""

    def __init__(self, domains, valid):
        self.names = list(domains)
        self.values = [list(domains[n]) for n in self.names]
        self.valid = valid
        self.root = None        # a branch [column, {value index: branch or leaf}], a leaf: bool
        self.calls = 0          # how many times valid() was called

    def of(self, rows):
        """valid() of each row of `rows` (combinations, parameters): a bool array."""
        rows = np.asarray(rows, np.int64).reshape(-1, len(self.names))
        answer = np.zeros(len(rows), bool)
        if not len(rows):
            return answer
        if self.root is None:
            self._grow(rows[0])
        pending = [(self.root, np.arange(len(rows)))]
        while pending:
            node, at = pending.pop()
            if isinstance(node, bool):
                answer[at] = node
                continue
            column, branches = node
            codes = rows[at, column]
            for code in np.unique(codes).tolist():
                if code not in branches:
                    self._grow(rows[at[np.argmax(codes == code)]])
                pending.append((branches[code], at[codes == code]))
        return answer

    def holds(self, index):
        """valid() of one combination (a sequence of value indices)."""
        node = self.root
        while not isinstance(node, bool):
            if node is None or index[node[0]] not in node[1]:
                return self._grow(index)
            node = node[1][index[node[0]]]
        return node

    def _grow(self, index):
        """Call valid() on one combination and add the branches its reads took to the tree."""
        params = _Reading(self.names, self.values, index)
        result = bool(self.valid(params))
        self.calls += 1
        reads = list(dict.fromkeys(params.read))         # each parameter's first read, in order
        if self.root is None:
            self.root = result if not reads else [reads[0], {}]
        node = self.root
        for position, column in enumerate(reads):
            if isinstance(node, bool) or node[0] != column:
                before = "nothing more" if isinstance(node, bool) else repr(self.names[node[0]])
                raise RuntimeError(
                    f"valid() read {self.names[column]!r} where an earlier call with the same "
                    f"values read {before}: it is not a function of the parameters it reads")
            code = int(index[column])
            if position + 1 < len(reads):
                node = node[1].setdefault(code, [reads[position + 1], {}])
            else:
                node = node[1].setdefault(code, result)
        if node != result:
            raise RuntimeError("valid() answered two combinations that agree on every "
                               "parameter it read differently: it is not deterministic")
        return result


class _Reading(Mapping):
    """One combination, handed to valid() as the params dict it expects, noting each parameter
    valid() reads; iterating over it (dict(params), {**params}, params == other) reads all."""

    def __init__(self, names, values, index):
        self._names, self._values, self._index = names, values, index
        self._column = {name: k for k, name in enumerate(names)}
        self.read = []

    def __getitem__(self, name):
        column = self._column[name]
        self.read.append(column)
        return self._values[column][int(self._index[column])]

    def __iter__(self):
        self.read.extend(range(len(self._names)))
        return iter(self._names)

    def __len__(self):
        return len(self._names)
