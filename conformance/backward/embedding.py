"""Gradient bounds of Embedding (conformance/backward/__init__.py for the twins).

y[p, :] = embeddings[x[p], :] for every index position p. The indices are integers, with no
gradient; the table's gradient adds each position's cotangent to the row it read:

    dembeddings[i, :] = sum over the positions p with x[p] = i of u[p, :]

a float32 sum whose term count is the number of times row i is read (a row never read gets
exactly 0, a row read once exactly its u; TensorFlow's IndexedSlices are summed by row,
torch's index_add and JAX's scatter-add accumulate). Its bound is tolerance.sum_bound with
that count and the magnitude sum |u| over the same positions: the same scatter-add on |u|
and on ones.
"""
import numpy as np

import reference.backward as vjps
from conformance import tolerance
from reference.embedding import _indices

LAYERS = {"Embedding": vjps.embedding_vjp}


def eligible(case):
    """Every Embedding case the common conditions take."""
    return True


def expected(case):
    """([dembeddings], [its bound])."""
    x, = case.inputs
    u = np.asarray(case.cotangent[0], np.float64)
    d_table, = vjps.embedding_vjp(x, *case.weights, u=u, **case.config, spec=case.spec)
    rows = _indices(x, case.config["input_dim"])
    magnitude, terms = np.zeros_like(d_table), np.zeros_like(d_table)
    np.add.at(magnitude, rows, np.abs(u))
    np.add.at(terms, rows, np.ones_like(u))
    bound = np.where(terms == 0, 0.0, tolerance.sum_bound(magnitude, terms, d_table))
    return [d_table], [bound]
