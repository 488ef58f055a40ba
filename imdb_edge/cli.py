"""`imdb-edge <verb>`: each verb maps its flags onto one public function.

Heavy modules are imported inside each verb, so `imdb-edge score` starts without TensorFlow.
Exit status: 0 success, 1 a check failed (parity/validation), 2 bad usage, bad input or an
I/O error (a full disk, a closed stdout), 141 when the reader of stdout went away (as for
tools killed by SIGPIPE, e.g. under `| head -1`; nothing is printed).
"""
from __future__ import annotations

import argparse
import os
import sys

# One module per verb, each with add_parser(subparsers) and run(args) -> exit status.
VERBS = ("train", "export", "score", "parity", "bench", "doctor")
EXIT_BROKEN_PIPE = 128 + 13  # 128 + SIGPIPE


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="imdb-edge", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in VERBS:
        module = importlib.import_module(f"imdb_edge.commands.{verb}")
        module.add_parser(sub).set_defaults(func=module.run)
    return parser


def main(argv=None) -> int:
    if sys.stderr is None:  # started with fd 2 closed: keep going, silently
        sys.stderr = open(os.devnull, "w")
    if sys.stdout is None:  # started with `>&-`: nowhere to write results
        print("imdb-edge: error: stdout is closed; redirect it to a file or /dev/null",
              file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
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
    except Exception as exc:  # noqa: BLE001 - only the domain's and the OS's errors are caught
        from imdb_edge.errors import io_error_line, user_errors

        if isinstance(exc, user_errors(args.verb)):
            message = " ".join(str(exc).split()) or type(exc).__name__
        else:
            message = io_error_line(exc)
            if message is None:
                raise  # a bug: keep its traceback
            if exc.filename == STDOUT:
                message = f"cannot write to stdout: {exc.strerror or exc}"
                _silence_stdout()
        print(f"imdb-edge {args.verb}: error: {message}", file=sys.stderr)
        return 2


STDOUT = "<stdout>"


def write_stdout(text: str) -> None:
    """Write results to stdout; an OSError names stdout, so the CLI can say so."""
    try:
        sys.stdout.write(text)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, STDOUT) from None


def flush_stdout() -> None:
    try:
        sys.stdout.flush()
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
