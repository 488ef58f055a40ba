"""An export killed part way leaves nothing half-written where a finished file would be, and
the runtime refuses whatever pair it did leave inconsistent; a later export cleans up.

Every artifact is built in a hidden `.staging-<pid>-*` folder and renamed into place, then
its sidecar is written to a hidden temporary file and renamed (imdb_edge.atomic); vocab.txt
and manifest.json are written the same way. Checkpoints and reports of a training run are
covered by tests/train/test_train_trainer.py, which kills a run (SIGKILL) right after an
epoch's checkpoint and checks that --resume then equals an uninterrupted run.

Each export here runs in its own process (TensorFlow, a few seconds each on a real-size but
untrained model), so the whole module takes a minute or two.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from testkit import PYTHON

pytest.importorskip("keras", reason="the [export] extra (TensorFlow, Keras) is not installed")
pytest.importorskip("tf2onnx", reason="the [export] extra (tf2onnx) is not installed")
pytestmark = [pytest.mark.slow, pytest.mark.hardening]

ARTIFACTS = ("imdb-float32.npz", "imdb-float32.onnx", "imdb-float32-b1.tflite")


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> dict:
    """An untrained model of the real architecture, and a word index for vocab.txt."""
    folder = tmp_path_factory.mktemp("source")
    script = ("import sys; from imdb_edge.train.model import build_model; "
              "build_model().save(sys.argv[1])")
    subprocess.run([PYTHON, "-c", script, str(folder / "model.keras")], check=True,
                   capture_output=True, timeout=600, env=_env())
    words = ["the", "a", "good", "bad", "film", "movie"] + [f"word{n}" for n in range(300)]
    (folder / "imdb_word_index.json").write_text(json.dumps({w: r for r, w in
                                                             enumerate(words, 1)}))
    return dict(model=folder / "model.keras", data=folder)


def _env() -> dict:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="",
                OMP_NUM_THREADS="1")


def export_argv(source: dict, out: Path) -> list:
    return [PYTHON, "-m", "imdb_edge.cli", "export", "--model", str(source["model"]),
            "--out", str(out), "--data", str(source["data"]), "--format", "numpy",
            "--format", "onnx", "--format", "tflite", "--quantize", "float32", "--batch", "1",
            "--no-validate", "--target", "litert", "--target", "onnxruntime"]


def published_sidecars(out: Path) -> list:
    return [p for p in out.glob("*.json") if p.name != "manifest.json"]


def survey(out: Path) -> dict:
    """What a killed export left: artifacts with a matching sidecar, artifacts without one
    (or with a stale one), and the hidden leftovers (staging folders, temporary files).
    Fails on any visible file that is not one of those: a half-written file in plain sight."""
    visible = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    matching, orphans = [], []
    for name in sorted(visible):
        if name in ("vocab.txt", "manifest.json") or name.endswith(".json"):
            continue
        assert name in ARTIFACTS, f"unexpected visible file {name} in {sorted(visible)}"
        sidecar = out / f"{name}.json"
        digest = hashlib.sha256((out / name).read_bytes()).hexdigest()
        if sidecar.exists() and json.loads(sidecar.read_text())["sha256"] == digest:
            matching.append(name)
        else:
            orphans.append(name)
    for sidecar in published_sidecars(out):  # every sidecar is whole JSON naming its artifact
        assert json.loads(sidecar.read_text())["artifact"] == sidecar.name[:-len(".json")]
    if "manifest.json" in visible:
        json.loads((out / "manifest.json").read_text())
    if "vocab.txt" in visible:
        assert (out / "vocab.txt").read_text().endswith("\n")
    hidden = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    return dict(matching=matching, orphans=orphans, hidden=hidden)


def assert_refused_or_loads(out: Path, survey_result: dict) -> None:
    """What looks finished either loads and scores, or is refused with a clear error."""
    from imdb_edge.runtime import ArtifactError, load

    for name in survey_result["matching"]:
        assert load(out / name).predict_ids([[1] + [0] * 199]).shape == (1,)
    for name in survey_result["orphans"]:
        with pytest.raises(ArtifactError, match="no sidecar|does not match its sidecar"):
            load(out / name)


def test_kill_after_the_first_artifact_is_published(source, tmp_path):
    """SIGKILL as soon as a first artifact and its sidecar are in place (polled)."""
    out = tmp_path / "out"
    proc = subprocess.Popen(export_argv(source, out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=_env())
    deadline = time.monotonic() + 600
    try:
        while not (out.is_dir() and published_sidecars(out)):
            assert proc.poll() is None, f"export ended before publishing: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "no artifact published in 10 minutes"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    found = survey(out)
    print(f"killed after the first publication: {found}")
    assert found["matching"], found
    assert len(found["matching"]) < len(ARTIFACTS), "the export finished before the kill"
    assert_refused_or_loads(out, found)


# Dies half-way through writing the first artifact's sidecar: the worst moment, since the
# artifact itself has just been renamed into place.
DIE_IN_SIDECAR = r"""
import os, signal, sys
from imdb_edge.cli import main
from imdb_edge.atomic import atomic_write
from imdb_edge.export import publish

