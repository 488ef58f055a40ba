"""Artifacts for the `imdb-edge doctor` tests (tests/doctor on the host, tests/pi under
emulation), made on the host from the tiny models of tests/generate_test_model.py: golden
files beside an artifact, and TFLite artifacts whose op versions a runtime lacks."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from imdb_edge.doctor import GOLDEN_SUFFIX
from imdb_edge.doctor_ops import BUILTIN_OPERATORS
from imdb_edge.metrics import edge_cases
from imdb_edge.parity.golden import build_reference, save_golden
from imdb_edge.runtime import load

GOLDEN_REVIEWS = 6
GOLDEN_RANDOM_ROWS = 2


def write_golden(artifact: Path, reference_artifact: Path, *, shift: float = 0.0,
                 path: Path = None) -> Path:
    """A golden file beside ``artifact`` (``<artifact>.golden.npz`` unless ``path``) whose
    "Keras" outputs are ``reference_artifact``'s numpy scores plus ``shift``: 0 gives a
    golden file the artifact passes, 0.01 one that breaks float32's 1e-5."""
    import generate_test_model as gen

    edges, names = edge_cases(random_rows=GOLDEN_RANDOM_ROWS)
    ids = np.concatenate([gen.reference_ids(GOLDEN_REVIEWS), edges]).astype(np.int32)
    probs = load(reference_artifact, backend="numpy").predict_ids(ids)
    probs = np.clip(probs + np.float32(shift), 0, 1)
    labels = (probs[:GOLDEN_REVIEWS] >= 0.5).astype(np.int8)
    reference = build_reference(ids, probs, labels, edge_rows=names,
                                model=dict(path=str(reference_artifact), sha256="tiny"),
                                data=dict(source="tests/generate_test_model.py"))
    path = Path(path) if path else Path(f"{artifact}{GOLDEN_SUFFIX}")
    save_golden(reference, str(path))
    return path


def with_op_version(artifact: Path, folder: Path, name: str, version: int) -> Path:
    """A copy of TFLite ``artifact`` in ``folder`` whose operator code ``name`` says
    ``version``, with its sidecar (hash, size, op list) and vocabulary: an artifact as a
    newer converter would write it. Needs ai-edge-litert's schema and flatbuffers."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    data = Path(artifact).read_bytes()
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    code = BUILTIN_OPERATORS.index(name)
    hits = [oc for oc in model.operatorCodes
            if max(oc.builtinCode, oc.deprecatedBuiltinCode) == code]
    assert hits, f"{name} is not in {artifact}"
    for oc in hits:
        oc.version = version
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    blob = bytes(builder.Output())

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{Path(artifact).stem}-{name.lower()}-v{version}.tflite"
    target.write_bytes(blob)
    sidecar = json.loads(Path(f"{artifact}.json").read_text(encoding="utf-8"))
    ops = {}
    for oc in model.operatorCodes:
        key = (BUILTIN_OPERATORS[max(oc.builtinCode, oc.deprecatedBuiltinCode)], oc.version)
        ops[key] = 0
    sidecar.update(artifact=target.name, sha256=hashlib.sha256(blob).hexdigest(),
                   size_bytes=len(blob),
                   ops=[dict(name=n, version=v, count=c) for (n, v), c in sorted(ops.items())])
    Path(f"{target}.json").write_text(json.dumps(sidecar), encoding="utf-8")
    vocabulary = sidecar["preprocessing"]["vocabulary_file"]
    if not (folder / vocabulary).exists():
        shutil.copy(Path(artifact).parent / vocabulary, folder / vocabulary)
    return target
