"""Users' own model files: read, checked against the family, exported, and matched with the
numbers of the framework that wrote them.

The files are made by tests/make_user_models.py the way users make them (Keras 2 through
tf_keras: .h5, .keras and a SavedModel folder; Keras 3: .keras with a second build in the
session, so its layers are lstm_1, dense_1, ...), with Keras' default layer names, at
small sizes (two lengths and vocabularies, sigmoid and Keras 2 hard_sigmoid gates) and once
at the notebook's size. Every artifact is judged with the tolerance table against the
probabilities the file's own framework computed, not against a Keras 3 reload.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras", reason="tf_keras writes the Keras 2 files (pip install tf-keras)")
pytest.importorskip("tf2onnx")
pytest.importorskip("ai_edge_litert")

from imdb_edge.export import intake, pipeline  # noqa: E402
from imdb_edge.export.pipeline import ExportOptions  # noqa: E402
from imdb_edge.metrics import compare  # noqa: E402
from imdb_edge.runtime import load  # noqa: E402
from imdb_edge.runtime.sidecar import load_sidecar  # noqa: E402
from imdb_edge.spec import FamilyError, ModelSpec  # noqa: E402
from imdb_edge.tolerances import judge  # noqa: E402

GENERATOR = Path(__file__).resolve().parents[1] / "make_user_models.py"
ROOT = Path(__file__).resolve().parents[2]
# name: (generator flags, spec the file must be read as)
KINDS = {
    "keras2-hard": (["--engine", "tf_keras", "--length", "40", "--vocab", "500", "--embed", "8",
                     "--gate", "hard_sigmoid"], ModelSpec(40, 500, 8, "hard_sigmoid")),
    "keras2-sigmoid": (["--engine", "tf_keras", "--length", "24", "--vocab", "300",
                        "--embed", "6"], ModelSpec(24, 300, 6, "sigmoid")),
    "keras3-twice": (["--engine", "keras", "--length", "32", "--vocab", "700", "--embed", "8",
                      "--twice"], ModelSpec(32, 700, 8, "sigmoid")),
}
NOTEBOOK = (["--engine", "tf_keras", "--length", "100", "--vocab", "10000", "--embed", "16",
             "--gate", "hard_sigmoid"], ModelSpec(100, 10000, 16, "hard_sigmoid"))
FILES = [("keras2-hard", "model.h5"), ("keras2-hard", "model.keras"),
         ("keras2-hard", "saved_model"), ("keras2-sigmoid", "model.h5"),
         ("keras2-sigmoid", "saved_model"), ("keras3-twice", "model.keras")]


def generate(folder: Path, flags: list) -> None:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, str(GENERATOR), str(folder), *flags],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("user-models")
    for name, (flags, _) in KINDS.items():
        generate(root / name, flags)
    return root


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    root = tmp_path_factory.mktemp("out-of-family")
    generate(root / "keras2", ["--engine", "tf_keras", "--variants"])
    generate(root / "keras3", ["--engine", "keras", "--variants"])
    return root


@pytest.fixture(scope="module")
def data(imdb_archive):
    """The IMDB archive, as users pass it (a small one: tests/export/exportkit.py): each
    model's reviews are encoded at its own length and vocabulary."""
    return imdb_archive


def expected(folder: Path):
    with np.load(folder / "expected.npz") as f:
        return f["ids"], f["probabilities"], [str(n) for n in f["names"]]


@pytest.mark.parametrize("kind, file", FILES)
def test_every_file_kind_is_read_as_its_framework_computes(made, kind, file):
    model = intake.load(made / kind / file)
    assert model.spec == KINDS[kind][1]
    ids, probabilities, _ = expected(made / kind)
    assert probabilities.std() > 0.01, "the test model must spread its outputs"
    # Keras 2's own hard_sigmoid, reproduced: the rebuild matches the writing framework.
    assert np.abs(model.predict(ids) - probabilities).max() <= 1e-6


def test_layers_are_found_by_type_not_by_name(made):
    model = intake.load(made / "keras3-twice" / "model.keras")
    _, _, names = expected(made / "keras3-twice")
    assert model.source["layers"]["LSTM"] == "lstm_1" and "lstm_1" in names
    assert model.source["layers"]["Dense"] == "dense_1"


def _export(model_path, out, data, **kwargs):
    options = dict(model=str(model_path), out=str(out), data=data and str(data), batches=(1,),
                   calibration=64, validate=100)
    options.update(kwargs)
    return pipeline.export(ExportOptions(**options), log=lambda _: None)


