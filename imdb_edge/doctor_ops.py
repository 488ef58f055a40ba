"""The op check of `imdb-edge doctor`: a sidecar's op list against the installed runtime.

A TFLite runtime is asked about each (op, version) on its own, with a model that holds
nothing but that operator code (``opcode_model``; a runtime resolves every code when it
loads a model), so the answer names the op. onnxruntime is asked for its op schemas.
"""
from __future__ import annotations

import struct

from imdb_edge.doctor_env import OK, backend_version, quiet_native_stderr
from imdb_edge.helpers import one_line

# TFLite's BuiltinOperator codes in code order (schema.fbs; the enum is append-only, a
# code never changes meaning). A sidecar names ops, a probe model needs their codes.
BUILTIN_OPERATORS = (
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D",
    "DEPTH_TO_SPACE", "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED",
    "HASHTABLE_LOOKUP", "L2_NORMALIZATION", "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION",
    "LOGISTIC", "LSH_PROJECTION", "LSTM", "MAX_POOL_2D", "MUL", "RELU", "RELU_N1_TO_1",
    "RELU6", "RESHAPE", "RESIZE_BILINEAR", "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF",
    "TANH", "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL", "CUSTOM", "EMBEDDING_LOOKUP_SPARSE",
    "PAD", "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER", "BATCH_TO_SPACE_ND",
    "SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN", "SUB", "DIV", "SQUEEZE",
    "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP",
    "TOPK_V2", "SPLIT", "LOG_SOFTMAX", "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST",
    "PRELU", "MAXIMUM", "ARG_MAX", "MINIMUM", "LESS", "NEG", "PADV2", "GREATER",
    "GREATER_EQUAL", "LESS_EQUAL", "SELECT", "SLICE", "SIN", "TRANSPOSE_CONV",
    "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL", "NOT_EQUAL", "LOG", "SUM", "SQRT",
    "RSQRT", "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD", "REDUCE_MAX", "PACK",
    "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT", "UNPACK", "REDUCE_MIN",
    "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD", "RANGE",
    "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS",
    "SPLIT_V", "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND", "COS", "WHERE", "RANK",
    "ELU", "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG", "ROUND",
    "HARD_SWISH", "IF", "WHILE", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5",
    "SCATTER_ND", "SELECT_V2", "DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL",
    "PLACEHOLDER_FOR_GREATER_OP_CODES", "CUMSUM", "CALL_ONCE", "BROADCAST_TO", "RFFT2D",
    "CONV_3D", "IMAG", "REAL", "COMPLEX_ABS", "HASHTABLE", "HASHTABLE_FIND",
    "HASHTABLE_IMPORT", "HASHTABLE_SIZE", "REDUCE_ALL", "CONV_3D_TRANSPOSE", "VAR_HANDLE",
    "READ_VARIABLE", "ASSIGN_VARIABLE", "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL",
    "BUCKETIZE", "RANDOM_UNIFORM", "MULTINOMIAL", "GELU", "DYNAMIC_UPDATE_SLICE",
    "RELU_0_TO_1", "UNSORTED_SEGMENT_PROD", "UNSORTED_SEGMENT_MAX", "UNSORTED_SEGMENT_SUM",
    "ATAN2", "UNSORTED_SEGMENT_MIN", "SIGN", "BITCAST", "BITWISE_XOR", "RIGHT_SHIFT",
    "STABLEHLO_LOGISTIC", "STABLEHLO_ADD", "STABLEHLO_DIVIDE", "STABLEHLO_MULTIPLY",
    "STABLEHLO_MAXIMUM", "STABLEHLO_RESHAPE", "STABLEHLO_CLAMP", "STABLEHLO_CONCATENATE",
    "STABLEHLO_BROADCAST_IN_DIM", "STABLEHLO_CONVOLUTION", "STABLEHLO_SLICE",
    "STABLEHLO_CUSTOM_CALL", "STABLEHLO_REDUCE", "STABLEHLO_ABS", "STABLEHLO_AND",
    "STABLEHLO_COSINE", "STABLEHLO_EXPONENTIAL", "STABLEHLO_FLOOR", "STABLEHLO_LOG",
    "STABLEHLO_MINIMUM", "STABLEHLO_NEGATE", "STABLEHLO_OR", "STABLEHLO_POWER",
    "STABLEHLO_REMAINDER", "STABLEHLO_RSQRT", "STABLEHLO_SELECT", "STABLEHLO_SUBTRACT",
    "STABLEHLO_TANH", "STABLEHLO_SCATTER", "STABLEHLO_COMPARE", "STABLEHLO_CONVERT",
    "STABLEHLO_DYNAMIC_SLICE", "STABLEHLO_DYNAMIC_UPDATE_SLICE", "STABLEHLO_PAD",
    "STABLEHLO_IOTA", "STABLEHLO_DOT_GENERAL", "STABLEHLO_REDUCE_WINDOW", "STABLEHLO_SORT",
    "STABLEHLO_WHILE", "STABLEHLO_GATHER", "STABLEHLO_TRANSPOSE", "DILATE",
    "STABLEHLO_RNG_BIT_GENERATOR", "REDUCE_WINDOW", "STABLEHLO_COMPOSITE",
    "STABLEHLO_SHIFT_LEFT", "STABLEHLO_CBRT", "STABLEHLO_CASE"
)# How each scalar field of a probe model's tables is packed (an i8 is padded to 4 bytes).
SCALARS = {"u32": "<I", "i32": "<i", "i8": "<b3x"}


