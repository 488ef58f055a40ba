"""The figures: cold starts (fresh processes, taking turns) and warm latency and
throughput (long-lived workers, taking turns in rounds)."""
from __future__ import annotations

from pathlib import Path

from imdb_edge.bench.children import ChildError, Worker, child_env, first_line
from imdb_edge.bench.plan import BenchOptions

# Batch-1 calls per worker per turn: small enough that every row sees the same stretch of
# machine load, large enough that switching workers costs nothing measurable.
BLOCK = 50
# An artifact fixed to a batch > 1 runs each single review as a whole padded batch: its
# batch-1 figure is that of a full batch, so fewer calls tell it (and keep a run short).
PADDED_SINGLE_CALLS = 100
SAMPLE_REVIEW = ("One of the best films I have seen this year: the acting is superb, the "
                 "story moves quickly and the ending stayed with me for days.")


def measure_baselines(python: str, runs: int, log) -> dict:
    """The floor under every cold start: a bare interpreter, and one importing numpy."""
    out = {}
    for key, code in (("python", "print(0)"), ("python_numpy", "import numpy; print(0)")):
        runs_ = [first_line([python, "-c", code]) for _ in range(runs)]
        out[f"{key}_s"] = _median([t for t, _ in runs_])
        out[f"{key}_rss_mb"] = max(rss for _, rss in runs_) / 1024
    log(f"baselines: python starts in {out['python_s']:.3f} s ({out['python_rss_mb']:.1f} MB), "
        f"with numpy {out['python_numpy_s']:.3f} s ({out['python_numpy_rss_mb']:.1f} MB)")
    return out


_KERAS_COLD = """
import os, sys
import numpy as np
import keras
model = keras.models.load_model(sys.argv[1], compile=False, safe_mode=True)
length = model.inputs[0].shape[1]  # the model's own sequence length
ids = np.zeros((1, length), np.int32); ids[0, :3] = (1, 14, 22)
print(float(model.predict(ids, verbose=0)[0, 0]), flush=True)
"""


def cold_command(row: dict) -> list:
    if row["kind"] == "keras":
        return [row["python"], "-c", _KERAS_COLD, row["path"]]
    script = Path(row["python"]).with_name("imdb-edge")
    cli = [str(script)] if script.is_file() else [row["python"], "-m", "imdb_edge.cli"]
    cmd = cli + ["score", row["path"], "--backend", row["backend"], "--text", SAMPLE_REVIEW]
    if row["threads"] != "default":
        cmd += ["--threads", str(row["threads"])]
    return cmd


def measure_cold_starts(rows: list, runs: int, log) -> None:
    """``runs`` fresh processes per row, rows taking turns. Keras rows share one figure."""
    cold = {}
    for row in rows:  # the two Keras rows share one process kind, so one set of figures
        cold.setdefault(_cold_key(row), {"row": row, "runs": [], "rss_kb": [], "error": None})
    for run in range(runs):
        for entry in cold.values():
            row = entry["row"]
            if entry["error"]:
                continue
            try:
                seconds, rss_kb = first_line(cold_command(row), child_env(row))
            except ChildError as exc:
                entry["error"] = str(exc)
                log(f"cold start {row['artifact']}/{row['backend']}: FAILED {exc}")
                continue
            entry["runs"].append(round(seconds, 4))
            entry["rss_kb"].append(rss_kb)
            log(f"cold start {run + 1}/{runs} {row['artifact']}/{row['backend']}: "
                f"{seconds:.3f} s, {rss_kb / 1024:.0f} MB")
    for row in rows:
        entry = cold[_cold_key(row)]
        row["cold_start_runs_s"] = entry["runs"]
        row["cold_start_s"] = _median(entry["runs"]) if entry["runs"] else None
        row["cold_rss_mb"] = max(entry["rss_kb"]) / 1024 if entry["rss_kb"] else None
        if entry["error"]:
            row.setdefault("errors", []).append(f"cold start: {entry['error']}")


def _cold_key(row: dict):
    return (row["kind"], row["path"], row["backend"] if row["kind"] == "runtime" else "",
            row["threads"])


