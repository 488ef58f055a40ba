"""imdb-edge: train the IMDB attention-LSTM, export it for small devices, prove parity.

Subpackages: ``imdb_edge.train`` (TensorFlow), ``imdb_edge.export`` (TensorFlow, tf2onnx),
``imdb_edge.runtime`` (numpy plus one inference backend; never TensorFlow).
"""
__version__ = "0.1.0"
