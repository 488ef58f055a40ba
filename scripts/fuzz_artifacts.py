"""Mutation fuzzer for exported artifacts: does a damaged .tflite, .onnx or .npz ever crash
or hang ``imdb_edge.runtime.load``?

    python scripts/fuzz_artifacts.py artifacts/imdb-float32.onnx [more artifacts] \
        -n 5000 --mode both --report fuzz.json --save-crashes crashes/

Each mutant (the artifact truncated, emptied, cut to its 8-byte header, or with bits
flipped, bytes overwritten, deleted, inserted or copied) is loaded in a child process and,
if it loads, scored on two reviews. Two modes:

  pinned    the artifact's own sidecar is kept, as on a device: the runtime must refuse
            every mutant on its SHA-256 (or size) before any byte reaches a parser.
  resigned  the sidecar's sha256 and size_bytes are rewritten to match the mutant, as if an
            attacker could rewrite both files: the mutant DOES reach the native parser, which
            must refuse it, accept it, or crash/hang only inside the child.

Children run a batch of mutants each (a fresh process costs ~0.3 s or more) and log every
step to a file; a child that dies from a signal, exits oddly or stops making progress for
``--stall`` seconds has its whole batch re-run one mutant per process, so a crash or hang
is pinned on the mutant that causes it. Mutations are seeded: (seed, index) always gives the
same bytes, so any finding can be replayed with ``--only INDEX``.

Mutations favour the bytes that are not weights (flatbuffer tables, protobuf tags, zip
headers and npy headers): random floats fill ~99 % of these files, and a flip there only
changes a weight. See SECURITY.md for the figures of the last run.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import hashlib
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Optional

MODES = ("pinned", "resigned")
DEFAULT_N = 300  # per artifact and mode; IMDB_EDGE_FUZZ_N or -n for a longer run

# The first cases of every run are the same fixed ones; the rest are random mutations.
TRUNCATIONS = (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)
FIXED = ("empty", "header-8", *(f"truncate-{int(p * 100)}%" for p in TRUNCATIONS),
         "truncate-last-byte")
KINDS = ("bitflip", "byte", "int32", "ff-run", "zero-run", "delete", "insert", "copy",
         "truncate")
INTERESTING_INT32 = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000,
                     0xFFFFFFFE, 0xFFFFFFFF)

# Rows scored by every mutant that loads: START and a few words, then padding.
PROBE = [[1, 14, 22, 16, 2, 4000] + [0] * 194, [1] + [7] * 199]

# Outcomes of one mutant
REFUSED = "refused"        # ArtifactError: a clear, deliberate refusal
ACCEPTED = "accepted"      # loaded and scored (a flip that only changed a weight)
ERROR = "error"            # another Python exception: no crash, but no clear message either
CRASHED = "crashed"        # the child died from a signal (or exited without a result)
HUNG = "hung"              # no progress for --stall seconds
UNCHANGED = "unchanged"    # the mutation happened to rewrite the same bytes (not counted)


# --- mutations ------------------------------------------------------------------------------

def structure_regions(data: bytes, window: int = 256, distinct: int = 120) -> list:
    """(start, end) byte ranges that look like structure rather than weights: windows with
    few distinct byte values. A window of random float32 weights has ~180 distinct bytes;
    flatbuffer tables, protobuf tags, zip and npy headers have far fewer. The first and last
    KB are always included (headers, root offsets, zip central directory)."""
    n = len(data)
    starts = [i for i in range(0, n, window) if len(set(data[i:i + window])) < distinct]
    regions = [[0, min(n, 1024)], [max(0, n - 1024), n]]
    for i in starts:
        regions.append([i, min(n, i + window)])
    regions.sort()
    merged = []
    for start, end in regions:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged if b > a]


class Mutator:
    """mutate(index) -> (description, bytes): deterministic for (data, seed, index)."""

    def __init__(self, data: bytes, seed: int = 0):
        self.data, self.seed = data, seed
        self.regions = structure_regions(data)
        self._weights = [b - a for a, b in self.regions]

    def position(self, rng: random.Random) -> int:
        """3 in 4 inside a structure region, else anywhere."""
        if len(self.data) <= 1:
            return 0
        if rng.random() < 0.75:
            start, end = rng.choices(self.regions, weights=self._weights)[0]
            return rng.randrange(start, end)
        return rng.randrange(len(self.data))

    def mutate(self, index: int) -> tuple:
        data, n = self.data, len(self.data)
        if index < len(FIXED):
            kind = FIXED[index]
            if kind == "empty":
                return kind, b""
            if kind == "header-8":
                return kind, data[:8]
            if kind == "truncate-last-byte":
                return kind, data[:-1]
            return kind, data[:int(n * TRUNCATIONS[index - 2])]
        rng = random.Random(f"{self.seed}:{index}")  # str seeds hash with SHA-512: stable
        for _ in range(20):
            desc, out = self._random(rng)
            if out != data:
                return desc, out
        return "bitflip@0", bytes([data[0] ^ 1]) + data[1:]

    def _random(self, rng: random.Random) -> tuple:
        data, n = bytearray(self.data), len(self.data)
        kind = rng.choice(KINDS)
        at = self.position(rng)
        if kind == "bitflip":
            spots = [at] + [self.position(rng) for _ in range(rng.randrange(4))]
            for p in spots:
                data[p] ^= 1 << rng.randrange(8)
            return f"bitflip@{','.join(map(str, spots))}", bytes(data)
        if kind == "byte":
            value = rng.choice([0, 0xFF, 0x7F, 0x80, rng.randrange(256)])
            count = rng.randrange(1, 5)
            data[at:at + count] = bytes([value]) * len(data[at:at + count])
            return f"byte@{at}x{count}={value:#04x}", bytes(data)
        if kind == "int32":
            at &= ~3
            value = rng.choice(INTERESTING_INT32 + (n, n - 1, n + 1, rng.getrandbits(32)))
            data[at:at + 4] = struct.pack("<I", value & 0xFFFFFFFF)[:len(data[at:at + 4])]
            return f"int32@{at}={value:#x}", bytes(data)
        if kind == "ff-run":
            count = rng.randrange(2, 11)
            data[at:at + count] = b"\xff" * len(data[at:at + count])
            return f"ff-run@{at}x{count}", bytes(data)
        if kind == "zero-run":
            count = rng.randrange(8, 513)
            data[at:at + count] = bytes(len(data[at:at + count]))
            return f"zero-run@{at}x{count}", bytes(data)
        if kind == "delete":
            count = rng.randrange(1, 65)
            del data[at:at + count]
            return f"delete@{at}x{count}", bytes(data)
        if kind == "insert":
            chunk = rng.randbytes(rng.randrange(1, 65))
            data[at:at] = chunk
            return f"insert@{at}x{len(chunk)}", bytes(data)
        if kind == "copy":
            source = self.position(rng)
            count = min(rng.randrange(4, 257), n - at, n - source)
            data[at:at + count] = data[source:source + count]
            return f"copy@{source}->{at}x{count}", bytes(data)
        cut = at if at > 0 else 1
        return f"truncate@{cut}", bytes(data[:cut])


# --- the child: load mutants, log every step ----------------------------------------------

def worker(artifact: Path, mode: str, seed: int, indices: list, log_path: Path,
           backend: Optional[str], memory_gib: float) -> None:
    """Load each mutant in this process and append one JSON line per step to log_path.

    Lines: {"ready"} once imports are done; per mutant {"i", "event": "start"},
    {"i", "event": "parse"} just before the bytes go to the backend's parser,
    {"i", "event": "run"} once it loaded, before the probe rows are scored, and
    {"i", "event": "end", "outcome", "stage", "error"}. Written unbuffered, so the parent
    knows how far a child got when it dies."""
    _limit_memory(memory_gib)
    from imdb_edge.runtime import ArtifactError, load
    from imdb_edge.runtime import model as model_module

    log = open(log_path, "a", buffering=1, encoding="utf-8")

    def note(**event):
        log.write(json.dumps(event) + "\n")
        log.flush()

    current = {}
    real_resolve = model_module.resolve

    def traced_resolve(fmt, requested=None):
        backend_class = real_resolve(fmt, requested)

        def construct(model_bytes, sidecar, threads):
            current["reached"] = True
            note(i=current["i"], event="parse")
            return backend_class(model_bytes, sidecar, threads)
        return construct

    model_module.resolve = traced_resolve

    original = artifact.read_bytes()
    sidecar = json.loads(Path(f"{artifact}.json").read_text(encoding="utf-8"))
    mutator = Mutator(original, seed)
    folder = Path(tempfile.mkdtemp(prefix="mutants-", dir=log_path.parent))  # parent cleans up
    try:
        vocabulary = sidecar["preprocessing"]["vocabulary_file"]
        shutil.copyfile(artifact.parent / vocabulary, folder / vocabulary)
        target = folder / artifact.name
        note(event="ready")
        for i in indices:
            desc, data = mutator.mutate(i)
            current.clear()
            current.update(i=i, reached=False)
            if data == original:
                note(i=i, event="end", kind=desc, outcome=UNCHANGED, stage=None, error=None,
                     reached=False)
                continue
            target.write_bytes(data)
            side = dict(sidecar)
            if mode == "resigned":
                side.update(sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
            Path(f"{target}.json").write_text(json.dumps(side), encoding="utf-8")
            note(i=i, event="start", kind=desc)
            outcome, stage, error = ACCEPTED, "run", None
            try:
                model = load(target, backend=backend, threads=1)
            except ArtifactError as exc:
                outcome, stage, error = REFUSED, "load", str(exc)
            except Exception as exc:  # noqa: BLE001 - every other exception is a finding
                outcome, stage, error = ERROR, "load", f"{type(exc).__name__}: {exc}"
            else:
                note(i=i, event="run")
                try:
                    probs = model.predict_ids(PROBE)
                    if not all(0.0 <= float(p) <= 1.0 for p in probs):
                        error = f"scored outside [0, 1]: {[float(p) for p in probs]}"
                except ArtifactError as exc:
                    outcome, error = REFUSED, str(exc)
                except Exception as exc:  # noqa: BLE001
                    outcome, error = ERROR, f"{type(exc).__name__}: {exc}"
                del model
            note(i=i, event="end", kind=desc, outcome=outcome, stage=stage,
                 error=None if error is None else error[:300], reached=current["reached"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        log.close()


def _limit_memory(gib: float) -> None:
    """A mutant that claims a huge tensor should fail with MemoryError in the child, not
    push the machine into swap or the OOM killer."""
    try:
        import resource
    except ImportError:  # not on Windows
        return
    limit = int(gib * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


# --- the parent: batches, attribution, figures ---------------------------------------------

@dataclasses.dataclass
class Result:
    index: int
    kind: str
    outcome: str
    stage: Optional[str] = None
    reached_parser: bool = False
    error: Optional[str] = None
    signal: Optional[str] = None


@dataclasses.dataclass
class Settings:
    batch: int = 20            # mutants per child process
    stall: float = 30.0        # seconds without progress that count as a hang
    startup: float = 120.0     # seconds a child may take to import before its first mutant
    backend: Optional[str] = None
    memory_gib: float = 4.0    # address-space limit of each child
    jobs: int = 1              # children at once


def worker_command() -> list:
    """How a child is started (the tests replace it to plant a crash and a hang)."""
    return [sys.executable, str(Path(__file__).resolve())]


def run_children(artifact: Path, mode: str, seed: int, indices: list,
                 settings: Settings) -> tuple:
    """One child over ``indices``. Returns (results by index, how it ended: "ok", "crashed"
    with the signal or exit status, or "hung"), and the stderr tail."""
    with tempfile.TemporaryDirectory(prefix="fuzz-log-") as tmp:
        log_path, err_path = Path(tmp) / "log.jsonl", Path(tmp) / "stderr.txt"
        log_path.touch()
        command = worker_command() + ["--worker", str(artifact),
                   "--mode", mode, "--seed", str(seed), "--log", str(log_path),
                   "--memory-gib", str(settings.memory_gib),
                   "--only", ",".join(map(str, indices))]
        if settings.backend:
            command += ["--backend", settings.backend]
        env = dict(os.environ, OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3",
                   PYTHONFAULTHANDLER="1")
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=env,
                                    start_new_session=True)
            ended, size, last_change = None, 0, time.monotonic()
            ready = False
            while ended is None:
                try:
                    status = proc.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    status = None
                if status is not None:
                    ended = "ok" if status == 0 else f"crashed:{_status_name(status)}"
                    break
                now_size = log_path.stat().st_size
                if now_size != size:
                    size, last_change = now_size, time.monotonic()
                    ready = True
                limit = settings.stall if ready else settings.startup
                if time.monotonic() - last_change > limit:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    ended = "hung"
        events = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
        stderr_tail = err_path.read_bytes()[-8000:].decode("utf-8", "replace")
    results, started, stages = {}, {}, {}
    for event in events:
        if event.get("event") in ("parse", "run"):
            stages[event["i"]] = "parser" if event["event"] == "parse" else "run"
        if event.get("event") == "start":
            started[event["i"]] = event["kind"]
        elif event.get("event") == "end":
            results[event["i"]] = Result(event["i"], event["kind"], event["outcome"],
                                         event.get("stage"), bool(event.get("reached")),
                                         event.get("error"))
    return results, ended, started, stages, stderr_tail


def _status_name(status: int) -> str:
    if status >= 0:
        return f"exit {status}"
    try:
        return signal.Signals(-status).name
    except ValueError:
        return f"signal {-status}"


def crash_summary(stderr: str) -> Optional[str]:
    """'Fatal Python error: Segmentation fault in interpreter.py:575 allocate_tensors' from
    a faulthandler dump (the children run with PYTHONFAULTHANDLER=1), else the last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    fatal = next((line for line in lines if line.startswith("Fatal Python error")), None)
    if fatal is None:
        return lines[-1][:300] if lines else None
    frame = next((line for line in lines[lines.index(fatal):] if line.startswith("File ")), "")
    where = re.match(r'File "(?:.*/)?([^/"]+/[^/"]+)", line (\d+) in (\S+)', frame)
    return f"{fatal} in {where[1]}:{where[2]} {where[3]}" if where else fatal


