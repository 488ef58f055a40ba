"""Scoring: every artifact on every selected backend against the reference, judged by
the one tolerance table, collected into a Report. One run is scored in
imdb_edge/parity/score.py."""
from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Callable, Optional

from imdb_edge.artifacts import find_artifacts
from imdb_edge.errors import UsageError
from imdb_edge.helpers import file_sha256, writable_folder_problem
from imdb_edge.parity.golden import (RANDOM_ROWS, SEED, Reference, accuracy, check_model,
                                    keras_reference, load_golden, now, stderr, tolerance_table,
                                    versions)
from imdb_edge.parity.score import check, run_all
from imdb_edge.runtime.backends import (BACKENDS, TENSORFLOW_BACKENDS, available_backends,
                                        install_hint)
from imdb_edge.runtime.backends._common import MAX_THREADS
from imdb_edge.runtime.sidecar import load_sidecar
from imdb_edge.signing import verified_copies

__all__ = ["ParityOptions", "Report", "check", "run"]  # check: imdb_edge.parity re-exports it

REPORT_SCHEMA = 1
# Backends that import TensorFlow: never used when replaying a golden file.


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
    verify_key: Optional[str] = None  # public key: refuse artifacts it did not sign ([sign])


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
            skipped.append((info.name, f"not installed ({install_hint(info)})"))
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
    given = find_artifacts(options.artifacts, read_files=options.verify_key is None)
    # With a key each artifact is verified before any of its files is parsed, and the
    # verified copies are what is described and scored.
    with verified_copies(given, options.verify_key) as artifacts:
        return _run(options, dict(zip(artifacts, given)), log)


def _run(options: ParityOptions, originals: dict, log) -> Report:
    """run() on the artifacts to score (``originals`` maps each to the user's path)."""
    started = time.perf_counter()
    artifacts = list(originals)
    entries, runs, skipped = _plan(artifacts, options)
    for entry, path in zip(entries, artifacts):
        entry["path"] = str(originals[path])
        if options.verify_key:
            entry["signature"] = f"verified with {options.verify_key}"
    if options.report:
        _check_writable_folder(options.report)
    reference = _reference(options, log)
    jobs = options.jobs or max(1, min(os.cpu_count() or 1, 4))
    threads = options.threads or (1 if jobs > 1 else None)
    log(f"parity: {len(artifacts)} artifacts, {len(runs)} artifact x backend runs on "
        f"{len(reference.ids)} rows, {jobs} at a time")
    results, outputs = run_all(runs, reference, jobs, threads, log)
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


def _plan(artifacts: list, options: ParityOptions) -> tuple:
    """(report entry per artifact, [(artifact, backend)] to run, skipped runs); UsageError
    when an artifact has no backend here or the selected backends run none of them."""
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
    return entries, runs, skipped


def _reference(options: ParityOptions, log) -> Reference:
    """The golden file's rows and Keras outputs, or Keras run now."""
    if options.golden:
        reference = load_golden(options.golden, options.limit)
        log(f"golden {options.golden}: {reference.reviews} reviews + "
            f"{len(reference.edge_names)} edge rows")
        return reference
    return keras_reference(options.model, options.data, options.limit,
                           options.random_rows, options.seed, log)


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
    entry = dict(artifact=path.name, path=str(path), sha256=file_sha256(path),
                 size_bytes=path.stat().st_size)
    try:
        side = load_sidecar(path)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    entry.update(format=side.format, quantization=side.quantization, batch=side.batch,
                 sidecar_sha256=file_sha256(Path(f"{path}.json")),
                 sidecar_artifact_sha256=side.sha256,
                 vocabulary_sha256=side.preprocessing.vocabulary_sha256,
                 source_model_sha256=(side.source_model or {}).get("sha256"),
                 export_parity={k: (side.parity or {}).get(k) for k in
                                ("max_abs", "agreement", "accuracy_delta_points", "reviews")}
                 if side.parity else None)
    return entry, side.format


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
    problem = writable_folder_problem(path.parent)
    if problem:
        raise UsageError(f"report folder {path} is not writable ({problem})")
