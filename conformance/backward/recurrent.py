"""Gradient bounds of the recurrent layers: SimpleRNN, GRU, LSTM, RNN over a cell or a stack of
cells, the cells SimpleRNNCell, GRUCell, LSTMCell and StackedRNNCells (one step)
(conformance/backward/__init__.py for the twins).

The gradients are backpropagation through time (reference/backward_recurrent.py, fold_vjp):
the forward is replayed, then the steps are walked in reverse, each step's VJP taking the
gradient of the states the step leaves (dh', dc') and giving that of the states it enters,
the step's dx and its share of the weight gradients. A float32 backward pass computes the same
walk on float32 values, so its error is bounded by the same walk in the Bounded arithmetic of
the forward (conformance/specs/bounded.py: an exact value v and a bound e on the float32
computation's distance from it, each product and sum rounding by u |v|):

- the forward is replayed in Bounded arithmetic as the spec's bounds are (its matmul, its
  activate, its fold), so every intermediate of every step (the pre-activations z, the gates,
  c', the states h entering the step) carries the bound the forward derives for it;
- a gradient through an activation, g = d * act'(z), takes d's own bound and act'(z)'s: z is
  known within its forward bound e_z, so float32's act'(z) is within max |act'(z +- e_z) -
  act'(z)| of the exact one (twice that, for the curvature between the ends), plus act''s own
  evaluation, 16 u (|act'(z)| + 1) (1 - tanh^2 and sigmoid (1 - sigmoid) cancel: a few u
  absolute); a derivative constant on each piece (relu, hard_sigmoid) is exact but for its
  constant's rounding (u |act'|: 0.2, 1/6). A z within KINK_MARGIN bounds of a kink (relu's 0,
  hard_sigmoid's breakpoints: reference.backward.kinks) where d may be nonzero has no defined
  derivative for float32 to approximate: the twin is out of scope with that reason;
- the gates' products and sums of the step's VJP (d h' o, d c' f, d h h - d h n, ...) are
  Bounded products and sums, written as autodiff computes them: GRU's dz is d h - d n (the
  two uses of z in h' = z h + (1 - z) n), never the reference's d (h - n);
- dx and the gradient of the entering h are sums through kernel^T and recurrent_kernel^T:
  the forward's matmul (tolerance.sum_bound of |g| |kernel^T| over gates * units terms,
  plus g's carried error through |kernel^T|), so the carried error of dh flows back through
  |recurrent_kernel| and each step's derivative bounds: the bound grows with the steps as the
  error does;
- a weight gradient is one float32 sum over the batch and every step (x^T g, h^T g, sum g):
  tolerance.sum_bound of its magnitude sum |x| |g| over batch * steps terms, plus the error
  carried in from both factors, sum (|x| e_g + e_x |g| + e_x e_g) (the entering h has its
  forward bound);
- a masked step selects (where), which is exact: its gradients pass to the step before with
  their bounds, and a sum with an exact zero (a gradient that one branch does not receive)
  adds no rounding.
A state or a gradient whose value plus bound may pass float32's range makes the twin
undetermined, as in the forward.

How tight: the bound carries absolute values back (|recurrent_kernel| times the derivatives'
sizes), where a float32 error goes back through the signed Jacobians, so it loosens
exponentially with units times steps. On the fixtures' shapes (1 to 3 units, 1 to 6 steps, 50
to 80 in the long regime) tf.keras's error is a median 0.02 of it, 0.40 at worst; an LSTM of
3 units over 80 steps keeps dx's worst at 0.003 of it but its weight gradients below 5e-4, and
16 units over 100 steps pass float32's range (out of scope). The backward is linear in dh
given the forward, so a bound through the signed products of the step Jacobians would stay
tight: not written yet. Stateful layers have no twins: their calls hand the
states on through variables, which no backend differentiates (candidates/gradients.py).
"""
from types import SimpleNamespace

import numpy as np

import reference
import reference.backward as vjps
from conformance import tolerance
from conformance.backward.guards import near_kink, replayed
from conformance.backward.linear import PIECEWISE_LINEAR, ROW_MIXING
from conformance.specs import bounded
from reference.activations import _activation
from reference.backward_recurrent import _sequence, arguments
from reference.config import OutOfScope
from reference.recurrent import CELLS, cell_configs

