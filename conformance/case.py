"""What one case is, and what one case's outcome is."""
import hashlib
from dataclasses import dataclass, field, replace

import numpy as np

KERAS_SPECS = ("keras3", "keras2")
STATUSES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


@dataclass
class Case:
    """One layer call with everything needed to run it and to judge the result.

    config is the layer's constructor arguments under get_config() names; inputs and weights
    are float32-exact arrays (weights in get_weights() order); expected and bounds are float64,
    one per output: an output passes when |got - expected| <= bound in every element. A
    gradient case also holds a cotangent, and its expected gradients in observed.
    """
    id: str
    layer: str
    spec: str
    params: dict
    config: dict
    inputs: list
    weights: list
    call_kwargs: dict = field(default_factory=dict)
    expected: list = None
    bounds: list = None
    expected_mask: np.ndarray = None
    expected_dtypes: list = None
    check: dict = None          # a statistical check (conformance/statistics.py) in place of
                                # expected values, for random outputs (Dropout in training)
    observed: dict = None       # what the layer leaves after the call, judged where the
                                # candidate has observe(): name -> (expected, bounds), as in
                                # Expected.observed ("weights" after the call, "losses")
    cotangent: list = None      # a gradient case's cotangent u: one float32-exact array per
                                # output, each of its output's shape. The candidate gives the
                                # gradients of sum(u * outputs) (observe()'s "gradients"), the
                                # reference's VJPs are observed["gradients"]; for_candidate()
                                # keeps it: the candidate needs it
    overflow: list = None       # per output, the value an element may take instead where a
                                # float32 sum inside it can overflow part way (the infinity of
                                # that sum's sign, through what follows); the expected value
                                # elsewhere; None where no sum can (compare.py)
    seed: int = None            # the seed its shapes, inputs and weights were drawn from
    out_of_scope: str = None    # why the reference has no answer: the config asks for
                                # something the suite does not implement (reference/config.py)
    oracle: str = None          # the Keras that vouched for the case (conformance/fixtures.py)
    derived_from: str = None    # a full-config case: the id of the case whose compact config
                                # the oracle's get_config() expanded
    fallback_reason: str = None  # why the spec's own oracle (tf.keras, tf_keras) did not
                                 # vouch: the error TensorFlow gave, or its known divergence
    oracle_via: str = None      # where the oracle could not run the layer itself, the call it
                                # ran instead (the spec's oracle_equivalent) and why

    def for_candidate(self):
        """The case without its answers: what a candidate is given."""
        return replace(self, expected=None, bounds=None, expected_mask=None,
                       expected_dtypes=None, check=None, observed=None, out_of_scope=None,
                       overflow=None)


@dataclass
class Outcome:
    """The result of one case: a status from STATUSES, a message a person reads, and the
    worst element's error/bound ratio (<= 1 passes; None when nothing was compared)."""
    status: str
    message: str = ""
    error_ratio: float = None
    worst: dict = None

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")


def seed_of(text):
    """A stable 32-bit seed from a string (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
