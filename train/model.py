"""The reference attention-LSTM, layer for layer as published.

The LSTM's final state (softmax-activated, so it sums to ~1 over its 200 units) is read as
attention weights over the 200 time steps and dotted with the (undropped) embeddings.
"""
from __future__ import annotations

from imdb_edge.runtime.text import MAX_LEN, VOCAB_SIZE

EMBED_DIM = 20
UNITS = 200  # equals MAX_LEN: one attention weight per time step
DROPOUT = 0.95
PARAMETERS = 576_821

# (class name, output shape without batch) of every layer, in order; tests check against it.
LAYERS = [
    ("InputLayer", (MAX_LEN,)),
    ("Embedding", (MAX_LEN, EMBED_DIM)),
    ("Dropout", (MAX_LEN, EMBED_DIM)),
    ("LSTM", (UNITS,)),
    ("Dot", (EMBED_DIM,)),
    ("Dropout", (EMBED_DIM,)),
    ("Dense", (1,)),
]


def build_model(*, engine=None, dropout: float = DROPOUT):
    """The reference model in ``engine`` (the ``keras`` module by default; ``tf_keras``
    builds the same graph in Keras 2, for engine comparisons)."""
    if engine is None:
        import keras as engine
    keras, layers, regularizers = engine, engine.layers, engine.regularizers

    ids = keras.Input((MAX_LEN,), dtype="int32", name="ids")
    embedded = layers.Embedding(VOCAB_SIZE, EMBED_DIM, name="embedding")(ids)
    dropped = layers.Dropout(dropout, name="embedding_dropout")(embedded)
    attention = layers.LSTM(UNITS, activation="softmax", name="lstm")(dropped)
    pooled = layers.Dot(axes=1, name="attention_pool")([embedded, attention])
    pooled = layers.Dropout(dropout, name="pool_dropout")(pooled)
    prob = layers.Dense(
        1, activation="sigmoid", name="classifier",
        kernel_regularizer=regularizers.l1_l2(l1=1e-5, l2=1e-4),
        bias_regularizer=regularizers.l2(1e-4),
        activity_regularizer=regularizers.l2(1e-5))(pooled)
    return keras.Model(ids, prob, name="imdb_attention_lstm")
