"""What a bench run measures: the rows (artifact x backend x threads, in the interpreters
that have each backend), the review ids they score, and the machine they run on."""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Optional

from imdb_edge.artifacts import find_artifacts
from imdb_edge.bench.children import TIMEOUT_S, tail
from imdb_edge.errors import ImdbEdgeError, UsageError



@dataclasses.dataclass
class BenchOptions:
    paths: tuple                          # artifacts, or folders of artifacts with sidecars
    keras: Optional[str] = None           # the .keras model to compare with (None: no Keras rows)
    reviews: int = 1000                   # batch-1 calls per row, and rows for the batch figure
    batch: int = 64                       # rows per call for the throughput figure
    backends: Optional[tuple] = None      # None: every installed device backend per format
    threads: tuple = (None,)              # interpreter threads; None = the backend's default
    pythons: tuple = ()                   # more interpreters (venvs) to find backends in
    cold_runs: int = 3                    # cold starts per row (median reported)
    data: Optional[str] = None            # IMDB source of test reviews (None: $IMDB_EDGE_DATA,
                                          # else the reviews packaged with imdb-edge)
    random_inputs: bool = False           # seeded random rows even when a dataset is found
    seed: int = 0                         # for the random rows


_PROBE = """
import importlib.util, json, sys
from imdb_edge.helpers import installed_versions
from imdb_edge.runtime import available_backends
versions = installed_versions(("numpy", "ai-edge-litert", "tflite-runtime", "onnxruntime",
                               "tensorflow", "tensorflow-cpu", "keras"))
print(json.dumps({"python": sys.executable, "version": sys.version.split()[0],
                  "backends": available_backends(), "packages": versions,
                  "has_keras": all(importlib.util.find_spec(m) is not None
                                   for m in ("keras", "tensorflow"))}))
"""


def probe_interpreter(python: str) -> dict:
    """Which backends (and whether Keras) an interpreter has, without importing any."""
    import subprocess

    done = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    if done.returncode != 0:
        raise UsageError(f"{python} cannot run imdb_edge (is the project installed there?): "
                         f"{tail(done.stderr)}")
    return json.loads(done.stdout)


def plan_rows(options: BenchOptions, interpreters: list) -> list:
    """One row per artifact x backend x thread count; each backend runs in the first
    interpreter that has it."""
    from imdb_edge.runtime.backends import BACKENDS, NAMES, TENSORFLOW_BACKENDS
    from imdb_edge.runtime.sidecar import load_sidecar

    where = {}
    for interp in interpreters:
        for name in interp["backends"]:
            where.setdefault(name, interp["python"])
    if options.backends:
        for name in options.backends:
            if name not in NAMES:
                raise UsageError(f"unknown backend {name!r}; choose from {', '.join(NAMES)}")
            if name not in where:
                raise UsageError(f"backend {name} is installed in none of "
                                 f"{', '.join(i['python'] for i in interpreters)}; add an "
                                 "interpreter that has it with --python")
    rows = []
    for path in find_artifacts(options.paths):
        side = load_sidecar(path)
        names = [b.name for b in BACKENDS if b.format == side.format and b.name in where and
                 (b.name in options.backends if options.backends
                  else b.name not in TENSORFLOW_BACKENDS)]
        for backend in names:
            # numpy's BLAS takes its thread count from the environment: one row only.
            for threads in (options.threads if backend != "numpy" else (None,)):
                rows.append(dict(kind="runtime", artifact=path.name, path=str(path),
                                 format=side.format, quantization=side.quantization,
                                 model=side.model,
                                 batch_size=side.batch, backend=backend,
                                 threads="default" if threads is None else threads,
                                 python=where[backend], size_bytes=path.stat().st_size))
    if not rows:
        raise UsageError("no artifact has an installed backend to run it"
                         + (f" among {', '.join(options.backends)}" if options.backends else ""))
    return rows


def model_spec(rows: list):
    """The model size every artifact row shares, from the sidecars' model block (the
    reference for sidecars without one). One run scores one set of reviews, so artifacts of
    different sizes are refused."""
    from imdb_edge.spec import REFERENCE, ModelSpec

    specs = {json.dumps(row["model"], sort_keys=True) for row in rows
             if row["kind"] == "runtime" and row.get("model")}
    if len(specs) > 1:
        raise UsageError(f"the artifacts are of {len(specs)} different model sizes "
                         f"({'; '.join(sorted(specs))}); bench each size in its own run")
    return ModelSpec.from_dict(json.loads(specs.pop())) if specs else REFERENCE


def keras_rows(model: str, python: str) -> list:
    base = dict(kind="keras", artifact=Path(model).name, path=str(model), format="keras",
                quantization="float32", batch_size=None, threads="default", python=python,
                size_bytes=Path(model).stat().st_size)
    return [dict(base, backend="keras tf.function", mode="function"),
            dict(base, backend="keras predict", mode="predict")]


def review_ids(options: BenchOptions, log, spec=None):
    """(ids int32 (reviews, spec.length), description) for ``spec``'s sizes (the reference
    model's by default): the test reviews of ``data`` (or
    ``$IMDB_EDGE_DATA``), else those packaged with imdb-edge, else (or with
    ``random_inputs``) seeded random rows shaped like reviews (START, words, padding)."""
    import numpy as np

    from imdb_edge import resources
    from imdb_edge.runtime import text
    from imdb_edge.spec import REFERENCE

    spec = spec or REFERENCE

    source = options.data or os.environ.get("IMDB_EDGE_DATA") or None
    if not options.random_inputs:
        try:
            from imdb_edge.export.rows import load_rows

            # The model's own rows: encoded at its sizes, or the packaged ones where exact.
            loaded = load_rows(source, spec, text.NOTEBOOK, calibration=0,
                               validate=options.reviews)
            x_test, where = loaded.reviews, loaded.source
            if not len(x_test):
                raise UsageError("it holds no test reviews")
            reps = -(-options.reviews // len(x_test))
            ids = np.tile(x_test, (reps, 1))[:options.reviews].astype(np.int32)
            return ids, f"the first {options.reviews} test reviews of {where}" + (
                " (repeated)" if reps > 1 else "")
        except (ImdbEdgeError, OSError, ValueError) as exc:  # a bug is not "no data"
            if options.data:
                raise
            log(f"could not read {source or resources.rows()} ({exc}); using random rows")
    rng = np.random.default_rng(options.seed)
    lengths = rng.integers(10, spec.length * 3 // 2, options.reviews)
    rows = [[text.START_ID, *rng.integers(text.INDEX_FROM, spec.vocab_size, n - 1)]
            for n in lengths]
    why = "as asked" if options.random_inputs else "no dataset could be read"
    return text.pad(rows, spec.length, spec.vocab_size), f"{options.reviews} random rows (seed {options.seed}; {why})"


def machine_description() -> dict:
    import platform

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        cpu = platform.processor() or "unknown"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {"cpu_model": cpu, "logical_cores": os.cpu_count(), "usable_cores": usable,
            "load_average_start": list(os.getloadavg()), "platform": platform.platform(),
            "python": sys.version.split()[0],
            "note": "figures of this machine only; ratios to Keras measured in the same run"}
