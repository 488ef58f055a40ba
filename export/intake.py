"""Read a user's saved model without running code from it, and check it is in the family.

Every file kind Keras writes is read the same way: the architecture from the file's JSON
config, the weights from the file's own arrays, then the architecture is checked against
the family (layers found by type and by wiring, never by name) before anything is built:

- ``.keras`` (Keras 3, or Keras 2 / tf_keras 2.13+): a zip of ``config.json`` and
  ``model.weights.h5``;
- ``.h5`` (Keras 2's default, or Keras 3's legacy format): an HDF5 file whose
  ``model_config`` attribute is the JSON config and whose ``model_weights`` group the weights;
- a SavedModel folder written by Keras 2's ``model.save(folder)``: the config is the JSON in
  ``keras_metadata.pb`` and the weights are read from the checkpoint in ``variables/``.
  The saved graph itself, which may hold traced Python, is never loaded.

Nothing is unpickled, deserialised into Python objects or executed: a Lambda layer or a
custom object is recognised by its config and refused. The model is then rebuilt in Keras 3
from the spec (train/model.py) with the file's weights; its gates are the file's own (Keras
2's hard_sigmoid stays Keras 2's), so the rebuild is the reference artifacts are checked
against.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np

from imdb_edge.errors import ImdbEdgeError
from imdb_edge.export.graph import Weights
from imdb_edge.spec import GATES, FamilyError, ModelSpec

# The classes of the family; Dropout is the identity at inference and may sit anywhere.
FAMILY_CLASSES = ("InputLayer", "Embedding", "LSTM", "Dot", "Dense")
PASS_THROUGH = ("Dropout",)
KERAS2_HARD_SIGMOID_NAMES = ("imdb_edge>keras2_hard_sigmoid",)  # train/model.py's, by name


class ModelFileError(ImdbEdgeError, ValueError):
    """A model file that cannot be read: missing, corrupted, or not a Keras model."""


@dataclasses.dataclass
class LoadedModel:
    """A family member read from a file: its spec, its weights, where it came from."""
    spec: ModelSpec
    weights: Weights
    source: dict          # kind, file name, sha256, Keras version, layer names found
    _keras: object = dataclasses.field(default=None, repr=False)

    def keras_model(self):
        """The model rebuilt in Keras 3 from the spec, with the file's weights and gates."""
        if self._keras is None:
            from imdb_edge.train.model import build_model

            model = build_model(spec=self.spec)
            model.set_weights([self.weights.embedding, self.weights.kernel,
                               self.weights.recurrent_kernel, self.weights.bias,
                               self.weights.dense_kernel, self.weights.dense_bias])
            self._keras = model
        return self._keras

    def predict(self, ids: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Probabilities (N,) of the model's own framework numerics (the spec's gates)."""
        return self.keras_model().predict(np.asarray(ids, np.int32), batch_size=batch_size,
                                          verbose=0)[:, 0]


def load(path: str | Path) -> LoadedModel:
    """Read, check and return the model at ``path``. Raises FamilyError (out of the family)
    or ModelFileError (unreadable), each one line."""
    p = Path(path)
    if p.is_dir():
        config, major, arrays_of = _read_saved_model(p)
        kind = "savedmodel"
    elif not p.exists():
        raise ModelFileError(f"model {p} not found; train one with `imdb-edge train` or "
                             "pass --model")
    elif p.suffix == ".keras":
        config, major, arrays_of = _read_keras_zip(p)
        kind = "keras"
    elif p.suffix in (".h5", ".hdf5"):
        config, major, arrays_of = _read_h5(p)
        kind = "h5"
    else:
        raise ModelFileError(f"{p}: not a Keras model file; pass a .keras or .h5 file or a "
                             "SavedModel folder (never a pickle)")
    spec, roles = check_config(config, major, where=p.name)
    weights = _weights(arrays_of, roles, spec, p.name)
    source = dict(kind=kind, file=p.name, sha256=_sha256(p), keras_version=major,
                  layers={role: _name(layer) for role, layer in roles.items()})
    return LoadedModel(spec, weights, source)


def from_keras(model) -> LoadedModel:
    """A Keras 3 model object already in memory (a test, a notebook), read the same way."""
    config = {"class_name": "Functional", "config": model.get_config()}
    spec, roles = check_config(config, 3, where=f"model {model.name!r}")

    def arrays_of(role, layer):
        return [np.asarray(w) for w in model.get_layer(layer["name"]).get_weights()]

    weights = _weights(arrays_of, roles, spec, f"model {model.name!r}")
    return LoadedModel(spec, weights, dict(kind="in-memory", keras_version=3), model)


# ---------------------------------------------------------------------------- the family

def check_config(config: dict, keras_major: int, where: str):
    """(ModelSpec, {role: layer config}) for a functional model's config, or FamilyError
    naming every way it differs from the family."""
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise FamilyError(where, ["its config holds no model"])
    kind = config.get("class_name")
    if kind == "Sequential":
        raise FamilyError(where, ["it is a Sequential model; the family's Dot takes two "
                                  "inputs, so it is built with the functional API"])
    if kind not in ("Functional", "Model"):
        raise FamilyError(where, [f"its top level is a {kind!r} (a subclassed or custom "
                                  "model, whose code is never run), not a functional model"])
    layers = config["config"].get("layers") or []
    by_name = {layer.get("name") or layer.get("config", {}).get("name"): layer
               for layer in layers}
    diffs, roles = [], {}
    by_class: dict = {}
    for layer in layers:
        cls, name = layer.get("class_name"), _name(layer)
        custom = _custom(layer)
        if cls == "Lambda":
            diffs.append(f"layer {name!r} is a Lambda (Python code, which is never run)")
        elif custom:
            diffs.append(f"layer {name!r} is a custom object ({custom})")
        elif cls not in FAMILY_CLASSES + PASS_THROUGH:
            diffs.append(f"layer {name!r} is a {cls}, which the family does not have")
        else:
            by_class.setdefault(cls, []).append(layer)
    for cls in FAMILY_CLASSES:
        found = by_class.get(cls, [])
        if len(found) != 1:
            names = ", ".join(repr(_name(layer)) for layer in found)
            diffs.append(f"{len(found)} {cls} layers{f' ({names})' if names else ''}, "
                         "the family has 1")
        else:
            roles[cls] = found[0]
    if diffs:
        raise FamilyError(where, diffs)

    def source(layer) -> list:
        """Layers feeding ``layer``, looking through Dropouts."""
        out = []
        for inbound in _inbound(layer):
            while inbound in by_name and by_name[inbound].get("class_name") in PASS_THROUGH:
                inner = _inbound(by_name[inbound])
                inbound = inner[0] if inner else None
            out.append(inbound)
        return out

    inp, emb, lstm, dot, dense = (roles[c]["config"] for c in FAMILY_CLASSES)
    names = {c: _name(roles[c]) for c in FAMILY_CLASSES}
    shape = inp.get("batch_shape") or inp.get("batch_input_shape") or inp.get("shape")
    length = shape[1] if isinstance(shape, (list, tuple)) and len(shape) == 2 else None
    units = lstm.get("units")
    if length is None:
        diffs.append(f"input {names['InputLayer']!r} has shape {shape}, expected (None, length)")
    if source(roles["Embedding"]) != [names["InputLayer"]]:
        diffs.append(f"Embedding {names['Embedding']!r} does not read the input ids")
    if emb.get("mask_zero"):
        diffs.append("Embedding has mask_zero=True (the family pads with id 0 unmasked)")
    if source(roles["LSTM"]) != [names["Embedding"]]:
        diffs.append(f"LSTM {names['LSTM']!r} does not read the embeddings")
    if lstm.get("activation") != "softmax":
        diffs.append(f"LSTM activation is {_activation(lstm.get('activation'))!r}, "
                     "not 'softmax' (the final state is read as attention weights)")
    gate, gate_diff = _gate(lstm.get("recurrent_activation"), keras_major)
    if gate_diff:
        diffs.append(gate_diff)
    for flag in ("return_sequences", "return_state", "go_backwards", "stateful", "time_major"):
        if lstm.get(flag):
            diffs.append(f"LSTM has {flag}=True")
    if lstm.get("use_bias") is False:
        diffs.append("LSTM has use_bias=False")
    if length is not None and units != length:
        diffs.append(f"LSTM units ({units}) differ from the sequence length ({length}); "
                     "the final state holds one attention weight per step")
    if sorted(source(roles["Dot"]), key=str) != sorted([names["Embedding"], names["LSTM"]], key=str):
        diffs.append(f"Dot {names['Dot']!r} does not take the embeddings and the LSTM state")
    axes = dot.get("axes")
    if axes not in (1, [1, 1], (1, 1)) or dot.get("normalize"):
        diffs.append(f"Dot has axes={axes!r}, normalize={dot.get('normalize')!r}; "
                     "the family has axes=1 and no normalisation")
    if source(roles["Dense"]) != [names["Dot"]]:
        diffs.append(f"Dense {names['Dense']!r} does not read the attention-pooled embeddings")
    if dense.get("units") != 1 or dense.get("activation") != "sigmoid" or \
            dense.get("use_bias") is False:
        diffs.append(f"Dense head is units={dense.get('units')!r}, "
                     f"activation={_activation(dense.get('activation'))!r}"
                     f"{', use_bias=False' if dense.get('use_bias') is False else ''}; "
                     "the family ends in Dense(1, sigmoid) with a bias")
    outputs = _inbound({"inbound_nodes": [config["config"].get("output_layers")]})
    outputs = [by_name[o] for o in outputs if o in by_name]
    while outputs and outputs[0].get("class_name") in PASS_THROUGH:
        outputs = [by_name.get(n) for n in _inbound(outputs[0])]
    if len(outputs) != 1 or outputs[0] is None or _name(outputs[0]) != names["Dense"]:
        diffs.append(f"the model's output is not the Dense {names['Dense']!r} alone")
    vocab, embed = emb.get("input_dim"), emb.get("output_dim")
    if diffs:
        raise FamilyError(where, diffs)
    try:
        spec = ModelSpec(length=int(length), vocab_size=int(vocab), embed_dim=int(embed), gate=gate)
    except (TypeError, ValueError) as exc:
        raise FamilyError(where, [str(exc)]) from None
    return spec, roles


def _name(layer: dict) -> str:
    return layer.get("name") or layer.get("config", {}).get("name")


def _custom(layer: dict) -> str:
    """Why ``layer`` is a user-registered or user-defined object, or ''."""
    module = layer.get("module")
    if module is not None and not str(module).startswith(("keras", "tf_keras")):
        return f"module {module!r}"
    registered = layer.get("registered_name")
    if registered and registered != layer.get("class_name"):
        return f"registered as {registered!r}"
    return ""


def _inbound(layer: dict) -> list:
    """Names of the layers whose outputs ``layer`` takes, in order, in both Keras 2's
    ([[name, node, tensor, kwargs], ...]) and Keras 3's (``keras_history``) formats."""
    names = []

    def walk(value):
        if isinstance(value, dict):
            history = value.get("config", {}).get("keras_history") \
                if isinstance(value.get("config"), dict) else None
            if history:
                names.append(history[0])
                return
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
                names.append(value[0])
                return
            for item in value:
                walk(item)

    walk(layer.get("inbound_nodes") or [])
    return names


