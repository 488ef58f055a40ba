"""The exporter's compatibility gate: op lists, per-runtime verdicts, and enforcement.

TFLite models are converted from tiny tf.functions (or written by hand as one-opcode
flatbuffers) so the whole file runs in seconds. Where the tflite-runtime 2.14 venv exists,
the static 2.14 table is checked against what that runtime really loads.
"""
from __future__ import annotations

import pytest

from imdb_edge.export import compat
from imdb_edge.export import op_versions_tflite_2_14 as table

TF_MISSING = "tensorflow is not installed (pip install 'imdb-edge[export]')"
T214 = "tflite-runtime-2.14"


# ------------------------------------------------------------------------------ helpers

@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow", reason=TF_MISSING)


@pytest.fixture(scope="module")
def schema(tf):
    from tensorflow.lite.python import schema_py_generated

    return schema_py_generated


@pytest.fixture(scope="module")
def litert():
    return pytest.importorskip("ai_edge_litert.interpreter",
                               reason="ai-edge-litert is not installed")


@pytest.fixture(scope="module")
def tflite214():
    python = compat.tflite214_python()
    if python is None:
        pytest.skip("no tflite-runtime 2.14 venv (.venv-tflite214 or "
                    f"${compat.TFLITE214_PYTHON_ENV})")
    return python


def convert(tf, fn, shape, *, select_tf_ops=False, allow_custom_ops=False) -> bytes:
    f = tf.function(fn, input_signature=[tf.TensorSpec(shape, tf.float32)], autograph=False)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    if select_tf_ops:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS,
                                               tf.lite.OpsSet.SELECT_TF_OPS]
    converter.allow_custom_ops = allow_custom_ops
    return converter.convert()


def pack(schema, model) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def opcode_model(schema, codes, tensor_type=None) -> bytes:
    """A model whose only content is operator codes (no operator uses them): a runtime still
    resolves every code at load time, so it fails exactly when a code is unsupported.
    ``codes``: (builtin code, version, legacy); legacy files set only the deprecated field."""
    model = schema.ModelT()
    model.version = 3
    model.operatorCodes = []
    for code, version, legacy in codes:
        oc = schema.OperatorCodeT()
        placeholder = schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES   # 127
        oc.deprecatedBuiltinCode = min(code, placeholder)
        oc.builtinCode = 0 if legacy else code
        oc.version = version
        model.operatorCodes.append(oc)
    subgraph = schema.SubGraphT()
    subgraph.tensors, subgraph.inputs, subgraph.outputs, subgraph.operators = [], [], [], []
    if tensor_type is not None:
        tensor = schema.TensorT()
        tensor.shape, tensor.type, tensor.buffer, tensor.name = [1], tensor_type, 0, "x"
        subgraph.tensors, subgraph.inputs, subgraph.outputs = [tensor], [0], [0]
    model.subgraphs = [subgraph]
    model.buffers = [schema.BufferT()]
    return pack(schema, model)


