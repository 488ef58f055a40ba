"""Measure artifacts x backends against Keras, side by side, on this machine.

Measure size, load time, cold start, batch-1 latency (p50/p99), batch throughput and peak
RSS of every artifact on every installed device backend, and of the Keras model (compiled
tf.function call and model.predict), in one run, each row in processes of its own. Prints a
Markdown table on stdout, progress on stderr. Exit 0, or 1 when a row could not be measured.
"""
# `imdb-edge bench`: flags map one to one onto imdb_edge.bench.BenchOptions.
from __future__ import annotations

import sys

from imdb_edge.bench.plan import BenchOptions
from imdb_edge.commands.score import threads_arg
from imdb_edge.errors import UsageError


def add_arguments(p) -> None:
    p.add_argument("paths", nargs="+", metavar="ARTIFACT_OR_DIR",
                   help="X.tflite, X.onnx, X.npz, or a folder of them (with sidecars)")
    p.add_argument("--keras", metavar="MODEL", help="the .keras model to compare with")
    p.add_argument("--reviews", type=int, default=BenchOptions.reviews, metavar="N",
                   help="batch-1 calls per row (default: %(default)s)")
    p.add_argument("--batch", type=int, default=BenchOptions.batch, metavar="N",
                   help="rows per call for the throughput figure (default: %(default)s)")
    p.add_argument("--backend", action="append", metavar="NAME",
                   help="only these backends (repeatable; default: every installed device "
                   "backend for each artifact's format; tensorflow_lite only if named)")
    p.add_argument("--threads", action="append", type=threads_arg, metavar="N",
                   help="interpreter threads; repeat to compare (default: the backend's own)")
    p.add_argument("--python", action="append", metavar="PATH",
                   help="another interpreter (venv) with imdb-edge installed, for backends "
                   "this one lacks, e.g. .venv-tflite214/bin/python (repeatable)")
    p.add_argument("--cold-runs", type=int, default=BenchOptions.cold_runs, metavar="N",
                   help="fresh processes per row for the cold start (default: %(default)s)")
    p.add_argument("--data", help="IMDB source of test reviews, as for `train` (default: "
                   "$IMDB_EDGE_DATA, else the reviews packaged with imdb-edge)")
    p.add_argument("--random-inputs", action="store_true",
                   help="score seeded random rows shaped like reviews, even if data is found")
    p.add_argument("--seed", type=int, default=BenchOptions.seed,
                   help="seed for random rows (default: %(default)s)")
    p.add_argument("--json", metavar="PATH", help="also write the full report as JSON")
    p.add_argument("--markdown", metavar="PATH", help="also write the table as Markdown")


def run(args) -> int:
    from imdb_edge.bench import bench, to_markdown, write_report

    for name in ("reviews", "batch", "cold_runs"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if args.threads and any(t < 1 for t in args.threads):
        raise UsageError("--threads must be at least 1")
    options = BenchOptions(
        paths=tuple(args.paths), keras=args.keras, reviews=args.reviews, batch=args.batch,
        backends=tuple(dict.fromkeys(args.backend)) if args.backend else None,
        threads=tuple(dict.fromkeys(args.threads)) if args.threads else (None,),
        pythons=tuple(args.python or ()), cold_runs=args.cold_runs, data=args.data,
        random_inputs=args.random_inputs, seed=args.seed)
    report = bench(options)
    write_report(report, args.json, args.markdown)
    sys.stdout.write(to_markdown(report))
    sys.stdout.flush()
    return 1 if any(row["errors"] for row in report["rows"]) else 0