def _activation(value) -> str:
    if isinstance(value, dict):
        config = value.get("config")
        return config if isinstance(config, str) else str(value.get("class_name"))
    return str(value)


def _gate(value, keras_major: int):
    """(gate, difference) for an LSTM's recurrent_activation as saved."""
    name = _activation(value)
    if name == "sigmoid":
        return "sigmoid", ""
    if name in KERAS2_HARD_SIGMOID_NAMES or (name == "hard_sigmoid" and keras_major < 3):
        return "hard_sigmoid", ""
    if name == "hard_sigmoid":
        return "", ("LSTM recurrent_activation is Keras 3's hard_sigmoid, relu6(x + 3) / 6, "
                    f"not one of the family's gates ({'; '.join(f'{k}: {v}' for k, v in GATES.items())})")
    return "", (f"LSTM recurrent_activation is {name!r}, not one of the family's gates "
                f"({', '.join(GATES)})")


def _weights(arrays_of, roles: dict, spec: ModelSpec, where: str) -> Weights:
    try:
        embedding, = arrays_of("Embedding", roles["Embedding"])
        kernel, recurrent, bias = arrays_of("LSTM", roles["LSTM"])
        dense_kernel, dense_bias = arrays_of("Dense", roles["Dense"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{where}: its weights do not match its config "
                         f"({' '.join(str(exc).split()) or type(exc).__name__})") from None
    weights = Weights(*(np.asarray(a, np.float32) for a in
                        (embedding, kernel, recurrent, bias, dense_kernel, dense_bias)))
    wrong = [f"{name} {tuple(a.shape)} (expected {spec.shapes()[name]})"
             for name, a in weights.as_arrays().items() if tuple(a.shape) != spec.shapes()[name]]
    if wrong:
        raise ModelFileError(f"{where}: its weights disagree with its config: {', '.join(wrong)}")
    bad = [name for name, a in weights.as_arrays().items() if not np.isfinite(a).all()]
    if bad:
        raise ModelFileError(f"{where}: weights {', '.join(bad)} hold NaN or infinity")
    return weights


# ---------------------------------------------------------------------------- file kinds

def _read_h5(path: Path):
    h5py = _h5py()
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ModelFileError(f"{path.name} is not a readable HDF5 file ({_short(exc)}); "
                         "re-save the model or copy it again") from None
    with f:
        raw = f.attrs.get("model_config")
        if raw is None:
            raise ModelFileError(f"{path.name} holds weights only, no model config (saved with "
                             "save_weights); save the whole model with model.save(...)")
        config = _json(raw, path.name)
        major = _major(f.attrs.get("keras_version"), default=2)
        group = f["model_weights"] if "model_weights" in f else f
        arrays = {}
        for layer in config.get("config", {}).get("layers", []):
            name = _name(layer)
            if name in group and "weight_names" in group[name].attrs:
                names = [_text(n) for n in group[name].attrs["weight_names"]]
                arrays[name] = [np.asarray(group[name][n]) for n in names]

    def arrays_of(role, layer):
        return arrays[_name(layer)]

    return config, major, arrays_of


def _read_keras_zip(path: Path):
    h5py = _h5py()
    try:
        with zipfile.ZipFile(path) as archive:
            config = _json(archive.read("config.json"), path.name)
            names = set(archive.namelist())
            metadata = _json(archive.read("metadata.json"), path.name) \
                if "metadata.json" in names else {}
            weights_blob = archive.read("model.weights.h5")
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ModelFileError(f"{path.name} is not a readable .keras archive ({_short(exc)}); "
                         "re-save the model or copy it again") from None
    major = _major(metadata.get("keras_version"), default=3)
    try:
        f = h5py.File(io.BytesIO(weights_blob), "r")
    except OSError as exc:
        raise ModelFileError(f"{path.name}: its model.weights.h5 is not readable ({_short(exc)})") \
            from None
    # Keras names each layer's weights group after its class in snake case, numbered in
    # layer order (layers/lstm, layers/dense_1), whatever the layer's own name is.
    paths, used = {}, {}
    for layer in config.get("config", {}).get("layers", []):
        base = _snake(layer.get("class_name", ""))
        count = used.get(base, 0)
        used[base] = count + 1
        paths[_name(layer)] = f"layers/{base}" + (f"_{count}" if count else "")
    arrays = {}
    with f:
        for name, group_path in paths.items():
            if group_path in f:
                arrays[name] = _vars(f[group_path])

    def arrays_of(role, layer):
        return arrays[_name(layer)]

    return config, major, arrays_of


def _vars(group) -> list:
    """A layer's arrays in creation order: its own vars/0, 1, ..., then its cell's."""
    out = []
    for sub in ("vars", "cell/vars"):
        if sub in group:
            out += [np.asarray(group[sub][k]) for k in sorted(group[sub], key=int)]
    return out


def _read_saved_model(folder: Path):
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
            config = _json(meta, metadata.name)
    if config is None or "config" not in config:
        raise ModelFileError(f"{folder.name}: keras_metadata.pb has no model config")
    config = _untuple({"class_name": config.get("class_name"), "config": config["config"]})
    try:
        import tensorflow as tf
        from tensorflow.core.protobuf import trackable_object_graph_pb2
    except ImportError as exc:
        raise ImportError("Reading a SavedModel requires TensorFlow. You can install it via "
                          "pip install 'imdb-edge[export]'") from exc
    try:
        reader = tf.train.load_checkpoint(str(folder / "variables" / "variables"))
        graph = trackable_object_graph_pb2.TrackableObjectGraph()
        graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    except Exception as exc:  # noqa: BLE001 - the checkpoint reader raises many kinds
        raise ModelFileError(f"{folder.name}: its variables cannot be read ({_short(exc)})") from None
    # The model's ``variables`` list, in order: embedding; LSTM kernel, recurrent kernel,
    # bias; Dense kernel, bias (checked against the spec's shapes afterwards).
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
        raise ModelFileError(f"{folder.name}: its variables cannot be read ({_short(exc)})") \
            from None

    def arrays_of(role, layer):
        split = {"Embedding": (0, 1), "LSTM": (1, 4), "Dense": (4, 6)}[role]
        if len(values) != 6:
            raise ValueError(f"{len(values)} variables, the family has 6")
        return values[split[0]:split[1]]

    return config, 2, arrays_of


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
    """(node_path, metadata JSON) of each node of a Keras 2 SavedMetadata protobuf, read with
    a minimal wire-format reader (fields: nodes = 1; in a node, node_path = 3, metadata = 5),
    so reading it needs no Keras 2 install."""
    for field, value in _proto_fields(data):
        if field == 1 and isinstance(value, bytes):
            node = dict(_proto_fields(value))
            path, meta = node.get(3), node.get(5)
            if isinstance(path, bytes) and isinstance(meta, bytes):
                yield path.decode("utf-8", "replace"), meta


def _proto_fields(data: bytes):
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


# ---------------------------------------------------------------------------- helpers

def _h5py():
    try:
        import h5py
    except ImportError as exc:
        raise ImportError("Reading Keras files requires h5py. You can install it via "
                          "pip install 'imdb-edge[export]'") from exc
    return h5py


def _json(raw, where: str) -> dict:
    try:
        return json.loads(_text(raw))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{where}: its model config is not valid JSON ({_short(exc)})") from None


def _text(raw) -> str:
    return raw.decode("utf-8") if isinstance(raw, (bytes, np.bytes_)) else str(raw)


def _major(version, default: int) -> int:
    match = re.match(r"\s*(\d+)", _text(version)) if version is not None else None
    return int(match.group(1)) if match else default


def _snake(name: str) -> str:
    # keras.src.utils.naming.to_snake_case
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _sha256(path: Path) -> str:
    """Of the file, or of a SavedModel folder's files (names and bytes, sorted)."""
    digest = hashlib.sha256()
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(file.relative_to(path)).encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    else:
        digest.update(path.read_bytes())
    return digest.hexdigest()
