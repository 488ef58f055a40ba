"""Small helpers that train, export, parity and bench all need, each written once.

numpy-free and TensorFlow-free, so the device side can use every one of them.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterable, Optional


def one_line(exc: BaseException, limit: Optional[int] = 300) -> str:
    """An exception as one line of at most ``limit`` characters (None: all of it; its type
    if it says nothing), for messages that must fit on one line of stderr or in a report
    cell; a long one is cut at a word boundary, never mid-word."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    if limit is None or len(message) <= limit:
        return message
    cut = message.rfind(" ", 0, limit)
    return message[:cut if cut > 0 else limit].rstrip(" ,;:") + " ..."


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks (a model or an archive need not fit
    in memory twice)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def installed_versions(packages: Iterable[str]) -> dict:
    """{distribution: version} for those of ``packages`` that are installed, read from
    package metadata: nothing is imported."""
    from importlib import metadata

    versions = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


def pip_hint(extra: Optional[str] = None, package: Optional[str] = None) -> str:
    """The install command to suggest: our extra when there is one, else the package."""
    if extra:
        return f'pip install "imdb-edge[{extra}]"'
    return f"pip install {package}"


def require(module: str, purpose: str, *, extra: Optional[str] = None,
            package: Optional[str] = None):
    """``module`` imported, or an ImportError naming what needs it and how to install it
    ("Reading ONNX files requires onnx. You can install it via pip install ...")."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        name = package or module.split(".")[0]
        raise ImportError(f"{purpose} requires {name}. You can install it via "
                          f"{pip_hint(extra, name)}") from exc


def writable_folder_problem(folder: str | os.PathLike) -> Optional[str]:
    """None when ``folder`` exists or can be made and a file can be created in it; else
    why not, in a few words. Tried for real: permission bits do not tell about read-only
    mounts or quotas."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-").close()
    except OSError as exc:
        return exc.strerror or one_line(exc)
    return None
