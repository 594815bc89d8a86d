"""The reference itself as a candidate: a check of the harness and of the fixtures."""
import numpy as np

from conformance import backward, contract, specs, statistics
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
        expected = self._expect(case)
        if expected.check is not None:
            rng = np.random.default_rng(seed_of(case.id))
            return statistics.sample(expected.check, case.inputs, rng)
        dtypes = expected.dtypes or [None] * len(expected.outputs)
        return [np.asarray(y, dtype) for y, dtype in zip(expected.outputs, dtypes)]

    def observe(self, case):
        """run(case), and the reference's values of what the layer leaves after the call
        (the weights, the losses, the constrained weights, the round trip's outputs: the
        Expected.observed of conformance/contract.py), and a correct draw, seeded by the case
        id, where that is a statistical check (an initializer's weights)."""
        observed = self._expect(case).observed or {}
        rng = np.random.default_rng(seed_of(case.id))
        return {"outputs": self.run(case),
                **{name: contract.draw(entry, rng) if isinstance(entry, dict)
                   else [np.asarray(v) for v in entry[0]] for name, entry in observed.items()
                   if name != "round_trip"}}      # the reference has no config of its own

    def compute_mask(self, case):
        return self._expect(case).mask

    def _expect(self, case):
        """The reference's Expected for `case`, computed once for the one case that run(),
        observe() and compute_mask() answer together (the last case asked about)."""
        if getattr(self, "_last", (None,))[0] is not case:
            self._last = (case, backward.expect(specs.get(case.layer), case))
        return self._last[1]
