"""Fixtures for the training-side tests; the builders behind them are in trainkit.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from testkit import make_npz
from trainkit import TinyImdb, build_tiny_imdb


@pytest.fixture
def tiny_imdb(tmp_path) -> TinyImdb:
    """A tiny aclImdb_v1.tar.gz with its word index beside it, and its extracted folder."""
    return build_tiny_imdb(tmp_path)


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory) -> Path:
    """200 train / 200 test synthetic padded rows, shared read-only by the training tests."""
    return make_npz(tmp_path_factory.mktemp("tiny") / "tiny.npz")


@pytest.fixture(autouse=True)
def isolated_data_env(tmp_path, monkeypatch):
    """No test reads or writes the user's cache, or picks up their IMDB_EDGE_DATA."""
    monkeypatch.setenv("IMDB_EDGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("IMDB_EDGE_DATA", raising=False)