def fuzz_batch(artifact: Path, mode: str, seed: int, indices: list, settings: Settings):
    """Results for ``indices``: one child for all; if it crashes or hangs, one child each."""
    results, ended, started, _, tail = run_children(artifact, mode, seed, indices, settings)
    if ended == "ok" and len(results) == len(indices):
        return [results[i] for i in indices], []
    notes = [f"batch {indices[0]}..{indices[-1]} {ended}; re-run one by one"]
    out = []
    for i in indices:
        alone, ended_alone, started_alone, stages, tail = run_children(
            artifact, mode, seed, [i], settings)
        if i in alone and ended_alone == "ok":
            out.append(alone[i])
            continue
        kind = started_alone.get(i) or started.get(i, "?")
        outcome = HUNG if ended_alone == "hung" else CRASHED
        signame = ended_alone.split(":", 1)[1] if ended_alone.startswith("crashed:") else None
        # stage: "load" (before any parser), "parser" (building the interpreter or
        # session) or "run" (the model loaded; scoring the probe rows)
        out.append(Result(i, kind, outcome, stages.get(i, "load"), i in stages,
                          crash_summary(tail), signame))
    if not any(r.outcome in (CRASHED, HUNG) for r in out):
        # Loading earlier mutants in the same process set it up (a heap corrupted without a
        # crash at the time), or the failure depends on memory layout.
        at = [i for i in indices if i in started and i not in results]
        notes.append(f"batch {indices[0]}..{indices[-1]} {ended} "
                     f"{'at #' + str(at[0]) + ' ' if at else ''}but no mutant did alone")
    return out, notes