def _check_against_framework(out: Path, outcomes, folder: Path, spec: ModelSpec):
    """Every artifact, run by the runtime on the framework's own rows, within the table."""
    ids, probabilities, _ = expected(folder)
    for outcome in outcomes:
        assert outcome.status == "PASS", (outcome.artifact, outcome.problems)
        side = load_sidecar(out / outcome.artifact)
        assert (side.preprocessing.max_len, side.preprocessing.vocab_size) == \
            (spec.length, spec.vocab_size)
        assert ModelSpec.from_dict(side.model) == spec
        metrics = compare(probabilities, load(out / outcome.artifact).predict_ids(ids))
        assert judge(side.quantization, metrics) == [], (outcome.artifact, metrics["max_abs"])


@pytest.mark.parametrize("kind, file", [("keras2-hard", "model.h5"),
                                        ("keras3-twice", "model.keras")])
def test_every_format_and_mode_exports_and_matches_its_framework(made, data, tmp_path, kind, file):
    out = tmp_path / "artifacts"
    outcomes = _export(made / kind / file, out, data)
    assert {(o.format, o.quantization) for o in outcomes} == {
        ("tflite", m) for m in ("float32", "float16", "dynamic", "int8", "int16x8")} | {
        ("onnx", m) for m in ("float32", "float16", "dynamic", "int8")} | {("numpy", "float32")}
    _check_against_framework(out, outcomes, made / kind, KINDS[kind][1])


@pytest.mark.parametrize("kind, file", [("keras2-hard", "model.keras"),
                                        ("keras2-hard", "saved_model"),
                                        ("keras2-sigmoid", "model.h5"),
                                        ("keras2-sigmoid", "saved_model")])
def test_other_file_kinds_export_in_every_format(made, data, tmp_path, kind, file):
    # The same weights as the .h5 above (test_every_file_kind...), so float32 per format.
    out = tmp_path / "artifacts"
    outcomes = _export(made / kind / file, out, data, modes=("float32",))
    assert {o.format for o in outcomes} == {"tflite", "onnx", "numpy"}
    _check_against_framework(out, outcomes, made / kind, KINDS[kind][1])


def test_hard_sigmoid_gates_are_builtin_ops_and_one_onnx_node(made, data, tmp_path):
    out = tmp_path / "artifacts"
    outcomes = _export(made / "keras2-hard" / "model.h5", out, data, modes=("float32",),
                       formats=("tflite", "onnx"), validate=0)
    tflite = load_sidecar(out / "imdb-float32-b1.tflite")
    assert tflite.runtimes == {"litert": "ok", "tflite-runtime-2.14": "ok"}
    ops = {o["name"] for o in tflite.ops}
    assert "MINIMUM" in ops and not any(name.startswith("CUSTOM") for name in ops)
    onnx_ops = {o["name"]: o["count"] for o in load_sidecar(out / "imdb-float32.onnx").ops}
    assert onnx_ops.get("HardSigmoid") == 3 and onnx_ops.get("Sigmoid") == 1  # head only
    import onnx

    def attributes(graph):
        for node in graph.node:
            if node.op_type == "HardSigmoid":
                yield {a.name: round(a.f, 6) for a in node.attribute}
            for a in node.attribute:
                if a.type == a.GRAPH:
                    yield from attributes(a.g)

    proto = onnx.load(out / "imdb-float32.onnx")
    assert list(attributes(proto.graph)) == [{"alpha": 0.2, "beta": 0.5}] * 3
    assert all(o.status == "UNVALIDATED" for o in outcomes)


