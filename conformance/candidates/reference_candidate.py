"""The reference itself as a candidate: a check of the harness and of the fixtures."""
from conformance import specs


class ReferenceCandidate:
    device = "cpu"

    def __init__(self, spec="keras3"):
        self.name = "reference" if spec == "keras3" else f"reference-{spec}"
        self.spec = spec

    @property
    def versions(self):
        import numpy
        return {"numpy": numpy.__version__}

    def run(self, case):
        return specs.get(case.layer).expect(case).outputs

    def compute_mask(self, case):
        return specs.get(case.layer).expect(case).mask