# layer -> (its forward, its VJP, how it holds its cells: "layer", "rnn", "cell", "stack")
LAYERS = {
    "SimpleRNN": (reference.simple_rnn, vjps.simple_rnn_vjp, "layer"),
    "GRU": (reference.gru, vjps.gru_vjp, "layer"),
    "LSTM": (reference.lstm, vjps.lstm_vjp, "layer"),
    "RNN": (reference.rnn, vjps.rnn_vjp, "rnn"),
    "SimpleRNNCell": (reference.simple_rnn_cell, vjps.simple_rnn_cell_vjp, "cell"),
    "GRUCell": (reference.gru_cell, vjps.gru_cell_vjp, "cell"),
    "LSTMCell": (reference.lstm_cell, vjps.lstm_cell_vjp, "cell"),
    "StackedRNNCells": (reference.stacked_rnn_cells, vjps.stacked_rnn_cells_vjp, "stack"),
}
KIND = {"SimpleRNN": "SimpleRNNCell", "GRU": "GRUCell", "LSTM": "LSTMCell"}
# the forward's Bounded arithmetic, as f.Bounded, f.matmul, f.activate, f.fold
FORWARD = SimpleNamespace(Bounded=bounded.Bounded, matmul=bounded.matmul,
                          activate=bounded.activate, fold=bounded.fold_bounded)


def _f():
    return FORWARD


def cells_of(case):
    """(class name, config with the defaults filled in) of each cell the case's layer runs."""
    forward, _, holds = LAYERS[case.layer]
    if holds == "layer":
        return [(KIND[case.layer], arguments(forward, {**case.config, "spec": case.spec}))]
    if holds == "cell":
        cells = [(case.layer, case.config)]
    else:
        cells = cell_configs(case.config["cell"] if holds == "rnn" else list(case.config["cells"]))
    return [(name, arguments(CELLS[name][0], {**config, "spec": case.spec}))
            for name, config in cells]


def eligible(case):
    """Not stateful (no backend differentiates through its variables); every activation
    elementwise (a row-mixing one, softmax, has its own backward)."""
    if case.config.get("stateful"):
        return False
    try:
        return not any(_activation(config.get(key), case.spec) in ROW_MIXING
                       for _, config in cells_of(case)
                       for key in ("activation", "recurrent_activation") if key in config)
    except (ValueError, OutOfScope):
        return False


def expected(case):
    """(the reference's gradients, their float32 bounds) for a gradient case: dx, the
    gradient of each initial state given (a cell's states always are), each cell's weights';
    OutOfScope where a derivative is not defined or a value may overflow."""
    _, vjp, _ = LAYERS[case.layer]
    kwargs = {k: v for k, v in case.call_kwargs.items() if k != "training"}
    u = [np.asarray(w, np.float64) for w in case.cotangent]
    with np.errstate(invalid="ignore", over="ignore"):
        grads = vjp(case.inputs[0], *case.weights, u=u, **kwargs, **case.config,
                    spec=case.spec)
        bounded = replay(case)
    return replayed(case, grads, [b.v for b in bounded],
                    [np.broadcast_to(b.e, np.shape(b.v)) for b in bounded])


def replay(case, u=None):
    """The case's gradients in Bounded arithmetic (values and bounds), in expected()'s order;
    u the Bounded cotangents where they are not the case's exact ones (a wrapper's: the
    cotangent Bidirectional's merge hands a direction carries the other's forward bound)."""
    f = _f()
    stack, x, mask, states, args = prepared(case, f)
    if u is None:
        u = [_exact(w, f) for w in case.cotangent]
    if args is None:
        dx, d_states = stack.vjp(_exact(x, f), states, u[0], u[1:])
        return [dx, *d_states, *stack.total()]
    dx, d_initial = sequence_vjp(stack, x, mask, states, u, args, f)
    given = case.call_kwargs.get("initial_state") is not None
    return [dx, *(d_initial if given else []), *stack.total()]


def prepared(case, f):
    """(the Bounded stack of the case's cells on its weights, x, mask, Bounded initial
    states, the layer's arguments); x, mask batch-major; args None for a cell or a stack
    (one step on the call's states)."""
    _, _, holds = LAYERS[case.layer]
    cells = cells_of(case)
    stack = Stack([BoundedCell(name, config, f) for name, config in cells],
                  [np.asarray(w, np.float64) for w in case.weights], f)
    x = np.asarray(case.inputs[0], np.float64)
    if holds in ("cell", "stack"):
        return stack, x, None, [_exact(s, f) for s in case.call_kwargs["states"]], None
    args = arguments(LAYERS[case.layer][0], {**case.config, "spec": case.spec})
    initial = case.call_kwargs.get("initial_state")
    units = [config["units"] for name, config in cells for _ in range(CELLS[name][1])]
    x, mask, states = _sequence(x, case.call_kwargs.get("mask"), initial, units, args)
    return stack, x, mask, [_exact(s, f) for s in states], args


