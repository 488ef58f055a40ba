"""The reference a parity run compares against: the rows (test reviews, then edge and
seeded random rows) and what Keras said about them, computed here (``keras_reference``,
imports TensorFlow) or replayed from a golden file (``load_golden``, numpy only), with
the provenance a report records: checksums, preprocessing, tolerance table, versions."""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from imdb_edge import __version__, resources
from imdb_edge.atomic import atomic_write
from imdb_edge.errors import ImdbEdgeError, UsageError
from imdb_edge.helpers import one_line
from imdb_edge.metrics import THRESHOLD, edge_cases
from imdb_edge.runtime import text
from imdb_edge.spec import REFERENCE
from imdb_edge.tolerances import TOLERANCES

GOLDEN_SCHEMA = 1
GOLDEN_KIND = "imdb-edge parity golden"
RANDOM_ROWS = 64          # seeded random id rows added to metrics.edge_cases()
SEED = 0
KERAS_BATCH = 1000
PACKAGES = ("tensorflow", "tensorflow-cpu", "keras", "ai-edge-litert", "tflite-runtime",
            "onnxruntime", "onnx", "tf2onnx", "matplotlib")


class GoldenError(ImdbEdgeError, ValueError):
    """A golden file is missing, malformed or does not match its own checksums."""


@dataclasses.dataclass
class Reference:
    """The rows every artifact is scored on, and what Keras said about them."""
    ids: np.ndarray      # int32 (N, max_len): the test reviews first, then the edge rows
    probs: np.ndarray    # float32 (N,): Keras probabilities
    labels: np.ndarray   # int8 (R,): true labels of the first R rows (the reviews)
    meta: dict           # provenance and hashes (see keras_reference); JSON-serialisable

    @property
    def reviews(self) -> int:
        return int(self.labels.size)

    @property
    def edge_names(self) -> list:
        return list(self.meta["edge_rows"])

    def row_name(self, row: int) -> str:
        return f"review {row}" if row < self.reviews else self.edge_names[row - self.reviews]


def stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def keras_reference(model: Optional[str] = None, data: Optional[str] = None,
                    limit: Optional[int] = None, random_rows: int = RANDOM_ROWS,
                    seed: int = SEED, log: Callable[[str], None] = stderr) -> Reference:
    """Run the Keras model on the test reviews and edge rows (imports TensorFlow)."""
    from imdb_edge.export import intake
    from imdb_edge.export.rows import fit_rows

    model_path = Path(model) if model else resources.reference_model()
    source = intake.load(str(model_path))  # any file kind, checked against the family
    keras_model, model_sha, spec = source.keras_model(), source.source["sha256"], source.spec
    reviews, labels, data_meta = _test_reviews(data, limit, log, spec)
    reviews = fit_rows(reviews, spec, text.NOTEBOOK)
    edges, names = edge_cases(seed=seed, random_rows=random_rows, spec=spec)
    ids = np.concatenate([reviews, edges]).astype(np.int32)
    started, probs = time.perf_counter(), []
    for start in range(0, len(ids), 5 * KERAS_BATCH):
        probs.append(keras_model.predict(ids[start:start + 5 * KERAS_BATCH],
                                         batch_size=KERAS_BATCH, verbose=0)[:, 0])
        progress(log, "keras", start + len(probs[-1]), len(ids), started)
    probs = np.concatenate(probs)
    seconds = time.perf_counter() - started
    log(f"keras: {len(ids)} rows in {seconds:.1f}s ({len(ids) / seconds:.0f} rows/s)")
    return build_reference(ids, probs, labels, edge_rows=names,
                           model=dict(path=str(model_path), sha256=model_sha,
                                      spec=spec.to_dict()), data=data_meta,
                           seed=seed, random_rows=random_rows, keras_seconds=round(seconds, 2))


