"""Read the config and the weights of a Keras ``.keras`` or ``.h5`` file as data.

- ``.keras`` (Keras 3, or Keras 2 / tf_keras 2.13+): a zip of ``config.json`` and
  ``model.weights.h5``;
- ``.h5`` (Keras 2's default, or Keras 3's legacy format): an HDF5 file whose
  ``model_config`` attribute is the JSON config and whose ``model_weights`` group the weights.

Each reader returns ``(config, keras major version, arrays_of)``, where
``arrays_of(role, layer config)`` gives that layer's arrays in Keras' order. Nothing is
unpickled or deserialised into Python objects.
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np

from imdb_edge.errors import ImdbEdgeError
from imdb_edge.export.family import layer_name
from imdb_edge.helpers import one_line, require


class ModelFileError(ImdbEdgeError, ValueError):
    """A model file that cannot be read: missing, corrupted, or not a Keras model."""


def read_h5(path: Path):
    """(config, major, arrays_of) of a whole-model HDF5 file."""
    h5py = require("h5py", "Reading Keras files", extra="export")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ModelFileError(f"{path.name} is not a readable HDF5 file ({one_line(exc)}); "
                             "re-save the model or copy it again") from None
    with f:
        raw = f.attrs.get("model_config")
        if raw is None:
            raise ModelFileError(f"{path.name} holds weights only, no model config (saved "
                                 "with save_weights); save the whole model with model.save(...)")
        config = read_json(raw, path.name)
        major = keras_major(f.attrs.get("keras_version"), default=2)
        group = f["model_weights"] if "model_weights" in f else f
        arrays = {}
        for layer in config.get("config", {}).get("layers", []):
            name = layer_name(layer)
            if name in group and "weight_names" in group[name].attrs:
                names = [as_text(n) for n in group[name].attrs["weight_names"]]
                arrays[name] = [np.asarray(group[name][n]) for n in names]
    return config, major, _by_layer_name(arrays)


def read_keras_zip(path: Path):
    """(config, major, arrays_of) of a ``.keras`` archive."""
    h5py = require("h5py", "Reading Keras files", extra="export")
    try:
        with zipfile.ZipFile(path) as archive:
            config = read_json(archive.read("config.json"), path.name)
            names = set(archive.namelist())
            metadata = read_json(archive.read("metadata.json"), path.name) \
                if "metadata.json" in names else {}
            weights_blob = archive.read("model.weights.h5")
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ModelFileError(f"{path.name} is not a readable .keras archive ({one_line(exc)}); "
                             "re-save the model or copy it again") from None
    major = keras_major(metadata.get("keras_version"), default=3)
    try:
        f = h5py.File(io.BytesIO(weights_blob), "r")
    except OSError as exc:
        raise ModelFileError(f"{path.name}: its model.weights.h5 is not readable "
                             f"({one_line(exc)})") from None
    paths = _weight_groups(config)
    arrays = {}
    with f:
        for name, group_path in paths.items():
            if group_path in f:
                arrays[name] = _vars(f[group_path])
    return config, major, _by_layer_name(arrays)


def _weight_groups(config: dict) -> dict:
    """{layer name: its group in model.weights.h5}. Keras names each layer's weights group
    after its class in snake case, numbered in layer order (layers/lstm, layers/dense_1),
    whatever the layer's own name is."""
    paths, used = {}, {}
    for layer in config.get("config", {}).get("layers", []):
        base = _snake(layer.get("class_name", ""))
        count = used.get(base, 0)
        used[base] = count + 1
        paths[layer_name(layer)] = f"layers/{base}" + (f"_{count}" if count else "")
    return paths


def _vars(group) -> list:
    """A layer's arrays in creation order: its own vars/0, 1, ..., then its cell's."""
    out = []
    for sub in ("vars", "cell/vars"):
        if sub in group:
            out += [np.asarray(group[sub][k]) for k in sorted(group[sub], key=int)]
    return out


def _by_layer_name(arrays: dict):
    def arrays_of(role, layer):
        return arrays[layer_name(layer)]

    return arrays_of


def read_json(raw, where: str) -> dict:
    """A model config (bytes or text) parsed as JSON; ModelFileError naming ``where``."""
    try:
        return json.loads(as_text(raw))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{where}: its model config is not valid JSON "
                             f"({one_line(exc)})") from None


def as_text(raw) -> str:
    return raw.decode("utf-8") if isinstance(raw, (bytes, np.bytes_)) else str(raw)


def keras_major(version, default: int) -> int:
    """The major version of a saved ``keras_version`` string, or ``default``."""
    match = re.match(r"\s*(\d+)", as_text(version)) if version is not None else None
    return int(match.group(1)) if match else default


def _snake(name: str) -> str:
    # keras.src.utils.naming.to_snake_case
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
