"""Planted faults in the common parameters (conformance/contract.py): the reference candidate
with one fault each in an initializer, a regularizer, a constraint or the Keras 1 table. The
suite must catch each in exactly the cells `predicted` names."""
import math
from contextlib import contextmanager
from unittest import mock

import numpy as np

from conformance import contract, specs
from conformance.candidates import ReferenceCandidate
from reference import constraints, regularizers


class PlantedContract(ReferenceCandidate):
    """The reference candidate, whose observe() (or run(), for a Keras 1 config) is wrong in
    one part of the contract."""

    def __init__(self):
        super().__init__("keras3")
        self.name = f"planted-{type(self).__name__}"


class InitializerFault(PlantedContract):
    """A correct draw except for the weights whose distribution `wrong(dist)` rewrites (None:
    not this fault's)."""

    def observe(self, case):
        seen = super().observe(case)
        if case.params.get("contract") != "initializer":
            return seen
        check = contract.expect(specs.get(case.layer), case).observed["weights"]
        rng = np.random.default_rng(7)
        for k, weight in enumerate(check["weights"]):
            faulty = self.wrong(weight["distribution"])
            if faulty is not None:
                seen["weights"][k] = self.draw(faulty, weight["distribution"],
                                               tuple(weight["shape"]), rng)
        return seen

    def draw(self, faulty, correct, shape, rng):
        from reference.initializers import sample
        return sample(faulty, shape, rng).astype(np.float32)

    @classmethod
    def hits(cls, weight):
        """Whether the fault changes this weight of a check (and the weight is large enough
        for the check to see it: statistics_init.min_elements)."""
        return cls.wrong(weight["distribution"]) is not None


def _glorot_uniform(dist):
    return (dist.get("kind") == "uniform" and dist.get("mode") == "fan_avg"
            and dist.get("scale") == 1.0)


class GlorotUniformFanInOnly(InitializerFault):
    """glorot_uniform's limit from fan_in alone: sqrt(3 / fan_in), not sqrt(6 / (fan_in +
    fan_out)) (visible wherever fan_in != fan_out)."""

    @staticmethod
    def wrong(dist):
        if not _glorot_uniform(dist) or dist["fan_in"] == dist["fan_out"]:
            return None
        limit = math.sqrt(3.0 / dist["fan_in"])
        return {**dist, "low": -limit, "high": limit}


class HeNormalWithoutTruncationCorrection(InitializerFault):
    """he_normal's stddev sqrt(2 / fan_in) used as the truncated normal's own stddev, without
    dividing by .87962566103423978 (the stddev of N(0, 1) truncated to [-2, 2])."""

    @staticmethod
    def wrong(dist):
        if not (dist.get("kind") == "truncated_normal" and dist.get("mode") == "fan_in"
                and dist.get("scale") == 2.0):
            return None
        stddev = math.sqrt(2.0 / dist["fan_in"])
        return {**dist, "stddev": stddev, "low": -2 * stddev, "high": 2 * stddev}


class OrthogonalNotOrthogonalWhenNonSquare(InitializerFault):
    """orthogonal of a non-square shape: a scaled normal matrix, not orthogonalised."""

    @staticmethod
    def wrong(dist):
        if dist.get("kind") != "orthogonal" or dist["rows"] == dist["cols"]:
            return None
        return {"kind": "normal", "mean": 0.0,
                "stddev": dist["gain"] / math.sqrt(max(dist["rows"], dist["cols"]))}


@contextmanager
def _factors(wrong):
    """reference.regularizers.factors with `wrong` applied to its answer."""
    right = regularizers.factors
    with mock.patch.object(regularizers, "factors",
                           lambda identifier, spec="keras3": wrong(identifier,
                                                                   right(identifier, spec))):
        yield


class RegularizerFault(PlantedContract):
    def observe(self, case):
        seen = super().observe(case)
        if case.params.get("contract") == "regularizer":
            with _factors(self.wrong):
                seen["losses"] = contract.expect(specs.get(case.layer), case).observed[
                    "losses"][0]
        return seen


class L2WithoutItsDefaultFactor(RegularizerFault):
    """"l2" by name sums w^2 with factor 1, not its default 0.01."""

    @staticmethod
    def wrong(identifier, factors):
        return (0.0, 1.0) if identifier == "l2" else factors


class L2WithAnExtraHalf(RegularizerFault):
    """every l2 term halved: l2 * sum(w^2) / 2 (the gradient's convention, not the loss's)."""

    @staticmethod
    def wrong(identifier, factors):
        return None if factors is None else (factors[0], factors[1] / 2)


class ConstraintFault(PlantedContract):
    """The reference's projections, except that of the constraint class `constraint`, which
    `faulty(w, its full config)` computes."""
    constraint = None

    def observe(self, case):
        seen = super().observe(case)
        if case.params.get("contract") == "constraint":
            with mock.patch.object(constraints, "project", self.project):
                seen["constrained"] = contract.expect(specs.get(case.layer), case).observed[
                    "constrained"][0]
        return seen

    def project(self, w, identifier):
        resolved = constraints.resolve(identifier)
        if resolved is None or resolved[0] != self.constraint:
            return _project(w, identifier)
        return self.faulty(np.asarray(w, np.float64), resolved[1])


_project = constraints.project


class MaxNormOverTheWrongAxis(ConstraintFault):
    """max_norm's norms taken over the last axis, whatever `axis` says."""
    constraint = "MaxNorm"

    @staticmethod
    def faulty(w, config):
        return _project(w, {"class_name": "MaxNorm", "config": {**config, "axis": w.ndim - 1}})


class UnitNormDividingByNormPlusOne(ConstraintFault):
    """unit_norm as w / (norm + 1)."""
    constraint = "UnitNorm"

    @staticmethod
    def faulty(w, config):
        return w / (constraints.norms(w, config["axis"]) + 1.0)


class Keras1SameAsValid(PlantedContract):
    """A Keras 1 reader whose table maps border_mode "same" to "valid"."""

    def run(self, case):
        if case.params.get("contract") == "keras1" and case.config.get("border_mode") == "same":
            case = type(case)(**{**case.__dict__,
                                 "config": {**case.config, "border_mode": "valid"}})
        return super().run(case)
