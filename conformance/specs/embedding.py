"""Specs of Embedding, and of masks consumed downstream: a Sequential model of Masking or
Embedding(mask_zero=True) followed by a recurrent layer, the first layer's emitted mask handed
to the second (the case format holds one layer per case; a Sequential is one layer in Keras,
built from its get_config()).

Bounds: a lookup moves data, so Embedding is exact (bound 0). In the Sequential, Masking and
Embedding are exact too, so the recurrent layer gets exact inputs and its bound is its own
spec's (conformance/specs/recurrent.py), given the mask its predecessor emitted.
"""
import dataclasses

import numpy as np

import reference
from conformance import tolerance
from conformance.case import Case
from conformance.regimes import special_positions
from conformance.spec import Expected, LayerSpec, Reject
from conformance.specs._common import daz_mask_divergence
from conformance.specs._engine_ops import BUILTIN_CLAMP_EVIDENCE, converter_constants
from conformance.specs._engines import BUILTIN
from conformance.specs.recurrent import GRU, LSTM, SIMPLE_RNN, _steps_mask
from reference.config import OutOfScope
from reference.sequential import sequential_calls

# The lookup moves data: a regime changes its result only through values an engine may mangle
# on the way (NaN, infinities, subnormals), and those are the table's.
LOOKUP_REGIMES = ("unit", "tiny", "special")


# Embedding ------------------------------------------------------------------------------------

def _embedding_make(params, rng):
    """Indices (batch, ...) of rank 1 to 3, batch 1-3, other axes 1-5. input_length (Keras 2)
    declares the axes after the batch one: an int for rank 2, else a list ending in None."""
    shape = (int(rng.integers(1, 4)), *(int(d) for d in rng.integers(1, 6, params["rank"] - 1)))
    config = {"input_dim": params["input_dim"], "output_dim": params["output_dim"],
              "mask_zero": params["mask_zero"]}
    if params["input_length"] == "int":
        config["input_length"] = shape[1]
    elif params["input_length"] == "list":
        config["input_length"] = [*shape[1:-1], None]
    return config, [shape]


def _embedding_valid(params):
    """input_length as Keras 2 takes it; the special regime needs a table of four elements or
    more, one for each special value."""
    return {None: True, "int": params["rank"] == 2, "list": params["rank"] >= 2}[
        params["input_length"]] and (params["regime"] != "special"
                                     or params["input_dim"] * params["output_dim"] >= 4)


def _embedding_weights(config, shapes):
    return [("embeddings", (config["input_dim"], config["output_dim"]))]


def _embedding_arrays(params, config, shapes, regime):
    """Indices of the params' dtype, uniform over the table, about 30% of them 0, and the last
    row's index (input_dim - 1) at least once; with mask_zero and a batch of 2 or more the
    first row is 0 everywhere (masked everywhere). The table is drawn in the case's regime:
    the lookup must return its NaN, infinities and subnormals exactly."""
    rng, n = regime.rng, config["input_dim"]
    x = rng.integers(0, n, size=shapes[0])
    x[rng.random(x.shape) < 0.3] = 0
    x[-1].flat[rng.integers(x[-1].size)] = n - 1
    if config["mask_zero"] and x.shape[0] > 1:
        x[0] = 0
    table = regime.values((n, config["output_dim"]))
    if regime.name == "special":
        read_specials(x[1:] if config["mask_zero"] and x.shape[0] > 1 else x, table, rng)
    return [x.astype(params["index_dtype"])], [table]


def read_specials(indices, table, rng, allowed=None):
    """In the special regime: some indices (among the `allowed` positions), in place, read a
    row of the table holding each special value (NaN, +inf, -inf, -0.0), so that the lookup
    must return each of them."""
    rows = [int(np.flatnonzero(where.any(axis=1))[0]) for where in special_positions(table)
            if where.any()]
    flat = indices.reshape(-1)
    free = np.flatnonzero(np.ones(flat.size, bool) if allowed is None else allowed.reshape(-1))
    spots = rng.choice(free, min(len(rows), free.size), replace=False)
    flat[spots] = rows[:len(spots)]


def _embedding_expect(case):
    x, = case.inputs
    return Expected([reference.embedding(x, *case.weights, **case.config, spec=case.spec)],
                    [tolerance.exact()],
                    mask=reference.embedding_mask(x, **case.config, spec=case.spec))


