"""The backward pass of the reference: analytic vector-Jacobian products, one per layer, written
beside the forward functions and over shared helpers as they are.

The contract. For a case (inputs, weights, config) and a cotangent u of the output's shape,
`<forward>_vjp(*inputs, *weights, u=u, **config)` returns the gradient of sum(u * y),
y = <forward>(*inputs, *weights, **config), with respect to each differentiable input, then
each trainable weight in get_weights() order: a tuple of float64 arrays, each of its
argument's shape (no entry for a weight the config leaves out, e.g. the bias when use_bias is
False). It takes the forward's arguments exactly as the forward does (names, defaults,
@takes_config: a layer's complete get_config()), runs the forward first for its checks and
refusals, and refuses a cotangent of another shape (ValueError). A forward that returns a
list (a recurrent layer's [output, *states], a cell's, ActivityRegularization's [y, loss])
takes a list u, one cotangent per array; BatchNormalization's u is its output y's alone.

Where the derivative is not defined (an activation's kink, a tie for a maximum) there is no
truth: cases are drawn away from those points, with the helpers named here (kinks, seams,
kink_distance for the activations, max_pooling_gap and tie_gap for max pooling and Maximum).
tests/test_reference_backward.py checks every VJP against float64 central differences of the
forward with Richardson extrapolation.

The families: backward_activations (the activations and the cotangent check), backward_core
(Dense, Activation), backward_conv (Conv1D/2D/3D, grouped; DepthwiseConv1D/2D;
SeparableConv2D; Conv2DTranspose), backward_pooling (Max and Average pooling 1D/2D/3D, the
global poolings), backward_merge (Add, Subtract, Multiply, Average, Maximum, Concatenate, Dot),
backward_recurrent (SimpleRNN, LSTM, GRU, their cells, StackedRNNCells, RNN: through every
step, masks, go_backwards, return_state, initial states; activation_gap for the kinks),
backward_normalization (BatchNormalization at inference and in training, LayerNormalization,
ActivityRegularization), backward_misc (Embedding, PReLU, LeakyReLU, ELU, ThresholdedReLU, ReLU,
Dropout and the noise layers, Flatten, Reshape, Permute, RepeatVector, Cropping, ZeroPadding,
UpSampling, LocallyConnected1D/2D), backward_conv_lstm (ConvLSTM2D: the LSTM gates' VJP over
the convolutions' VJPs, through every step), backward_cudnn (CuDNNGRU, CuDNNLSTM: the GRU and
LSTM VJPs on their weights reoriented, the gradients carried back), backward_wrappers
(TimeDistributed, Bidirectional, Sequential: through their inner layers' VJPs),
backward_attention (EinsumDense, MultiHeadAttention, ReversibleEmbedding) and
backward_model_layers (Softmax, Masking, Identity, Rescaling, Normalization, Lambda, MyLayer).
tests/test_reference_backward_more.py checks the normalization and misc families as
tests/test_reference_backward.py the first; tests/test_reference_backward_recurrent.py the
recurrent one; tests/test_reference_backward_layers.py the last five.
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
from reference.backward_misc import (
    alpha_dropout_vjp, cropping_vjp, dropout_vjp, elu_vjp, embedding_vjp, flatten_vjp,
    gaussian_dropout_vjp, gaussian_noise_vjp, leaky_relu_vjp, locally_connected_vjp,
    permute_vjp, prelu_vjp, relu_layer_vjp, repeat_vector_vjp, reshape_vjp,
    thresholded_relu_vjp, upsampling_vjp, zero_padding_vjp,
)
from reference.backward_normalization import (
    activity_regularization_vjp, batch_normalization_vjp, layer_normalization_vjp,
)
from reference.backward_pooling import (
    average_pooling_vjp, global_average_pooling_vjp, global_max_pooling_vjp, max_pooling_gap,
    max_pooling_vjp, tie_gap,
)
from reference.backward_attention import (
    einsum_dense_vjp, multi_head_attention_vjp, reversible_embedding_vjp,
)
from reference.backward_conv_lstm import conv_lstm2d_vjp
from reference.backward_cudnn import cudnn_gru_vjp, cudnn_lstm_vjp
from reference.backward_model_layers import (
    identity_vjp, lambda_layer_vjp, masking_vjp, my_layer_vjp, normalization_vjp,
    rescaling_vjp, softmax_layer_vjp,
)
from reference.backward_recurrent import (
    activation_gap, gru_cell_vjp, gru_vjp, lstm_cell_vjp, lstm_vjp, rnn_vjp, simple_rnn_cell_vjp,
    simple_rnn_vjp, stacked_rnn_cells_vjp,
)
from reference.backward_wrappers import (
    bidirectional_vjp, sequential_vjp, time_distributed_vjp,
)

__all__ = [
    "activation_vjp", "cotangent", "kink_distance", "kinks", "seams",
    "activation_layer_vjp", "dense_vjp",
    "conv_transpose_vjp", "conv_vjp", "depthwise_conv_vjp", "separable_conv2d_vjp",
    "add_vjp", "average_vjp", "concatenate_vjp", "dot_vjp", "maximum_vjp", "multiply_vjp",
    "subtract_vjp",
    "average_pooling_vjp", "global_average_pooling_vjp", "global_max_pooling_vjp",
    "max_pooling_gap", "max_pooling_vjp", "tie_gap",
    "activation_gap", "gru_cell_vjp", "gru_vjp", "lstm_cell_vjp", "lstm_vjp", "rnn_vjp",
    "simple_rnn_cell_vjp", "simple_rnn_vjp", "stacked_rnn_cells_vjp",
    "activity_regularization_vjp", "batch_normalization_vjp", "layer_normalization_vjp",
    "alpha_dropout_vjp", "cropping_vjp", "dropout_vjp", "elu_vjp", "embedding_vjp",
    "flatten_vjp", "gaussian_dropout_vjp", "gaussian_noise_vjp", "leaky_relu_vjp",
    "locally_connected_vjp", "permute_vjp", "prelu_vjp", "relu_layer_vjp",
    "repeat_vector_vjp", "reshape_vjp", "thresholded_relu_vjp", "upsampling_vjp",
    "zero_padding_vjp",
    "conv_lstm2d_vjp", "cudnn_gru_vjp", "cudnn_lstm_vjp",
    "bidirectional_vjp", "sequential_vjp", "time_distributed_vjp",
    "einsum_dense_vjp", "multi_head_attention_vjp", "reversible_embedding_vjp",
    "identity_vjp", "lambda_layer_vjp", "masking_vjp", "my_layer_vjp", "normalization_vjp",
    "rescaling_vjp", "softmax_layer_vjp",
]
