"""The seeds' custom layer MyLayer (../shared/seeds/001_*.txt, "编写自己的层")."""
import numpy as np

from reference.config import OutOfScope, takes_config
from reference.core import linear_sum


@takes_config
def my_layer(x, kernel, *, output_dim):
    """y[b, j] = sum_i x[b, i] * kernel[i, j]: K.dot(x, kernel), no bias, no activation.

    x: (batch, features), rank 2 as the seed's build() reads it (features = input_shape[1]);
    kernel: (features, output_dim), the one trainable weight build() makes with add_weight.
    """
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    if x.ndim != 2 and x.shape[1] != x.shape[-1]:
        raise ValueError(f"MyLayer's build() takes input_shape[1] = {x.shape[1]} as the "
                         f"features; K.dot needs the last axis ({x.shape[-1]}) to match")
    if x.ndim != 2:
        raise OutOfScope("outside the scope: MyLayer on an input of rank > 2")
    if kernel.shape != (x.shape[1], output_dim):
        raise ValueError(f"kernel shape {kernel.shape} is not (input_shape[1], output_dim) = "
                         f"({x.shape[1]}, {output_dim})")
    return linear_sum(x, kernel)
