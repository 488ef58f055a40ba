"""The runtime and `imdb-edge score` work with TensorFlow, Keras, tf2onnx and the training
and export code made unimportable: what a device install looks like."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from testkit import FORBIDDEN, IMPORT_BLOCKER

RUNTIME = Path(__file__).resolve().parents[2] / "runtime"
# Inference libraries are imported only inside the backend that uses them.
LAZY = ("ai_edge_litert", "tflite_runtime", "onnxruntime", "onnx")

SCRIPT = IMPORT_BLOCKER + """
import json
import imdb_edge.runtime
assert not [m for m in sys.modules if m.split(".")[0] in ("onnxruntime", "ai_edge_litert")], \
    "importing the runtime imported a backend"
from imdb_edge.cli import main
for artifact in sys.argv[1:]:
    model = imdb_edge.runtime.load(artifact)
    print(json.dumps({"backend": model.backend_name,
                      "probability": float(model.predict_text(["a good film"])[0])}))
    assert main(["score", artifact, "--text", "a good film"]) == 0
"""


def test_scores_with_tensorflow_blocked(model_dir):
    artifacts = [model_dir / n for n in ("tiny.npz", "tiny_bany.onnx", "tiny_b1.tflite")
                 if (model_dir / n).exists()]
    done = subprocess.run([sys.executable, "-c", SCRIPT, *map(str, artifacts)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 2 * len(artifacts)
    for api, cli in zip(lines[::2], lines[1::2]):
        assert cli["probability"] == pytest.approx(api["probability"], abs=1e-6)


def test_score_command_imports_no_tensorflow(model_dir):
    """The real entry point, timed by the interpreter: nothing TensorFlow-like is imported."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "imdb_edge.cli", "score",
                           str(model_dir / "tiny.npz"), "--text", "fine"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    imported = [line.split("|")[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")]
    assert "imdb_edge.runtime.model" in imported
    assert not [m for m in imported if m.split(".")[0] in ("tensorflow", "keras", "tf2onnx")]
    assert not [m for m in imported if m.startswith(("imdb_edge.train", "imdb_edge.export"))]


def imports_of(path: Path):
    """(module, at module level?) for every import statement in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: must stay inside the runtime package
                depth = len(path.relative_to(RUNTIME).parts) - 1
                assert node.level <= depth + 1, f"{path}: relative import leaves runtime/"
                continue
            names = [node.module]
        else:
            continue
        for name in names:
            yield name, id(node) in top_level


def test_runtime_sources_import_nothing_forbidden():
    files = sorted(RUNTIME.rglob("*.py"))
    assert len(files) >= 10
    for path in files:
        for name, module_level in imports_of(path):
            allowed_lazily = path.name == "tensorflow_lite.py" and name == "tensorflow"
            if not allowed_lazily:
                assert not name.startswith(FORBIDDEN), f"{path.name} imports {name}"
            if name.startswith(LAZY + ("tensorflow",)):
                assert not module_level, f"{path.name} imports {name} at module level"
