"""The parity report on disk: report.json (everything), report.md (a table to read in ten
seconds) and one PNG per artifact (error histogram + artifact-vs-Keras scatter).

Every file is written atomically. Plots use matplotlib's Agg canvas directly (no pyplot, no
global backend switch) and are skipped, with a note, where matplotlib is not installed.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from imdb_edge.atomic import atomic_write, atomic_write_text
from imdb_edge.errors import UsageError
from imdb_edge.tolerances import Tolerance, accuracy_bound

PLOTS = "plots"


REPORT_FILES = ("report.json", "report.md", PLOTS)


def write(report, folder, plots: bool = True) -> list:
    """Write the report into ``folder`` as a whole; returns notes for the user (one line each).

    The files are built in a hidden staging folder beside ``folder`` and published with a
    rename, so a reader (or a run killed half-way) never sees report.json of one run beside
    report.md or plots of another; plots of an earlier run go with the folder they were in.
    """
    folder = Path(folder)
    check_report_folder(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.staging-"))
    try:
        notes = _write_files(report, staging, plots)
        publish(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    summary = report.summary
    notes.append(f"report: {folder / 'report.md'} ({summary['status']}), {folder / 'report.json'}"
                 + (f", {len(summary.get('plots', {}))} plots in {folder / PLOTS}"
                    if summary.get("plots") else ""))
    return notes


def check_report_folder(folder: Path) -> None:
    """A report folder is replaced whole: refuse one that holds anything but a report."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise UsageError(f"report folder {folder} is not writable: it is a file")
    others = sorted(p.name for p in folder.iterdir()
                    if p.name not in REPORT_FILES and not p.name.startswith("."))
    if others:
        raise UsageError(f"report folder {folder} holds other files ({', '.join(others[:3])}); "
                         "a report replaces its whole folder, so name a new or report-only one")


def publish(staging: Path, folder: Path) -> None:
    """Put ``staging`` where ``folder`` is: an earlier report is moved aside first (one
    rename), the new one renamed in (another), the earlier one removed."""
    old = None
    if folder.exists():
        old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.old-"))
        os.rename(folder, old / folder.name)
    try:
        os.rename(staging, folder)
    except BaseException:
        if old is not None:
            os.rename(old / folder.name, folder)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _write_files(report, folder: Path, plots: bool) -> list:
    summary = report.summary
    notes = []
    if plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            notes.append("plots skipped: matplotlib is not installed (pip install matplotlib)")
            plots = False
    summary.pop("plots", None)
    if plots:
        (folder / PLOTS).mkdir(exist_ok=True)
        summary["plots"] = {}
        for artifact in dict.fromkeys(r["artifact"] for r in summary["results"]):
            runs = [r for r in summary["results"]
                    if r["artifact"] == artifact and (artifact, r["backend"]) in report.outputs]
            if not runs:
                continue
            name = f"{PLOTS}/{artifact}.png"
            plot_artifact(folder / name, artifact, runs, report)
            summary["plots"][artifact] = name
    atomic_write_text(folder / "report.json",
                      json.dumps(_finite(summary), indent=2, allow_nan=False) + "\n")
    atomic_write_text(folder / "report.md", markdown(summary))
    return notes


def markdown(summary: dict) -> str:
    """Status first, then one row per artifact x backend, then what broke and why."""
    lines = _heading(summary) + [_row(r) for r in summary["results"]]
    lines += _failures(summary)
    if summary.get("warnings"):
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in summary["warnings"]]
    lines += _not_run(summary)
    if summary.get("plots"):
        lines += ["", "## Plots", ""] + [f"- [{a}]({p})" for a, p in summary["plots"].items()]
    lines += ["", "Tolerances: `imdb_edge/tolerances.py` (the table export validation uses). "
              "Hashes, versions and every figure: `report.json`.", ""]
    return "\n".join(lines)


def _heading(summary: dict) -> list:
    """The status line, the reference, and the table's header."""
    ref, rows = summary["reference"], summary["rows"]
    n = len(summary["results"])
    head = (f"# Parity: {summary['status']}: {summary['passed']} of {n} artifact x backend "
            f"runs pass")
    what = (f"golden file `{ref['golden']['path']}` (made {ref.get('golden_created')})"
            if ref["kind"] == "golden" else f"Keras model `{ref['model']['path']}`")
    acc = ref.get("keras_accuracy")
    return [head, "",
            f"Reference: {what}, model sha256 `{ref['model']['sha256'][:12]}`; "
            f"{rows['reviews']:,} test reviews + {rows['edge']} edge/random rows"
            + (f"; Keras accuracy {100 * acc:.2f}%" if acc is not None else "")
            + f". {summary['seconds']:.0f}s, {summary['jobs']} runs at a time.", "",
            "| artifact | backend | status | max abs err (tol) | p99 abs (tol) | agreement (min) "
            "| flips | accuracy, delta pts (max) | rows/s |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|"]


