"""The gradients a Keras candidate gives for a case's cotangent, by its backend's own autodiff.
Imported only inside a candidate's process, as keras_adapter.py is.

For a case whose `cotangent` u holds one array per output (the layer's outputs flat, in Keras
order, as run() returns them), the answer is the gradient of sum_i sum(u_i * y_i):

- with respect to each differentiable input, in this order: each float input of
  `case.inputs` (integer inputs, such as Embedding's indices, have none), then the call's
  `value` and `key` (MultiHeadAttention's), then each array of the call's `initial_state` (a
  recurrent layer) or `states` (a cell), where the case gives them. A mask, `training` and
  the other call arguments get none;
- then with respect to each trainable weight, in get_weights() order: `layer.weights` (the
  order get_weights() reads) restricted to `layer.trainable_weights` (Keras 3 filters its
  weights by `trainable`, tf_keras lists the trainable ones first: both give the same order;
  none where the layer itself is not trainable).

That is the order of the reference's `<forward>_vjp` (reference/backward.py). The call
differentiated is the case's call, as run() makes it: the same call arguments, so a training
call (training=True: BatchNormalization's batch statistics) is differentiated as a training
call, from the case's weights (a layer prepared afresh; where the backend records an
ordinary call, that call is observe()'s only one: `differentiated`).

Each backend differentiates the way its users train:
- TensorFlow (tf.keras, tf_keras, keras-tensorflow): tf.GradientTape over the call, the inputs
  watched, tape.gradient(outputs, inputs + trainable variables, output_gradients=u);
- JAX (keras-jax): jax.vjp over (inputs, the trainable variables' values) of the layer's
  call in a keras.StatelessScope, the other variables (moving statistics, seeds) held fixed;
- torch (keras-torch): autograd, the inputs leaf tensors with requires_grad and the weights
  the variables' own Parameters, torch.autograd.grad(outputs, ..., grad_outputs=u);
- NumPy and OpenVINO have no autodiff: `unavailable` says so, and the candidate's supports()
  skips the case with it.

No gradient either for a stateful case (its calls hand the states on by assigning variables,
through which no backend carries a gradient; what the truth is there is not settled) or for
InputLayer (no layer to differentiate).
"""
import dataclasses

import numpy as np

STATE_ARGUMENTS = ("initial_state", "states")
ARRAY_ARGUMENTS = ("value", "key")      # call arguments that are one float array each

NO_AUTODIFF = {
    "numpy": "Keras 3's NumPy backend has no autodiff (keras/src/backend/numpy/core.py: its "
             "custom_gradient is a pass-through, 'No gradient computation ... takes place'; "
             "its trainer's fit raises NotImplementedError)",
    "openvino": "Keras's OpenVINO backend is inference-only (keras/src/backend/openvino/"
                "core.py: its custom_gradient 'discards the gradient function')",
}


def unavailable(candidate, case):
    """Why `candidate` gives no gradients for `case` (a str), or None where it does or the
    case asks for none."""
    if getattr(case, "cotangent", None) is None:
        return None
    why = NO_AUTODIFF.get(candidate.backend)
    return f"{candidate.name} has no gradients: {why}" if why else None


def differentiated(candidate, case):
    """(layer, outputs, gradients) of the case's differentiated call, or None where the
    candidate or the case has no gradients: the gradients of the module docstring as float
    NumPy arrays (inputs', then the trainable weights'); the layer and its outputs (NumPy
    arrays) as that call left them, where the call is the layer's ordinary one (TensorFlow's
    tape and torch's autograd record a call that runs and updates the layer as run()'s
    does, so observe() takes its outputs, weights and losses from it instead of calling the
    layer a second time); (None, None, gradients) for JAX, whose call runs in a
    StatelessScope that keeps the layer's updates to itself."""
    if case.cotangent is None or unavailable(candidate, case) or case.layer == "InputLayer" \
            or case.config.get("stateful"):
        return None
    compute = BACKENDS.get(candidate.backend or "tensorflow")     # tf_keras: backend None
    return None if compute is None else compute(candidate, case)


def differentiable(case):
    """[(where, array)] of the arrays that get a gradient, in the module docstring's order:
    where is ("inputs", i), (call argument, j) or (call argument, None) for an argument that
    is one array."""
    found = [(("inputs", i), x) for i, x in enumerate(case.inputs) if _is_float(x)]
    found += [((name, None), case.call_kwargs[name]) for name in ARRAY_ARGUMENTS
              if _is_float(case.call_kwargs.get(name))]
    for name in STATE_ARGUMENTS:
        value = case.call_kwargs.get(name)
        if isinstance(value, list):
            found += [((name, j), s) for j, s in enumerate(value) if _is_float(s)]
    return found


def substituted(case, places, values):
    """The case with the arrays at `places` (from differentiable) replaced by `values` (the
    framework's tensors, or tracers)."""
    inputs = list(case.inputs)
    call_kwargs = {k: list(v) if k in STATE_ARGUMENTS and isinstance(v, list) else v
                   for k, v in case.call_kwargs.items()}
    for (name, j), value in zip(places, values):
        if j is None:
            call_kwargs[name] = value
        else:
            (inputs if name == "inputs" else call_kwargs[name])[j] = value
    return dataclasses.replace(case, inputs=inputs, call_kwargs=call_kwargs)


