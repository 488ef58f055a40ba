"""Parity: the Keras model against every exported artifact, on every installed backend.

    from imdb_edge.parity import ParityOptions, run, make_golden
    report = run(ParityOptions(artifacts=("artifacts",), data="aclImdb_v1.tar.gz"))
    report.status, report.exit_code            # "PASS" / "FAIL", 0 / 1

    make_golden("golden.npz", limit=2000)      # host, with Keras: inputs + Keras outputs
    run(ParityOptions(artifacts=("artifacts",), golden="golden.npz"))   # device, no TF

Every artifact sees the same rows: test reviews first (padded ids, all 25,000 unless
limited), then the edge cases of ``metrics.edge_cases`` with seeded random id rows. The
figures come from ``metrics.compare`` and PASS/FAIL from ``tolerances.judge``: the one
table that export validation uses too.

This module imports neither TensorFlow nor the train/export packages at module level; only
the Keras reference (``keras_reference``, used by ``make_golden`` and by ``run`` without a
golden file) and the ``tensorflow_lite`` backend import TensorFlow, so a golden replay runs
on a device with numpy and one inference backend.
"""
from __future__ import annotations

import concurrent.futures
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

from imdb_edge import __version__
from imdb_edge.atomic import atomic_write
from imdb_edge.errors import UsageError
from imdb_edge.metrics import THRESHOLD, compare, edge_cases
from imdb_edge.runtime import load, text
from imdb_edge.runtime.backends import BACKENDS, available_backends
from imdb_edge.runtime.model import EXTENSIONS, artifact_path
from imdb_edge.runtime.sidecar import load_sidecar
from imdb_edge.tolerances import TOLERANCES, judge, tolerance_for

GOLDEN_SCHEMA = 1
REPORT_SCHEMA = 1
GOLDEN_KIND = "imdb-edge parity golden"
RANDOM_ROWS = 64          # seeded random id rows added to metrics.edge_cases()
SEED = 0
CHUNK = 2048              # rows per predict_ids call: the unit of progress reporting
PROGRESS_EVERY_S = 15.0   # a progress line at most this often per artifact x backend
KERAS_BATCH = 1000
# Backends that import TensorFlow: never used when replaying a golden file.
TENSORFLOW_BACKENDS = ("tensorflow_lite",)
# Backends whose own threads (numpy's BLAS) cannot be limited from here: they run alone,
# after the others, since BLAS threads competing for cores slow them many times over.
RUN_ALONE = ("numpy",)
PREPROCESSING_FIELDS = ("max_len", "vocab_size", "pad_id", "start_id", "oov_id", "index_from",
                        "tokenizer_version")
PACKAGES = ("tensorflow", "tensorflow-cpu", "keras", "ai-edge-litert", "tflite-runtime",
            "onnxruntime", "onnx", "tf2onnx", "matplotlib")


class GoldenError(ValueError):
    """A golden file is missing, malformed or does not match its own checksums."""


@dataclasses.dataclass
class ParityOptions:
    artifacts: tuple = ()             # artifact files (or their sidecars), or folders of them
    model: Optional[str] = None       # reference .keras (default: models/reference/model.keras)
    golden: Optional[str] = None      # replay this golden file instead of running Keras
    data: Optional[str] = None        # test reviews, as for `train` (default: $IMDB_EDGE_DATA,
                                      #   else the Keras download; none: edge rows only)
    limit: Optional[int] = None       # only the first N test reviews (None: all 25,000)
    random_rows: int = RANDOM_ROWS    # seeded random id rows added to the edge cases
    seed: int = SEED                  # seed of those rows
    backends: Optional[tuple] = None  # only these backends (default: every installed one)
    jobs: Optional[int] = None        # artifact x backend runs at once (default: CPU count)
    threads: Optional[int] = None     # interpreter threads (default: 1 when jobs > 1)
    report: Optional[str] = None      # folder for report.json, report.md, plots/; None: none
    plots: bool = True                # PNG plots (skipped with a note if matplotlib is absent)


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


@dataclasses.dataclass
class Report:
    summary: dict                 # everything report.json holds
    reference: Reference
    outputs: dict                 # (artifact, backend) -> float32 probabilities, for plots

    @property
    def status(self) -> str:
        return self.summary["status"]

    @property
    def exit_code(self) -> int:
        return 0 if self.status == "PASS" else 1


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- reference

