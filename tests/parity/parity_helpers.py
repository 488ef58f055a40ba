"""Helpers shared by the parity tests (imported by name: tests/parity is on sys.path)."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from testkit import IMPORT_BLOCKER

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_MODEL = ROOT / "models" / "reference" / "model.keras"
MODEL_ENV = "IMDB_EDGE_PARITY_MODEL"
ARTIFACTS_ENV = "IMDB_EDGE_PARITY_ARTIFACTS"
SHARED_ARCHIVE = ROOT.parent / "shared" / "data" / "aclImdb_v1.tar.gz"
FAST_REVIEWS = 500          # test reviews in the fast tier (plus edge and random rows)
FAST_RANDOM_ROWS = 32

BLOCKED_CLI = IMPORT_BLOCKER + """
from imdb_edge.cli import main
status = main(sys.argv[1:])
leaked = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf2onnx")]
assert not leaked, leaked
sys.exit(status)
"""


def blocked_cli(*argv, python: str = sys.executable, timeout: float = 900):
    """`imdb-edge ARGV` in a subprocess where TensorFlow, Keras and the train/export code
    cannot be imported: what a device without them sees."""
    return subprocess.run([python, "-c", BLOCKED_CLI, *map(str, argv)], capture_output=True,
                          text=True, timeout=timeout)


def tflite214_python():
    """Python of the tflite-runtime 2.14 venv, or None (as export.compat finds it)."""
    given = os.environ.get("IMDB_EDGE_TFLITE214_PYTHON")
    if given:
        return given
    default = ROOT / ".venv-tflite214" / "bin" / "python"
    return str(default) if default.exists() else None


def find_artifact(exported: dict, fmt: str, mode: str, batch) -> Path:
    """The exported artifact of one kind (from the manifest), failing with the exporter's
    own words when it was not produced."""
    manifest = json.loads((exported["folder"] / "manifest.json").read_text())
    for entry in manifest["artifacts"]:
        if (entry["format"], entry["quantization"], entry["batch"]) == (fmt, mode, batch):
            return exported["folder"] / entry["artifact"]
    why = [f"{name}: {o.status} {'; '.join(o.problems)}"
           for name, o in exported["outcomes"].items()
           if (o.format, o.quantization, o.batch) == (fmt, mode, batch)]
    pytest.fail(f"the exporter produced no {fmt} {mode} batch {batch} artifact "
                f"({'; '.join(why) or 'not in the manifest'})")


def rewrite_npz(artifact: Path, change) -> None:
    """Apply ``change(arrays)`` to a numpy artifact and re-hash its sidecar, so it loads."""
    with np.load(artifact, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    change(arrays)
    with open(artifact, "wb") as f:
        np.savez(f, **arrays)
    rehash(artifact)


def rehash(artifact: Path) -> None:
    """Make the sidecar describe the artifact's current bytes (a tampered artifact that
    loads, so only the values can give it away)."""
    side = Path(f"{artifact}.json")
    meta = json.loads(side.read_text())
    data = artifact.read_bytes()
    meta.update(sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
    side.write_text(json.dumps(meta, indent=2))
