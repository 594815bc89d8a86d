"""Gradient bounds of the layers whose backward pass routes the cotangent, sums what reaches
an element and at most scales it: pooling, the data-movement layers, the noise layers at
inference, Masking, Identity and Rescaling (conformance/backward/__init__.py for the twins;
the merges are in merges.py, on the same bound).

Each gradient element of these layers is g[p] = sum over the cotangent elements t routed to
p of c_t u_t, with a coefficient c_t the backward pass computes by no arithmetic on u (0 or
1 for a copy or a selection, 1 / n for a mean, the scale). So, per element, with
- its magnitude M: the same VJP on |u| (sum of |c_t u_t|);
- its number of terms T: how many cotangent elements reach p (the same VJP on ones, where
  every coefficient is 1; a mean's counts the windows holding p instead);
the error is that of a float32 sum of T terms, tolerance.sum_bound(M, T, g) (routed_bound),
plus each term's own rounding, `relative` M: 0 for a copy, u for a product with a float32
constant (Rescaling's scale), 2u for a division by n (u / n, or u times a rounded 1 / n).
An element that one copy reaches (T <= 1, no scaling) is exact: bound 0. Hence:

- Flatten, Reshape, Permute, Cropping, ZeroPadding, Identity, and Dropout, AlphaDropout,
  GaussianDropout, GaussianNoise at inference (the identity; a training call gets no twin):
  each element is one copy of u or 0, exact.
- RepeatVector: the sum of u over the n repeats; UpSampling (nearest): over the size block.
- MaxPooling, GlobalMaxPooling: u goes to the window's arg-max; overlapping windows that
  share their arg-max add at it. The arg-max is the truth only where no two values of a
  window tie (the derivative is not defined at a tie): a case whose smallest gap between a
  window's largest and second largest value (reference max_pooling_gap, tie_gap) is 0 gets
  no twin (scoped). A gap above 0 needs no margin: the inputs are float32 numbers and a
  float32 maximum compares them exactly, so a gap of one ulp orders them as float64 does;
  under a declared storage format the check runs again on the rounded inputs
  (cases.declared), and a tie that rounding makes puts the twin out of scope there.
- AveragePooling: u_t / n(t) summed over the windows t holding p, n(t) the window's positions
  inside the input (a "same" border window divides by fewer): T counts the windows,
  relative 2u; GlobalAveragePooling: u / P (the unmasked steps, with a mask), one term.
- Rescaling: u * float32(scale), one term, relative u (the offset has no gradient).
- UpSampling2D "bilinear": dx is the transpose of the interpolation, a weighted sum, whose
  weights float32 computes from the coordinate (t + 0.5) / size - 0.5: off by delta <=
  4u (n + 1) along an axis of n inputs ((t + 0.5) times a rounded 1 / size, minus 0.5), so
  a weight by at most e = 3 delta + 4u (TensorFlow's floor and lerp, 2 delta + u, which
  may pick the neighbour on the other side of an input position; JAX's triangle kernel
  normalised by its sum, 3 delta + 4u), on a support widened by one input each way (W: the
  same transpose with every weight 1 on the widened support); a 2D weight is a product,
  e_h + e_w + e_h e_w, and u times it two more roundings:
      bound = sum_bound(M + E, T_W, g) + E + 3u (M + E),   E = (e_h + e_w + e_h e_w) W|u|.
- Masking: dx = u where the step is kept, 0 where it is masked. A masked step is where every
  feature equals mask_value, a point where the layer has no derivative for mask_value != 0
  (it jumps to 0) and the identity's for mask_value 0 (y = x either way), while every
  Keras backend holds the mask fixed and gives 0: a convention, not a truth (the reference
  states it; its own tests hold masked steps fixed). A case with a masked step gets no twin
  (scoped); a step where some feature differs from mask_value is kept in a neighbourhood,
  and judged. The spec masks about a third of the steps, so few Masking cases qualify.

A NaN or infinity in an input (Masking's mask_value=inf edge case, drawn in the unit regime)
has no gradient to speak of: not eligible.
"""
import inspect

import numpy as np

import reference
import reference.backward as vjps
from conformance import tolerance
from reference.backward_pooling import _pool_windows
from reference.config import OutOfScope
from reference.layout import from_channels_last, to_channels_last
from reference.padding import as_tuple
from reference.spatial import source_positions


