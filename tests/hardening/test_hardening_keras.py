"""Keras models are loaded safely: `.keras` files only, with safe_mode on, so no Lambda or
other Python code inside a model file runs; .h5 files and pickles are refused before a
byte is read. Checked through imdb_edge.export.pipeline.load_keras_model and through
`imdb-edge export --model X` (exit status 2, one line, nothing written).
"""
from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import pytest

from hardening_kit import cli, one_error_line

keras = pytest.importorskip("keras", reason="the [train] extra (TensorFlow, Keras) is not installed")
pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore:__array__ implementation doesn.t accept a copy")]

from imdb_edge.export.pipeline import load_keras_model  # noqa: E402


class Plant:
    """Unpickling this creates the file ``marker``: proof that a pickle ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def small_model(lambda_layer: bool = False):
    ids = keras.Input((200,), dtype="int32")
    x = keras.layers.Embedding(100, 4)(ids)
    if lambda_layer:
        x = keras.layers.Lambda(lambda t: t * 2)(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(ids, keras.layers.Dense(1, activation="sigmoid")(x))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("keras")
    paths = {"plain": folder / "plain.keras", "lambda": folder / "lambda.keras"}
    small_model().save(paths["plain"])
    small_model(lambda_layer=True).save(paths["lambda"])
    return dict(paths, folder=folder)


def with_config(source: Path, target: Path, edit) -> Path:
    """A copy of a .keras archive with its config.json edited."""
    with zipfile.ZipFile(source) as z:
        members = {name: z.read(name) for name in z.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return target


@pytest.fixture
def spy(monkeypatch):
    """Records every call to keras.models.load_model, then makes it."""
    calls = []
    real = keras.models.load_model

    def load_model(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(keras.models, "load_model", load_model)
    return calls


def test_plain_model_loads_with_safe_mode(files, spy):
    model, sha = load_keras_model(str(files["plain"]))
    assert model.count_params() > 0 and len(sha) == 64
    assert spy == [{"compile": False, "safe_mode": True}]


@pytest.mark.parametrize("suffix", [".h5", ".hdf5", ".pkl", ".pickle", ".npz", ".pb", ".KERAS", ""])
def test_other_formats_are_refused_before_reading(files, spy, tmp_path, suffix):
    """Not even opened: an .h5 model can hold Lambda bytecode, a pickle runs on load."""
    path = tmp_path / f"model{suffix}"
    marker = tmp_path / "pickle-ran"
    path.write_bytes(pickle.dumps(Plant(marker)))
    with pytest.raises(ValueError, match=r"only .keras models are loaded \(not .h5, SavedModel "
                                         r"or pickles\)"):
        load_keras_model(str(path))
    assert spy == [] and not marker.exists()


def test_real_h5_model_is_refused(files, spy, tmp_path):
    path = tmp_path / "model.h5"
    small_model().save(path)  # the legacy format Keras still writes
    with pytest.raises(ValueError, match="only .keras models are loaded"):
        load_keras_model(str(path))
    assert spy == []


def test_pickle_named_keras_is_never_unpickled(files, tmp_path):
    path, marker = tmp_path / "model.keras", tmp_path / "pickle-ran"
    path.write_bytes(pickle.dumps(Plant(marker)))
    with pytest.raises(ValueError, match="model.keras is not a loadable reference model"):
        load_keras_model(str(path))
    assert not marker.exists()


def test_lambda_layer_is_refused_with_a_clear_message(files):
    with pytest.raises(ValueError, match=r"lambda.keras is not a loadable reference model "
                                         r"\(Requested the deserialization of a `Lambda` layer"):
        load_keras_model(str(files["lambda"]))
    try:
        load_keras_model(str(files["lambda"]))
    except ValueError as exc:
        assert "arbitrary code execution" in str(exc) and "\n" not in str(exc)


def _activation(payload):
    def edit(config):
        dense = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense")
        dense["config"]["activation"] = payload
    return edit


def _layer_class(config):
    layer = config["config"]["layers"][-1]
    layer["module"], layer["class_name"] = "subprocess", "Popen"


INJECTIONS = {
    # Function references outside Keras (the pattern of CVE-2025-1550)
    "os.getcwd as activation": _activation({"module": "os", "class_name": "function",
                                            "config": "getcwd", "registered_name": "getcwd"}),
    "builtins.exec as activation": _activation({"module": "builtins", "class_name": "function",
                                                "config": "exec", "registered_name": "exec"}),
    "subprocess.Popen as a layer": _layer_class,
    # A Keras function that turns safe mode off for later loads (the pattern of CVE-2025-9906)
    "enable_unsafe_deserialization": _activation(
        {"module": "keras.config", "class_name": "function",
         "config": "enable_unsafe_deserialization",
         "registered_name": "enable_unsafe_deserialization"}),
}


@pytest.mark.parametrize("edit", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_config_naming_code_outside_keras_is_refused(files, tmp_path, edit):
    path = with_config(files["plain"], tmp_path / "injected.keras", edit)
    with pytest.raises(ValueError, match="injected.keras is not a loadable reference model"):
        load_keras_model(str(path))
    # ... and safe mode is still on afterwards: a Lambda is still refused.
    with pytest.raises(ValueError, match="Lambda"):
        load_keras_model(str(files["lambda"]))


# --- the CLI ------------------------------------------------------------------------------------

def _h5(tmp_path: Path) -> Path:
    path = tmp_path / "model.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n")
    return path


def _pickle_as_keras(tmp_path: Path) -> Path:
    path = tmp_path / "evil.keras"
    path.write_bytes(pickle.dumps(Plant(tmp_path / "pickle-ran")))
    return path


CLI_MODELS = {
    ".h5": (_h5, "only .keras models are loaded"),
    "pickle named .keras": (_pickle_as_keras, "evil.keras is not a loadable reference model"),
    "Lambda layer": (lambda tmp: None, r"lambda.keras is not a loadable reference model "
                                       r"\(Requested the deserialization of a `Lambda` layer"),
    "missing": (lambda tmp: tmp / "absent.keras", "model .*absent.keras not found"),
}


@pytest.mark.parametrize("make,message", CLI_MODELS.values(), ids=CLI_MODELS.keys())
def test_export_cli_exit_2_and_writes_nothing(capsys, files, tmp_path, make, message):
    model = make(tmp_path) or files["lambda"]
    out = tmp_path / "artifacts"
    status, stdout, err = cli(capsys, "export", "--model", model, "--out", out, "--format",
                              "numpy", "--no-validate")
    assert status == 2 and stdout == []
    one_error_line(err, message)
    assert not out.exists() and not (tmp_path / "pickle-ran").exists()