def keras_reference(model: Optional[str] = None, data: Optional[str] = None,
                    limit: Optional[int] = None, random_rows: int = RANDOM_ROWS,
                    seed: int = SEED, log: Callable[[str], None] = _stderr) -> Reference:
    """Run the Keras model on the test reviews and edge rows (imports TensorFlow)."""
    from imdb_edge.export.pipeline import DEFAULT_MODEL, load_keras_model

    model_path = Path(model) if model else DEFAULT_MODEL
    keras_model, model_sha = load_keras_model(str(model_path))
    reviews, labels, data_meta = _test_reviews(data, limit, log)
    edges, names = edge_cases(seed=seed, random_rows=random_rows)
    ids = np.concatenate([reviews, edges]).astype(np.int32)
    started, probs = time.perf_counter(), []
    for start in range(0, len(ids), 5 * KERAS_BATCH):
        probs.append(keras_model.predict(ids[start:start + 5 * KERAS_BATCH],
                                         batch_size=KERAS_BATCH, verbose=0)[:, 0])
        _progress(log, "keras", start + len(probs[-1]), len(ids), started)
    probs = np.concatenate(probs)
    seconds = time.perf_counter() - started
    log(f"keras: {len(ids)} rows in {seconds:.1f}s ({len(ids) / seconds:.0f} rows/s)")
    return build_reference(ids, probs, labels, edge_rows=names,
                           model=dict(path=str(model_path), sha256=model_sha), data=data_meta,
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
        kind=GOLDEN_KIND, schema_version=GOLDEN_SCHEMA, created=_now(), model=dict(model),
        data=dict(data), reviews=int(labels.size), edge_rows=list(edge_rows),
        threshold=THRESHOLD, preprocessing=_our_preprocessing(),
        keras_accuracy=_accuracy(probs[:labels.size], labels),
        tolerances=_tolerance_table(), tools=versions(),
        inputs_sha256=_array_sha(ids), keras_sha256=_array_sha(probs),
        labels_sha256=_array_sha(labels), **extra)
    return Reference(ids, probs, labels, meta)


def _test_reviews(data, limit, log):
    """(ids, labels, provenance) of the test split; none, with a warning, when no data was
    named and the Keras download is not reachable."""
    from imdb_edge.train import data as data_lib

    source = data_lib.resolve_source(data)
    try:
        dataset = data_lib.load(source)
    except data_lib.DataError as exc:
        if source is not None:
            raise
        log(f"warning: no test reviews ({' '.join(str(exc).split())[:200]}); comparing on edge "
            "and random rows only, without accuracy figures; pass --data")
        empty = np.zeros((0, text.MAX_LEN), np.int32)
        return empty, np.zeros(0, np.int8), dict(source=None, reviews=0)
    x, y = dataset.x_test[:limit], dataset.y_test[:limit]
    meta = dict(source=dataset.source, sha256=dataset.sha256, split="test",
                available=int(len(dataset.x_test)), limit=limit, reviews=int(len(x)))
    if source is not None and Path(source).is_file():
        meta["file_sha256"] = data_lib.file_sha256(source)
    return x, y, meta


def make_golden(path: str, *, model: Optional[str] = None, data: Optional[str] = None,
                limit: Optional[int] = None, random_rows: int = RANDOM_ROWS, seed: int = SEED,
                log: Callable[[str], None] = _stderr) -> Reference:
    """Write a golden file (host, with Keras) for ``run(..., golden=path)`` on a device."""
    _check_writable_file(path)
    _check_model(model)
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
        raise GoldenError(f"{where} is not a readable golden file ({_one_line(exc)})") from None
    try:
        meta = json.loads(str(arrays["meta"].reshape(-1)[0]))
    except (ValueError, IndexError) as exc:
        raise GoldenError(f"{where}: meta is not a JSON string ({_one_line(exc)})") from None
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
    ours = _our_preprocessing()
    if meta.get("preprocessing") != ours:
        raise GoldenError(f"{where}: made with preprocessing {meta.get('preprocessing')}, this "
                          f"version encodes with {ours}")
    meta = dict(meta, golden=dict(path=where, sha256=_file_sha(path)))
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


# ----------------------------------------------------------------------------- artifacts