def fuzz(artifact, n: int = DEFAULT_N, *, mode: str = "resigned", seed: int = 0,
         settings: Optional[Settings] = None, only: Optional[list] = None,
         log=lambda message: None) -> dict:
    """Fuzz one artifact in one mode; returns the figures (see ``summarize``)."""
    artifact = Path(artifact).resolve()
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    settings = settings or Settings()
    indices = list(only) if only is not None else list(range(n))
    batches = [indices[k:k + settings.batch] for k in range(0, len(indices), settings.batch)]
    results, notes = [], []
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max(1, settings.jobs)) as pool:
        futures = [pool.submit(fuzz_batch, artifact, mode, seed, b, settings) for b in batches]
        for done, future in enumerate(futures, 1):
            batch_results, batch_notes = future.result()
            results += batch_results
            notes += batch_notes
            for note in batch_notes:
                log(f"  {artifact.name} [{mode}] {note}")
            if done % 10 == 0 or done == len(futures):
                log(f"  {artifact.name} [{mode}] {len(results)}/{len(indices)} mutants")
    report = summarize(results)
    report.update(artifact=artifact.name, mode=mode, seed=seed, notes=notes,
                  seconds=round(time.monotonic() - started, 1))
    return report


def summarize(results: list) -> dict:
    """Counts per outcome, and every mutant that crashed, hung or raised something other
    than ArtifactError (with what it raised), so they can be replayed with --only."""
    tried = [r for r in results if r.outcome != UNCHANGED]
    counts = Counter(r.outcome for r in tried)
    return {
        "tried": len(tried),
        "refused_cleanly": counts[REFUSED],
        "refused_before_parser": sum(r.outcome == REFUSED and not r.reached_parser for r in tried),
        "reached_parser": sum(r.reached_parser for r in tried),
        "accepted": counts[ACCEPTED],
        "accepted_out_of_range": sum(r.outcome == ACCEPTED and r.error is not None
                                     for r in tried),
        "other_errors": counts[ERROR],
        "crashed": counts[CRASHED],
        "hung": counts[HUNG],
        "findings": [dataclasses.asdict(r) for r in tried
                     if r.outcome in (ERROR, CRASHED, HUNG) or r.error and r.outcome == ACCEPTED],
        "error_types": dict(Counter((r.error or "").split(":")[0] for r in tried
                                    if r.outcome == ERROR)),
        "refusals": dict(Counter(refusal_reason(r.error) for r in tried
                                 if r.outcome == REFUSED).most_common(12)),
    }