EMBEDDING = LayerSpec(
    layer="Embedding",
    domains={"input_dim": (1, 3, 50), "output_dim": (1, 4), "mask_zero": (False, True),
             "rank": (1, 2, 3), "index_dtype": ("int32", "int64"),
             "input_length": (None, "int", "list"), "regime": LOOKUP_REGIMES},
    # Keras 3 accepts input_length with a deprecation warning and drops it (not in its
    # get_config()): keras/src/layers/core/embedding.py, Embedding.__init__
    spec_values=(("input_length", "int", ("keras2",)), ("input_length", "list", ("keras2",))),
    valid=_embedding_valid, make=_embedding_make, weights=_embedding_weights,
    arrays=_embedding_arrays, expect=_embedding_expect,
    edge_cases=(
        # a one-row table: every index is 0, masked everywhere with mask_zero
        ({"input_dim": 1, "output_dim": 4, "mask_zero": True, "rank": 2,
          "index_dtype": "int32", "input_length": None, "regime": "unit"}, [(2, 5)]),
        # indices above 2048, where float16 holds only even integers: an engine carrying
        # indices in half precision reads other rows (4000, the last, is one float16 holds)
        ({"input_dim": 4001, "output_dim": 1, "mask_zero": False, "rank": 2,
          "index_dtype": "int64", "input_length": None, "regime": "unit"}, [(1, 64)]),
        # rows masked everywhere in a rank-3 input
        ({"input_dim": 3, "output_dim": 4, "mask_zero": True, "rank": 3,
          "index_dtype": "int32", "input_length": None, "regime": "special"}, [(3, 2, 2)])),
    rejects=(
        Reject({"input_dim": 0, "output_dim": 2}, ((1, 3),), "input_dim must be positive"),
        Reject({"input_dim": 3, "output_dim": 0}, ((1, 3),), "output_dim must be positive"),
        Reject({"input_dim": 3, "output_dim": 2}, ((1, 2),),
               "index input_dim, one past the table (TensorFlow's gather refuses it)",
               inputs=(np.array([[1, 3]], np.int32),)),
        Reject({"input_dim": 3, "output_dim": 2}, ((2, 1),),
               "an int64 index far past the table", inputs=(np.array([[0], [70]], np.int64),)),
        # Keras 3 reads -1 as the last row on every backend (its ops.take follows numpy);
        # the reference refuses it in both specs (README, Embedding)
        Reject({"input_dim": 3, "output_dim": 2}, ((1, 2),),
               "a negative index (tf_keras's gather refuses it)", keras_specs=("keras2",),
               inputs=(np.array([[-1, 1]], np.int32),))),
    # LiteRT: the converter writes a table's infinities as FLT_MAX
    divergences=(converter_constants(_embedding_expect),),
)


# A mask consumed downstream: Sequential([Masking or Embedding, SimpleRNN/GRU/LSTM]) ---------

RECURRENT_SPECS = {spec.layer: spec for spec in (SIMPLE_RNN, GRU, LSTM)}
# Layers that only move data: the next layer gets exact float32 inputs
EXACT_LAYERS = ("InputLayer", "Masking", "Embedding")


def _entry(class_name, config):
    """A layer as Sequential.get_config() lists it."""
    return {"module": "keras.layers", "class_name": class_name, "config": config,
            "registered_name": None}


def _sequential_make(params, rng):
    """Batch 2-3 (a row masked everywhere leaves another), 2-6 steps, 1-3 units. Masking(0.0)
    on 1-3 features, or Embedding(2-7 rows, 1-3 wide, mask_zero=True) on indices."""
    batch, steps = int(rng.integers(2, 4)), int(rng.integers(2, 7))
    if params["first"] == "Masking":
        first, shape = {"mask_value": 0.0}, (batch, steps, int(rng.integers(1, 4)))
    else:
        first = {"input_dim": int(rng.integers(2, 8)), "output_dim": int(rng.integers(1, 4)),
                 "mask_zero": True}
        shape = (batch, steps)
    rnn = {"units": int(rng.integers(1, 4)), "return_sequences": params["return_sequences"]}
    return {"name": "sequential",
            "layers": [_entry(params["first"], first), _entry(params["rnn"], rnn)]}, [shape]


