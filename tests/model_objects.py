"""A small Keras 3 model with one custom class, for the --model tests (tests/test_model.py).

    python -m tests.model_objects PATH.keras [PATH.npz]

saves the model (and, given a second path, a batch of its inputs). `--model-objects
tests.model_objects` imports this module, which registers Scale, before the model is loaded."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402  (Keras 3, as tf.keras is in TensorFlow 2.21)
import numpy as np  # noqa: E402


@keras.saving.register_keras_serializable(package="kc_tests")
class Scale(keras.layers.Layer):
    """x * 2: a class of the user's own, which the suite has no spec for."""

    def call(self, x):
        return x * 2.0


def small_model():
    """conv (3x3, relu) -> scale (custom) -> mix (1x1) -> pool -> head (logits); two Conv2D
    layers, so that a fault in one of them is told apart from its class."""
    inputs = keras.Input((6, 6, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = Scale(name="scale")(x)
    x = keras.layers.Conv2D(5, 1, name="mix")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(3, name="head")(x)
    model = keras.Model(inputs, outputs, name="small")
    rng = np.random.default_rng(0)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.5
                       for w in model.get_weights()])
    return model


if __name__ == "__main__":
    small_model().save(sys.argv[1])
    if len(sys.argv) > 2:
        np.savez(sys.argv[2], image=np.random.default_rng(1).standard_normal(
            (4, 6, 6, 3)).astype(np.float32))
