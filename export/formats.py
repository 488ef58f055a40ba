"""The export formats, declared once: the CLI's choices, the planner, the manifest and the
tolerance table all read this registry. TensorFlow-free (the CLI builds its help from it).

Each format has a module with the same shape (``exporter(name)`` returns it):

- ``convert(model, job, calibration) -> bytes``: the artifact for one planned ``Job``;
- ``inspect(data) -> (ops, runtimes)``: the op list and a verdict per target runtime;
- ``io_specs(data, spec) -> (input, output)``: the tensors the sidecar describes;
- ``sidecar_problem(data, sidecar) -> str``: how the artifact's sizes differ from the
  sidecar's ('' when they agree);
- ``INT8_FLOAT_OPS``: the ops an int8 artifact keeps in float.
"""
from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class Format:
    name: str
    extension: str
    modes: tuple           # quantization modes it can be built in
    batched: bool          # one artifact per batch size (the batch is fixed in the file)
    targets: tuple         # runtimes each artifact must load on, unless --target says others
    int8_io: bool = False  # can give int8 artifacts an int8 output tensor (--int8-io)

    def artifact_name(self, mode: str, batch: Optional[int]) -> str:
        return f"imdb-{mode}" + (f"-b{batch}" if self.batched else "") + self.extension


FORMATS = {f.name: f for f in (
    Format("tflite", ".tflite", ("float32", "float16", "dynamic", "int8", "int16x8"),
           batched=True, targets=("litert", "tflite-runtime-2.14"), int8_io=True),
    Format("onnx", ".onnx", ("float32", "float16", "dynamic", "int8"),
           batched=False, targets=("onnxruntime",)),
    Format("numpy", ".npz", ("float32",), batched=False, targets=()),
)}
# Every mode, in the order the formats list them.
MODES = tuple(dict.fromkeys(m for f in FORMATS.values() for m in f.modes))
CALIBRATED = ("int8", "int16x8")   # modes that need calibration reviews
ON_MISMATCH = ("error", "warn")    # when a target cannot load an artifact: refuse it, or warn
# Every runtime a format can be checked against (numpy artifacts are checked by loading).
TARGETS = tuple(dict.fromkeys(t for f in FORMATS.values() for t in f.targets))


def exporter(name: str):
    """The module that builds and inspects ``name`` artifacts (imports its converter)."""
    if name == "tflite":
        from imdb_edge.export import tflite as module
    elif name == "onnx":
        from imdb_edge.export import onnx as module
    elif name == "numpy":
        from imdb_edge.export import numpy_format as module
    else:
        raise KeyError(name)
    return module


def formats_with(mode: str) -> tuple:
    """The formats that can build ``mode``."""
    return tuple(f.name for f in FORMATS.values() if mode in f.modes)
