"""Parity on the device itself: a golden file made on x86_64 with Keras, replayed by
`imdb-edge parity --golden` under each emulated Raspberry Pi OS release (no TensorFlow) on
artifacts exported from the committed reference model: bookworm aarch64 (Python 3.11) on
all four backends, trixie aarch64 (Python 3.13) on LiteRT, onnxruntime and numpy, bookworm
armhf (32-bit, Debian's numpy) on numpy.

The host side needs TensorFlow, the reference model and ../shared/data (all present in CI);
the emulated side has only the wheel, numpy and one backend. Emulation is slow, so the
golden file holds GOLDEN_REVIEWS test reviews plus the edge cases and GOLDEN_RANDOM_ROWS
random rows, and each artifact is batch 1 or any batch.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testkit import installed

pytestmark = [pytest.mark.pi, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_MODEL = ROOT / "models" / "reference" / "model.keras"
SHARED_ARCHIVE = ROOT.parent / "shared" / "data" / "aclImdb_v1.tar.gz"
GOLDEN_REVIEWS = int(os.environ.get("IMDB_EDGE_PI_GOLDEN_REVIEWS", "24"))
GOLDEN_RANDOM_ROWS = 4

# (scripts/pi_emulation.sh site, runtime backend, export arguments, artifact name)
ARTIFACTS = {
    "litert": ("litert", ["--format", "tflite", "--quantize", "int8", "--batch", "1"],
               "imdb-int8-b1.tflite"),
    "tflite": ("tflite_runtime", ["--format", "tflite", "--quantize", "dynamic", "--batch", "1"],
               "imdb-dynamic-b1.tflite"),
    "onnx": ("onnxruntime", ["--format", "onnx", "--quantize", "float32"], "imdb-float32.onnx"),
    "numpy": ("numpy", ["--format", "numpy"], "imdb-float32.npz"),
}
# (release, site): what a Pi on that release can install (docs/pi.md)
CASES = [("bookworm", site) for site in ("litert", "tflite", "onnx", "numpy")] + \
    [("trixie", site) for site in ("litert", "onnx", "numpy")] + [("bookworm-armhf", "numpy")]


def _cli(args: list, cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "imdb_edge.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"imdb-edge {' '.join(map(str, args))}:\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def host_side(tmp_path_factory):
    """Artifacts exported from the reference model and the golden file, made on x86_64."""
    missing = [what for what, ok in (
        ("TensorFlow on the host", installed("tensorflow")),
        (str(REFERENCE_MODEL), REFERENCE_MODEL.is_file()),
        (str(SHARED_ARCHIVE), SHARED_ARCHIVE.is_file())) if not ok]
    if missing:
        pytest.skip(f"golden replay needs {', '.join(missing)}")
    root = tmp_path_factory.mktemp("pi_golden")
    for site, (_, export_args, _) in ARTIFACTS.items():
        _cli(["export", *export_args, "--model", REFERENCE_MODEL, "--data", SHARED_ARCHIVE,
              "--validate", "200", "--out", root / site], cwd=root)
    golden = root / "golden.npz"
    _cli(["parity", "--make-golden", golden, "--model", REFERENCE_MODEL, "--data",
          SHARED_ARCHIVE, "--limit", GOLDEN_REVIEWS, "--random-rows", GOLDEN_RANDOM_ROWS],
         cwd=root)
    return root, golden


@pytest.mark.parametrize("release, site", CASES, ids=[f"{r}-{s}" for r, s in CASES])
def test_golden_from_x86_passes_under_emulation(release, site, pi_emulation, host_side,
                                                pi_report):
    root, golden = host_side
    backend, _, name = ARTIFACTS[site]
    artifact = root / site / name
    report = root / f"report-{release}-{backend}"
    started = time.perf_counter()
    pi_emulation.run(site, ["-m", "imdb_edge.cli", "parity", "--golden", golden, artifact,
                            "--backend", backend, "--report", report, "--no-plots"],
                     release=release)
    seconds = time.perf_counter() - started
    summary = json.loads((report / "report.json").read_text(encoding="utf-8"))
    [result] = summary["results"]
    assert summary["status"] == "PASS" and result["status"] == "PASS", result
    assert result["backend"] == backend and result["metrics"]["rows"] > GOLDEN_REVIEWS
    machine, python = pi_emulation.releases[release]
    tools = summary["versions"]
    assert tools["platform"] == f"Linux {machine}", "the replay did not run emulated"
    assert tools["python"].startswith(f"{python}."), tools
    m = result["metrics"]
    pi_report.append(f"golden replay, {release} {machine} Python {tools['python']}, {name} on "
                     f"{backend} (EMULATED): PASS, {m['rows']} rows, max abs err "
                     f"{m['max_abs']:.2g}, agreement {m['agreement']:.2%}, numpy "
                     f"{tools['numpy']}, {seconds:.0f} s for the replay")
