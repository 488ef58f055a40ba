"""The exporter's compatibility gate: will this artifact load on each target runtime?

A TFLite file written by a new converter can name op versions an older runtime lacks; the
device then fails at load time with "Didn't find op for builtin opcode 'FULLY_CONNECTED'
version '12'". This module answers the question at export time, so the sidecar can record
the op list and a verdict per runtime, and the export can refuse (or warn, on request).

TFLite targets:
- ``"litert"``: the ai-edge-litert installed beside the exporter. Checked for real: the
  bytes are loaded into its Interpreter and tensors are allocated.
- ``"tflite-runtime-2.14"``: the last tflite-runtime wheel, what Raspberry Pi guides
  install. Checked statically against its op-version table, since it cannot be installed
  next to a numpy-2 TensorFlow (export/tflite_runtime_214.py, which can also load bytes in
  a separate venv that has it).
Both targets refuse custom ops, Flex (SELECT_TF_OPS) ops included: the exported model must
run on builtin ops only.

ONNX target ``"onnxruntime"``: an InferenceSession is really created from the bytes; models
whose tensors live in external data files are refused first (the exporter never writes them).

What a file asks of a runtime is read by export/tflite_opcodes.py and
export/onnx_contents.py; this module gives the verdicts. Typical use in an exporter::

    results = check_tflite(data, targets)        # {"litert": "ok", "tflite-runtime-2.14": "..."}
    sidecar_ops, sidecar_runtimes = tflite_ops(data), results
    warnings = enforce(results, targets, on_mismatch="error")   # raises IncompatibleArtifact
"""
from __future__ import annotations

from typing import Iterable, Mapping, Optional

from imdb_edge.errors import ImdbEdgeError
from imdb_edge.export import tflite_runtime_214
from imdb_edge.export.formats import FORMATS, ON_MISMATCH
from imdb_edge.export.onnx_contents import load_onnx, onnx_info
from imdb_edge.export.tflite_opcodes import parse_tflite, tflite_ops
from imdb_edge.export.tflite_runtime_214 import (TFLITE214_PYTHON_ENV, load_in_tflite_runtime_214,
                                                 tflite214_python)
from imdb_edge.helpers import one_line, require

__all__ = ["IncompatibleArtifact", "ONNX_TARGETS", "ON_MISMATCH", "OK", "TFLITE214_PYTHON_ENV",
           "TFLITE_TARGETS", "check_onnx", "check_tflite", "enforce",
           "load_in_tflite_runtime_214", "onnx_info", "tflite214_python", "tflite_ops"]

OK = "ok"
TFLITE_TARGETS = FORMATS["tflite"].targets
ONNX_TARGETS = FORMATS["onnx"].targets


class IncompatibleArtifact(ImdbEdgeError, ValueError):
    """An artifact will not load on one or more of the required target runtimes."""

    def __init__(self, reasons: Mapping[str, str]):
        self.reasons = dict(reasons)      # target -> why it will not load there
        listed = "; ".join(f"{target}: {why}" for target, why in self.reasons.items())
        super().__init__(f"artifact is not compatible with {len(self.reasons)} target "
                         f"runtime(s): {listed}")


def check_tflite(model_bytes: bytes, targets: Iterable[str] = TFLITE_TARGETS) -> dict:
    """Verdict per target: ``{target: "ok" | reason}``; several reasons are joined by "; "."""
    targets = _known_targets(targets, TFLITE_TARGETS, "TFLite")
    ops, tensor_types = parse_tflite(model_bytes)
    policy = _builtin_only(ops)
    results = {}
    for target in targets:
        if target == "litert":
            reasons = policy + _litert_load(model_bytes)
        else:
            reasons = policy + tflite_runtime_214.static_reasons(ops, tensor_types)
        results[target] = "; ".join(reasons) if reasons else OK
    return results


def check_onnx(model_bytes: bytes, targets: Iterable[str] = ONNX_TARGETS) -> dict:
    """Verdict per target: ``{target: "ok" | reason}``."""
    import onnx

    targets = _known_targets(targets, ONNX_TARGETS, "ONNX")
    info = onnx_info(model_bytes)
    policy = []
    if info["external_data"]:
        policy.append(f"tensor(s) {', '.join(info['external_data'])} use external data: the "
                      "exporter writes self-contained .onnx files only")
    else:
        try:
            onnx.checker.check_model(load_onnx(model_bytes))
        except onnx.checker.ValidationError as e:
            policy.append(f"onnx.checker rejects it: {one_line(e)}")
    results = {}
    for target in targets:
        # Never hand a model with external references to a runtime: it would read files.
        reasons = policy if policy else _onnxruntime_load(model_bytes)
        results[target] = "; ".join(reasons) if reasons else OK
    return results


def enforce(results: Mapping[str, str], targets: Optional[Iterable[str]] = None,
            on_mismatch: str = "error") -> list:
    """Act on check results for the required ``targets`` (default: every checked target).

    Every required target must be ``"ok"``; a target missing from ``results`` counts as
    "not checked". With ``on_mismatch="error"`` raise :class:`IncompatibleArtifact` listing
    every failing target and its reasons; with ``"warn"`` return those as warning strings
    (``[]`` when all are fine) for the caller to log and record.
    """
    if on_mismatch not in ON_MISMATCH:
        raise ValueError(f"on_mismatch must be one of {', '.join(ON_MISMATCH)}, "
                         f"not {on_mismatch!r}")
    required = list(results) if targets is None else list(targets)
    failing = {t: results.get(t, "not checked") for t in required if results.get(t) != OK}
    if failing and on_mismatch == "error":
        raise IncompatibleArtifact(failing)
    return [f"{target}: {why}" for target, why in failing.items()]


def _known_targets(targets: Iterable[str], known: tuple, kind: str) -> list:
    targets = [targets] if isinstance(targets, str) else list(targets)
    unknown = [t for t in targets if t not in known]
    if unknown:
        raise ValueError(f"unknown {kind} target(s) {', '.join(map(repr, unknown))}; "
                         f"available: {', '.join(known)}")
    return targets


def _builtin_only(ops: list) -> list:
    reasons = []
    for op in ops:
        if not op["name"].startswith("CUSTOM:"):
            continue
        code = op["name"][len("CUSTOM:"):]
        if code.startswith("Flex"):
            reasons.append(f"Flex op {code} (SELECT_TF_OPS) is not allowed: builtin ops only")
        else:
            reasons.append(f"custom op {code} is not allowed: builtin ops only")
    return reasons


def _litert_load(model_bytes: bytes) -> list:
    """[] when the installed ai-edge-litert loads the bytes and allocates tensors, else why."""
    litert = require("ai_edge_litert", "The 'litert' check", extra="litert",
                     package="ai-edge-litert")
    from ai_edge_litert.interpreter import Interpreter

    try:
        Interpreter(model_content=bytes(model_bytes)).allocate_tensors()
    except Exception as e:  # the wrapper raises ValueError/RuntimeError with the C++ log
        return [f"litert {litert.__version__} cannot load it: {one_line(e)}"]
    return []


def _onnxruntime_load(model_bytes: bytes) -> list:
    """[] when onnxruntime creates an InferenceSession from the bytes, else why."""
    ort = require("onnxruntime", "The 'onnxruntime' check", extra="onnx")
    options = ort.SessionOptions()
    options.log_severity_level = 3            # errors only; the exception carries the reason
    try:
        ort.InferenceSession(bytes(model_bytes), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph/... exceptions
        return [f"onnxruntime {ort.__version__} cannot load it: {one_line(e)}"]
    return []
