"""`bench()`: plan the rows, measure them side by side, return the report."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Callable

from imdb_edge.bench.measure import (BLOCK, PADDED_SINGLE_CALLS, measure_baselines,
                                     measure_cold_starts, measure_warm)
from imdb_edge.bench.plan import (BenchOptions, keras_rows, machine_description, model_spec,
                                  plan_rows, probe_interpreter, review_ids)
from imdb_edge.bench.report import finish_rows
from imdb_edge.bench.worker import WARMUP
from imdb_edge.errors import UsageError


def bench(options: BenchOptions, log: Callable[[str], None] = None) -> dict:
    """Measure everything and return the report (see ``to_markdown`` for its table)."""
    import tempfile

    import numpy as np

    log = log or _stderr
    _check_options(options)
    started = time.time()
    machine = machine_description()
    log(f"machine: {machine['cpu_model']}, {machine['logical_cores']} logical cores, load "
        f"average {' / '.join(f'{v:.2f}' for v in machine['load_average_start'])}")

    interpreters = [probe_interpreter(p) for p in (sys.executable, *options.pythons)]
    rows = plan_rows(options, interpreters)
    keras_python = next((i["python"] for i in interpreters if i["has_keras"]), None)
    if options.keras:
        if not Path(options.keras).is_file():
            raise UsageError(f"Keras model {options.keras} not found")
        if keras_python is None:
            raise UsageError("--keras needs keras and TensorFlow in one of the interpreters "
                             f"({', '.join(i['python'] for i in interpreters)})")
        rows = keras_rows(options.keras, keras_python) + rows
    log(f"{len(rows)} rows: " + ", ".join(f"{r['artifact']}/{r['backend']}" for r in rows))

    ids, inputs = review_ids(options, log, model_spec(rows))
    log(f"inputs: {inputs}")
    with tempfile.TemporaryDirectory(prefix="imdb-edge-bench-") as tmp:
        ids_path = Path(tmp) / "ids.npy"
        np.save(ids_path, ids)
        baselines = measure_baselines(sys.executable, options.cold_runs, log)
        measure_cold_starts(rows, options.cold_runs, log)
        measure_warm(rows, options, ids_path, log)

    machine["load_average_end"] = list(os.getloadavg())
    finish_rows(rows)
    report = {
        "tool": "imdb-edge bench",
        "report_version": 1,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_s": round(time.time() - started, 1),
        "machine": machine,
        "settings": {"reviews": options.reviews, "batch": options.batch,
                     "cold_runs": options.cold_runs, "block": BLOCK, "warmup_calls": WARMUP,
                     "padded_single_calls": PADDED_SINGLE_CALLS,
                     "inputs": inputs, "keras": options.keras},
        "baselines": baselines,
        "interpreters": interpreters,
        "rows": rows,
    }
    return report


def _check_options(options: BenchOptions) -> None:
    if not options.paths:
        raise UsageError("give at least one artifact or folder of artifacts")
    for name in ("reviews", "batch", "cold_runs"):
        value = getattr(options, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"{name} must be a whole number >= 1, got {value!r}")
    for threads in options.threads:
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise UsageError(f"threads must be whole numbers >= 1, got {threads!r}")


def _stderr(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)