def _exact(value, f):
    value = np.asarray(value, np.float64)
    return f.Bounded(value, np.zeros(value.shape))


# Bounded helpers beyond bounded.py's + and * ------------------------------------------------

def _minus(a, b, f):
    """a - b: both errors, and the rounding of the result."""
    v = a.v - b.v
    return f.Bounded(v, a.e + b.e + tolerance.unit() * np.abs(v) + tolerance.tiny())


def _exact_zero(a):
    return (np.asarray(a.v) == 0) & (np.asarray(a.e) == 0)


def plus(a, b, f):
    """a + b, exact where one of them is an exact zero (a gradient one use does not receive:
    autodiff adds its zeros, which float32 adds without rounding)."""
    v = a.v + b.v
    rounds = ~(_exact_zero(a) | _exact_zero(b))
    return f.Bounded(v, a.e + b.e + np.where(rounds, tolerance.unit() * np.abs(v)
                                             + tolerance.tiny(), 0.0))


def concat(parts, f):
    return f.Bounded(np.concatenate([p.v for p in parts], axis=-1),
                     np.concatenate([np.broadcast_to(p.e, np.shape(p.v)) for p in parts],
                                    axis=-1))


def select(keep, a, b, f):
    """where(keep, a, b): exact, bounds included."""
    v = np.where(keep, a.v, b.v)
    return f.Bounded(v, np.broadcast_to(np.where(keep, a.e, b.e), v.shape))


