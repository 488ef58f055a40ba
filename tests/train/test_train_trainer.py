"""train/trainer.py end to end on a tiny synthetic .npz: artifacts, report, seeding, resume.

Each run trains the real model for a few epochs on 160 rows (one batch per epoch), so these
take seconds each; the whole module about a minute on two busy cores.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras", reason="the [train] extra (TensorFlow, Keras) is not installed")

from imdb_edge.train import data as data_lib  # noqa: E402
from imdb_edge.runtime.text import TOKENIZER_VERSION  # noqa: E402
from imdb_edge.spec import REFERENCE  # noqa: E402
from imdb_edge.train.trainer import TrainConfig, train  # noqa: E402
from trainkit import PYTHON, subprocess_env  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    # Keras-internal noise under numpy 2, not ours.
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
    # After an lr drop the checkpoint holds the fresh, still unbuilt Adam; loading it for
    # --resume builds a new one (all zeros, step 0) and skips the empty saved state: same thing.
    pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer"),
]

EPOCH_KEYS = {"epoch", "loss", "train_accuracy", "accuracy", "lr", "seconds"}
REPORT_KEYS = {"replicas", "config", "model", "epochs", "epochs_run", "best_epoch", "best_selection_accuracy",
               "test_accuracy", "lr_drops_after_epochs", "data", "seed", "versions",
               "wall_seconds", "seconds_per_epoch"}

# Runs a TrainConfig (JSON in argv[1]) and dies by SIGKILL right after the checkpoint of
# epoch argv[2] is on disk: a crash at the worst moment for the report, deterministically.
# (Polling state.json from outside and killing races with the next epoch on a fast machine.)
KILL_AFTER_CHECKPOINT = """
import json, os, signal, sys
from imdb_edge.train import trainer
config = trainer.TrainConfig(**json.loads(sys.argv[1]))
kill_after = int(sys.argv[2])
save = trainer._save_checkpoint
def save_then_die(model, ckpt_dir, state, *args, **kwargs):
    save(model, ckpt_dir, state, *args, **kwargs)
    if state.epoch == kill_after:
        os.kill(os.getpid(), signal.SIGKILL)