def measure_warm(rows: list, options: BenchOptions, ids_path: Path, log) -> None:
    """Start a worker per row (one Keras worker serves both Keras rows), then interleave
    their batch-1 and batch-``batch`` calls in rounds."""
    workers = _start_workers(rows, options, ids_path, log)
    singles, batches = _take_turns(rows, workers, options, log)
    closed = {}
    for key, worker in workers.items():
        if worker is not None:
            closed[key] = worker.close()
    for row in rows:
        key = _worker_key(row)
        worker_ready = workers.get(key)
        if key in closed:
            row["worker_rss_mb"] = closed[key]
        _summarise(row, singles[id(row)], batches[id(row)], options.batch)
        if worker_ready is not None:
            ready = worker_ready.ready
            row["import_s"] = ready["import_s"]
            row["load_ms"] = ready["load_s"] * 1e3
            # Seconds from spawning the worker: the cold start seen from inside a process.
            row["worker_first_score_s"] = ready["first_score_at"] - worker_ready.spawned


def _start_workers(rows: list, options: BenchOptions, ids_path: Path, log) -> dict:
    """One worker per distinct _worker_key; None for a worker that failed to start."""
    workers = {}
    for row in rows:
        key = _worker_key(row)
        if key in workers:
            continue
        log(f"starting worker {row['artifact']}/{row['backend']} (threads {row['threads']})")
        try:
            workers[key] = Worker(row, ids_path, options.batch)
        except ChildError as exc:
            workers[key] = None
            row.setdefault("errors", []).append(f"worker: {exc}")
            log(f"  FAILED: {exc}")
            continue
        ready = workers[key].ready
        log(f"  imported in {ready['import_s']:.3f} s, loaded in {ready['load_s'] * 1e3:.1f} ms")
    return workers


def _take_turns(rows: list, workers: dict, options: BenchOptions, log) -> tuple:
    """Rounds of BLOCK batch-1 calls per row plus a share of the batch calls, the first
    row rotating; returns the nanosecond timings ({id(row): [ns]} for singles, batches)."""
    singles = {id(r): [] for r in rows}
    batches = {id(r): [] for r in rows}
    rounds = -(-options.reviews // BLOCK)
    n_batches = max(1, -(-options.reviews // options.batch))
    batch_round = [k * rounds // n_batches for k in range(n_batches)]
    active = [r for r in rows if workers.get(_worker_key(r))]
    for rnd in range(rounds):
        start = rnd * BLOCK
        count = min(BLOCK, options.reviews - start)
        mine = [k for k, r in enumerate(batch_round) if r == rnd]
        shift = rnd % max(1, len(active))  # rotate who goes first
        for row in active[shift:] + active[:shift]:
            worker = workers.get(_worker_key(row))
            if worker is None:
                continue
            mode = row.get("mode")
            todo = min(count, single_calls(row, options.reviews) - start)
            try:
                if todo > 0:
                    singles[id(row)] += worker.ask(op="single", start=start, count=todo,
                                                   mode=mode)["ns"]
                for k in mine:
                    batches[id(row)] += worker.ask(op="batch", start=k * options.batch,
                                                   mode=mode)["ns"]
            except ChildError as exc:
                row.setdefault("errors", []).append(f"worker: {exc}")
                log(f"{row['artifact']}/{row['backend']}: FAILED {exc}")
                workers[_worker_key(row)] = None
        if rnd % 5 == 4 or rnd == rounds - 1:
            log(f"round {rnd + 1}/{rounds} done ({start + count} reviews per row)")
    return singles, batches


def single_calls(row: dict, reviews: int) -> int:
    padded = row["batch_size"] is not None and row["batch_size"] > 1
    return min(reviews, PADDED_SINGLE_CALLS) if padded else reviews


def _worker_key(row: dict):
    return ("keras", row["path"]) if row["kind"] == "keras" else \
        (row["path"], row["backend"], row["threads"])


def _summarise(row: dict, singles: list, batches: list, batch: int) -> None:
    import numpy as np

    if singles:
        ms = np.asarray(singles, np.float64) / 1e6
        row.update(b1_calls=len(ms), b1_p50_ms=float(np.percentile(ms, 50)),
                   b1_p90_ms=float(np.percentile(ms, 90)),
                   b1_p99_ms=float(np.percentile(ms, 99)), b1_mean_ms=float(ms.mean()),
                   b1_min_ms=float(ms.min()))
    if batches:
        seconds = np.asarray(batches, np.float64) / 1e9
        row.update(batch_calls=len(seconds), batch_p50_ms=float(np.median(seconds) * 1e3),
                   batch_reviews_per_s=float(len(seconds) * batch / seconds.sum()))


def _median(values: list):
    ordered = sorted(values)
    n = len(ordered)
    return None if n == 0 else (ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2)
