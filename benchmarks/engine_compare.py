"""Keras 3 against Keras 2 (tf_keras), op by op, on the reference model.

    python benchmarks/engine_compare.py --data ../shared/data/aclImdb_v1.tar.gz [--steps 25]

Both engines build the reference model with dropout off, get identical weights and see the
same batches. The script prints, per engine and as the difference between them: each loss
term (binary cross-entropy and each regularizer), every gradient, and the weights after 1
and ``--steps`` Adam steps, each engine with the optimizer the notebook / the trainer uses
(Keras 2: ``optimizers.legacy.Adam(5e-3, decay=1e-6)``; Keras 3: ``Adam`` with the same
inverse-time decay, and the trainer's ``imdb_edge.train.optimizer.adam``). It then compares the two engines' initializers (fresh builds, same
seed: the spread of each weight) and, with dropout on, the scale of what Dropout keeps.
The first row that differs names where the engines part. ``--json`` writes every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tf_keras

    from imdb_edge.train.model import build_model

    x, y = _batches(args)
    k3 = build_model(dropout=0.0)
    k2 = build_model(engine=tf_keras, dropout=0.0)
    k2.set_weights(k3.get_weights())
    names = [v.path if hasattr(v, "path") else v.name for v in k3.trainable_variables]
    figures: dict = {"batch": args.batch, "steps": args.steps}
    grads3 = _loss_and_gradients(k3, k2, x[0], y[0], names, figures)
    _optimizer_steps(k3, k2, x, y, names, grads3[0], args.steps, figures)
    _initializers(names, args.seed, figures)
    _dropout(args.batch, figures)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="aclImdb_v1.tar.gz or an .npz of padded ids "
                        "(default: random ids)")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the figures here")
    return parser


def _loss_and_gradients(k3, k2, x, y, names, figures) -> list:
    """1. The loss, term by term, and 2. every gradient, on the first batch; Keras 3's
    gradients are returned."""
    import keras
    import tensorflow as tf
    import tf_keras

    terms3, grads3 = _loss_and_grads(k3, x, y, keras.losses.binary_crossentropy, tf)
    terms2, grads2 = _loss_and_grads(k2, x, y, tf_keras.losses.binary_crossentropy, tf)
    print(f"{'loss term':28s} {'keras 3':>14s} {'keras 2':>14s} {'|diff|':>10s}")
    for name in terms3:
        print(f"{name:28s} {terms3[name]:14.8g} {terms2[name]:14.8g} "
              f"{abs(terms3[name] - terms2[name]):10.2e}")
    figures["loss_terms"] = {"keras3": terms3, "keras2": terms2}

    print(f"\n{'gradient':28s} {'max |g|':>10s} {'max |diff|':>10s} {'rel':>9s}")
    figures["gradients"] = {}
    for name, g3, g2 in zip(names, grads3, grads2):
        diff = float(np.max(np.abs(g3 - g2)))
        scale = float(np.max(np.abs(g3)))
        print(f"{name:28s} {scale:10.3e} {diff:10.3e} {diff / max(scale, 1e-30):9.2e}")
        figures["gradients"][name] = dict(max_abs=scale, max_abs_diff=diff)
    return grads3


def _optimizer_steps(k3, k2, x, y, names, embedding_grad, steps: int, figures) -> None:
    """3. Weights after 1 and N optimizer steps: Keras 2's legacy Adam, Keras 3's Adam, and
    the trainer's optimizer (Keras 3's Adam on dense gradients); Keras 2 is the reference."""
    import keras
    import tf_keras

    from imdb_edge.train.model import build_model
    from imdb_edge.train.optimizer import adam

    k3_fixed = build_model(dropout=0.0)
    k3_fixed.set_weights(k3.get_weights())
    start = k3.get_weights()
    k2.compile(tf_keras.optimizers.legacy.Adam(learning_rate=5e-3, decay=1e-6),
               loss="binary_crossentropy")
    k3.compile(keras.optimizers.Adam(keras.optimizers.schedules.InverseTimeDecay(
        5e-3, decay_steps=1, decay_rate=1e-6)), loss="binary_crossentropy")
    k3_fixed.compile(adam(5e-3, 1e-6), loss="binary_crossentropy")
    runs = {"keras3 Adam": k3, "keras3 trainer": k3_fixed}
    figures["weights"] = {}
    print(f"\n{'after step':>10s} {'variable':28s} {'max |w|':>10s} "
          + " ".join(f"{'|' + r + ' - k2|':>24s}" for r in runs))
    for step in range(1, steps + 1):
        b = (step - 1) % len(x)
        for model in (k2, *runs.values()):
            model.train_on_batch(x[b], y[b])
        if step == 1:
            figures["dense_adam_first_step"] = _first_step_vs_dense(
                start[0], embedding_grad, {"keras2": k2, **runs})
        if step in (1, steps):
            figures["weights"][str(step)] = _weights_vs_keras2(step, names, k2, runs)


def _weights_vs_keras2(step: int, names, k2, runs: dict) -> dict:
    """{variable: {run: max |w - w_keras2|}}, printed as rows."""
    rows = {}
    reference = k2.get_weights()
    others = {r: m.get_weights() for r, m in runs.items()}
    for i, name in enumerate(names):
        rows[name] = {r: float(np.max(np.abs(w[i] - reference[i]))) for r, w in others.items()}
        print(f"{step:10d} {name:28s} {np.max(np.abs(reference[i])):10.3e} "
              + " ".join(f"{rows[name][r]:24.3e}" for r in runs))
    return rows


def _initializers(names, seed: int, figures) -> None:
    """4. Initializers: fresh builds, seeded alike; compare each weight's spread."""
    import keras
    import tf_keras

    from imdb_edge.train.model import build_model

    keras.utils.set_random_seed(seed)
    fresh3 = build_model().get_weights()
    tf_keras.utils.set_random_seed(seed)
    fresh2 = build_model(engine=tf_keras).get_weights()
    print(f"\n{'initial weight':28s} {'std keras 3':>12s} {'std keras 2':>12s} "
          f"{'min/max k3':>20s} {'min/max k2':>20s}")
    figures["init"] = {}
    for name, w3, w2 in zip(names, fresh3, fresh2):
        print(f"{name:28s} {w3.std():12.5f} {w2.std():12.5f} "
              f"{w3.min():9.4f}/{w3.max():<9.4f} {w2.min():9.4f}/{w2.max():<9.4f}")
        figures["init"][name] = dict(std3=float(w3.std()), std2=float(w2.std()))


