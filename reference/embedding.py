"""Embedding: a table lookup, and the mask it emits with mask_zero.

Weights, as in `layer.get_weights()`: embeddings (input_dim, output_dim); row i is the vector
of index i.
"""
import numpy as np

from reference.config import takes_config


def _indices(x, input_dim):
    """x as integer indices, each in [0, input_dim). Keras casts inputs of any other dtype to
    int32 (truncating toward zero); so does this. An index outside the table is refused: Keras
    documents nonnegative indices below input_dim, and gives no one answer for the others
    (TensorFlow and torch raise; Keras 3 reads -1 as the last row; JAX returns NaN)."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.integer):
        with np.errstate(invalid="ignore"):
            x = x.astype(np.int32)
    outside = (x < 0) | (x >= input_dim)
    if np.any(outside):
        where = tuple(int(i) for i in np.argwhere(outside)[0])
        raise ValueError(f"Embedding index {int(x[where])} at {where} is outside [0, "
                         f"{input_dim}): indices must be nonnegative and below input_dim")
    return x


def _check_input_length(shape, input_length):
    """Keras 2's input_length: the length (an int) or lengths (a list, None for any) of the
    axes after the batch axis, as tf_keras's compute_output_shape checks them."""
    lengths = list(input_length) if isinstance(input_length, (list, tuple)) else [input_length]
    if len(lengths) != len(shape) - 1 or any(
            d is not None and d != n for d, n in zip(lengths, shape[1:])):
        raise ValueError(f"input_length {input_length!r} does not fit an input of shape {shape}")


@takes_config
def embedding(x, embeddings, *, input_dim, output_dim, mask_zero=False, input_length=None,
              spec="keras3"):
    """y[b, ..., :] = embeddings[x[b, ...], :]

    x: integer indices (batch, ...) of any rank, each in [0, input_dim); embeddings:
    (input_dim, output_dim); y: x.shape + (output_dim,). mask_zero changes only the mask the
    layer emits (embedding_mask). input_length (Keras 2) declares the lengths of x's axes after
    the batch axis; Keras 3 accepts it with a deprecation warning and drops it, unchecked.
    """
    for name, value in (("input_dim", input_dim), ("output_dim", output_dim)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"`{name}` must be a positive int, got {value!r}")
    embeddings = np.asarray(embeddings, np.float64)
    if embeddings.shape != (input_dim, output_dim):
        raise ValueError(f"embeddings shape {embeddings.shape} is not "
                         f"(input_dim, output_dim) = {(input_dim, output_dim)}")
    x = _indices(x, input_dim)
    if input_length is not None and spec == "keras2":
        _check_input_length(x.shape, input_length)
    return embeddings[x]


@takes_config
def embedding_mask(x, *, input_dim, output_dim=None, mask_zero=False, input_length=None,
                   spec="keras3"):
    """The mask Embedding emits: m[b, ...] = x[b, ...] != 0 with mask_zero, else none (None).
    The other keys of the config do not change it."""
    x = _indices(x, input_dim)
    return x != 0 if mask_zero else None
