"""Train the reference model with the published schedule; resumable, seeded, reported.

Read top to bottom: settings, then ``train()`` (data -> model -> epochs -> report).
"""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from imdb_edge import __version__, errors
from imdb_edge.atomic import atomic_write_text
from imdb_edge.runtime.text import TOKENIZER_VERSION
from imdb_edge.spec import REFERENCE, ModelSpec
from imdb_edge.train import data as data_lib
from imdb_edge.train.curves import plot_curves
from imdb_edge.train.schedule import ScheduleState, step

SCHEDULES = {
    # The published schedule: 20 epochs always, then on while accuracy rises.
    "reference": dict(min_epochs=20, max_epochs=60, limit=None),
    # For tests and demos: a few epochs on a subset; minutes on two cores.
    "quick": dict(min_epochs=3, max_epochs=3, limit=2000),
}


@dataclasses.dataclass
class TrainConfig:
    out: str = "runs/reference"     # output folder: model.keras, report.json, curves.png
    data: str | None = None         # archive, extracted folder or .npz; None: $IMDB_EDGE_DATA or download
    word_index: str | None = None   # imdb_word_index.json; default: found beside the archive
    select_on: str = "val"          # "val": decide on held-out training rows; "test": as the notebook
    val_fraction: float = 0.2       # share of training rows held out when select_on == "val"
    seed: int = 1337                # seeds weights, dropout, shuffling and the validation split
    batch_size: int = 1000          # global batch, kept under every distribution strategy
    lr: float = 5e-3                # Adam learning rate at the start
    decay: float = 1e-6             # legacy Keras time decay: lr / (1 + decay * iterations)
    min_epochs: int = 20            # epochs that always run
    max_epochs: int = 60            # hard cap on epochs
    limit: int | None = None        # use only the first N train and N test reviews
    resume: bool = False            # continue from out/checkpoint if present
    distribute: str = "none"        # "none", "mirrored" or "multi-worker" (TF_CONFIG)
    deterministic: bool = True      # TF op determinism: same seed, same result on one machine
    gate: str = REFERENCE.gate      # LSTM recurrent activation: "sigmoid", or Keras 2's
                                    # "hard_sigmoid", clip(0.2 x + 0.5, 0, 1)

    def spec(self) -> ModelSpec:
        """The family member this trains: the reference's sizes, this run's gate."""
        return dataclasses.replace(REFERENCE, gate=self.gate)


