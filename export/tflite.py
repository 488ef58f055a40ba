"""A family model -> TFLite flatbuffer, builtin ops only, in five quantization modes."""
from __future__ import annotations

import tempfile

import numpy as np

from imdb_edge.export.formats import FORMATS
from imdb_edge.export.graph import INPUT_NAME, inference_function, loaded

MODES = FORMATS["tflite"].modes

# Ops the int8 model keeps in float. The attention weights are a softmax over every step
# (each a small fraction), which int8's fixed softmax output scale rounds to a few levels;
# an int8 head (its two BATCH_MATMULs, the RESHAPE and STRIDED_SLICE between them, the bias
# ADD, LOGISTIC) moves the logit in coarse steps, so reviews near the threshold flip; and
# the cell state c, a running ADD, keeps its precision over the steps in float. Each group
# kept in float raised label agreement with Keras at no cost in batch-1 latency
# (benchmarks/README.md, "int8: the ops kept in float"). Weights, gathers and the
# recurrence's matrix products stay int8, which keeps the file small. RESHAPE,
# STRIDED_SLICE and BATCH_MATMUL occur only in the head.
INT8_FLOAT_OPS = ("SOFTMAX", "MUL", "LOGISTIC", "ADD", "BATCH_MATMUL", "RESHAPE", "STRIDED_SLICE")


def convert_tflite(model, *, quantize: str = "float32", batch: int | None = 1,
                   calibration: np.ndarray | None = None, int8_io: bool = False) -> bytes:
    """Convert ``model`` (an intake.LoadedModel or a Keras 3 model); returns the .tflite bytes.

    ``batch`` None makes the batch dimension resizable at run time. ``calibration`` (padded
    training ids, (N, length)) is required for ``int8`` and ``int16x8``. ``int8_io`` gives the
    int8 model an int8 output (the input stays int32 token ids in every mode: a vocabulary's
    ids do not fit in 8 bits).
    """
    import tensorflow as tf

    if quantize not in MODES:
        raise ValueError(f"unknown TFLite quantization {quantize!r}; choose from {', '.join(MODES)}")
    if quantize in ("int8", "int16x8") and (calibration is None or len(calibration) == 0):
        raise ValueError(f"{quantize} needs calibration reviews")
    if int8_io and quantize != "int8":
        raise ValueError("int8 input/output applies to --quantize int8 only")

    source = loaded(model)
    fn = inference_function(source.weights, source.spec, batch, unroll=quantize == "int16x8")
    with tempfile.TemporaryDirectory(prefix="imdb-edge-savedmodel-") as tmp:
        converter = saved_model_converter(fn, tmp, quantize)
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        elif quantize == "int8":
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if int8_io:
                converter.inference_output_type = tf.int8
        elif quantize == "int16x8":
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        if quantize in ("int8", "int16x8"):
            converter.representative_dataset = _representative(calibration, batch)
        if quantize == "int8":
            return _selective_int8(converter, calibration, batch)
        return bytes(converter.convert())


def saved_model_converter(fn, folder: str, quantize: str):
    """A TFLiteConverter for the tf.function ``fn`` (its weights in ``fn.weights``), saved
    as a SavedModel in ``folder``: builtin ops only, and the weight optimisation of
    ``quantize``; the modes that need calibration add theirs."""
    import tensorflow as tf

    # Via a SavedModel: the calibrator needs a signature, which bare concrete functions lack.
    module = tf.Module()
    module.infer = fn
    module.weights = list(fn.weights)  # tracked, so the SavedModel holds them
    tf.saved_model.save(module, folder, signatures={"serving_default": fn.get_concrete_function()})
    converter = tf.lite.TFLiteConverter.from_saved_model(folder)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # never Flex
    if quantize != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "dynamic":
        # Per-channel hybrid FULLY_CONNECTED is op version 12, which tflite-runtime 2.14
        # (max 10) cannot load; per-tensor weight scales keep it at a version it knows.
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    return converter


def _selective_int8(converter, calibration, batch) -> bytes:
    """Full-integer int8 except INT8_FLOAT_OPS, via TFLite's selective quantization."""
    import tensorflow as tf

    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                           tf.lite.OpsSet.TFLITE_BUILTINS]
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=_representative(calibration, batch),
        debug_options=tf.lite.experimental.QuantizationDebugOptions(
            denylisted_ops=list(INT8_FLOAT_OPS)))
    return bytes(debugger.get_nondebug_quantized_model())


def _representative(calibration: np.ndarray, batch: int | None):
    rows = np.asarray(calibration, dtype=np.int32)
    step = batch or 1

    def generate():
        for start in range(0, len(rows) - step + 1, step):
            yield {INPUT_NAME: rows[start:start + step]}

    return generate


def convert(model, job, calibration) -> bytes:
    return convert_tflite(model, quantize=job.mode, batch=job.batch, int8_io=job.int8_io,
                          calibration=calibration if job.calibrated else None)


def inspect(data: bytes):
    from imdb_edge.export import compat

    return compat.tflite_ops(data), compat.check_tflite(data)


def io_specs(data: bytes, spec):
    """The input and output tensors as the interpreter reports them, quantization included."""
    from imdb_edge.runtime.sidecar import TensorSpec

    interpreter = _interpreter(data)
    specs = []
    for d in (interpreter.get_input_details()[0], interpreter.get_output_details()[0]):
        scale, zero = d["quantization"]
        quantized = np.dtype(d["dtype"]).kind in "iu" and scale != 0.0
        specs.append(TensorSpec(d["name"], [int(v) for v in d["shape"]], np.dtype(d["dtype"]).name,
                                float(scale) if quantized else None,
                                int(zero) if quantized else None))
    return tuple(specs)


def sidecar_problem(data: bytes, sidecar) -> str:
    from imdb_edge.export.gate import sizes_problem

    interpreter = _interpreter(data)
    length = int(interpreter.get_input_details()[0]["shape"][1])
    tables = [tuple(int(v) for v in d["shape"]) for d in interpreter.get_tensor_details()]
    return sizes_problem(length, tables, sidecar)


def _interpreter(data: bytes):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_content=data)