def _row(r: dict) -> str:
    """One artifact x backend run as a table row, each figure beside its tolerance."""
    m, tol = r.get("metrics"), r.get("tolerance") or {}
    if m is None:
        return f"| {r['artifact']} | {r['backend']} | **{r['status']}** | - | - | - | - | - | - |"
    status = r["status"] if r["status"] == "PASS" else f"**{r['status']}**"
    bound = tol.get("max_accuracy_delta")
    if bound is not None:  # the bound judge() applied: never finer than one review
        bound = accuracy_bound(Tolerance(**tol), m.get("reviews"))[0]
    accuracy = "-" if m.get("accuracy") is None else \
        f"{100 * m['accuracy']:.2f}%, {m['accuracy_delta_points']:+.2f} " \
        f"({_tol(bound, '±{:g}')})"
    return (f"| {r['artifact']} | {r['backend']} | {status} "
            f"| {m['max_abs']:.2e} ({_tol(tol.get('max_abs'), '{:g}')}) | {m['p99_abs']:.2e} "
            f"({_tol(tol.get('max_p99_abs'), '{:g}')}) "
            f"| {100 * m['agreement']:.2f}% ({_tol(tol.get('min_agreement'), '{:.1%}')}) "
            f"| {m['flips']} | {accuracy} | {r.get('rows_per_s', 0):,.0f} |")


def _failures(summary: dict) -> list:
    """'What failed': each failing run's problems and its farthest label flips."""
    problems = [r for r in summary["results"] if r["problems"]]
    if not problems:
        return []
    lines = ["", "## What failed", ""]
    for r in problems:
        lines.append(f"- **{r['artifact']} / {r['backend']}**: {'; '.join(r['problems'])}")
        far = (r.get("metrics") or {}).get("flips_farthest") or []
        if far:
            lines.append("  - farthest flips: " + ", ".join(
                f"{f['input']} (Keras {f['keras']:.3f}, artifact {f['artifact']:.3f})"
                for f in far))
    return lines


def _not_run(summary: dict) -> list:
    """'Not run': the skipped backends by reason (deselected ones are not news)."""
    skipped = [s for s in summary.get("skipped", []) if not s["reason"].startswith("not selected")]
    if not skipped:
        return []
    by_reason = {}
    for s in skipped:
        by_reason.setdefault((s["backend"], s["reason"]), []).append(s["artifact"])
    return ["", "## Not run", ""] + [f"- {backend} ({len(artifacts)} artifacts): {reason}"
                                     for (backend, reason), artifacts in by_reason.items()]


def _tol(value, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def plot_artifact(path: Path, artifact: str, runs: list, report) -> None:
    """Left: histogram of |artifact - Keras| per backend (log scale, exact zeros in the first
    bin). Right: artifact vs Keras probability, label flips in red."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ref = report.reference.probs.astype(np.float64)
    fig = Figure(figsize=(11, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    hist, scatter = fig.subplots(1, 2)
    floor = 1e-9
    bins = np.logspace(math.log10(floor), 0, 46)
    for r, style in zip(runs, ["-", "--", ":", "-."] * len(runs)):
        err = np.abs(report.outputs[(artifact, r["backend"])].astype(np.float64) - ref)
        hist.hist(np.clip(err, floor, 1), bins=bins, histtype="step", linewidth=1.5,
                  linestyle=style, label=f"{r['backend']} ({r['status']}, max {err.max():.1e})")
    # Float kinds are bounded on the largest error, quantized kinds on the 99th percentile
    # (imdb_edge/tolerances.py): draw whichever bounds this kind has.
    tol = runs[0].get("tolerance") or {}
    for key, words, style in (("max_abs", "max abs", "--"), ("max_p99_abs", "p99 abs", ":")):
        if tol.get(key) is not None:
            hist.axvline(tol[key], color="black", linestyle=style, linewidth=1,
                         label=f"{words} tolerance {tol[key]:g}")
    hist.set_xscale("log")
    hist.set_yscale("log")
    hist.set_xlabel(f"|p artifact - p Keras| (values below {floor:g} in the first bin)")
    hist.set_ylabel("rows")
    hist.legend(fontsize=8, loc="upper right")
    hist.set_title("absolute error")

    got = report.outputs[(artifact, runs[0]["backend"])].astype(np.float64)
    threshold = report.summary["reference"].get("threshold") or 0.5
    flipped = (got >= threshold) != (ref >= threshold)
    scatter.scatter(ref[~flipped], got[~flipped], s=2, alpha=0.35, rasterized=True,
                    label="same label")
    if flipped.any():
        scatter.scatter(ref[flipped], got[flipped], s=12, color="red", rasterized=True,
                        label=f"flipped ({int(flipped.sum())})")
    scatter.plot([0, 1], [0, 1], color="black", linewidth=0.8)
    scatter.axhline(threshold, color="grey", linewidth=0.5)
    scatter.axvline(threshold, color="grey", linewidth=0.5)
    scatter.set_xlim(-0.02, 1.02)
    scatter.set_ylim(-0.02, 1.02)
    scatter.set_xlabel("Keras probability")
    scatter.set_ylabel(f"artifact probability ({runs[0]['backend']})")
    scatter.legend(fontsize=8, loc="upper left")
    scatter.set_title("artifact vs Keras")
    status = "PASS" if all(r["status"] == "PASS" for r in runs) else "FAIL"
    fig.suptitle(f"{artifact}: {status} ({len(ref):,} rows)")
    fig.tight_layout()
    with atomic_write(path) as f:
        fig.savefig(f, format="png")


def _finite(value):
    """JSON has no NaN or infinity: write them as strings rather than break the file."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
