"""Gradient bounds of ConvLSTM2D (conformance/backward/__init__.py for the twins;
reference/backward_conv_lstm.py for the VJP): the LSTM's gates over two convolutions,
z = conv(x, K) + b + conv(h, R) (R's: strides 1, "same"), folded over time.

The backward is the LSTM's backpropagation through time (recurrent.py, whose docstring
derives it), in the same Bounded arithmetic, with the two matmuls of a step replaced by the
convolutions:

- the forward replayed: z as the forward spec bounds it (specs/conv_lstm.py, bounded_conv:
  a float32 sum of kh * kw * C products (+ the bias) per element, its magnitude the
  convolution of |x| with |K|, plus the error the input carries through |K|; R's alike),
  then the gates, c' and h' as recurrent.py's LSTM cell (its Bounded products and
  activations, through() for the derivatives at z within its bound);
- dx and the entering dh: each element a float32 sum of the products of g = dz with the
  kernel's taps that read it, the convolution's VJP (reference.backward_conv's
  windowed_sum_vjp): its magnitude the same VJP of |g| + e_g on |K|, its number of terms the
  same VJP of ones on ones (a border element has fewer taps), and g's carried error through
  |K| (the VJP of e_g on |K|): tolerance.sum_bound(magnitude, terms, value) + carried;
- dK and dR: one float32 sum over the batch, the output positions and every step of x * g
  (h * g): the kernel VJP of |x| and |g| (magnitude), of ones (terms, summed over the
  steps) and the carried error sum(|x| e_g + e_x |g| + e_x e_g) (h enters with its forward
  bound, x is exact), as recurrent.py's weight sums; db a sum of g over batch, positions and
  steps.
The gates' axis: the replay runs channels_last (a channels_first case is moved there, a
permutation, and its gradients moved back): the convolutions' sums are the same.
Out of scope as recurrent.py: stateful layers, a derivative at a kink, a bound past float32.
"""
import numpy as np

import reference.backward as vjps
from conformance import tolerance
from conformance.backward import recurrent
from conformance.backward.guards import replayed
from conformance.backward.linear import ROW_MIXING
from conformance.specs.conv_lstm import bounded_conv
from reference.activations import _activation
from reference.backward_conv import windowed_sum_vjp
from reference.backward_recurrent import arguments
from reference.config import OutOfScope
from reference.conv_lstm import conv_lstm2d, state_shape
from reference.padding import as_tuple

LAYERS = ("ConvLSTM2D",)


def eligible(case):
    """Not stateful; both activations elementwise."""
    if case.config.get("stateful"):
        return False
    try:
        return not any(_activation(case.config.get(key, default), case.spec) in ROW_MIXING
                       for key, default in (("activation", "tanh"),
                                            ("recurrent_activation", "sigmoid")))
    except (ValueError, OutOfScope):
        return False


class ConvLSTMCell(recurrent.BoundedCell):
    """recurrent.py's LSTM cell, its two matmuls the step's convolutions (channels_last)."""

    def __init__(self, args, f):
        super().__init__("LSTMCell", args, f)
        self.window = dict(strides=as_tuple(args["strides"], 2, "strides"),
                           padding=args["padding"],
                           dilation_rate=as_tuple(args["dilation_rate"], 2, "dilation_rate"))
        self.same = dict(strides=(1, 1), padding="same", dilation_rate=(1, 1))

    def _gates_input(self, x, h):
        config = {"data_format": "channels_last"}
        return (bounded_conv(x, self.kernel, self.bias, config, **self.window)
                + bounded_conv(h, self.recurrent_kernel, None, config, **self.same))

    def _weights_of(self, x, h, g):
        """dK, dR, db's sums; (dx, dh) through the convolutions' VJPs (module docstring)."""
        dx = self._through(x, self.kernel, g, self.sums[0], self.window)
        dh = self._through(h, self.recurrent_kernel, g, self.sums[1], self.same)
        if self.bias is not None:
            axes = tuple(range(g.v.ndim - 1))
            e_g = np.broadcast_to(g.e, g.v.shape)
            self.sums[2].add(Ellipsis, g.v.sum(axis=axes), np.abs(g.v).sum(axis=axes),
                             np.prod(g.v.shape[:-1]), e_g.sum(axis=axes))
        return dx, dh

    def _through(self, a, kernel, g, kernel_sum, window):
        """The input gradient through one convolution (Bounded), its kernel's gradient added
        to kernel_sum."""
        def vjp(a_, k_, g_):
            return windowed_sum_vjp(a_, k_, 1, window["strides"], window["padding"],
                                    window["dilation_rate"], g_)
        a_e, g_e = (np.broadcast_to(b.e, b.v.shape) for b in (a, g))
        a_abs, k_abs, g_abs = np.abs(a.v), np.abs(kernel), np.abs(g.v)
        d_a, d_kernel = vjp(a.v, kernel, g.v)
        terms_a, terms_kernel = vjp(np.ones_like(a.v), np.ones_like(kernel),
                                    np.ones_like(g.v))
        magnitude_a, _ = vjp(a_abs, k_abs, g_abs + g_e)
        carried_a, carried_kernel = vjp(a_abs, k_abs, g_e)
        if np.any(a_e):
            carried_kernel = carried_kernel + vjp(a_e, k_abs, g_abs + g_e)[1]
        kernel_sum.add(Ellipsis, d_kernel, vjp(a_abs, k_abs, g_abs)[1], terms_kernel,
                       carried_kernel)
        bound = tolerance.sum_bound(magnitude_a, np.maximum(terms_a, 1), d_a,
                                    products=True) + carried_a
        return self.f.Bounded(d_a, np.where(terms_a > 0, bound, 0.0))


