"""What a TFLite flatbuffer asks of a runtime: its operator codes (name, version, uses) and
the tensor types it holds, read with the schema's generated reader (nothing is loaded)."""
from __future__ import annotations

from collections import Counter

from imdb_edge.helpers import pip_hint


def tflite_ops(model_bytes: bytes) -> list:
    """Every operator code of a TFLite model, over all subgraphs.

    Returns ``[{"name": str, "version": int, "count": int}]`` sorted by name then version.
    ``count`` is how many operators use the code (0 for a code listed but unused: a runtime
    still has to resolve it at load time). Builtin ops carry their schema name
    (``"FULLY_CONNECTED"``); custom ops are ``"CUSTOM:<custom_code>"``, Flex ops included
    (``"CUSTOM:FlexMatrixDeterminant"``); a code this schema does not name is ``"BUILTIN_<n>"``.
    """
    ops, _ = parse_tflite(model_bytes)
    return ops


def schema():
    """The generated Python reader for the TFLite flatbuffer schema."""
    try:
        from tensorflow.lite.python import schema_py_generated as generated
    except ImportError:
        try:
            from ai_edge_litert import schema_py_generated as generated
        except ImportError as e:
            raise ImportError(
                "Reading TFLite files requires tensorflow or ai-edge-litert. You can install "
                f"them via {pip_hint('export')}") from e
    return generated


def parse_tflite(model_bytes: bytes) -> tuple:
    """(op list as tflite_ops returns it, set of tensor type codes used)."""
    reader = schema()
    buf = bytes(model_bytes)
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ValueError("not a TFLite model: the flatbuffer lacks the 'TFL3' identifier")
    try:
        model = reader.Model.GetRootAs(buf, 0)
        codes = _operator_codes(reader, model)
        uses, tensor_types = _uses_and_types(model)
    except Exception as e:  # the flatbuffers reader raises struct/index errors on bad input
        raise ValueError(f"malformed TFLite flatbuffer: {type(e).__name__}: {e}") from e
    bad = sorted(i for i in uses if not 0 <= i < len(codes))
    if bad:
        raise ValueError(f"malformed TFLite flatbuffer: operators use opcode index {bad[0]} "
                         f"but the model has {len(codes)} operator codes")
    counts = Counter()
    for index, key in enumerate(codes):
        counts[key] += uses[index]
    ops = [{"name": name, "version": version, "count": counts[(name, version)]}
           for name, version in sorted(counts)]
    return ops, tensor_types


def _operator_codes(reader, model) -> list:
    """[(name, version)] of the model's operator codes, in index order."""
    names = {code: name for name, code in vars(reader.BuiltinOperator).items()
             if name.isupper()}
    custom = reader.BuiltinOperator.CUSTOM
    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        # Codes above 127 live in builtin_code, with deprecated_builtin_code set to
        # PLACEHOLDER_FOR_GREATER_OP_CODES (127); files from old converters only set the
        # deprecated field. The runtime takes the larger of the two, and so do we.
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code == custom:
            name = "CUSTOM:" + (oc.CustomCode() or b"").decode("utf-8", "replace")
        else:
            name = names.get(code, f"BUILTIN_{code}")
        codes.append((name, oc.Version()))
    return codes


def _uses_and_types(model) -> tuple:
    """(Counter of operators per opcode index, set of tensor type codes), all subgraphs."""
    uses, tensor_types = Counter(), set()
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for j in range(subgraph.OperatorsLength()):
            uses[subgraph.Operators(j).OpcodeIndex()] += 1
        for t in range(subgraph.TensorsLength()):
            tensor_types.add(subgraph.Tensors(t).Type())
    return uses, tensor_types
