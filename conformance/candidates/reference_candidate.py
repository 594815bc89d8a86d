"""The reference itself as a candidate: a check of the harness and of the fixtures."""
import numpy as np

from conformance import specs, statistics
from conformance.cases import seed_of


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
        """The reference's outputs, in the dtype the layer must return (float64 otherwise);
        for random outputs (Dropout in training), a correct draw seeded by the case id."""
        expected = specs.get(case.layer).expect(case)
        if expected.check is not None:
            rng = np.random.default_rng(seed_of(case.id))
            return statistics.sample(expected.check, case.inputs, rng)
        dtypes = expected.dtypes or [None] * len(expected.outputs)
        return [np.asarray(y, dtype) for y, dtype in zip(expected.outputs, dtypes)]

    def observe(self, case):
        """run(case), and the reference's values of what the layer leaves after the call
        (the weights, the losses: the spec's Expected.observed)."""
        observed = specs.get(case.layer).expect(case).observed or {}
        return {"outputs": self.run(case),
                **{name: [np.asarray(v) for v in values] for name, (values, _) in observed.items()}}

    def compute_mask(self, case):
        return specs.get(case.layer).expect(case).mask
