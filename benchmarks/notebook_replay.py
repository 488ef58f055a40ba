"""The published notebook's training cells, replayed on the Keras 2 engine (tf_keras).

    python benchmarks/notebook_replay.py --data ../shared/data/aclImdb_v1.tar.gz \
        [--epochs N] [--limit N] [--seed N] [--json FILE]

The notebook built the model in Keras 2, compiled it with
``optimizers.Adam(lr=5e-3, decay=1e-6)`` (``optimizers.legacy.Adam`` in tf_keras), fitted one
epoch at a time with batch 1000 and, whenever test accuracy fell, divided the learning rate
by 10 and recompiled with a fresh Adam. This script does the same, on the rows
``imdb-edge train`` reads (the Keras-exact encoding, identical to imdb.npz's), with the
schedule rule from ``imdb_edge.train.schedule``. It prints each epoch beside the published
curve, so a run of ``imdb-edge train --select-on test`` can be put next to the engine the
notebook used. Needs ``pip install tf-keras`` (the ``[dev]`` extra).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tf_keras

    from imdb_edge.train import data as data_lib
    from imdb_edge.train.model import build_model
    from imdb_edge.train.schedule import ScheduleState
    from imdb_edge.train.trainer import SCHEDULES, TrainConfig

    config = TrainConfig()
    schedule = SCHEDULES["reference"]
    low, high = (args.epochs, args.epochs) if args.epochs else \
        (schedule["min_epochs"], schedule["max_epochs"])
    dataset = data_lib.load(args.data).subset(args.limit)
    tf_keras.utils.set_random_seed(args.seed)
    model = build_model(engine=tf_keras)
    state = ScheduleState(lr=config.lr, decay=config.decay)
    epochs = _replay(model, dataset, state, config.batch_size, low, high)
    best = max(epochs, key=lambda e: e["accuracy"])
    print(f"max test accuracy {100 * best['accuracy']:.2f}% at epoch {best['epoch']} of "
          f"{len(epochs)}; lr / 10 after {state.lr_drops or 'none'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(seed=args.seed, limit=args.limit, source=dataset.source,
                           epochs=epochs, best_epoch=best["epoch"],
                           max_accuracy=best["accuracy"], lr_drops=state.lr_drops,
                           train_rows=int(np.asarray(dataset.x_train).shape[0])), f, indent=1)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="as for `imdb-edge train --data`")
    parser.add_argument("--epochs", type=int, help="run exactly N epochs (default: the "
                        "reference schedule: 20, then on while accuracy rises, at most 60)")
    parser.add_argument("--limit", type=int, help="first N train and N test reviews only")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the per-epoch figures here")
    return parser


def _replay(model, dataset, state, batch_size: int, low: int, high: int) -> list:
    """The notebook's loop: one epoch per fit, evaluated on the test rows, a fresh legacy
    Adam at a tenth of the rate when the schedule says so. Returns each epoch's figures."""
    import tf_keras

    from imdb_edge.train.schedule import PUBLISHED_TEST_ACCURACY, step

    def compile_fresh():
        model.compile(tf_keras.optimizers.legacy.Adam(learning_rate=state.lr, decay=state.decay),
                      loss="binary_crossentropy", metrics=["accuracy"])

    compile_fresh()
    epochs = []
    print(f"{'epoch':>5s} {'loss':>8s} {'test acc':>9s} {'published':>9s} {'lr':>8s} {'s':>6s}")
    while True:
        t0 = time.time()
        fit = model.fit(dataset.x_train, dataset.y_train, batch_size=batch_size,
                        epochs=1, shuffle=True, verbose=0)
        _, accuracy = model.evaluate(dataset.x_test, dataset.y_test,
                                     batch_size=batch_size, verbose=0)
        lr_used = state.lr
        decision = step(state, accuracy, min_epochs=low, max_epochs=high)
        n = state.epoch
        published = PUBLISHED_TEST_ACCURACY[n - 1] if n <= len(PUBLISHED_TEST_ACCURACY) else None
        epochs.append(dict(epoch=n, loss=float(fit.history["loss"][-1]),
                           accuracy=float(accuracy), published=published, lr=lr_used,
                           seconds=round(time.time() - t0, 1)))
        e = epochs[-1]
        print(f"{n:5d} {e['loss']:8.4f} {100 * accuracy:8.2f}% "
              f"{(f'{published:.2f}%' if published else '-'):>9s} {lr_used:8.1e} {e['seconds']:6.1f}",
              flush=True)
        if decision.stop:
            return epochs
        if decision.drop_lr:
            compile_fresh()


if __name__ == "__main__":
    sys.exit(main())
