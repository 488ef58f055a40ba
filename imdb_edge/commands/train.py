"""Train the reference model with its schedule.

Train the reference attention-LSTM with the published schedule and write model.keras,
report.json and curves.png to --out.
"""
# `imdb-edge train`: flags map one to one onto imdb_edge.train.trainer.TrainConfig.
from __future__ import annotations

import sys

from imdb_edge.errors import UsageError, quiet_tensorflow
from imdb_edge.spec import GATES


def add_arguments(p) -> None:
    from imdb_edge.train.trainer import SCHEDULES, TrainConfig

    defaults = TrainConfig()
    p.add_argument("--data", help="aclImdb_v1.tar.gz, its extracted folder, a folder holding it, "
                   "or an .npz of padded ids (default: $IMDB_EDGE_DATA, else download via Keras)")
    p.add_argument("--word-index", help="imdb_word_index.json (default: beside the archive)")
    p.add_argument("--out", default=defaults.out, help="output folder (default: %(default)s)")
    p.add_argument("--schedule", choices=tuple(SCHEDULES), default="reference",
                   help="reference: 20 epochs then on while accuracy rises; quick: 3 epochs on "
                   "2,000 reviews (default: %(default)s)")
    p.add_argument("--select-on", choices=["val", "test"], default=defaults.select_on,
                   help="where lr drops, stopping and the best epoch are decided: val = held-out "
                   "training rows (honest), test = the test set, as the notebook (default: %(default)s)")
    p.add_argument("--val-fraction", type=float, default=defaults.val_fraction,
                   help="share of training rows held out with --select-on val (default: %(default)s)")
    p.add_argument("--gate", choices=tuple(GATES), default=defaults.gate,
                   help="the LSTM's recurrent activation: sigmoid, or hard_sigmoid as Keras 2 "
                   "defined it, clip(0.2 x + 0.5, 0, 1), the default of Keras before 2.3 "
                   "(default: %(default)s)")
    p.add_argument("--epochs", type=int, help="run exactly this many epochs (overrides the schedule)")
    p.add_argument("--limit", type=int, help="use only the first N train and N test reviews")
    p.add_argument("--seed", type=int, default=defaults.seed, help="random seed (default: %(default)s)")
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint")
    p.add_argument("--distribute", choices=["none", "mirrored", "multi-worker"],
                   default=defaults.distribute, help="TensorFlow distribution strategy; global "
                   f"batch stays {defaults.batch_size} (default: %(default)s)")
    p.add_argument("--no-determinism", action="store_true",
                   help="skip TF op determinism (faster, not bit-repeatable)")


def run(args) -> int:
    quiet_tensorflow()
    from imdb_edge.train.trainer import SCHEDULES, TrainConfig, train

    schedule = dict(SCHEDULES[args.schedule])
    if args.epochs is not None:
        if args.epochs < 1:
            raise UsageError("--epochs must be at least 1")
        schedule.update(min_epochs=args.epochs, max_epochs=args.epochs)
    if args.limit is not None:
        if args.limit < 10:
            raise UsageError("--limit must be at least 10")
        schedule["limit"] = args.limit
    if not 0 < args.val_fraction < 1:
        raise UsageError("--val-fraction must be between 0 and 1")
    config = TrainConfig(out=args.out, data=args.data, word_index=args.word_index,
                         select_on=args.select_on, val_fraction=args.val_fraction, seed=args.seed,
                         resume=args.resume, distribute=args.distribute,
                         deterministic=not args.no_determinism, gate=args.gate, **schedule)
    train(config, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    return 0
