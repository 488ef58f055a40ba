"""Fixtures for the export tests: a small IMDB archive (exportkit.py), and a private cache
for the loader."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from exportkit import build_archive


@pytest.fixture(scope="session")
def imdb_archive(tmp_path_factory) -> Path:
    return build_archive(tmp_path_factory.mktemp("imdb"))


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Exports encode archives into the loader's cache: a private one, never the user's."""
    before = os.environ.get("IMDB_EDGE_CACHE")
    os.environ["IMDB_EDGE_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if before is None:
        os.environ.pop("IMDB_EDGE_CACHE", None)
    else:
        os.environ["IMDB_EDGE_CACHE"] = before