def build_reference(ids, probs, labels, *, edge_rows: list, model: dict, data: dict,
                    **extra) -> Reference:
    """A Reference from rows (reviews first, then ``edge_rows``), the reference model's
    probabilities and the reviews' labels, with the metadata a golden file keeps:
    checksums of the three arrays, preprocessing, threshold, tolerance table, versions."""
    ids = np.asarray(ids, np.int32)
    probs = np.asarray(probs, np.float32).reshape(-1)
    labels = np.asarray(labels).astype(np.int8).reshape(-1)
    if probs.shape != (len(ids),) or len(edge_rows) != len(ids) - labels.size:
        raise ValueError(f"{len(ids)} rows, {probs.size} probabilities, {labels.size} labels and "
                         f"{len(edge_rows)} edge rows do not fit together")
    meta = dict(
        kind=GOLDEN_KIND, schema_version=GOLDEN_SCHEMA, created=now(), model=dict(model),
        data=dict(data), reviews=int(labels.size), edge_rows=list(edge_rows),
        threshold=THRESHOLD, preprocessing=_our_preprocessing(model.get("spec")),
        keras_accuracy=accuracy(probs[:labels.size], labels),
        tolerances=tolerance_table(), tools=versions(),
        inputs_sha256=_array_sha(ids), keras_sha256=_array_sha(probs),
        labels_sha256=_array_sha(labels), **extra)
    return Reference(ids, probs, labels, meta)


def _test_reviews(data, limit, log, spec):
    """(ids, labels, provenance) of the test split, encoded at ``spec``'s length and
    vocabulary; none, with a warning, when no data was named and the Keras download is not
    reachable."""
    from imdb_edge.train import data as data_lib

    source = data_lib.resolve_source(data)
    try:
        dataset = data_lib.load(source, spec=spec)
    except data_lib.DataError as exc:
        if source is not None:
            raise
        log(f"warning: no test reviews ({one_line(exc, 200)}); comparing on edge "
            "and random rows only, without accuracy figures; pass --data")
        empty = np.zeros((0, spec.length), np.int32)
        return empty, np.zeros(0, np.int8), dict(source=None, reviews=0)
    x, y = dataset.x_test[:limit], dataset.y_test[:limit]
    meta = dict(source=dataset.source, sha256=dataset.sha256, split="test",
                available=int(len(dataset.x_test)), limit=limit, reviews=int(len(x)))
    if source is not None and Path(source).is_file():
        meta["file_sha256"] = data_lib.file_sha256(source)
    return x, y, meta


def make_golden(path: str, *, model: Optional[str] = None, data: Optional[str] = None,
                limit: Optional[int] = None, random_rows: int = RANDOM_ROWS, seed: int = SEED,
                log: Callable[[str], None] = stderr) -> Reference:
    """Write a golden file (host, with Keras) for ``run(..., golden=path)`` on a device."""
    _check_writable_file(path)
    check_model(model)
    reference = keras_reference(model, data, limit, random_rows, seed, log)
    save_golden(reference, path)
    log(f"golden: {path} ({reference.reviews} reviews + {len(reference.edge_names)} edge rows)")
    return reference


def save_golden(reference: Reference, path: str) -> None:
    """Plain arrays and one JSON string; no pickles. Written atomically."""
    with atomic_write(path) as f:
        np.savez_compressed(f, ids=reference.ids.astype(np.int32),
                            labels=reference.labels.astype(np.int8),
                            keras=reference.probs.astype(np.float32),
                            meta=np.array([json.dumps(reference.meta)]))


