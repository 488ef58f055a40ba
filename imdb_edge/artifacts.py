"""Which artifacts a command was pointed at: the one discovery rule of `parity` and `bench`.

TensorFlow-free: devices run both commands on exported files.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from imdb_edge.errors import UsageError
from imdb_edge.runtime.model import artifact_path
from imdb_edge.runtime.sidecar import EXTENSIONS
from imdb_edge.runtime.sidecar import load_sidecar
from imdb_edge.tolerances import TOLERANCES


def find_artifacts(paths, *, read_files: bool = True) -> list:
    """Artifact paths from files (``X.tflite`` or its sidecar ``X.tflite.json``) and folders
    (every artifact in the folder's manifest.json and every sidecar there), each listed
    once. A folder's artifacts come ordered by format, quantization and batch, so tables
    read the same on every run. Raises UsageError for a path that does not exist or a
    folder without artifacts.

    ``read_files=False`` (a verify key was given: nothing unverified may be parsed): a
    folder's artifacts are named by its sidecars' file names alone, ordered by format and
    name, and no file is read."""
    found = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            in_folder = _folder_artifacts(path, read_manifest=read_files)
            if not in_folder:
                raise UsageError(f"{path}: no artifacts (no manifest.json entries, no sidecars); "
                                 "export some with `imdb-edge export --out DIR`")
            found.extend(sorted(in_folder, key=_order if read_files else _order_by_name))
            continue
        artifact = artifact_path(path)
        if not artifact.is_file():
            raise UsageError(f"artifact {artifact} not found" + (
                "" if artifact.suffix in EXTENSIONS.values() else
                f" (artifacts end in {', '.join(EXTENSIONS.values())})"))
        found.append(artifact)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise UsageError("no artifacts given")
    return unique


def _folder_artifacts(folder: Path, read_manifest: bool = True) -> list:
    names = []
    manifest = folder / "manifest.json"
    if read_manifest and manifest.is_file():
        try:
            entries = json.loads(manifest.read_text(encoding="utf-8")).get("artifacts", [])
            names.extend(e["artifact"] for e in entries)
        except (OSError, ValueError, AttributeError, TypeError, KeyError) as exc:
            raise UsageError(f"{manifest} is not a readable manifest "
                             f"({type(exc).__name__}: {exc})") from None
    for side in sorted(folder.glob("*.json")):
        artifact = side.with_suffix("")
        if side.name != "manifest.json" and artifact.suffix in EXTENSIONS.values():
            names.append(artifact.name)
    paths = []
    for name in dict.fromkeys(names):
        path = folder / name
        if not isinstance(name, str) or os.path.basename(name) != name or not path.is_file():
            raise UsageError(f"{folder}: the manifest or a sidecar names artifact {name!r}, "
                             "which is not in the folder")
        paths.append(path)
    return paths


def _order(path: Path):
    """Format (TFLite, ONNX, numpy), then quantization as the tolerance table lists it
    (float first), then batch; an unreadable sidecar sorts last and fails later, loudly."""
    kinds = list(TOLERANCES)
    try:
        side = load_sidecar(path)
        rank = kinds.index(side.quantization) if side.quantization in kinds else len(kinds)
        batch = side.batch or 0
    except (ValueError, OSError):
        rank, batch = len(kinds), 0
    return list(EXTENSIONS.values()).index(path.suffix), rank, batch, path.name


def _order_by_name(path: Path):
    return list(EXTENSIONS.values()).index(path.suffix), path.name
