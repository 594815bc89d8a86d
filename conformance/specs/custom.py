"""Spec of the seeds' custom layer MyLayer (conformance/custom_layer.py runs it as the seed
writes it; reference/custom.py is what it computes).

What a case checks: the output, K.dot(x, kernel), within the sum bound of `features` products;
that build() made exactly one weight, trainable, of shape (input_shape[1], output_dim) (the
Keras candidates set the case's kernel through the layer's trainable_weights, which raises
on another count, shape or a weight that is not trainable: custom_layer.set_trainable_weights);
and, in the oracle tests, that compute_output_shape agrees with the real output and the
reference. A candidate with no Layer API answers supports(case) with its reason.
"""
import numpy as np

import reference
from conformance import tolerance
from conformance.regimes import LONG_TERMS, REGIMES
from conformance.spec import Expected, LayerSpec, Reject
from conformance.specs._engine_ops import BUILTIN_CLAMPED_OUTPUT


def _make(params, rng):
    """(batch, features) inputs; the long regime is one long dot product per output."""
    if params["features"] == "long":
        return {"output_dim": params["output_dim"]}, [
            (1, int(rng.integers(LONG_TERMS[0], LONG_TERMS[1] + 1)))]
    return {"output_dim": params["output_dim"]}, [(int(rng.integers(1, 4)), params["features"])]


def _expect(case):
    """y = x · kernel, a float32 sum of `features` products per element (tolerance.sum_bound
    on |x| · |kernel|)."""
    x, = case.inputs
    with np.errstate(invalid="ignore", over="ignore"):
        y = reference.my_layer(x, *case.weights, **case.config)
        magnitude = reference.my_layer(np.abs(x), *[np.abs(w) for w in case.weights],
                                       **case.config)
        return Expected([y], [tolerance.sum_bound(magnitude, np.shape(x)[-1], y, products=True)])


MY_LAYER = LayerSpec(
    layer="MyLayer",
    domains={"output_dim": (1, 3, 8), "features": (1, 5, 16, "long"), "regime": REGIMES},
    # the long regime: one long dot product (output_dim 1 keeps the kernel small)
    valid=lambda p: (p["features"] == "long") == (p["regime"] == "long")
    and (p["regime"] != "long" or p["output_dim"] == 1),
    make=_make,
    weights=lambda config, shapes: [("kernel", (shapes[0][1], config["output_dim"]))],
    expect=_expect,
    edge_cases=(({"output_dim": 1, "features": 1, "regime": "unit"}, [(1, 1)]),
                ({"output_dim": 8, "features": 256, "regime": "unit"}, [(2, 256)])),
    # build() reads input_shape[1] as the features: on (batch, time, features) the kernel
    # (time, output_dim) does not fit K.dot's last axis (TensorFlow: InvalidArgumentError)
    rejects=(Reject({"output_dim": 2}, ((2, 3, 4),), "a rank-3 input: the kernel is built on "
                                                     "input_shape[1], not the last axis"),),
    divergences=(BUILTIN_CLAMPED_OUTPUT,),      # FULLY_CONNECTED clamps an infinite output
)
