"""`imdb-edge bench`: every artifact x backend and the Keras model, measured side by side.

One run gives one table. Each figure comes from a process of its own, so no two rows share
memory, imports or thread pools:

* cold start: a fresh ``imdb-edge score ARTIFACT --text REVIEW`` (for Keras, a fresh
  ``python -c`` that imports Keras, loads the model and predicts one review), timed from just
  before the spawn to the moment its first score line reaches us; repeated ``cold_runs``
  times, rows taking turns, median reported. Its peak RSS is ``ru_maxrss`` from ``wait4``
  in a bare launcher process that spawns it (see ``_LAUNCHER`` for why not from here).
* latency and throughput: one long-lived worker per row (this module run as
  ``python -m imdb_edge.bench --worker ...``). All workers are started first, then they take
  turns in rounds of ``BLOCK`` batch-1 calls plus a share of the batch-``batch`` calls, so
  a machine whose load drifts during the run (another job, thermal throttling) slows every
  row alike instead of whichever ran last. Each call is timed with ``perf_counter_ns``
  around the public ``Model.predict_ids`` (for Keras, the compiled ``tf.function`` call
  and ``model.predict``), input conversion included. A worker reports its own peak RSS
  (VmHWM) when it stops.

Figures are of the machine they were measured on; the report names its CPU, core count
and load average, and ratios to Keras taken in the same run are what carry to other
machines. Nothing here imports TensorFlow except the Keras worker and Keras cold start.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Optional

# Batch-1 calls per worker per turn: small enough that every row sees the same stretch of
# machine load, large enough that switching workers costs nothing measurable.
BLOCK = 50
WARMUP = 10
# An artifact fixed to a batch > 1 runs each single review as a whole padded batch: its
# batch-1 figure is that of a full batch, so fewer calls tell it (and keep a run short).
PADDED_SINGLE_CALLS = 100
EXTENSIONS = {".tflite": "tflite", ".onnx": "onnx", ".npz": "numpy"}
QUANT_ORDER = ("float32", "float16", "dynamic", "int8", "int16x8")
# Automatic backend choice never picks full TensorFlow's interpreter for a device figure.
DEFAULT_EXCLUDED = ("tensorflow_lite",)
SAMPLE_REVIEW = ("One of the best films I have seen this year: the acting is superb, the "
                 "story moves quickly and the ending stayed with me for days.")
TIMEOUT_S = 900  # per child request; a hung child is killed and its row reports the error

# The targets, checked on the dynamic-range int8 TFLite batch-1 rows.
TARGETS = (
    # (column, comparison, limit, wording)
    ("b1_p50_ms", "<=", 1.0, "batch-1 p50 <= 1.0 ms"),
    ("cold_start_s", "<=", 0.5, "cold start of `imdb-edge score` <= 0.5 s"),
    ("cold_rss_mb", "<=", 80.0, "peak RSS of the scoring process <= 80 MB"),
    ("x_keras_fn_p50", ">=", 20.0, "batch-1 p50 >= 20x the compiled Keras call"),
    ("x_keras_cold", ">=", 5.0, "cold start >= 5x Keras"),
    ("x_keras_rss", ">=", 5.0, "peak RSS >= 5x smaller than Keras"),
)

# Markdown columns, in order: (key in a row, heading, format).
COLUMNS = (
    ("artifact", "artifact", "s"),
    ("backend", "backend", "s"),
    ("threads", "thr", "s"),
    ("size_bytes", "size", "size"),
    ("load_ms", "load ms", ".1f"),
    ("cold_start_s", "cold start s", ".3f"),
    ("b1_p50_ms", "b1 p50 ms", ".3f"),
    ("b1_p99_ms", "b1 p99 ms", ".3f"),
    ("batch_reviews_per_s", "b{batch} rev/s", ",.0f"),
    ("cold_rss_mb", "peak RSS MB (1 review)", ".1f"),
    ("worker_rss_mb", "peak RSS MB (bench)", ".1f"),
    ("x_keras_fn_p50", "p50 vs Keras fn", "x"),
    ("x_keras_predict_p50", "p50 vs Keras predict", "x"),
    ("x_keras_batch", "b{batch} vs Keras fn", "x"),
    ("x_keras_cold", "cold vs Keras", "x"),
    ("x_keras_rss", "RSS vs Keras", "x"),
)


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
    data: Optional[str] = None            # IMDB source for real test reviews (None: look for it)
    random_inputs: bool = False           # seeded random rows even when a dataset is found
    seed: int = 0                         # for the random rows


# ---------------------------------------------------------------------------- the run

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
            raise FileNotFoundError(f"Keras model {options.keras} not found")
        if keras_python is None:
            raise ValueError("--keras needs keras and TensorFlow in one of the interpreters "
                             f"({', '.join(i['python'] for i in interpreters)})")
        rows = keras_rows(options.keras, keras_python) + rows
    log(f"{len(rows)} rows: " + ", ".join(f"{r['artifact']}/{r['backend']}" for r in rows))

    ids, inputs = review_ids(options)
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
    report["targets"] = check_targets(rows)
    return report


def _check_options(options: BenchOptions) -> None:
    if not options.paths:
        raise ValueError("give at least one artifact or folder of artifacts")
    for name in ("reviews", "batch", "cold_runs"):
        value = getattr(options, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    for threads in options.threads:
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be whole numbers >= 1, got {threads!r}")


def _stderr(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- what to run

def find_artifacts(paths) -> list:
    """Artifact paths: files as given, folders searched for files with a sidecar beside them,
    ordered by format, quantization and batch."""
    found = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            inside = [p for p in path.iterdir() if p.suffix in EXTENSIONS and
                      p.with_name(p.name + ".json").is_file()]
            if not inside:
                raise FileNotFoundError(f"{path} holds no artifacts (X.tflite, X.onnx or X.npz "
                                        "with X.<ext>.json beside it)")
            found.extend(sorted(inside, key=_artifact_order))
        elif path.suffix == ".json" and path.with_suffix("").suffix in EXTENSIONS:
            found.append(path.with_suffix(""))
        elif path.is_file():
            if path.suffix not in EXTENSIONS:
                raise ValueError(f"{path} is not an artifact (.tflite, .onnx or .npz)")
            found.append(path)
        else:
            raise FileNotFoundError(f"{path} does not exist")
    return list(dict.fromkeys(found))


def _artifact_order(path: Path):
    from imdb_edge.runtime.sidecar import load_sidecar

    try:
        side = load_sidecar(path)
        quant, batch = side.quantization, side.batch or 0
    except (ValueError, OSError):
        quant, batch = "", 0
    rank = QUANT_ORDER.index(quant) if quant in QUANT_ORDER else len(QUANT_ORDER)
    return list(EXTENSIONS).index(path.suffix), rank, batch, path.name


_PROBE = """
import importlib.util, json, sys
from importlib import metadata
from imdb_edge.runtime import available_backends
versions = {}
for package in ("numpy", "ai-edge-litert", "tflite-runtime", "onnxruntime", "tensorflow",
                "tensorflow-cpu", "keras"):
    try:
        versions[package] = metadata.version(package)
    except metadata.PackageNotFoundError:
        pass
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
        raise ValueError(f"{python} cannot run imdb_edge (is the project installed there?): "
                         f"{_tail(done.stderr)}")
    return json.loads(done.stdout)


