"""Load IMDB as padded id rows, from one of three sources.

* ``keras``   - ``keras.datasets.imdb.load_data()``, as the original notebook did (downloads;
                needs the internet).
* archive     - the raw Large Movie Review Dataset (``aclImdb_v1.tar.gz`` or its extracted
                folder) tokenised with the Keras word index (``imdb_word_index.json``).
* ``.npz``    - already tokenised rows: ``x_train``, ``y_train``, ``x_test``, ``y_test`` as
                padded integer arrays (the format of this module's own cache).

``--data PATH`` or ``IMDB_EDGE_DATA`` picks a local source; without either, the Keras
download is used. Archives are tokenised once and cached by a hash of their inputs.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from imdb_edge import helpers
from imdb_edge.atomic import atomic_write
from imdb_edge.errors import ImdbEdgeError
from imdb_edge.runtime.text import (NOTEBOOK, TOKENIZER_VERSION, Convention,
                                    encode, pad, pad_with)
from imdb_edge.spec import REFERENCE, ModelSpec

ARCHIVE_NAME = "aclImdb_v1.tar.gz"
WORD_INDEX_NAME = "imdb_word_index.json"
# Same shuffle as keras.datasets.imdb.load_data, so sources are ordered alike.
SHUFFLE_SEED = 113
_MEMBER = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")


class DataError(ImdbEdgeError):
    """A data source is missing, unreadable or malformed. The message says how to fix it."""


@dataclasses.dataclass
class Dataset:
    x_train: np.ndarray  # (N, length) int32 padded ids
    y_train: np.ndarray  # (N,) int32 labels, 1 = positive
    x_test: np.ndarray
    y_test: np.ndarray
    source: str          # what was read: a path, or "keras.datasets.imdb"
    sha256: str          # hash of the source's content (the cache key for archives)

    def subset(self, limit: int | None) -> "Dataset":
        """First ``limit`` rows of each split (rows are already shuffled)."""
        if not limit:
            return self
        return dataclasses.replace(
            self, x_train=self.x_train[:limit], y_train=self.y_train[:limit],
            x_test=self.x_test[:limit], y_test=self.y_test[:limit])


def resolve_source(data: str | os.PathLike | None) -> str | None:
    """The local source to read: the argument, else ``$IMDB_EDGE_DATA``, else None (download)."""
    chosen = data if data is not None else os.environ.get("IMDB_EDGE_DATA") or None
    return None if chosen is None else str(chosen)


def load(data: str | os.PathLike | None = None, *, word_index: str | os.PathLike | None = None,
         cache_dir: str | os.PathLike | None = None, convention: Convention = NOTEBOOK,
         spec: ModelSpec = REFERENCE) -> Dataset:
    """Load the dataset from ``data`` (see module doc) as rows of ``spec``'s length and
    vocabulary, raw text encoded under ``convention``; an .npz must hold rows of that
    length. Raises DataError with a fix-it message."""
    source = resolve_source(data)
    if source is None:
        return load_keras(spec)
    path = Path(source)
    if not path.exists():
        raise DataError(f"data source {path} does not exist; pass --data with the path to "
                        f"{ARCHIVE_NAME}, its extracted folder, or an .npz of padded ids")
    if path.is_dir() and (path / ARCHIVE_NAME).is_file():
        path = path / ARCHIVE_NAME
    if path.suffix == ".npz":
        return load_npz(path, length=spec.length)
    return load_archive(path, word_index=word_index, cache_dir=cache_dir, convention=convention,
                        spec=spec)


def load_keras(spec: ModelSpec = REFERENCE) -> Dataset:
    """The notebook's path: download imdb.npz through Keras (needs the internet)."""
    try:
        from keras.datasets import imdb
        (x_train, y_train), (x_test, y_test) = imdb.load_data()
    except Exception as exc:  # network errors surface as many exception types
        raise DataError(f"could not download IMDB through keras.datasets.imdb ({exc}); "
                        f"offline, pass --data PATH/{ARCHIVE_NAME} (or set IMDB_EDGE_DATA)") from exc
    return Dataset(pad(x_train, spec.length, spec.vocab_size), y_train.astype(np.int32),
                   pad(x_test, spec.length, spec.vocab_size), y_test.astype(np.int32),
                   source="keras.datasets.imdb", sha256="keras.datasets.imdb")