def routed_bound(value, magnitude, terms, relative=0.0):
    """The float32 bound of gradient elements that each sum `terms` routed cotangent
    elements whose absolute values add up to `magnitude` (value: the exact sum), each term
    first scaled with a relative error of at most `relative` (module docstring). An element
    of at most one unscaled term is a copy: exact."""
    value, magnitude = np.asarray(value, np.float64), np.asarray(magnitude, np.float64)
    terms = np.abs(np.asarray(terms, np.float64))
    summed = np.where(terms > 1, tolerance.sum_bound(magnitude, np.maximum(terms, 1), value),
                      0.0)
    if not np.any(np.asarray(relative) > 0):
        return summed
    return summed + relative * magnitude + np.where(magnitude > 0, tolerance.tiny(), 0.0)


def vjp_of(vjp, case, *arrays, u):
    """The reference's VJP on `arrays` (the case's inputs, or stand-ins of their shapes) with
    cotangent u: the case's config, its spec and call arguments where the VJP takes them (a
    GlobalAveragePooling1D mask; not a merge's mask, which only compute_mask reads)."""
    taken = inspect.signature(vjp).parameters
    extra = {k: v for k, v in case.call_kwargs.items() if k in taken}
    if "spec" in taken:
        extra["spec"] = case.spec
    return [np.asarray(g, np.float64) for g in vjp(*arrays, u=u, **case.config, **extra)]


def cotangent(case):
    return np.asarray(case.cotangent[0], np.float64)


def routed(vjp, relative=None, counted=None):
    """expected(case) of a layer whose gradients are routed sums (module docstring): value
    and magnitude from `vjp` on u and |u|, the terms from it on ones (the inputs kept, so that
    a maximum routes as on the case) or from counted(case); each term scaled with `relative`
    (a function of the case: units(k))."""
    def expected(case):
        u = cotangent(case)
        values = vjp_of(vjp, case, *case.inputs, u=u)
        magnitudes = [np.abs(m) for m in vjp_of(vjp, case, *case.inputs, u=np.abs(u))]
        terms = (counted(case) if counted is not None
                 else vjp_of(vjp, case, *case.inputs, u=np.ones_like(u)))
        rel = relative(case) if relative is not None else 0.0
        return values, [routed_bound(v, m, t, rel) for v, m, t in zip(values, magnitudes, terms)]
    return expected


def scoped(reason_of):
    """expected(case) wrapper for a layer with points where its derivative is not defined:
    reason_of(case) says why the case is at one (or None). `eligible` gives such a case no
    twin; `expected` raises OutOfScope for it, which is reached where a declared precision's
    rounding of the inputs makes such a point (a tie) that the float32 inputs did not have."""
    def wrap(expected):
        def checked(case):
            reason = reason_of(case)
            if reason is not None:
                raise OutOfScope(reason)
            return expected(case)
        checked.out_of_scope = reason_of
        return checked
    return wrap


def without_ties(gap_of, what):
    """scoped() where gap_of(case), the smallest gap between a maximum and the runner-up, is
    0: a tie, where the derivative is not defined."""
    def reason(case):
        gap = gap_of(case)
        return None if gap > 0 else (f"a tie for a maximum ({what}): the derivative is not "
                                     f"defined there (smallest gap {gap:.3g})")
    return scoped(reason)


# ---- pooling -------------------------------------------------------------------------------

def _max_pooling_gap(case):
    return vjps.max_pooling_gap(case.inputs[0], **case.config)


def _global_max_gap(case):
    """tie_gap over every spatial position, per batch and channel: the smallest."""
    data_format = case.config.get("data_format", "channels_last")
    x = to_channels_last(np.asarray(case.inputs[0], np.float64), data_format)
    values = np.moveaxis(x.reshape(x.shape[0], -1, x.shape[-1]), 1, 0)
    return float(np.min(vjps.tie_gap(values)))


def _windows_holding(case):
    """[how many pooling windows hold each input position], in the input's layout."""
    config = case.config
    data_format = config.get("data_format", "channels_last")
    x = to_channels_last(np.asarray(case.inputs[0], np.float64), data_format)
    counts = np.zeros(x.shape[1:-1])
    for _, taps in _pool_windows(x, config["pool_size"], config.get("strides"),
                                 config.get("padding", "valid")):
        for _, pos in taps:
            counts[pos] += 1
    return [from_channels_last(np.broadcast_to(counts[None, ..., None], x.shape),
                               data_format)]


def _one_term(case):
    return [np.ones(np.shape(x)) for x in case.inputs]


# ---- UpSampling2D "bilinear" ---------------------------------------------------------------

def _widened_transpose(g, axis, n, size):
    """sum of g over the outputs t along `axis` whose interpolation reads input q, or would
    with the support widened by one input each way: the outputs a float32 weight may route
    to q."""
    low, high, _ = source_positions(n, size)
    q = np.arange(n)[:, None]
    support = ((q >= low[None, :] - 1) & (q <= high[None, :] + 1)) * 1.0    # (n, n * size)
    return np.moveaxis(np.tensordot(support, np.moveaxis(g, axis, 0), axes=1), 0, axis)


