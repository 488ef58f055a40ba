"""Files that ship inside the package, so that `imdb-edge export` works from a wheel with
no flag and no network: the reference model, its vocabulary, and a few hundred encoded
IMDB reviews for calibration and validation.

* ``reference_model()`` - ``imdb_edge/models/reference/model.keras`` (the source tree's
  ``models/`` folder, mapped into the package by ``pyproject.toml``).
* ``vocabulary()``      - ``imdb_edge/data/vocab.txt``: line r is the word of frequency
  rank r (the Keras IMDB word index), the file every artifact folder carries.
* ``rows()``            - ``imdb_edge/data/rows.npz``: ``x_train`` (calibration, training
  reviews only), ``x_test`` / ``y_test`` (validation), padded ids as ``load_npz`` reads
  them, and ``meta`` (JSON: tokenizer version, source and word-index hashes, row counts).

``scripts/make_packaged_rows.py`` writes both data files from the IMDB archive. numpy only.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

PACKAGE = Path(__file__).resolve().parent
ROWS_NAME = "rows.npz"
VOCABULARY_NAME = "vocab.txt"


def reference_model() -> Path:
    """The packaged reference model (the path, whether or not it is there)."""
    return _packaged("models", "reference", "model.keras")


def vocabulary() -> Path:
    return _packaged("data", VOCABULARY_NAME)


def rows() -> Path:
    return _packaged("data", ROWS_NAME)


def word_index() -> dict:
    """The packaged vocabulary as the Keras word index: word -> rank (1 = most frequent)."""
    words = vocabulary().read_bytes().decode("utf-8").split("\n")  # no newline translation
    return {word: rank for rank, word in enumerate(words[:-1], start=1)}


def rows_meta() -> dict:
    """What the packaged rows were made from (see the module doc)."""
    import numpy as np

    with np.load(rows(), allow_pickle=False) as f:
        return json.loads(str(f["meta"]))


def data_source(data: Optional[str]) -> str:
    """The dataset to read: ``data``, else ``$IMDB_EDGE_DATA``, else the packaged rows."""
    from imdb_edge.train.data import resolve_source

    return resolve_source(data) or str(rows())


def _packaged(*parts: str) -> Path:
    """A file of the package. Installed from a wheel, everything is inside it. Run from a
    source tree (an editable install, or the checkout on ``sys.path``), ``imdb_edge.models``
    is the tree's ``models/`` folder, which pyproject.toml's package-dir maps into the
    package when a wheel is built."""
    path = PACKAGE.joinpath(*parts)
    if path.exists() or parts[0] != "models":
        return path
    tree = PACKAGE.parent
    project = tree / "pyproject.toml"
    if project.is_file() and 'name = "imdb-edge"' in project.read_text(encoding="utf-8"):
        return tree.joinpath(*parts)
    return path
