"""TFLite through Google's LiteRT package (``pip install "imdb-edge[litert]"``): the
maintained successor of tflite-runtime, with wheels for current Python and numpy 2."""
from __future__ import annotations

from ._tflite import TFLiteBackend


class LiteRTBackend(TFLiteBackend):
    name = "litert"

    @classmethod
    def library(cls):
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
