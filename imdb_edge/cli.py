"""`imdb-edge <verb>`: each verb maps its flags onto one public function.

Heavy modules are imported inside each verb, so `imdb-edge score` starts without TensorFlow.
Exit status: 0 success, 1 a check failed (parity/validation), 2 bad usage, bad input or an
I/O error (a full disk, a closed stdout), 141 when the reader of stdout went away (as for
tools killed by SIGPIPE, e.g. under `| head -1`; nothing is printed).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys

from imdb_edge.errors import ImdbEdgeError, io_error_line
from imdb_edge.helpers import one_line

# One module per verb, each with add_arguments(parser) and run(args) -> exit status; its
# docstring is the verb's help: a summary line, then the description.
VERBS = ("train", "export", "score", "parity", "bench", "doctor")
EXIT_BROKEN_PIPE = 128 + 13  # 128 + SIGPIPE


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The parser with ``verb``'s flags (every verb's, when None). The others are listed by
    name and help only: a device verb never imports the exporter's option tables."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="imdb-edge", description="Train the IMDB attention-LSTM, export it to TFLite, ONNX "
        "and numpy artifacts, score reviews on small devices, and prove parity with Keras.")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for name in VERBS:
        module = importlib.import_module(f"imdb_edge.commands.{name}")
        summary, _, description = module.__doc__.partition("\n\n")
        if verb is None or name == verb:
            p = sub.add_parser(name, help=summary, description=" ".join(description.split()))
            module.add_arguments(p)
            p.set_defaults(func=module.run)
        else:
            sub.add_parser(name, help=summary)
    return parser


def main(argv=None) -> int:
    if sys.stderr is None:  # started with fd 2 closed: keep going, silently
        sys.stderr = open(os.devnull, "w")
    if sys.stdout is None:  # started with `>&-`: nowhere to write results
        print("imdb-edge: error: stdout is closed; redirect it to a file or /dev/null",
              file=sys.stderr)
        return 2
    argv = sys.argv[1:] if argv is None else list(argv)
    verb = argv[0] if argv and argv[0] in VERBS else ""
    args = build_parser(verb).parse_args(argv)
    try:
        status = args.func(args)
        flush_stdout()  # a full disk or a closed pipe shows here, not at exit
        return status
    except KeyboardInterrupt:
        print("imdb-edge: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except ImdbEdgeError as exc:
        message = one_line(exc, limit=None)
    except OSError as exc:
        message = io_error_line(exc)
        if message is None:
            raise  # not the environment's: a bug, keep its traceback
        if exc.filename == STDOUT:
            message = f"cannot write to stdout: {exc.strerror or exc}"
            _silence_stdout()
    print(f"imdb-edge {args.verb}: error: {message}", file=sys.stderr)
    return 2


STDOUT = "<stdout>"


def write_stdout(text: str) -> None:
    """Write results to stdout; an OSError names stdout, so the CLI can say so."""
    with _naming_stdout():
        sys.stdout.write(text)


def flush_stdout() -> None:
    with _naming_stdout():
        sys.stdout.flush()


@contextlib.contextmanager
def _naming_stdout():
    """An OSError (a full disk, a closed descriptor) as one whose file is stdout; a broken
    pipe passes unchanged (the reader went away: exit quietly)."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, STDOUT) from None


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush raises nothing more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    sys.stdout = open(os.devnull, "w")


if __name__ == "__main__":
    sys.exit(main())