def op_check(side, backend: str) -> dict:
    """The sidecar's op list against the installed ``backend``: {"status": "ok" | "fail" |
    "unchecked", "checked": N, "missing": [reasons], "note": str}."""
    if side.format == "numpy":
        return dict(status=OK, checked=0, missing=[], note="no ops: numpy computes the network")
    if not side.ops:
        return dict(status="unchecked", checked=0, missing=[],
                    note="the sidecar lists no ops; the load decides")
    try:
        if side.format == "tflite":
            return _tflite_ops(side.ops, backend)
        return _onnx_ops(side.ops)
    except Exception as exc:  # the runtime is installed but broken: the load will say more
        return dict(status="unchecked", checked=0, missing=[],
                    note=f"could not ask {backend}: {one_line(exc)}")


def _tflite_ops(ops: list, backend: str) -> dict:
    from imdb_edge.runtime.backends import resolve

    interpreter = resolve("tflite", backend).library()
    missing, unknown, checked = [], [], 0
    for op in ops:
        name, version = str(op.get("name")), op.get("version", 1)
        if name.startswith("CUSTOM:"):
            missing.append(f"custom op {name[len('CUSTOM:'):]} is not a builtin op; "
                           f"{backend} registers builtin ops only")
            continue
        if name not in BUILTIN_OPERATORS or not isinstance(version, int):
            unknown.append(name)
            continue
        checked += 1
        try:
            with quiet_native_stderr():
                interpreter(model_content=opcode_model(BUILTIN_OPERATORS.index(name), version))
        except (ValueError, RuntimeError):
            missing.append(f"{name} v{version} is not registered by {backend} "
                           f"{backend_version(backend) or ''}".rstrip())
    note = f"{checked} op codes asked"
    if unknown:
        note += f"; not known to this imdb-edge, left to the load: {', '.join(unknown)}"
    return dict(status="fail" if missing else OK, checked=checked, missing=missing, note=note)


def _onnx_ops(ops: list) -> dict:
    from onnxruntime.capi import onnxruntime_pybind11_state as ort

    known = {(s.domain or "ai.onnx", s.name) for s in ort.get_all_operator_schema()}
    missing = []
    for op in ops:
        name = str(op.get("name"))
        domain, _, op_type = name.rpartition(":")
        if (domain or "ai.onnx", op_type) not in known:
            missing.append(f"op {name} has no schema in onnxruntime "
                           f"{backend_version('onnxruntime')}")
    return dict(status="fail" if missing else OK, checked=len(ops), missing=missing,
                note=f"{len(ops)} op types asked")


