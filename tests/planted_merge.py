"""Planted faulty candidates for the merge layers: the reference with one fault each
(tests/planted.py has the others)."""
import reference
from tests.planted import Planted


class DotNormalizeIgnored(Planted):
    """Dot(normalize=True) takes the plain dot product: no l2 normalisation, no cosine."""
    layer = "Dot"

    def faulty(self, case):
        return [reference.dot(*case.inputs, **dict(case.config, normalize=False))]


class AverageAsAdd(Planted):
    """Average returns the sum of its inputs, never divided by their number."""
    layer = "Average"

    def faulty(self, case):
        return [reference.add(*case.inputs)]


class SubtractReversed(Planted):
    """Subtract computes inputs[1] - inputs[0]."""
    layer = "Subtract"

    def faulty(self, case):
        a, b = case.inputs
        return [reference.subtract(b, a)]
