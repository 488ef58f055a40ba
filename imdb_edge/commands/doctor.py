"""Check that this device can run artifacts (no TensorFlow needed).

Print the platform, Python, numpy and the installed backends with their versions; for each
ARTIFACT and each installed backend of its format, check its sidecar's ops against the
runtime, load it, and replay the golden file beside it (X.golden.npz, else golden.npz in its
folder) with the tolerance table `parity` uses. Exit 0 when every artifact works, 1
otherwise, 2 bad usage.
"""
# `imdb-edge doctor`: flags map onto imdb_edge.doctor.diagnose; prints its report.
#
# Runs on devices: nothing here or in the imdb_edge.doctor modules imports TensorFlow.
from __future__ import annotations

import json

from imdb_edge.commands.score import add_verify_key


def add_arguments(p) -> None:
    from imdb_edge.runtime.backends import NAMES

    p.add_argument("artifacts", nargs="*", metavar="ARTIFACT",
                   help="X.tflite, X.onnx, X.npz (or their .json sidecars), or a folder of them")
    p.add_argument("--backend", action="append", choices=NAMES,
                   help="only this backend; repeat for several (default: every installed one)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    add_verify_key(p)


def run(args) -> int:
    from imdb_edge.doctor import diagnose
    from imdb_edge.doctor_render import render
    from imdb_edge.signing import key_from

    report = diagnose(args.artifacts, backends=args.backend,
                      verify_key=key_from(args.verify_key))
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0 if report["status"] == "ok" else 1
