"""`imdb_edge.artifacts.find_artifacts`: the one discovery rule of `parity` and `bench`.
find_artifacts reads only sidecars, so the artifact files here are placeholder bytes."""
from __future__ import annotations

import json

import pytest

from imdb_edge.artifacts import find_artifacts
from imdb_edge.errors import UsageError
from testkit import gen


def fake(folder, name, fmt, quantization, batch=None):
    return gen.write_artifact(folder, name, b"placeholder " + name.encode(), fmt,
                              quantization=quantization, batch=batch).resolve()


def test_folder_order_is_format_then_quantization_then_batch(tmp_path):
    made = {name: fake(tmp_path, name, fmt, quant, batch) for name, fmt, quant, batch in [
        ("a.npz", "numpy", "numpy", None),
        ("b.onnx", "onnx", "int8", None),
        ("c.onnx", "onnx", "float32", None),
        ("d-b64.tflite", "tflite", "dynamic", 64),
        ("e-b1.tflite", "tflite", "dynamic", 1),
        ("f.tflite", "tflite", "float16", 1),
    ]}
    order = ["f.tflite", "e-b1.tflite", "d-b64.tflite", "c.onnx", "b.onnx", "a.npz"]
    assert find_artifacts([tmp_path]) == [made[n] for n in order]


def test_files_sidecars_and_folders_name_each_artifact_once(tmp_path):
    art = fake(tmp_path, "x.onnx", "onnx", "float32")
    assert find_artifacts([tmp_path, art, f"{art}.json"]) == [art]


def test_manifest_entries_count_and_must_exist(tmp_path):
    art = fake(tmp_path, "x.onnx", "onnx", "float32")
    (tmp_path / "manifest.json").write_text(json.dumps({"artifacts": [{"artifact": "x.onnx"}]}))
    assert find_artifacts([tmp_path]) == [art]
    (tmp_path / "manifest.json").write_text(json.dumps({"artifacts": [{"artifact": "gone.onnx"}]}))
    with pytest.raises(UsageError, match="gone.onnx"):
        find_artifacts([tmp_path])
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(UsageError, match="not a readable manifest"):
        find_artifacts([tmp_path])


@pytest.mark.parametrize("given, message", [
    ("missing.tflite", "artifact .*missing.tflite not found"),
    ("notes.txt", r"not found \(artifacts end in .tflite, .onnx, .npz\)"),
    (".", "no artifacts"),
])
def test_bad_paths_say_what_is_wrong(tmp_path, given, message):
    with pytest.raises(UsageError, match=message):
        find_artifacts([tmp_path / given])
    with pytest.raises(UsageError, match="no artifacts given"):
        find_artifacts([])
