"""`imdb-edge export` end to end on a small model: every TFLite mode, ONNX float32/dynamic,
numpy; sidecars, manifest, compatibility refusals, bad arguments.

The small model is the reference architecture with its Keras initial weights, its
classifier scaled so probabilities spread over (0, 1) instead of sitting at 0.5, and the
data is a synthetic .npz with a word index beside it, so these tests need neither the
network nor ../shared/data. ONNX float16 / int8 (unrolled graphs, minutes to convert) are
exported from the committed reference model by tests/parity and checked there.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")
pytest.importorskip("ai_edge_litert")

from imdb_edge.export import compat, pipeline  # noqa: E402
from imdb_edge.export.pipeline import ExportOptions  # noqa: E402
from imdb_edge.export.tflite import INT8_FLOAT_OPS  # noqa: E402
from imdb_edge.runtime import load  # noqa: E402
from imdb_edge.runtime.sidecar import load_sidecar  # noqa: E402

WORDS = ["the", "a", "movie", "film", "good", "bad", "great", "awful", "plot", "was"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    import keras

    from imdb_edge.spec import LAYER_NAMES
    from imdb_edge.train.data import Dataset, save_npz
    from imdb_edge.train.model import build_model

    root = tmp_path_factory.mktemp("export")
    keras.utils.set_random_seed(3)
    model = build_model()
    head = model.get_layer(LAYER_NAMES["head"])
    kernel, bias = head.get_weights()
    head.set_weights([kernel * 400.0, bias])
    model.save(root / "small.keras")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 20000, (600, 200)).astype(np.int32)
    x[:, 150:] = 0
    y = rng.integers(0, 2, 600).astype(np.int32)
    save_npz(Dataset(x[:300], y[:300], x[300:], y[300:], "synthetic", "-"), root / "data.npz")
    (root / "imdb_word_index.json").write_text(json.dumps({w: i + 1 for i, w in enumerate(WORDS)}))
    return root, model


@pytest.fixture(scope="module")
def exported(workspace):
    """Float kinds exported with validation (their tolerances are tight enough for any model);
    quantized kinds without, because the tolerance table is written for the trained
    reference model, where tests/parity applies it; here they are checked by value below."""
    root, model = workspace
    out = root / "artifacts"
    common = dict(model=str(root / "small.keras"), out=str(out), data=str(root / "data.npz"),
                  batches=(1,), calibration=64)
    # ONNX float16 (unrolled, minutes to convert) is exported from the reference model in
    # tests/parity instead.
    runs = [dict(formats=("tflite", "numpy"), modes=("float32", "float16"), validate=100),
            dict(formats=("onnx",), modes=("float32",), validate=100),
            dict(formats=("tflite",), modes=("dynamic", "int8", "int16x8"), validate=0),
            dict(formats=("onnx",), modes=("dynamic",), validate=0)]
    outcomes = []
    for run in runs:
        outcomes += pipeline.export(ExportOptions(**common, **run), log=lambda _: None)
    return out, {o.artifact: o for o in outcomes}, model, root


def test_every_planned_artifact_is_reported(exported):
    _, outcomes, _, _ = exported
    assert set(outcomes) == {
        "imdb-float32-b1.tflite", "imdb-float16-b1.tflite", "imdb-dynamic-b1.tflite",
        "imdb-int8-b1.tflite", "imdb-int16x8-b1.tflite", "imdb-float32.npz",
        "imdb-float32.onnx", "imdb-dynamic.onnx"}
    for name, outcome in outcomes.items():
        expected = "UNVALIDATED" if outcome.quantization in ("dynamic", "int8", "int16x8") else "PASS"
        assert outcome.status == expected, (name, outcome.problems)


@pytest.mark.parametrize("name", ["imdb-float32-b1.tflite", "imdb-float16-b1.tflite",
                                  "imdb-dynamic-b1.tflite", "imdb-int8-b1.tflite",
                                  "imdb-float32.npz", "imdb-float32.onnx", "imdb-dynamic.onnx"])
def test_published_artifact_matches_keras_by_value(exported, name):
    out, outcomes, model, root = exported
    if outcomes[name].status == "FAIL":
        pytest.fail(f"{name} failed validation: {outcomes[name].problems}")
    with np.load(root / "data.npz") as f:
        x = f["x_test"][:64]
    expected = model.predict(x, verbose=0)[:, 0]
    assert expected.std() > 0.05, "the small model must spread its outputs for this test to bite"
    got = load(out / name).predict_ids(x)
    error = np.abs(got - expected).max()
    kind = load_sidecar(out / name).quantization
    # Float kinds by error; quantized ones by a loose error bound plus label agreement.
    limit = {"float32": 1e-5, "float16": 1e-3, "dynamic": 0.05}.get(kind, 0.1)
    assert error <= limit, f"{name}: max abs error {error:.3g} > {limit}"
    assert np.mean((got >= 0.5) == (expected >= 0.5)) >= 0.95


def test_quantized_tflite_is_structurally_quantized(exported):
    out, _, _, _ = exported
    float_size = (out / "imdb-float32-b1.tflite").stat().st_size
    int8 = (out / "imdb-int8-b1.tflite").read_bytes()
    assert len(int8) <= 0.30 * float_size
    assert (out / "imdb-dynamic-b1.tflite").stat().st_size <= 0.30 * float_size
    assert (out / "imdb-float16-b1.tflite").stat().st_size <= 0.55 * float_size
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=int8)
    tensors = interpreter.get_tensor_details()
    assert "int8" in {d["dtype"].__name__ for d in tensors}
    # The main graph is the gather, the WHILE (the recurrence) and the head; the head
    # computes in float: an int8 logit moves in steps of 1/256 of its range and flips
    # reviews near the threshold.
    head = [op for op in interpreter._get_ops_details()
            if op["op_name"] not in ("GATHER", "WHILE", "QUANTIZE", "DEQUANTIZE")]
    names = [op["op_name"] for op in head]
    assert names.count("BATCH_MATMUL") == 2 and names[-1] == "LOGISTIC", names
    for op in head:
        assert tensors[op["outputs"][0]]["dtype"] == np.float32, op
    onnx_ops = {o["name"] for o in compat.onnx_info((out / "imdb-dynamic.onnx").read_bytes())["ops"]}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} & onnx_ops or "DequantizeLinear" in onnx_ops


def test_sidecar_holds_what_a_device_needs(exported):
    out, _, _, _ = exported
    side = load_sidecar(out / "imdb-int8-b1.tflite")
    assert side.format == "tflite" and side.quantization == "int8" and side.batch == 1
    assert side.input.dtype == "int32" and side.input.shape == [1, 200]
    assert side.preprocessing.max_len == 200 and side.preprocessing.vocab_size == 20000
    assert (side.preprocessing.start_id, side.preprocessing.oov_id,
            side.preprocessing.index_from) == (1, 2, 3)
    assert side.labels == ["negative", "positive"] and side.threshold == 0.5
    assert side.runtimes["litert"] == "ok" and side.runtimes["tflite-runtime-2.14"] == "ok"
    assert {o["name"] for o in side.ops} >= {"WHILE", "FULLY_CONNECTED", "SOFTMAX", "GATHER"}
    assert side.float_ops == list(INT8_FLOAT_OPS)
    measured = load_sidecar(out / "imdb-float32-b1.tflite").parity
    assert measured["rows"] > 100 and measured["max_abs"] <= 1e-5 and measured["agreement"] == 1.0
    assert tf.__version__ in (side.tools.get("tensorflow"), side.tools.get("tensorflow-cpu"))
    vocab = (out / "vocab.txt").read_text().split("\n")[:len(WORDS)]
    assert vocab == WORDS
    # The vocabulary's size, so a device refuses a replaced one before reading it.
    assert side.preprocessing.vocabulary_size_bytes == (out / "vocab.txt").stat().st_size


def test_manifest_lists_the_set(exported):
    out, outcomes, _, _ = exported
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {a["artifact"] for a in manifest["artifacts"]}
    published = {n for n, o in outcomes.items() if o.status in ("PASS", "UNVALIDATED")}
    assert listed == published
    assert not list(out.glob(".staging-*")), "staging folders must not outlive an export"


def test_manifest_ignores_unrelated_json(exported, tmp_path):
    """A user's own JSON in the output folder, even one with an "artifact" key, is neither
    listed nor fatal; the real sidecars still are."""
    from imdb_edge.export.manifest import write_manifest

    out, _, _, _ = exported
    folder = tmp_path / "out"
    shutil.copytree(out, folder)
    (folder / "notes.json").write_text(json.dumps({"artifact": "mine", "owner": "me"}))
    (folder / "imdb-float32-b1.tflite.bak.json").write_text(json.dumps({"artifact": "x.tflite"}))
    write_manifest(folder)
    listed = {a["artifact"] for a in json.loads((folder / "manifest.json").read_text())["artifacts"]}
    assert listed == {a["artifact"] for a in json.loads((out / "manifest.json").read_text())["artifacts"]}
    assert "mine" not in listed and "x.tflite" not in listed

def test_artifacts_load_on_tflite_runtime_2_14(exported):
    python = compat.tflite214_python()
    if python is None:
        pytest.skip("no tflite-runtime 2.14 environment (make setup-tflite214)")
    out, _, _, _ = exported
    blobs = [p.read_bytes() for p in sorted(out.glob("*.tflite"))]
    assert compat.load_in_tflite_runtime_214(blobs, python=python) == ["ok"] * len(blobs)


def _with_converter(monkeypatch, blob: bytes):
    from imdb_edge.export import tflite

    monkeypatch.setattr(tflite, "convert_tflite", lambda *a, **k: blob)


def _flex_model() -> bytes:
    @tf.function(input_signature=[tf.TensorSpec([1, 200], tf.int32)])
    def fn(ids):
        m = tf.reshape(tf.cast(ids[:, :4], tf.float32), [2, 2])
        return {"probability": tf.reshape(tf.linalg.det(m), [1, 1])}

    c = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()])
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    return c.convert()


def test_flex_op_is_refused_and_nothing_published(workspace, tmp_path, monkeypatch):
    root, _ = workspace
    _with_converter(monkeypatch, _flex_model())
    out = tmp_path / "flex"
    outcomes = pipeline.export(ExportOptions(model=str(root / "small.keras"), out=str(out),
                                             data=str(root / "data.npz"), formats=("tflite",),
                                             modes=("float32",), batches=(1,), validate=0),
                               log=lambda _: None)
    assert outcomes[0].status == "FAIL"
    assert "Flex" in " ".join(outcomes[0].problems)
    assert not list(out.glob("*.tflite"))


def test_op_version_mismatch_is_refused_unless_warned(workspace, exported, tmp_path, monkeypatch):
    root, _ = workspace
    out_dir, _, _, _ = exported
    from ai_edge_litert import schema_py_generated as schema
    import flatbuffers

    model = schema.ModelT.InitFromPackedBuf((out_dir / "imdb-float32-b1.tflite").read_bytes(), 0)
    for code in model.operatorCodes:
        if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.FULLY_CONNECTED:
            # What TF 2.21 emits for per-channel hybrid weights: LiteRT knows it, 2.14 does not.
            code.version = 12
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    _with_converter(monkeypatch, bytes(builder.Output()))
    kwargs = dict(model=str(root / "small.keras"), data=str(root / "data.npz"), formats=("tflite",),
                  modes=("float32",), batches=(1,), validate=0, targets=("tflite-runtime-2.14",))
    refused = pipeline.export(ExportOptions(out=str(tmp_path / "a"), **kwargs), log=lambda _: None)
    assert refused[0].status == "FAIL" and "FULLY_CONNECTED v12" in " ".join(refused[0].problems)
    warned = pipeline.export(ExportOptions(out=str(tmp_path / "b"), on_mismatch="warn", **kwargs),
                             log=lambda _: None)
    assert warned[0].status == "UNVALIDATED"
    assert any(p.startswith("warning:") for p in warned[0].problems)


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "imdb_edge.cli", "export", *args],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.mark.parametrize("args, message", [
    (["--format", "coreml"], "invalid choice"),
    (["--quantize", "int4"], "invalid choice"),
    (["--model", "/nonexistent/model.keras", "--no-validate"], "not found"),
    (["--model", "model.h5", "--no-validate"], "not found"),
    (["--batch", "0"], "--batch"),
])
def test_bad_arguments_exit_2(workspace, args, message):
    root, _ = workspace
    result = _cli("--data", str(root / "data.npz"), "--out", str(root / "cli-out"), *args)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr.strip().splitlines()[-1]


def test_unwritable_output_folder_exits_2(workspace, tmp_path):
    root, _ = workspace
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = _cli("--model", str(root / "small.keras"), "--data", str(root / "data.npz"),
                  "--out", str(blocker / "sub"), "--format", "numpy", "--no-validate")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "not writable" in result.stderr.strip().splitlines()[-1]