def plan_rows(options: BenchOptions, interpreters: list) -> list:
    """One row per artifact x backend x thread count; each backend runs in the first
    interpreter that has it."""
    from imdb_edge.runtime.backends import BACKENDS, NAMES
    from imdb_edge.runtime.sidecar import load_sidecar

    where = {}
    for interp in interpreters:
        for name in interp["backends"]:
            where.setdefault(name, interp["python"])
    if options.backends:
        for name in options.backends:
            if name not in NAMES:
                raise ValueError(f"unknown backend {name!r}; choose from {', '.join(NAMES)}")
            if name not in where:
                raise ValueError(f"backend {name} is installed in none of "
                                 f"{', '.join(i['python'] for i in interpreters)}; add an "
                                 "interpreter that has it with --python")
    rows = []
    for path in find_artifacts(options.paths):
        side = load_sidecar(path)
        names = [b.name for b in BACKENDS if b.format == side.format and b.name in where and
                 (b.name in options.backends if options.backends
                  else b.name not in DEFAULT_EXCLUDED)]
        for backend in names:
            # numpy's BLAS takes its thread count from the environment: one row only.
            for threads in (options.threads if backend != "numpy" else (None,)):
                rows.append(dict(kind="runtime", artifact=path.name, path=str(path),
                                 format=side.format, quantization=side.quantization,
                                 batch_size=side.batch, backend=backend,
                                 threads="default" if threads is None else threads,
                                 python=where[backend], size_bytes=path.stat().st_size))
    if not rows:
        raise ValueError("no artifact has an installed backend to run it"
                         + (f" among {', '.join(options.backends)}" if options.backends else ""))
    return rows


