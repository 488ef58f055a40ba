"""`imdb-edge score`: flags map onto imdb_edge.runtime.load and Model.score_texts/score_ids.

Runs on devices: nothing here or in the runtime imports TensorFlow.
"""
from __future__ import annotations

import json
import sys

from imdb_edge.errors import UsageError


def add_parser(sub):
    from imdb_edge.runtime.backends import NAMES

    p = sub.add_parser(
        "score", help="score reviews with an exported artifact (no TensorFlow needed)",
        description="Score reviews with a .tflite, .onnx or .npz artifact (its .json sidecar "
        "and vocabulary beside it). Prints one JSON line per review, in input order: "
        '{"probability", "label", "tokens", "unknown"}. Exit status 2 on bad input.')
    p.add_argument("artifact", help="X.tflite, X.onnx or X.npz")
    p.add_argument("stdin", nargs="?", choices=["-"], metavar="-",
                   help="read reviews from stdin, one per line")
    p.add_argument("--text", action="append", metavar="REVIEW", help="a review (repeatable)")
    p.add_argument("--file", metavar="FILE",
                   help="UTF-8 text, one review per line ('-' for stdin); an empty line is "
                   "scored as an empty review so output line N answers input line N")
    p.add_argument("--ids", metavar="FILE",
                   help="token ids instead of text ('-' for stdin): one review per line, exactly "
                   "max_len (200) whitespace-separated integers; tokens counts ids other than "
                   "padding and START, unknown counts the OOV id 2")
    p.add_argument("--backend", choices=NAMES, help="force a backend (default: the first "
                   "installed for the artifact's format)")
    p.add_argument("--threads", type=int, metavar="N", help="interpreter threads")
    return p


def run(args) -> int:
    sources = [name for name, given in (("--text", args.text), ("--file", args.file),
                                        ("-", args.stdin), ("--ids", args.ids)) if given]
    if len(sources) != 1:
        raise UsageError("give reviews with exactly one of --text, --file, - (stdin) or --ids"
                         + (f" (got {', '.join(sources)})" if sources else ""))

    from imdb_edge.runtime import load
    from imdb_edge.runtime.model import artifact_path
    from imdb_edge.runtime.sidecar import load_sidecar

    # Input is read and checked before the model loads: interpreters print start-up lines
    # on stderr, and a bad input should give the one error line alone.
    if args.ids:
        pre = load_sidecar(artifact_path(args.artifact)).preprocessing
        ids = read_ids(args.ids, pre.max_len, pre.vocab_size)
    else:
        texts = args.text or read_lines(args.file or "-")
        if not texts:
            raise UsageError(f"no reviews in {args.file or 'stdin'}")
    model = load(args.artifact, backend=args.backend, threads=args.threads)
    results = model.score_ids(ids) if args.ids else model.score_texts(texts)
    out = sys.stdout
    for result in results:
        out.write(json.dumps(result) + "\n")
    out.flush()
    return 0


def read_lines(path: str) -> list:
    """One review per line; '\\n' is the only separator (str.splitlines would also split on
    form feeds and U+2028 inside a review) and a trailing '\\r' is dropped."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
        content = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{'stdin' if path == '-' else path}: not UTF-8 text "
                         f"(byte {exc.start})") from None
    lines = content.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_ids(path: str, max_len: int, vocab_size: int):
    """Rows of ids from a text file, each line checked: errors name the 1-based line and
    value number, as an editor shows them."""
    import numpy as np

    where = "stdin" if path == "-" else path
    rows = []
    for number, line in enumerate(read_lines(path), start=1):
        fields = line.split()
        if len(fields) != max_len:
            raise UsageError(f"{where} line {number}: expected {max_len} ids, got {len(fields)}")
        row = []
        for column, field in enumerate(fields, start=1):
            try:
                value = int(field)
            except ValueError:
                raise UsageError(f"{where} line {number}, value {column}: {field[:20]!r} is not "
                                 "an integer") from None
            if not 0 <= value < vocab_size:
                raise UsageError(f"{where} line {number}, value {column}: id {value} is outside "
                                 f"[0, {vocab_size})")
            row.append(value)
        rows.append(row)
    if not rows:
        raise UsageError(f"no rows of ids in {where}")
    return np.array(rows, dtype=np.int32)
