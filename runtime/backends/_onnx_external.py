"""Find tensors an ONNX model keeps in external files, without the ``onnx`` package.

onnxruntime, given a model as bytes, resolves external-data paths against the current
working directory: a model could then read whatever weights file (or other file) happens to
sit where the user runs it, bypassing the sidecar's hash. The runtime only accepts
self-contained models, and since ``onnx`` is usually absent on devices this walks the
protobuf wire format directly, following only the messages that can hold tensors.
"""
from __future__ import annotations

from collections import deque
from typing import Iterator, Tuple

# field numbers from onnx.proto (stable since IR version 3)
_MODEL = {7: "graph", 20: "training", 25: "function"}
_TRAINING = {1: "graph", 2: "graph"}
_FUNCTION = {7: "node"}
_GRAPH = {1: "node", 5: "tensor", 15: "sparse"}
_NODE = {5: "attribute"}
_ATTRIBUTE = {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"}
_SPARSE = {1: "tensor", 2: "tensor"}
_TENSOR_NAME, _TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION = 8, 13, 14
_EXTERNAL = 1

_SCHEMAS = {"model": _MODEL, "training": _TRAINING, "function": _FUNCTION, "graph": _GRAPH,
            "node": _NODE, "attribute": _ATTRIBUTE, "sparse": _SPARSE}


class MalformedModel(ValueError):
    pass


def external_tensors(model: bytes) -> list:
    """Names of the tensors stored outside ``model`` (empty for a self-contained model)."""
    found = []
    queue = deque([("model", memoryview(model))])  # breadth first: names in file order
    while queue:
        kind, data = queue.popleft()
        if kind == "tensor":
            name = _external_tensor_name(data)
            if name is not None:
                found.append(name)
            continue
        schema = _SCHEMAS[kind]
        for field, wire, value in _fields(data):
            if wire == 2 and field in schema:
                queue.append((schema[field], value))
    return found


def _external_tensor_name(data: memoryview):
    name, external = "?", False
    for field, wire, value in _fields(data):
        if field == _TENSOR_NAME and wire == 2:
            name = bytes(value).decode("utf-8", "replace")
        elif field == _TENSOR_EXTERNAL_DATA and wire == 2:
            external = True
        elif field == _TENSOR_DATA_LOCATION and wire == 0 and value == _EXTERNAL:
            external = True
    return name if external else None


def _fields(data: memoryview) -> Iterator[Tuple[int, int, object]]:
    """(field number, wire type, value) for each field; length-delimited values are views."""
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = None, pos + 8
        elif wire == 5:
            value, pos = None, pos + 4
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        else:
            raise MalformedModel(f"unsupported protobuf wire type {wire}")
        if pos > end:
            raise MalformedModel("truncated protobuf message")
        yield field, wire, value


def _varint(data: memoryview, pos: int) -> Tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise MalformedModel("truncated or invalid varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