def train(config: TrainConfig, log=print) -> dict:
    """Run the schedule and write out/model.keras (best epoch), report.json, curves.png."""
    started = time.time()
    spec = config.spec()
    # Data first: a bad path fails in a second, before TensorFlow is even imported.
    dataset = data_lib.load(config.data, word_index=config.word_index,
                            spec=spec).subset(config.limit)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_dir = out / "checkpoint"
    _seed(config)
    rows = _selection_split(dataset, config)
    x_train, _, x_sel, _ = rows
    log(f"data: {dataset.source} ({len(x_train)} train, {len(x_sel)} {config.select_on}, "
        f"{len(dataset.x_test)} test)")

    strategy = _strategy(config.distribute)
    with strategy.scope():
        state, epochs, model, stopped = _start_or_resume(config, spec, ckpt_dir, log)
    log(f"replicas: {strategy.num_replicas_in_sync} ({config.distribute})")

    while not stopped:
        entry, decision = _fit_epoch(model, rows, state, config)
        epochs.append(entry)
        log(f"epoch {entry['epoch']:3d}  loss {entry['loss']:.4f}  {config.select_on} accuracy "
            f"{entry['accuracy']:.4f}  lr {entry['lr']:.1e}  {entry['seconds']:.1f}s"
            + ("  (best)" if decision.improved else "") + ("  -> lr / 10" if decision.drop_lr else ""))
        if decision.drop_lr:
            with strategy.scope():
                model.compile(_optimizer(state), loss="binary_crossentropy", metrics=["accuracy"])
        _save_checkpoint(model, ckpt_dir, state, epochs, config, stopped=decision.stop)
        if decision.stop:
            log(f"stopping: {decision.reason}; best epoch {state.best_epoch} "
                f"({config.select_on} accuracy {state.best_accuracy:.4f})")
            stopped = True

    test_accuracy = _ship_best(ckpt_dir / _epoch_file(state.best_epoch), out / "model.keras",
                               dataset, config)
    report = dict(
        config=dataclasses.asdict(config), model=spec.to_dict(), epochs=epochs,
        epochs_run=len(epochs),
        best_epoch=state.best_epoch, best_selection_accuracy=state.best_accuracy,
        test_accuracy=float(test_accuracy), lr_drops_after_epochs=state.lr_drops,
        replicas=strategy.num_replicas_in_sync,
        data=dict(source=dataset.source, sha256=dataset.sha256, train=len(x_train),
                  selection=len(x_sel), test=len(dataset.x_test),
                  tokenizer_version=TOKENIZER_VERSION),
        seed=config.seed, versions=_versions(), wall_seconds=round(time.time() - started, 1),
        seconds_per_epoch=round(float(np.mean([e["seconds"] for e in epochs])), 2),
    )
    atomic_write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
    plot_curves(report, out / "curves.png")
    log(f"test accuracy {test_accuracy:.4f} (best epoch {state.best_epoch}); wrote {out}/model.keras, "
        "report.json, curves.png")
    return report


