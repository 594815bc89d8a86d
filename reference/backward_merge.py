"""The backward pass of the merge layers of reference/merge.py: Add, Subtract, Multiply,
Average, Maximum, Concatenate and Dot (the reference has no Minimum).

Each `<merge>_vjp(*inputs, u=..., **config)` returns one gradient per input, in the input's
own shape. Broadcasting is the forward's (merge.py's docstring): an input of lower rank got
size-1 axes after its batch axis, and size-1 axes were stretched; its gradient is the
broadcast gradient summed back over the axes it was stretched along (unbroadcast).
Maximum's derivative is not defined where two inputs tie for the maximum: cases keep ties out
(reference.backward_pooling.tie_gap of the stacked inputs); here the first input takes it,
a convention. Dot with normalize=True is not differentiable where an input's norm equals the
epsilon (NORM_EPSILON).
"""
import numpy as np

from reference.backward_activations import cotangent
from reference.backward_pooling import max_shares
from reference.config import takes_config
from reference.merge import (
    NORM_EPSILON, add, average, broadcast_inputs, concatenate, dot, dot_axes, l2_normalize,
    maximum, multiply, subtract,
)


def unbroadcast(g, x):
    """g (the broadcast shape) summed over the axes broadcast_inputs stretched x along, in x's
    shape: x's axes after the batch axis are aligned on the right."""
    shape = np.shape(x)
    expanded = shape[:1] + (1,) * (g.ndim - len(shape)) + shape[1:]
    stretched = tuple(a for a in range(g.ndim) if expanded[a] == 1 and g.shape[a] != 1)
    return np.sum(g, axis=stretched, keepdims=True).reshape(shape)


@takes_config
def add_vjp(*inputs, u):
    """dx_i = u, unbroadcast to x_i."""
    g = cotangent(u, add(*inputs))
    return tuple(unbroadcast(g, x) for x in inputs)


@takes_config
def subtract_vjp(*inputs, u):
    """dx_1 = u, dx_2 = -u, unbroadcast."""
    g = cotangent(u, subtract(*inputs))
    return unbroadcast(g, inputs[0]), unbroadcast(-g, inputs[1])


@takes_config
def multiply_vjp(*inputs, u):
    """dx_i = u * prod_{j != i} x_j (no division: exact where an x_i is 0), unbroadcast."""
    g = cotangent(u, multiply(*inputs))
    arrays = broadcast_inputs(inputs)
    return tuple(unbroadcast(g * np.prod([x for j, x in enumerate(arrays) if j != i], axis=0),
                             inputs[i]) for i in range(len(inputs)))


@takes_config
def average_vjp(*inputs, u):
    """dx_i = u / n, unbroadcast."""
    g = cotangent(u, average(*inputs))
    return tuple(unbroadcast(g / len(inputs), x) for x in inputs)


@takes_config
def maximum_vjp(*inputs, u):
    """dx_i = u where x_i is the largest of the inputs (max_shares), 0 elsewhere; unbroadcast."""
    g = cotangent(u, maximum(*inputs))
    shares = max_shares(np.stack(broadcast_inputs(inputs)))
    return tuple(unbroadcast(g * share, x) for share, x in zip(shares, inputs))


@takes_config
def concatenate_vjp(*inputs, u, axis=-1):
    """dx_i = the slice of u along `axis` where x_i sits."""
    g = cotangent(u, concatenate(*inputs, axis=axis))
    ends = np.cumsum([np.shape(x)[axis] for x in inputs])[:-1]
    return tuple(np.split(g, ends, axis=axis))


def l2_normalize_vjp(x, axis, spec, g):
    """The VJP of l2_normalize, n = x * min(1 / ||x||, 1 / eps) along `axis`:
    (g - n * sum(g * n)) / ||x|| where ||x|| > eps, g / eps where ||x|| < eps."""
    norm = np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
    eps = NORM_EPSILON[spec]
    with np.errstate(divide="ignore", invalid="ignore"):
        n = x / norm
        inside = (g - n * np.sum(g * n, axis=axis, keepdims=True)) / norm
    return np.where(norm > eps, inside, g / eps)


@takes_config
def dot_vjp(*inputs, u, axes, normalize=False, spec="keras3"):
    """For y[b, i, j] = sum_k x[b, i, k] * z[b, j, k] (x, z with their summed axis moved last and
    the others flattened to i, j): dx[b, i, k] = sum_j u[b, i, j] z[b, j, k] and
    dz[b, j, k] = sum_i u[b, i, j] x[b, i, k], moved back; through l2_normalize_vjp when
    normalize."""
    g = cotangent(u, dot(*inputs, axes=axes, normalize=normalize, spec=spec))
    x, z = (np.asarray(v, np.float64) for v in inputs)
    ax, az = dot_axes(axes, (x.ndim, z.ndim))
    xn, zn = (l2_normalize(x, ax, spec), l2_normalize(z, az, spec)) if normalize else (x, z)
    xm, zm = np.moveaxis(xn, ax, -1), np.moveaxis(zn, az, -1)
    batch, k = x.shape[0], x.shape[ax]
    x3, z3 = xm.reshape(batch, -1, k), zm.reshape(batch, -1, k)
    g3 = g.reshape(batch, x3.shape[1], z3.shape[1])
    dx = np.moveaxis(np.einsum("bij,bjk->bik", g3, z3).reshape(xm.shape), -1, ax)
    dz = np.moveaxis(np.einsum("bij,bik->bjk", g3, x3).reshape(zm.shape), -1, az)
    if normalize:
        dx, dz = l2_normalize_vjp(x, ax, spec, dx), l2_normalize_vjp(z, az, spec, dz)
    return dx, dz
