"""Seconds per training epoch: this project's loop against a plain Keras loop, same data.

    python benchmarks/train_epoch.py [--limit 25000] [--data PATH] [--epochs 1] [--json PATH]

Three loops, each in its own fresh Python process (TensorFlow cannot switch op determinism
off again once it is on, and a fresh process keeps one loop's warm caches from the next):

* imdb-edge, determinism on  - the trainer's epoch: seeded, op determinism on, its Adam with
                               inverse-time decay, accuracy metric, its (seed, epoch) shuffle,
                               ``model.fit(..., batch_size=1000, epochs=1, shuffle=False)``;
* imdb-edge, determinism off - the same with ``--no-determinism``;
* plain Keras                - ``build_model(); compile(Adam(5e-3), "binary_crossentropy");
                               fit(x, y, batch_size=1000, epochs=1)``.

Each loop runs one warm-up epoch (tracing, first allocations), then ``--epochs`` timed ones.
The trainer also evaluates the selection rows after every epoch; that time is shown apart.
Prints a Markdown table; ``--json PATH`` writes the figures too.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = PROJECT.parent / "shared" / "data" / "aclImdb_v1.tar.gz"
LOOPS = {
    "imdb-edge, determinism on": dict(kind="project", deterministic=True),
    "imdb-edge, determinism off": dict(kind="project", deterministic=False),
    "plain Keras": dict(kind="plain", deterministic=False),
}
BASELINE = "plain Keras"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT_DATA),
                   help="archive, extracted folder or .npz (default: %(default)s)")
    p.add_argument("--word-index", help="imdb_word_index.json (default: beside the archive)")
    p.add_argument("--limit", type=int, default=25000,
                   help="first N training reviews; as in `imdb-edge train` (--select-on val), "
                   "80 %% are trained on and 20 %% evaluated (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=1, help="timed epochs per loop (default: %(default)s)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    # Internal: run one loop on the rows .npz given as --data, print its figures as JSON.
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(_run_loop(args.child, args)))
        return 0
    return _parent(args)


def _parent(args) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from imdb_edge.train import data as data_lib
    from imdb_edge.train.trainer import TrainConfig

    if args.limit < 10 or args.epochs < 1:
        sys.exit("train_epoch.py: --limit must be at least 10 and --epochs at least 1")
    config = TrainConfig()  # the trainer's defaults: seed, batch, lr, decay, validation split
    try:
        dataset = data_lib.load(args.data, word_index=args.word_index).subset(args.limit)
    except data_lib.DataError as exc:
        sys.exit(f"train_epoch.py: {exc}")
    # The rows an epoch of `imdb-edge train` (default --select-on val) trains on and judges.
    x, y, x_sel, y_sel = data_lib.split_validation(dataset.x_train, dataset.y_train,
                                                   config.val_fraction, config.seed)
    results = {}
    with tempfile.TemporaryDirectory(prefix="train-epoch-") as tmp:
        rows = Path(tmp) / "rows.npz"  # every loop reads exactly these rows
        np.savez(rows, x=x, y=y, x_sel=x_sel, y_sel=y_sel)
        for name in LOOPS:
            print(f"running: {name} ...", file=sys.stderr, flush=True)
            proc = subprocess.run(
                [sys.executable, __file__, "--child", name, "--data", str(rows),
                 "--epochs", str(args.epochs)],
                capture_output=True, text=True, env=dict(os.environ))
            lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
            if proc.returncode != 0 or not lines:
                sys.stderr.write(proc.stderr[-4000:])
                sys.exit(f"train_epoch.py: the {name!r} loop failed (exit {proc.returncode})")
            results[name] = json.loads(lines[-1][len("RESULT "):])

    base = results[BASELINE]["fit_seconds_mean"]
    for result in results.values():
        result["ratio_to_plain"] = round(result["fit_seconds_mean"] / base, 3)
    summary = dict(
        data=dataset.source, data_sha256=dataset.sha256, limit=args.limit, train_rows=len(x),
        selection_rows=len(x_sel), batch_size=config.batch_size, timed_epochs=args.epochs,
        cpu_count=os.cpu_count(), platform=platform.platform(),
        versions=results[BASELINE]["versions"], loops=results)
    print(_table(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


def _table(s: dict) -> str:
    v = s["versions"]
    lines = [
        f"One training epoch: {s['train_rows']:,} reviews, batch {s['batch_size']}, "
        f"mean of {s['timed_epochs']} timed epoch(s) after one warm-up; "
        f"TensorFlow {v['tensorflow']}, Keras {v['keras']}, {s['cpu_count']} CPUs.",
        "",
        "| loop | fit s / epoch | × plain Keras | + evaluate s (trainer only) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, r in s["loops"].items():
        evaluate = "–" if r["evaluate_seconds_mean"] is None else f"{r['evaluate_seconds_mean']:.2f}"
        lines.append(f"| {name} | {r['fit_seconds_mean']:.2f} | {r['ratio_to_plain']:.2f} | {evaluate} |")
    return "\n".join(lines)


def _run_loop(name: str, args) -> dict:
    """In a fresh process: build, compile, one warm-up epoch, then time ``args.epochs``."""
    loop = LOOPS[name]
    import keras
    import tensorflow as tf

    with np.load(args.data) as f:
        x, y, x_sel, y_sel = f["x"], f["y"], f["x_sel"], f["y_sel"]
    fit_seconds, evaluate_seconds = [], []

    if loop["kind"] == "project":
        from imdb_edge.train.model import build_model
        from imdb_edge.train.schedule import ScheduleState
        from imdb_edge.train.trainer import TrainConfig, _optimizer, _strategy

        config = TrainConfig(deterministic=loop["deterministic"])
        keras.utils.set_random_seed(config.seed)
        if config.deterministic:
            tf.config.experimental.enable_op_determinism()
        with _strategy(config.distribute).scope():
            model = build_model()
            model.compile(_optimizer(ScheduleState(lr=config.lr, decay=config.decay)),
                          loss="binary_crossentropy", metrics=["accuracy"])
        for epoch in range(1, args.epochs + 2):
            # As trainer.train: the shuffle depends on (seed, epoch); fit sees a fixed order.
            order = np.random.default_rng([config.seed, epoch]).permutation(len(x))
            t0 = time.perf_counter()
            model.fit(x[order], y[order], batch_size=config.batch_size, epochs=1,
                      shuffle=False, verbose=0)
            t1 = time.perf_counter()
            model.evaluate(x_sel, y_sel, batch_size=config.batch_size, verbose=0)
            t2 = time.perf_counter()
            if epoch > 1:  # epoch 1 is the warm-up
                fit_seconds.append(t1 - t0)
                evaluate_seconds.append(t2 - t1)
    else:
        from imdb_edge.train.model import build_model

        model = build_model()
        model.compile(keras.optimizers.Adam(5e-3), "binary_crossentropy")
        for epoch in range(1, args.epochs + 2):
            t0 = time.perf_counter()
            model.fit(x, y, batch_size=1000, epochs=1, verbose=0)
            if epoch > 1:
                fit_seconds.append(time.perf_counter() - t0)

    return dict(
        fit_seconds=[round(t, 3) for t in fit_seconds],
        fit_seconds_mean=round(float(np.mean(fit_seconds)), 3),
        evaluate_seconds_mean=round(float(np.mean(evaluate_seconds)), 3) if evaluate_seconds else None,
        deterministic=loop["deterministic"],
        versions=dict(tensorflow=tf.__version__, keras=keras.__version__, numpy=np.__version__,
                      python=platform.python_version()))


if __name__ == "__main__":
    sys.exit(main())
