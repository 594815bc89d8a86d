"""keras_hub.layers.ReversibleEmbedding is Keras 3's keras.layers.ReversibleEmbedding: the
tf.keras oracle, which builds layers by class name from keras.layers, vouches for it too."""
import importlib.util
import subprocess
import sys

import pytest

CHECK = """
import inspect, keras, keras_hub
hub, core = keras_hub.layers.ReversibleEmbedding, keras.layers.ReversibleEmbedding
assert issubclass(hub, core), hub.__mro__
own = [name for name, value in vars(hub).items() if inspect.isfunction(value)
       or isinstance(value, (property, classmethod, staticmethod))]
assert not own, f"keras_hub's ReversibleEmbedding overrides {own}"
"""


def test_keras_hub_reversible_embedding_is_keras():
    if importlib.util.find_spec("keras_hub") is None:
        pytest.skip("keras_hub is not installed (pip install keras-hub)")
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                          timeout=300, env={"KERAS_BACKEND": "tensorflow",
                                            "TF_CPP_MIN_LOG_LEVEL": "3",
                                            **__import__("os").environ})
    assert done.returncode == 0, done.stderr[-2000:]