def find_artifacts(paths) -> list:
    """Artifact paths from files (``X.tflite`` or its sidecar ``X.tflite.json``) and folders
    (every artifact in the folder's manifest.json and every sidecar there). Raises
    UsageError for a path that does not exist or a folder without artifacts."""
    found = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            in_folder = _folder_artifacts(path)
            if not in_folder:
                raise UsageError(f"{path}: no artifacts (no manifest.json entries, no sidecars); "
                                 "export some with `imdb-edge export --out DIR`")
            found.extend(in_folder)
            continue
        artifact = artifact_path(path)
        if not artifact.is_file():
            raise UsageError(f"artifact {artifact} not found" + (
                "" if artifact.suffix in EXTENSIONS.values() else
                f" (artifacts end in {', '.join(EXTENSIONS.values())})"))
        found.append(artifact)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise UsageError("no artifacts given")
    return unique


def _folder_artifacts(folder: Path) -> list:
    names = []
    manifest = folder / "manifest.json"
    if manifest.is_file():
        try:
            entries = json.loads(manifest.read_text(encoding="utf-8")).get("artifacts", [])
            names.extend(e["artifact"] for e in entries)
        except (OSError, ValueError, AttributeError, TypeError, KeyError) as exc:
            raise UsageError(f"{manifest} is not a readable manifest ({_one_line(exc)})") from None
    for side in sorted(folder.glob("*.json")):
        artifact = side.with_suffix("")
        if side.name != "manifest.json" and artifact.suffix in EXTENSIONS.values():
            names.append(artifact.name)
    paths = []
    for name in dict.fromkeys(names):
        path = folder / name
        if not isinstance(name, str) or os.path.basename(name) != name or not path.is_file():
            raise UsageError(f"{folder}: the manifest or a sidecar names artifact {name!r}, "
                             "which is not in the folder")
        paths.append(path)
    return paths


def _backends_for(fmt: str, options: ParityOptions) -> tuple:
    """(installed backends to run, [(backend, reason)] for those that will not run)."""
    chosen, skipped = [], []
    for info in BACKENDS:
        if info.format != fmt:
            continue
        if options.backends is not None and info.name not in options.backends:
            skipped.append((info.name, "not selected (--backend)"))
            continue
        if info.name not in available_backends(fmt):
            hint = ("pip install tensorflow" if info.extra == "train" else
                    f'pip install "imdb-edge[{info.extra}]"' if info.extra else
                    f"pip install {info.package}")
            skipped.append((info.name, f"not installed ({hint})"))
        elif options.golden and info.name in TENSORFLOW_BACKENDS:
            skipped.append((info.name, "imports TensorFlow, which a golden replay never does"))
        else:
            chosen.append(info.name)
    return chosen, skipped


# ----------------------------------------------------------------------------- running

def run(options: ParityOptions, log: Callable[[str], None] = _stderr) -> Report:
    """Compare every artifact on every backend with the reference; see the module doc.

    Bad usage (a missing artifact, an artifact no selected backend runs, a bad golden
    file, an unwritable report folder) raises before any scoring starts."""
    _check_options(options)
    started = time.perf_counter()
    artifacts = find_artifacts(options.artifacts)
    entries, runs, skipped = [], [], []
    for path in artifacts:
        entry, fmt = _describe(path)
        entries.append(entry)
        names, why_not = _backends_for(fmt, options)
        skipped.extend(dict(artifact=path.name, backend=b, reason=r) for b, r in why_not)
        if not names and options.backends is None:
            reasons = "; ".join(f"{b}: {r}" for b, r in why_not) or "none known"
            raise UsageError(f"no backend can run {path.name} here ({reasons})")
        runs.extend((path, b) for b in names)
    if not runs:
        reasons = dict.fromkeys(f"{s['backend']}: {s['reason']}" for s in skipped
                                if not s["reason"].startswith("not selected"))
        why = f" ({'; '.join(reasons)})" if reasons else ""
        raise UsageError(f"none of the backends {', '.join(options.backends or ())} runs "
                         f"any of the artifacts given{why}")
    if options.report:
        _check_writable_folder(options.report)

    if options.golden:
        reference = load_golden(options.golden, options.limit)
        log(f"golden {options.golden}: {reference.reviews} reviews + "
            f"{len(reference.edge_names)} edge rows")
    else:
        reference = keras_reference(options.model, options.data, options.limit,
                                    options.random_rows, options.seed, log)

    jobs = options.jobs or max(1, min(os.cpu_count() or 1, 4))
    threads = options.threads or (1 if jobs > 1 else None)
    log(f"parity: {len(artifacts)} artifacts, {len(runs)} artifact x backend runs on "
        f"{len(reference.ids)} rows, {jobs} at a time")
    results, outputs = _run_all(runs, reference, jobs, threads, log)
    warnings = _warnings(reference, entries)
    for warning in warnings:
        log(f"warning: {warning}")
    passed = sum(r["status"] == "PASS" for r in results)
    summary = dict(
        schema_version=REPORT_SCHEMA, created=_now(),
        status="PASS" if passed == len(results) else "FAIL",
        passed=passed, failed=len(results) - passed,
        seconds=round(time.perf_counter() - started, 2), jobs=jobs, threads=threads,
        reference=_reference_summary(reference),
        rows=dict(total=int(len(reference.ids)), reviews=reference.reviews,
                  edge=len(reference.edge_names), inputs_sha256=reference.meta["inputs_sha256"]),
        tolerances=_tolerance_table(), versions=versions(), warnings=warnings,
        artifacts=entries, results=results, skipped=skipped)
    report = Report(summary, reference, outputs)
    if options.report:
        from imdb_edge import report as report_lib

        for note in report_lib.write(report, options.report, plots=options.plots):
            log(note)
    return report


