"""Write the attention-LSTM the way users save it, for the intake and export tests.

    python tests/make_user_models.py OUT_DIR --engine tf_keras|keras \
        [--length 40] [--vocab 500] [--embed 8] [--gate sigmoid|hard_sigmoid] [--twice] \
        [--train-on DATA [--epochs 3] [--limit 5000]]

The model is the notebook's cell with Keras' default layer names (``input_1``,
``embedding``, ``lstm``, ``dot``, ``dense``), random weights from a fixed seed, its
classifier scaled so the probabilities spread over (0, 1); or, with ``--train-on`` (the
IMDB archive), trained briefly on the first ``--limit`` reviews encoded at its size, as a
notebook would (Adam, binary cross-entropy, batches of 1000). ``--engine tf_keras`` (Keras 2)
writes ``model.h5``, ``model.keras`` and the SavedModel folder ``saved_model/``;
``--engine keras`` (Keras 3) writes ``model.keras``, with ``--twice`` after building the
cell once before, as a notebook cell run twice does (so the layers are ``lstm_1``, ...).
Beside them ``expected.npz`` holds ``ids`` and the engine's own ``probabilities`` for
them: the numbers an export must match. Each engine runs in its own process (tests call
this script), so Keras 2 and Keras 3 never share one.

``--variants`` writes out-of-family models instead, one folder each (``tanh``,
``second_dense``, ``lambda``, and with ``--engine keras`` ``keras3_hard_sigmoid``),
each ``model.h5`` (tf_keras) or ``model.keras`` (keras), for the refusal tests.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

SEED = 11
ROWS = 24
VARIANTS = ("tanh", "second_dense", "lambda")


def build(engine, length, vocab, embed, gate, variant=None, spread=True):
    layers = engine.layers
    ids = layers.Input(shape=(length,))
    embedded = layers.Embedding(vocab, embed)(ids)
    dropped = layers.Dropout(0.95)(embedded)
    activation = "tanh" if variant == "tanh" else "softmax"
    recurrent = "hard_sigmoid" if variant == "keras3_hard_sigmoid" else gate
    attention = layers.LSTM(length, activation=activation, recurrent_activation=recurrent)(dropped)
    pooled = layers.Dot(axes=1)([embedded, attention])
    if variant == "lambda":
        pooled = layers.Lambda(lambda x: x * 2.0)(pooled)
    if variant == "second_dense":
        pooled = layers.Dense(embed, activation="relu")(pooled)
    pooled = layers.Dropout(0.95)(pooled)
    prob = layers.Dense(1, activation="sigmoid")(pooled)
    model = engine.Model(ids, prob)
    if spread:
        classifier = model.layers[-1]
        kernel, bias = classifier.get_weights()
        classifier.set_weights([kernel * 60.0, bias])
    return model


def train(engine, model, data, sizes, epochs, limit):
    """A few epochs on the first ``limit`` training reviews, encoded at the model's size."""
    from imdb_edge.spec import ModelSpec
    from imdb_edge.train.data import load

    dataset = load(data, spec=ModelSpec(*sizes)).subset(limit)
    model.compile(engine.optimizers.Adam(learning_rate=5e-3), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(dataset.x_train, dataset.y_train, batch_size=1000, epochs=epochs, shuffle=False,
              verbose=0)


def rows(length, vocab, n=ROWS, seed=5):
    """Review-like rows: START, ids of varied length, zero padding; some use the top ids."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, length), np.int32)
    for r, size in enumerate(rng.integers(1, length + 1, n)):
        out[r, 0] = 1
        out[r, 1:size] = rng.integers(2, vocab, size - 1)
    out[-1] = vocab - 1
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--engine", choices=("tf_keras", "keras"), required=True)
    parser.add_argument("--length", type=int, default=40)
    parser.add_argument("--vocab", type=int, default=500)
    parser.add_argument("--embed", type=int, default=8)
    parser.add_argument("--gate", choices=("sigmoid", "hard_sigmoid"), default="sigmoid")
    parser.add_argument("--twice", action="store_true")
    parser.add_argument("--variants", action="store_true")
    parser.add_argument("--train-on", help="the IMDB archive: train briefly instead of scaling")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=5000)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.engine == "tf_keras":
        import tf_keras as engine
    else:
        import keras as engine
    engine.utils.set_random_seed(SEED)
    sizes = (args.length, args.vocab, args.embed, args.gate)
    if args.variants:
        for variant in VARIANTS + (("keras3_hard_sigmoid",) if args.engine == "keras" else ()):
            (args.out / variant).mkdir(parents=True, exist_ok=True)
            build(engine, *sizes, variant=variant).save(
                args.out / variant / ("model.h5" if args.engine == "tf_keras" else "model.keras"))
        return
    if args.twice:
        build(engine, *sizes)
    model = build(engine, *sizes, spread=not args.train_on)
    if args.train_on:
        train(engine, model, args.train_on, sizes, args.epochs, args.limit)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.engine == "tf_keras":
        model.save(args.out / "model.h5")
        model.save(args.out / "model.keras")
        model.save(args.out / "saved_model")  # a folder: Keras 2's SavedModel format
    else:
        model.save(args.out / "model.keras")
    ids = rows(args.length, args.vocab)
    np.savez(args.out / "expected.npz", ids=ids,
             probabilities=model.predict(ids, verbose=0)[:, 0].astype(np.float32),
             names=np.array([layer.name for layer in model.layers]))


if __name__ == "__main__":
    main()