def with_op_version(schema, model_bytes: bytes, name: str, version: int) -> bytes:
    """A copy of a model with operator code ``name`` set to ``version``."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    code = getattr(schema.BuiltinOperator, name)
    hits = [oc for oc in model.operatorCodes
            if max(oc.builtinCode, oc.deprecatedBuiltinCode) == code]
    assert hits, f"{name} not in the model"
    for oc in hits:
        oc.version = version
    return pack(schema, model)


# --------------------------------------------------------------------------- tiny models

@pytest.fixture(scope="module")
def dense(tf) -> bytes:
    w = tf.constant([[1.0, 2.0], [3.0, 4.0], [0.5, -1.0]])
    return convert(tf, lambda x: tf.nn.softmax(tf.matmul(x, w)), [1, 3])


@pytest.fixture(scope="module")
def flex(tf) -> bytes:
    # MatrixDeterminant has no TFLite builtin: with SELECT_TF_OPS it becomes a Flex op.
    return convert(tf, tf.linalg.det, [2, 2], select_tf_ops=True)


@pytest.fixture(scope="module")
def custom(tf) -> bytes:
    # Igamma is neither builtin nor Flex: allow_custom_ops leaves it as custom op "Igamma".
    return convert(tf, lambda x: tf.math.igamma(x, x), [1, 3], allow_custom_ops=True)


@pytest.fixture(scope="module")
def looped(tf) -> bytes:
    def fn(x):
        return tf.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * 2.0 + 1.0), [0, x])[1]
    return convert(tf, fn, [1, 3])


@pytest.fixture(scope="module")
def fc_v99(schema, dense) -> bytes:
    return with_op_version(schema, dense, "FULLY_CONNECTED", 99)


# ------------------------------------------------------------------------------ op lists

def test_tflite_ops_lists_the_ops_of_a_dense_softmax_model(dense):
    assert compat.tflite_ops(dense) == [
        {"name": "FULLY_CONNECTED", "version": 1, "count": 1},
        {"name": "SOFTMAX", "version": 1, "count": 1},
    ]


def test_tflite_ops_counts_operators_in_every_subgraph(schema, looped):
    model = schema.Model.GetRootAs(looped, 0)
    assert model.SubgraphsLength() >= 3            # main, loop condition, loop body
    total = sum(model.Subgraphs(s).OperatorsLength() for s in range(model.SubgraphsLength()))
    ops = compat.tflite_ops(looped)
    names = {op["name"] for op in ops}
    assert {"WHILE", "LESS", "MUL"} <= names       # WHILE in main, the rest in its subgraphs
    assert sum(op["count"] for op in ops) == total


def test_tflite_ops_names_flex_and_custom_ops(flex, custom):
    assert compat.tflite_ops(flex) == [
        {"name": "CUSTOM:FlexMatrixDeterminant", "version": 1, "count": 1}]
    assert {"name": "CUSTOM:Igamma", "version": 1, "count": 1} in compat.tflite_ops(custom)


def test_tflite_ops_reads_legacy_and_extended_builtin_codes(schema):
    # SOFTMAX (25) written the old way (deprecated_builtin_code only); GELU (150 > 127) the
    # new way (deprecated field = 127 placeholder, real code in builtin_code).
    op = schema.BuiltinOperator
    data = opcode_model(schema, [(op.SOFTMAX, 2, True), (op.GELU, 2, False), (4321, 1, False)])
    assert compat.tflite_ops(data) == [
        {"name": "BUILTIN_4321", "version": 1, "count": 0},
        {"name": "GELU", "version": 2, "count": 0},
        {"name": "SOFTMAX", "version": 2, "count": 0},
    ]
    assert compat.check_tflite(data, [T214])[T214] == (
        "BUILTIN_4321 v1 is not a builtin op of tflite-runtime 2.14")


def test_tflite_ops_rejects_bytes_that_are_not_tflite():
    with pytest.raises(ValueError, match="not a TFLite model"):
        compat.tflite_ops(b"\x00" * 64)


# ----------------------------------------------------------------------------- verdicts

def test_tiny_builtin_model_loads_on_both_targets(dense, litert):
    assert compat.check_tflite(dense) == {"litert": "ok", T214: "ok"}
    assert compat.enforce(compat.check_tflite(dense), compat.TFLITE_TARGETS) == []


def test_flex_model_is_refused_on_every_target(flex, litert):
    results = compat.check_tflite(flex)
    why = "Flex op FlexMatrixDeterminant (SELECT_TF_OPS) is not allowed: builtin ops only"
    assert results[T214] == why
    assert results["litert"].startswith(why)
    with pytest.raises(compat.IncompatibleArtifact) as raised:
        compat.enforce(results, compat.TFLITE_TARGETS)
    assert set(raised.value.reasons) == {"litert", T214}
    assert "litert: Flex op" in str(raised.value) and f"{T214}: Flex op" in str(raised.value)


def test_custom_op_is_refused(custom):
    assert compat.check_tflite(custom, [T214])[T214] == (
        "custom op Igamma is not allowed: builtin ops only")


def test_op_version_mismatch_is_reported_and_litert_fails_to_load(fc_v99, litert):
    assert {"name": "FULLY_CONNECTED", "version": 99, "count": 1} in compat.tflite_ops(fc_v99)
    results = compat.check_tflite(fc_v99)
    highest = table.MAX_VERSION["FULLY_CONNECTED"]
    assert results[T214] == f"FULLY_CONNECTED v99 > max v{highest} in tflite-runtime 2.14"
    assert results["litert"].startswith("litert ") and "FULLY_CONNECTED" in results["litert"]


def test_2_14_table_covers_min_versions_unknown_ops_and_tensor_types(schema):
    op, types = schema.BuiltinOperator, schema.TensorType
    cases = {
        opcode_model(schema, [(op.BROADCAST_TO, 1, False)]):
            "BROADCAST_TO v1 < min v2 in tflite-runtime 2.14",
        opcode_model(schema, [(op.STABLEHLO_SCATTER, 1, False)]):
            "STABLEHLO_SCATTER v1 is not a builtin op of tflite-runtime 2.14",
        opcode_model(schema, [(op.GELU, 3, False)]): "GELU v3 > max v2 in tflite-runtime 2.14",
        opcode_model(schema, [], tensor_type=types.BFLOAT16):
            "tensor type BFLOAT16 is not supported by tflite-runtime 2.14",
        opcode_model(schema, [(op.GELU, 2, False)], tensor_type=types.INT4): "ok",
    }
    for data, expected in cases.items():
        assert compat.check_tflite(data, [T214])[T214] == expected


def test_table_names_are_schema_op_names(schema):
    names = {k for k in vars(schema.BuiltinOperator) if k.isupper()}
    assert set(table.MAX_VERSION) <= names
    assert set(table.MIN_VERSION) <= set(table.MAX_VERSION)
    assert all(table.MIN_VERSION.get(k, 1) <= v for k, v in table.MAX_VERSION.items())
    assert table.MAX_TENSOR_TYPE == schema.TensorType.INT4


def test_unknown_target_is_refused_with_the_available_ones(dense):
    with pytest.raises(ValueError, match="available: litert, tflite-runtime-2.14"):
        compat.check_tflite(dense, ["tflite-runtime-2.9"])


# -------------------------------------------------------- the real tflite-runtime 2.14

def test_static_verdict_matches_real_tflite_runtime_214_on_test_models(
        schema, tflite214, dense, flex, custom, looped, fc_v99):
    op = schema.BuiltinOperator
    models = {
        "dense": dense, "flex": flex, "custom": custom, "looped": looped, "fc_v99": fc_v99,
        "fc_v10": with_op_version(schema, dense, "FULLY_CONNECTED", 10),
        "fc_v11": with_op_version(schema, dense, "FULLY_CONNECTED", 11),
        "softmax_v4": with_op_version(schema, dense, "SOFTMAX", 4),
        "gelu_v2_int4": opcode_model(schema, [(op.GELU, 2, False)],
                                     tensor_type=schema.TensorType.INT4),
        "bfloat16": opcode_model(schema, [], tensor_type=schema.TensorType.BFLOAT16),
    }
    real = dict(zip(models, compat.load_in_tflite_runtime_214(list(models.values()),
                                                              python=tflite214)))
    static = {name: compat.check_tflite(data, [T214])[T214] for name, data in models.items()}
    disagree = {name: (static[name], real[name]) for name in models
                if (static[name] == "ok") != (real[name] == "ok")}
    assert not disagree, disagree
    assert real["dense"] == "ok" and "version '99'" in real["fc_v99"]


def test_static_table_matches_real_tflite_runtime_214_op_by_op(schema, tflite214):
    """Every builtin op code of the current schema, at the edges of its 2.14 version range:
    the table must say "ok" exactly where the real runtime loads the model."""
    skip = {"CUSTOM", "PLACEHOLDER_FOR_GREATER_OP_CODES"}
    probes = []
    for name, code in sorted(vars(schema.BuiltinOperator).items()):
        if not name.isupper() or name in skip:
            continue
        if name in table.MAX_VERSION:
            lo, hi = table.MIN_VERSION.get(name, 1), table.MAX_VERSION[name]
            versions = sorted({lo - 1, lo, hi, hi + 1} - {0})
        else:
            versions = [1]
        probes += [(name, v, opcode_model(schema, [(code, v, False)])) for v in versions]
    real = compat.load_in_tflite_runtime_214([data for _, _, data in probes], python=tflite214)
    disagree = []
    for (name, version, data), loaded in zip(probes, real):
        static = compat.check_tflite(data, [T214])[T214]
        if (static == "ok") != (loaded == "ok"):
            disagree.append((name, version, static, loaded))
    assert not disagree, disagree


def test_load_in_tflite_runtime_214_needs_a_python(monkeypatch, tmp_path):
    monkeypatch.setenv(compat.TFLITE214_PYTHON_ENV, str(tmp_path / "python"))
    assert compat.tflite214_python() == str(tmp_path / "python")
    with pytest.raises(FileNotFoundError):
        compat.load_in_tflite_runtime_214([b""])


# ---------------------------------------------------------------------------------- ONNX

@pytest.fixture(scope="module")
def onnx():
    return pytest.importorskip("onnx", reason="onnx is not installed")


@pytest.fixture(scope="module")
def onnxruntime():
    return pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")


def onnx_model(onnx, *, external=False, domain_op=None, nested=False) -> bytes:
    import numpy as np
    from onnx import TensorProto, external_data_helper, helper, numpy_helper

    w = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(3, 2), "W")
    if external:
        # Points at a weights.bin that does not exist: the gate must refuse without looking.
        external_data_helper.set_external_data(w, location="weights.bin", offset=0, length=24)
        w.data_location = TensorProto.EXTERNAL
        w.ClearField("raw_data")
    nodes = [helper.make_node("MatMul", ["X", "W"], ["H"]),
             helper.make_node("Softmax", ["H"], ["Y"])]
    opsets = [helper.make_opsetid("", 17)]
    if domain_op:
        nodes[1] = helper.make_node(domain_op, ["H"], ["Y"], domain="com.example")
        opsets.append(helper.make_opsetid("com.example", 1))
    if nested:
        def branch(op):
            return helper.make_graph(
                [helper.make_node(op, ["H"], ["B"])], op.lower(), [],
                [helper.make_tensor_value_info("B", TensorProto.FLOAT, [1, 2])])
        nodes[1:] = [helper.make_node("ReduceSum", ["H"], ["S"], keepdims=0),
                     helper.make_node("Greater", ["S", "Z"], ["C"]),
                     helper.make_node("If", ["C"], ["Y"], then_branch=branch("Neg"),
                                      else_branch=branch("Softmax"))]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2])],
        initializer=[w] + ([helper.make_tensor("Z", TensorProto.FLOAT, [1], [0.0])]
                           if nested else []))
    return helper.make_model(graph, opset_imports=opsets, ir_version=8).SerializeToString()


def test_tiny_onnx_model_passes(onnx, onnxruntime):
    data = onnx_model(onnx)
    assert compat.onnx_info(data) == {
        "ir_version": 8,
        "opset_imports": {"ai.onnx": 17},
        "ops": [{"name": "MatMul", "count": 1}, {"name": "Softmax", "count": 1}],
        "external_data": [],
    }
    assert compat.check_onnx(data) == {"onnxruntime": "ok"}


def test_onnx_ops_inside_control_flow_subgraphs_are_counted(onnx, onnxruntime):
    data = onnx_model(onnx, nested=True)
    names = {op["name"]: op["count"] for op in compat.onnx_info(data)["ops"]}
    assert names == {"MatMul": 1, "ReduceSum": 1, "Greater": 1, "If": 1, "Neg": 1,
                     "Softmax": 1}
    assert compat.check_onnx(data) == {"onnxruntime": "ok"}


def test_onnx_external_data_is_refused_before_any_runtime_sees_it(onnx, monkeypatch):
    def must_not_load(_):
        raise AssertionError("a model with external data reached onnxruntime")
    monkeypatch.setattr(compat, "_onnxruntime_load", must_not_load)
    data = onnx_model(onnx, external=True)
    assert compat.onnx_info(data)["external_data"] == ["W"]
    results = compat.check_onnx(data)
    assert results["onnxruntime"] == ("tensor(s) W use external data: the exporter writes "
                                      "self-contained .onnx files only")
    with pytest.raises(compat.IncompatibleArtifact, match="onnxruntime: tensor"):
        compat.enforce(results, compat.ONNX_TARGETS)


def test_onnx_op_unknown_to_onnxruntime_is_refused(onnx, onnxruntime):
    data = onnx_model(onnx, domain_op="NoSuchOp")
    assert {"name": "com.example:NoSuchOp", "count": 1} in compat.onnx_info(data)["ops"]
    why = compat.check_onnx(data)["onnxruntime"]
    assert why.startswith(f"onnxruntime {onnxruntime.__version__} cannot load it: ")
    assert "NoSuchOp" in why


def test_onnx_info_rejects_bytes_that_are_not_onnx(onnx):
    with pytest.raises(ValueError, match="not an ONNX model"):
        compat.onnx_info(b"\xff\xff\xff\xff not a protobuf")


# ------------------------------------------------------------------------------ enforce

def test_enforce_raises_with_every_failing_target_listed():
    results = {"litert": "ok", T214: "FULLY_CONNECTED v12 > max v10 in tflite-runtime 2.14"}
    with pytest.raises(compat.IncompatibleArtifact) as raised:
        compat.enforce(results, ["litert", T214, "onnxruntime"])
    assert isinstance(raised.value, ValueError)
    assert raised.value.reasons == {T214: results[T214], "onnxruntime": "not checked"}
    assert f"{T214}: FULLY_CONNECTED v12 > max v10" in str(raised.value)


def test_enforce_warn_returns_the_reasons_instead():
    results = {"litert": "ok", T214: "custom op X is not allowed: builtin ops only"}
    assert compat.enforce(results, on_mismatch="warn") == [f"{T214}: {results[T214]}"]
    assert compat.enforce(results, ["litert"], on_mismatch="error") == []
    with pytest.raises(ValueError, match="on_mismatch"):
        compat.enforce(results, on_mismatch="ignore")
