"""The seed table of training runs: one row per `imdb-edge train` report, then the mean and
sample standard deviation of their test accuracy.

    python benchmarks/seed_table.py models/reference/report.json runs/seed2/report.json ...

Each argument is a report.json or the folder holding one. Runs on different data, with a
different selection, or stopped before their schedule ended are refused: a table that
mixes them would not say what one seed is worth.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


class ReportError(Exception):
    pass


def load(path: Path) -> dict:
    path = path / "report.json" if path.is_dir() else path
    try:
        report = json.loads(path.read_text())
        return dict(path=str(path), seed=report["seed"], epochs=report["epochs_run"],
                    drops=report["lr_drops_after_epochs"], best=report["best_epoch"],
                    test=report["test_accuracy"], select_on=report["config"]["select_on"],
                    data=_data_identity(report["data"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReportError(f"{path}: not a finished imdb-edge train report ({exc!r})") from None


def _data_identity(data: dict) -> str:
    # The source, tokenizer and split sizes name the rows; data.sha256 is the loader's cache
    # key, whose format may change between versions for the same rows.
    return (f"{data['source']} tokenizer v{data.get('tokenizer_version')} "
            f"{data['train']}/{data['selection']}/{data['test']} rows")


def check_comparable(runs: list) -> None:
    for field in ("select_on", "data"):
        values = {run[field] for run in runs}
        if len(values) > 1:
            raise ReportError(f"the runs differ in {field} ({' vs '.join(sorted(values))}); "
                              "a seed table compares seeds only")
    seeds = [run["seed"] for run in runs]
    if len(set(seeds)) != len(seeds):
        raise ReportError(f"a seed appears twice: {seeds}")


def markdown(runs: list) -> str:
    lines = ["| seed | epochs | lr / 10 after epochs | best epoch | test accuracy |",
             "|---:|---:|---|---:|---:|"]
    for run in runs:
        drops = ", ".join(map(str, run["drops"])) or "none"
        lines.append(f"| {run['seed']} | {run['epochs']} | {drops} | {run['best']} "
                     f"| {100 * run['test']:.2f} % |")
    accuracies = [100 * run["test"] for run in runs]
    mean = statistics.fmean(accuracies)
    spread = f" ± {statistics.stdev(accuracies):.2f}" if len(runs) > 1 else ""
    runs_word = "run" if len(runs) == 1 else "runs"
    lines.append(f"| mean ± sample std ({len(runs)} {runs_word}) | | | | {mean:.2f}{spread} % |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", type=Path, help="report.json files or run folders")
    args = parser.parse_args(argv)
    try:
        runs = [load(path) for path in args.reports]
        check_comparable(runs)
    except ReportError as exc:
        print(f"seed_table: {exc}", file=sys.stderr)
        return 2
    print(markdown(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
