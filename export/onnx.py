"""Keras reference model -> ONNX (tf2onnx), float32 / float16 / dynamic int8 / static int8."""
from __future__ import annotations

import os
import tempfile

import numpy as np

from imdb_edge.export.graph import HEAD_SCOPE, INPUT_NAME, inference_function, weights_of

MODES = ("float32", "float16", "dynamic", "int8")
OPSET = 17
# Static int8 quantizes the matrix products and the embedding gathers of the recurrence,
# and keeps in float what TFLite's int8 keeps in float (export/tflite.py INT8_FLOAT_OPS):
# Softmax, Mul, Sigmoid, the running Add of the cell state, and the head.
INT8_OP_TYPES = ("MatMul", "Gather")
INT8_FLOAT_OPS = ("Softmax", "Mul", "Sigmoid", "Add")  # and the head's MatMuls, by name


def convert_onnx(model, *, quantize: str = "float32",
                 calibration: np.ndarray | None = None) -> bytes:
    """Convert the reference model; returns the .onnx bytes (dynamic batch, no external data).

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
    fn = inference_function(weights_of(model), None, unroll=quantize in ("int8", "float16"))
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=OPSET)
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


def _quantize(src: str, dst: str, quantize: str, calibration) -> None:
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_dynamic, quantize_static)

    if quantize == "dynamic":
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
        return

    class Reader(CalibrationDataReader):
        def __init__(self):
            rows = np.asarray(calibration, dtype=np.int32)
            self._batches = iter(np.array_split(rows, max(1, len(rows) // 32)))

        def get_next(self):
            batch = next(self._batches, None)
            return None if batch is None else {INPUT_NAME: batch}

    import onnx

    head = [node.name for node in onnx.load(src).graph.node if f"{HEAD_SCOPE}/" in node.name]
    if not head:
        raise RuntimeError(f"no node of the '{HEAD_SCOPE}' scope in the converted graph: "
                           "tf2onnx's naming changed, and int8 would quantize the head")
    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    per_channel=True, op_types_to_quantize=list(INT8_OP_TYPES),
                    nodes_to_exclude=head)
