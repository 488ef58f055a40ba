"""TFLite through full TensorFlow's ``tf.lite.Interpreter``: the last resort, used only when
TensorFlow is already installed and neither device runtime is. TensorFlow is imported here,
when this backend is chosen, never by importing the runtime package."""
from __future__ import annotations

from ._tflite import TFLiteBackend


class TensorFlowLiteBackend(TFLiteBackend):
    name = "tensorflow_lite"

    @classmethod
    def library(cls):
        import tensorflow as tf

        try:
            return tf.lite.Interpreter
        except AttributeError:  # removed from newer TensorFlow in favour of LiteRT
            raise ImportError("this TensorFlow has no tf.lite.Interpreter; "
                              'pip install "imdb-edge[litert]"') from None
