"""Fixtures for the parity suite.

Real-model tests use the committed reference model (models/reference/model.keras; until it
exists, $IMDB_EDGE_PARITY_MODEL) and the shared data (../shared/data or $IMDB_EDGE_DATA),
and skip with the reason when either is absent. Every artifact kind is exported once per
session into a temporary folder with the real pipeline (no export-time validation: these
tests do the comparison). $IMDB_EDGE_PARITY_ARTIFACTS names a folder exported earlier to
reuse instead (saves the minutes of exporting while developing).

Tiny-model tests need neither: they use tests/generate_test_model.py's numpy model, with
its own outputs standing in for Keras.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from imdb_edge import parity
from imdb_edge.metrics import edge_cases
from parity_helpers import (ARTIFACTS_ENV, FAST_RANDOM_ROWS, FAST_REVIEWS, MODEL_ENV,
                            REFERENCE_MODEL, ROOT, SHARED_ARCHIVE)
from testkit import copy_artifact, gen, installed


# ---------------------------------------------------------------------- the real model

@pytest.fixture(scope="session")
def reference_model() -> Path:
    if REFERENCE_MODEL.is_file():
        return REFERENCE_MODEL
    given = os.environ.get(MODEL_ENV)
    if given:
        assert Path(given).is_file(), f"{MODEL_ENV}={given} does not exist"
        return Path(given)
    pytest.skip(f"no reference model: {REFERENCE_MODEL.relative_to(ROOT)} is not committed yet "
                f"and {MODEL_ENV} is not set")


@pytest.fixture(scope="session")
def shared_data() -> str:
    given = os.environ.get("IMDB_EDGE_DATA")
    if given and Path(given).exists():
        return given
    if SHARED_ARCHIVE.is_file():
        return str(SHARED_ARCHIVE)
    pytest.skip(f"no shared data: {SHARED_ARCHIVE} is absent and IMDB_EDGE_DATA is not set")


@pytest.fixture(scope="session")
def needs_tensorflow():
    for module in ("tensorflow", "keras"):
        if not installed(module):
            pytest.skip(f"{module} is not installed (pip install 'imdb-edge[export]')")


@pytest.fixture(scope="session")
def exported(reference_model, shared_data, needs_tensorflow, tmp_path_factory) -> dict:
    """Every kind the exporter plans, exported once: {"folder", "outcomes", "seconds"}."""
    given = os.environ.get(ARTIFACTS_ENV)
    if given:
        folder = Path(given)
        assert (folder / "manifest.json").is_file(), f"{ARTIFACTS_ENV}={given} has no manifest"
        return dict(folder=folder, outcomes={}, seconds=0.0)
    if not installed("tf2onnx"):
        pytest.skip("tf2onnx is not installed (pip install 'imdb-edge[export]')")
    from imdb_edge.export.formats import FORMATS
    from imdb_edge.export.pipeline import ExportOptions, export

    folder = tmp_path_factory.mktemp("parity_artifacts")
    started = time.perf_counter()
    lines = []
    outcomes = export(ExportOptions(model=str(reference_model), out=str(folder),
                                    formats=tuple(FORMATS), modes=None, batches=(1, 64),
                                    data=shared_data, validate=0, on_mismatch="warn"),
                      log=lines.append)
    seconds = time.perf_counter() - started
    (folder / "export.log").write_text("\n".join(lines) + f"\nexport took {seconds:.0f}s\n")
    return dict(folder=folder, outcomes={o.artifact: o for o in outcomes}, seconds=seconds)


@pytest.fixture(scope="session")
def fast_reference(reference_model, shared_data, needs_tensorflow) -> parity.Reference:
    return parity.keras_reference(str(reference_model), shared_data, limit=FAST_REVIEWS,
                                  random_rows=FAST_RANDOM_ROWS, log=lambda _: None)


@pytest.fixture(scope="session")
def full_reference(reference_model, shared_data, needs_tensorflow) -> parity.Reference:
    return parity.keras_reference(str(reference_model), shared_data, limit=None,
                                  log=lambda _: None)


@pytest.fixture(scope="session")
def golden_of(tmp_path_factory):
    """golden_of(reference) -> a golden file of it, written once per reference."""
    written = {}

    def make(reference: parity.Reference) -> Path:
        key = reference.meta["inputs_sha256"]
        if key not in written:
            written[key] = tmp_path_factory.mktemp("golden") / "golden.npz"
            parity.save_golden(reference, written[key])
        return written[key]

    return make


# ---------------------------------------------------------------------- the tiny model

@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory) -> Path:
    """tests/generate_test_model.py's numpy model (real shapes, random weights)."""
    folder = tmp_path_factory.mktemp("parity_tiny")
    gen.write_numpy_model(folder, weights=gen.make_weights())
    return folder


@pytest.fixture(scope="session")
def tiny_golden(tiny_folder, tmp_path_factory) -> Path:
    """A golden file whose 'Keras' outputs are the tiny numpy model's own: 12 reviews with
    made-up labels + the edge cases (no random rows, to keep the numpy backend quick)."""
    from imdb_edge.runtime import load

    reviews = gen.reference_ids(12)
    edges, names = edge_cases(random_rows=0)
    ids = np.concatenate([reviews, edges])
    probs = load(tiny_folder / "tiny.npz").predict_ids(ids)
    labels = (probs[:len(reviews)] >= 0.5).astype(np.int8)
    labels[:3] ^= 1  # the model is 75% accurate on these made-up labels
    reference = parity.build_reference(ids, probs, labels, edge_rows=names,
                                       model=dict(path="tiny", sha256="tiny"),
                                       data=dict(source="synthetic", reviews=len(reviews)),
                                       seed=0, random_rows=0)
    path = tmp_path_factory.mktemp("tiny_golden") / "golden.npz"
    parity.save_golden(reference, path)
    return path


@pytest.fixture
def tiny_copy(tiny_folder, tmp_path) -> Path:
    """A private copy of the tiny artifact (with sidecar and vocabulary) to tamper with."""
    return copy_artifact(tiny_folder / "tiny.npz", tmp_path / "artifacts")