def _seed(config: TrainConfig) -> None:
    """Seed weights, dropout and shuffling; with ``deterministic``, TensorFlow's ops too."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()


def _selection_split(dataset, config: TrainConfig) -> tuple:
    """(x_train, y_train, x_sel, y_sel): the rows trained on and the rows the schedule
    decides on, held-out training rows ("val") or the test set ("test")."""
    if config.select_on == "val":
        return data_lib.split_validation(dataset.x_train, dataset.y_train,
                                         config.val_fraction, config.seed)
    return dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test


def _fit_epoch(model, rows: tuple, state: ScheduleState, config: TrainConfig) -> tuple:
    """Train one epoch and judge it on the selection rows: (its figures, the decision)."""
    x_train, y_train, x_sel, y_sel = rows
    epoch = state.epoch + 1
    t0 = time.time()
    # Shuffle order depends only on (seed, epoch), so a resumed run sees the same batches.
    order = np.random.default_rng([config.seed, epoch]).permutation(len(x_train))
    fit = model.fit(x_train[order], y_train[order], batch_size=config.batch_size,
                    epochs=1, shuffle=False, verbose=1 if sys.stderr.isatty() else 0)
    loss = float(fit.history["loss"][-1])
    _, accuracy = model.evaluate(x_sel, y_sel, batch_size=config.batch_size, verbose=0)
    lr_used = state.lr
    decision = step(state, accuracy, min_epochs=config.min_epochs, max_epochs=config.max_epochs)
    entry = dict(epoch=epoch, loss=loss, train_accuracy=float(fit.history["accuracy"][-1]),
                 accuracy=float(accuracy), lr=lr_used, seconds=round(time.time() - t0, 2))
    return entry, decision


def _ship_best(checkpoint: Path, path: Path, dataset, config: TrainConfig):
    """Write ``checkpoint`` to ``path`` without optimizer state (loading uncompiled drops
    it); returns its test accuracy."""
    import keras

    best = keras.models.load_model(checkpoint, compile=False, safe_mode=True)
    _save_keras(best, path)
    best.compile(loss="binary_crossentropy", metrics=["accuracy"])
    _, test_accuracy = best.evaluate(dataset.x_test, dataset.y_test,
                                     batch_size=config.batch_size, verbose=0)
    return test_accuracy


def _start_or_resume(config: TrainConfig, spec: ModelSpec, ckpt_dir: Path, log):
    import keras

    from imdb_edge.train.model import build_model, gate_activation

    from imdb_edge.train import optimizer  # noqa: F401  (registers DenseAdam for reloading)

    gate_activation(spec)  # registers a Keras 2 gate before a checkpoint holding it is loaded
    state_file = ckpt_dir / "state.json"
    if config.resume and state_file.is_file():
        saved = json.loads(state_file.read_text())
        # Checkpoints from before the gate was a setting trained sigmoid gates.
        if {"gate": "sigmoid", **saved["config"]} != _identity(config):
            raise errors.UsageError(f"{ckpt_dir} was written with other settings; resume with "
                                    "the same flags or pick a new --out")
        state = ScheduleState(**saved["schedule"])
        model = keras.models.load_model(ckpt_dir / saved["last"], safe_mode=True)
        for variable, value in zip(_rng_states(model), saved["rng"]):
            variable.assign(np.asarray(value, dtype=variable.dtype))
        log(f"resuming after epoch {state.epoch} from {ckpt_dir}")
        return state, saved["epochs"], model, saved["stopped"]
    if ckpt_dir.exists() and not config.resume:
        shutil.rmtree(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    state = ScheduleState(lr=config.lr, decay=config.decay)
    model = build_model(spec=spec)
    model.compile(_optimizer(state), loss="binary_crossentropy", metrics=["accuracy"])
    return state, [], model, False


def _optimizer(state: ScheduleState):
    from imdb_edge.train.optimizer import adam

    return adam(state.lr, state.decay)


def _identity(config: TrainConfig) -> dict:
    """The settings a checkpoint must share with the run that resumes it."""
    d = dataclasses.asdict(config)
    for volatile in ("resume", "out", "distribute"):
        d.pop(volatile)
    return d


def _save_checkpoint(model, ckpt_dir: Path, state: ScheduleState, epochs: list,
                     config: TrainConfig, stopped: bool) -> None:
    """One model file per epoch, then state.json (renamed last) naming it: a kill at any
    point leaves state.json and the files it names consistent. Only the last and the best
    epoch's files are kept."""
    name = _epoch_file(state.epoch)
    _save_keras(model, ckpt_dir / name)
    atomic_write_text(ckpt_dir / "state.json", json.dumps(
        dict(schedule=dataclasses.asdict(state), epochs=epochs, config=_identity(config),
             last=name, best=_epoch_file(state.best_epoch), stopped=stopped,
             rng=[v.numpy().tolist() for v in _rng_states(model)]), indent=1))
    keep = {name, _epoch_file(state.best_epoch)}
    for old in ckpt_dir.glob("epoch-*.keras"):
        if old.name not in keep:
            old.unlink()


def _rng_states(model) -> list:
    """Dropout's random-generator states, which .keras files leave out; saved beside them
    so a resumed run draws the same dropout masks as an uninterrupted one."""
    return [v for v in model.variables if "seed_generator_state" in v.path]


def _epoch_file(epoch: int) -> str:
    return f"epoch-{epoch:03d}.keras"


def _save_keras(model, path: Path) -> None:
    """Keras only writes to paths ending in .keras, so write a hidden sibling and rename."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _strategy(name: str):
    """TensorFlow's own distribution engines; Keras splits the global batch across replicas."""
    import tensorflow as tf

    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        if "TF_CONFIG" not in os.environ:
            raise errors.UsageError("--distribute multi-worker needs TF_CONFIG set on every "
                                    "worker (see docs/training.md)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise errors.UsageError(f"unknown --distribute {name!r}; choose none, mirrored, multi-worker")


def _versions() -> dict:
    import keras
    import tensorflow as tf

    return dict(imdb_edge=__version__, tensorflow=tf.__version__, keras=keras.__version__,
                numpy=np.__version__, python=platform.python_version(),
                platform=platform.platform())
