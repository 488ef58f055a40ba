"""What an ONNX model's graph says about itself, read from the protobuf without ``onnx``:
the operators it runs (counted as the exporter's sidecar counts them) and the shape of the
embedding table its ids index. The runtime compares both with the sidecar, so a sidecar
edited on its own (another vocabulary size, another op list) is refused at load."""
from __future__ import annotations

from collections import Counter
from typing import Optional

from ._onnx_external import _fields

# field numbers from onnx.proto
_MODEL_GRAPH, _MODEL_FUNCTIONS = 7, 25
_FUNCTION_NODE = 7
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_INPUT = 1, 5, 11
_NODE_INPUT, _NODE_OUTPUT, _NODE_OP_TYPE, _NODE_ATTRIBUTE, _NODE_DOMAIN = 1, 2, 4, 5, 7
_ATTR_T, _ATTR_G, _ATTR_GRAPHS = 5, 6, 11
_TENSOR_DIMS, _TENSOR_NAME = 1, 8
_VALUE_INFO_NAME = 1
# Ops that pass a table through unchanged in shape on its way to the Gather.
_PASS_THROUGH = ("DequantizeLinear", "Cast", "Identity")


def _text(value) -> str:
    return bytes(value).decode("utf-8", "replace")


def _dims(tensor) -> list:
    dims = []
    for field, wire, value in _fields(tensor):
        if field != _TENSOR_DIMS:
            continue
        if wire == 0:
            dims.append(value)
        elif wire == 2:  # packed
            from ._onnx_external import _varint

            pos, data = 0, value
            while pos < len(data):
                dim, pos = _varint(data, pos)
                dims.append(dim)
    return dims


def _tensor_name(tensor) -> str:
    for field, wire, value in _fields(tensor):
        if field == _TENSOR_NAME and wire == 2:
            return _text(value)
    return ""


def _node(data) -> dict:
    node = dict(inputs=[], outputs=[], op="", domain="", subgraphs=[], tensor=None)
    for field, wire, value in _fields(data):
        if wire != 2:
            continue
        if field == _NODE_INPUT:
            node["inputs"].append(_text(value))
        elif field == _NODE_OUTPUT:
            node["outputs"].append(_text(value))
        elif field == _NODE_OP_TYPE:
            node["op"] = _text(value)
        elif field == _NODE_DOMAIN:
            node["domain"] = _text(value)
        elif field == _NODE_ATTRIBUTE:
            for afield, awire, avalue in _fields(value):
                if awire == 2 and afield in (_ATTR_G, _ATTR_GRAPHS):
                    node["subgraphs"].append(avalue)
                elif awire == 2 and afield == _ATTR_T:
                    node["tensor"] = avalue
    return node


def _op_name(node: dict) -> str:
    domain = node["domain"] or "ai.onnx"
    return node["op"] if domain == "ai.onnx" else f"{domain}:{node['op']}"


def _graph(data) -> tuple:
    nodes, initializers, inputs = [], {}, []
    for field, wire, value in _fields(data):
        if wire != 2:
            continue
        if field == _GRAPH_NODE:
            nodes.append(_node(value))
        elif field == _GRAPH_INITIALIZER:
            initializers[_tensor_name(value)] = _dims(value)
        elif field == _GRAPH_INPUT:
            for vfield, vwire, vvalue in _fields(value):
                if vfield == _VALUE_INFO_NAME and vwire == 2:
                    inputs.append(_text(vvalue))
    return nodes, initializers, inputs


def summary(model: bytes) -> dict:
    """{"ops": Counter of op names over every graph and function, "table": the embedding
    table's dims (the Gather indexed by the graph input), or None if none is found}."""
    ops = Counter()
    main = None
    pending = []
    for field, wire, value in _fields(memoryview(model)):
        if wire == 2 and field == _MODEL_GRAPH:
            main = value
            pending.append(value)
        elif wire == 2 and field == _MODEL_FUNCTIONS:
            for ffield, fwire, fvalue in _fields(value):
                if ffield == _FUNCTION_NODE and fwire == 2:
                    node = _node(fvalue)
                    ops[_op_name(node)] += 1
                    pending.extend(node["subgraphs"])
    while pending:
        nodes, _, _ = _graph(pending.pop())
        for node in nodes:
            ops[_op_name(node)] += 1
            pending.extend(node["subgraphs"])
    return {"ops": ops, "table": _table(main) if main is not None else None}


def _table(graph) -> Optional[list]:
    nodes, initializers, inputs = _graph(graph)
    constants = {n["outputs"][0]: _dims(n["tensor"]) for n in nodes
                 if n["op"] == "Constant" and n["outputs"] and n["tensor"] is not None}
    producers = {out: n for n in nodes for out in n["outputs"]}

    def source(name: str, through=_PASS_THROUGH + ("Unsqueeze", "Reshape")) -> str:
        for _ in range(8):
            node = producers.get(name)
            if node is None or node["op"] not in through or not node["inputs"]:
                return name
            name = node["inputs"][0]
        return name

    def dims(name: str) -> Optional[list]:
        name = source(name, _PASS_THROUGH)
        return initializers.get(name, constants.get(name))

    ids = set(n for n in inputs if n not in initializers)
    tables = [dims(n["inputs"][0]) for n in nodes
              if n["op"] == "Gather" and len(n["inputs"]) >= 2 and source(n["inputs"][1]) in ids]
    tables = [t for t in tables if t is not None and len(t) == 2]
    return max(tables, key=lambda t: t[0] * t[1]) if tables else None