def refusal_reason(message: Optional[str]) -> str:
    """A refusal message with paths, names and numbers blanked, to count refusals by kind."""
    text = re.sub(r"\S*/\S+|\S+\.(tflite|onnx|npz)(\.json)?\b:?", "<file>", message or "")
    text = re.sub(r"0x[0-9a-f]+|\b[0-9a-f]{12}\.\.\.|-?\d+(\.\d+)?", "N", text)
    return " ".join(text.split())[:90]


def format_table(reports: list) -> str:
    columns = ("tried", "reached_parser", "refused_cleanly", "accepted", "other_errors",
               "crashed", "hung")
    lines = ["| artifact | mode | " + " | ".join(c.replace("_", " ") for c in columns)
             + " | seconds |", "|---|---|" + "---:|" * (len(columns) + 1)]
    for r in reports:
        lines.append(f"| {r['artifact']} | {r['mode']} | "
                     + " | ".join(str(r[c]) for c in columns) + f" | {r['seconds']} |")
    return "\n".join(lines)


def save_mutants(artifact: Path, seed: int, indices, folder: Path) -> None:
    """Write the mutants' bytes (e.g. the crashers) to replay them outside the harness."""
    folder.mkdir(parents=True, exist_ok=True)
    mutator = Mutator(Path(artifact).read_bytes(), seed)
    for i in indices:
        desc, data = mutator.mutate(i)
        (folder / f"{Path(artifact).name}.{i}").write_bytes(data)
        (folder / f"{Path(artifact).name}.{i}.txt").write_text(desc + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts", nargs="+", type=Path,
                        help="X.tflite / X.onnx / X.npz, each with its sidecar and vocabulary")
    parser.add_argument("-n", type=int, default=int(os.environ.get("IMDB_EDGE_FUZZ_N", DEFAULT_N)),
                        help="mutants per artifact and mode (default: $IMDB_EDGE_FUZZ_N or "
                        f"{DEFAULT_N})")
    parser.add_argument("--mode", choices=MODES + ("both",), default="both")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", help="comma-separated mutant indices (replay findings)")
    parser.add_argument("--batch", type=int, default=Settings.batch, help="mutants per child")
    parser.add_argument("--jobs", type=int, default=1, help="children at once")
    parser.add_argument("--stall", type=float, default=Settings.stall,
                        help="seconds without progress counted as a hang (default: %(default)s)")
    parser.add_argument("--backend", help="force a runtime backend (default: automatic)")
    parser.add_argument("--memory-gib", type=float, default=Settings.memory_gib,
                        help="address-space limit per child (default: %(default)s)")
    parser.add_argument("--report", type=Path, help="write every figure and finding as JSON")
    parser.add_argument("--save-crashes", type=Path, metavar="DIR",
                        help="write the bytes of mutants that crashed, hung or errored")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    only = [int(i) for i in args.only.split(",")] if args.only else None

    if args.worker:
        worker(args.artifacts[0], args.mode, args.seed, only or list(range(args.n)), args.log,
               args.backend, args.memory_gib)
        return 0

    settings = Settings(batch=args.batch, stall=args.stall, backend=args.backend,
                        memory_gib=args.memory_gib, jobs=args.jobs)
    modes = MODES if args.mode == "both" else (args.mode,)
    reports = []
    for artifact in args.artifacts:
        for mode in modes:
            report = fuzz(artifact, args.n, mode=mode, seed=args.seed, settings=settings,
                          only=only, log=lambda m: print(m, file=sys.stderr, flush=True))
            reports.append(report)
            if args.save_crashes and report["findings"]:
                save_mutants(artifact, args.seed, [f["index"] for f in report["findings"]],
                             args.save_crashes / mode)
    print(format_table(reports))
    for r in reports:
        for f in r["findings"]:
            print(f"- {r['artifact']} [{r['mode']}] #{f['index']} {f['kind']}: {f['outcome']}"
                  f"{' (' + f['signal'] + ')' if f['signal'] else ''} at {f['stage']}: "
                  f"{f['error']}")
    if args.report:
        args.report.write_text(json.dumps(dict(seed=args.seed, n=args.n, reports=reports),
                                          indent=2) + "\n")
    bad = sum(r["crashed"] + r["hung"] for r in reports)
    reached_pinned = sum(r["reached_parser"] for r in reports if r["mode"] == "pinned")
    return 1 if bad or reached_pinned else 0


if __name__ == "__main__":
    sys.exit(main())
