"""The layer-spec type: everything the suite knows about one layer, in one place."""
from dataclasses import dataclass
from typing import Callable

from conformance.case import KERAS_SPECS


@dataclass(frozen=True)
class Expected:
    """What the reference says a case must give: float64 outputs, a bound per element (or a
    scalar per output), and the mask the layer emits when it emits one."""
    outputs: list
    bounds: list
    mask: object = None
    dtypes: list = None
    check: dict = None          # random outputs: a statistical check instead of values
    observed: dict = None       # what a candidate's observe() must see after the call:
                                # {"weights": (arrays, bounds), "losses": (values, bounds)}
    overflow: list = None       # per output, where a float32 sum inside an element can
                                # overflow part way (tolerance.overflow_sides): the value the
                                # element then takes, admitted beside the bound; None: nowhere


@dataclass(frozen=True)
class Reject:
    """A config Keras refuses; the reference must refuse it too, with ValueError.
    keras_specs: where Keras 2 and 3 differ (tf_keras builds Dense(units=0)), the specs whose
    Keras refuses it."""
    config: dict
    input_shapes: tuple
    reason: str
    keras_specs: tuple = KERAS_SPECS
    call_kwargs: dict = None
    inputs: tuple = None        # the input arrays, where zeros won't show the refusal (an
                                # index out of range): input_shapes are then theirs


@dataclass(frozen=True)
class Divergence:
    """A known, examined difference between a candidate and the reference.

    `when(case)` says which cases it covers; `evidence` points at what shows the candidate,
    not the reference, is off (an upstream issue, a source line, a computed example).
    `equivalent(case)` -> (case, how), where given: the same computation written as a call
    the diverging Keras computes right, which an oracle with this divergence runs instead to
    vouch for the case (conformance/oracles.py oracle_case). `contract`: a divergence in the
    common parameters (conformance/contract.py), the only kind consulted for an initializer
    or Keras 1 case.
    """
    candidates: tuple
    when: Callable
    reason: str
    evidence: str
    equivalent: Callable = None
    contract: bool = False


def no_weights(config, input_shapes):
    return []


def always(params):
    return True


@dataclass(frozen=True)
class LayerSpec:
    """One Keras layer as the suite knows it.

    layer:     the Keras class name ("Conv1D").
    domains:   parameter -> the values every fixture set must reach (the report's axes).
    make:      (params, rng) -> (config, input_shapes): a valid layer config under
               get_config() names and the shapes of its inputs, batch axis included.
    expect:    case -> Expected, from the reference functions and the tolerance model.
    weights:   (config, input_shapes) -> [(name, shape)] in get_weights() order.
    inputs:    (config, input_shapes, regime) -> input arrays, when the regime's plain draws
               (regime.values(shape), conformance/regimes.py) won't do.
    arrays:    (params, config, input_shapes, regime) -> (inputs, weights), in place of `inputs`
               and the plain weight draws, where the arrays follow the params (integer indices
               of a dtype) or the weights must carry the regime (a lookup table of NaN and inf).
    valid:     params -> bool, for combinations Keras forbids (strides > 1 with dilation > 1);
               a deterministic function of the params it reads, which the covering hands
               it as a read-only Mapping (conformance/validity.py).
    call_kwargs: (params, input_shapes, rng) -> keyword arguments of the call: training=...,
               or arrays such as a mask (drawn from rng after the inputs and weights).
    rejects:   configs Keras refuses; edge_cases: (params, input_shapes or None) pairs added to
               the covering set, or (params, input_shapes, keras_specs) for cases only some
               specs accept; divergences: known candidate differences with their evidence.
    spec_values: (param, value, keras_specs) for a domain value only those Keras specs accept
               (tf_keras refuses Conv2DTranspose's dilation_rate (1, 2)); domains_for() drops it
               from the others.
    oracle_equivalent: case -> (case, how): the same computation as a call of a layer that an
               oracle can run, for an oracle that cannot run the case itself (its supports()
               gives a reason: tf_keras runs CuDNNGRU on a GPU only, and on a CPU it runs
               GRU(reset_after=True) with the weights mapped instead). `how` names that layer
               and the mapping; the fixture records it as "oracle_via" (conformance/fixtures.py).
    oracle_gradients: (case, gradients) -> gradients: a gradient twin's gradients as the
               oracle_equivalent's layer gives them, carried to the case's own weights' layout
               (CuDNN: reference.backward_cudnn.cudnn_weights_vjp); None where the layouts agree.
    windowed:  whether an output reads only part of the input (a convolution's or a pool's
               window, a crop): a special-regime case must then put each special value in
               some window (conformance/cases.py, special_gaps).
    Every spec's domains hold "regime" (conformance/regimes.py): the input regimes that can
    change its result.
    """
    layer: str
    domains: dict
    make: Callable
    expect: Callable
    weights: Callable = no_weights
    inputs: Callable = None
    arrays: Callable = None
    valid: Callable = always
    call_kwargs: Callable = None
    rejects: tuple = ()
    edge_cases: tuple = ()
    divergences: tuple = ()
    keras_specs: tuple = KERAS_SPECS
    weight_scale: float = 0.5
    spec_values: tuple = ()
    oracle_equivalent: Callable = None
    oracle_gradients: Callable = None
    windowed: bool = False

    def domains_for(self, keras_spec):
        """The domains, without the values that `keras_spec` refuses (spec_values)."""
        return {name: tuple(v for v in values if not any(
                    name == p and v == value and keras_spec not in specs
                    for p, value, specs in self.spec_values))
                for name, values in self.domains.items()}

    def divergence_for(self, candidate_name, case):
        """The known divergence covering this candidate and case, if any. An initializer
        case (no output judged) or a Keras 1 config is covered by contract divergences only:
        the others are about outputs of configs in current names."""
        of_contract = case.params.get("contract") in ("initializer", "keras1")
        for d in self.divergences:
            if of_contract and not d.contract:
                continue
            if candidate_name in d.candidates and self._covers(d, case):
                return d
        return None

    def _covers(self, divergence, case):
        """divergence.when(case); a predicate written over the spec's parameters that a
        model's case (conformance/models.py: its parameters are its layer and regime) lacks
        covers nothing there."""
        try:
            return divergence.when(case)
        except KeyError:
            if "model_layer" in case.params:
                return False
            raise
