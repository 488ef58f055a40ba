"""What an ONNX model asks of a runtime: IR version, opsets, ops, and any tensors kept in
external data files, read from the protobuf (nothing is run)."""
from __future__ import annotations

from collections import Counter

from imdb_edge.helpers import require


def onnx_info(model_bytes: bytes) -> dict:
    """What an ONNX model needs from a runtime.

    Returns ``{"ir_version": int, "opset_imports": {domain: version}, "ops": [{"name",
    "count"}], "external_data": [tensor names]}``. The default domain is written
    ``"ai.onnx"``; ops of other domains are named ``"<domain>:<op_type>"``. Ops and tensors
    inside control-flow subgraphs (If/Loop/Scan bodies) and model-local functions count too.
    """
    model = load_onnx(model_bytes)
    counts = Counter()
    external = []
    for graph_nodes, tensors in _onnx_parts(model):
        for node in graph_nodes:
            domain = node.domain or "ai.onnx"
            counts[node.op_type if domain == "ai.onnx" else f"{domain}:{node.op_type}"] += 1
        external += [t.name for t in tensors if _is_external(t)]
    return {
        "ir_version": model.ir_version,
        "opset_imports": {(imp.domain or "ai.onnx"): imp.version for imp in model.opset_import},
        "ops": [{"name": name, "count": counts[name]} for name in sorted(counts)],
        "external_data": external,
    }


def load_onnx(model_bytes: bytes):
    """The ModelProto of ``model_bytes``; ValueError when they are not an ONNX model."""
    onnx = require("onnx", "Reading ONNX files", extra="export")
    try:
        return onnx.load_model_from_string(bytes(model_bytes))
    except Exception as e:  # protobuf DecodeError
        raise ValueError(f"not an ONNX model: {type(e).__name__}: {e}") from e


def _onnx_parts(model):
    """(nodes, tensors) of the main graph, every nested subgraph and every local function."""
    yield from _graph_parts(model.graph)
    for function in model.functions:
        yield function.node, []
        yield from _nodes_parts(function.node)


def _graph_parts(graph):
    tensors = list(graph.initializer)
    for sparse in graph.sparse_initializer:
        tensors += [sparse.values, sparse.indices]
    yield graph.node, tensors
    yield from _nodes_parts(graph.node)


def _nodes_parts(nodes):
    """The tensors in the nodes' attributes, and the parts of their subgraphs."""
    for node in nodes:
        tensors = []
        for attr in node.attribute:
            if attr.HasField("t"):
                tensors.append(attr.t)
            tensors += list(attr.tensors)
            if attr.HasField("sparse_tensor"):
                tensors += [attr.sparse_tensor.values, attr.sparse_tensor.indices]
            for sparse in attr.sparse_tensors:
                tensors += [sparse.values, sparse.indices]
            if attr.HasField("g"):
                yield from _graph_parts(attr.g)
            for sub in attr.graphs:
                yield from _graph_parts(sub)
        if tensors:
            yield [], tensors


def _is_external(tensor) -> bool:
    import onnx

    return tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data) > 0
