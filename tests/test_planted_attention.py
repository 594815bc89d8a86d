"""Each planted MultiHeadAttention fault (tests/planted_attention.py) is caught in exactly the
fixture cases predicted from each case's data and bound, and nowhere else.

KC_FIXTURES_DIR names the fixture set to run them on (default: the shipped one), for a set
regenerated but not yet committed."""
import numpy as np
import pytest

from conformance.compare import compare_case
from conformance.specs.attention import _stages
from reference.attention import keras3_fused
from tests.planted_attention import shifted_causal, unscaled
from tests.suite_runner import fixture_cases, ids_with, layers_with, run_golden

CAUGHT = ("failed", "error")
LAYER = "MultiHeadAttention"


def caught(tmp_path, name):
    matrix = run_golden(tmp_path, f"tests.planted_attention:{name}", LAYER)
    assert layers_with(matrix, (*CAUGHT, "xpassed")) in ([], [LAYER])
    return ids_with(matrix, LAYER, CAUGHT)


def predicted(fault):
    """The cases whose answer from `fault` fails (compare.py's rules: any output off its
    bound, NaN where none is expected, ...)."""
    return {c.id for c in fixture_cases(LAYER) if compare_case(c, fault(c)).status == "failed"}


def several_keys(case):
    """Whether some query position attends to two keys or more (a softmax of one logit is
    1, whatever its scale)."""
    mask = _stages(case)["mask"]
    return bool(np.any(np.sum(mask, axis=-1) > 1))


def mask_moves(case, shift):
    """Whether the causal mask j <= i + shift changes which keys some query position
    attends to, the case's attention mask applied. Where Keras 3 fuses the attention
    (keras3_fused), a position that sees no key attends to all of them alike."""
    if not case.params["causal"]:
        return False
    t, s = np.shape(case.inputs[0])[1], np.shape(case.call_kwargs["value"])[1]
    given = case.call_kwargs.get("attention_mask")
    given = np.ones((1, t, s), bool) if given is None else np.asarray(given, bool)
    rows, cols = np.arange(t)[:, None], np.arange(s)[None, :]
    fused = keras3_fused(np.ndim(case.inputs[0]), case.config.get("dropout", 0.0),
                         case.call_kwargs.get("return_attention_scores", False))

    def attended(mask):
        return mask | (fused & ~mask.any(axis=-1, keepdims=True))
    return bool(np.any(attended(given & (cols <= rows))
                       != attended(given & (cols <= rows + shift))))


# regimes whose values make any such change visible: not large or offset (their scores
# saturate the softmax, so a key more or less, or a scale, may move no weight), long (its
# constant data makes every key alike), tiny (outputs within the absolute allowance of the
# subnormals) or special (NaN across the rows it touches)
PLAIN = ("unit", "small", "ties")


def test_scores_without_the_scale(tmp_path):
    """Caught exactly where q . k in place of q . k / sqrt(key_dim) moves an output beyond
    its bound: never with key_dim 1 (the scale is 1), and in every plain-regime case with
    key_dim 3 where some query position sees several keys."""
    cases = fixture_cases(LAYER)
    expected = predicted(unscaled)
    assert expected and caught(tmp_path, "UnscaledScores") == expected
    assert not expected & {c.id for c in cases if c.config["key_dim"] == 1}
    plain = {c.id for c in cases if c.params["regime"] in PLAIN and c.config["key_dim"] == 3
             and several_keys(c)}
    assert plain and plain <= expected


@pytest.mark.parametrize("name, shift", [("CausalSeesNext", 1), ("CausalSkipsSelf", -1)])
def test_causal_mask_shifted_by_one(tmp_path, name, shift):
    """Caught exactly where the mask j <= i + shift in place of j <= i moves an output beyond
    its bound: only in cases with use_causal_mask where it changes which keys a query
    position sees, and in every such plain-regime case."""
    cases = fixture_cases(LAYER)
    expected = predicted(lambda c: shifted_causal(c, shift))
    assert expected and caught(tmp_path, name) == expected
    moved = {c.id for c in cases if mask_moves(c, shift)}
    assert expected <= moved
    plain = {c.id for c in cases if c.id in moved and c.params["regime"] in PLAIN}
    assert plain and plain <= expected