def _sequential_arrays(params, config, shapes, regime):
    """The steps the params' mask kind masks (conformance/specs/recurrent.py) get index 0 or
    the value 0.0 in every feature; the other steps get indices 1.. (int32) or values of the
    regime (where the tiny regime draws zeros in every feature, a step is masked too: the mask
    is what the first layer emits). The embedding table is drawn in the regime, the recurrent
    weights N(0, 0.25)."""
    rng, shape = regime.rng, shapes[0]
    (_, first), (rnn_name, rnn) = ((e["class_name"], e["config"]) for e in config["layers"])
    keep = _steps_mask(params["mask"], shape[0], shape[1], rng)
    if params["first"] == "Embedding":
        x = rng.integers(1, first["input_dim"], size=shape)
        table = regime.values((first["input_dim"], first["output_dim"]))
        if regime.name == "special":            # rows 1.. only: index 0 is the masked step
            table[0] = regime.rng.standard_normal(first["output_dim"])
            read_specials(x, table, rng, allowed=keep)
        x[~keep] = 0
        x, weights = x.astype(np.int32), [table]
        features = first["output_dim"]
    else:
        x, weights = regime.values(shape), []
        x[~keep] = first["mask_value"]
        features = shape[-1]
    rnn_spec = RECURRENT_SPECS[rnn_name]
    weights += [regime.weights(s, rnn_spec.weight_scale)
                for _, s in rnn_spec.weights(rnn, [(*shape[:2], features)])]
    return [x], weights


def _last_layer_case(case, calls):
    """The model's last layer as a case of its own: the input and mask its predecessors hand
    it, its weights and config."""
    *before, last = calls
    inexact = [c.class_name for c in before if c.class_name not in EXACT_LAYERS]
    if inexact:
        raise OutOfScope(f"outside the scope: a Sequential with {inexact[0]} before its last "
                         f"layer (its rounding would pass into the next layer's bound)")
    if last.class_name not in RECURRENT_SPECS:
        raise OutOfScope(f"outside the scope: a Sequential ending in {last.class_name}")
    return Case(id=case.id, layer=last.class_name, spec=case.spec, params=case.params,
                config=last.config, inputs=[last.inputs], weights=last.weights,
                call_kwargs={} if last.mask is None else {"mask": last.mask})


def _sequential_expect(case):
    """The recurrent layer's spec gives the values and bounds, on what Masking or Embedding
    hands it (reference.sequential's layer calls); they are the model's reference output."""
    x = case.inputs[0]
    with np.errstate(invalid="ignore", over="ignore"):      # inf - inf in the special regime
        outputs = reference.sequential(x, *case.weights, **case.config, spec=case.spec)
        calls = sequential_calls(x, case.weights, case.config["layers"], case.spec)
        last = _last_layer_case(case, calls)
        expected = RECURRENT_SPECS[last.layer].expect(last)
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(outputs, expected.outputs))
    return Expected(expected.outputs, expected.bounds)


def _first_layer_mask(case, x):
    """The mask the model's Masking layer emits on x (None for an Embedding first)."""
    entry = case.config["layers"][0]
    if entry["class_name"] != "Masking":
        return None
    return reference.masking_mask(x, **entry["config"], spec=case.spec)


# An Embedding first: the converter writes its table's infinities as +-FLT_MAX
# (converter_constants), and TFLite's builtin kernels clamp every result after, so no infinity
# comes back in the recurrent layer: it computes numbers where the reference's inf gives NaN.
# XNNPACK (litert) overflows back to inf in float32 and is not covered (it gives NaN on
# Sequential-live-0000ebf7, as the reference does)
BUILTIN_TABLE_CLAMPED = dataclasses.replace(
    converter_constants(_sequential_expect), candidates=(BUILTIN,),
    reason="the TFLite converter writes an infinite Embedding row as +-FLT_MAX and TFLite's "
           "builtin kernels clamp every result to float32's finite range, so the recurrent "
           "layer after it reads finite numbers and gives numbers where the reference's "
           "inf gives NaN (inf - inf, 0 * inf)",
    evidence="Sequential([Embedding(4, 2, mask_zero=True), LSTM(3, return_sequences=True)]) "
             "with the table row 1 [inf, -inf] on indices [[1, 0, 0], [3, 2, 1]] "
             "(Sequential-live-0000ebf7, found by the live property test): litert-builtin "
             "gives 0 throughout batch 0 where the reference gives NaN, as the reference does "
             "on the table with +-3.4028235e38 for +-inf (this predicate's replay); litert "
             "gives NaN there. The table as stored: the Embedding row of converter_constants' "
             "evidence (Embedding-007); " + BUILTIN_CLAMP_EVIDENCE)


SEQUENTIAL = LayerSpec(
    layer="Sequential",
    domains={"first": ("Masking", "Embedding"), "rnn": tuple(RECURRENT_SPECS),
             "return_sequences": (False, True),
             "mask": ("right_padded", "scattered", "a_row_all_masked"),
             "regime": (*LOOKUP_REGIMES, "small")},         # the recurrent layer computes
    make=_sequential_make, arrays=_sequential_arrays, expect=_sequential_expect,
    # subnormal steps read as 0 by TensorFlow and XLA: Masking(0.0) masks them there
    divergences=(daz_mask_divergence(_first_layer_mask), BUILTIN_TABLE_CLAMPED),
)
