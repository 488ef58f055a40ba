"""`imdb-edge parity` end to end: exit codes, report files, golden files, tampering.

The tiny-model tests need no TensorFlow and no data: the tiny numpy model's own outputs
stand in for Keras in a golden file. The real-model tests skip without the reference model
and the shared data (see conftest.py).
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from imdb_edge import parity
from imdb_edge.cli import main
from parity_helpers import blocked_cli, find_artifact, rehash, rewrite_npz, tflite214_python
from testkit import copy_artifact, gen, run_cli


def parity_cli(capsys, *argv):
    return run_cli(capsys, "parity", *argv)


def report_of(folder) -> dict:
    return json.loads((folder / "report.json").read_text())


# ------------------------------------------------------------------ tiny model, no TF

def test_golden_replay_passes_and_writes_every_report_file(capsys, tiny_golden, tiny_folder,
                                                            tmp_path):
    status, out, err = parity_cli(capsys, "--golden", tiny_golden, tiny_folder / "tiny.npz",
                                  "--report", tmp_path)
    assert status == 0, err
    assert out.startswith("# Parity: PASS: 1 of 1")
    assert "tiny.npz / numpy: PASS" in err and "rows/s" in err  # progress on stderr
    report = report_of(tmp_path)
    assert report["status"] == "PASS" and report["passed"] == 1 and report["failed"] == 0
    (result,) = report["results"]
    assert result["backend"] == "numpy" and result["metrics"]["max_abs"] == 0.0
    assert result["metrics"]["accuracy"] == pytest.approx(0.75)
    assert result["metrics"]["accuracy_delta_points"] == 0.0
    assert result["edge_cases"]["rows"] == 10 and result["rows_per_s"] > 0
    # Hashes of everything compared, and the versions that compared them.
    (entry,) = report["artifacts"]
    assert entry["sha256"] == hashlib.sha256((tiny_folder / "tiny.npz").read_bytes()).hexdigest()
    assert report["reference"]["golden"]["sha256"] == \
        hashlib.sha256(tiny_golden.read_bytes()).hexdigest()
    assert len(report["rows"]["inputs_sha256"]) == 64
    assert {"imdb-edge", "python", "numpy"} <= set(report["versions"])
    assert (tmp_path / "report.md").read_text().rstrip() == out.rstrip()
    if report.get("plots"):
        png = tmp_path / report["plots"]["tiny.npz"]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob(".*.tmp"))


def test_golden_replay_imports_no_tensorflow(tiny_golden, tiny_folder, tmp_path):
    done = blocked_cli("parity", "--golden", tiny_golden, tiny_folder, "--report", tmp_path,
                       "--no-plots")
    assert done.returncode == 0, done.stderr[-3000:]
    assert report_of(tmp_path)["status"] == "PASS"


def test_golden_limit_keeps_the_first_reviews_and_every_edge_row(capsys, tiny_golden,
                                                                tiny_folder, tmp_path):
    status, _, err = parity_cli(capsys, "--golden", tiny_golden, tiny_folder, "--limit", 5,
                                "--report", tmp_path, "--no-plots")
    assert status == 0, err
    report = report_of(tmp_path)
    assert report["rows"] == dict(report["rows"], reviews=5, edge=10, total=15)


def test_golden_file_is_plain_arrays_and_json(tiny_golden):
    with np.load(tiny_golden, allow_pickle=False) as f:
        assert sorted(f.files) == ["ids", "keras", "labels", "meta"]
        assert f["ids"].dtype == np.int32 and f["keras"].dtype == np.float32
        assert f["meta"].dtype.kind == "U"
        meta = json.loads(str(f["meta"][0]))
    assert meta["model"]["sha256"] == "tiny" and meta["threshold"] == 0.5
    assert meta["tolerances"]["int8"]["min_agreement"] == 0.985
    assert meta["preprocessing"]["max_len"] == 200 and len(meta["edge_rows"]) == 10
    reference = parity.load_golden(str(tiny_golden))
    assert reference.reviews == 12 and reference.ids.shape == (22, 200)
    again = tiny_golden.parent / "again.npz"
    parity.save_golden(reference, str(again))
    assert np.array_equal(parity.load_golden(str(again)).probs, reference.probs)


def test_another_model_fails(capsys, tiny_golden, tiny_copy, tmp_path):
    """The same architecture with other weights: loads fine, must FAIL on the values."""
    rewrite_npz(tiny_copy, lambda a: a.update(gen.make_weights(seed=99)))
    status, out, err = parity_cli(capsys, "--golden", tiny_golden, tiny_copy,
                                  "--report", tmp_path / "report", "--no-plots")
    assert status == 1, err
    assert out.startswith("# Parity: FAIL: 0 of 1")
    (result,) = report_of(tmp_path / "report")["results"]
    assert result["status"] == "FAIL"
    assert any(p.startswith("max abs error") for p in result["problems"])
    assert "## What failed" in out and "farthest flips" in out


def test_scaled_embedding_fails(capsys, tiny_golden, tiny_copy, tmp_path):
    def scale(arrays):
        arrays["embedding"] = arrays["embedding"] * np.float32(1.05)

    rewrite_npz(tiny_copy, scale)
    status, _, err = parity_cli(capsys, "--golden", tiny_golden, tiny_copy,
                                "--report", tmp_path / "r", "--no-plots")
    assert status == 1, err
    assert report_of(tmp_path / "r")["results"][0]["status"] == "FAIL"


def test_nan_outputs_fail(capsys, tiny_golden, tiny_copy, tmp_path):
    """NaN compares false with every tolerance: it must fail, not slip through."""
    rewrite_npz(tiny_copy, lambda a: a.update(dense_bias=np.array([np.nan], np.float32)))
    status, _, err = parity_cli(capsys, "--golden", tiny_golden, tiny_copy,
                                "--report", tmp_path / "r", "--no-plots")
    assert status == 1, err
    (result,) = report_of(tmp_path / "r")["results"]  # still valid JSON
    # The runtime may refuse non-finite outputs itself (ERROR); else parity flags them (FAIL).
    assert result["status"] in ("FAIL", "ERROR")
    assert any("nan" in p.lower() for p in result["problems"])


def test_artifact_not_matching_its_sidecar_is_an_error_row(capsys, tiny_golden, tiny_copy,
                                                            tmp_path):
    data = bytearray(tiny_copy.read_bytes())
    data[-100] ^= 0xFF
    tiny_copy.write_bytes(bytes(data))
    status, out, err = parity_cli(capsys, "--golden", tiny_golden, tiny_copy,
                                  "--report", tmp_path / "r", "--no-plots")
    assert status == 1
    (result,) = report_of(tmp_path / "r")["results"]
    assert result["status"] == "ERROR" and "does not match its sidecar" in result["problems"][0]
    assert "**ERROR**" in out


def _bad_golden(tmp_path, tiny_golden, what):
    path = tmp_path / "bad.npz"
    if what == "not npz":
        path.write_bytes(b"not a zip file")
        return path
    with np.load(tiny_golden, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    if what == "edited":
        arrays["keras"] = arrays["keras"] + np.float32(0.01)
    elif what == "foreign":
        arrays = dict(x_test=np.zeros((2, 200), np.int32))
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("argv, message", [
    ([], "name at least one ARTIFACT"),
    (["{tmp}/missing.tflite"], "not found"),
    (["{tmp}/empty"], "no artifacts"),
    (["--golden", "{tmp}/missing.npz", "{art}"], "golden file"),
    (["--golden", "{golden}", "--model", "m.keras", "{art}"], "do not apply"),
    (["--golden", "{golden}", "--data", "d.tar.gz", "{art}"], "do not apply"),
    (["--golden", "{golden}", "--limit", "0", "{art}"], "--limit"),
    (["--golden", "{golden}", "--jobs", "0", "{art}"], "--jobs"),
    (["--make-golden", "{tmp}/g.npz", "{art}"], "compares nothing"),
    (["--make-golden", "{tmp}/g.npz", "--limit", "0"], "--limit"),
    (["--make-golden", "{tmp}"], "is a folder"),
    (["--make-golden", "{tmp}/g.npz", "--model", "{tmp}/none.keras"], "not found"),
    (["--golden", "{golden}", "--backend", "onnxruntime", "{art}"], "none of the backends"),
    (["--golden", "{golden}", "{art}", "--report", "{tmp}/file"], "not writable"),
    (["--golden", "{tmp}/bad-not npz", "{art}"], "not a readable golden file"),
    (["--golden", "{tmp}/bad-edited", "{art}"], "do not match the checksum"),
    (["--golden", "{tmp}/bad-foreign", "{art}"], "not a parity golden file"),
    (["--golden", "{golden}", "{tmp}/broken/x.npz"], "not valid JSON"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_usage_exits_2_with_one_line(capsys, tiny_golden, tiny_folder, tmp_path, argv,
                                         message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("a file, not a folder")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.npz").write_bytes(b"")
    (tmp_path / "broken" / "x.npz.json").write_text("{not json")
    for what in ("not npz", "edited", "foreign"):
        bad = _bad_golden(tmp_path, tiny_golden, what)
        bad.rename(tmp_path / f"bad-{what}")
    argv = [a.format(tmp=tmp_path, golden=tiny_golden, art=tiny_folder / "tiny.npz")
            for a in argv]
    status, out, err = parity_cli(capsys, *argv)
    assert status == 2, (out, err)
    assert err.startswith("imdb-edge parity: error: ") and err.count("\n") == 1, err
    assert message in err
    assert out == ""


def test_unknown_backend_is_refused_by_the_parser(capsys, tiny_golden, tiny_folder):
    with pytest.raises(SystemExit) as exc:
        main(["parity", "--golden", str(tiny_golden), str(tiny_folder), "--backend", "cuda"])
    assert exc.value.code == 2


# ------------------------------------------------------------------ the real model

@pytest.fixture(scope="module")
def real(exported, tmp_path_factory):
    """Three artifacts of the real export, one per format, in a folder of their own."""
    folder = tmp_path_factory.mktemp("real_three")
    for fmt, mode, batch in (("numpy", "float32", None), ("tflite", "float32", 1),
                             ("onnx", "float32", None)):
        copy_artifact(find_artifact(exported, fmt, mode, batch), folder)
    return folder


def test_host_run_writes_report_with_hashes(capsys, real, reference_model, shared_data,
                                            tmp_path):
    status, out, err = parity_cli(capsys, real, "--model", reference_model, "--data",
                                  shared_data, "--limit", 100, "--random-rows", 8,
                                  "--report", tmp_path)
    assert status == 0, out + err[-3000:]
    report = report_of(tmp_path)
    assert report["reference"]["kind"] == "keras"
    assert report["reference"]["model"]["sha256"] == \
        hashlib.sha256(reference_model.read_bytes()).hexdigest()
    data = report["reference"]["data"]
    assert data["reviews"] == 100 and len(data["sha256"]) == 64
    if shared_data.endswith(".tar.gz"):
        assert len(data["file_sha256"]) == 64
    backends = {r["backend"] for r in report["results"]}
    assert {"numpy", "litert", "onnxruntime"} <= backends
    assert set(report["plots"]) == {p.name for p in real.glob("imdb-*") if p.suffix != ".json"}
    for name in report["plots"].values():
        assert (tmp_path / name).stat().st_size > 10_000
    assert "keras: " in err and "rows/s" in err


def test_golden_round_trip_host_to_device(capsys, real, reference_model, shared_data, tmp_path):
    """Make the golden file on the host (with Keras), replay it without TensorFlow: the same
    inputs, the same Keras outputs, the same figures as the host run."""
    golden = tmp_path / "golden.npz"
    status, _, err = parity_cli(capsys, "--make-golden", golden, "--model", reference_model,
                                "--data", shared_data, "--limit", 60, "--random-rows", 8)
    assert status == 0, err[-3000:]
    status, _, err = parity_cli(capsys, real, "--model", reference_model, "--data", shared_data,
                                "--limit", 60, "--random-rows", 8, "--report", tmp_path / "host",
                                "--no-plots", "--backend", "numpy", "--backend", "litert",
                                "--backend", "onnxruntime")
    assert status == 0, err[-3000:]
    done = blocked_cli("parity", "--golden", golden, real, "--report", tmp_path / "device",
                       "--no-plots")
    assert done.returncode == 0, done.stderr[-3000:]
    host, device = report_of(tmp_path / "host"), report_of(tmp_path / "device")
    assert device["reference"]["kind"] == "golden"
    assert device["rows"] == host["rows"]
    assert device["reference"]["model"]["sha256"] == host["reference"]["model"]["sha256"]
    figures = {(r["artifact"], r["backend"]): r["metrics"] for r in host["results"]}
    for r in device["results"]:
        assert r["metrics"]["max_abs"] == pytest.approx(figures[(r["artifact"], r["backend"])]
                                                        ["max_abs"], abs=1e-7)
    tflite214 = tflite214_python()
    if tflite214:  # the Raspberry Pi runtime: tflite-runtime 2.14 with numpy 1.x
        done = blocked_cli("parity", "--golden", golden, real, "--report", tmp_path / "t214",
                           "--no-plots", python=tflite214)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "tflite_runtime" in {r["backend"] for r in report_of(tmp_path / "t214")["results"]}


def test_corrupted_numpy_embedding_fails(capsys, exported, fast_reference, golden_of, tmp_path):
    artifact = copy_artifact(find_artifact(exported, "numpy", "float32", None), tmp_path)

    def scale(arrays):
        arrays["embedding"] = arrays["embedding"] * np.float32(1.5)

    rewrite_npz(artifact, scale)
    status, out, err = parity_cli(capsys, "--golden", golden_of(fast_reference), artifact,
                                  "--limit", 100, "--report", tmp_path / "r", "--no-plots")
    assert status == 1, err[-3000:]
    assert report_of(tmp_path / "r")["results"][0]["status"] == "FAIL"


def test_corrupted_tflite_weights_fail(capsys, exported, fast_reference, golden_of, tmp_path):
    """Scale the embedding inside a float32 .tflite (its bytes are the numpy artifact's
    embedding verbatim), re-hash the sidecar so it loads: parity must FAIL."""
    artifact = copy_artifact(find_artifact(exported, "tflite", "float32", 1), tmp_path)
    with np.load(find_artifact(exported, "numpy", "float32", None)) as f:
        embedding = f["embedding"]
    blob = artifact.read_bytes()
    at = blob.find(embedding.tobytes())
    assert at > 0, "the float32 TFLite artifact does not hold the embedding verbatim"
    scaled = (embedding * np.float32(1.5)).tobytes()
    artifact.write_bytes(blob[:at] + scaled + blob[at + len(scaled):])
    rehash(artifact)
    status, _, err = parity_cli(capsys, "--golden", golden_of(fast_reference), artifact,
                                "--limit", 100, "--report", tmp_path / "r", "--no-plots",
                                "--backend", "litert")
    assert status == 1, err[-3000:]
    assert {r["status"] for r in report_of(tmp_path / "r")["results"]} == {"FAIL"}


def test_missing_model_exits_2(capsys, tiny_folder, tmp_path):
    status, _, err = parity_cli(capsys, tiny_folder, "--model", tmp_path / "none.keras",
                                "--report", tmp_path / "r")
    assert status == 2 and "not found" in err