def through(name, z, d, spec, f):
    """g = d * act'(z), Bounded (the module docstring); OutOfScope where z lies within
    KINK_MARGIN of its bound from a kink of the activation and d may be nonzero there."""
    z_bound = np.broadcast_to(z.e, z.v.shape)
    near_kink(name, spec, z.v, z_bound, live=~_exact_zero(d) & np.ones(z.v.shape, bool),
              what="activation input at some step")
    derivative = vjps.activation_vjp(name, spec)
    ones = np.ones(z.v.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        slope = derivative(z.v, ones)
        if _activation(name, spec) in PIECEWISE_LINEAR:
            off = tolerance.unit() * np.abs(slope)
        else:
            moved = np.maximum(np.abs(derivative(z.v + z_bound, ones) - slope),
                               np.abs(derivative(z.v - z_bound, ones) - slope))
            off = 2.0 * moved + 16.0 * tolerance.unit() * (np.abs(slope) + 1.0)
    return d * f.Bounded(slope, off)


# Weight gradients: one float32 sum over the batch and every step ------------------------------

class Sum:
    """A weight gradient's float32 sum, gathered step by step: its exact value, the sum of
    its terms' magnitudes, its number of terms and the error its factors carry in; bound() is
    tolerance.sum_bound over all of them, plus that carried error."""

    def __init__(self, shape):
        self.value, self.magnitude = np.zeros(shape), np.zeros(shape)
        self.terms, self.carried = np.zeros(shape), np.zeros(shape)

    def add(self, where, value, magnitude, terms, carried):
        self.value[where] += value
        self.magnitude[where] += magnitude
        self.terms[where] += terms
        self.carried[where] += carried

    def products(self, a, g, where=Ellipsis):
        """a^T g over the batch (a kernel's gradient)."""
        a_e, g_e = (np.broadcast_to(b.e, b.v.shape) for b in (a, g))
        self.add(where, a.v.T @ g.v, np.abs(a.v).T @ np.abs(g.v), a.v.shape[0],
                 np.abs(a.v).T @ g_e + a_e.T @ np.abs(g.v) + a_e.T @ g_e)

    def rows(self, g, where=Ellipsis):
        """The sum of g over the batch (a bias's gradient)."""
        g_e = np.broadcast_to(g.e, g.v.shape)
        self.add(where, g.v.sum(axis=0), np.abs(g.v).sum(axis=0), g.v.shape[0],
                 g_e.sum(axis=0))

    def bounded(self, f):
        bound = tolerance.sum_bound(self.magnitude, np.maximum(self.terms, 1), self.value,
                                    products=True) + self.carried
        return f.Bounded(self.value, bound)


# The cells: a Bounded step and its Bounded VJP ------------------------------------------------

class BoundedCell:
    """One cell over its weights: forward(x, states) -> its intermediates, the output "h" and
    new "states" among them, its step in Bounded arithmetic (as bounded.py's cells); vjp(x,
    states, d_output, d_states, parts) -> (dx, d entering states), adding the step's weight
    gradients to `sums` (one Sum per weight)."""

    def __init__(self, name, config, f):
        self.name, self.config, self.f = name, config, f
        self.state_count = CELLS[name][1]
        self.weight_count = 3 if config.get("use_bias", True) else 2
        self.spec = config["spec"]

    def bind(self, weights):
        self.kernel, self.recurrent_kernel, *bias = weights
        self.bias = bias[0] if bias else None
        self.sums = [Sum(np.shape(w)) for w in weights]

    def forward(self, x, states):
        return getattr(self, FORWARDS[self.name])(x, states)

    def vjp(self, x, states, d_output, d_states, parts):
        """parts: forward(x, states), kept from the step's forward."""
        d_h = plus(d_states[0], d_output, self.f)          # the output is h'
        return getattr(self, BACKWARDS[self.name])(x, states, parts, d_h, d_states[1:])

    def _gates_input(self, x, h):
        """x K + b + h R; a bias of two rows is cuDNN's (x K + b_W) + (h R + b_R) (cudnn.py)"""
        f, two = self.f, self.bias is not None and np.ndim(self.bias) == 2
        return (f.matmul(x, self.kernel, self.bias[0] if two else self.bias)
                + f.matmul(h, self.recurrent_kernel, self.bias[1] if two else None))

    def _weights_of(self, x, h, g):
        """kernel += x^T g, recurrent_kernel += h^T g, bias (each row) += sum g; (dx, dh)."""
        f = self.f
        self.sums[0].products(x, g)
        self.sums[1].products(h, g)
        for row in () if self.bias is None else (0, 1) if np.ndim(self.bias) == 2 else (...,):
            self.sums[2].rows(g, where=row)
        return f.matmul(g, self.kernel.T), f.matmul(g, self.recurrent_kernel.T)

    # SimpleRNN: h' = act(z), z = x K + h R + b
    def _simple_forward(self, x, states):
        z = self._gates_input(x, states[0])
        h = self.f.activate(self.config["activation"], z, self.spec)
        return {"z": z, "h": h, "states": [h]}

    def _simple_backward(self, x, states, parts, d_h, _):
        g = through(self.config["activation"], parts["z"], d_h, self.spec, self.f)
        dx, dh = self._weights_of(x, states[0], g)
        return dx, [dh]

    # LSTM: i, f, o = rec(z_i, z_f, z_o), c' = f c + i act(z_c), h' = o act(c')
    def _lstm_forward(self, x, states):
        f, act, rec = self.f, self.config["activation"], self.config["recurrent_activation"]
        z = self._gates_input(x, states[0]).split(4)
        i, forget, g, o = (f.activate(rec, z[0], self.spec), f.activate(rec, z[1], self.spec),
                           f.activate(act, z[2], self.spec), f.activate(rec, z[3], self.spec))
        c = forget * states[1] + i * g
        out = f.activate(act, c, self.spec)
        h = o * out
        return {"z": z, "i": i, "f": forget, "g": g, "o": o, "c": c, "act_c": out, "h": h,
                "states": [h, c]}

    def _lstm_backward(self, x, states, p, d_h, d_rest):
        f, act, rec, spec = self.f, self.config["activation"], \
            self.config["recurrent_activation"], self.spec
        d_c = plus(d_rest[0], through(act, p["c"], d_h * p["o"], spec, f), f)
        dz = [through(rec, p["z"][0], d_c * p["g"], spec, f),
              through(rec, p["z"][1], d_c * states[1], spec, f),
              through(act, p["z"][2], d_c * p["i"], spec, f),
              through(rec, p["z"][3], d_h * p["act_c"], spec, f)]
        dx, dh = self._weights_of(x, states[0], concat(dz, f))
        return dx, [dh, d_c * p["f"]]

    # GRU: z, r = rec(...), n = act(x_h + r h_h) (reset_after) or act(x_h + (r h) R_h),
    # h' = z h + (1 - z) n
    def _gru_forward(self, x, states):
        f, act, rec, spec = self.f, self.config["activation"], \
            self.config["recurrent_activation"], self.spec
        h, = states
        units, after = h.v.shape[-1], self.config["reset_after"]
        bias = self.bias
        input_bias = (bias[0] if after else bias) if bias is not None else None
        x_z, x_r, x_h = f.matmul(x, self.kernel, input_bias).split(3)
        if after:
            h_z, h_r, h_h = f.matmul(h, self.recurrent_kernel,
                                     None if bias is None else bias[1]).split(3)
        else:
            h_z, h_r = f.matmul(h, self.recurrent_kernel[:, :2 * units]).split(2)
        a_z, a_r = x_z + h_z, x_r + h_r
        z, r = f.activate(rec, a_z, spec), f.activate(rec, a_r, spec)
        r_h = r * h_h if after else r * h
        a_h = x_h + (r_h if after else f.matmul(r_h, self.recurrent_kernel[:, 2 * units:]))
        n = f.activate(act, a_h, spec)
        h_new = z * h + z.one_minus() * n
        return {"a_z": a_z, "a_r": a_r, "a_h": a_h, "z": z, "r": r, "n": n, "r_h": r_h,
                "h_h": h_h if after else None, "h": h_new, "states": [h_new]}

    def _gru_backward(self, x, states, p, d_h, _):
        f, act, rec, spec = self.f, self.config["activation"], \
            self.config["recurrent_activation"], self.spec
        h, = states
        units = h.v.shape[-1]
        g_z = through(rec, p["a_z"], _minus(d_h * h, d_h * p["n"], f), spec, f)
        g_h = through(act, p["a_h"], d_h * p["z"].one_minus(), spec, f)
        dh = d_h * p["z"]
        if self.config["reset_after"]:
            g_r = through(rec, p["a_r"], g_h * p["h_h"], spec, f)
            d_inner = concat([g_z, g_r, g_h * p["r"]], f)
            dh = dh + f.matmul(d_inner, self.recurrent_kernel.T)
            self.sums[1].products(h, d_inner)
            if self.bias is not None:
                self.sums[2].rows(d_inner, where=1)
        else:
            kernel_zr, kernel_h = (self.recurrent_kernel[:, :2 * units],
                                   self.recurrent_kernel[:, 2 * units:])
            d_rh = f.matmul(g_h, kernel_h.T)
            g_r = through(rec, p["a_r"], d_rh * h, spec, f)
            g_zr = concat([g_z, g_r], f)
            dh = dh + d_rh * p["r"] + f.matmul(g_zr, kernel_zr.T)
            self.sums[1].products(h, g_zr, where=np.s_[:, :2 * units])
            self.sums[1].products(p["r_h"], g_h, where=np.s_[:, 2 * units:])
        d_x_all = concat([g_z, g_r, g_h], f)
        self.sums[0].products(x, d_x_all)
        if self.bias is not None:
            self.sums[2].rows(d_x_all, where=0 if self.config["reset_after"] else Ellipsis)
        return f.matmul(d_x_all, self.kernel.T), [dh]


FORWARDS = {"SimpleRNNCell": "_simple_forward", "LSTMCell": "_lstm_forward",
            "GRUCell": "_gru_forward"}
BACKWARDS = {"SimpleRNNCell": "_simple_backward", "LSTMCell": "_lstm_backward",
             "GRUCell": "_gru_backward"}


def _check_range(gradient):
    """A gradient whose value plus bound may pass float32's range: undetermined (the
    absolute values the bound carries back can grow faster over the steps than the signed
    gradient does, so this is where a long recurrence's bound gives up)."""
    with np.errstate(invalid="ignore", over="ignore"):
        reach = np.abs(gradient.v) + gradient.e
    if not np.all(reach < tolerance.overflow_threshold()):
        raise OutOfScope(f"{tolerance.UNDETERMINED}: a gradient passed back through the steps "
                         f"may reach {float(np.nanmax(reach)):.3g} (its value plus its float32 "
                         f"bound), beyond float32's 3.4e38")


class Stack:
    """Cells stacked (a layer's one cell is a stack of one): each cell's output the next
    one's input, the states each cell's in turn; the VJP walks the cells in reverse."""

    def __init__(self, cells, weights, f):
        self.cells, self.f = cells, f
        for cell in cells:
            cell.bind(weights[:cell.weight_count])
            weights = weights[cell.weight_count:]
        self.state_count = sum(c.state_count for c in cells)

    def _split(self, states):
        parts = []
        for cell in self.cells:
            parts.append(list(states[:cell.state_count]))
            states = states[cell.state_count:]
        return parts

    def forward(self, x, states):
        """(output, new states, trace): trace holds each cell's input, its own states and its
        forward() intermediates, which vjp() reads instead of running the step again."""
        new_states, trace = [], []
        for cell, own in zip(self.cells, self._split(states)):
            parts = cell.forward(x, own)
            trace.append((x, own, parts))
            x = parts["h"]
            new_states += parts["states"]
        return x, new_states, trace

    def step(self, x, states):
        x, new_states, _ = self.forward(x, states)
        return x, new_states

    def vjp(self, x, states, d_output, d_states, trace=None):
        """trace: forward(x, states)'s, where the caller kept it."""
        trace = self.forward(x, states)[2] if trace is None else trace
        d_entering = []
        for cell, (x_j, own, parts), d_own in reversed(list(zip(self.cells, trace,
                                                                self._split(d_states)))):
            d_output, d_own_entering = cell.vjp(x_j, own, d_output, d_own, parts)
            for d in [d_output, *d_own_entering]:
                _check_range(d)
            d_entering = d_own_entering + d_entering
        return d_output, d_entering

    def total(self):
        return [s.bounded(self.f) for cell in self.cells for s in cell.sums]


# The fold over time, in reverse -----------------------------------------------------------------

def sequence_vjp(stack, x, mask, states, u, args, f):
    """reference.backward_recurrent.sequence_vjp and fold_vjp in Bounded arithmetic: the
    forward replayed by bounded.py's fold (its float32-range checks included), recording the
    states each step enters and the cells' intermediates (Stack.forward's trace); then the
    steps in reverse, each VJP reading its step's trace. x, mask batch-major; u the Bounded
    cotangents. Returns (dx, d initial states)."""
    records, order = [], iter(range(x.shape[1] - 1, -1, -1) if args["go_backwards"]
                              else range(x.shape[1]))

    def recording(x_t, entering):
        output, new_states, trace = stack.forward(x_t, entering)
        records.append((next(order), x_t, entering, trace))
        return output, new_states
    with np.errstate(invalid="ignore", over="ignore"):
        f.fold(recording, x, states, mask, args["go_backwards"], args["zero_output_for_mask"])
    sequence = [np.broadcast_to(a, u[0].v.shape) for a in (u[0].v, u[0].e)]
    sequence = [np.swapaxes(a, 0, 1) if args["time_major"] else a for a in sequence]
    step = u[0].v.shape[2:] if args["return_sequences"] else u[0].v.shape[1:]   # an output's
    zero = f.Bounded(np.zeros(states[0].v.shape[:1] + step), 0.0)
    d_states = list(u[1:]) if args["return_state"] else [
        f.Bounded(np.zeros_like(s.v), np.zeros_like(s.v)) for s in states]
    dx_v, dx_e, d_carried = np.zeros_like(x), np.zeros_like(x), zero
    for k in range(len(records) - 1, -1, -1):
        t, x_t, entering, trace = records[k]
        if args["return_sequences"]:
            given = f.Bounded(sequence[0][:, k], sequence[1][:, k])
        else:
            given = u[0] if k == len(records) - 1 else zero
        d_output = plus(given, d_carried, f)
        if mask is not None:
            keep = np.asarray(mask)[:, t].reshape(-1, *(1,) * (x.ndim - 2))
            passes = k > 0 and not args["zero_output_for_mask"]
            d_carried = select(keep, zero, d_output, f) if passes else zero
            kept = d_states
            d_output = select(keep, d_output, zero, f)
            d_states = [select(keep, d, f.Bounded(0.0, 0.0), f) for d in d_states]
        dx, d_entering = stack.vjp(x_t, entering, d_output, d_states, trace)
        if mask is not None:
            d_entering = [select(keep, d, c, f) for d, c in zip(d_entering, kept)]
        dx_v[:, t], dx_e[:, t] = dx.v, np.broadcast_to(dx.e, dx.v.shape)
        d_states = d_entering
    dx_v, dx_e = ((np.swapaxes(a, 0, 1) for a in (dx_v, dx_e)) if args["time_major"]
                  else (dx_v, dx_e))
    return f.Bounded(dx_v, dx_e), d_states
