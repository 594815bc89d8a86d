"""The recurrent cells in Bounded arithmetic: `Bounded` holds the exact value of every
intermediate and a bound on how far a float32 computation of it can be; each cell's step is
written again here, mirroring reference/recurrent.py line by line, and fold_bounded carries the
bounds through the loop (a masked step keeps them exactly). A step's bound on h is the previous
bound passed through the step (through |recurrent_kernel| and each activation's spread over the
interval: its local Lipschitz constant) plus that step's own rounding. A state that may
overflow float32 inside the recurrence makes the case undetermined (Float32Overflow).
"""
from dataclasses import dataclass

import numpy as np

from conformance import tolerance
from conformance.specs import _engine_runs
from conformance.specs._common import through_activation
from reference.config import OutOfScope
from reference.core import linear_sum



def _times(magnitude, bound):
    """magnitude * bound, with 0 * inf taken as 0 (a zero factor carries no error)."""
    with np.errstate(invalid="ignore"):
        return np.where((magnitude == 0) | (bound == 0), 0.0, magnitude * bound)


@dataclass
class Bounded:
    """An exact value v and a bound e on |float32 computation of v - v|, elementwise. Each
    operation rounds its result (u |v|) and may flush a subnormal one to zero (2^-126, as
    tolerance.sum_bound allows per term): small-regime products land there."""
    v: np.ndarray
    e: np.ndarray

    def __add__(self, other):
        other = _bounded(other)
        with np.errstate(invalid="ignore"):
            v = self.v + other.v
        return Bounded(v, self.e + other.e + tolerance.unit() * np.abs(v) + tolerance.tiny())

    def __mul__(self, other):
        other = _bounded(other)
        with np.errstate(invalid="ignore"):
            v = self.v * other.v
        return Bounded(v, _times(np.abs(self.v), other.e) + _times(np.abs(other.v), self.e)
                       + _times(self.e, other.e) + tolerance.unit() * np.abs(v) + tolerance.tiny())

    def one_minus(self):
        v = 1.0 - self.v
        return Bounded(v, self.e + tolerance.unit() * np.abs(v))

    def split(self, count):
        return [Bounded(v, e) for v, e in zip(np.split(self.v, count, axis=-1),
                                              np.split(self.e, count, axis=-1))]


def _bounded(value):
    return value if isinstance(value, Bounded) else Bounded(np.asarray(value, np.float64), 0.0)


