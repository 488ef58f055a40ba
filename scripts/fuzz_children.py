"""The child processes of scripts/fuzz_artifacts.py, and the parent's side of them.

A child (``worker``, started as ``fuzz_artifacts.py --worker``) loads a batch of mutants
and logs every step; the parent (``fuzz_batch``) runs it, watches the log for progress,
and re-runs a batch that crashed or hung one mutant per child, so that each crash or hang
is pinned on the mutant that causes it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

from fuzz_mutations import Mutator

# Rows scored by every mutant that loads: START and a few words, then padding.
PROBE = [[1, 14, 22, 16, 2, 4000] + [0] * 194, [1] + [7] * 199]

# Outcomes of one mutant
REFUSED = "refused"        # ArtifactError: a clear, deliberate refusal
ACCEPTED = "accepted"      # loaded and scored (a flip that only changed a weight)
ERROR = "error"            # another Python exception: no crash, but no clear message either
CRASHED = "crashed"        # the child died from a signal (or exited without a result)
HUNG = "hung"              # no progress for --stall seconds
UNCHANGED = "unchanged"    # the mutation happened to rewrite the same bytes (not counted)


# --- the child: load mutants, log every step ----------------------------------------------

def worker(artifact: Path, mode: str, seed: int, indices: list, log_path: Path,
           backend: Optional[str], memory_gib: float) -> None:
    """Load each mutant in this process and append one JSON line per step to log_path.

    Lines: {"ready"} once imports are done; per mutant {"i", "event": "start"},
    {"i", "event": "parse"} just before the bytes go to the backend's parser,
    {"i", "event": "run"} once it loaded, before the probe rows are scored, and
    {"i", "event": "end", "outcome", "stage", "error"}. Written unbuffered, so the parent
    knows how far a child got when it dies."""
    limit_memory(memory_gib)
    log = open(log_path, "a", buffering=1, encoding="utf-8")

    def note(**event):
        log.write(json.dumps(event) + "\n")
        log.flush()

    current = _trace_parser(note)
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
            _write_mutant(target, data, sidecar, mode)
            note(i=i, event="start", kind=desc)
            outcome, stage, error = _load_and_score(target, backend,
                                                    loaded=lambda: note(i=i, event="run"))
            note(i=i, event="end", kind=desc, outcome=outcome, stage=stage,
                 error=None if error is None else error[:300], reached=current["reached"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        log.close()


def _trace_parser(note) -> dict:
    """Have the runtime ``note`` a "parse" event just before a mutant's bytes reach the
    backend's parser, by wrapping the backend it resolves: whatever the runtime checks
    first runs as it is. Returns the current mutant's {"i", "reached"}, for the caller
    to set before each load and read after it."""
    from imdb_edge.runtime import model as model_module

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
    return current


def _write_mutant(target: Path, data: bytes, sidecar: dict, mode: str) -> None:
    """The mutant and its sidecar: the true one (pinned), or rewritten to match (resigned)."""
    target.write_bytes(data)
    side = dict(sidecar)
    if mode == "resigned":
        side.update(sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
    Path(f"{target}.json").write_text(json.dumps(side), encoding="utf-8")


def _load_and_score(target: Path, backend: Optional[str], loaded) -> tuple:
    """(outcome, stage, error) of one mutant: loaded, then scored on PROBE; ``loaded()`` is
    called in between."""
    from imdb_edge.runtime import ArtifactError, load

    try:
        model = load(target, backend=backend, threads=1)
    except ArtifactError as exc:
        return REFUSED, "load", str(exc)
    except Exception as exc:  # noqa: BLE001 - every other exception is a finding
        return ERROR, "load", f"{type(exc).__name__}: {exc}"
    loaded()
    try:
        probs = model.predict_ids(PROBE)
        if not all(0.0 <= float(p) <= 1.0 for p in probs):
            return ACCEPTED, "run", f"scored outside [0, 1]: {[float(p) for p in probs]}"
    except ArtifactError as exc:
        return REFUSED, "run", str(exc)
    except Exception as exc:  # noqa: BLE001
        return ERROR, "run", f"{type(exc).__name__}: {exc}"
    return ACCEPTED, "run", None


def limit_memory(gib: float) -> None:
    """A mutant that claims a huge tensor should fail with MemoryError in the child, not
    push the machine into swap or the OOM killer."""
    try:
        import resource
    except ImportError:  # not on Windows
        return
    limit = int(gib * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


# --- the parent: batches and attribution --------------------------------------------------

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


def run_children(command: list, artifact: Path, mode: str, seed: int, indices: list,
                 settings: Settings) -> tuple:
    """One child, started by ``command`` (the worker's command line), over ``indices``.
    Returns the results by index, how it ended ("ok", "crashed:" with the signal or exit
    status, or "hung"), the kind of each mutant it started, the stage each reached, and
    the stderr tail."""
    with tempfile.TemporaryDirectory(prefix="fuzz-log-") as tmp:
        log_path, err_path = Path(tmp) / "log.jsonl", Path(tmp) / "stderr.txt"
        log_path.touch()
        command = command + ["--worker", str(artifact), "--mode", mode, "--seed", str(seed),
                             "--log", str(log_path), "--memory-gib", str(settings.memory_gib),
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


def fuzz_batch(command: list, artifact: Path, mode: str, seed: int, indices: list,
               settings: Settings):
    """Results for ``indices``: one child for all; if it crashes or hangs, one child each
    (each started by ``command``, see run_children)."""
    results, ended, started, _, tail = run_children(command, artifact, mode, seed, indices,
                                                    settings)
    if ended == "ok" and len(results) == len(indices):
        return [results[i] for i in indices], []
    notes = [f"batch {indices[0]}..{indices[-1]} {ended}; re-run one by one"]
    out = []
    for i in indices:
        alone, ended_alone, started_alone, stages, tail = run_children(
            command, artifact, mode, seed, [i], settings)
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
