"""load() refuses missing, malformed, tampered or unsafe artifacts with a clear ArtifactError."""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest

from imdb_edge.runtime import ArtifactError, available_backends, load
from imdb_edge.runtime import backends
from imdb_edge.runtime.backends import BackendError
from testkit import edit_sidecar


def flip_a_bit(data: bytes, at: int = 1000) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


def test_the_copy_loads(model_copy):
    assert load(model_copy).backend_name == "numpy"
    assert load(f"{model_copy}.json").sidecar.artifact == "tiny.npz"  # naming the sidecar works


SIDECAR_CASES = {
    "missing sidecar": (lambda a: os.remove(f"{a}.json"), "no sidecar .*tiny.npz.json"),
    "malformed JSON": (lambda a: Path(f"{a}.json").write_text("{not json"), "not valid JSON"),
    "not an object": (lambda a: Path(f"{a}.json").write_text("[1, 2]"), "expected a JSON object"),
    "schema_version 1": (lambda a: edit_sidecar(a, schema_version=1),
                         "schema_version 1 is not supported"),
    "no schema_version": (lambda a: edit_sidecar(a, schema_version=...), "schema_version None"),
    "missing field": (lambda a: edit_sidecar(a, sha256=...), "malformed sidecar"),
    "unknown field": (lambda a: edit_sidecar(a, surprise=1), "malformed sidecar"),
    "bad input spec": (lambda a: edit_sidecar(a, input="ids"), "malformed sidecar"),
    "unknown format": (lambda a: edit_sidecar(a, format="pickle"), "unknown format 'pickle'"),
    "artifact ../x": (lambda a: edit_sidecar(a, artifact="../tiny.npz"), "plain file name"),
    "artifact absolute": (lambda a: edit_sidecar(a, artifact=str(a)), "plain file name"),
    "artifact in subfolder": (lambda a: edit_sidecar(a, artifact="sub/tiny.npz"),
                              "plain file name"),
    "vocabulary ../x": (lambda a: edit_sidecar(a, preprocessing__vocabulary_file="../vocab.txt"),
                        "plain file name"),
    "describes another file": (lambda a: edit_sidecar(a, artifact="vocab.txt"),
                               "describes 'vocab.txt', not 'tiny.npz'"),
    "start_id differs": (lambda a: edit_sidecar(a, preprocessing__start_id=2),
                         "start_id is 2, this runtime encodes with 1"),
    "tokenizer_version differs": (lambda a: edit_sidecar(a, preprocessing__tokenizer_version=9),
                                  "tokenizer_version is 9"),
    "batch 0": (lambda a: edit_sidecar(a, batch=0), "batch must be a positive integer"),
    "one label": (lambda a: edit_sidecar(a, labels=["positive"]), "labels must be"),
    "threshold str": (lambda a: edit_sidecar(a, threshold="0.5"), "threshold must be a number"),
    "missing artifact": (lambda a: os.remove(a), "artifact .*tiny.npz not found"),
    "artifact hash mismatch": (lambda a: a.write_bytes(flip_a_bit(a.read_bytes())),
                               "artifact .*does not match its sidecar"),
    "missing vocabulary": (lambda a: os.remove(a.parent / "vocab.txt"), "vocabulary .* not found"),
    "vocabulary hash mismatch": (lambda a: (a.parent / "vocab.txt").write_text("good\nbad\n"),
                                 "vocabulary .*does not match its sidecar"),
    "artifact is a folder": (lambda a: (os.remove(a), os.mkdir(a)), "cannot read artifact"),
}


@pytest.mark.parametrize("tamper,message", SIDECAR_CASES.values(), ids=SIDECAR_CASES.keys())
def test_bad_artifacts_are_refused(model_copy, tamper, message):
    tamper(model_copy)
    with pytest.raises(ArtifactError, match=message):
        load(model_copy)


