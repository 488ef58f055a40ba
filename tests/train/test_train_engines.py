"""The trainer's optimizer equals Keras 2's Adam, and the two engine scripts run end to end.

Keras 3's Adam moves an embedding row seen k times in a batch up to sqrt(k) times too far
(see train/optimizer.py); the trainer's Adam must equal dense Adam done by hand, as Keras 2's
does. The scripts are benchmarks/engine_compare.py and benchmarks/notebook_replay.py.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from testkit import installed
from testkit import run_benchmark as run_script

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not all(installed(m) for m in ("tensorflow", "tf_keras")),
                       reason="needs TensorFlow and tf_keras (extras: train, dev)"),
]


def test_trainer_adam_is_dense_adam_on_repeated_embedding_rows():
    import keras

    from imdb_edge.train.optimizer import adam

    keras.utils.set_random_seed(0)
    ids = keras.Input((6,), dtype="int32")
    out = keras.layers.Dense(1)(keras.layers.Flatten()(keras.layers.Embedding(5, 2)(ids)))
    model = keras.Model(ids, out)
    x = np.array([[1, 1, 1, 1, 2, 3], [1, 1, 4, 4, 4, 4]], np.int32)  # rows seen 6 and 4 times
    y = np.array([[1.0], [-1.0]], np.float32)
    w0 = model.get_weights()[0]
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((model(x) - y) ** 2)
    grad = tf.convert_to_tensor(tape.gradient(loss, model.trainable_variables[0])).numpy()
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-7
    dense_step = -lr * np.sqrt(1 - b2) * grad / (np.sqrt((1 - b2) * grad ** 2) + eps)
    model.compile(adam(lr, 0.0), loss="mse")
    model.train_on_batch(x, y)
    np.testing.assert_allclose(model.get_weights()[0] - w0, dense_step, atol=1e-6)
    assert np.abs(dense_step[1]).max() > 0.09      # a real step, not a zero-gradient row


def test_engine_compare_finds_the_trainer_equal_to_keras2(tmp_path):
    out = tmp_path / "engines.json"
    done = run_script("engine_compare.py", "--batch", 64, "--steps", 3, "--json", out,
                      cwd=tmp_path)
    figures = json.loads(out.read_text())
    terms = figures["loss_terms"]
    assert terms["keras3"]["binary_crossentropy"] == pytest.approx(
        terms["keras2"]["binary_crossentropy"], rel=1e-6)
    for row in figures["gradients"].values():
        assert row["max_abs_diff"] <= 1e-5 * max(row["max_abs"], 1e-12)
    first = figures["dense_adam_first_step"]
    assert first["keras2"]["max_diff_from_dense"] < 1e-6
    assert first["keras3 trainer"]["max_diff_from_dense"] < 1e-6
    for row in figures["weights"]["3"].values():
        assert row["keras3 trainer"] < 1e-5
    assert "largest step" in done.stdout


def test_notebook_replay_runs_one_epoch_on_the_exact_rows(tiny_imdb, tmp_path):
    out = tmp_path / "replay.json"
    done = run_script("notebook_replay.py", "--data", tiny_imdb.archive, "--epochs", 1,
                      "--json", out, cwd=tmp_path)
    figures = json.loads(out.read_text())
    assert [e["epoch"] for e in figures["epochs"]] == [1]
    assert 0.0 <= figures["max_accuracy"] <= 1.0 and figures["epochs"][0]["published"] == 67.83
    assert np.isfinite(figures["epochs"][0]["loss"])
    assert "max test accuracy" in done.stdout
