"""A family model -> ONNX (tf2onnx), float32 / float16 / dynamic int8 / static int8."""
from __future__ import annotations

import os
import tempfile

import numpy as np

from imdb_edge.export.formats import FORMATS
from imdb_edge.export.graph import (GATE_SCOPE, HEAD_SCOPE, INPUT_NAME, OUTPUT_NAME,
                                    inference_function, loaded)

MODES = FORMATS["onnx"].modes
OPSET = 17
# Static int8 quantizes the matrix products and the embedding gathers of the recurrence,
# and keeps in float what TFLite's int8 keeps in float (export/tflite.py INT8_FLOAT_OPS):
# Softmax, Mul, Sigmoid, the running Add of the cell state, and the head.
INT8_OP_TYPES = ("MatMul", "Gather")
INT8_FLOAT_OPS = ("Softmax", "Mul", "Sigmoid", "Add")  # and the head's MatMuls, by name


def convert_onnx(model, *, quantize: str = "float32",
                 calibration: np.ndarray | None = None) -> bytes:
    """Convert ``model`` (an intake.LoadedModel or a Keras 3 model); returns the .onnx bytes (dynamic batch, no external data).

    The recurrence is an ONNX Loop for float32 and dynamic. ``int8`` and ``float16`` convert
    the unrolled graph instead: static QDQ calibration cannot see tensors inside a Loop body
    (they are not graph outputs), so it would quietly leave the recurrence in float; and the
    float16 rewriter mistypes the Loop's carried values, which onnxruntime then refuses.
    """
    import tf2onnx

    if quantize not in MODES:
        raise ValueError(f"unknown ONNX quantization {quantize!r}; choose from {', '.join(MODES)}")
    if quantize == "int8" and (calibration is None or len(calibration) == 0):
        raise ValueError("int8 needs calibration reviews")
    source = loaded(model)
    fn = inference_function(source.weights, source.spec, None,
                            unroll=quantize in ("int8", "float16"))
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=OPSET)
    if source.spec.gate == "hard_sigmoid":
        _hard_sigmoid_nodes(proto.graph)
    if quantize == "float32":
        return proto.SerializeToString()
    if quantize == "float16":
        from onnxconverter_common import float16

        # Inputs stay int32 ids and the output stays float32; weights and math go fp16.
        return float16.convert_float_to_float16(proto, keep_io_types=True).SerializeToString()
    with tempfile.TemporaryDirectory(prefix="imdb-edge-onnx-") as tmp:
        src, dst = os.path.join(tmp, "float.onnx"), os.path.join(tmp, "quant.onnx")
        with open(src, "wb") as f:
            f.write(proto.SerializeToString())
        _quantize(src, dst, quantize, calibration)
        with open(dst, "rb") as f:
            return f.read()


def convert(model, job, calibration) -> bytes:
    return convert_onnx(model, quantize=job.mode,
                        calibration=calibration if job.calibrated else None)


def inspect(data: bytes):
    from imdb_edge.export import compat

    return compat.onnx_info(data)["ops"], compat.check_onnx(data)


def io_specs(data: bytes, spec):
    from imdb_edge.runtime.sidecar import TensorSpec

    return (TensorSpec(INPUT_NAME, [None, spec.length], "int32"),
            TensorSpec(OUTPUT_NAME, [None, 1], "float32"))


def sidecar_problem(data: bytes, sidecar) -> str:
    import onnx

    from imdb_edge.export.gate import sizes_problem

    proto = onnx.load_from_string(data)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    length = dims[1].dim_value if len(dims) == 2 else 0
    return sizes_problem(length, [tuple(t.dims) for t in proto.graph.initializer], sidecar)


def _quantize(src: str, dst: str, quantize: str, calibration) -> None:
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_dynamic, quantize_static)

    # The head (attention pool and classifier) stays float in both modes: quantizing the
    # pooled activations per tensor costs more than the tolerance table allows.
    head = _head_nodes(src)
    if quantize == "dynamic":
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8, nodes_to_exclude=head)
        return

    class Reader(CalibrationDataReader):
        def __init__(self):
            rows = np.asarray(calibration, dtype=np.int32)
            self._batches = iter(np.array_split(rows, max(1, len(rows) // 32)))

        def get_next(self):
            batch = next(self._batches, None)
            return None if batch is None else {INPUT_NAME: batch}

    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    per_channel=True, op_types_to_quantize=list(INT8_OP_TYPES),
                    nodes_to_exclude=head)


def _head_nodes(src: str) -> list:
    import onnx

    head = [node.name for node in onnx.load(src).graph.node if f"{HEAD_SCOPE}/" in node.name]
    if not head:
        raise RuntimeError(f"no node of the '{HEAD_SCOPE}' scope in the converted graph: "
                           "tf2onnx's naming changed, and quantizing would reach the head")
    return head


def _hard_sigmoid_nodes(graph) -> None:
    """Replace each gate's clip(0.2 x + 0.5, 0, 1), the Mul, Add, Max, Min that tf2onnx
    names under graph.GATE_SCOPE (``.../hard_sigmoid_3/mul``), with ONNX's HardSigmoid,
    whose alpha 0.2 and beta 0.5 are Keras 2's formula: in the graph and every Loop body."""
    import re

    from onnx import helper

    for node in graph.node:
        for attr in node.attribute:
            if attr.type == attr.GRAPH:
                _hard_sigmoid_nodes(attr.g)
    pattern = re.compile(rf"^(.*?(?:^|/){GATE_SCOPE}(?:_\d+)?)/")
    constants = {i.name for i in graph.initializer} | {
        o for n in graph.node if n.op_type == "Constant" for o in n.output}
    nodes = list(graph.node)
    scope_of = [(m.group(1) if (m := pattern.match(n.name)) else None) for n in nodes]
    if not any(scope_of):
        return
    members: dict = {}
    for n, scope in zip(nodes, scope_of):
        if scope:
            members.setdefault(scope, []).append(n)
    # Which scopes (None: outside any gate) read each tensor.
    readers: dict = {}
    for n, scope in zip(nodes, scope_of):
        for i in n.input:
            readers.setdefault(i, set()).add(scope)
    for o in graph.output:
        readers.setdefault(o.name, set()).add(None)
    replacement = {}
    for scope, group in members.items():
        produced = {o for n in group for o in n.output}
        # x comes from outside the scope; the constants 0.2, 0.5, 0, 1 are named inside it,
        # or are one scope's constants shared by all (tf2onnx merges equal initializers).
        data = [i for n in group for i in n.input
                if i not in produced and not i.startswith(scope + "/") and i not in constants]
        outputs = [o for o in produced if readers.get(o, set()) - {scope}]
        if [n.op_type for n in group] != ["Mul", "Add", "Max", "Min"] or len(data) != 1 \
                or len(outputs) != 1:
            raise RuntimeError(f"cannot read the gate {scope!r} as one HardSigmoid "
                               f"({[n.op_type for n in group]}); tf2onnx's output changed")
        replacement[scope] = helper.make_node(
            "HardSigmoid", data, outputs, name=f"{scope}/HardSigmoid", alpha=0.2, beta=0.5)
    kept, placed = [], set()
    for n, scope in zip(nodes, scope_of):
        if scope is None:
            kept.append(n)
        elif scope not in placed:  # where the gate's first node was: inputs are ready there
            kept.append(replacement[scope])
            placed.add(scope)
    del graph.node[:]
    graph.node.extend(kept)
    used = {i for n in graph.node for i in n.input}
    unused = [i for i in graph.initializer if i.name not in used and pattern.match(i.name)]
    for constant in unused:
        graph.initializer.remove(constant)