trainer._save_checkpoint = save_then_die
trainer.train(config)
"""


def without_timing(report: dict) -> dict:
    """The report minus what may differ between equal runs: clocks, the out folder, --resume."""
    report = copy.deepcopy(report)
    for key in ("wall_seconds", "seconds_per_epoch"):
        report.pop(key)
    for epoch in report["epochs"]:
        epoch.pop("seconds")
    for key in ("out", "resume"):
        report["config"].pop(key)
    return report


def weights(path: Path) -> list[np.ndarray]:
    import keras

    return keras.models.load_model(path, compile=False, safe_mode=True).get_weights()


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert len(wa) == len(wb)
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)


def killed_run(config: TrainConfig, kill_after: int, tmp_path: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([PYTHON, "-c", KILL_AFTER_CHECKPOINT,
                           json.dumps(dataclasses.asdict(config)), str(kill_after)],
                          env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    return proc


# --- one run: what it writes ------------------------------------------------------------

@pytest.fixture(scope="module")
def first_run(tiny_npz, tmp_path_factory):
    out = tmp_path_factory.mktemp("first") / "run"
    config = TrainConfig(out=str(out), data=str(tiny_npz), min_epochs=2, max_epochs=2, seed=7)
    logs: list[str] = []
    report = train(config, log=logs.append)
    return config, report, logs


def test_run_writes_model_report_and_curves(first_run, tiny_npz):
    config, report, logs = first_run
    out = Path(config.out)
    assert json.loads((out / "report.json").read_text()) == report
    assert set(report) == REPORT_KEYS
    assert report["config"] == dataclasses.asdict(config)
    assert report["config"]["gate"] == "sigmoid" and report["model"] == REFERENCE.to_dict()
    assert report["seed"] == 7
    assert report["epochs_run"] == len(report["epochs"]) == 2
    for number, epoch in enumerate(report["epochs"], 1):
        assert set(epoch) == EPOCH_KEYS and epoch["epoch"] == number
        assert epoch["lr"] == 5e-3 and epoch["seconds"] > 0 and epoch["loss"] > 0
        assert 0 <= epoch["accuracy"] <= 1 and 0 <= epoch["train_accuracy"] <= 1
    accuracies = [e["accuracy"] for e in report["epochs"]]
    assert report["best_epoch"] == accuracies.index(max(accuracies)) + 1
    assert report["best_selection_accuracy"] == pytest.approx(max(accuracies))
    assert report["data"] == dict(source=str(tiny_npz), sha256=data_lib.file_sha256(tiny_npz),
                                  train=160, selection=40, test=200,
                                  tokenizer_version=TOKENIZER_VERSION)
    assert {"imdb_edge", "tensorflow", "keras", "numpy", "python"} <= set(report["versions"])
    assert report["wall_seconds"] > 0 and report["seconds_per_epoch"] > 0
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "curves.png").stat().st_size > 5000
    assert any(line.startswith("epoch   1") for line in logs)
    assert any(line.startswith("test accuracy") for line in logs)
    assert not [p for p in out.rglob(".*") if p.is_file()], "temporary files left behind"


def test_model_keras_is_the_best_epoch_without_optimizer(first_run, tiny_npz):
    import keras

    config, report, _ = first_run
    out = Path(config.out)
    model = keras.models.load_model(out / "model.keras", safe_mode=True)
    assert getattr(model, "optimizer", None) is None
    ckpt = out / "checkpoint"
    best = ckpt / f"epoch-{report['best_epoch']:03d}.keras"
    assert {p.name for p in ckpt.iterdir()} == {"state.json", "epoch-002.keras", best.name}
    assert_same_weights(out / "model.keras", best)
    # The reported test accuracy is this model's, on the full test split.
    ds = data_lib.load(tiny_npz)
    model.compile(loss="binary_crossentropy", metrics=["accuracy"])
    _, accuracy = model.evaluate(ds.x_test, ds.y_test, batch_size=1000, verbose=0)
    assert accuracy == pytest.approx(report["test_accuracy"], abs=1e-6)


def test_same_seed_gives_the_same_report_and_weights(first_run, tmp_path):
    config, report, _ = first_run
    again = train(dataclasses.replace(config, out=str(tmp_path / "again")), log=lambda _: None)
    assert without_timing(again) == without_timing(report)
    assert_same_weights(Path(config.out) / "model.keras", tmp_path / "again" / "model.keras")


def test_another_seed_gives_another_run(first_run, tmp_path):
    config, report, _ = first_run
    other = train(dataclasses.replace(config, out=str(tmp_path / "other"), seed=8),
                  log=lambda _: None)
    assert [e["loss"] for e in other["epochs"]] != [e["loss"] for e in report["epochs"]]


# --- resume after a crash -----------------------------------------------------------------

@pytest.fixture(scope="module")
def resume_runs(tiny_npz, tmp_path_factory):
    """A 4-epoch run killed after epoch 2's checkpoint and resumed, and the same run straight."""
    tmp = tmp_path_factory.mktemp("resume")
    config = TrainConfig(out=str(tmp / "killed"), data=str(tiny_npz), min_epochs=4, max_epochs=4,
                         seed=11)
    killed_run(config, 2, tmp)
    state = json.loads((tmp / "killed" / "checkpoint" / "state.json").read_text())
    logs: list[str] = []
    resumed = train(dataclasses.replace(config, resume=True), log=logs.append)
    straight = train(dataclasses.replace(config, out=str(tmp / "straight")), log=lambda _: None)
    return dict(config=config, state_at_kill=state, resumed=resumed, logs=logs,
                straight=straight, tmp=tmp)


