"""One artifact on one backend, scored on the reference rows and judged by the one
tolerance table; and every (artifact, backend) run of a parity check, scheduled."""
from __future__ import annotations

import concurrent.futures
import dataclasses
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from imdb_edge.helpers import one_line
from imdb_edge.metrics import compare
from imdb_edge.parity.golden import Reference, progress, stderr
from imdb_edge.runtime import load
from imdb_edge.runtime.sidecar import load_sidecar
from imdb_edge.tolerances import judge, tolerance_for

CHUNK = 2048              # rows per predict_ids call: the unit of progress reporting
PROGRESS_EVERY_S = 15.0   # a progress line at most this often per artifact x backend
# Backends whose own threads (numpy's BLAS) cannot be limited from here: they run alone,
# after the others, since BLAS threads competing for cores slow them many times over.
RUN_ALONE = ("numpy",)
PREPROCESSING_FIELDS = ("max_len", "vocab_size", "pad_id", "start_id", "oov_id", "index_from",
                        "tokenizer_version")
# Rough relative CPU time per row, so the longest runs start first: int16x8 TFLite runs on
# slow reference kernels, and batch-1 TFLite costs more per row than larger batches (the
# measurements: benchmarks/README.md, "Parity throughput").
QUANTIZATION_COST = {"int16x8": 15.0}
BATCH1_COST = 2.0


def run_all(runs, reference, jobs, threads, log):
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
    """Relative CPU time per row of an artifact (QUANTIZATION_COST, BATCH1_COST)."""
    try:
        side = load_sidecar(path)
    except ValueError:
        return 0.0
    return QUANTIZATION_COST.get(side.quantization, 1.0) * \
        (BATCH1_COST if side.batch == 1 else 1.0)


def check(path, backend: Optional[str], reference: Reference, *, threads: Optional[int] = None,
          log: Callable[[str], None] = stderr, tag: str = "") -> tuple:
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
        probs, seconds = _predict_all(model, reference, name, log)
    except Exception as exc:  # a broken artifact or backend is a result, not a crash
        result["problems"].append(f"{type(exc).__name__}: {one_line(exc)}")
        log(f"{name}: ERROR {result['problems'][-1]}")
        return result, None
    result.update(seconds=round(seconds, 3), rows_per_s=round(len(probs) / max(seconds, 1e-9), 1))
    _judge(result, probs, side, reference)
    metrics = result["metrics"]
    log(f"{name}: {result['status']} in {seconds:.1f}s ({result['rows_per_s']:.0f} rows/s), "
        f"max abs {metrics['max_abs']:.2e}, agreement {100 * metrics['agreement']:.2f}%"
        + (f"; {'; '.join(result['problems'])}" if result["problems"] else ""))
    return result, probs


def _predict_all(model, reference: Reference, name: str, log) -> tuple:
    """(probabilities of every reference row, seconds), CHUNK rows per call, with a
    progress line at most every PROGRESS_EVERY_S."""
    started = time.perf_counter()
    probs = np.empty(len(reference.ids), np.float32)
    last = started
    for start in range(0, len(reference.ids), CHUNK):
        probs[start:start + CHUNK] = model.predict_ids(reference.ids[start:start + CHUNK])
        if time.perf_counter() - last > PROGRESS_EVERY_S:
            last = time.perf_counter()
            progress(log, name, start + CHUNK, len(reference.ids), started)
    return probs, time.perf_counter() - started


def _judge(result: dict, probs: np.ndarray, side, reference: Reference) -> None:
    """Add the metrics, edge-row figures, problems and status of ``probs`` to ``result``."""
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
