"""Read the config and the weights of a SavedModel folder written by Keras 2's
``model.save(folder)``, as data.

The config is the JSON in ``keras_metadata.pb`` (read with a minimal protobuf wire-format
reader, so no Keras 2 install is needed) and the weights are read from the checkpoint in
``variables/``. The saved graph itself, which may hold traced Python, is never loaded.
"""
from __future__ import annotations

from pathlib import Path

from imdb_edge.export.keras_files import ModelFileError, read_json
from imdb_edge.helpers import one_line, require

# Where each role's arrays sit in the model's ``variables`` list: embedding; LSTM kernel,
# recurrent kernel, bias; Dense kernel, bias (checked against the spec's shapes afterwards).
VARIABLE_SLICES = {"Embedding": (0, 1), "LSTM": (1, 4), "Dense": (4, 6)}
FAMILY_VARIABLES = 6


def read_saved_model(folder: Path):
    """(config, major, arrays_of) of a Keras 2 SavedModel folder."""
    config = _config(folder)
    values = _variables(folder)

    def arrays_of(role, layer):
        start, stop = VARIABLE_SLICES[role]
        if len(values) != FAMILY_VARIABLES:
            raise ValueError(f"{len(values)} variables, the family has {FAMILY_VARIABLES}")
        return values[start:stop]

    return config, 2, arrays_of


def _config(folder: Path) -> dict:
    metadata = folder / "keras_metadata.pb"
    if not (folder / "saved_model.pb").is_file():
        raise ModelFileError(f"{folder.name} is a folder but not a SavedModel (no saved_model.pb)")
    if not metadata.is_file():
        raise ModelFileError(f"{folder.name} is a SavedModel without Keras metadata (written by "
                             "tf.saved_model.save or Keras 3's model.export, not Keras 2's "
                             "model.save); save the Keras model as .keras or .h5 instead")
    config = None
    for node_path, meta in _saved_metadata_nodes(metadata.read_bytes()):
        if node_path == "root":
            config = read_json(meta, metadata.name)
    if config is None or "config" not in config:
        raise ModelFileError(f"{folder.name}: keras_metadata.pb has no model config")
    return _untuple({"class_name": config.get("class_name"), "config": config["config"]})


def _variables(folder: Path) -> list:
    """The model's ``variables`` list, in order, read from its checkpoint."""
    tf = require("tensorflow", "Reading a SavedModel", extra="export", package="TensorFlow")
    from tensorflow.core.protobuf import trackable_object_graph_pb2
    try:
        reader = tf.train.load_checkpoint(str(folder / "variables" / "variables"))
        graph = trackable_object_graph_pb2.TrackableObjectGraph()
        graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    except Exception as exc:  # noqa: BLE001 - the checkpoint reader raises many kinds
        raise ModelFileError(f"{folder.name}: its variables cannot be read "
                             f"({one_line(exc)})") from None
    root = graph.nodes[0]
    listed = next((c.node_id for c in root.children if c.local_name == "variables"), None)
    if listed is None:
        raise ModelFileError(f"{folder.name}: its checkpoint does not list the model's variables")
    try:
        values = []
        for child in sorted(graph.nodes[listed].children, key=lambda c: int(c.local_name)):
            node = graph.nodes[child.node_id]
            key = next(a.checkpoint_key for a in node.attributes if a.name == "VARIABLE_VALUE")
            values.append(reader.get_tensor(key))
    except Exception as exc:  # noqa: BLE001 - a damaged checkpoint fails in many ways
        raise ModelFileError(f"{folder.name}: its variables cannot be read "
                             f"({one_line(exc)})") from None
    return values


def _untuple(value):
    """SavedModel metadata writes tuples as {"class_name": "__tuple__", "items": [...]}."""
    if isinstance(value, dict):
        if value.get("class_name") == "__tuple__" and "items" in value:
            return [_untuple(v) for v in value["items"]]
        return {k: _untuple(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untuple(v) for v in value]
    return value


def _saved_metadata_nodes(data: bytes):
    """(node_path, metadata JSON) of each node of a Keras 2 SavedMetadata protobuf
    (fields: nodes = 1; in a node, node_path = 3, metadata = 5)."""
    for field, value in _proto_fields(data):
        if field == 1 and isinstance(value, bytes):
            node = dict(_proto_fields(value))
            path, meta = node.get(3), node.get(5)
            if isinstance(path, bytes) and isinstance(meta, bytes):
                yield path.decode("utf-8", "replace"), meta


def _proto_fields(data: bytes):
    """(field number, value) of each field of a protobuf message: varints as int,
    length-delimited fields as bytes, fixed-width fields skipped."""
    pos = 0

    def varint():
        nonlocal pos
        shift = result = 0
        while True:
            if pos >= len(data):
                raise ValueError("truncated protobuf")
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result

    try:
        while pos < len(data):
            key = varint()
            field, wire = key >> 3, key & 7
            if wire == 0:
                yield field, varint()
            elif wire == 2:
                size = varint()
                yield field, data[pos:pos + size]
                pos += size
            elif wire in (1, 5):
                pos += 8 if wire == 1 else 4
            else:
                raise ValueError(f"unsupported protobuf wire type {wire}")
    except ValueError as exc:
        raise ModelFileError(f"keras_metadata.pb is not readable ({exc})") from None
