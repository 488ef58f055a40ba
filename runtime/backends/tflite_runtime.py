"""TFLite through tflite-runtime 2.14 (``pip install "imdb-edge[tflite]"``): the last
release, Python <= 3.11 and numpy < 2 only, but what many Raspberry Pi images already have."""
from __future__ import annotations

from ._tflite import TFLiteBackend


class TFLiteRuntimeBackend(TFLiteBackend):
    name = "tflite_runtime"

    @classmethod
    def library(cls):
        from tflite_runtime.interpreter import Interpreter

        return Interpreter