def test_a_killed_run_leaves_a_consistent_checkpoint_and_resumes(resume_runs):
    state, resumed = resume_runs["state_at_kill"], resume_runs["resumed"]
    assert len(state["epochs"]) == 2 and state["schedule"]["accuracies"] == [
        e["accuracy"] for e in state["epochs"]]
    assert state["last"] == "epoch-002.keras"
    assert any("resuming after epoch 2" in line for line in resume_runs["logs"])
    assert [e["epoch"] for e in resumed["epochs"]] == [1, 2, 3, 4]
    # The epochs before the kill are the straight run's: the first process was deterministic.
    straight = without_timing(resume_runs["straight"])["epochs"][:2]
    assert without_timing(resumed)["epochs"][:2] == straight
    assert (Path(resume_runs["config"].out) / "report.json").is_file()


def test_resumed_run_equals_the_uninterrupted_run(resume_runs):
    resumed, straight, tmp = resume_runs["resumed"], resume_runs["straight"], resume_runs["tmp"]
    assert without_timing(resumed) == without_timing(straight)
    assert_same_weights(tmp / "killed" / "checkpoint" / "epoch-004.keras",
                        tmp / "straight" / "checkpoint" / "epoch-004.keras")
    assert_same_weights(tmp / "killed" / "model.keras", tmp / "straight" / "model.keras")


def test_resume_with_other_settings_is_refused(resume_runs):
    changed = dataclasses.replace(resume_runs["config"], resume=True, max_epochs=6, min_epochs=6)
    with pytest.raises(ValueError, match="other settings"):
        train(changed, log=lambda _: None)


def test_resuming_a_finished_run_adds_no_epoch(tiny_npz, tmp_path):
    config = TrainConfig(out=str(tmp_path / "run"), data=str(tiny_npz), min_epochs=2,
                         max_epochs=2, seed=11)
    killed_run(config, 2, tmp_path)
    report = train(dataclasses.replace(config, resume=True), log=lambda _: None)
    assert report["epochs_run"] == 2


def test_a_checkpoint_from_before_the_gate_setting_resumes_as_sigmoid(tiny_npz, tmp_path):
    config = TrainConfig(out=str(tmp_path / "run"), data=str(tiny_npz), min_epochs=2,
                         max_epochs=2, seed=11)
    killed_run(config, 1, tmp_path)
    state_file = tmp_path / "run" / "checkpoint" / "state.json"
    state = json.loads(state_file.read_text())
    del state["config"]["gate"]
    state_file.write_text(json.dumps(state))
    report = train(dataclasses.replace(config, resume=True), log=lambda _: None)
    assert report["epochs_run"] == 2
    with pytest.raises(ValueError, match="other settings"):
        train(dataclasses.replace(config, resume=True, gate="hard_sigmoid"), log=lambda _: None)


# --- the gate -----------------------------------------------------------------------------

def test_train_gate_flag_builds_reports_and_saves_keras2_gates(tiny_npz, tmp_path):
    """`imdb-edge train --gate hard_sigmoid`: the flag reaches the config, the model is built
    from the hard_sigmoid spec (by value: its gates are Keras 2's formula), the report
    records it, and the exporter reads the saved file back as that member."""
    import keras

    from imdb_edge.cli import main
    from imdb_edge.export import intake
    from imdb_edge.spec import LAYER_NAMES, hard_sigmoid

    out = tmp_path / "run"
    assert main(["train", "--gate", "hard_sigmoid", "--data", str(tiny_npz), "--epochs", "1",
                 "--limit", "100", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["gate"] == report["model"]["gate"] == "hard_sigmoid"
    assert intake.load(out / "model.keras").spec == dataclasses.replace(REFERENCE,
                                                                        gate="hard_sigmoid")
    model = keras.models.load_model(out / "model.keras", compile=False, safe_mode=True)
    gate = model.get_layer(LAYER_NAMES["lstm"]).cell.recurrent_activation
    x = np.linspace(-4, 4, 81, dtype=np.float32)
    np.testing.assert_allclose(np.asarray(gate(x)), hard_sigmoid(x), atol=1e-7)
    assert not np.allclose(np.asarray(keras.activations.hard_sigmoid(x)), hard_sigmoid(x))


def test_train_gate_flag_refuses_other_gates(capsys):
    from imdb_edge.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["train", "--gate", "tanh"])
    assert exit_.value.code == 2 and "invalid choice: 'tanh'" in capsys.readouterr().err