def matmul(a, kernel, bias=None):
    """a @ kernel (+ bias): a float32 sum of n (+1) products, plus a's own error carried
    through |kernel|."""
    kernel = np.asarray(kernel, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        v = linear_sum(a.v, kernel)
        magnitude = linear_sum(np.abs(a.v), np.abs(kernel))
        terms = kernel.shape[0]
        if bias is not None:
            v, magnitude, terms = v + bias, magnitude + np.abs(bias), terms + 1
        error = np.broadcast_to(a.e, np.shape(a.v))
        carried = np.sum(_times(np.abs(kernel), error[..., :, None]), axis=-2)
        bound = tolerance.sum_bound(magnitude, terms, v, products=True) + carried
    return Bounded(_engine_runs.kernel_output(v), bound)    # an engine's replay: its clamp


def activate(name, a, spec):
    """f(a), checked against float32's range (exp(100) is finite in float64 only). An
    activation that returns an infinity (exp, relu, linear of a huge or infinite input) makes
    the rest of the recurrence order-dependent (inf - inf, 0 * inf): undetermined too."""
    with np.errstate(invalid="ignore", over="ignore"):
        y, e = through_activation(name, a.v, a.e, spec)
    result = Bounded(y, e)
    if np.any(np.isinf(y)):
        raise Float32Overflow(f"{tolerance.UNDETERMINED}: an activation inside the "
                              f"recurrence returns an infinity")
    _check_float32_range(result, "(an activation)")
    return result


# The cells in Bounded arithmetic (reference/recurrent.py has the plain ones) ----------------

def simple_rnn_bounded(x, states, weights, config, spec):
    kernel, recurrent_kernel, *bias = weights
    h, = states
    z = matmul(x, kernel, bias[0] if bias else None) + matmul(h, recurrent_kernel)
    h = activate(config.get("activation", "tanh"), z, spec)
    return h, [h]


def lstm_bounded(x, states, weights, config, spec):
    kernel, recurrent_kernel, *bias = weights
    h, c = states
    z = matmul(x, kernel, bias[0] if bias else None) + matmul(h, recurrent_kernel)
    h, c = lstm_gates_bounded(*z.split(4), c, config, spec)
    return h, [h, c]


def lstm_gates_bounded(z_i, z_f, z_c, z_o, c, config, spec):
    """reference.recurrent.lstm_gates in Bounded arithmetic (LSTM and ConvLSTM2D)."""
    act, rec = config.get("activation", "tanh"), config.get("recurrent_activation", "sigmoid")
    c = activate(rec, z_f, spec) * c + activate(rec, z_i, spec) * activate(act, z_c, spec)
    return activate(rec, z_o, spec) * activate(act, c, spec), c


def gru_bounded(x, states, weights, config, spec):
    kernel, recurrent_kernel, *bias = weights
    h, = states
    units = h.v.shape[-1]
    act, rec = config.get("activation", "tanh"), config.get("recurrent_activation", "sigmoid")
    reset_after = config.get("reset_after", True)
    input_bias = (bias[0][0] if reset_after else bias[0]) if bias else None
    x_z, x_r, x_h = matmul(x, kernel, input_bias).split(3)
    if reset_after:
        inner = matmul(h, recurrent_kernel, bias[0][1] if bias else None)
        h_z, h_r, h_h = inner.split(3)
        z, r = activate(rec, x_z + h_z, spec), activate(rec, x_r + h_r, spec)
        candidate = activate(act, x_h + r * h_h, spec)
    else:
        h_z, h_r = matmul(h, recurrent_kernel[:, :2 * units]).split(2)
        z, r = activate(rec, x_z + h_z, spec), activate(rec, x_r + h_r, spec)
        candidate = activate(act, x_h + matmul(r * h, recurrent_kernel[:, 2 * units:]), spec)
    h = z * h + z.one_minus() * candidate
    return h, [h]


class Float32Overflow(OutOfScope):
    """A float32 computation of the case may overflow inside the recurrence (a state or output
    within its bound of 3.4e38 while finite in float64): its result is then undetermined
    (inf - inf, 0 * inf), and the suite does not judge it."""


def _check_float32_range(value, step):
    with np.errstate(invalid="ignore", over="ignore"):
        reach = np.abs(value.v) + value.e
    if np.all(reach < tolerance.overflow_threshold()):
        return                                  # the usual case, in one comparison
    risky = np.isfinite(value.v) & ~(reach < tolerance.overflow_threshold())
    if np.any(risky):
        raise Float32Overflow(f"{tolerance.UNDETERMINED}: a state reaches "
                              f"{float(np.max(np.where(risky, reach, 0))):.3g} at step {step}, "
                              f"beyond float32's 3.4e38")


def fold_bounded(step, x, states, mask, go_backwards, zero_output_for_mask):
    """reference.recurrent.fold in Bounded arithmetic: a masked step keeps the states and
    repeats the previous output (0 before the first real step) exactly, bounds included."""
    order = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    outputs, previous = [], None
    for t in order:
        output, new_states = step(Bounded(x[:, t], np.zeros_like(x[:, t])), states)
        if mask is not None:
            keep = np.asarray(mask)[:, t].reshape(-1, *(1,) * (output.v.ndim - 1))
            before = (Bounded(0.0, 0.0) if zero_output_for_mask or previous is None
                      else previous)
            output = Bounded(_engine_runs.select(keep, output.v, before.v),
                             np.where(keep, output.e, before.e))
            new_states = [Bounded(_engine_runs.select(keep, n.v, o.v), np.where(keep, n.e, o.e))
                          for n, o in zip(new_states, states)]
        for value in [output, *new_states]:
            _check_float32_range(value, t)
        outputs.append(output)
        states, previous = new_states, output
    stacked = Bounded(np.stack([o.v for o in outputs], axis=1),
                      np.stack([np.broadcast_to(o.e, o.v.shape) for o in outputs], axis=1))
    _engine_runs.record(stacked, *states)   # an engine's replayed run (off_in_run)
    return stacked, states