def trainable_in_order(layer):
    """layer.weights (get_weights() order) restricted to layer.trainable_weights."""
    trainable = {id(v) for v in layer.trainable_weights}
    return [v for v in layer.weights if id(v) in trainable]


def _is_float(array):
    return isinstance(array, np.ndarray) and array.dtype.kind == "f"


def _cotangents(case, outputs):
    """The case's cotangent, checked against the outputs: one array per output, same shape."""
    if len(case.cotangent) != len(outputs):
        raise ValueError(f"the case gives {len(case.cotangent)} cotangents for "
                         f"{len(outputs)} outputs")
    for i, (u, y) in enumerate(zip(case.cotangent, outputs)):
        if tuple(np.shape(u)) != tuple(y.shape):
            raise ValueError(f"cotangent {i} has shape {np.shape(u)}, output {i} has "
                             f"{tuple(y.shape)}")
    return case.cotangent


def _tensorflow(candidate, case):
    """tf.GradientTape: tf.keras, keras-tensorflow (Keras 3 variables) and tf_keras
    (tf.Variables); an Embedding's IndexedSlices become dense, repeated rows added."""
    import tensorflow as tf
    layer = candidate.prepared(case)
    places, arrays = _unzipped(differentiable(case))
    xs, weights = [tf.constant(a) for a in arrays], trainable_in_order(layer)
    with tf.GradientTape() as tape:
        tape.watch(xs)
        outputs = candidate.outputs_of(layer, substituted(case, places, xs))
    if not xs and not weights:
        return layer, candidate._arrays(outputs), []
    us = [tf.constant(np.asarray(u), dtype=y.dtype) for u, y in
          zip(_cotangents(case, outputs), outputs)]
    # a tensor the outputs do not reach gets zeros here: TensorFlow's own
    # UnconnectedGradients.ZERO reads the dtype of a Keras 3 variable as a DType and fails on
    # its str ('str' object has no attribute '_type_enum': ReversibleEmbedding's untied
    # reverse table in a lookup)
    grads = tape.gradient(outputs, xs + weights, output_gradients=us)
    return layer, candidate._arrays(outputs), [
        np.zeros(tuple(t.shape), np.float32) if g is None
        else np.asarray(tf.convert_to_tensor(g)) for g, t in zip(grads, xs + weights)]


def _jax(candidate, case):
    """jax.vjp of the layer's call in a StatelessScope that maps each trainable variable to
    a value being differentiated and every other variable (moving statistics, seed states) to
    its value, held fixed (their updates stay in the scope). The call goes through the
    layer's __call__, as a model's layers are called inside the stateless_call of Keras's JAX
    trainer: stateless_call on the layer itself would run call() directly, without
    __call__'s input casting and autocast (a mixed_bfloat16 layer would compute in float32)."""
    import jax
    import jax.numpy as jnp
    layer = candidate.prepared(case)
    if not layer.built:          # a layer without weights builds in its first call
        candidate.outputs_of(layer, case)
    places, arrays = _unzipped(differentiable(case))
    weights = trainable_in_order(layer)
    trainable = {id(v) for v in weights}
    fixed = [(v, v.value) for v in layer.variables if id(v) not in trainable]

    def forward(xs, values):
        with candidate.keras.StatelessScope(state_mapping=list(zip(weights, values)) + fixed):
            return candidate.outputs_of(layer, substituted(case, places, xs))

    outputs, vjp = jax.vjp(forward, [jnp.asarray(a) for a in arrays],
                           [v.value for v in weights])
    us = [jnp.asarray(u, dtype=y.dtype) for u, y in zip(_cotangents(case, outputs), outputs)]
    d_inputs, d_weights = vjp(us)
    return None, None, [np.asarray(g) for g in list(d_inputs) + list(d_weights)]


def _torch(candidate, case):
    """torch.autograd.grad: the inputs leaf tensors with requires_grad on Keras's device, the
    weights the Parameters behind the trainable variables (v.value, whose .grad Keras's torch
    trainer reads); a tensor the outputs do not reach gets zeros."""
    import torch
    layer = candidate.prepared(case)
    places, arrays = _unzipped(differentiable(case))
    xs = [candidate._tensor(a).detach().requires_grad_(True) for a in arrays]
    leaves = xs + [v.value for v in trainable_in_order(layer)]
    outputs = candidate.outputs_of(layer, substituted(case, places, xs))
    us = [torch.as_tensor(np.asarray(u), dtype=y.dtype, device=y.device)
          for u, y in zip(_cotangents(case, outputs), outputs)]
    reached = [(y, u) for y, u in zip(outputs, us) if y.requires_grad]
    grads = torch.autograd.grad([y for y, _ in reached], leaves,
                                grad_outputs=[u for _, u in reached],
                                allow_unused=True) if reached and leaves else [None] * len(leaves)
    return layer, candidate._arrays(outputs), [
        np.zeros(tuple(t.shape), np.float32) if g is None else g.detach().cpu().numpy()
        for g, t in zip(grads, leaves)]


def _unzipped(pairs):
    """(places, arrays) of differentiable()'s pairs."""
    return tuple(zip(*pairs)) if pairs else ((), ())


BACKENDS = {"tensorflow": _tensorflow, "jax": _jax, "torch": _torch}
