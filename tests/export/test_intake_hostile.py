"""Model files are read, never run: the architecture comes from the file's JSON config and
is checked against the family before anything is built, so a Lambda, a custom object or a
config naming code outside Keras is refused, and pickles are never unpickled. Checked
through imdb_edge.export.intake.load and through `imdb-edge export --model X` (exit status
2, one line, nothing written).
"""
from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import pytest

from testkit import cli, one_error_line

keras = pytest.importorskip("keras", reason="the [train] extra (TensorFlow, Keras) is not installed")
pytestmark = [pytest.mark.hardening, pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore:__array__ implementation doesn.t accept a copy")]

from imdb_edge.errors import ImdbEdgeError  # noqa: E402
from imdb_edge.export.intake import load  # noqa: E402


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


def refused(path, message: str):
    """``intake.load`` refuses ``path`` with one line matching ``message``."""
    with pytest.raises(ImdbEdgeError, match=message) as info:
        load(str(path))
    assert "\n" not in str(info.value)


def test_a_model_outside_the_family_is_refused_by_its_config(files):
    refused(files["plain"], r"plain.keras is not the attention-LSTM this tool exports")


@pytest.mark.parametrize("suffix", [".pkl", ".pickle", ".npz", ".pb", ".KERAS", ""])
def test_other_files_are_never_opened(tmp_path, suffix):
    """Not even opened: a pickle runs code on load."""
    path, marker = tmp_path / f"model{suffix}", tmp_path / "pickle-ran"
    path.write_bytes(pickle.dumps(Plant(marker)))
    refused(path, "not a Keras model file")
    assert not marker.exists()


def test_pickle_named_keras_or_h5_is_never_unpickled(tmp_path):
    marker = tmp_path / "pickle-ran"
    for name, message in (("model.keras", "not a readable .keras archive"),
                          ("model.h5", "not a readable HDF5 file")):
        (tmp_path / name).write_bytes(pickle.dumps(Plant(marker)))
        refused(tmp_path / name, message)
    assert not marker.exists()


def test_lambda_layer_is_refused_by_name_and_never_run(files):
    refused(files["lambda"], r"lambda.keras is not the attention-LSTM.*Lambda")


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
def test_config_naming_code_is_refused_without_deserializing_it(files, tmp_path, edit,
                                                                monkeypatch):
    """The config is read as JSON and checked; Keras never deserializes it."""
    path = with_config(files["plain"], tmp_path / "injected.keras", edit)
    calls = []
    monkeypatch.setattr(keras.saving, "deserialize_keras_object",
                        lambda *a, **k: calls.append(a))
    refused(path, "injected.keras is not the attention-LSTM this tool exports")
    assert calls == []


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
    "broken .h5": (_h5, "model.h5 is not a readable HDF5 file"),
    "pickle named .keras": (_pickle_as_keras, "evil.keras is not a readable .keras archive"),
    "Lambda layer": (lambda tmp: None, r"lambda.keras is not the attention-LSTM.*Lambda"),
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
