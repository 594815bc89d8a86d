"""A Sequential model: its layers' reference functions applied in turn, the mask each layer
emits handed to the next one, as Keras propagates masks (Masking or Embedding(mask_zero=True)
followed by a recurrent layer, for one).

config: `keras.Sequential(...).get_config()`, {"name": ..., "layers": [{"class_name": ...,
"config": {...}, ...}, ...]}, each layer's config as that layer's function takes it.
weights: `model.get_weights()`, each layer's weights (in its get_weights() order), layer
after layer.
"""
from typing import NamedTuple

from reference.config import OutOfScope, takes_config
from reference.core import input_layer, masking, masking_mask
from reference.embedding import embedding, embedding_mask
from reference.recurrent import gru, lstm, simple_rnn

RECURRENT = {"SimpleRNN": simple_rnn, "GRU": gru, "LSTM": lstm}


class LayerCall(NamedTuple):
    """One layer's call inside the model: what it was given and what it gave."""
    class_name: str
    config: dict
    inputs: object
    weights: list
    mask: object            # the mask handed to the layer (None: no mask)
    outputs: list
    emitted_mask: object    # the mask it hands to the next layer


def _weight_count(class_name, config):
    if class_name == "Embedding":
        return 1
    if class_name in RECURRENT:
        return 3 if config.get("use_bias", True) else 2
    return 0


def _call(class_name, x, weights, mask, config, spec):
    """(outputs, emitted mask) of one layer. A recurrent layer takes the mask and passes it on
    with its sequence (return_sequences); Masking and Embedding make a new one."""
    if class_name == "InputLayer":
        return [input_layer(x, **config)], mask
    if class_name == "Masking":
        return [masking(x, **config, spec=spec)], masking_mask(x, **config, spec=spec)
    if class_name == "Embedding":
        return ([embedding(x, *weights, **config, spec=spec)],
                embedding_mask(x, **config, spec=spec))
    if class_name in RECURRENT:
        outputs = RECURRENT[class_name](x, *weights, mask=mask, **config, spec=spec)
        return outputs, mask if config.get("return_sequences") else None
    raise OutOfScope(f"outside the scope: a Sequential holding a {class_name} layer")


def sequential_calls(x, weights, layers, spec="keras3"):
    """The model's layer calls in turn (LayerCall): weights split by layer, the mask each layer
    emits handed to the next."""
    weights, mask, calls = list(weights), None, []
    for entry in layers:
        class_name, config = entry["class_name"], entry["config"]
        count = _weight_count(class_name, config)
        own, weights = weights[:count], weights[count:]
        if calls and len(calls[-1].outputs) != 1:
            raise ValueError(f"{calls[-1].class_name} returns {len(calls[-1].outputs)} "
                             f"outputs; a Sequential layer must return one")
        outputs, emitted = _call(class_name, x, own, mask, config, spec)
        calls.append(LayerCall(class_name, config, x, own, mask, outputs, emitted))
        x, mask = outputs[0], emitted
    if weights:
        raise ValueError(f"{len(weights)} weights left over after the model's layers")
    return calls


@takes_config
def sequential(x, *weights, layers, build_input_shape=None, spec="keras3"):
    """y = the last layer's outputs, each layer applied to the previous one's output with the
    mask it emitted (sequential_calls). build_input_shape only builds the model."""
    return sequential_calls(x, weights, layers, spec)[-1].outputs
