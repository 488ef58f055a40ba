"""``load(artifact)`` -> ``Model``: checked sidecar, hash-verified bytes, one backend."""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Optional

import numpy as np

from . import text
from .backends import resolve
from .backends._common import threads_or_none
from .inputs import check_ids, check_texts
from .sidecar import EXTENSIONS, ArtifactError, Sidecar, load_sidecar, load_vocabulary, read_verified
from imdb_edge.errors import InputError


class Model:
    """A loaded artifact, ready to score.

    Thread safety: every backend call (one chunk) runs under one lock per Model, because
    TFLite interpreters keep their input and output in shared buffers and must not be used
    from two threads at once. Threads can share a Model safely; they take turns per chunk.
    For parallel throughput load one Model per thread instead.
    """

    def __init__(self, sidecar: Sidecar, backend, vocabulary: dict):
        self.sidecar = sidecar
        self.backend_name = backend.name
        self._backend = backend
        self._vocabulary = vocabulary
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (f"<Model {self.sidecar.artifact} format={self.sidecar.format} "
                f"backend={self.backend_name} batch={self.sidecar.batch or 'any'}>")

    @property
    def max_len(self) -> int:
        return self.sidecar.preprocessing.max_len

    @property
    def vocab_size(self) -> int:
        return self.sidecar.preprocessing.vocab_size

    def predict_ids(self, ids) -> np.ndarray:
        """Probabilities float32 (N,) for ids (N, max_len): a numpy integer array or a list
        of rows. Raises ValueError naming the first bad row/column before running anything."""
        return self._run(check_ids(ids, self.max_len, self.vocab_size))

    def predict_text(self, texts) -> np.ndarray:
        """Probabilities float32 (N,) for a list of reviews (str; "" is allowed)."""
        return self._run(self.encode(texts)[0])

    def encode(self, texts):
        """(ids int32 (N, max_len), word counts (N,), unknown-word counts (N,)), exactly as
        training encoded reviews."""
        return text.encode_batch(check_texts(texts), self._vocabulary, self.max_len,
                                 self.vocab_size, self.sidecar.preprocessing.convention)

    def score_texts(self, texts) -> list:
        """One dict per review: probability, label, tokens (words in the review), unknown
        (words not in the vocabulary: dropped or scored as the OOV id, as the sidecar says)."""
        ids, tokens, unknown = self.encode(texts)
        return self._results(self._run(ids), tokens, unknown)

    def score_ids(self, ids) -> list:
        """As ``score_texts`` for rows of ids: tokens counts the ids other than padding and
        START, unknown counts the OOV id. A row holds no trace of dropped words, so for a
        review that fits, these equal ``score_texts``' figures less its dropped words."""
        ids = check_ids(ids, self.max_len, self.vocab_size)
        pre = self.sidecar.preprocessing
        tokens = ((ids != pre.pad_id) & (ids != pre.start_id)).sum(axis=1)
        unknown = (ids == pre.oov_id).sum(axis=1)
        return self._results(self._run(ids), tokens, unknown)

    def _results(self, probs, tokens, unknown) -> list:
        labels, threshold = self.sidecar.labels, self.sidecar.threshold
        return [{"probability": float(p), "label": labels[int(p >= threshold)],
                 "tokens": int(n), "unknown": int(u)}
                for p, n, u in zip(probs, tokens, unknown)]

    def _run(self, ids: np.ndarray) -> np.ndarray:
        """Feed validated ids in chunks the model accepts. A fixed-batch model gets its last
        chunk padded with all-zero rows, whose outputs are dropped."""
        backend = self._backend
        _guard(ids, self.max_len, self.vocab_size)
        size = backend.batch or backend.chunk
        out = np.empty(len(ids), np.float32)
        for start in range(0, len(ids), size):
            chunk = ids[start:start + size]
            rows = len(chunk)
            if backend.batch is not None and rows < size:
                chunk = np.concatenate([chunk, np.zeros((size - rows, ids.shape[1]), ids.dtype)])
            with self._lock:
                result = backend.run(chunk)
            out[start:start + rows] = result[:rows]
        # NaN or inf comes only from broken weights (a corrupted file whose sidecar was
        # re-signed): refuse it rather than label it (NaN >= threshold is False) or print
        # the invalid JSON token NaN.
        bad = np.flatnonzero(~np.isfinite(out))
        if len(bad):
            raise ArtifactError(f"{self.sidecar.artifact} returned {out[bad[0]]} for row "
                                f"{bad[0]} ({len(bad)} of {len(out)} rows not finite): its "
                                "weights are corrupt; re-export it")
        # A probability outside [0, 1] (a graph without its final sigmoid, a wrong output
        # scale in a re-signed sidecar) would still be labelled: refuse it instead.
        bad = np.flatnonzero((out < 0) | (out > 1))
        if len(bad):
            raise ArtifactError(f"{self.sidecar.artifact} returned {out[bad[0]]:g} for row "
                                f"{bad[0]} ({len(bad)} of {len(out)} rows outside [0, 1]): it "
                                "is not a probability; the artifact or its sidecar is wrong")
        return out


