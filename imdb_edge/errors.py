"""The domain's errors: what the CLI prints as one line with exit status 2.

Everything the project raises on purpose for bad input derives from ``ImdbEdgeError``; the
CLI turns only that (and the operating system's I/O errors, see ``io_error_line``) into one
line, so a real bug keeps its traceback instead of passing for bad usage.
"""
from __future__ import annotations

import errno


class ImdbEdgeError(Exception):
    """Bad input, bad files or a bad environment: one line, exit status 2."""


class UsageError(ImdbEdgeError, ValueError):
    """Bad arguments or input (a ValueError for API callers)."""


class InputError(ImdbEdgeError, ValueError):
    """Ids or texts handed to a Model that it cannot score (a ValueError for API callers)."""


class SignatureError(ImdbEdgeError, ValueError):
    """An artifact is unsigned, signed by another key, or its signature does not verify."""


# Errors of the operating system that say something about the environment (a full disk, a
# missing file, a closed descriptor), not about the code: one line, exit 2, like bad input.
IO_ERRNOS = frozenset(getattr(errno, name) for name in (
    "ENOENT", "EACCES", "EPERM", "EISDIR", "ENOTDIR", "ENOSPC", "EDQUOT", "EROFS", "EIO",
    "EBADF", "EFBIG", "EMFILE", "ENFILE", "ENAMETOOLONG", "ELOOP", "EEXIST", "ENXIO",
    "ETXTBSY", "ENOTEMPTY", "EXDEV", "ENODEV") if hasattr(errno, name))



def io_error_line(exc: BaseException):
    """One line for an OSError of the environment, or None for anything else."""
    if not isinstance(exc, OSError) or exc.errno not in IO_ERRNOS:
        return None
    what = exc.strerror or str(exc)
    where = exc.filename if exc.filename is not None else None
    return f"{where}: {what}" if where is not None else what


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ start-up chatter off the terminal for CLI verbs that use it.
    Called by the command, not at import, so library users keep their own settings."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
