"""Parity on the device itself: a golden file made on x86_64 with Keras, replayed by
`imdb-edge parity --golden` under the emulated Raspberry Pi (aarch64 Debian 12, no
TensorFlow) on artifacts exported from the committed reference model, one per backend.

The host side needs TensorFlow, the reference model and ../shared/data (all present in CI);
the emulated side has only the wheel, numpy and one backend. Emulation is slow, so the
golden file holds GOLDEN_REVIEWS test reviews plus the edge cases and GOLDEN_RANDOM_ROWS
random rows, and each artifact is batch 1 or any batch.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.pi, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_MODEL = ROOT / "models" / "reference" / "model.keras"
SHARED_ARCHIVE = ROOT.parent / "shared" / "data" / "aclImdb_v1.tar.gz"
GOLDEN_REVIEWS = int(os.environ.get("IMDB_EDGE_PI_GOLDEN_REVIEWS", "24"))
GOLDEN_RANDOM_ROWS = 4

# (scripts/pi_emulation.sh site, runtime backend, export arguments, artifact name)
CASES = [
    ("litert", "litert", ["--format", "tflite", "--quantize", "int8", "--batch", "1"],
     "imdb-int8-b1.tflite"),
    ("tflite", "tflite_runtime", ["--format", "tflite", "--quantize", "dynamic", "--batch", "1"],
     "imdb-dynamic-b1.tflite"),
    ("onnx", "onnxruntime", ["--format", "onnx", "--quantize", "float32"], "imdb-float32.onnx"),
    ("numpy", "numpy", ["--format", "numpy"], "imdb-float32.npz"),
]


def _cli(args: list, cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "imdb_edge.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"imdb-edge {' '.join(map(str, args))}:\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def host_side(tmp_path_factory):
    """Artifacts exported from the reference model and the golden file, made on x86_64."""
    missing = [what for what, ok in (
        ("TensorFlow on the host", importlib.util.find_spec("tensorflow") is not None),
        (str(REFERENCE_MODEL), REFERENCE_MODEL.is_file()),
        (str(SHARED_ARCHIVE), SHARED_ARCHIVE.is_file())) if not ok]
    if missing:
        pytest.skip(f"golden replay needs {', '.join(missing)}")
    root = tmp_path_factory.mktemp("pi_golden")
    for site, _, export_args, _ in CASES:
        _cli(["export", *export_args, "--model", REFERENCE_MODEL, "--data", SHARED_ARCHIVE,
              "--validate", "200", "--out", root / site], cwd=root)
    golden = root / "golden.npz"
    _cli(["parity", "--make-golden", golden, "--model", REFERENCE_MODEL, "--data",
          SHARED_ARCHIVE, "--limit", GOLDEN_REVIEWS, "--random-rows", GOLDEN_RANDOM_ROWS],
         cwd=root)
    return root, golden


@pytest.mark.parametrize("site, backend, export_args, name", CASES,
                         ids=[case[1] for case in CASES])
def test_golden_from_x86_passes_under_emulation(site, backend, export_args, name, pi_emulation,
                                                host_side, pi_report):
    root, golden = host_side
    artifact = root / site / name
    report = root / f"report-{backend}"
    pi_emulation.run(site, ["-m", "imdb_edge.cli", "parity", "--golden", golden, artifact,
                            "--backend", backend, "--report", report, "--no-plots"])
    summary = json.loads((report / "report.json").read_text(encoding="utf-8"))
    [result] = summary["results"]
    assert summary["status"] == "PASS" and result["status"] == "PASS", result
    assert result["backend"] == backend and result["metrics"]["rows"] > GOLDEN_REVIEWS
    versions = json.dumps(summary)
    assert "aarch64" in versions, "the replay did not run on the emulated aarch64 Python"
    m = result["metrics"]
    pi_report.append(f"golden replay, {name} on {backend} (EMULATED aarch64): PASS, "
                     f"{m['rows']} rows, max abs err {m['max_abs']:.2g}, "
                     f"agreement {m['agreement']:.2%}")
