"""conformance.cases.seeded_once hands Hypothesis the seed and database key it would derive
from a property test's source itself, computed once a process: the same examples."""
import pytest
from hypothesis import given, settings, strategies as st

from conformance.cases import seeded_once


def _drawn(wrap):
    """The examples a property test defined here draws, run through wrap."""
    seen = []

    @settings(max_examples=20)
    @given(st.integers(0, 2 ** 32 - 1), st.lists(st.floats(allow_nan=False), max_size=3))
    def inner(n, xs):
        seen.append((n, tuple(xs)))

    wrap(inner)()
    return seen


def test_seeded_once_draws_the_examples_hypothesis_would():
    if not settings.default.derandomize:
        pytest.skip("only a derandomizing profile (ci, the default) gets a seed from the source")
    plain = _drawn(lambda test: test)
    assert len(set(plain)) > 10
    assert _drawn(seeded_once) == plain
    assert _drawn(seeded_once) == plain          # the second time from the kept digest
