"""Score reviews with an exported artifact (no TensorFlow needed).

Score reviews with a .tflite, .onnx or .npz artifact (its .json sidecar and vocabulary
beside it). Prints one JSON line per review, in input order: {"probability", "label",
"tokens", "unknown"}. Exit status 2 on bad input.
"""
# `imdb-edge score`: flags map onto imdb_edge.runtime.load and Model.score_texts/score_ids.
#
# Runs on devices: nothing here or in the runtime imports TensorFlow. Input is read in
# batches, so memory is bounded by a batch and one review, not by the input's size.
from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import stat
import sys

from imdb_edge.errors import UsageError


# The longest review (one line) read, in bytes of UTF-8: a review costs a few copies of its
# text while it is tokenised, and /dev/zero or a file without newlines must not be read
# whole. IMDB's longest review is 14 KB.
MAX_REVIEW_BYTES = 16 << 20
# Reviews scored per batch, and at most this many bytes of text in one: the first batch is
# read and checked before the model loads, so bad small inputs fail before interpreters
# print anything.
BATCH_REVIEWS = 1024
BATCH_BYTES = 64 << 20
# An id as `str(int)` writes it: ASCII digits, no sign but a minus, no leading zeros (some
# tools read 0012 as octal), no underscores, no other scripts' digits.
ID = re.compile(r"0|-?[1-9][0-9]*")
ASCII_SPACE = re.compile(r"[ \t\r\x0b\x0c]+")
MAX_ID_DIGITS = 64  # longer fields are reported by their length, never converted


def threads_arg(value: str) -> int:
    """argparse type for --threads: a whole number within the runtime's bound."""
    from imdb_edge.runtime.backends._common import MAX_THREADS

    if not ID.fullmatch(value) or len(value) > 4 or not 1 <= int(value) <= MAX_THREADS:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_THREADS}, "
                                         f"got {value[:20]!r}")
    return int(value)


def add_verify_key(p) -> None:
    """--verify-key, the same for every verb that loads artifacts (score, parity, doctor)."""
    p.add_argument("--verify-key", metavar="PUB",
                   help="refuse any artifact unless it, its sidecar and vocab.txt are signed "
                   "with the private key of this public key (PEM), checked before any of them "
                   "is parsed (default: $IMDB_EDGE_VERIFY_KEY; needs the [sign] extra)")


def add_arguments(p) -> None:
    from imdb_edge.runtime.backends import NAMES

    p.add_argument("artifact", help="X.tflite, X.onnx or X.npz")
    p.add_argument("stdin", nargs="?", choices=["-"], metavar="-",
                   help="read reviews from stdin, one per line")
    p.add_argument("--text", action="append", metavar="REVIEW", help="a review (repeatable)")
    p.add_argument("--file", metavar="FILE",
                   help="UTF-8 text, one review per line ('-' for stdin), a regular file or a "
                   "pipe; an empty line is scored as an empty review so output line N answers "
                   f"input line N; a line may hold at most {MAX_REVIEW_BYTES >> 20} MiB")
    p.add_argument("--ids", metavar="FILE",
                   help="token ids instead of text ('-' for stdin): one review per line, exactly "
                   "the sidecar's max_len integers separated by spaces or tabs, each written in ASCII "
                   "decimal without leading zeros; tokens counts ids other than padding and "
                   "START, unknown counts the OOV id 2")
    p.add_argument("--backend", choices=NAMES, help="force a backend (default: the first "
                   "installed for the artifact's format)")
    add_verify_key(p)
    p.add_argument("--threads", type=int, metavar="N",
                   help="interpreter threads (1 to 64)")


def run(args) -> int:
    sources = [name for name, given in (("--text", args.text), ("--file", args.file),
                                        ("-", args.stdin), ("--ids", args.ids)) if given]
    if len(sources) != 1:
        raise UsageError("give reviews with exactly one of --text, --file, - (stdin) or --ids"
                         + (f" (got {', '.join(sources)})" if sources else ""))

    from imdb_edge.runtime import load
    from imdb_edge.runtime.backends._common import threads_or_none
    from imdb_edge.runtime.model import artifact_path
    from imdb_edge.runtime.sidecar import load_sidecar

    threads_or_none(args.threads)  # before anything loads: a bad count is bad usage
    from imdb_edge.signing import key_from

    key = key_from(args.verify_key)
    if key is None:
        return _score(args, load, artifact_path, load_sidecar)
    from imdb_edge.signing import verified_copy

    # Verified before any byte of the three files is parsed; the verified copies are loaded.
    with verified_copy(artifact_path(args.artifact), key) as copy:
        args.artifact = str(copy)
        return _score(args, load, artifact_path, load_sidecar)


def _score(args, load, artifact_path, load_sidecar) -> int:

    # The first batch is read and checked before the model loads: interpreters print
    # start-up lines on stderr, and a bad input should give the one error line alone.
    if args.ids:
        pre = load_sidecar(artifact_path(args.artifact)).preprocessing
        batches = id_batches(args.ids, pre.max_len, pre.vocab_size)
    elif args.text:
        batches = iter([check_arguments(args.text)])
    else:
        batches = text_batches(args.file or "-")
    first = next(batches, None)
    if first is None:
        where = _where(args.ids or args.file or "-")
        raise UsageError(f"no rows of ids in {where}" if args.ids else f"no reviews in {where}")
    model = load(args.artifact, backend=args.backend, threads=args.threads)
    from imdb_edge.cli import flush_stdout, write_stdout

    for batch in itertools.chain([first], batches):
        results = model.score_ids(batch) if args.ids else model.score_texts(batch)
        write_stdout("".join(json.dumps(result) + "\n" for result in results))
        flush_stdout()  # each batch as it is scored
    return 0


