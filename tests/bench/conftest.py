"""Fixtures for the bench tests: tiny models from tests/generate_test_model.py, so the
command runs end to end in seconds. Nothing here times anything: the tests check that every
figure is measured and written, never how big it is."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from testkit import gen, installed


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    """tiny.npz always, tiny.onnx too when onnx (to build it) and onnxruntime are installed."""
    folder = tmp_path_factory.mktemp("bench_models")
    weights = gen.make_weights()
    gen.write_numpy_model(folder, weights=weights)
    if installed("onnx") and installed("onnxruntime"):
        gen.write_onnx_model(folder, weights=weights)
    return folder


@pytest.fixture(scope="session")
def tiny_keras(tmp_path_factory) -> Path:
    """The reference architecture, untrained, saved as .keras (in a subprocess, so this
    process never imports TensorFlow)."""
    if not (installed("keras") and installed("tensorflow")):
        pytest.skip("Keras/TensorFlow are not installed to build a .keras model")
    path = tmp_path_factory.mktemp("bench_keras") / "tiny.keras"
    code = ("import sys; from imdb_edge.train.model import build_model; "
            "build_model().save(sys.argv[1])")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return path