def opcode_model(code: int, version: int) -> bytes:
    """A TFLite flatbuffer whose only content is one operator code (no operator uses it, no
    tensors): loading it succeeds exactly when the runtime registers ``code`` at
    ``version``. Written by hand, so a device needs no flatbuffers package or schema.

    Layout (every offset points forward, every table and vector 4-byte aligned): the root
    offset and "TFL3", then Model, its operator_codes vector and the one OperatorCode,
    its subgraphs vector and one SubGraph with four empty vectors (tensors, inputs,
    outputs, operators), its buffers vector and the one empty Buffer (buffer 0)."""
    placeholder = BUILTIN_OPERATORS.index("PLACEHOLDER_FOR_GREATER_OP_CODES")
    model = _Flatbuffer(b"TFL3")
    # Model: version 3, operator_codes, subgraphs, no description, buffers.
    model.table("model", [("u32", 3), "opcodes", "subgraphs", None, "buffers"])
    model.vector("opcodes", ["opcode"])
    # OperatorCode: the deprecated int8 code (capped at the placeholder), no custom_code,
    # version, and the int32 code that holds codes past 127.
    model.table("opcode", [("i8", min(code, placeholder)), None, ("i32", version),
                           ("i32", code)])
    model.vector("subgraphs", ["subgraph"])
    model.table("subgraph", ["tensors", "inputs", "outputs", "operators"])
    for key in ("tensors", "inputs", "outputs", "operators"):
        model.vector(key, [])
    model.vector("buffers", ["buffer"])
    model.table("buffer", [])
    return model.finish("model")


class _Flatbuffer:
    """A flatbuffer written front to back: each table or vector is appended once under a
    key, and a reference to one is a placeholder that ``finish`` patches once every target
    exists."""

    def __init__(self, identifier: bytes):
        self.buf = bytearray(b"\0\0\0\0" + identifier)   # the root offset comes last
        self.patches = []                 # (position of a uoffset, key of its target)
        self.targets = {}                 # key -> position of its table or vector

    def table(self, key: str, fields: list) -> None:
        """``fields``: per slot None (absent), (a kind of SCALARS, value), or the key of
        the table or vector it refers to."""
        present = [f for f in fields if f is not None]
        vtable = struct.pack("<HH", 4 + 2 * len(fields), 4 + 4 * len(present))
        offsets, at = [], 4
        for f in fields:
            offsets.append(0 if f is None else at)
            at += 0 if f is None else 4
        vtable += b"".join(struct.pack("<H", o) for o in offsets)
        vtable += b"\0" * (-len(vtable) % 4)
        vtable_at = len(self.buf)
        self.buf.extend(vtable)
        self.targets[key] = len(self.buf)
        self.buf.extend(struct.pack("<i", self.targets[key] - vtable_at))
        for f in present:
            if isinstance(f, str):
                self._reference(f)
            else:
                kind, value = f
                self.buf.extend(struct.pack(SCALARS[kind], value))

    def vector(self, key: str, keys: list) -> None:
        """A vector of references to the tables ``keys``."""
        self.targets[key] = len(self.buf)
        self.buf.extend(struct.pack("<I", len(keys)))
        for target in keys:
            self._reference(target)

    def _reference(self, key: str) -> None:
        self.patches.append((len(self.buf), key))
        self.buf.extend(b"\0\0\0\0")

    def finish(self, root: str) -> bytes:
        struct.pack_into("<I", self.buf, 0, self.targets[root])
        for position, key in self.patches:
            struct.pack_into("<I", self.buf, position, self.targets[key] - position)
        return bytes(self.buf)
