"""Backends agree with each other and with Keras; batching, padding and threads change nothing."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from imdb_edge.runtime import ArtifactError, load, text
from imdb_edge.runtime.backends._onnx_external import external_tensors
from runtime_helpers import ATOL, artifact, assert_close

# (backend, test model): every backend on every batch layout it has a model for
CASES = [("numpy", "tiny.npz"),
         ("onnxruntime", "tiny_bany.onnx"), ("onnxruntime", "tiny_b1.onnx"),
         ("onnxruntime", "tiny_b64.onnx"),
         ("litert", "tiny_bany.tflite"), ("litert", "tiny_b1.tflite"),
         ("tflite_runtime", "tiny_bany.tflite"), ("tflite_runtime", "tiny_b1.tflite")]
CASE_IDS = [f"{b}-{m}" for b, m in CASES]


@pytest.fixture(scope="module", params=CASES, ids=CASE_IDS)
def case(request, model_dir):
    backend, name = request.param
    return load(artifact(model_dir, name, backend), backend=backend, threads=1)


def test_agrees_with_the_numpy_reference(case, reference_ids, reference_probs):
    probs = case.predict_ids(reference_ids)
    assert probs.dtype == np.float32 and probs.shape == (len(reference_ids),)
    assert_close(probs, reference_probs, ATOL["backends"])
    assert probs.std() > 0.05  # the tiny model's outputs differ from review to review


@pytest.fixture(scope="module")
def one_by_one(case, reference_ids, reference_probs):
    """This model fed one review at a time (for numpy that is reference_probs already)."""
    if case.backend_name == "numpy":
        return reference_probs
    return np.concatenate([case.predict_ids(reference_ids[i:i + 1])
                           for i in range(len(reference_ids))])


@pytest.mark.parametrize("n", [1, 3, 64, 65])
def test_batches_equal_one_by_one(case, reference_ids, one_by_one, n):
    assert_close(case.predict_ids(reference_ids[:n]), one_by_one[:n], ATOL["batching"])


def test_eight_threads_share_one_model(case, reference_ids):
    slices = [reference_ids[i * 8:i * 8 + 1 + i] for i in range(8)]  # 1..8 rows: resizes too
    expected = [case.predict_ids(s) for s in slices]
    results, errors = {}, []

    def work(k):
        try:
            results[k] = [case.predict_ids(slices[k]) for _ in range(2)]
        except Exception as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in range(8):
        for got in results[k]:
            np.testing.assert_array_equal(got, expected[k])


TEXTS = ["A great film, great acting.", "", "awful plot<br />bad acting zzz-unknown",
         "the " * 250, "word21 word299 word300 qqq"]


def test_predict_text_is_predict_ids_of_the_encoding(case):
    ids, _, _ = text.encode_batch(TEXTS, case._vocabulary, case.max_len, case.vocab_size)
    np.testing.assert_array_equal(case.predict_text(TEXTS), case.predict_ids(ids))


def test_score_texts_counts_words(case):
    results = case.score_texts(TEXTS)
    # "<br />" is the word "br", which the tiny test vocabulary lacks.
    assert [r["tokens"] for r in results] == [5, 0, 7, 250, 4]
    assert [r["unknown"] for r in results] == [0, 0, 3, 0, 2]
    for r in results:
        assert r["label"] == ("positive" if r["probability"] >= 0.5 else "negative")
        json.dumps(r)  # plain Python types


def test_numpy_backend_matches_keras(model_dir, numpy_model):
    path = model_dir / "keras_reference.npz"
    if not path.exists():
        pytest.skip("no Keras reference outputs: TensorFlow is not installed to make them")
    ref = np.load(path)
    assert_close(numpy_model.predict_ids(ref["ids"]), ref["probabilities"], ATOL["keras"])


def test_tensorflow_lite_backend(model_dir, reference_ids, reference_probs, tmp_path):
    """Run in a subprocess so this test process never imports TensorFlow."""
    path = artifact(model_dir, "tiny_bany.tflite", "tensorflow_lite")
    np.save(tmp_path / "ids.npy", reference_ids[:5])
    script = ("import sys, numpy as np; from imdb_edge.runtime import load; "
              "m = load(sys.argv[1], backend='tensorflow_lite'); "
              "np.save(sys.argv[3], m.predict_ids(np.load(sys.argv[2])))")
    subprocess.run([sys.executable, "-c", script, str(path), str(tmp_path / "ids.npy"),
                    str(tmp_path / "out.npy")], check=True, capture_output=True, timeout=300)
    assert_close(np.load(tmp_path / "out.npy"), reference_probs[:5], ATOL["backends"])


def test_int8_output_is_dequantized(model_dir, reference_ids, reference_probs):
    model = load(artifact(model_dir, "tiny_int8.onnx", "onnxruntime"))
    probs = model.predict_ids(reference_ids)
    assert probs.dtype == np.float32
    assert_close(probs, reference_probs, 0.5 / 256 + 1e-6)  # half a quantization step


def test_int8_output_without_scale_is_refused(model_dir, tmp_path, generator):
    source = artifact(model_dir, "tiny_int8.onnx", "onnxruntime")
    path = generator.write_artifact(tmp_path, "m.onnx", source.read_bytes(), "onnx",
                                    output_dtype="int8")
    with pytest.raises(ArtifactError, match="neither the sidecar nor the model gives its scale"):
        load(path)


@pytest.mark.parametrize("name,backend", [("tiny_b1.onnx", "onnxruntime"),
                                          ("tiny_b1.tflite", "litert")])
def test_sidecar_batch_must_match_the_model(model_dir, tmp_path, generator, name, backend):
    source = artifact(model_dir, name, backend)
    path = generator.write_artifact(tmp_path, name, source.read_bytes(), source.suffix[1:],
                                    batch=None)
    with pytest.raises(ArtifactError, match="the model takes batch 1 but the sidecar says any"):
        load(path, backend=backend)


@pytest.mark.parametrize("suffix,backend,message", [
    (".onnx", "onnxruntime", "not a valid ONNX model|onnxruntime cannot load"),
    (".tflite", "litert", "litert cannot load"),
    (".tflite", "tflite_runtime", "tflite_runtime cannot load")])
def test_garbage_with_a_valid_hash_is_refused(tmp_path, generator, suffix, backend, message):
    from imdb_edge.runtime import available_backends

    if backend not in available_backends():
        pytest.skip(f"backend {backend} is not installed")
    path = generator.write_artifact(tmp_path, f"m{suffix}", b"\x08\x07garbage" * 50, suffix[1:])
    with pytest.raises(ArtifactError, match=message):
        load(path, backend=backend)


def test_onnx_with_external_data_is_refused(model_dir, tmp_path, generator, monkeypatch):
    """onnxruntime would resolve the external file against the working directory."""
    onnx = pytest.importorskip("onnx")
    artifact(model_dir, "tiny_bany.onnx", "onnxruntime")
    model = onnx.load_from_string(generator.onnx_bytes(generator.make_weights()))
    onnx.save_model(model, str(tmp_path / "ext.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin", size_threshold=1024)
    generator.write_artifact(tmp_path, "m.onnx", (tmp_path / "ext.onnx").read_bytes(), "onnx")
    monkeypatch.chdir(tmp_path)  # where onnxruntime would find weights.bin
    with pytest.raises(ArtifactError,
                       match=r"keeps tensors in external data files \(embedding, kernel, "):
        load(tmp_path / "m.onnx")


def test_external_data_scan_reaches_subgraphs(generator):
    onnx = pytest.importorskip("onnx")
    from onnx.external_data_helper import set_external_data

    data = generator.onnx_bytes(generator.make_weights())
    assert external_tensors(data) == []
    model = onnx.load_from_string(data)
    scan = next(n for n in model.graph.node if n.op_type == "Scan")
    sizes = scan.attribute[0].g.initializer[0]
    set_external_data(sizes, location="sizes.bin")
    sizes.ClearField("raw_data")
    assert external_tensors(model.SerializeToString()) == ["sizes"]


@pytest.mark.parametrize("name,backend", [("tiny_bany.onnx", "onnxruntime"),
                                          ("tiny_bany.tflite", "litert"),
                                          ("tiny_bany.tflite", "tflite_runtime")])
def test_backends_get_the_verified_bytes_not_the_path(model_dir, monkeypatch, name, backend):
    """The file is read once, hashed, and those bytes are what the interpreter parses."""
    path = artifact(model_dir, name, backend)
    reads = []
    real_read_bytes = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes",
                        lambda self: reads.append(self.name) or real_read_bytes(self))
    seen = []
    if backend == "onnxruntime":
        import onnxruntime

        real = onnxruntime.InferenceSession
        monkeypatch.setattr(onnxruntime, "InferenceSession",
                            lambda model, **kw: seen.append(model) or real(model, **kw))
    else:
        backend_class = type(load(path, backend=backend)._backend)
        interpreter = backend_class.library()
        monkeypatch.setattr(backend_class, "library", classmethod(
            lambda c: lambda **kw: seen.append(kw.get("model_content")) or interpreter(**kw)))
        reads.clear()
    load(path, backend=backend)
    assert reads.count(name) == 1
    assert isinstance(seen[0], bytes) and seen[0] == path.read_bytes()
