"""The merge layers: Add, Subtract, Multiply, Average, Maximum, Concatenate and Dot (and their
functional forms keras.layers.add(inputs, **config), ..., which build the layer and call it).

Every function takes the inputs first, one positional argument each (batch axis included:
`reference.add(x1, x2, x3)`), then the config. None has weights.

Broadcasting (both Kerases, `base_merge.py` `_compute_elemwise_op_output_shape` and `call`):
the batch sizes must be equal; an input of lower rank gets axes of size 1 inserted after its
batch axis (`expand_dims(x, axis=1)`) until the ranks agree, and then each non-batch axis of
size 1 stretches to the others' size. So the non-batch shapes are aligned on the right, as in
NumPy; two sizes that differ and are not 1 are refused (ValueError).

Masks: Keras hands each input's mask (shape: the input's without its last axis) to the
layer's compute_mask, never to its call (the call takes none: TypeError). Keras 3's Multiply
and Maximum also read masks attached to their input tensors (`_keras_mask`) and then change
values; the reference computes the call without such masks. What comes out differs by spec:
Keras 3 ORs the masks (and emits none if any input has none); tf_keras ANDs the masks given
(`keras.all` over them). Concatenate expands each mask over its input's last axis,
concatenates along `axis`, then reduces the last axis with any (Keras 3) or all (tf_keras).
Dot emits no mask.
"""
import numpy as np

from reference.config import takes_config

# the epsilon of Dot's l2 normalisation: Keras 3 computes x * min(rsqrt(sum x^2), 1 / 1e-7)
# (ops.normalize, backend.epsilon()); tf_keras tf.linalg.l2_normalize, x * rsqrt(max(sum x^2,
# 1e-12)). Both are x / max(||x||, eps) with eps 1e-7 and sqrt(1e-12) = 1e-6.
NORM_EPSILON = {"keras3": 1e-7, "keras2": 1e-6}


def expand_ranks(inputs):
    """The inputs as float64 arrays of one rank: size-1 axes inserted after the batch axis."""
    arrays = [np.asarray(x, np.float64) for x in inputs]
    rank = max(x.ndim for x in arrays)
    return [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in arrays]


def broadcast_inputs(inputs):
    """The inputs as float64 arrays of one shape, by Keras's rule (module docstring)."""
    arrays = [np.asarray(x, np.float64) for x in inputs]
    if len({x.shape[0] for x in arrays}) > 1:
        raise ValueError(f"Cannot merge tensors with different batch sizes: "
                         f"{[x.shape for x in arrays]}")
    try:
        return np.broadcast_arrays(*expand_ranks(arrays))
    except ValueError:
        raise ValueError(f"Inputs have incompatible shapes: {[x.shape for x in arrays]}") from None


def _exactly_two(inputs, name):
    if len(inputs) != 2:
        raise ValueError(f"A `{name}` layer should be called on exactly 2 inputs, "
                         f"got {len(inputs)}")


@takes_config
def add(*inputs):
    """y = x_1 + x_2 + ... + x_n, summed in that order after broadcasting."""
    arrays = broadcast_inputs(inputs)
    y = arrays[0]
    with np.errstate(invalid="ignore", over="ignore"):          # inf - inf is NaN
        for x in arrays[1:]:
            y = y + x
    return y


@takes_config
def subtract(*inputs):
    """y = x_1 - x_2 (exactly two inputs)."""
    _exactly_two(inputs, "Subtract")
    a, b = broadcast_inputs(inputs)
    with np.errstate(invalid="ignore", over="ignore"):
        return a - b


@takes_config
def multiply(*inputs):
    """y = x_1 * x_2 * ... * x_n, in that order after broadcasting."""
    arrays = broadcast_inputs(inputs)
    y = arrays[0]
    with np.errstate(invalid="ignore", over="ignore"):
        for x in arrays[1:]:
            y = y * x
    return y


@takes_config
def average(*inputs):
    """y = (x_1 + ... + x_n) / n."""
    return add(*inputs) / len(inputs)


@takes_config
def maximum(*inputs):
    """y = max(x_1, ..., x_n) per element; a NaN anywhere gives NaN."""
    return np.maximum.reduce(broadcast_inputs(inputs))


