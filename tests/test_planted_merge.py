"""Each planted merge fault (tests/planted_merge.py) is caught in exactly the fixture cases
where it shows, predicted from the case's data (the faulty value against the expected one and
its bound), in every unit-regime cell it can reach, and never in the layer's functional form
(keras.layers.dot, average, subtract), which the fault does not touch.

KC_FIXTURES_DIR names the fixture set to run them on (default: the shipped one)."""

import numpy as np

import reference
from conformance.tolerance import TINY32
from tests.suite_runner import cells, fixture_cases, layers_with, run_golden
from tests.test_planted import caught_where_it_shows

def planted(tmp_path, name, layer):
    """The layer's golden cases and its functional form's, which must stay clean."""
    matrix = run_golden(tmp_path, f"tests.planted_merge:{name}", layer, layer.lower())
    assert layers_with(matrix, ("failed", "error", "xpassed")) == [layer]
    return matrix


def shows(case, got):
    """Whether `got` differs from the case's expected output beyond its bound somewhere the
    comparison looks: a finite element off by more than its bound (not both below float32's
    smallest normal), or a NaN or infinity not matched."""
    e, g = np.asarray(case.expected[0], np.float64), np.asarray(got, np.float64)
    b = np.asarray(case.bounds[0], np.float64)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(e)
        off = finite & ~(np.abs(g - e) <= b) & ~((np.abs(e) < TINY32) & (np.abs(g) < TINY32))
        unmatched = ~finite & ~((np.isnan(e) & np.isnan(g)) | (e == g))
    return bool(np.any(off | unmatched))


def check(matrix, layer, fault, where):
    """The failing cases are exactly those where the fault shows; the failing cells lie among
    the cells `where(params)` names, and take every unit-regime one of them."""
    cases = fixture_cases(layer)
    predicted = {c.id for c in cases if shows(c, fault(c))}
    failing = {r["id"] for c in cells(matrix, layer) for r in c["case_results"]
               if r["status"] == "failed"}
    assert predicted and failing == predicted
    bad = [c for c in cells(matrix, layer) if c["status"] == "failed"]
    caught_where_it_shows(bad, [c for c in cells(matrix, layer) if where(c["params"])])


def test_dot_normalize_ignored(tmp_path):
    matrix = planted(tmp_path, "DotNormalizeIgnored", "Dot")
    check(matrix, "Dot",
          lambda c: reference.dot(*c.inputs, **dict(c.config, normalize=False)),
          lambda params: params["normalize"])


def test_average_computed_as_add(tmp_path):
    matrix = planted(tmp_path, "AverageAsAdd", "Average")
    check(matrix, "Average", lambda c: reference.add(*c.inputs), lambda params: True)


def test_subtract_reversed(tmp_path):
    matrix = planted(tmp_path, "SubtractReversed", "Subtract")
    check(matrix, "Subtract", lambda c: reference.subtract(*c.inputs[::-1]),
          lambda params: True)
