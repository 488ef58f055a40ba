"""The scripts in benchmarks/ run end to end on tiny inputs, so the evidence they produced
for the README can be produced again from a clean checkout. Nothing is timed: the tests
check that each script measures what it claims and prints or writes it."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from testkit import BENCHMARKS, installed, make_npz
from testkit import run_benchmark as run_script

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not all(installed(m) for m in ("tensorflow", "keras")),
                       reason="the benchmark scripts need TensorFlow and Keras (extra: train)"),
]


@pytest.fixture(scope="module")
def rows_npz(tmp_path_factory) -> Path:
    """200 train / 200 test padded rows: what the scripts read as --data."""
    return make_npz(tmp_path_factory.mktemp("rows") / "rows.npz")


def test_train_epoch_times_three_loops(rows_npz, tmp_path):
    out = tmp_path / "epoch.json"
    done = run_script("train_epoch.py", "--data", rows_npz, "--limit", 200, "--epochs", 1,
                      "--json", out, cwd=tmp_path)
    summary = json.loads(out.read_text())
    assert (summary["train_rows"], summary["selection_rows"]) == (160, 40)
    loops = summary["loops"]
    assert set(loops) == {"imdb-edge, determinism on", "imdb-edge, determinism off",
                          "plain Keras"}
    for name, loop in loops.items():
        assert len(loop["fit_seconds"]) == 1 and loop["fit_seconds_mean"] > 0, name
        assert loop["ratio_to_plain"] > 0 and f"| {name} |" in done.stdout
    assert loops["plain Keras"]["ratio_to_plain"] == 1.0
    assert loops["plain Keras"]["evaluate_seconds_mean"] is None  # only the trainer evaluates


@pytest.mark.skipif(not installed("ai_edge_litert"),
                    reason="while_loop_variants.py times on LiteRT (extra: litert)")
def test_while_loop_variants_prints_every_variant(tiny_keras, rows_npz, tmp_path):
    out = tmp_path / "variants.json"
    done = run_script("while_loop_variants.py", "--model", tiny_keras, "--data", rows_npz,
                      "--calls", 3, "--variants", "export", "gates_ifo", "empty_loop",
                      "--json", out, cwd=tmp_path)
    results = json.loads(out.read_text())["results"]
    assert list(results) == ["export", "gates_ifo", "empty_loop"]
    for name, r in results.items():
        assert r["p50_ms"] > 0 and r["bytes"] > 0 and f"| {name} |" in done.stdout, name
    # A reordering of the gate columns computes the same function as the export.
    assert results["gates_ifo"]["max_abs_diff_vs_export"] < 1e-5


def test_trial_hard_sigmoid_trains_with_keras2_gates(rows_npz, tmp_path):
    """The trial is `imdb-edge train --gate hard_sigmoid`: the saved model holds Keras 2's
    gate by its registered name, the report records the gate, and the exporter reads the
    file back as a hard_sigmoid member of the family."""
    run_script("trial_hard_sigmoid.py", "--data", rows_npz, "--epochs", 1,
               "--limit", 100, "--out", tmp_path / "run", cwd=tmp_path)
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["epochs_run"] == 1
    assert report["config"]["gate"] == report["model"]["gate"] == "hard_sigmoid"
    with zipfile.ZipFile(tmp_path / "run" / "model.keras") as z:
        lstm = next(layer for layer in json.loads(z.read("config.json"))["config"]["layers"]
                    if layer["class_name"] == "LSTM")
    assert "keras2_hard_sigmoid" in json.dumps(lstm["config"]["recurrent_activation"])
    from imdb_edge.export import intake

    assert intake.load(tmp_path / "run" / "model.keras").spec.gate == "hard_sigmoid"


def test_trial_hard_sigmoid_keeps_its_gate(tmp_path):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "trial_hard_sigmoid.py"), "--gate",
                           "sigmoid"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2 and "--gate is this trial's own setting" in done.stderr


@pytest.mark.skipif(not all(installed(m) for m in ("tf_keras", "h5py")),
                    reason="user_models.py writes Keras 2 files with tf_keras")
def test_user_models_exports_and_scores_every_file_kind(tmp_path):
    """Small sizes and the packaged rows: the same table the docs show, for two kinds."""
    run_script("user_models.py", "--work", tmp_path / "work", "--kinds", "keras2-hard_sigmoid",
               "keras3-twice", "--formats", "numpy", "--length", 12, "--vocab", 300, "--embed", 4,
               "--validate", 20, "--markdown", tmp_path / "table.md",
               "--json", tmp_path / "all.json", cwd=tmp_path)
    lines = (tmp_path / "table.md").read_text().splitlines()
    cells = [[cell.strip() for cell in line.strip("|").split("|")]
             for line in lines if line.startswith("| ")]
    rows = {row[0]: row[1:] for row in cells}
    assert rows.pop("file") == ["exit (numpy)", "`imdb-float32.npz`", "lowest agreement", "scored"]
    assert set(rows) == {"keras2-hard_sigmoid/model.h5", "keras2-hard_sigmoid/saved_model",
                         "keras2-hard_sigmoid/model.keras", "keras3-twice/model.keras"}
    for file, (code, cell, agreement, scored) in rows.items():
        against_model, against_framework = (float(v) for v in cell.split(" / "))
        assert (code, agreement, scored) == ("0", "100.00 %", "1 of 1"), file
        assert against_model <= 1e-5 and against_framework <= 1e-5, file
    refused = [line for line in lines if line.startswith("- ")]
    assert len(refused) == 2 and all(": exit 2: imdb-edge export: error:" in r for r in refused)
    assert "Keras 3's hard_sigmoid" in refused[0] and "is a Lambda" in refused[1]
    figures = json.loads((tmp_path / "all.json").read_text())
    assert len(figures["results"]) == 4 and len(figures["refused"]) == 2