@takes_config
def concatenate(*inputs, axis=-1):
    """y = the inputs joined along `axis` (negative: counted from the end), every other axis
    equal."""
    arrays = [np.asarray(x, np.float64) for x in inputs]
    if len({x.ndim for x in arrays}) > 1 or not -arrays[0].ndim <= axis < arrays[0].ndim:
        raise ValueError(f"Concatenate(axis={axis}) on shapes {[x.shape for x in arrays]}")
    others = {tuple(np.delete(x.shape, axis)) for x in arrays}
    if len(others) > 1:
        raise ValueError(f"A `Concatenate` layer requires inputs with matching shapes except "
                         f"for the concatenation axis, got {[x.shape for x in arrays]}")
    return np.concatenate(arrays, axis=axis)


def dot_axes(axes, ranks):
    """Keras's (axis of x, axis of y) for `axes` an int or a pair, negatives counted from the
    end of each input; the batch axis 0 is refused."""
    pair = [axes, axes] if isinstance(axes, int) else list(axes)
    if len(pair) != 2:
        raise ValueError(f"Dot's axes must be an int or two ints, got {axes!r}")
    pair = [a % r if a < 0 else a for a, r in zip(pair, ranks)]
    if 0 in pair or any(a >= r for a, r in zip(pair, ranks)):
        raise ValueError(f"Dot cannot take axes {axes!r} of inputs of ranks {ranks}")
    return pair


def l2_normalize(x, axis, spec):
    """x * min(1 / ||x||, 1 / eps) along `axis` (NORM_EPSILON): x / ||x||, or x / eps where the
    norm is below eps (an inf in x gives NaN there and 0 elsewhere, as in Keras)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inverse = 1.0 / np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
        return x * np.minimum(inverse, 1.0 / NORM_EPSILON[spec])


@takes_config
def dot(*inputs, axes, normalize=False, spec="keras3"):
    """y[b, i..., j...] = sum_k x[b, i..., k, ...] * z[b, j..., k, ...], k along `axes` (x's
    axis, z's axis), i the other axes of x, j those of z (batch_dot); rank 1 becomes
    (batch, 1). With normalize=True, x and z are first l2-normalised along their axis: the
    cosine similarity."""
    _exactly_two(inputs, "Dot")
    x, z = (np.asarray(v, np.float64) for v in inputs)
    if x.shape[0] != z.shape[0]:
        raise ValueError(f"Dot on different batch sizes: {x.shape}, {z.shape}")
    ax, az = dot_axes(axes, (x.ndim, z.ndim))
    if x.shape[ax] != z.shape[az]:
        raise ValueError(f"Dot: axis {ax} of {x.shape} and axis {az} of {z.shape} differ")
    if normalize:
        x, z = l2_normalize(x, ax, spec), l2_normalize(z, az, spec)
    x, z = np.moveaxis(x, ax, -1), np.moveaxis(z, az, -1)
    rest_x, rest_z = x.shape[1:-1], z.shape[1:-1]
    with np.errstate(invalid="ignore", over="ignore"):
        y = np.einsum("bik,bjk->bij", x.reshape(x.shape[0], -1, x.shape[-1]),
                      z.reshape(z.shape[0], -1, z.shape[-1]))
    y = y.reshape(x.shape[:1] + rest_x + rest_z)
    return y.reshape(-1, 1) if y.ndim == 1 else y


def merge_mask(masks, *, spec="keras3"):
    """The mask Add, Subtract, Multiply, Average and Maximum emit from their inputs' masks:
    OR (Keras 3) or AND (tf_keras) of them."""
    masks = [np.asarray(m, bool) for m in masks]
    reduce = np.logical_or if spec == "keras3" else np.logical_and
    return reduce.reduce(np.broadcast_arrays(*masks))


def concatenate_mask(inputs, masks, *, axis=-1, spec="keras3"):
    """The mask Concatenate emits: each mask (the input's shape without its last axis) spread
    over its input's last axis, joined along `axis`, then any (Keras 3) or all (tf_keras) over
    the last axis."""
    spread = [np.broadcast_to(np.asarray(m, bool)[..., None], np.shape(x))
              for x, m in zip(inputs, masks)]
    joined = np.concatenate(spread, axis=axis)
    return joined.any(axis=-1) if spec == "keras3" else joined.all(axis=-1)