def _check_options(options: ParityOptions) -> None:
    if options.golden and (options.model or options.data):
        raise UsageError("--golden replays stored inputs and Keras outputs: --model and --data "
                         "do not apply (they were fixed when the golden file was made)")
    for name in ("limit", "jobs", "threads"):
        value = getattr(options, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise UsageError(f"--{name} must be a whole number >= 1, got {value!r}")
    if options.random_rows < 0:
        raise UsageError("--random-rows must be >= 0")
    if options.backends is not None:
        known = {b.name for b in BACKENDS}
        unknown = [b for b in options.backends if b not in known]
        if unknown:
            raise UsageError(f"unknown backend {', '.join(unknown)}; choose from "
                             f"{', '.join(sorted(known))}")
    if not options.golden:
        _check_model(options.model)
    if options.golden and not Path(options.golden).is_file():
        raise UsageError(f"golden file {options.golden} not found; make one on the host with "
                         "`imdb-edge parity --make-golden FILE`")


def _check_model(model: Optional[str]) -> None:
    """Refuse a missing reference model before TensorFlow is imported (seconds)."""
    from imdb_edge.export.pipeline import DEFAULT_MODEL

    path = Path(model) if model else DEFAULT_MODEL
    if not path.is_file():
        raise UsageError(f"model {path} not found; pass --model, or --golden to replay a "
                         "golden file without Keras")


def _describe(path: Path):
    """(artifact entry for the report, format); UsageError when the sidecar is unreadable."""
    entry = dict(artifact=path.name, path=str(path), sha256=_file_sha(path),
                 size_bytes=path.stat().st_size)
    try:
        side = load_sidecar(path)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    entry.update(format=side.format, quantization=side.quantization, batch=side.batch,
                 sidecar_sha256=_file_sha(Path(f"{path}.json")),
                 sidecar_artifact_sha256=side.sha256,
                 vocabulary_sha256=side.preprocessing.vocabulary_sha256,
                 source_model_sha256=(side.source_model or {}).get("sha256"),
                 export_parity={k: (side.parity or {}).get(k) for k in
                                ("max_abs", "agreement", "accuracy_delta_points", "reviews")}
                 if side.parity else None)
    return entry, side.format


def _run_all(runs, reference, jobs, threads, log):
    """Score every (artifact, backend); runs of RUN_ALONE backends after the others, one at
    a time. Results come back in the order of ``runs``."""
    results, outputs = [None] * len(runs), {}
    tags = {i: f"[{i + 1}/{len(runs)}]" for i in range(len(runs))}

    def one(i):
        path, backend = runs[i]
        results[i], probs = check(path, backend, reference, threads=threads, log=log, tag=tags[i])
        if probs is not None:
            outputs[(path.name, backend)] = probs

    # Longest first, so the workers finish together rather than one idling at the end.
    shared = sorted((i for i, (_, b) in enumerate(runs) if b not in RUN_ALONE),
                    key=lambda i: -_expected_cost(runs[i][0]))
    alone = [i for i, (_, b) in enumerate(runs) if b in RUN_ALONE]
    if jobs > 1 and len(shared) > 1:
        with concurrent.futures.ThreadPoolExecutor(jobs, thread_name_prefix="parity") as pool:
            for future in [pool.submit(one, i) for i in shared]:
                future.result()
    else:
        for i in shared:
            one(i)
    for i in alone:
        one(i)
    return results, outputs


def _expected_cost(path: Path) -> float:
    """Rough relative CPU time per row, measured on 2-core x86: int16x8 TFLite runs on
    reference kernels (~15x a float artifact), batch-1 TFLite costs ~2x batch-64."""
    try:
        side = load_sidecar(path)
    except ValueError:
        return 0.0
    return (15.0 if side.quantization == "int16x8" else 1.0) * (2.0 if side.batch == 1 else 1.0)


def check(path, backend: Optional[str], reference: Reference, *, threads: Optional[int] = None,
          log: Callable[[str], None] = _stderr, tag: str = "") -> tuple:
    """Score one artifact with one backend: (result dict, probabilities or None)."""
    path = Path(path)
    name = f"{tag} {path.name} / {backend or '-'}".strip()
    result = dict(artifact=path.name, backend=backend, status="ERROR", problems=[],
                  threads=threads)
    try:
        side = load_sidecar(path)
        result.update(format=side.format, quantization=side.quantization, batch=side.batch)
        result["tolerance"] = dataclasses.asdict(tolerance_for(side.quantization))
        problem = _preprocessing_mismatch(side, reference)
        if problem:
            raise ValueError(problem)
        loaded = time.perf_counter()
        model = load(path, backend=backend, threads=threads)
        result["load_seconds"] = round(time.perf_counter() - loaded, 3)
        started = time.perf_counter()
        probs = np.empty(len(reference.ids), np.float32)
        last = started
        for start in range(0, len(reference.ids), CHUNK):
            probs[start:start + CHUNK] = model.predict_ids(reference.ids[start:start + CHUNK])
            if time.perf_counter() - last > PROGRESS_EVERY_S:
                last = time.perf_counter()
                _progress(log, name, start + CHUNK, len(reference.ids), started)
        seconds = time.perf_counter() - started
    except Exception as exc:  # a broken artifact or backend is a result, not a crash
        result["problems"].append(f"{type(exc).__name__}: {_one_line(exc)}")
        log(f"{name}: ERROR {result['problems'][-1]}")
        return result, None
    result.update(seconds=round(seconds, 3), rows_per_s=round(len(probs) / max(seconds, 1e-9), 1))
    result["problems"].extend(_sanity(probs))
    finite = np.where(np.isfinite(probs), probs, 1.0 - reference.probs)  # NaN counts as wrong
    metrics = compare(reference.probs, finite, reference.labels if reference.reviews else None,
                      threshold=side.threshold)
    for key in ("flips_closest", "flips_farthest"):
        for flip in metrics[key]:
            flip["input"] = reference.row_name(flip["row"])
    result["metrics"] = metrics
    result["edge_cases"] = _edge_figures(reference, finite, side.threshold)
    result["problems"].extend(judge(side.quantization, metrics))
    result["status"] = "FAIL" if result["problems"] else "PASS"
    log(f"{name}: {result['status']} in {seconds:.1f}s ({result['rows_per_s']:.0f} rows/s), "
        f"max abs {metrics['max_abs']:.2e}, agreement {100 * metrics['agreement']:.2f}%"
        + (f"; {'; '.join(result['problems'])}" if result["problems"] else ""))
    return result, probs


def _sanity(probs: np.ndarray) -> list:
    problems = []
    bad = int((~np.isfinite(probs)).sum())
    if bad:
        problems.append(f"{bad} outputs are NaN or infinite")
    outside = int(((probs < -1e-6) | (probs > 1 + 1e-6)).sum())
    if outside:
        problems.append(f"{outside} probabilities are outside [0, 1]")
    return problems


def _edge_figures(reference: Reference, probs: np.ndarray, threshold: float) -> dict:
    n = reference.reviews
    if len(reference.ids) == n:
        return dict(rows=0)
    err = np.abs(probs[n:].astype(np.float64) - reference.probs[n:])
    worst = int(np.argmax(err))
    flipped = (probs[n:] >= threshold) != (reference.probs[n:] >= threshold)
    return dict(rows=int(err.size), max_abs=float(err.max()), worst=reference.edge_names[worst],
                flips=[reference.edge_names[i] for i in np.flatnonzero(flipped)])


def _preprocessing_mismatch(side, reference: Reference) -> Optional[str]:
    ours = reference.meta["preprocessing"]
    theirs = {f: getattr(side.preprocessing, f) for f in PREPROCESSING_FIELDS}
    diff = [f"{f} {theirs[f]!r} (reference {ours[f]!r})" for f in PREPROCESSING_FIELDS
            if theirs[f] != ours.get(f)]
    return f"the artifact's preprocessing differs: {', '.join(diff)}" if diff else None


def _warnings(reference: Reference, entries: list) -> list:
    out = []
    model_sha = reference.meta["model"]["sha256"]
    for entry in entries:
        source = entry.get("source_model_sha256")
        if source and source != model_sha:
            out.append(f"{entry['artifact']} was exported from model {source[:12]}..., the "
                       f"reference is {model_sha[:12]}... (a re-saved model changes the hash "
                       "too; the figures decide)")
    if reference.meta.get("tolerances", _tolerance_table()) != _tolerance_table():
        out.append("the golden file was made with another tolerance table; judged with this "
                   "version's table")
    if not reference.reviews:
        out.append("no test reviews: edge and random rows only, no accuracy figures")
    return out


def _reference_summary(reference: Reference) -> dict:
    meta = reference.meta
    out = dict(kind="golden" if "golden" in meta else "keras", model=meta["model"],
               data=meta["data"],
               keras_accuracy=_accuracy(reference.probs[:reference.reviews], reference.labels),
               threshold=meta.get("threshold"), keras_sha256=meta["keras_sha256"],
               seed=meta.get("seed"), random_rows=meta.get("random_rows"))
    if "golden" in meta:
        out.update(golden=meta["golden"], golden_created=meta.get("created"),
                   golden_tools=meta.get("tools"))
    else:
        out["keras_seconds"] = meta.get("keras_seconds")
    return out


# ----------------------------------------------------------------------------- helpers

def versions() -> dict:
    """imdb-edge, Python, platform, numpy and the installed packages that matter here,
    read from package metadata (nothing is imported)."""
    from importlib import metadata

    out = {"imdb-edge": __version__, "python": sys.version.split()[0],
           "platform": f"{platform.system()} {platform.machine()}", "numpy": np.__version__}
    for package in PACKAGES:
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return out


def _our_preprocessing() -> dict:
    return dict(max_len=text.MAX_LEN, vocab_size=text.VOCAB_SIZE, pad_id=text.PAD_ID,
                start_id=text.START_ID, oov_id=text.OOV_ID, index_from=text.INDEX_FROM,
                tokenizer_version=text.TOKENIZER_VERSION)


def _tolerance_table() -> dict:
    return {kind: dataclasses.asdict(tol) for kind, tol in TOLERANCES.items()}


def _accuracy(probs: np.ndarray, labels: np.ndarray) -> Optional[float]:
    if not labels.size:
        return None
    return float(np.mean((probs >= THRESHOLD) == labels.astype(bool)))


def _progress(log, name, done, total, started) -> None:
    """An intermediate progress line (the final line of each run says more)."""
    if done < total:
        rate = done / max(time.perf_counter() - started, 1e-9)
        log(f"{name}: {done}/{total} rows, {rate:.0f} rows/s")


def _array_sha(arr: np.ndarray) -> str:
    arr = np.ascontiguousarray(arr)
    return hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode() + arr.tobytes()).hexdigest()


def _file_sha(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _check_writable_folder(folder) -> None:
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with atomic_write(path / ".write-test"):
            pass
        (path / ".write-test").unlink()
    except OSError as exc:
        raise UsageError(f"report folder {path} is not writable ({exc.strerror or exc})") from None


def _check_writable_file(file) -> None:
    path = Path(file)
    if path.is_dir():
        raise UsageError(f"{path} is a folder; name the golden file to write, e.g. golden.npz")
    if not path.parent.is_dir():
        raise UsageError(f"folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise UsageError(f"folder {path.parent} is not writable")


def _one_line(exc: BaseException, limit: int = 300) -> str:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    return msg if len(msg) <= limit else msg[:limit] + "..."