def test_symlink_leaving_the_folder_is_refused(model_copy, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere") / "tiny.npz"
    os.replace(model_copy, outside)
    os.symlink(outside, model_copy)
    with pytest.raises(ArtifactError, match="symlink leaving the artifact's folder"):
        load(model_copy)


def test_symlink_inside_the_folder_is_fine(model_copy):
    real = model_copy.parent / "real.bin"
    os.replace(model_copy, real)
    os.symlink(real.name, model_copy)
    assert load(model_copy).backend_name == "numpy"


def test_wrong_extension_for_the_format(model_copy):
    renamed = model_copy.with_suffix(".onnx")
    os.replace(model_copy, renamed)
    os.replace(f"{model_copy}.json", f"{renamed}.json")
    edit_sidecar(renamed, artifact=renamed.name)
    with pytest.raises(ArtifactError, match="format numpy artifacts end in .npz, not .onnx"):
        load(renamed)


def rewrite_npz(gen, artifact: Path, **arrays) -> None:
    """Replace the artifact's arrays and re-sign it, as a buggy exporter would."""
    weights = gen.make_weights()
    weights.update(arrays)
    weights = {k: v for k, v in weights.items() if v is not None}
    gen.write_artifact(artifact.parent, artifact.name, gen.npz_bytes(weights), "numpy")


NPZ_CASES = {
    "missing array": ({"bias": None}, r"missing \['bias'\]"),
    "extra array": ({"extra": np.ones(3, np.float32)}, r"unexpected \['extra'\]"),
    "wrong shape": ({"kernel": np.ones((20, 799), np.float32)}, r"kernel has shape \(20, 799\)"),
    "small vocabulary": ({"embedding": np.ones((100, 20), np.float32)},
                         r"embedding has shape \(100, 20\), expected \(20000, 20\)"),
    "integer weights": ({"bias": np.ones(800, np.int32)}, "bias is int32, expected float32"),
    "pickled object": ({"bias": np.array([{"a": 1}], dtype=object)}, "not a readable .npz"),
}


@pytest.mark.parametrize("arrays,message", NPZ_CASES.values(), ids=NPZ_CASES.keys())
def test_numpy_artifact_contents_are_checked(generator, model_copy, arrays, message):
    rewrite_npz(generator, model_copy, **arrays)
    with pytest.raises(ArtifactError, match=message):
        load(model_copy)


@pytest.mark.parametrize("data", [b"not a zip", b"", np.lib.format.MAGIC_PREFIX + b"junk"])
def test_numpy_artifact_that_is_not_an_npz(generator, model_copy, data):
    generator.write_artifact(model_copy.parent, model_copy.name, data, "numpy")
    with pytest.raises(ArtifactError, match="npz"):
        load(model_copy)


def test_bare_npy_is_refused(generator, model_copy):
    buffer = io.BytesIO()
    np.save(buffer, np.ones(3))
    generator.write_artifact(model_copy.parent, model_copy.name, buffer.getvalue(), "numpy")
    with pytest.raises(ArtifactError, match="expected an .npz archive"):
        load(model_copy)


@pytest.mark.parametrize("threads", [0, -1, 1.5, "2", True])
def test_bad_thread_counts(model_copy, threads):
    with pytest.raises(ValueError, match="threads must be a whole number from 1 to 64"):
        load(model_copy, threads=threads)


def test_unknown_backend_lists_the_choices(model_copy):
    with pytest.raises(BackendError, match="unknown backend 'tflite'; choose from litert, "):
        load(model_copy, backend="tflite")


def test_backend_for_another_format(model_copy):
    with pytest.raises(BackendError, match="runs onnx artifacts, this one is numpy; installed "
                                           "for numpy: numpy"):
        load(model_copy, backend="onnxruntime")


def test_missing_backend_names_the_pip_extra(generator, tmp_path, monkeypatch):
    path = generator.write_artifact(tmp_path, "m.onnx", b"x", "onnx")
    monkeypatch.setattr(backends, "is_installed", lambda info: False)
    with pytest.raises(BackendError,
                       match=r'no backend for onnx .*pip install "imdb-edge\[onnx\]"'):
        load(path)
    with pytest.raises(BackendError, match=r'backend \'onnxruntime\' is not installed: pip install '
                                           r'"imdb-edge\[onnx\]" \(no onnx backend is installed\)'):
        load(path, backend="onnxruntime")


def test_missing_tflite_backend_names_both_extras(generator, tmp_path, monkeypatch):
    path = generator.write_artifact(tmp_path, "m.tflite", b"x", "tflite")
    monkeypatch.setattr(backends, "is_installed", lambda info: False)
    with pytest.raises(BackendError, match=r'imdb-edge\[litert\]" or .*imdb-edge\[tflite\]"'):
        load(path)


def test_broken_backend_falls_through_to_the_next(generator, tmp_path, monkeypatch):
    from imdb_edge.runtime.backends.litert import LiteRTBackend

    def broken():
        raise ImportError("built for another numpy")

    monkeypatch.setattr(backends, "is_installed", lambda info: info.name == "litert")
    monkeypatch.setattr(LiteRTBackend, "library", classmethod(lambda cls: broken()))
    path = generator.write_artifact(tmp_path, "m.tflite", b"x", "tflite")
    with pytest.raises(BackendError, match="litert: built for another numpy"):
        load(path)


def test_available_backends_always_has_numpy():
    assert "numpy" in available_backends()
    assert available_backends("numpy") == ["numpy"]
    assert set(available_backends("tflite")) <= {"litert", "tflite_runtime", "tensorflow_lite"}
