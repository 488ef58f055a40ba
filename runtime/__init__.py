"""Score IMDB reviews with an exported artifact, without TensorFlow.

    from imdb_edge.runtime import load
    model = load("artifacts/imdb-dynamic-b1.tflite")    # sidecar + vocabulary beside it
    model.score_texts(["A moving, beautifully acted film."])
    # [{'probability': 0.93..., 'label': 'positive', 'tokens': 5, 'unknown': 0}]

Needs numpy plus one backend: ai-edge-litert or tflite-runtime for .tflite, onnxruntime for
.onnx, nothing more for .npz. Importing this package imports no backend and never
TensorFlow; the backend is imported by ``load`` when it is chosen.
"""
from .backends import available_backends
from .model import Model, load
from .sidecar import ArtifactError, Sidecar
from .text import encode, tokenize

__all__ = ["load", "Model", "Sidecar", "ArtifactError", "available_backends", "tokenize",
           "encode"]
