"""manifest.json: every published artifact of an output folder, read from the sidecars."""
from __future__ import annotations

import datetime
import json
from pathlib import Path

from imdb_edge.atomic import atomic_write_text
from imdb_edge.export.formats import FORMATS
from imdb_edge.export.metadata import VOCAB_FILE
from imdb_edge.runtime.sidecar import SCHEMA_VERSION

MANIFEST = "manifest.json"
_FIELDS = ("format", "quantization", "batch", "size_bytes", "sha256")


def write_manifest(out: Path) -> None:
    entries = []
    for side in sorted(out.glob("*.json")):
        d = _our_sidecar(side)
        if d is None:
            continue
        parity = d.get("parity") or {}
        entries.append(dict(artifact=d["artifact"], sidecar=side.name, format=d["format"],
                            quantization=d["quantization"], batch=d["batch"],
                            size_bytes=d["size_bytes"], sha256=d["sha256"],
                            runtimes=d.get("runtimes", {}),
                            max_abs=parity.get("max_abs"), agreement=parity.get("agreement"),
                            accuracy_delta_points=parity.get("accuracy_delta_points")))
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    atomic_write_text(out / MANIFEST, json.dumps(dict(
        schema_version=SCHEMA_VERSION, created=created, vocabulary=VOCAB_FILE,
        artifacts=entries), indent=2) + "\n")


def _our_sidecar(side: Path):
    """The sidecar's fields, or None for any other JSON in the folder: only "<artifact>.json"
    of a known format holding every field the manifest lists is ours, whatever else is there."""
    if side.name == MANIFEST:
        return None
    try:
        d = json.loads(side.read_text())
    except (OSError, ValueError):
        return None
    if not (isinstance(d, dict) and side.name == f"{d.get('artifact')}.json"
            and all(k in d for k in _FIELDS) and isinstance(d["format"], str)
            and d["format"] in FORMATS):
        return None
    return d