def _channels_last(case, args):
    """(x, initial states, cotangents) channels_last, and the function moving a gradient of
    x (axis "x") or of a state (axis "state") back to the case's layout."""
    first = args["data_format"] == "channels_first"

    def move(a, axis, back=False):
        if not first:
            return a
        at = 2 if axis == "x" else 1
        return np.moveaxis(a, -1, at) if back else np.moveaxis(a, at, -1)
    x = move(np.asarray(case.inputs[0], np.float64), "x")
    initial = case.call_kwargs.get("initial_state")
    states = None if initial is None else [move(np.asarray(s, np.float64), "state")
                                           for s in initial]
    u = [np.asarray(w, np.float64) for w in case.cotangent]
    u = [move(u[0], "x" if args["return_sequences"] else "state")] + [
        move(w, "state") for w in u[1:]]
    return x, states, u, move


def replay(case):
    """The case's gradients in Bounded arithmetic, in the VJP's order (dx, [dh0, dc0],
    dkernel, drecurrent_kernel, [dbias]), in the case's layout."""
    f = recurrent.FORWARD
    args = {**arguments(conv_lstm2d, {**case.config, "spec": case.spec}), "time_major": False}
    x, initial, u, move = _channels_last(case, args)
    cell = ConvLSTMCell(args, f)
    stack = recurrent.Stack([cell], [np.asarray(w, np.float64) for w in case.weights], f)
    shape = state_shape(x.shape, args["filters"], args["kernel_size"], args["strides"],
                        args["padding"], args["dilation_rate"], "channels_last")
    states = [np.zeros(shape)] * 2 if initial is None else initial
    states = [f.Bounded(s, np.zeros(s.shape)) for s in states]
    dx, d_initial = recurrent.sequence_vjp(
        stack, x, case.call_kwargs.get("mask"), states,
        [f.Bounded(w, np.zeros(w.shape)) for w in u], args, f)
    gradients = [(move(dx.v, "x", True), move(np.broadcast_to(dx.e, dx.v.shape), "x", True))]
    if initial is not None:
        gradients += [(move(d.v, "state", True),
                       move(np.broadcast_to(d.e, d.v.shape), "state", True))
                      for d in d_initial]
    gradients += [(s.v, np.broadcast_to(s.e, np.shape(s.v))) for s in stack.total()]
    return gradients


def expected(case):
    """(the reference's gradients, their float32 bounds); OutOfScope where a derivative is
    not defined (a kink) or a bound is not finite."""
    kwargs = {k: v for k, v in case.call_kwargs.items() if k != "training"}
    with np.errstate(invalid="ignore", over="ignore"):
        grads = vjps.conv_lstm2d_vjp(case.inputs[0], *case.weights, u=case.cotangent,
                                     **kwargs, **case.config, spec=case.spec)
        again = replay(case)
    return replayed(case, grads, [v for v, _ in again], [b for _, b in again])