def test_notebook_size_exports(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("notebook") / "model"
    generate(folder, NOTEBOOK[0])
    out = folder.parent / "artifacts"
    outcomes = _export(folder / "model.h5", out, data, modes=("float32", "dynamic"),
                       formats=("tflite", "onnx", "numpy"))
    assert len(outcomes) == 5
    _check_against_framework(out, outcomes, folder, NOTEBOOK[1])


@pytest.fixture(scope="module")
def longer(tmp_path_factory):
    """A member longer than the reference: 240 ids, 300 words, width 4 (Keras 3)."""
    folder = tmp_path_factory.mktemp("longer") / "model"
    generate(folder, ["--engine", "keras", "--length", "240", "--vocab", "300", "--embed", "4"])
    return folder


def test_a_longer_model_is_validated_on_its_own_rows(longer, data, tmp_path):
    out = tmp_path / "artifacts"
    outcomes = _export(longer / "model.keras", out, data, formats=("tflite", "numpy"),
                       modes=("float32",))
    _check_against_framework(out, outcomes, longer, ModelSpec(240, 300, 4))
    assert all(o.parity["reviews"] == 100 for o in outcomes)


def test_packaged_rows_serve_a_shorter_model(made, tmp_path):
    """No --data: the packaged rows, cut to the model's 40 ids and 500 words."""
    out = tmp_path / "artifacts"
    outcomes = _export(made / "keras2-hard" / "model.h5", out, None, formats=("numpy",),
                       modes=("float32",))
    _check_against_framework(out, outcomes, made / "keras2-hard", KINDS["keras2-hard"][1])


def test_packaged_rows_refuse_a_longer_model_before_the_output(longer, tmp_path):
    result = _cli("--model", str(longer / "model.keras"), "--format", "numpy",
                  "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
    assert "cannot be lengthened to the model's 240" in last and "pass --data" in last
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------ refusals

@pytest.mark.parametrize("variant, message", [
    ("tanh", "LSTM activation is 'tanh', not 'softmax'"),
    ("second_dense", "2 Dense layers"),
    ("lambda", "is a Lambda (Python code, which is never run)"),
])
@pytest.mark.parametrize("engine, file", [("keras2", "model.h5"), ("keras3", "model.keras")])
def test_out_of_family_files_are_refused(variants, variant, message, engine, file):
    with pytest.raises(FamilyError, match="is not the attention-LSTM") as caught:
        intake.load(variants / engine / variant / file)
    assert message in str(caught.value)


def test_keras3_hard_sigmoid_is_not_keras2s(variants):
    with pytest.raises(FamilyError, match=r"Keras 3's hard_sigmoid, relu6\(x \+ 3\) / 6"):
        intake.load(variants / "keras3" / "keras3_hard_sigmoid" / "model.keras")


def test_every_difference_is_named_in_one_message(made):
    import h5py

    with h5py.File(made / "keras2-hard" / "model.h5", "r") as f:
        config = json.loads(f.attrs["model_config"])
    lstm = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "LSTM")
    lstm["config"].update(units=20, activation="tanh", return_sequences=True)
    dense = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense")
    dense["config"]["activation"] = "linear"
    with pytest.raises(FamilyError) as caught:
        intake.check_config(config, 2, where="model.h5")
    text = str(caught.value)
    assert "\n" not in text and len(caught.value.differences) == 4, text
    for part in ("activation is 'tanh'", "return_sequences=True",
                 "LSTM units (20) differ from the sequence length (40)", "activation='linear'"):
        assert part in text


def _cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "imdb_edge.cli", "export", *args],
                          capture_output=True, text=True, timeout=300, env=env)


def test_refusal_is_one_line_exit_2_before_any_data(variants, tmp_path):
    # --data names nothing: the model is refused before the data would be read.
    result = _cli("--model", str(variants / "keras2" / "lambda" / "model.h5"),
                  "--data", str(tmp_path / "absent.npz"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and "is a Lambda" in lines[-1]
    assert sum("attention-LSTM" in line for line in lines) == 1
    assert not (tmp_path / "out").exists()


def test_corrupted_h5_is_refused_in_one_line(made, tmp_path):
    broken = tmp_path / "model.h5"
    broken.write_bytes((made / "keras2-hard" / "model.h5").read_bytes()[:4000])
    result = _cli("--model", str(broken), "--no-validate", "--format", "numpy",
                  "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr and "is not a readable HDF5 file" in last


def test_artifact_disagreeing_with_its_sidecar_is_never_published(made, data, tmp_path,
                                                                  monkeypatch):
    from imdb_edge.export import numpy_format
    from imdb_edge.export.graph import Weights

    real_convert = numpy_format.convert_numpy

    def wrong_vocabulary(model, **_):
        w = intake.load(made / "keras2-hard" / "model.h5").weights.as_arrays()
        w["embedding"] = np.concatenate([w["embedding"], w["embedding"]])  # 2x the rows
        return real_convert(intake.LoadedModel(
            ModelSpec(40, 1000, 8, "hard_sigmoid"), Weights(**w), {}))

    monkeypatch.setattr(numpy_format, "convert_numpy", wrong_vocabulary)
    out = tmp_path / "out"
    outcomes = _export(made / "keras2-hard" / "model.h5", out, data, formats=("numpy",),
                       validate=0)
    assert outcomes[0].status == "FAIL", outcomes[0].problems
    assert "disagrees with its sidecar" in " ".join(outcomes[0].problems)
    assert not list(out.glob("*.npz"))