def _guard(ids, max_len: int, vocab_size: int) -> None:
    """The last check before a backend: whatever path built ``ids`` (check_ids, encode),
    only a plain int32 (N, max_len) array of ids in [0, vocab_size) goes further."""
    if type(ids) is not np.ndarray or ids.dtype != np.int32 or ids.ndim != 2 or \
            ids.shape[1] != max_len or not ids.flags.c_contiguous:
        raise InputError(f"internal: ids reached the backend as {type(ids).__name__} "
                         f"{getattr(ids, 'dtype', '?')} {getattr(ids, 'shape', '?')}")
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise InputError(f"ids outside [0, {vocab_size}) reached the backend")


def load(path: str | os.PathLike, *, backend: Optional[str] = None,
         threads: Optional[int] = None) -> Model:
    """Load ``path`` (``X.tflite``, ``X.onnx`` or ``X.npz``, with ``X.<ext>.json`` and the
    vocabulary beside it). ``backend`` forces one by name (see ``available_backends()``);
    ``threads`` sets the interpreter's thread count (ignored by the numpy backend).

    The sidecar is checked first, then the artifact's bytes are read once and their SHA-256
    checked; the backend gets those bytes, never the path, so what runs is what was hashed.
    Raises ArtifactError (a ValueError) for anything wrong with the files.
    """
    path = artifact_path(path)
    sidecar = load_sidecar(path)
    where = f"{path}.json"
    if sidecar.artifact != path.name:
        raise ArtifactError(f"{where} describes {sidecar.artifact!r}, not {path.name!r}")
    if path.suffix != EXTENSIONS[sidecar.format]:
        raise ArtifactError(f"{where}: format {sidecar.format} artifacts end in "
                            f"{EXTENSIONS[sidecar.format]}, not {path.suffix or 'no extension'}")
    threads = threads_or_none(threads)
    backend_class = resolve(sidecar.format, backend)

    model_bytes = read_verified(sidecar.artifact_path, sidecar.sha256, "artifact",
                                size=sidecar.size_bytes)
    vocabulary = load_vocabulary(sidecar)
    if not vocabulary:
        raise ArtifactError(f"vocabulary {sidecar.vocabulary_path} is empty")
    try:
        instance = backend_class(model_bytes, sidecar, threads)
    except UnicodeDecodeError as exc:  # a tensor name or dimension name in the model
        raise ArtifactError(f"{sidecar.artifact}: the model holds a name that is not UTF-8 "
                            f"({exc}); the file is corrupt") from None
    return Model(sidecar, instance, vocabulary)


def artifact_path(path: str | os.PathLike) -> Path:
    """The artifact's path, also when its sidecar (``X.tflite.json``) was named instead."""
    path = Path(path)
    return path.with_suffix("") if path.suffix == ".json" else path
