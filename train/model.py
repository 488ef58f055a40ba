"""The attention-LSTM, layer for layer as published, at any size of the family.

The LSTM's final state (softmax-activated, so it sums to ~1 over its units) is read as
attention weights over the time steps and dotted with the (undropped) embeddings, so the
LSTM has one unit per step. The sizes and the gate come from a ``ModelSpec``
(imdb_edge/spec.py); the default is the published reference.
"""
from __future__ import annotations

from imdb_edge.spec import LAYER_NAMES, REFERENCE, ModelSpec

DROPOUT = 0.95


def layers_of(spec: ModelSpec = REFERENCE) -> list:
    """(class name, output shape without batch) of every layer, in order; tests check it."""
    t, e = spec.length, spec.embed_dim
    return [("InputLayer", (t,)), ("Embedding", (t, e)), ("Dropout", (t, e)),
            ("LSTM", (spec.units,)), ("Dot", (e,)), ("Dropout", (e,)), ("Dense", (1,))]


def gate_activation(spec: ModelSpec, engine=None):
    """The LSTM's recurrent activation for ``engine``: "sigmoid", or Keras 2's hard_sigmoid
    (clip(0.2 x + 0.5, 0, 1)). Keras 2 knows that one by name; Keras 3's "hard_sigmoid" is
    another curve, so Keras 3 gets a registered function with Keras 2's formula, which
    saves by name and which the exporter's intake recognises."""
    if spec.gate == "sigmoid":
        return "sigmoid"
    if engine is not None and engine.__name__ == "tf_keras":
        return "hard_sigmoid"
    return keras2_hard_sigmoid()


_KERAS2_HARD_SIGMOID = None


def keras2_hard_sigmoid():
    """Keras 2's hard_sigmoid as a Keras 3 activation, registered once per process."""
    global _KERAS2_HARD_SIGMOID
    if _KERAS2_HARD_SIGMOID is None:
        import keras
        from keras import ops

        from imdb_edge.spec import HARD_SIGMOID_OFFSET, HARD_SIGMOID_SLOPE

        @keras.saving.register_keras_serializable(package="imdb_edge")
        def keras2_hard_sigmoid(x):
            return ops.clip(x * HARD_SIGMOID_SLOPE + HARD_SIGMOID_OFFSET, 0.0, 1.0)

        _KERAS2_HARD_SIGMOID = keras2_hard_sigmoid
    return _KERAS2_HARD_SIGMOID


def build_model(*, engine=None, dropout: float = DROPOUT, spec: ModelSpec = REFERENCE):
    """The model of ``spec`` in ``engine`` (the ``keras`` module by default; ``tf_keras``
    builds the same graph in Keras 2, for engine comparisons)."""
    if engine is None:
        import keras as engine
    keras, layers, regularizers = engine, engine.layers, engine.regularizers

    names = LAYER_NAMES
    ids = keras.Input((spec.length,), dtype="int32", name=names["input"])
    embedded = layers.Embedding(spec.vocab_size, spec.embed_dim, name=names["embedding"])(ids)
    dropped = layers.Dropout(dropout, name=names["embedding_dropout"])(embedded)
    attention = layers.LSTM(spec.units, activation="softmax",
                            recurrent_activation=gate_activation(spec, engine),
                            name=names["lstm"])(dropped)
    pooled = layers.Dot(axes=1, name=names["pool"])([embedded, attention])
    pooled = layers.Dropout(dropout, name=names["pool_dropout"])(pooled)
    prob = layers.Dense(
        1, activation="sigmoid", name=names["head"],
        kernel_regularizer=regularizers.l1_l2(l1=1e-5, l2=1e-4),
        bias_regularizer=regularizers.l2(1e-4),
        activity_regularizer=regularizers.l2(1e-5))(pooled)
    return keras.Model(ids, prob, name=names["model"])
