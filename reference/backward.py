"""The backward pass of the reference: analytic vector-Jacobian products, one per layer, written
beside the forward functions and over shared helpers as they are.

The contract. For a case (inputs, weights, config) and a cotangent u of the output's shape,
`<forward>_vjp(*inputs, *weights, u=u, **config)` returns the gradient of sum(u * y),
y = <forward>(*inputs, *weights, **config), with respect to each differentiable input, then
each trainable weight in get_weights() order: a tuple of float64 arrays, each of its
argument's shape (no entry for a weight the config leaves out, e.g. the bias when use_bias is
False). It takes the forward's arguments exactly as the forward does (names, defaults,
@takes_config: a layer's complete get_config()), runs the forward first for its checks and
refusals, and refuses a cotangent of another shape (ValueError).

Where the derivative is not defined (an activation's kink, a tie for a maximum) there is no
truth: cases are drawn away from those points, with the helpers named here (kinks, seams,
kink_distance for the activations, max_pooling_gap and tie_gap for max pooling and Maximum).
tests/test_reference_backward.py checks every VJP against float64 central differences of the
forward with Richardson extrapolation.

The families: backward_activations (the activations and the cotangent check), backward_core
(Dense, Activation), backward_conv (Conv1D/2D/3D, grouped; DepthwiseConv1D/2D;
SeparableConv2D; Conv2DTranspose), backward_pooling (Max and Average pooling 1D/2D/3D, the
global poolings), backward_merge (Add, Subtract, Multiply, Average, Maximum, Concatenate, Dot).
"""
from reference.backward_activations import (
    activation_vjp, cotangent, kink_distance, kinks, seams,
)
from reference.backward_core import activation_layer_vjp, dense_vjp
from reference.backward_conv import (
    conv_transpose_vjp, conv_vjp, depthwise_conv_vjp, separable_conv2d_vjp,
)
from reference.backward_merge import (
    add_vjp, average_vjp, concatenate_vjp, dot_vjp, maximum_vjp, multiply_vjp, subtract_vjp,
)
from reference.backward_pooling import (
    average_pooling_vjp, global_average_pooling_vjp, global_max_pooling_vjp, max_pooling_gap,
    max_pooling_vjp, tie_gap,
)

__all__ = [
    "activation_vjp", "cotangent", "kink_distance", "kinks", "seams",
    "activation_layer_vjp", "dense_vjp",
    "conv_transpose_vjp", "conv_vjp", "depthwise_conv_vjp", "separable_conv2d_vjp",
    "add_vjp", "average_vjp", "concatenate_vjp", "dot_vjp", "maximum_vjp", "multiply_vjp",
    "subtract_vjp",
    "average_pooling_vjp", "global_average_pooling_vjp", "global_max_pooling_vjp",
    "max_pooling_gap", "max_pooling_vjp", "tie_gap",
]