def half_then_die(path, text):
    if str(path).endswith(".json") and not str(path).endswith("manifest.json"):
        with atomic_write(path, "w") as f:
            f.write(text[: len(text) // 2])
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    return real(path, text)

real = publish.atomic_write_text
publish.atomic_write_text = half_then_die
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def killed_in_sidecar(source, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("killed") / "out"
    argv = export_argv(source, out)
    done = subprocess.run([PYTHON, "-c", DIE_IN_SIDECAR, *argv[3:]], capture_output=True,
                          text=True, timeout=900, env=_env())
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    return dict(out=out, survey=survey(out))


def test_kill_while_writing_a_sidecar(killed_in_sidecar):
    out, found = killed_in_sidecar["out"], killed_in_sidecar["survey"]
    print(f"killed while writing a sidecar: {found}")
    # The artifact was renamed into place whole; its sidecar never was.
    assert found == dict(matching=[], orphans=["imdb-float32.npz"], hidden=found["hidden"])
    assert not published_sidecars(out)
    # The half-written sidecar and the staging folder are hidden, never in plain sight.
    assert any(h.startswith(".imdb-float32.npz.json.") and h.endswith(".tmp")
               for h in found["hidden"]), found
    assert any(re.fullmatch(r"\.staging-\d+-\w+", h) for h in found["hidden"]), found
    assert_refused_or_loads(out, found)


@pytest.fixture(scope="module")
def reexported(source, killed_in_sidecar) -> Path:
    """A complete export into the folder the killed one left behind, next to a staging
    folder of a live process (this one: another export still at work) and one of a process
    that no longer exists."""
    out = killed_in_sidecar["out"]
    (out / f".staging-{os.getpid()}-live").mkdir()
    (out / ".staging-999999999-gone").mkdir()  # above any pid_max
    done = subprocess.run(export_argv(source, out), capture_output=True, text=True, timeout=900,
                          env=_env())
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_a_later_export_publishes_everything_and_removes_stale_staging(reexported):
    out = reexported
    found = survey(out)
    print(f"after a complete export into the same folder: {found}")
    assert found["matching"] == sorted(ARTIFACTS) and found["orphans"] == []
    # Stale staging folders are removed, a live export's is kept. The half-written sidecar
    # of the killed export stays as a hidden .tmp file (harmless, never read).
    assert [h for h in found["hidden"] if h.startswith(".staging-")] == \
        [f".staging-{os.getpid()}-live"], found
    assert_refused_or_loads(out, found)
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(a["artifact"] for a in manifest["artifacts"]) == sorted(ARTIFACTS)


def test_onnx_export_keeps_every_tensor_inside_the_file(reexported):
    """The exporter never writes external data: every initializer, in the main graph and in
    every subgraph, holds its bytes, and no file but the artifacts and their sidecars
    appears. (The runtime refuses models with external data: tests/runtime.)"""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto

    from imdb_edge.runtime.backends._onnx_external import external_tensors

    out = reexported
    path = out / "imdb-float32.onnx"
    model = onnx.load(str(path), load_external_data=False)

    def tensors(graph):
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield sparse.values
            yield sparse.indices
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.HasField("t"):
                    yield attribute.t
                yield from attribute.tensors
                for sub in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                    yield from tensors(sub)

    all_tensors = list(tensors(model.graph))
    assert len(all_tensors) >= 3
    assert [t.name for t in all_tensors if t.data_location == TensorProto.EXTERNAL
            or len(t.external_data)] == []
    assert external_tensors(path.read_bytes()) == []
    assert path.stat().st_size > 1_000_000  # the 20000-word embedding is in the file
    visible = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    assert visible == {"vocab.txt", "manifest.json"} | set(ARTIFACTS) | {f"{a}.json" for a in ARTIFACTS}
