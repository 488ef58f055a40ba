"""Artifacts that are damaged but carry a matching sidecar (re-signed, or a trusted sidecar
that is simply wrong) fail with one clear ArtifactError, never a stray exception type, a
traceback from the CLI, or a NaN score. Each case here is one the fuzzer found
(scripts/fuzz_artifacts.py, --mode resigned), reduced to a deterministic test.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from testkit import MAX_LEN, cli, gen, npy, npz_with, one_error_line

from imdb_edge.runtime import ArtifactError, load

pytestmark = pytest.mark.hardening

ROWS = [[1, 14, 22, 16, 2] + [0] * (MAX_LEN - 5)]


def resign_npz(folder, **weights) -> "Path":  # noqa: F821
    full = gen.make_weights()
    full.update(weights)
    return gen.write_artifact(folder, "tiny.npz", gen.npz_bytes(full), "numpy")


@pytest.mark.parametrize("weight", ["dense_bias", "kernel"])
def test_non_finite_weights_are_refused_not_scored(tmp_path, capsys, weight):
    """A run of 0xFF bytes makes a weight NaN: the score would be NaN, labelled "negative"
    (NaN >= 0.5 is False) and printed as the invalid JSON token NaN."""
    array = gen.make_weights()[weight].copy()
    array.flat[0] = np.nan
    path = resign_npz(tmp_path, **{weight: array})
    model = load(path)
    with pytest.raises(ArtifactError, match=r"tiny.npz returned nan for row 0 \(2 of 2 rows not "
                                            r"finite\): its weights are corrupt"):
        model.predict_ids(ROWS * 2)
    status, out, err = cli(capsys, "score", path, "--text", "a good film")
    assert status == 2 and out == []
    one_error_line(err, "not finite")


def test_onnx_nan_output_is_refused(model_path, tmp_path):
    weights = gen.make_weights()
    weights["dense_bias"] = np.full(1, np.nan, np.float32)
    path = gen.write_onnx_model(tmp_path, "nan.onnx", weights)
    model_path("tiny_bany.onnx", "onnxruntime")  # skips without onnxruntime
    with pytest.raises(ArtifactError, match="nan.onnx returned nan"):
        load(path).score_texts(["fine"])


NPY = npy(np.ones(3, np.float32))
BROKEN_NPZ = {
    # numpy's header parser raises tokenize.TokenError, which is not a ValueError
    "unclosed tuple in the header": npz_with({"bias.npy": NPY.replace(b"(3,)", b"(3, ", 1)}),
    "unclosed string in the header": npz_with({"bias.npy": NPY.replace(b"'descr'", b'"""', 1)}),
    "header that is not a dict": npz_with({"bias.npy": NPY.replace(b"{", b"[", 1)}),
    "zip member cut short": npz_with({"bias.npy": NPY})[:-30],
}


@pytest.mark.parametrize("data", BROKEN_NPZ.values(), ids=BROKEN_NPZ.keys())
def test_broken_npz_headers_are_an_artifact_error(tmp_path, capsys, data):
    path = gen.write_artifact(tmp_path, "tiny.npz", data, "numpy")
    with pytest.raises(ArtifactError, match="tiny.npz is not a readable .npz"):
        load(path)
    status, _, err = cli(capsys, "score", path, "--text", "x")
    assert status == 2
    one_error_line(err, "is not a readable .npz")


