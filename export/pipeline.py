"""`imdb-edge export`: plan -> convert -> inspect -> gate -> stage -> validate -> publish.

The model and the rows are read and checked before the output folder is touched; then each
planned artifact goes through the stages on its own, so one that fails is reported and the
others are still built. Nothing reaches the output folder before it passed every check
(export/publish.py).
"""
from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from imdb_edge.export import compat, intake
from imdb_edge.export.formats import exporter
from imdb_edge.export.gate import gate, inspect
from imdb_edge.export.manifest import write_manifest
from imdb_edge.export.metadata import build_sidecar, write_vocabulary
from imdb_edge.export.plan import ExportOptions, Job, plan
from imdb_edge.export.publish import (Reference, prepare_out, publish, stage, staging_folder,
                                      validate)
from imdb_edge.export.rows import load_rows
from imdb_edge.helpers import one_line
from imdb_edge.metrics import edge_cases

__all__ = ["ExportOptions", "Outcome", "export", "plan"]


@dataclasses.dataclass
class Outcome:
    artifact: str
    format: str
    quantization: str
    batch: Optional[int]
    status: str                        # "PASS", "FAIL", "UNVALIDATED", "ERROR"
    size_bytes: int = 0
    ops: str = ""
    runtimes: dict = dataclasses.field(default_factory=dict)
    parity: Optional[dict] = None
    problems: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class _Session:
    """What every artifact of one export shares."""
    options: ExportOptions
    model: intake.LoadedModel
    out: Path
    vocabulary: object                 # metadata.Vocabulary written into ``out``
    reference: Optional[Reference]     # None under --no-validate


def export(options: ExportOptions, log: Callable[[str], None] = print) -> list:
    """Build, check and publish every planned artifact. Returns one Outcome per artifact."""
    jobs = plan(options)
    model = intake.load(options.model)  # the architecture is checked first: one message, once
    spec = model.spec
    log(f"model: {model.source['file']} ({model.source['kind']}, Keras "
        f"{model.source['keras_version']}): length {spec.length}, vocabulary "
        f"{spec.vocab_size}, embedding {spec.embed_dim}, {spec.gate} gates")
    calibration, reference = _rows(options, jobs, model, log)
    out = Path(options.out)
    prepare_out(out)
    session = _Session(options, model, out, write_vocabulary(out, options.data), reference)
    outcomes = []
    for number, job in enumerate(jobs, start=1):
        log(f"[{number}/{len(jobs)}] {job.artifact}: converting")
        started = time.time()
        outcome = Outcome(job.artifact, job.format, job.mode, job.batch, "ERROR")
        outcomes.append(outcome)
        try:
            data = exporter(job.format).convert(model, job, calibration)
        except Exception as exc:  # a converter failure is reported per artifact, not fatal
            outcome.problems.append(f"conversion failed: {one_line(exc)}")
            log(f"  FAILED to convert: {outcome.problems[-1]}")
            continue
        _check_and_publish(job, data, outcome, session)
        log(f"  {outcome.status} in {time.time() - started:.1f}s"
            + (f": {'; '.join(outcome.problems)}" if outcome.problems else ""))
    write_manifest(out)
    return outcomes


def _rows(options: ExportOptions, jobs: list, model, log) -> tuple:
    """(calibration rows or None, the Keras Reference or None): rows that cannot be exact
    for this model are refused here, before the output folder is touched."""
    if options.validate <= 0 and not any(job.calibrated for job in jobs):
        return None, None
    found = load_rows(options.data, model.spec, options.convention,
                      calibration=options.calibration, validate=options.validate)
    log(f"rows: {found.source}")
    if options.validate <= 0:
        return found.calibration, None
    edges, _ = edge_cases(spec=model.spec)
    rows = np.concatenate([found.reviews, edges]).astype(np.int32)
    log(f"keras reference: {len(found.reviews)} test reviews + {len(edges)} edge cases")
    return found.calibration, Reference(rows, model.predict(rows), found.labels)


def _check_and_publish(job: Job, data: bytes, outcome: Outcome, session: _Session) -> None:
    """inspect -> gate -> stage -> validate -> publish; sets the outcome's status."""
    options, out, reference = session.options, session.out, session.reference
    outcome.size_bytes = len(data)
    inspection = inspect(job.format, data)
    outcome.runtimes, outcome.ops = inspection.runtimes, inspection.summary()
    try:
        outcome.problems.extend(gate(job.format, inspection, options.targets,
                                     options.on_mismatch))
    except compat.IncompatibleArtifact as exc:
        outcome.status = "FAIL"
        outcome.problems.append(str(exc))
        return
    sidecar = build_sidecar(job, data, inspection, session.vocabulary, session.model,
                            options.convention)
    mismatch = exporter(job.format).sidecar_problem(data, sidecar)
    if mismatch:
        outcome.status = "FAIL"
        outcome.problems.append(f"artifact disagrees with its sidecar: {mismatch}")
        return
    staging = staging_folder(out)
    try:
        staged = stage(staging, data, sidecar, out)
        if reference is not None:
            outcome.parity, broken = validate(staged, job.mode, reference)
            outcome.problems.extend(broken)
            outcome.status = "FAIL" if broken else "PASS"
        else:
            outcome.status = "UNVALIDATED"
        if outcome.status != "FAIL":
            publish(staged, sidecar, outcome.parity, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
