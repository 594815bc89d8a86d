"""A slow, readable float64 NumPy implementation of the Keras layers in scope.

One pure function per layer: inputs first, then the weights in `layer.get_weights()` order,
then the layer's config as keyword-only arguments with Keras's names and defaults. Each takes
the layer's complete get_config() as Keras 3 or tf_keras writes it (reference/config.py sorts
its keys). Every function computes in float64, raises ValueError where Keras rejects the
config, and OutOfScope where the config asks for something the suite does not implement.
Only NumPy is imported.
"""
from reference.activations import activation
from reference.advanced_activations import elu, leaky_relu, prelu, thresholded_relu
from reference.config import OutOfScope
from reference.core import (
    activation_layer, dense, dropout, flatten, input_layer, lambda_layer, masking,
    masking_mask, permute, repeat_vector, reshape,
)
from reference.conv import conv, conv_transpose, depthwise_conv, separable_conv2d
from reference.custom import my_layer
from reference.embedding import embedding, embedding_mask
from reference.attention import einsum_dense, multi_head_attention, reversible_embedding
from reference.cudnn import cudnn_gru, cudnn_lstm
from reference.conv_lstm import conv_lstm2d
from reference.local import locally_connected
from reference.normalization import activity_regularization, batch_normalization
from reference.model_layers import (
    identity, layer_normalization, normalization, relu_layer, rescaling, softmax_layer,
)
from reference.noise import alpha_dropout, gaussian_dropout, gaussian_noise
from reference.merge import add, average, concatenate, dot, maximum, multiply, subtract
from reference.pooling import average_pooling, max_pooling
from reference.recurrent import gru, lstm, simple_rnn
from reference.sequential import sequential
from reference.recurrent import gru_cell, lstm_cell, rnn, simple_rnn_cell, stacked_rnn_cells
from reference.spatial import (
    cropping, global_average_pooling, global_max_pooling, upsampling, zero_padding,
)
from reference.wrappers import (
    bidirectional, bidirectional_mask, time_distributed, time_distributed_mask,
)

__all__ = [
    "elu", "leaky_relu", "prelu", "thresholded_relu",
    "activity_regularization", "batch_normalization",
    "OutOfScope", "activation", "activation_layer", "average_pooling", "conv", "conv_lstm2d", "conv_transpose", "cropping",
    "depthwise_conv",
    "dense", "dropout", "locally_connected", "global_average_pooling", "global_max_pooling", "upsampling",
    "zero_padding",
    "flatten", "input_layer", "lambda_layer", "masking", "masking_mask", "max_pooling",
    "permute", "repeat_vector", "reshape", "separable_conv2d", "gru", "lstm", "simple_rnn",
    "cudnn_gru", "cudnn_lstm",
    "einsum_dense", "multi_head_attention", "reversible_embedding",
    "embedding", "embedding_mask", "sequential", "my_layer",
    "gru_cell", "lstm_cell", "rnn", "simple_rnn_cell", "stacked_rnn_cells",
    "bidirectional", "bidirectional_mask", "time_distributed", "time_distributed_mask",
    "add", "average", "concatenate", "dot", "maximum", "multiply", "subtract",
    "alpha_dropout", "gaussian_dropout", "gaussian_noise",
    "identity", "layer_normalization", "normalization", "relu_layer", "rescaling",
    "softmax_layer",
]
