"""A model file's config is untrusted input: any structure Keras never writes is refused
as outside the family, in one line, never with a Python error from deep in the check."""
from __future__ import annotations

import copy
import json

import pytest

keras = pytest.importorskip("keras")

from imdb_edge.export.family import check_config  # noqa: E402
from imdb_edge.spec import FamilyError, ModelSpec  # noqa: E402
from imdb_edge.train.model import build_model  # noqa: E402

SPEC = ModelSpec(length=12, vocab_size=50, embed_dim=4, gate="sigmoid")


@pytest.fixture(scope="module")
def config() -> dict:
    model = build_model(spec=SPEC)
    return json.loads(json.dumps(keras.saving.serialize_keras_object(model)))


def _layers(config: dict) -> list:
    return config["config"]["layers"]


MUTATIONS = {
    "layer entry not a mapping": lambda c: _layers(c).__setitem__(1, 7),
    "layer config not a mapping": lambda c: _layers(c)[1].__setitem__("config", [1, 2]),
    "layers not a list": lambda c: c["config"].__setitem__("layers", 5),
    "inbound nodes a number": lambda c: _layers(c)[2].__setitem__("inbound_nodes", 3),
    "inbound node an empty list": lambda c: _layers(c)[2].__setitem__("inbound_nodes", [[]]),
    "class name a list": lambda c: _layers(c)[2].__setitem__("class_name", ["LSTM"]),
}


def test_the_unmutated_config_is_in_the_family(config):
    spec, roles = check_config(copy.deepcopy(config), 3, where="m.keras")
    assert spec == SPEC and "LSTM" in roles


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_malformed_configs_are_refused_as_outside_the_family(config, name):
    mutated = copy.deepcopy(config)
    MUTATIONS[name](mutated)
    with pytest.raises(FamilyError) as info:
        check_config(mutated, 3, where="m.keras")
    assert "m.keras" in str(info.value) and "\n" not in str(info.value).strip()
