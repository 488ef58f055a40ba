"""Will a TFLite file load on tflite-runtime 2.14, the last tflite-runtime wheel and what
Raspberry Pi guides install?

It cannot be installed next to a numpy-2 TensorFlow, so the export checks statically
against its op-version table (:mod:`imdb_edge.export.op_versions_tflite_2_14`), and
:func:`load_in_tflite_runtime_214` loads bytes for real in a separate venv that has it
(``$IMDB_EDGE_TFLITE214_PYTHON``), so tests can confirm the table agrees with the runtime.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from imdb_edge.errors import UsageError
from imdb_edge.export import op_versions_tflite_2_14 as table
from imdb_edge.export.tflite_opcodes import schema

TFLITE214_PYTHON_ENV = "IMDB_EDGE_TFLITE214_PYTHON"
RUNTIME = "tflite-runtime 2.14"


def static_reasons(ops: list, tensor_types: set) -> list:
    """Why the ops and tensor types of a model (as tflite_opcodes.parse_tflite reads them)
    would not load on tflite-runtime 2.14; custom ops are left to the builtin-only policy."""
    reasons = []
    for op in ops:
        name, version = op["name"], op["version"]
        if name.startswith("CUSTOM:"):
            continue                      # already refused by the builtin-only policy
        highest = table.MAX_VERSION.get(name)
        lowest = table.MIN_VERSION.get(name, 1)
        if highest is None:
            reasons.append(f"{name} v{version} is not a builtin op of {RUNTIME}")
        elif version > highest:
            reasons.append(f"{name} v{version} > max v{highest} in {RUNTIME}")
        elif version < lowest:
            reasons.append(f"{name} v{version} < min v{lowest} in {RUNTIME}")
    type_names = {code: name for name, code in vars(schema().TensorType).items()
                  if name.isupper()}
    for code in sorted(t for t in tensor_types if t > table.MAX_TENSOR_TYPE):
        reasons.append(f"tensor type {type_names.get(code, code)} is not supported by {RUNTIME}")
    return reasons


_LOAD_SCRIPT = """
import json, sys
import tflite_runtime
from tflite_runtime.interpreter import Interpreter
results = []
for path in sys.argv[1:]:
    try:
        Interpreter(model_path=path).allocate_tensors()
        results.append("ok")
    except Exception as e:
        results.append(" ".join(f"{type(e).__name__}: {e}".split()))
print(json.dumps({"version": tflite_runtime.__version__, "results": results}))
"""


def tflite214_python() -> Optional[str]:
    """The Python of a venv holding tflite-runtime 2.14 (``$IMDB_EDGE_TFLITE214_PYTHON``;
    the Makefile and the test suite point it at the checkout's ``.venv-tflite214``), or None."""
    return os.environ.get(TFLITE214_PYTHON_ENV) or None


def load_in_tflite_runtime_214(models: Sequence[bytes], *, python: Optional[str] = None,
                               timeout: float = 300.0) -> list:
    """Load each model with the real tflite-runtime 2.14 (Interpreter + allocate_tensors) in
    a subprocess, and return ``"ok"`` or the one-line error for each, in order."""
    python = python or tflite214_python()
    if not python:
        raise FileNotFoundError(f"no tflite-runtime 2.14 venv: set {TFLITE214_PYTHON_ENV} to "
                                "the python of a venv with tflite-runtime 2.14")
    with tempfile.TemporaryDirectory(prefix="imdb-edge-tflite214-") as folder:
        paths = []
        for i, data in enumerate(models):
            path = Path(folder) / f"model_{i}.tflite"
            path.write_bytes(bytes(data))
            paths.append(str(path))
        done = subprocess.run([python, "-I", "-c", _LOAD_SCRIPT, *paths],
                              capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{python} failed to run the tflite-runtime loader (exit "
                           f"{done.returncode}): {done.stderr.strip()[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if not report["version"].startswith("2.14."):
        raise UsageError(f"{python} has tflite-runtime {report['version']}, not 2.14")
    return report["results"]