def _dropout(batch: int, figures) -> None:
    """5. Dropout at 0.95: the share kept and the scale of what is kept, in each engine."""
    import keras
    import tf_keras

    ones = np.ones((batch, 200, 20), np.float32)
    d3 = np.asarray(keras.layers.Dropout(0.95)(ones, training=True))
    d2 = np.asarray(tf_keras.layers.Dropout(0.95)(ones, training=True))
    print(f"\ndropout 0.95 kept share: keras 3 {np.mean(d3 > 0):.4f}, keras 2 {np.mean(d2 > 0):.4f};"
          f" kept value: {d3.max():.2f}, {d2.max():.2f}")
    figures["dropout"] = dict(kept3=float(np.mean(d3 > 0)), kept2=float(np.mean(d2 > 0)))


def _batches(args):
    if args.data:
        from imdb_edge.train import data as data_lib

        dataset = data_lib.load(args.data)
        n = min(len(dataset.x_train) // args.batch, args.steps) * args.batch
        x = dataset.x_train[:n].reshape(-1, args.batch, dataset.x_train.shape[1])
        y = dataset.y_train[:n].reshape(-1, args.batch).astype(np.float32)
        return x, y
    rng = np.random.default_rng(args.seed)
    x = rng.integers(0, 20000, (min(args.steps, 4), args.batch, 200)).astype(np.int32)
    return x, rng.integers(0, 2, x.shape[:2]).astype(np.float32)


def _first_step_vs_dense(w0, grad, models) -> dict:
    """The embedding's first Adam step in each engine against dense Adam done by hand."""
    lr, b1, b2, eps = 5e-3, 0.9, 0.999, 1e-7
    dense = -lr * np.sqrt(1 - b2) / (1 - b1) * (1 - b1) * grad / (
        np.sqrt((1 - b2) * grad * grad) + eps)
    print(f"\nfirst step of the embedding (dense Adam moves each entry by at most lr = {lr}):")
    out = {}
    for name, model in models.items():
        delta = model.get_weights()[0] - w0
        out[name] = dict(max_step=float(np.abs(delta).max()),
                         max_diff_from_dense=float(np.abs(delta - dense).max()))
        print(f"  {name:16s} largest step {out[name]['max_step']:.3e}   "
              f"max |step - dense Adam| {out[name]['max_diff_from_dense']:.3e}")
    return out


def _loss_and_grads(model, x, y, bce, tf):
    with tf.GradientTape() as tape:
        prob = model(x, training=True)
        terms = {"binary_crossentropy": tf.reduce_mean(bce(y[:, None], prob))}
        for i, term in enumerate(model.losses):
            terms[f"regularizer {i}"] = term
        total = tf.add_n(list(terms.values()))
    grads = tape.gradient(total, model.trainable_variables)
    dense = [np.asarray(tf.convert_to_tensor(g)) for g in grads]
    return {k: float(v) for k, v in terms.items()}, dense


if __name__ == "__main__":
    sys.exit(main())
