"""Every artifact kind the exporter makes, on every backend that runs it, against Keras.

Fast tier (default): FAST_REVIEWS test reviews + edge cases + seeded random rows. Full tier
(`pytest -m full`): all 25,000 test reviews. PASS/FAIL is tolerances.judge, the table export
validation uses; a failure prints the Polygraphy-style figures and the flips.

Backends not installed in this interpreter skip with the reason, except tflite_runtime,
which runs in the tflite-runtime 2.14 venv (a golden replay in a subprocess) where one exists.
"""
from __future__ import annotations

import json
import subprocess

import pytest

from imdb_edge.runtime import available_backends
from imdb_edge.runtime.backends import BACKENDS as RUNTIME_BACKENDS
from parity_helpers import find_artifact, tflite214_python
from imdb_edge import parity

# (format, quantization, TFLite batch or None): what `imdb-edge export --format all` makes.
KINDS = [
    ("tflite", "float32", 1), ("tflite", "float32", 64),
    ("tflite", "float16", 1), ("tflite", "float16", 64),
    ("tflite", "dynamic", 1), ("tflite", "dynamic", 64),
    ("tflite", "int8", 1), ("tflite", "int8", 64),
    ("tflite", "int16x8", 1), ("tflite", "int16x8", 64),
    ("onnx", "float32", None), ("onnx", "float16", None), ("onnx", "dynamic", None),
    ("onnx", "int8", None),
    ("numpy", "float32", None),
]
BACKENDS = {"tflite": ("litert", "tflite_runtime", "tensorflow_lite"),
            "onnx": ("onnxruntime",), "numpy": ("numpy",)}
CASES = [(fmt, mode, batch, backend) for fmt, mode, batch in KINDS for backend in BACKENDS[fmt]]


def case_id(case) -> str:
    fmt, mode, batch, backend = case
    return f"{fmt}-{mode}" + (f"-b{batch}" if batch else "") + f"-{backend}"


def score(exported, reference, golden_of, tmp_path, case) -> dict:
    """The parity result of one case: in process, or for tflite_runtime through the 2.14
    venv when this interpreter lacks it."""
    fmt, mode, batch, backend = case
    artifact = find_artifact(exported, fmt, mode, batch)
    if backend in available_backends(fmt):
        result, _ = parity.check(artifact, backend, reference, log=lambda _: None)
        return result
    python = tflite214_python() if backend == "tflite_runtime" else None
    if python is None:
        pytest.skip(f"backend {backend} is not installed"
                    + (" and there is no .venv-tflite214" if backend == "tflite_runtime" else ""))
    done = subprocess.run([python, "-m", "imdb_edge.cli", "parity", "--golden",
                           str(golden_of(reference)), str(artifact), "--backend", backend,
                           "--report", str(tmp_path), "--no-plots"],
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    results = json.loads((tmp_path / "report.json").read_text())["results"]
    assert [r["backend"] for r in results] == [backend]
    return results[0]


def explain(result: dict) -> str:
    m = result.get("metrics") or {}
    figures = ", ".join(f"{k} {m[k]:.3g}" for k in ("max_abs", "mean_abs", "p99_abs", "max_rel",
                                                     "mean_rel", "p99_rel", "needed_atol",
                                                     "agreement") if k in m)
    return (f"{result['artifact']} on {result['backend']}: {result['status']}: "
            f"{'; '.join(result['problems'])}\n  {figures}; flips {m.get('flips')}, "
            f"accuracy delta {m.get('accuracy_delta_points')} points\n"
            f"  farthest flips: {m.get('flips_farthest')}\n"
            f"  edge cases: {result.get('edge_cases')}")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_parity_fast(case, exported, fast_reference, golden_of, tmp_path):
    result = score(exported, fast_reference, golden_of, tmp_path, case)
    assert result["status"] == "PASS", explain(result)
    assert result["metrics"]["rows"] == len(fast_reference.ids)


@pytest.mark.full
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_parity_full(case, exported, full_reference, golden_of, tmp_path):
    assert full_reference.reviews == 25000
    result = score(exported, full_reference, golden_of, tmp_path, case)
    assert result["status"] == "PASS", explain(result)


def test_every_exportable_kind_has_a_parity_case():
    """A new format, mode or batch in the exporter must come with parity cases here."""
    from imdb_edge.export.formats import FORMATS, MODES
    from imdb_edge.export.plan import ExportOptions, plan

    planned = {(job.format, job.mode, job.batch) for job in
               plan(ExportOptions(formats=tuple(FORMATS), modes=MODES, batches=(1, 64)))}
    assert planned - set(KINDS) == set(), "exportable kinds without a parity case"
    assert set(KINDS) - planned == set(), "parity cases for kinds the exporter cannot make"
    for fmt in BACKENDS:
        known = {b.name for b in RUNTIME_BACKENDS if b.format == fmt}
        assert set(BACKENDS[fmt]) == known, f"{fmt}: every runtime backend needs cases"
