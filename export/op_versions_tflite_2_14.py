"""Builtin ops and op versions that tflite-runtime 2.14.0 can load (its BuiltinOpResolver).

tflite-runtime 2.14.0 is the last tflite-runtime wheel; Raspberry Pi guides still install it.
A model is refused at load time ("Didn't find op for builtin opcode 'X' version 'N'") if any
of its operator codes names an op missing here or a version outside [MIN_VERSION, MAX_VERSION].

Where the numbers come from:
- Source: the AddBuiltin(op, registration, min_version, max_version) calls of
  ``BuiltinOpResolver::BuiltinOpResolver()`` in tensorflow/tensorflow
  ``tensorflow/lite/core/kernels/register.cc``. The stored copy read was at commit
  0314b97f5952b2e5188ffd0f540bd53012d7aa97, which is slightly newer than v2.14.0 (the
  wheel reports git 4dacf3f368e): it also registers STABLEHLO_SCATTER and LOG up to v2.
- Authority: the wheel itself. Every builtin op code of the current schema was written into
  a one-opcode model at versions 1..20 and loaded with tflite_runtime 2.14.0; the table
  below is exactly what loaded. It equals that register.cc minus STABLEHLO_SCATTER (2.14
  says "Op builtin_code out of range: 190") and with LOG capped at v1.
  tests/export/test_compat.py repeats this sweep whenever the 2.14 venv is present.
An op without explicit versions in register.cc is registered for version 1 only.
"""

# op name (schema BuiltinOperator) -> highest version tflite-runtime 2.14.0 registers.
MAX_VERSION = {
    "ABS": 5, "ADD": 5, "ADD_N": 1, "ARG_MAX": 3, "ARG_MIN": 3, "ASSIGN_VARIABLE": 1,
    "ATAN2": 1, "AVERAGE_POOL_2D": 3, "BATCH_MATMUL": 4, "BATCH_TO_SPACE_ND": 4,
    "BIDIRECTIONAL_SEQUENCE_LSTM": 3, "BIDIRECTIONAL_SEQUENCE_RNN": 3, "BITCAST": 1,
    "BITWISE_XOR": 1, "BROADCAST_ARGS": 1, "BROADCAST_TO": 3, "BUCKETIZE": 1,
    "CALL_ONCE": 1, "CAST": 5, "CEIL": 1, "COMPLEX_ABS": 1, "CONCATENATION": 4,
    "CONV_2D": 7, "CONV_3D": 1, "CONV_3D_TRANSPOSE": 1, "COS": 1, "CUMSUM": 1, "DENSIFY": 1,
    "DEPTHWISE_CONV_2D": 7, "DEPTH_TO_SPACE": 2, "DEQUANTIZE": 5, "DIV": 2,
    "DYNAMIC_UPDATE_SLICE": 1, "ELU": 1, "EMBEDDING_LOOKUP": 3,
    "EMBEDDING_LOOKUP_SPARSE": 1, "EQUAL": 4, "EXP": 2, "EXPAND_DIMS": 1, "FAKE_QUANT": 2,
    "FILL": 4, "FLOOR": 1, "FLOOR_DIV": 3, "FLOOR_MOD": 2, "FULLY_CONNECTED": 10,
    "GATHER": 6, "GATHER_ND": 4, "GELU": 2, "GREATER": 2, "GREATER_EQUAL": 3,
    "HARD_SWISH": 1, "HASHTABLE": 1, "HASHTABLE_FIND": 1, "HASHTABLE_IMPORT": 1,
    "HASHTABLE_LOOKUP": 1, "HASHTABLE_SIZE": 1, "IF": 1, "IMAG": 1, "L2_NORMALIZATION": 2,
    "L2_POOL_2D": 1, "LEAKY_RELU": 2, "LESS": 3, "LESS_EQUAL": 2,
    "LOCAL_RESPONSE_NORMALIZATION": 1, "LOG": 1, "LOGICAL_AND": 1, "LOGICAL_NOT": 1,
    "LOGICAL_OR": 1, "LOGISTIC": 3, "LOG_SOFTMAX": 2, "LSH_PROJECTION": 1, "LSTM": 4,
    "MATRIX_DIAG": 1, "MATRIX_SET_DIAG": 1, "MAXIMUM": 4, "MAX_POOL_2D": 3, "MEAN": 3,
    "MINIMUM": 4, "MIRROR_PAD": 3, "MUL": 7, "MULTINOMIAL": 1, "NEG": 1,
    "NON_MAX_SUPPRESSION_V4": 1, "NON_MAX_SUPPRESSION_V5": 1, "NOT_EQUAL": 3, "ONE_HOT": 1,
    "PACK": 4, "PAD": 4, "PADV2": 4, "POW": 1, "PRELU": 1, "QUANTIZE": 3,
    "RANDOM_STANDARD_NORMAL": 1, "RANDOM_UNIFORM": 1, "RANGE": 2, "RANK": 1,
    "READ_VARIABLE": 1, "REAL": 1, "REDUCE_ALL": 1, "REDUCE_ANY": 1, "REDUCE_MAX": 3,
    "REDUCE_MIN": 3, "REDUCE_PROD": 2, "RELU": 3, "RELU6": 3, "RELU_0_TO_1": 1,
    "RELU_N1_TO_1": 1, "RESHAPE": 1, "RESIZE_BILINEAR": 4, "RESIZE_NEAREST_NEIGHBOR": 4,
    "REVERSE_SEQUENCE": 1, "REVERSE_V2": 3, "RFFT2D": 1, "RIGHT_SHIFT": 1, "RNN": 3,
    "ROUND": 1, "RSQRT": 2, "SCATTER_ND": 1, "SEGMENT_SUM": 1, "SELECT": 4, "SELECT_V2": 2,
    "SHAPE": 1, "SIGN": 2, "SIN": 1, "SKIP_GRAM": 1, "SLICE": 6, "SOFTMAX": 3,
    "SPACE_TO_BATCH_ND": 4, "SPACE_TO_DEPTH": 2, "SPARSE_TO_DENSE": 3, "SPLIT": 4,
    "SPLIT_V": 2, "SQRT": 1, "SQUARE": 1, "SQUARED_DIFFERENCE": 2, "SQUEEZE": 2,
    "STRIDED_SLICE": 8, "SUB": 5, "SUM": 2, "SVDF": 4, "TANH": 3, "TILE": 3, "TOPK_V2": 3,
    "TRANSPOSE": 6, "TRANSPOSE_CONV": 4, "UNIDIRECTIONAL_SEQUENCE_LSTM": 4,
    "UNIDIRECTIONAL_SEQUENCE_RNN": 3, "UNIQUE": 1, "UNPACK": 4, "UNSORTED_SEGMENT_MAX": 1,
    "UNSORTED_SEGMENT_MIN": 1, "UNSORTED_SEGMENT_PROD": 1, "UNSORTED_SEGMENT_SUM": 1,
    "VAR_HANDLE": 1, "WHERE": 2, "WHILE": 1, "ZEROS_LIKE": 1,
}

# Ops whose lowest registered version is not 1 (BROADCAST_TO v1 was rolled back upstream).
MIN_VERSION = {"BROADCAST_TO": 2}

# Tensor types (schema TensorType) it accepts: FLOAT32 = 0 ... INT4 = 17. BFLOAT16 (18) and
# later fail with "Unsupported data type 18 in tensor" (found the same empirical way).
MAX_TENSOR_TYPE = 17
