"""`imdb-edge <verb>`: each verb maps its flags onto one public function.

Heavy modules are imported inside each verb, so `imdb-edge score` starts without TensorFlow.
Exit status: 0 success, 1 a check failed (parity/validation), 2 bad usage or bad input.
"""
from __future__ import annotations

import argparse
import sys

# One module per verb, each with add_parser(subparsers) and run(args) -> exit status.
VERBS = ("train", "export", "score", "parity", "bench")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="imdb-edge", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in VERBS:
        module = importlib.import_module(f"imdb_edge.commands.{verb}")
        module.add_parser(sub).set_defaults(func=module.run)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("imdb-edge: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # expected failures become one line and exit 2
        if not _is_user_error(exc):
            raise
        print(f"imdb-edge {args.verb}: error: {exc}", file=sys.stderr)
        return 2


def _is_user_error(exc: Exception) -> bool:
    from imdb_edge.errors import user_errors

    return isinstance(exc, user_errors())


if __name__ == "__main__":
    sys.exit(main())
