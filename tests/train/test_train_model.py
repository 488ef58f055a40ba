"""train/model.py: the reference attention-LSTM, layer for layer as published, and other
members of the family built from their spec."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras", reason="the [train] extra (TensorFlow, Keras) is not installed")

from imdb_edge.spec import LAYER_NAMES, REFERENCE, ModelSpec  # noqa: E402
from imdb_edge.train.model import DROPOUT, build_model, layers_of  # noqa: E402

NAMES = LAYER_NAMES


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(0)
    return build_model()


def test_layers_and_output_shapes_match_the_table(model):
    got = [(type(layer).__name__, tuple(layer.output.shape[1:])) for layer in model.layers]
    assert got == layers_of(REFERENCE)


def test_parameter_count(model):
    assert REFERENCE.parameters() == 576_821
    assert model.count_params() == REFERENCE.parameters()
    by_layer = {layer.name: layer.count_params() for layer in model.layers if layer.count_params()}
    assert by_layer == {NAMES["embedding"]: 20000 * 20, NAMES["lstm"]: 4 * (20 + 200 + 1) * 200,
                        NAMES["head"]: 21}


def test_input_is_200_int32_ids(model):
    (spec,) = model.inputs
    assert tuple(spec.shape) == (None, 200) and spec.dtype == "int32"


def test_lstm_is_softmax_activated(model):
    lstm = model.get_layer(NAMES["lstm"])
    assert lstm.units == REFERENCE.units == 200
    config = lstm.get_config()
    assert config["activation"] == "softmax"
    assert config["recurrent_activation"] == "sigmoid"
    assert not config["return_sequences"]
    assert config["dropout"] == 0 and config["recurrent_dropout"] == 0


def test_both_dropouts_are_0_95(model):
    dropouts = [layer for layer in model.layers if type(layer).__name__ == "Dropout"]
    assert [d.rate for d in dropouts] == [DROPOUT, DROPOUT] == [0.95, 0.95]


def test_regularizers_as_published(model):
    dense = model.get_layer(NAMES["head"])
    assert dense.get_config()["activation"] == "sigmoid" and dense.units == 1
    assert type(dense.kernel_regularizer).__name__ == "L1L2"
    assert dense.kernel_regularizer.get_config() == pytest.approx({"l1": 1e-5, "l2": 1e-4})
    assert type(dense.bias_regularizer).__name__ == "L2"
    assert dense.bias_regularizer.get_config() == pytest.approx({"l2": 1e-4})
    assert type(dense.activity_regularizer).__name__ == "L2"
    assert dense.activity_regularizer.get_config() == pytest.approx({"l2": 1e-5})
    for layer in model.layers:
        if layer is not dense:
            for kind in ("kernel_regularizer", "bias_regularizer", "activity_regularizer",
                         "embeddings_regularizer", "recurrent_regularizer"):
                assert getattr(layer, kind, None) is None, (layer.name, kind)


def test_attention_pools_the_undropped_embeddings(model):
    """By value: the Dot output equals sum_t embedding[t] * lstm_state[t] (no dropout at
    inference), the state is a non-negative weighting that sums to at most 1, and the
    output is a probability."""
    import keras

    probe = keras.Model(model.input, [model.get_layer(NAMES["embedding"]).output,
                                       model.get_layer(NAMES["lstm"]).output,
                                       model.get_layer(NAMES["pool"]).output,
                                       model.output])
    ids = np.random.default_rng(0).integers(0, 20000, (4, 200)).astype(np.int32)
    ids[1, 50:] = 0
    embedded, attention, pooled, prob = (np.asarray(a) for a in probe(ids, training=False))
    assert embedded.shape == (4, 200, REFERENCE.embed_dim) and attention.shape == (4, 200)
    np.testing.assert_allclose(pooled, np.einsum("btd,bt->bd", embedded, attention),
                               rtol=1e-5, atol=1e-7)
    assert (attention >= 0).all() and (attention.sum(axis=1) <= 1 + 1e-6).all()
    assert prob.shape == (4, 1) and ((prob > 0) & (prob < 1)).all()


def test_dropout_is_active_only_in_training(model):
    ids = np.random.default_rng(1).integers(0, 20000, (8, 200)).astype(np.int32)
    inference = [np.asarray(model(ids, training=False)) for _ in range(2)]
    np.testing.assert_array_equal(inference[0], inference[1])
    training = np.asarray(model(ids, training=True))
    assert not np.allclose(training, inference[0])


@pytest.mark.parametrize("spec", [ModelSpec(37, 450, 6), ModelSpec(12, 90, 3, "hard_sigmoid")])
def test_other_members_are_built_from_their_spec(spec):
    """Every size and the gate come from the spec: the layers' shapes, the weights', and the
    file intake reads back."""
    from imdb_edge.export import intake

    model = build_model(spec=spec)
    assert [(type(layer).__name__, tuple(layer.output.shape[1:])) for layer in model.layers] \
        == layers_of(spec)
    assert [tuple(w.shape) for w in model.get_weights()] == list(spec.shapes().values())
    assert model.count_params() == spec.parameters()
    assert intake.from_keras(model).spec == spec
