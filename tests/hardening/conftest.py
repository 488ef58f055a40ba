"""Fixtures for the hardening tests: generated tiny models and private copies to damage.

The models are made once per session in a temporary folder (see hardening_kit.make_models);
set IMDB_EDGE_HARDENING_MODELS to a folder made earlier by ``make_models`` to skip that.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from hardening_kit import make_models


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> Path:
    given = os.environ.get("IMDB_EDGE_HARDENING_MODELS")
    if given:
        return Path(given)
    return make_models(tmp_path_factory.mktemp("hardening_models"))


@pytest.fixture(scope="session")
def model_path(models):
    """model_path(name, backend=None): the generated model, or a skip saying why it is absent."""
    from imdb_edge.runtime import available_backends

    def find(name: str, backend: str | None = None) -> Path:
        path = models / name
        if not path.exists():
            log = models / "tflite_generator.log"
            why = (f"TensorFlow could not build it, see {log}" if log.exists() else
                   "its builder (onnx or TensorFlow) is not installed")
            pytest.skip(f"no {name}: {why}")
        if backend is not None and backend not in available_backends():
            pytest.skip(f"backend {backend} is not installed")
        return path

    return find


@pytest.fixture
def copy_of(model_path, tmp_path):
    """copy_of(name): a private copy of a model (artifact, sidecar, vocabulary) to damage."""
    def copy(name: str, backend: str | None = None, folder: Path | None = None) -> Path:
        source = model_path(name, backend)
        folder = folder or tmp_path / "model"
        folder.mkdir(parents=True, exist_ok=True)
        for file in (name, f"{name}.json", "vocab.txt"):
            shutil.copy(source.parent / file, folder / file)
        return folder / name

    return copy