def _coordinate_error(n):
    """e of the module docstring: a float32 bilinear weight's error along an axis of n."""
    delta = 4.0 * tolerance.unit() * (n + 1)
    return 3.0 * delta + 4.0 * tolerance.unit()


def _upsampling(case):
    if case.config.get("interpolation", "nearest") == "nearest":
        return routed(vjps.upsampling_vjp)(case)
    config = case.config
    data_format = config.get("data_format", "channels_last")
    x, u = case.inputs[0], cotangent(case)
    value, = vjp_of(vjps.upsampling_vjp, case, x, u=u)
    magnitude, = vjp_of(vjps.upsampling_vjp, case, x, u=np.abs(u))
    wide = to_channels_last(np.abs(u), data_format)
    terms = np.ones(wide.shape)
    shape = to_channels_last(np.asarray(x), data_format).shape
    errors = []
    for axis, s in enumerate(as_tuple(config["size"], 2, "size"), start=1):
        wide = _widened_transpose(wide, axis, shape[axis], s)
        terms = _widened_transpose(terms, axis, shape[axis], s)
        errors.append(_coordinate_error(shape[axis]))
    weight = errors[0] + errors[1] + errors[0] * errors[1]
    carried = weight * from_channels_last(wide, data_format)
    terms = from_channels_last(terms, data_format)
    bound = (tolerance.sum_bound(magnitude + carried, terms, value) + carried
             + 3.0 * tolerance.unit() * (magnitude + carried))
    return [value], [bound]


# ---- Masking -------------------------------------------------------------------------------

def _masked_step(case):
    """Why a Masking case is out of scope: a masked step (module docstring), or None."""
    keep = reference.masking_mask(case.inputs[0], **case.config)
    if np.all(keep):
        return None
    index = tuple(int(i) for i in np.argwhere(~keep)[0])
    return (f"a masked step (every feature equals mask_value "
            f"{case.config.get('mask_value', 0.0)!r}, step {index}): the layer has no "
            f"derivative there, or the identity's, where Keras holds the mask fixed and gives "
            f"0; a convention, not a truth")


def units(k):
    """`relative` of routed(): k roundings of the declared unit (read when the case is)."""
    return lambda case: k * tolerance.unit()


MAX_POOLING = without_ties(_max_pooling_gap, "a pooling window")(routed(vjps.max_pooling_vjp))

# layer -> expected(case)
LAYERS = {
    **{f"MaxPooling{r}D": MAX_POOLING for r in (1, 2, 3)},
    **{f"AveragePooling{r}D": routed(vjps.average_pooling_vjp, units(2), _windows_holding) for r in (1, 2, 3)},
    **{f"GlobalMaxPooling{r}D": without_ties(_global_max_gap, "the spatial positions")(
        routed(vjps.global_max_pooling_vjp)) for r in (1, 2)},
    **{f"GlobalAveragePooling{r}D": routed(vjps.global_average_pooling_vjp, units(2),
                                           _one_term)
       for r in (1, 2)},
    "Flatten": routed(vjps.flatten_vjp),
    "Reshape": routed(vjps.reshape_vjp),
    "Permute": routed(vjps.permute_vjp),
    "RepeatVector": routed(vjps.repeat_vector_vjp),
    **{f"Cropping{r}D": routed(vjps.cropping_vjp) for r in (1, 2, 3)},
    **{f"ZeroPadding{r}D": routed(vjps.zero_padding_vjp) for r in (1, 2, 3)},
    **{f"UpSampling{r}D": _upsampling for r in (1, 2, 3)},
    "Dropout": routed(vjps.dropout_vjp),
    "AlphaDropout": routed(vjps.alpha_dropout_vjp),
    "GaussianDropout": routed(vjps.gaussian_dropout_vjp),
    "GaussianNoise": routed(vjps.gaussian_noise_vjp),
    "Masking": scoped(_masked_step)(routed(vjps.masking_vjp)),
    "Identity": routed(vjps.identity_vjp),
    "Rescaling": routed(vjps.rescaling_vjp, units(1), _one_term),
}


def in_scope(layers, case):
    """Finite inputs, and not at a point where the derivative is not defined (scoped)."""
    if not all(np.all(np.isfinite(np.asarray(x, np.float64))) for x in case.inputs):
        return False
    reason_of = getattr(layers[case.layer], "out_of_scope", None)
    return reason_of is None or reason_of(case) is None


def eligible(case):
    """Finite inputs, no tie, no masked step (module docstring)."""
    return in_scope(LAYERS, case)


def expected(case):
    """(the reference's gradients, their float32 bounds), one per float input; OutOfScope
    at a tie or a masked step."""
    return LAYERS[case.layer](case)
