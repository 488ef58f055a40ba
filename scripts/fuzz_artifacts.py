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
changes a weight. See SECURITY.md for the figures of the last run. The mutations live in
fuzz_mutations.py, the children and their supervision in fuzz_children.py.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Optional

# Run as a script its folder is sys.path[0]; loaded by file path, as the tests load it, it
# is not, and the sibling modules below would not import.
HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from fuzz_children import (ACCEPTED, CRASHED, ERROR, HUNG, REFUSED,  # noqa: E402
                           UNCHANGED, Settings, fuzz_batch, worker)
from fuzz_mutations import Mutator  # noqa: E402

MODES = ("pinned", "resigned")
DEFAULT_N = 300  # per artifact and mode; IMDB_EDGE_FUZZ_N or -n for a longer run


def worker_command() -> list:
    """How a child is started: this script, which runs ``worker`` given --worker (the
    tests replace it to plant a crash and a hang)."""
    return [sys.executable, str(Path(__file__).resolve())]


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
    started, command = time.monotonic(), worker_command()
    with concurrent.futures.ThreadPoolExecutor(max(1, settings.jobs)) as pool:
        futures = [pool.submit(fuzz_batch, command, artifact, mode, seed, b, settings)
                   for b in batches]
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
