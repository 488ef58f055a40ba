"""Compare artifacts with the Keras model on every installed backend.

Score the test reviews, edge cases and seeded random rows with the Keras model and with
every artifact on every installed backend that loads it; judge each with the tolerance table
export uses; write report.json, report.md and plots. --make-golden stores the inputs and
Keras outputs for a device, --golden replays them without TensorFlow. Exit 0 all pass, 1 any
fails, 2 bad usage.
"""
# `imdb-edge parity`: flags map one to one onto imdb_edge.parity.ParityOptions and
# make_golden. With --golden nothing here or in imdb_edge.parity imports TensorFlow.
from __future__ import annotations

from imdb_edge.commands.score import add_verify_key
from imdb_edge.errors import UsageError, quiet_tensorflow


def add_arguments(p) -> None:
    from imdb_edge.parity.golden import RANDOM_ROWS
    from imdb_edge.runtime.backends import NAMES

    p.add_argument("artifacts", nargs="*", metavar="ARTIFACT",
                   help="X.tflite, X.onnx, X.npz (or their .json sidecars), or a folder: every "
                   "artifact in its manifest.json and sidecars")
    p.add_argument("--model", help="reference Keras model: .keras, .h5 or a Keras 2 SavedModel "
                   "folder (default: the reference model shipped with imdb-edge)")
    p.add_argument("--data", help="dataset for the test reviews, as for `train` (default: "
                   "$IMDB_EDGE_DATA, else the Keras download; without either: edge rows only)")
    p.add_argument("--limit", type=int, metavar="N",
                   help="only the first N test reviews (default: all 25,000)")
    p.add_argument("--report", metavar="DIR", default="reports/parity",
                   help="folder for report.json, report.md and plots/ (default: %(default)s)")
    p.add_argument("--golden", metavar="FILE",
                   help="replay inputs and Keras outputs stored by --make-golden (no TensorFlow)")
    p.add_argument("--make-golden", metavar="FILE",
                   help="write the inputs, labels and Keras outputs to FILE (.npz) and stop")
    p.add_argument("--backend", action="append", choices=NAMES,
                   help="only this backend; repeat for several (default: every installed one)")
    p.add_argument("--jobs", type=int, metavar="N",
                   help="artifact x backend runs at once (default: the CPU count, at most 4)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="interpreter threads per run, 1 to 64 (default: 1 when runs share "
                   "the CPUs)")
    p.add_argument("--random-rows", type=int, default=RANDOM_ROWS, metavar="N",
                   help="seeded random id rows added to the edge cases (default: %(default)s)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    add_verify_key(p)


def run(args) -> int:
    from imdb_edge import parity
    from imdb_edge.signing import key_from

    if args.make_golden:
        if args.artifacts or args.golden:
            raise UsageError("--make-golden writes a golden file and compares nothing: give no "
                             "ARTIFACT and no --golden")
        if args.limit is not None and args.limit < 1:
            raise UsageError("--limit must be at least 1")
        if args.random_rows < 0:
            raise UsageError("--random-rows must be >= 0")
        quiet_tensorflow()
        parity.make_golden(args.make_golden, model=args.model, data=args.data, limit=args.limit,
                           random_rows=args.random_rows)
        return 0
    if not args.artifacts:
        raise UsageError("name at least one ARTIFACT (a file or a folder of artifacts), "
                         "or --make-golden FILE")
    if not args.golden:
        quiet_tensorflow()
    options = parity.ParityOptions(
        artifacts=tuple(args.artifacts), model=args.model, golden=args.golden, data=args.data,
        limit=args.limit, random_rows=args.random_rows,
        backends=tuple(args.backend) if args.backend else None, jobs=args.jobs,
        threads=args.threads, report=args.report or None, plots=not args.no_plots,
        verify_key=key_from(args.verify_key))
    report = parity.run(options)
    from imdb_edge.report import markdown

    print(markdown(report.summary))
    return report.exit_code
