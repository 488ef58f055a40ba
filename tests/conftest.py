"""Test-wide setup: this folder is on sys.path (pytest's rootdir-less "prepend" import of
this file puts it there), so every test folder can import the shared ``testkit``.

The fixtures here serve the hostile-input tests (``pytest -m hardening``) in every folder:
generated tiny models and private copies to damage. The models are made once per session
in a temporary folder (see testkit.make_models); set IMDB_EDGE_HARDENING_MODELS to a folder
made earlier by ``make_models`` to skip that.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from testkit import copy_artifact, make_models

CHECKOUT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """This checkout's paths, which the library never guesses: the tflite-runtime 2.14 venv
    that `make setup-tflite214` builds, when it is there and nothing else was named."""
    venv214 = CHECKOUT / ".venv-tflite214" / "bin" / "python"
    if venv214.exists():
        os.environ.setdefault("IMDB_EDGE_TFLITE214_PYTHON", str(venv214))


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
        return copy_artifact(model_path(name, backend), folder or tmp_path / "model")

    return copy