def load_npz(path: str | os.PathLike, length: int = REFERENCE.length) -> Dataset:
    """Padded ids from an .npz with x_train, y_train, x_test, y_test, rows of ``length``
    ids. Never unpickles."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except KeyError as exc:
        raise DataError(f"{path} lacks array {exc}; expected x_train, y_train, x_test, y_test") from exc
    except ValueError as exc:
        raise DataError(f"{path} holds pickled (ragged) arrays, which are not loaded for safety; "
                        "store padded integer arrays (see imdb_edge.runtime.text.pad)") from exc
    except (OSError, zlib.error, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path} is not a readable .npz file ({exc})") from exc
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 2 or x.shape[1] != length or not np.issubdtype(x.dtype, np.integer):
            raise DataError(f"{path}: x_{split} must be an integer array of shape (N, {length}), "
                            f"the model's length, got {x.dtype} {x.shape}")
        if y.shape != (x.shape[0],):
            raise DataError(f"{path}: y_{split} must have shape ({x.shape[0]},), got {y.shape}")
    return Dataset(arrays["x_train"].astype(np.int32), arrays["y_train"].astype(np.int32),
                   arrays["x_test"].astype(np.int32), arrays["y_test"].astype(np.int32),
                   source=str(path), sha256=file_sha256(path))


def save_npz(dataset: Dataset, path: str | os.PathLike) -> None:
    """Write the padded arrays atomically (the format ``load_npz`` reads)."""
    with atomic_write(path) as f:
        np.savez_compressed(f, x_train=dataset.x_train, y_train=dataset.y_train,
                            x_test=dataset.x_test, y_test=dataset.y_test)


def load_word_index(path: str | os.PathLike) -> dict[str, int]:
    """The Keras IMDB word index: word -> frequency rank (1 = most frequent)."""
    path = Path(path)
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(f"word index {path} not found; put {WORD_INDEX_NAME} beside the archive "
                        "or pass --word-index") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"word index {path} is not readable JSON ({exc})") from exc
    if not isinstance(index, dict) or not all(isinstance(v, int) for v in index.values()):
        raise DataError(f"word index {path} must map words to integer ranks")
    return index


def load_archive(path: str | os.PathLike, *, word_index: str | os.PathLike | None = None,
                 cache_dir: str | os.PathLike | None = None, convention: Convention = NOTEBOOK,
                 spec: ModelSpec = REFERENCE) -> Dataset:
    """Tokenise the raw reviews (tar.gz or extracted folder) into rows of ``spec``'s length
    and vocabulary, cached by a hash of the inputs."""
    path = Path(path)
    index_path = Path(word_index) if word_index else _find_word_index(path)
    key = hashlib.sha256(
        f"{source_digest(path)}|{file_sha256(index_path)}|tok{TOKENIZER_VERSION}|"
        f"{spec.length}|{spec.vocab_size}|{SHUFFLE_SEED}|{convention}".encode()).hexdigest()
    cache = Path(cache_dir or os.environ.get("IMDB_EDGE_CACHE") or
                 Path.home() / ".cache" / "imdb-edge") / f"imdb-{key[:24]}.npz"
    if cache.is_file():
        try:
            return dataclasses.replace(load_npz(cache, spec.length), source=str(path), sha256=key)
        except DataError:
            cache.unlink(missing_ok=True)  # a damaged cache is rebuilt, not trusted
    reviews = _read_reviews(path)
    index = load_word_index(index_path)
    splits = {}
    rng = np.random.RandomState(SHUFFLE_SEED)
    for split in ("train", "test"):
        items = sorted(reviews[split])  # (label, file id, text): a fixed order before shuffling
        if not items:
            raise DataError(f"{path} has no {split} reviews under aclImdb/{split}/{{pos,neg}}/")
        order = rng.permutation(len(items))
        # The notebook convention drops unknown words, as imdb.npz does (only test reviews
        # have any: the index ranks the training reviews' words).
        x = pad_with([encode(items[i][2], index, unknown=convention.unknown_words,
                             keep=spec.length, truncating=convention.truncating)[0]
                      for i in order], spec.length, spec.vocab_size, convention)
        y = np.array([items[i][0] for i in order], dtype=np.int32)
        splits[split] = (x, y)
    dataset = Dataset(*splits["train"], *splits["test"], source=str(path), sha256=key)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        save_npz(dataset, cache)
    except OSError:
        pass  # an unwritable cache only costs time on the next load
    return dataset


def word_index_beside(source: Path) -> Path | None:
    """The word index found beside a dataset (in it, when it is a folder, or one or two
    folders up), or None."""
    for folder in (source, source.parent, source.parent.parent):
        if (folder / WORD_INDEX_NAME).is_file():
            return folder / WORD_INDEX_NAME
    return None


def _find_word_index(archive: Path) -> Path:
    found = word_index_beside(archive)
    if found is None:
        raise DataError(f"no {WORD_INDEX_NAME} beside {archive}; pass --word-index PATH")
    return found


def _read_reviews(path: Path) -> dict[str, list[tuple[int, int, str]]]:
    reviews: dict[str, list[tuple[int, int, str]]] = {"train": [], "test": []}

    def add(name: str, raw: bytes) -> None:
        m = _MEMBER.search(name)
        if m:
            split, label, file_id, _rating = m.groups()
            reviews[split].append((int(label == "pos"), int(file_id),
                                   raw.decode("utf-8", errors="replace")))

    if path.is_dir():
        for file in sorted(path.rglob("*.txt")):
            add(file.as_posix(), file.read_bytes())
        return reviews
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if member.isfile() and _MEMBER.search(member.name):
                    add(member.name, tar.extractfile(member).read())
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} is not a readable IMDB archive ({helpers.one_line(exc, limit=None)}); "
                        f"re-download {ARCHIVE_NAME} and check it against SHA256SUMS") from exc
    return reviews


def source_digest(path: Path) -> str:
    """Content hash of a file; for a folder, a hash of its review names and sizes."""
    if path.is_file():
        return file_sha256(path)
    h = hashlib.sha256()
    for file in sorted(path.rglob("*.txt")):
        h.update(f"{file.relative_to(path).as_posix()}:{file.stat().st_size}\n".encode())
    return h.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    try:
        return helpers.file_sha256(path)
    except OSError as exc:
        raise DataError(f"cannot read {path} ({exc.strerror or exc})") from exc


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float, seed: int):
    """Hold out ``fraction`` of the training rows for decisions (--select-on val)."""
    order = np.random.RandomState(seed).permutation(len(x))
    n_val = int(round(len(x) * fraction))
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]
