"""Which exceptions mean "bad input" (one line, exit 2) rather than a bug (traceback)."""
from __future__ import annotations


class UsageError(Exception):
    """Bad arguments or input: printed as one line, exit status 2."""


def user_errors() -> tuple:
    # ArtifactError and DataError subclass ValueError/Exception in modules the CLI may not
    # have imported; DataError lives beside TensorFlow code, so it is looked up only if loaded.
    import sys

    errors = [UsageError, ValueError, FileNotFoundError, PermissionError, IsADirectoryError,
              NotADirectoryError]
    data = sys.modules.get("imdb_edge.train.data")
    if data is not None:
        errors.append(data.DataError)
    return tuple(errors)


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ start-up chatter off the terminal for CLI verbs that use it.
    Called by the command, not at import, so library users keep their own settings."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
