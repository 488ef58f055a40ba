"""Fixtures for the runtime tests: tiny models made by tests/generate_test_model.py.

The models are generated once per session into a temporary folder: the numpy one always,
ONNX ones when ``onnx`` is installed, TFLite ones (and Keras reference outputs) when
TensorFlow is, in a subprocess so this process never imports it. Where neither can be
made (a device venv), set IMDB_EDGE_TEST_MODELS to a folder written elsewhere by
``python tests/generate_test_model.py DIR --onnx --tflite``.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from imdb_edge.runtime import load
from imdb_edge.runtime.model import Model
from imdb_edge.runtime.sidecar import load_sidecar, load_vocabulary
from runtime_helpers import FakeBackend
from testkit import copy_artifact, gen, write_tiny_models


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    given = os.environ.get("IMDB_EDGE_TEST_MODELS")
    if given:
        folder = Path(given)
        assert (folder / "tiny.npz").is_file(), f"IMDB_EDGE_TEST_MODELS={given} has no tiny.npz"
        return folder
    return write_tiny_models(tmp_path_factory.mktemp("tiny_models"))


@pytest.fixture(scope="session")
def numpy_model(model_dir) -> Model:
    return load(model_dir / "tiny.npz")


@pytest.fixture(scope="session")
def reference_ids() -> np.ndarray:
    return gen.reference_ids(65)


@pytest.fixture(scope="session")
def reference_probs(numpy_model, reference_ids) -> np.ndarray:
    """The numpy backend, one review at a time: what every batching must reproduce."""
    return np.concatenate([numpy_model.predict_ids(reference_ids[i:i + 1])
                           for i in range(len(reference_ids))])


@pytest.fixture
def model_copy(model_dir, tmp_path) -> Path:
    """A private copy of the numpy model (artifact, sidecar, vocabulary) to tamper with."""
    return copy_artifact(model_dir / "tiny.npz", tmp_path)


@pytest.fixture
def fake_model(model_dir):
    """A Model over FakeBackend with the tiny model's sidecar and vocabulary."""
    sidecar = load_sidecar(model_dir / "tiny.npz")
    vocabulary = load_vocabulary(sidecar)

    def make(batch=None, chunk=64):
        return Model(dataclasses.replace(sidecar, batch=batch), FakeBackend(batch, chunk),
                     vocabulary)

    return make


@pytest.fixture(scope="session")
def generator():
    """tests/generate_test_model.py as a module (tests/ is not a package)."""
    return gen
