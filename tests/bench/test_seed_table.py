"""benchmarks/seed_table.py: the figures it prints are computed from the reports it reads,
and runs that are not comparable seeds are refused."""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "seed_table.py"


def _report(folder: Path, seed: int, test: float, *, select_on="test", tokenizer=3) -> Path:
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps(dict(
        seed=seed, epochs_run=21, lr_drops_after_epochs=[19] if seed % 2 else [],
        best_epoch=18, test_accuracy=test, config=dict(select_on=select_on),
        data=dict(source="aclImdb_v1.tar.gz", sha256=f"cache key {seed}", train=25000,
                  selection=25000, test=25000, tokenizer_version=tokenizer))))
    return folder


def _run(*paths) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, paths)],
                          capture_output=True, text=True, timeout=60)


def test_table_rows_mean_and_sample_std(tmp_path):
    accuracies = [0.8588, 0.7712, 0.8431]
    runs = [_report(tmp_path / f"s{seed}", seed, acc)
            for seed, acc in zip((1337, 2, 3), accuracies)]
    done = _run(*runs)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[2] == "| 1337 | 21 | 19 | 18 | 85.88 % |"
    assert lines[3] == "| 2 | 21 | none | 18 | 77.12 % |"
    percent = [100 * a for a in accuracies]
    expected = f"{statistics.fmean(percent):.2f} ± {statistics.stdev(percent):.2f} %"
    assert lines[-1].endswith(f"| {expected} |") and "(3 runs)" in lines[-1]


def test_runs_that_are_not_seeds_of_one_setup_are_refused(tmp_path):
    a = _report(tmp_path / "a", 1, 0.85)
    other_selection = _report(tmp_path / "b", 2, 0.84, select_on="val")
    same_seed = _report(tmp_path / "c", 1, 0.84)
    other_rows = _report(tmp_path / "e", 5, 0.84, tokenizer=2)
    broken = tmp_path / "d"
    broken.mkdir()
    (broken / "report.json").write_text("{}")
    for paths, words in (((a, other_selection), "select_on"), ((a, same_seed), "twice"),
                         ((a, other_rows), "tokenizer v2"),
                         ((a, broken), "not a finished")):
        done = _run(*paths)
        assert done.returncode == 2 and words in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and not done.stdout
