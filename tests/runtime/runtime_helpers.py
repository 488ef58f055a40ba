"""Helpers shared by the runtime tests (imported by name: tests/runtime is on sys.path)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imdb_edge.runtime import available_backends

# Tolerances, one table. float32 throughout: the numpy backend against Keras, backends
# against each other (different kernels and summation orders), and the same backend fed
# in different batch sizes (BLAS may block rows differently).
ATOL = {"keras": 1e-6, "backends": 1e-5, "batching": 1e-6}


def assert_close(actual, expected, atol: float, what: str = "probabilities") -> None:
    """Fail with the error figures (max / mean / p99, absolute and relative) and the
    tolerance that would have been needed, not just 'not close'."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    abs_err = np.abs(actual - expected)
    if abs_err.max(initial=0) <= atol:
        return
    rel_err = abs_err / np.maximum(np.abs(expected), 1e-12)
    raise AssertionError(
        f"{what}: max abs error {abs_err.max():.3g} > atol {atol:g} "
        f"(abs mean {abs_err.mean():.3g}, p99 {np.percentile(abs_err, 99):.3g}; "
        f"rel max {rel_err.max():.3g}, mean {rel_err.mean():.3g}, "
        f"p99 {np.percentile(rel_err, 99):.3g}); would need atol >= {abs_err.max():.3g}")


def artifact(model_dir: Path, name: str, backend: str | None = None) -> Path:
    """Path of a test model, skipping (with the reason) when it or its backend is absent."""
    path = model_dir / name
    if not path.exists():
        why = {".onnx": "the onnx package is not installed to build it",
               ".tflite": "TensorFlow is not installed to build it (see IMDB_EDGE_TEST_MODELS)"}
        log = model_dir / "tflite_generator.log"
        if path.suffix == ".tflite" and log.exists():
            why[".tflite"] = f"TensorFlow failed to build it, see {log}"
        pytest.skip(f"no {name}: {why.get(path.suffix, 'not generated')}")
    if backend is not None and backend not in available_backends():
        pytest.skip(f"backend {backend} is not installed")
    return path


class FakeBackend:
    """Records every call; each row's output depends only on that row, so a mix-up of
    rows, chunks or padding shows as a wrong value."""
    name = "fake"

    def __init__(self, batch=None, chunk=64):
        self.batch, self.chunk, self.calls = batch, chunk, []

    def run(self, ids):
        self.calls.append(ids.copy())
        return fake_probabilities(ids)


def fake_probabilities(ids) -> np.ndarray:
    weights = np.arange(1, ids.shape[1] + 1, dtype=np.int64)
    return ((ids.astype(np.int64) @ weights) % 9973 / 9973).astype(np.float32)