def load_golden(path: str, limit: Optional[int] = None) -> Reference:
    """Read and check a golden file; ``limit`` keeps its first N reviews (all edge rows)."""
    where = str(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in ("ids", "labels", "keras", "meta")}
    except FileNotFoundError:
        raise GoldenError(f"golden file {where} not found; make one on the host with "
                          "`imdb-edge parity --make-golden FILE`") from None
    except KeyError as exc:
        raise GoldenError(f"{where} lacks array {exc}: not a parity golden file") from None
    except Exception as exc:  # zip, pickle refusal, truncated file...
        raise GoldenError(f"{where} is not a readable golden file ({one_line(exc)})") from None
    try:
        meta = json.loads(str(arrays["meta"].reshape(-1)[0]))
    except (ValueError, IndexError) as exc:
        raise GoldenError(f"{where}: meta is not a JSON string ({one_line(exc)})") from None
    if not isinstance(meta, dict) or meta.get("kind") != GOLDEN_KIND:
        raise GoldenError(f"{where} is not a parity golden file")
    if meta.get("schema_version") != GOLDEN_SCHEMA:
        raise GoldenError(f"{where}: golden schema {meta.get('schema_version')!r} is not "
                          f"supported (this version reads {GOLDEN_SCHEMA}); make it again")
    ids, labels, probs = arrays["ids"], arrays["labels"], arrays["keras"]
    if ids.ndim != 2 or ids.dtype.kind not in "iu" or probs.shape != (len(ids),) or \
            probs.dtype.kind != "f" or labels.ndim != 1 or labels.size > len(ids) or \
            labels.size != meta.get("reviews") or \
            len(meta.get("edge_rows", ())) != len(ids) - labels.size:
        raise GoldenError(f"{where}: arrays do not fit together (ids {ids.dtype} {ids.shape}, "
                          f"keras {probs.dtype} {probs.shape}, labels {labels.shape}, "
                          f"{len(meta.get('edge_rows', ()))} edge rows)")
    for name, arr in (("inputs", ids), ("keras", probs), ("labels", labels)):
        if _array_sha(arr) != meta.get(f"{name}_sha256"):
            raise GoldenError(f"{where}: {name} do not match the checksum in its metadata "
                              "(corrupted or edited)")
    ours = _our_preprocessing((meta.get("model") or {}).get("spec"))
    if meta.get("preprocessing") != ours:
        raise GoldenError(f"{where}: made with preprocessing {meta.get('preprocessing')}, this "
                          f"version encodes with {ours}")
    meta = dict(meta, golden=dict(path=where, sha256=file_sha(path)))
    reference = Reference(ids.astype(np.int32), probs.astype(np.float32), labels.astype(np.int8),
                          meta)
    return _limited(reference, limit)


def _limited(reference: Reference, limit: Optional[int]) -> Reference:
    if limit is None or limit >= reference.reviews:
        return reference
    keep = np.r_[0:limit, reference.reviews:len(reference.ids)]
    meta = dict(reference.meta, reviews=limit,
                data=dict(reference.meta.get("data", {}), limit=limit, reviews=limit))
    return Reference(reference.ids[keep], reference.probs[keep], reference.labels[:limit], meta)


def check_model(model: Optional[str]) -> None:
    """Refuse a missing reference model before TensorFlow is imported (seconds)."""
    path = Path(model) if model else resources.reference_model()
    if not path.exists():  # a file, or a SavedModel folder
        raise UsageError(f"model {path} not found; pass --model, or --golden to replay a "
                         "golden file without Keras")


def versions() -> dict:
    """imdb-edge, Python, platform, numpy and the installed packages that matter here,
    read from package metadata (nothing is imported)."""
    from imdb_edge.helpers import installed_versions

    return {"imdb-edge": __version__, "python": sys.version.split()[0],
            "platform": f"{platform.system()} {platform.machine()}", "numpy": np.__version__,
            **installed_versions(PACKAGES)}


def _our_preprocessing(spec: Optional[dict] = None) -> dict:
    """The preprocessing this version encodes with, at the model's sizes (the reference's
    for golden files made before they recorded the model's spec)."""
    spec = spec or REFERENCE.to_dict()
    return dict(max_len=spec["length"], vocab_size=spec["vocab_size"], pad_id=text.PAD_ID,
                start_id=text.START_ID, oov_id=text.OOV_ID, index_from=text.INDEX_FROM,
                tokenizer_version=text.TOKENIZER_VERSION)


def tolerance_table() -> dict:
    return {kind: dataclasses.asdict(tol) for kind, tol in TOLERANCES.items()}


def accuracy(probs: np.ndarray, labels: np.ndarray) -> Optional[float]:
    if not labels.size:
        return None
    return float(np.mean((probs >= THRESHOLD) == labels.astype(bool)))


def progress(log, name, done, total, started) -> None:
    """An intermediate progress line (the final line of each run says more)."""
    if done < total:
        rate = done / max(time.perf_counter() - started, 1e-9)
        log(f"{name}: {done}/{total} rows, {rate:.0f} rows/s")


def _array_sha(arr: np.ndarray) -> str:
    arr = np.ascontiguousarray(arr)
    return hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode() + arr.tobytes()).hexdigest()


def file_sha(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _check_writable_file(file) -> None:
    path = Path(file)
    if path.is_dir():
        raise UsageError(f"{path} is a folder; name the golden file to write, e.g. golden.npz")
    if not path.parent.is_dir():
        raise UsageError(f"folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise UsageError(f"folder {path.parent} is not writable")
