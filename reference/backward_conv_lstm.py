"""The backward pass of ConvLSTM2D (reference/conv_lstm.py): the LSTM's gate VJP
(backward_recurrent.lstm_gates_vjp) with its two matmuls' VJPs replaced by the convolutions'
(backward_conv.conv_vjp), folded back over time by backward_recurrent's fold_vjp (masks,
go_backwards, return_sequences, return_state and initial states as for LSTM).

Conventions as reference/backward_recurrent.py: u is one cotangent per array the forward
returns ([output] or [output, h, c]); the gradients are (dx, [dh0, dc0] when initial_state is
given, dkernel, drecurrent_kernel, [dbias]). time_major is read and ignored, as the forward
ignores it. There is no activation_gap for this layer (its Cell has no `inputs`): cases use
smooth activations, or must keep the gates' inputs away from kinks themselves.
"""
import numpy as np

from reference.backward_conv import conv_vjp
from reference.backward_recurrent import (
    Cell, _cotangents, arguments, lstm_gates_vjp, sequence_vjp,
)
from reference.conv import conv
from reference.conv_lstm import conv_lstm2d, conv_lstm_step, state_shape


def _conv_args(args, filters):
    """The arguments both convolutions of a step share (4F output channels)."""
    return dict(filters=4 * filters, kernel_size=args["kernel_size"],
                data_format=args["data_format"], spec=args["spec"])


def conv_lstm_step_vjp(x, states, kernel, recurrent_kernel, bias, d_states, args):
    """z = conv(x, kernel) + bias + conv(h, recurrent_kernel) (strides 1, "same"), split in the
    channel blocks i, f, c, o; dz, dc = lstm_gates_vjp(z's blocks, c, dh', dc'), then

        dx, dkernel, dbias = conv_vjp(x, kernel, bias, u=dz)   (the layer's window geometry)
        dh, drecurrent_kernel = conv_vjp(h, recurrent_kernel, u=dz)

    Returns (dx, [dh, dc], [dkernel, drecurrent_kernel, (dbias)])."""
    h, c = states
    channel = 1 if args["data_format"] == "channels_first" else -1
    common = _conv_args(args, args["filters"])
    input_conv = dict(strides=args["strides"], padding=args["padding"],
                      dilation_rate=args["dilation_rate"], use_bias=bias is not None, **common)
    recurrent_conv = dict(strides=1, padding="same", dilation_rate=1, use_bias=False, **common)
    z = conv(x, kernel, bias, **input_conv) + conv(h, recurrent_kernel, **recurrent_conv)
    dz, dc = lstm_gates_vjp(*np.split(z, 4, axis=channel), c, *d_states, args["activation"],
                            args["recurrent_activation"], args["spec"])
    dz = np.concatenate(dz, axis=channel)
    dx, dkernel, *dbias = conv_vjp(x, kernel, bias, u=dz, **input_conv)
    dh, drecurrent_kernel = conv_vjp(h, recurrent_kernel, u=dz, **recurrent_conv)
    return dx, [dh, dc], [dkernel, drecurrent_kernel, *dbias]


def conv_lstm_cell(kernel, recurrent_kernel, bias, args):
    """The Cell (backward_recurrent.Cell) of one ConvLSTM2D step on these weights; its vjp adds
    the output's gradient to h's (the output is h'). No `inputs` (activation_gap's)."""
    step_args = {k: args[k] for k in ("kernel_size", "strides", "padding", "dilation_rate",
                                      "data_format", "activation", "recurrent_activation",
                                      "spec")}

    def step(x, states):
        return conv_lstm_step(x, states, kernel, recurrent_kernel, bias, **step_args)

    def vjp(x, states, d_output, d_states):
        d_states = [d_states[0] + d_output, d_states[1]]
        return conv_lstm_step_vjp(x, states, kernel, recurrent_kernel, bias, d_states, args)
    return Cell(step, vjp, None, 2, args["spec"])


def conv_lstm2d_vjp(x, kernel, recurrent_kernel, bias=None, mask=None, initial_state=None, *,
                    u, **config):
    """ConvLSTM2D: fold_vjp of conv_lstm_step_vjp. Returns (dx, [dh0, dc0], dkernel,
    drecurrent_kernel, [dbias]); u: [d output] or, with return_state, [d output, d h, d c]."""
    outputs = conv_lstm2d(x, kernel, recurrent_kernel, bias, mask, initial_state, **config)
    args = {**arguments(conv_lstm2d, config), "time_major": False}   # the forward ignores it
    x = np.asarray(x, np.float64)
    weights = [None if w is None else np.asarray(w, np.float64)
               for w in (kernel, recurrent_kernel, bias)]
    shape = state_shape(x.shape, args["filters"], args["kernel_size"], args["strides"],
                        args["padding"], args["dilation_rate"], args["data_format"])
    states = ([np.zeros(shape), np.zeros(shape)] if initial_state is None
              else list(initial_state))
    dx, dh0, dc0, *d_weights = sequence_vjp(conv_lstm_cell(*weights, args), x, mask, states,
                                            None, _cotangents(u, outputs), args)
    return (dx, *([dh0, dc0] if initial_state is not None else []), *d_weights)