def keras_rows(model: str, python: str) -> list:
    base = dict(kind="keras", artifact=Path(model).name, path=str(model), format="keras",
                quantization="float32", batch_size=None, threads="default", python=python,
                size_bytes=Path(model).stat().st_size)
    return [dict(base, backend="keras tf.function", mode="function"),
            dict(base, backend="keras predict", mode="predict")]


def review_ids(options: BenchOptions):
    """(ids int32 (reviews, 200), description): padded test reviews if a dataset is found,
    else seeded random rows shaped like reviews (START, words, zero padding)."""
    import numpy as np

    from imdb_edge.runtime import text

    source = None if options.random_inputs else (options.data or
                                                 os.environ.get("IMDB_EDGE_DATA") or None)
    if source is None and not options.random_inputs:
        shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "aclImdb_v1.tar.gz"
        source = str(shared) if shared.is_file() else None
    if source is not None:
        try:
            from imdb_edge.train import data as data_lib

            x_test = data_lib.load(source).x_test
            reps = -(-options.reviews // len(x_test))
            ids = np.tile(x_test, (reps, 1))[:options.reviews].astype(np.int32)
            return ids, f"the first {options.reviews} test reviews of {source}" + (
                " (repeated)" if reps > 1 else "")
        except Exception as exc:
            if options.data:
                raise
            _stderr(f"could not read {source} ({exc}); using random rows")
    rng = np.random.default_rng(options.seed)
    lengths = rng.integers(10, text.MAX_LEN * 3 // 2, options.reviews)
    rows = [[text.START_ID, *rng.integers(text.INDEX_FROM, text.VOCAB_SIZE, n - 1)]
            for n in lengths]
    why = "as asked" if options.random_inputs else "no dataset found"
    return text.pad(rows), f"{options.reviews} random rows (seed {options.seed}; {why})"


# ---------------------------------------------------------------------------- the machine

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


# ---------------------------------------------------------------------------- cold starts

def measure_baselines(python: str, runs: int, log) -> dict:
    """The floor under every cold start: a bare interpreter, and one importing numpy."""
    out = {}
    for key, code in (("python", "print(0)"), ("python_numpy", "import numpy; print(0)")):
        runs_ = [_first_line([python, "-c", code]) for _ in range(runs)]
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
ids = np.zeros((1, 200), np.int32); ids[0, :3] = (1, 14, 22)
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
                seconds, rss_kb = _first_line(cold_command(row), _child_env(row))
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


def _child_env(row: dict) -> dict:
    env = dict(os.environ)
    if row["kind"] == "keras":
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


# ---------------------------------------------------------------------------- children

class ChildError(RuntimeError):
    """A measured child process failed, hung or printed something unexpected."""


def _spawn(cmd: list, env=None, stdin=False):
    import subprocess
    import tempfile

    errors = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=errors, env=env)
    proc.errors = errors
    return proc


def _reap(proc) -> int:
    """Wait for the child; its exit status."""
    return proc.wait()


def _stderr_of(proc) -> str:
    proc.errors.seek(0)
    return _tail(proc.errors.read().decode("utf-8", "replace"))


def _tail(text: str, lines: int = 3) -> str:
    kept = [l for l in text.strip().splitlines() if l.strip()][-lines:]
    return " | ".join(l.strip() for l in kept)[-600:] or "(no output)"


class _Watchdog:
    """Kills a child that has not answered within TIMEOUT_S."""

    def __init__(self, proc):
        import threading

        self._timer = threading.Timer(TIMEOUT_S, proc.kill)
        self._timer.daemon = True

    def __enter__(self):
        self._timer.start()

    def __exit__(self, *exc):
        self._timer.cancel()


# Runs the measured command for _first_line. Peak RSS must come from a small parent: Linux
# carries the RSS high-water mark of the process that forks (and execs) a child over into
# the child's ru_maxrss, so a child of this (data-laden) process would inherit our figure.
# A bare interpreter started with -I -S, importing nothing but os, sys and time, leaves a
# floor of a few MB (reported as the launcher's own figure).
_LAUNCHER = """
import os, sys, time
r, w = os.pipe()
start = time.perf_counter()
pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ,
                      file_actions=[(os.POSIX_SPAWN_DUP2, w, 1), (os.POSIX_SPAWN_CLOSE, r)])
os.close(w)
line = b""
while not line.endswith(b"\\n"):
    chunk = os.read(r, 1)
    if not chunk:
        break
    line += chunk
seconds = time.perf_counter() - start
while os.read(r, 65536):
    pass
_, status, usage = os.wait4(pid, 0)
print(repr((seconds, os.waitstatus_to_exitcode(status), usage.ru_maxrss, line)))
"""


def _first_line(cmd: list, env=None) -> tuple:
    """Seconds from spawning ``cmd`` to its first line on stdout, and its peak RSS (KB),
    both taken by a bare launcher process. The child runs to its end before we return."""
    import ast

    proc = _spawn([sys.executable, "-I", "-S", "-c", _LAUNCHER, *cmd], env)
    with _Watchdog(proc):
        out = proc.stdout.read()
        status = _reap(proc)
    proc.stdout.close()
    try:
        seconds, child_status, rss, line = ast.literal_eval(out.decode())
    except (ValueError, SyntaxError):
        child_status, line = status, b""
    if status != 0 or child_status != 0 or not line.strip():
        message = _stderr_of(proc)
        proc.errors.close()
        raise ChildError(f"exit {child_status}: {message}")
    proc.errors.close()
    rss = rss // 1024 if sys.platform == "darwin" else rss
    return seconds, rss


class Worker:
    """A long-lived measuring child speaking JSON lines on its stdin/stdout."""

    def __init__(self, row: dict, ids_path: Path, batch: int):
        cmd = [row["python"], "-m", "imdb_edge.bench", "--worker", row["kind"],
               "--path", row["path"], "--ids", str(ids_path), "--batch", str(batch)]
        if row["kind"] == "runtime":
            cmd += ["--backend", row["backend"]]
            if row["threads"] != "default":
                cmd += ["--threads", str(row["threads"])]
        self.spawned = time.monotonic()
        self.proc = _spawn(cmd, _child_env(row), stdin=True)
        self.ready = self._read()  # sent once loaded and warmed up

    def ask(self, **request) -> dict:
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the child died: _read reports why
        return self._read()

    def _read(self) -> dict:
        with _Watchdog(self.proc):
            line = self.proc.stdout.readline()
        if not line:
            self.proc.kill()
            _reap(self.proc)
            raise ChildError(f"worker exited: {_stderr_of(self.proc)}")
        answer = json.loads(line)
        if "error" in answer:
            self.close()
            raise ChildError(answer["error"])
        return answer

    def close(self) -> Optional[float]:
        """Stop the child; its peak RSS in MB (None if it did not say)."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        with _Watchdog(self.proc):
            last = self.proc.stdout.read().decode("utf-8", "replace").strip().splitlines()
            _reap(self.proc)
        self.proc.stdout.close()
        self.proc.errors.close()
        try:
            return json.loads(last[-1])["peak_rss_kb"] / 1024
        except (IndexError, ValueError, KeyError, TypeError):
            return None


# ---------------------------------------------------------------------------- warm figures

def measure_warm(rows: list, options: BenchOptions, ids_path: Path, log) -> None:
    """Start a worker per row (one Keras worker serves both Keras rows), then interleave
    their batch-1 and batch-``batch`` calls in rounds."""
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


# ---------------------------------------------------------------------------- ratios, targets

def finish_rows(rows: list) -> None:
    """Ratios to Keras (how many times better: bigger is better for every ratio)."""
    fn = next((r for r in rows if r.get("mode") == "function"), None)
    predict = next((r for r in rows if r.get("mode") == "predict"), None)

    def ratio(num, den):
        return num / den if num and den else None

    for row in rows:
        row["x_keras_fn_p50"] = ratio(fn and fn.get("b1_p50_ms"), row.get("b1_p50_ms"))
        row["x_keras_predict_p50"] = ratio(predict and predict.get("b1_p50_ms"),
                                           row.get("b1_p50_ms"))
        row["x_keras_batch"] = ratio(row.get("batch_reviews_per_s"),
                                   fn and fn.get("batch_reviews_per_s"))
        row["x_keras_cold"] = ratio(fn and fn.get("cold_start_s"), row.get("cold_start_s"))
        row["x_keras_rss"] = ratio(fn and fn.get("cold_rss_mb"), row.get("cold_rss_mb"))
        row.setdefault("errors", [])


def check_targets(rows: list) -> list:
    """The issue's targets against each dynamic-range int8 TFLite batch-1 row."""
    results = []
    for row in rows:
        if not (row["format"] == "tflite" and row["quantization"] == "dynamic" and
                row["batch_size"] == 1):
            continue
        for key, op, limit, wording in TARGETS:
            value = row.get(key)
            met = None if value is None else (value <= limit if op == "<=" else value >= limit)
            results.append({"artifact": row["artifact"], "backend": row["backend"],
                            "threads": row["threads"], "target": wording, "key": key,
                            "limit": limit, "value": value, "met": met})
    return results


# ---------------------------------------------------------------------------- output

def to_markdown(report: dict) -> str:
    m, s = report["machine"], report["settings"]
    batch = s["batch"]
    lines = [f"# imdb-edge bench, {report['date']}", "",
             f"Machine (all figures are of this machine): **{m['cpu_model']}**, "
             f"{m['logical_cores']} logical cores ({m['usable_cores']} usable), load average "
             f"at start {_loads(m['load_average_start'])}, at end "
             f"{_loads(m.get('load_average_end'))} (1 / 5 / 15 min); {m['platform']}, "
             f"Python {m['python']}.", "",
             f"Inputs: {s['inputs']}. Batch-1 latency over {s['reviews']} calls per row after "
             f"{s['warmup_calls']} warm-up calls (artifacts fixed to a batch > 1 pad each "
             f"review to a full batch: {min(s['reviews'], s['padded_single_calls'])} calls), "
             f"batch-{batch} throughput over "
             f"{-(-s['reviews'] // batch)} calls; rows took turns in blocks of {s['block']} "
             f"calls. Cold start: median of {s['cold_runs']} fresh processes, spawn to first "
             f"score line (`imdb-edge score --text`, or Keras import + load + predict). "
             f"Ratios: how many times better than Keras in this run (> 1 = better).", ""]
    headings = [h.format(batch=batch) for _, h, _ in COLUMNS]
    lines += ["| " + " | ".join(headings) + " |",
              "|" + "|".join("---" if f == "s" else "---:" for _, _, f in COLUMNS) + "|"]
    for row in report["rows"]:
        cells = [_cell(row.get(key), fmt) for key, _, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    base = report["baselines"]
    lines += ["", f"Floor on this machine: `python -c print(0)` starts in {base['python_s']:.3f} s "
              f"and peaks at {base['python_rss_mb']:.1f} MB; `python -c 'import numpy'` "
              f"{base['python_numpy_s']:.3f} s, {base['python_numpy_rss_mb']:.1f} MB."]
    errors = [(r, e) for r in report["rows"] for e in r.get("errors", [])]
    if errors:
        lines += ["", "Errors:", ""] + [f"- {r['artifact']}/{r['backend']}: {e}"
                                        for r, e in errors]
    if report["targets"]:
        lines += ["", "## Targets (from the issue)", "",
                  "| artifact | backend | thr | target | measured | met |", "|---|---|---|---|---:|---|"]
        for t in report["targets"]:
            value = "n/a" if t["value"] is None else (
                f"{t['value']:.1f}x" if t["key"].startswith("x_") else f"{t['value']:.3f}")
            met = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
            lines.append(f"| {t['artifact']} | {t['backend']} | {t['threads']} | "
                         f"{t['target']} | {value} | {met} |")
    return "\n".join(lines) + "\n"


def _loads(values) -> str:
    return " / ".join(f"{v:.2f}" for v in values) if values else "n/a"


def _cell(value, fmt: str) -> str:
    if value is None or value == "":
        return "-"
    if fmt == "s":
        return str(value)
    if fmt == "size":
        return f"{value / 1024:,.0f} KB" if value < 10 << 20 else f"{value / (1 << 20):.1f} MB"
    if fmt == "x":
        return f"{value:.1f}x" if value < 100 else f"{value:,.0f}x"
    return format(value, fmt)


def write_report(report: dict, json_path=None, markdown_path=None) -> None:
    from imdb_edge.atomic import atomic_write_text

    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json_path, json.dumps(report, indent=2) + "\n")
    if markdown_path:
        Path(markdown_path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(markdown_path, to_markdown(report))


def _median(values: list):
    ordered = sorted(values)
    n = len(ordered)
    return None if n == 0 else (ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2)


# ---------------------------------------------------------------------------- the worker

def _worker(argv: list) -> int:
    """``python -m imdb_edge.bench --worker runtime|keras ...``: load, warm up, then answer
    {"op": "single"|"batch", "start", "count", "mode"} lines with nanosecond timings."""
    import argparse

    p = argparse.ArgumentParser(prog="imdb_edge.bench worker")
    p.add_argument("--worker", choices=("runtime", "keras"), required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--ids", required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--backend")
    p.add_argument("--threads", type=int)
    args = p.parse_args(argv)

    # Answers go to a private copy of stdout; fd 1 is pointed at stderr, so a library that
    # prints cannot corrupt them.
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    clock = time.perf_counter_ns
    try:
        t0 = time.monotonic()
        import numpy as np

        ids = np.load(args.ids)
        if args.worker == "runtime":
            from imdb_edge.runtime import load

            t1 = time.monotonic()
            model = load(args.path, backend=args.backend, threads=args.threads)
            t2 = time.monotonic()
            calls = {None: (model.predict_ids, model.predict_ids)}
        else:
            import keras
            import tensorflow as tf

            t1 = time.monotonic()
            model = keras.models.load_model(args.path, compile=False, safe_mode=True)
            t2 = time.monotonic()
            fn = tf.function(lambda x: model(x, training=False), input_signature=[
                tf.TensorSpec([None, ids.shape[1]], tf.int32)])

            def compiled(x):
                return fn(tf.constant(x)).numpy()

            def predict(x):
                return model.predict(x, batch_size=len(x), verbose=0)

            calls = {"function": (compiled, compiled), "predict": (predict, predict)}
        first = next(iter(calls.values()))[0]
        first(ids[:1])
        first_at = time.monotonic()
        for single, batched in calls.values():  # warm-up: caches, thread pools, tracing
            for i in range(WARMUP):
                single(ids[i % len(ids):][:1])
            batched(_rows(ids, 0, args.batch))
    except Exception as exc:
        answers.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        return 1
    answers.write(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1,
                              "first_score_at": first_at}) + "\n")

    for line in sys.stdin:
        request = json.loads(line)
        single, batched = calls[request.get("mode")]
        ns = []
        if request["op"] == "single":
            for i in range(request["start"], request["start"] + request["count"]):
                row = ids[i % len(ids)][None]
                t = clock()
                single(row)
                ns.append(clock() - t)
        else:
            rows = _rows(ids, request["start"], args.batch)
            t = clock()
            batched(rows)
            ns.append(clock() - t)
        answers.write(json.dumps({"ns": ns}) + "\n")
    answers.write(json.dumps({"peak_rss_kb": _own_peak_rss_kb()}) + "\n")
    return 0


def _own_peak_rss_kb() -> int:
    """This process's peak RSS since exec. VmHWM belongs to the current address space only;
    ru_maxrss would also count the process that spawned us (see _LAUNCHER)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def _rows(ids, start: int, count: int):
    """``count`` contiguous rows from ``start``, wrapping around."""
    import numpy as np

    take = np.arange(start, start + count) % len(ids)
    return np.ascontiguousarray(ids[take])


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1:]))
