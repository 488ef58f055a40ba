"""Helpers shared by several test folders."""
from __future__ import annotations

import json
from pathlib import Path

# Imports a device install never has, or that runtime code must never make.
FORBIDDEN = ("tensorflow", "keras", "tf_keras", "tf2onnx", "imdb_edge.train", "imdb_edge.export")

# Python source that makes FORBIDDEN unimportable in the process that runs it.
IMPORT_BLOCKER = f"""
import importlib.abc, sys
BLOCKED = {FORBIDDEN!r}

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError(f"blocked import of {{name}}")

sys.meta_path.insert(0, Blocker())
"""


def edit_sidecar(target: Path, **changes) -> None:
    """Change top-level fields of ``target``'s sidecar, or nested ones as outer__inner; a
    value of ``...`` deletes the field."""
    path = Path(f"{target}.json")
    raw = json.loads(path.read_text())
    for key, value in changes.items():
        if "__" in key:
            outer, inner = key.split("__")
            raw[outer][inner] = value
        elif value is ...:
            del raw[key]
        else:
            raw[key] = value
    path.write_text(json.dumps(raw))
