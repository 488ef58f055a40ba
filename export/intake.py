"""Read a user's saved model without running code from it, and check it is in the family.

Every file kind Keras writes is read the same way: the architecture from the file's JSON
config, the weights from the file's own arrays, then the architecture is checked against
the family (layers found by type and by wiring, never by name; export/family.py) before
anything is built. The readers: ``.keras`` and ``.h5`` files in export/keras_files.py, a
SavedModel folder written by Keras 2's ``model.save(folder)`` in export/saved_model_files.py
(its saved graph, which may hold traced Python, is never loaded).

Nothing is unpickled, deserialised into Python objects or executed: a Lambda layer or a
custom object is recognised by its config and refused. The model is then rebuilt in Keras 3
from the spec (train/model.py) with the file's weights; its gates are the file's own (Keras
2's hard_sigmoid stays Keras 2's), so the rebuild is the reference artifacts are checked
against.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from imdb_edge.export.family import check_config, layer_name
from imdb_edge.export.graph import Weights
from imdb_edge.export.keras_files import ModelFileError, read_h5, read_keras_zip
from imdb_edge.export.saved_model_files import read_saved_model
from imdb_edge.helpers import file_sha256, one_line
from imdb_edge.spec import ModelSpec

__all__ = ["LoadedModel", "ModelFileError", "check_config", "from_keras", "load"]


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
        config, major, arrays_of = read_saved_model(p)
        kind = "savedmodel"
    elif not p.exists():
        raise ModelFileError(f"model {p} not found; train one with `imdb-edge train` or "
                             "pass --model")
    elif p.suffix == ".keras":
        config, major, arrays_of = read_keras_zip(p)
        kind = "keras"
    elif p.suffix in (".h5", ".hdf5"):
        config, major, arrays_of = read_h5(p)
        kind = "h5"
    else:
        raise ModelFileError(f"{p}: not a Keras model file; pass a .keras or .h5 file or a "
                             "SavedModel folder (never a pickle)")
    spec, roles = check_config(config, major, where=p.name)
    weights = _weights(arrays_of, roles, spec, p.name)
    source = dict(kind=kind, file=p.name, sha256=_sha256(p), keras_version=major,
                  layers={role: layer_name(layer) for role, layer in roles.items()})
    return LoadedModel(spec, weights, source)


def from_keras(model) -> LoadedModel:
    """A Keras 3 model object already in memory (a test, a notebook), read the same way."""
    config = {"class_name": "Functional", "config": model.get_config()}
    spec, roles = check_config(config, 3, where=f"model {model.name!r}")

    def arrays_of(role, layer):
        return [np.asarray(w) for w in model.get_layer(layer["name"]).get_weights()]

    weights = _weights(arrays_of, roles, spec, f"model {model.name!r}")
    return LoadedModel(spec, weights, dict(kind="in-memory", keras_version=3), model)


def _weights(arrays_of, roles: dict, spec: ModelSpec, where: str) -> Weights:
    try:
        embedding, = arrays_of("Embedding", roles["Embedding"])
        kernel, recurrent, bias = arrays_of("LSTM", roles["LSTM"])
        dense_kernel, dense_bias = arrays_of("Dense", roles["Dense"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{where}: its weights do not match its config "
                             f"({one_line(exc)})") from None
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


def _sha256(path: Path) -> str:
    """Of the file, or of a SavedModel folder's files (names and bytes, sorted)."""
    if not path.is_dir():
        return file_sha256(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode() + b"\0")
        digest.update(bytes.fromhex(file_sha256(file)))
    return digest.hexdigest()