def check_arguments(texts: list) -> list:
    """--text values as given: Python decodes argv with surrogateescape, so bytes that are
    not UTF-8 arrive as lone surrogates; refuse them as --file does, naming the byte."""
    for number, value in enumerate(texts, start=1):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raw = value.encode("utf-8", "surrogateescape")
            try:
                raw.decode("utf-8")
                offset = 0
            except UnicodeDecodeError as exc:
                offset = exc.start
            raise UsageError(f"--text {number}: not UTF-8 text (byte {offset})") from None
    return texts


def _where(path: str) -> str:
    return "stdin" if path == "-" else path


def open_input(path: str):
    """A binary stream for ``path`` ('-': stdin), refusing what never ends or blocks
    oddly: only a regular file or a pipe (and, for stdin, a socket or a terminal)."""
    if path == "-":
        if sys.stdin is None:
            raise UsageError("stdin is closed; give reviews with --text or --file")
        stream = sys.stdin.buffer
        try:
            info = os.fstat(stream.fileno())
        except (OSError, ValueError):  # not a real descriptor (an in-memory stream)
            return stream
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISFIFO(info.st_mode) or
                stat.S_ISSOCK(info.st_mode) or os.isatty(stream.fileno())):
            raise UsageError("stdin is not a regular file or a pipe (a device such as "
                             "/dev/zero never ends)")
        return stream
    try:
        info = os.stat(path)
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
        kind = "Is a directory" if stat.S_ISDIR(info.st_mode) else "a device or special file"
        raise UsageError(f"{path}: {kind}, not a regular file or a pipe")
    try:
        return open(path, "rb")
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None


def iter_lines(path: str):
    """(line number, text) for each line, decoded and bounded: '\\n' is the only separator
    (str.splitlines would also split on form feeds and U+2028 inside a review) and a
    trailing '\\r' is dropped. A line over MAX_REVIEW_BYTES is refused once that many
    bytes are read, so memory never holds more."""
    where = _where(path)
    stream = open_input(path)
    offset = 0
    try:
        for number in itertools.count(1):
            try:
                raw = stream.readline(MAX_REVIEW_BYTES + 2)
            except OSError as exc:
                raise UsageError(f"cannot read {where} ({exc.strerror or exc})") from None
            if not raw:
                return
            line = raw[:-1] if raw.endswith(b"\n") else raw
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > MAX_REVIEW_BYTES:
                raise UsageError(f"{where} line {number} is over {MAX_REVIEW_BYTES >> 20} MiB; "
                                 "a review must be shorter")
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UsageError(f"{where}: not UTF-8 text (byte {offset + exc.start})") from None
            offset += len(raw)
            yield number, text
    finally:
        if stream is not getattr(sys.stdin, "buffer", None):
            stream.close()


def read_lines(path: str) -> list:
    """Every line of ``path`` (see iter_lines), as a list."""
    return [text for _, text in iter_lines(path)]


def text_batches(path: str):
    """Lists of at most BATCH_REVIEWS reviews and about BATCH_BYTES characters."""
    batch, size = [], 0
    for _, text in iter_lines(path):
        batch.append(text)
        size += len(text)
        if len(batch) >= BATCH_REVIEWS or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def id_batches(path: str, max_len: int, vocab_size: int, batch_rows: int = BATCH_REVIEWS):
    """int32 arrays of at most ``batch_rows`` rows from a text file of ids, each line
    checked: errors name the 1-based line and value number, as an editor shows them."""
    import numpy as np

    rows = []
    for number, line in iter_lines(path):
        rows.append(parse_id_line(line, number, _where(path), max_len, vocab_size))
        if len(rows) >= batch_rows:
            yield np.array(rows, dtype=np.int32)
            rows = []
    if rows:
        yield np.array(rows, dtype=np.int32)


def parse_id_line(line: str, number: int, where: str, max_len: int, vocab_size: int) -> list:
    stripped = line.strip(" \t\r\x0b\x0c")
    fields = ASCII_SPACE.split(stripped) if stripped else []
    if len(fields) != max_len:
        raise UsageError(f"{where} line {number}: expected {max_len} ids, got {len(fields)}")
    row = []
    for column, field in enumerate(fields, start=1):
        if not ID.fullmatch(field):
            raise UsageError(f"{where} line {number}, value {column}: {field[:20]!r} is not "
                             "an integer in ASCII decimal without leading zeros")
        if len(field) > MAX_ID_DIGITS:
            raise UsageError(f"{where} line {number}, value {column}: id {field[:20]}... "
                             f"({len(field)} digits) is outside [0, {vocab_size})")
        value = int(field)
        if not 0 <= value < vocab_size:
            raise UsageError(f"{where} line {number}, value {column}: id {value} is outside "
                             f"[0, {vocab_size})")
        row.append(value)
    return row


def read_ids(path: str, max_len: int, vocab_size: int):
    """Every row of ids in ``path`` as one int32 array (see id_batches)."""
    import numpy as np

    batches = list(id_batches(path, max_len, vocab_size))
    if not batches:
        raise UsageError(f"no rows of ids in {_where(path)}")
    return np.concatenate(batches)