@pytest.mark.parametrize("name,backend,entry", [
    ("tiny_bany.tflite", "litert", "invoke"),
    ("tiny_b1.tflite", "litert", "invoke"),
    ("tiny_bany.onnx", "onnxruntime", "run"),
])
def test_a_model_that_fails_while_running_is_an_artifact_error(model_path, capsys, monkeypatch,
                                                               name, backend, entry):
    """A damaged graph can load and then fail in a kernel ("gather index out of bounds",
    "Input tensor 5 lacks data", onnxruntime's Fail): the ids were checked, so that is the
    model's fault and is reported as such, in one line."""
    model = load(model_path(name, backend), backend=backend)
    native = model._backend._interpreter if backend == "litert" else model._backend._session
    exception = RuntimeError if backend == "litert" else type("Fail", (Exception,), {})

    def fail(*args, **kwargs):
        raise exception("tflite/kernels/gather.cc:51 NumInputs(node) != 2\nNode number 6 "
                        "(GATHER) failed to prepare.")

    monkeypatch.setattr(native, entry, fail)
    with pytest.raises(ArtifactError, match=rf"{backend} cannot run {name}: tflite/kernels/gather"
                                            r".cc:51 NumInputs\(node\) != 2 Node number 6"):
        model.predict_ids(ROWS)


def test_failed_resize_is_retried_not_remembered(model_path, monkeypatch):
    """If resizing a dynamic-batch interpreter fails, the next call resizes again rather
    than feeding rows of one size into tensors of another."""
    model = load(model_path("tiny_bany.tflite", "litert"), backend="litert")
    interpreter = model._backend._interpreter
    real = interpreter.resize_tensor_input
    calls = []

    def flaky(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return real(*args, **kwargs)

    monkeypatch.setattr(interpreter, "resize_tensor_input", flaky)
    with pytest.raises(ArtifactError, match="out of memory"):
        model.predict_ids(ROWS * 3)
    assert model.predict_ids(ROWS * 3).shape == (3,) and len(calls) == 2


def test_empty_artifact_with_a_matching_sidecar(model_path, tmp_path):
    for suffix in ("npz", "onnx", "tflite"):
        path = gen.write_artifact(tmp_path, f"empty.{suffix}", b"",
                                  {"npz": "numpy"}.get(suffix, suffix))
        with pytest.raises(ArtifactError):
            load(path)


def test_sidecar_rewritten_for_the_mutant_is_what_makes_it_reach_the_parser(model_path, tmp_path):
    """The control for the pinned fuzzing: the same damaged bytes are refused on their hash
    with the true sidecar, and reach the parser only once the sidecar is rewritten."""
    source = model_path("tiny.npz")
    data = bytearray(source.read_bytes())
    data[100] ^= 0xFF
    path = tmp_path / "tiny.npz"
    path.write_bytes(bytes(data))
    (tmp_path / "vocab.txt").write_bytes((source.parent / "vocab.txt").read_bytes())
    (tmp_path / "tiny.npz.json").write_text((source.parent / "tiny.npz.json").read_text())
    with pytest.raises(ArtifactError, match="does not match its sidecar"):
        load(path)
    sidecar = json.loads((tmp_path / "tiny.npz.json").read_text())
    gen.write_artifact(tmp_path, "tiny.npz", bytes(data), "numpy")
    assert json.loads((tmp_path / "tiny.npz.json").read_text())["sha256"] != sidecar["sha256"]
    with pytest.raises(ArtifactError, match="not a readable .npz"):
        load(path)


@pytest.mark.parametrize("name,backend", [("tiny_bany.onnx", "onnxruntime"),
                                          ("tiny_bany.tflite", "litert")])
def test_names_that_are_not_utf8(model_path, tmp_path, name, backend):
    """Tensor and dimension names are strings inside the model; one damaged byte makes the
    binding raise UnicodeDecodeError (a ValueError, but not an ArtifactError) while the
    backend reads the model's inputs and outputs."""
    source = model_path(name, backend)
    data = source.read_bytes()
    if backend == "onnxruntime":
        text = b"batch"  # the dynamic batch dimension's name
    else:
        interpreter = load(source, backend=backend)._backend._interpreter
        text = interpreter.get_output_details()[0]["name"].encode()
    assert text in data
    damaged = data.replace(text, b"\xff" + text[1:], 1)
    path = gen.write_artifact(tmp_path, name, damaged, name.split(".")[-1])
    with pytest.raises(ArtifactError, match=f"{name}: the model holds a name that is not UTF-8"):
        load(path, backend=backend)
