"""The seeds' custom layer (../shared/seeds/001_*.txt, "编写自己的层"), as written there, for the
Keras at hand: build() makes one trainable kernel (input_shape[1], output_dim) with add_weight,
call() is K.dot(x, kernel), compute_output_shape() is (input_shape[0], output_dim).

Two spellings change with the Keras: tf_keras keeps `K.dot` (tf_keras.backend.dot); Keras 3
has no backend.dot, and its `keras.ops.dot` is the same product. The seed's layer has no
get_config(); tf_keras refuses that for a layer with constructor arguments (Layer.get_config
raises NotImplementedError "Layer MyLayer has arguments ['output_dim'] in `__init__` and
therefore must override `get_config()`"), so get_config() adds output_dim, as the error asks.
Imported only inside a Keras candidate's process.
"""


def my_layer_class(keras):
    """The MyLayer class over `keras`: Keras 3 (keras, tf.keras) or tf_keras."""
    if hasattr(keras, "ops"):
        dot, Layer = keras.ops.dot, keras.layers.Layer
    else:
        dot, Layer = keras.backend.dot, keras.layers.Layer

    class MyLayer(Layer):

        def __init__(self, output_dim, **kwargs):
            self.output_dim = output_dim
            super(MyLayer, self).__init__(**kwargs)

        def build(self, input_shape):
            # Create a trainable weight variable for this layer.
            self.kernel = self.add_weight(name='kernel',
                                          shape=(input_shape[1], self.output_dim),
                                          initializer='uniform',
                                          trainable=True)
            super(MyLayer, self).build(input_shape)  # Be sure to call this somewhere!

        def call(self, x):
            return dot(x, self.kernel)

        def compute_output_shape(self, input_shape):
            return (input_shape[0], self.output_dim)

        def get_config(self):
            return {**super(MyLayer, self).get_config(), "output_dim": self.output_dim}

    return MyLayer


def set_trainable_weights(layer, weights):
    """Set a case's weights as the layer's trainable weights, in order: a layer whose build()
    made a weight that is not trainable, or another count or shape, raises ValueError (where
    set_weights() would take any weights of the right shapes)."""
    variables = layer.trainable_weights
    if len(variables) != len(weights) or len(layer.weights) != len(weights):
        raise ValueError(f"{type(layer).__name__} has {len(variables)} trainable weights of "
                         f"{len(layer.weights)}; the case gives {len(weights)} trainable ones")
    for variable, value in zip(variables, weights):
        if tuple(variable.shape) != value.shape:
            raise ValueError(f"{type(layer).__name__} built a weight of shape "
                             f"{tuple(variable.shape)}; the case gives {value.shape}")
        variable.assign(value)
