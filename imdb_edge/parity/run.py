"""Scoring: every artifact on every selected backend against the reference, judged by
the one tolerance table, collected into a Report."""
from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from imdb_edge.artifacts import find_artifacts
from imdb_edge.atomic import atomic_write
from imdb_edge.errors import UsageError
from imdb_edge.metrics import compare
from imdb_edge.parity.golden import (RANDOM_ROWS, SEED, Reference, accuracy, check_model, file_sha,
                                    keras_reference, load_golden, now, one_line, progress, stderr,
                                    tolerance_table, versions)
from imdb_edge.runtime import load
from imdb_edge.runtime.backends import BACKENDS, available_backends
from imdb_edge.runtime.backends._common import MAX_THREADS
from imdb_edge.runtime.sidecar import load_sidecar
from imdb_edge.tolerances import judge, tolerance_for

REPORT_SCHEMA = 1
CHUNK = 2048              # rows per predict_ids call: the unit of progress reporting
PROGRESS_EVERY_S = 15.0   # a progress line at most this often per artifact x backend
# Backends that import TensorFlow: never used when replaying a golden file.
TENSORFLOW_BACKENDS = ("tensorflow_lite",)
# Backends whose own threads (numpy's BLAS) cannot be limited from here: they run alone,
# after the others, since BLAS threads competing for cores slow them many times over.
RUN_ALONE = ("numpy",)
PREPROCESSING_FIELDS = ("max_len", "vocab_size", "pad_id", "start_id", "oov_id", "index_from",
                        "tokenizer_version")


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


def run(options: ParityOptions, log: Callable[[str], None] = stderr) -> Report:
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
        schema_version=REPORT_SCHEMA, created=now(),
        status="PASS" if passed == len(results) else "FAIL",
        passed=passed, failed=len(results) - passed,
        seconds=round(time.perf_counter() - started, 2), jobs=jobs, threads=threads,
        reference=_reference_summary(reference),
        rows=dict(total=int(len(reference.ids)), reviews=reference.reviews,
                  edge=len(reference.edge_names), inputs_sha256=reference.meta["inputs_sha256"]),
        tolerances=tolerance_table(), versions=versions(), warnings=warnings,
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
    if options.threads is not None and options.threads > MAX_THREADS:
        raise UsageError(f"--threads must be at most {MAX_THREADS}, got {options.threads}")
    if options.random_rows < 0:
        raise UsageError("--random-rows must be >= 0")
    if options.backends is not None:
        known = {b.name for b in BACKENDS}
        unknown = [b for b in options.backends if b not in known]
        if unknown:
            raise UsageError(f"unknown backend {', '.join(unknown)}; choose from "
                             f"{', '.join(sorted(known))}")
    if not options.golden:
        check_model(options.model)
    if options.golden and not Path(options.golden).is_file():
        raise UsageError(f"golden file {options.golden} not found; make one on the host with "
                         "`imdb-edge parity --make-golden FILE`")


def _describe(path: Path):
    """(artifact entry for the report, format); UsageError when the sidecar is unreadable."""
    entry = dict(artifact=path.name, path=str(path), sha256=file_sha(path),
                 size_bytes=path.stat().st_size)
    try:
        side = load_sidecar(path)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    entry.update(format=side.format, quantization=side.quantization, batch=side.batch,
                 sidecar_sha256=file_sha(Path(f"{path}.json")),
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
    """Rough relative CPU time per row, so the longest runs start first: int16x8 TFLite
    runs on slow reference kernels, and batch-1 TFLite costs more per row than batch-64
    (the weights below: benchmarks/README.md, "Parity throughput")."""
    try:
        side = load_sidecar(path)
    except ValueError:
        return 0.0
    return (15.0 if side.quantization == "int16x8" else 1.0) * (2.0 if side.batch == 1 else 1.0)


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
        started = time.perf_counter()
        probs = np.empty(len(reference.ids), np.float32)
        last = started
        for start in range(0, len(reference.ids), CHUNK):
            probs[start:start + CHUNK] = model.predict_ids(reference.ids[start:start + CHUNK])
            if time.perf_counter() - last > PROGRESS_EVERY_S:
                last = time.perf_counter()
                progress(log, name, start + CHUNK, len(reference.ids), started)
        seconds = time.perf_counter() - started
    except Exception as exc:  # a broken artifact or backend is a result, not a crash
        result["problems"].append(f"{type(exc).__name__}: {one_line(exc)}")
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
    if reference.meta.get("tolerances", tolerance_table()) != tolerance_table():
        out.append("the golden file was made with another tolerance table; judged with this "
                   "version's table")
    if not reference.reviews:
        out.append("no test reviews: edge and random rows only, no accuracy figures")
    return out


def _reference_summary(reference: Reference) -> dict:
    meta = reference.meta
    out = dict(kind="golden" if "golden" in meta else "keras", model=meta["model"],
               data=meta["data"],
               keras_accuracy=accuracy(reference.probs[:reference.reviews], reference.labels),
               threshold=meta.get("threshold"), keras_sha256=meta["keras_sha256"],
               seed=meta.get("seed"), random_rows=meta.get("random_rows"))
    if "golden" in meta:
        out.update(golden=meta["golden"], golden_created=meta.get("created"),
                   golden_tools=meta.get("tools"))
    else:
        out["keras_seconds"] = meta.get("keras_seconds")
    return out


def _check_writable_folder(folder) -> None:
    """The report is built beside its folder and renamed into place: the parent must be
    writable, and the folder, if it exists, must hold a report only (it is replaced)."""
    from imdb_edge.report import check_report_folder

    path = Path(folder)
    check_report_folder(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path.parent / f".{path.name}.write-test"):
            pass
        (path.parent / f".{path.name}.write-test").unlink()
    except OSError as exc:
        raise UsageError(f"report folder {path} is not writable ({exc.strerror or exc})") from None
