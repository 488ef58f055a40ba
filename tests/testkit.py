"""Helpers shared by several test folders: import blocking, sidecar edits, a tiny .npz."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

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


def make_npz(path: Path, n_train: int = 200, n_test: int = 200, seed: int = 0) -> Path:
    """Synthetic padded rows with a learnable signal: positive reviews draw their words
    from ids 3..1002, negative ones from 500..1499, so the two classes overlap halfway."""
    rng = np.random.default_rng(seed)

    def split(n):
        y = (np.arange(n) % 2).astype(np.int32)
        rng.shuffle(y)
        x = np.zeros((n, 200), np.int32)
        for i in range(n):
            length = int(rng.integers(20, 200))
            x[i, 0] = 1
            x[i, 1:length] = rng.integers(3, 1003, length - 1) + 497 * (1 - y[i])
        return x, y

    x_train, y_train = split(n_train)
    x_test, y_test = split(n_test)
    np.savez_compressed(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path
