"""Each planted Embedding fault (tests/planted_embedding.py), and a Sequential that drops the
mask between its layers, is caught in exactly the fixture cases predicted from the case's
data, and nowhere else.

KC_FIXTURES_DIR names the fixture set to run them on (default: the shipped one), for a set
regenerated but not yet committed."""

import numpy as np

from conformance.tolerance import TINY32
from reference.sequential import sequential_calls
from tests.suite_runner import cells, fixture_cases, ids_with, layers_with, run_golden

LAYERS = ("Embedding", "Sequential")


def planted(tmp_path, name):
    return run_golden(tmp_path, f"tests.planted_embedding:{name}", *LAYERS)


def differs(a, b):
    """Whether exact data a and b differ where the comparison can see it: not the same NaN,
    infinity or number, and not both below float32's smallest normal (compare.py)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    with np.errstate(invalid="ignore"):
        same = (a == b) | (np.isnan(a) & np.isnan(b)) | ((abs(a) < TINY32) & (abs(b) < TINY32))
    return bool(np.any(~same))


def rows_read_instead(case, indices):
    """Whether reading the table at `indices` instead of the case's indices shows."""
    table = np.asarray(case.weights[0], np.float64)
    return differs(table[indices], table[np.asarray(case.inputs[0], np.int64)])


def test_embedding_mask_inverted(tmp_path):
    """Every mask_zero case fails (the inverted mask differs everywhere); no other."""
    matrix = planted(tmp_path, "EmbeddingMaskInverted")
    assert layers_with(matrix, ("failed", "error", "xpassed")) == ["Embedding"]
    predicted = {c.id for c in fixture_cases("Embedding") if c.config["mask_zero"]}
    assert predicted and ids_with(matrix, "Embedding") == predicted
    messages = [r["message"] for c in cells(matrix, "Embedding") for r in c["case_results"]
                if r["status"] == "failed"]
    assert all("emitted mask differs" in m for m in messages)


def test_embedding_index_read_from_one(tmp_path):
    """Fails exactly where some row i - 1 differs from row i (never with a one-row table)."""
    matrix = planted(tmp_path, "EmbeddingIndexFromOne")
    assert layers_with(matrix, ("failed", "error", "xpassed")) == ["Embedding"]
    cases = fixture_cases("Embedding")
    predicted = {c.id for c in cases
                 if rows_read_instead(c, np.asarray(c.inputs[0], np.int64) - 1)}
    assert predicted and ids_with(matrix, "Embedding") == predicted
    assert not predicted & {c.id for c in cases if c.config["input_dim"] == 1}


def test_embedding_indices_carried_in_float16(tmp_path):
    """Fails exactly in the cases holding an index float16 cannot hold (above 2048) whose
    row differs from the one it rounds to: the large-table edge case."""
    matrix = planted(tmp_path, "EmbeddingIndicesInFloat16")
    assert layers_with(matrix, ("failed", "error", "xpassed")) == ["Embedding"]
    predicted = {c.id for c in fixture_cases("Embedding")
                 if rows_read_instead(c, np.asarray(c.inputs[0]).astype(np.float16)
                                      .astype(np.int64))}
    assert predicted and ids_with(matrix, "Embedding") == predicted


def test_sequential_dropping_the_mask(tmp_path):
    """Fails only where the first layer masks a step, and in every such unit-regime case (a
    NaN or infinity elsewhere in the special regime can hide it)."""
    matrix = planted(tmp_path, "SequentialDropsTheMask")
    assert layers_with(matrix, ("failed", "error", "xpassed")) == ["Sequential"]
    bad = ids_with(matrix, "Sequential")
    masked = [c for c in fixture_cases("Sequential") if not first_layer_mask(c).all()]
    unit = {c.id for c in masked if c.params["regime"] == "unit"}
    assert bad <= {c.id for c in masked} and unit and unit <= bad


def first_layer_mask(case):
    """The mask the model's first layer (Masking or Embedding) emits."""
    return sequential_calls(case.inputs[0], case.weights, case.config["layers"],
                            case.spec)[0].emitted_mask
